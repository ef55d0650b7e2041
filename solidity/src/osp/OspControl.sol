// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {Machine, MachineState, Step, ValueStack} from "./MachineState.sol";
import {Merkle} from "../lib/Merkle.sol";
import {ProofReader} from "./ProofReader.sol";
import {BadFrameProof, BadImmediate, UnsupportedOpcode} from "./OspErrors.sol";
import {Opcodes} from "./Opcodes.sol";

/// @title OspControl
/// @notice Control instructions (docs/architecture.md, "Semantics of the non-wasm
///         instructions"): unreachable, Call, Return, jumps, branches, branch tables, StepEnd.
library OspControl {
    using MachineState for ValueStack;

    /// @notice Executes a control instruction; `entryImm` is the immediate of the `TableEntry`
    ///         selected by a `BranchTable`.
    function executeControl(
        Step memory s,
        Machine memory pre,
        uint16 opcode,
        uint64 imm,
        uint64 entryImm,
        bytes calldata proof
    ) internal pure {
        if (opcode == Opcodes.UNREACHABLE || opcode == Opcodes.TABLE_ENTRY) {
            s.trapped = true;
        } else if (opcode == Opcodes.CALL) {
            executeCall(s, pre, imm);
        } else if (opcode == Opcodes.RETURN) {
            executeReturn(s, pre, imm, proof);
        } else if (opcode == Opcodes.JUMP) {
            s.post.pc = uint32(imm);
        } else if (opcode == Opcodes.JUMP_IF_ZERO) {
            executeJumpIfZero(s, pre, imm);
        } else if (opcode == Opcodes.BRANCH) {
            executeBranch(s, imm);
        } else if (opcode == Opcodes.BRANCH_IF) {
            executeBranchIf(s, pre, imm);
        } else if (opcode == Opcodes.BRANCH_TABLE) {
            // The index was read (peeked) to select the entry; here it is only removed.
            // slither-disable-next-line unused-return
            s.stack.pop();
            executeBranch(s, entryImm);
        } else if (opcode == Opcodes.STEP_END) {
            // The step has ended: a fixed point, everything else (pc included) unchanged.
            s.post.status = MachineState.STATUS_STEP_END;
            s.post.pc = pre.pc;
        } else {
            revert UnsupportedOpcode(opcode);
        }
    }

    /// @notice `JumpIfZero{t}`: pop c; pc = c == 0 ? t : pc + 1.
    function executeJumpIfZero(Step memory s, Machine memory pre, uint64 imm) internal pure {
        s.post.pc = s.stack.pop() == 0 ? uint32(imm) : MachineState.nextPc(pre);
    }

    /// @notice `Branch{t, keep, drop}`: keep the top `keep` values, drop `drop` below, pc = t.
    function executeBranch(Step memory s, uint64 imm) internal pure {
        s.stack.keepDrop(uint8(imm >> 32), uint24(imm >> 40));
        s.post.pc = uint32(imm);
    }

    /// @notice `BranchIf`: pop c; branch when c != 0, else pc + 1.
    function executeBranchIf(Step memory s, Machine memory pre, uint64 imm) internal pure {
        if (s.stack.pop() != 0) {
            executeBranch(s, imm);
        } else {
            s.post.pc = MachineState.nextPc(pre);
        }
    }

    /// @notice `Call{target, params, depth}`: save the current frame, start a frame whose locals
    ///         tree holds the popped parameters then zeros, pc = target.
    function executeCall(Step memory s, Machine memory pre, uint64 imm) internal pure {
        uint256 params = uint16(imm >> 32);
        uint8 depth = uint8(imm >> 48);
        if (depth >= 64 || params > (uint256(1) << depth)) revert BadImmediate(Opcodes.CALL);
        // The top of the stack is the last parameter: the params are the top `params` values,
        // bottom first.
        uint256 base = s.stack.height - params;
        bytes32[] memory level = new bytes32[](params);
        for (uint256 i = 0; i < params; i++) {
            level[i] = bytes32(uint256(s.stack.values[base + i]));
        }
        s.stack.height = base;
        s.post.frames =
            MachineState.framePush(pre.frames, pre.returnPc, pre.localsDepth, pre.localsRoot);
        s.post.returnPc = MachineState.nextPc(pre);
        s.post.localsDepth = depth;
        s.post.localsRoot = Merkle.leavesRoot(level, depth);
        s.post.pc = uint32(imm);
    }

    /// @notice `Return{keep, drop}`: as a branch for the stack, pc = returnPc, and the current
    ///         frame becomes the saved frame proven on top of `frames`.
    function executeReturn(Step memory s, Machine memory pre, uint64 imm, bytes calldata proof)
        internal
        pure
    {
        uint256 o = s.offset;
        uint32 returnPc;
        uint8 depth;
        bytes32 root;
        bytes32 rest;
        (returnPc, o) = ProofReader.readU32(proof, o);
        (depth, o) = ProofReader.readU8(proof, o);
        (root, o) = ProofReader.readBytes32(proof, o);
        (rest, o) = ProofReader.readBytes32(proof, o);
        s.offset = o;
        if (MachineState.framePush(rest, returnPc, depth, root) != pre.frames) {
            revert BadFrameProof();
        }
        s.stack.keepDrop(uint8(imm >> 32), uint24(imm >> 40));
        s.post.pc = pre.returnPc;
        s.post.frames = rest;
        s.post.returnPc = returnPc;
        s.post.localsDepth = depth;
        s.post.localsRoot = root;
    }
}
