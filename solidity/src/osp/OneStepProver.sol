// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {IOneStepProver} from "../interfaces/IOneStepProver.sol";
import {Machine, MachineState, Step} from "./MachineState.sol";
import {Merkle} from "../lib/Merkle.sol";
import {Opcodes} from "./Opcodes.sol";
import {ProofReader} from "./ProofReader.sol";
import {OspControl} from "./OspControl.sol";
import {OspMath} from "./OspMath.sol";
import {OspMemory} from "./OspMemory.sol";
import {OspVariables} from "./OspVariables.sol";
import {
    BadCodeProof,
    BadMemorySize,
    BadStatus,
    NotATableEntry,
    UnsupportedOpcode
} from "./OspErrors.sol";

/// @title OneStepProver
/// @notice Replays one instruction of the wasm machine from a one-step proof
///         (docs/architecture.md, "One-step proof bytes"): decodes the pre-state, proves the
///         instruction against the program root, proves the value-stack operands, then routes by
///         opcode class to OspControl, OspMath, OspVariables or OspMemory. Stateless.
contract OneStepProver is IOneStepProver {
    /// @notice Smallest memory the machine accepts (one wasm page).
    uint8 public constant MIN_MEMORY_LOG2 = 16;
    /// @notice Largest memory the machine accepts (the wasm32 address space).
    uint8 public constant MAX_MEMORY_LOG2 = 32;

    /// @inheritdoc IOneStepProver
    function executeStep(bytes32 programRoot, uint8 memoryLog2, bytes calldata proof)
        external
        pure
        override
        returns (bytes32 preHash, bytes32 postHash)
    {
        if (memoryLog2 < MIN_MEMORY_LOG2 || memoryLog2 > MAX_MEMORY_LOG2) {
            revert BadMemorySize(memoryLog2);
        }
        // 1. The pre-state.
        (Machine memory pre, uint256 offset) = MachineState.read(proof, 0);
        preHash = MachineState.hash(pre);
        // 2. A trapped machine, or one whose step has ended, never changes.
        if (MachineState.isFinal(pre.status)) {
            ProofReader.finish(proof, offset);
            return (preHash, preHash);
        }
        if (pre.status != MachineState.STATUS_RUNNING) revert BadStatus(pre.status);

        postHash = MachineState.hash(executeRunning(programRoot, memoryLog2, proof, pre, offset));
    }

    /// @dev Steps 3-6 for a running machine; returns the post-state.
    function executeRunning(
        bytes32 programRoot,
        uint8 memoryLog2,
        bytes calldata proof,
        Machine memory pre,
        uint256 offset
    ) private pure returns (Machine memory) {
        // 3. The instruction and its code proof; for BranchTable, the selected entry follows.
        uint16 opcode;
        uint64 imm;
        (opcode, imm, offset) = readInstruction(programRoot, pre.pc, proof, offset);
        uint64 entryImm = 0;
        uint256 entryOffset = offset;
        if (opcode == Opcodes.BRANCH_TABLE) {
            // The entry's place depends on the index operand: read it now, prove it below.
            (, entryImm, offset) = skipInstruction(proof, offset);
        }

        // 4. The value-stack operands.
        // A zeroed struct, filled below.
        // slither-disable-next-line uninitialized-local
        Step memory s;
        s.memoryLog2 = memoryLog2;
        s.post = MachineState.copy(pre);
        (s.stack, s.offset) =
            MachineState.readStack(proof, offset, popCount(opcode, imm, entryImm), pre.valueStack);
        if (opcode == Opcodes.BRANCH_TABLE) {
            checkTableEntry(
                programRoot, pre.pc, imm, MachineState.peek(s.stack, 0), proof, entryOffset
            );
        }

        // 5. The class prover.
        if (
            Opcodes.isNumeric(opcode) || opcode == Opcodes.I32_CONST || opcode == Opcodes.I64_CONST
                || opcode == Opcodes.DROP || opcode == Opcodes.SELECT
        ) {
            OspMath.executeMath(s, pre, opcode, imm);
        } else if (opcode >= Opcodes.LOCAL_GET && opcode <= Opcodes.GLOBAL_SET) {
            OspVariables.executeVariables(s, pre, opcode, imm, proof);
        } else if (
            Opcodes.isLoad(opcode) || Opcodes.isStore(opcode) || opcode == Opcodes.MEMORY_COPY_CHUNK
                || opcode == Opcodes.MEMORY_FILL_CHUNK
        ) {
            OspMemory.executeMemory(s, pre, opcode, imm, proof);
        } else {
            OspControl.executeControl(s, pre, opcode, imm, entryImm, proof);
        }

        // 6. Nothing else may follow.
        ProofReader.finish(proof, s.offset);
        if (s.trapped) {
            Machine memory trapped = MachineState.copy(pre);
            trapped.status = MachineState.STATUS_TRAPPED;
            return trapped;
        }
        s.post.valueStack = MachineState.stackHash(s.stack);
        return s.post;
    }

    /// @dev Proves that the instruction at `entryOffset` is the `TableEntry` at
    ///      `pc + 1 + min(index, count)`.
    function checkTableEntry(
        bytes32 programRoot,
        uint32 pc,
        uint64 count,
        uint64 index,
        bytes calldata proof,
        uint256 entryOffset
    ) private pure {
        uint256 k = index < count ? index : count;
        (uint16 entryOpcode,,) =
            readInstruction(programRoot, uint256(pc) + 1 + k, proof, entryOffset);
        if (entryOpcode != Opcodes.TABLE_ENTRY) revert NotATableEntry();
    }

    /// @dev Reads `(opcode, imm, d, siblings)` without checking it.
    function skipInstruction(bytes calldata proof, uint256 offset)
        private
        pure
        returns (uint16 opcode, uint64 imm, uint256)
    {
        (opcode, offset) = ProofReader.readU16(proof, offset);
        (imm, offset) = ProofReader.readU64(proof, offset);
        uint8 d;
        (d, offset) = ProofReader.readU8(proof, offset);
        ProofReader.ensure(proof, offset, uint256(d) * 32);
        return (opcode, imm, offset + uint256(d) * 32);
    }

    /// @notice The number of value-stack operands a proof lists for an instruction (top
    ///         first); reverts `UnsupportedOpcode` for an opcode the machine does not implement.
    function popCount(uint16 opcode, uint64 imm, uint64 entryImm) public pure returns (uint256) {
        if (opcode == Opcodes.CALL) return uint16(imm >> 32);
        if (
            opcode == Opcodes.DROP || opcode == Opcodes.LOCAL_SET || opcode == Opcodes.LOCAL_TEE
                || opcode == Opcodes.GLOBAL_SET || opcode == Opcodes.JUMP_IF_ZERO
        ) return 1;
        if (
            opcode == Opcodes.SELECT || opcode == Opcodes.MEMORY_COPY_CHUNK
                || opcode == Opcodes.MEMORY_FILL_CHUNK
        ) return 3;
        if (opcode == Opcodes.BRANCH || opcode == Opcodes.TABLE_ENTRY || opcode == Opcodes.RETURN) {
            return branchPopped(imm);
        }
        if (opcode == Opcodes.BRANCH_IF) return 1 + branchPopped(imm);
        if (opcode == Opcodes.BRANCH_TABLE) return 1 + branchPopped(entryImm);
        if (Opcodes.isLoad(opcode)) return 1;
        if (Opcodes.isStore(opcode)) return 2;
        if (Opcodes.isNumeric(opcode)) return Opcodes.isUnary(opcode) ? 1 : 2;
        if (
            opcode == Opcodes.UNREACHABLE || opcode == Opcodes.LOCAL_GET
                || opcode == Opcodes.GLOBAL_GET || opcode == Opcodes.I32_CONST
                || opcode == Opcodes.I64_CONST || opcode == Opcodes.JUMP
                || opcode == Opcodes.STEP_END
        ) return 0;
        revert UnsupportedOpcode(opcode);
    }

    /// @dev `keep + drop` of a branch immediate (bits 32-39 keep, 40-63 drop).
    function branchPopped(uint64 imm) private pure returns (uint256) {
        return uint256(uint8(imm >> 32)) + uint24(imm >> 40);
    }

    /// @dev Reads `(opcode, imm, d, siblings)` and checks it is instruction `pc` of the program.
    function readInstruction(bytes32 programRoot, uint256 pc, bytes calldata proof, uint256 offset)
        private
        pure
        returns (uint16 opcode, uint64 imm, uint256)
    {
        (opcode, offset) = ProofReader.readU16(proof, offset);
        (imm, offset) = ProofReader.readU64(proof, offset);
        uint8 d;
        (d, offset) = ProofReader.readU8(proof, offset);
        (bytes32[] calldata siblings, uint256 next) = ProofReader.readHashes(proof, offset, d);
        bytes32 leaf = keccak256(abi.encodePacked("Instruction:", opcode, imm));
        bytes32 codeRoot = Merkle.rootFromPath(leaf, pc, siblings);
        if (pc >> d != 0) revert BadCodeProof();
        if (keccak256(abi.encodePacked("Program:", d, codeRoot)) != programRoot) {
            revert BadCodeProof();
        }
        return (opcode, imm, next);
    }
}
