// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {Machine, MachineState, Step, ValueStack} from "./MachineState.sol";
import {Merkle} from "../lib/Merkle.sol";
import {Opcodes} from "./Opcodes.sol";
import {ProofReader} from "./ProofReader.sol";
import {BadGlobals, BadImmediate, BadLocalsProof} from "./OspErrors.sol";

/// @title OspVariables
/// @notice `local.get/set/tee` against the current frame's locals tree and `global.get/set`
///         against the globals hash.
library OspVariables {
    using MachineState for ValueStack;

    /// @notice Executes a locals or globals instruction.
    function executeVariables(
        Step memory s,
        Machine memory pre,
        uint16 opcode,
        uint64 imm,
        bytes calldata proof
    ) internal pure {
        s.post.pc = MachineState.nextPc(pre);
        if (opcode <= Opcodes.LOCAL_TEE) executeLocal(s, pre, opcode, imm, proof);
        else executeGlobal(s, opcode, imm, proof);
    }

    /// @notice Proof: the local's uint64 value and `localsDepth` siblings.
    function executeLocal(
        Step memory s,
        Machine memory pre,
        uint16 opcode,
        uint64 imm,
        bytes calldata proof
    ) internal pure {
        uint64 value;
        (value, s.offset) = ProofReader.readU64(proof, s.offset);
        uint256 depth = pre.localsDepth;
        (bytes32[] calldata siblings, uint256 next) = ProofReader.readHashes(proof, s.offset, depth);
        s.offset = next;
        bytes32 oldRoot = Merkle.rootFromPath(bytes32(uint256(value)), imm, siblings);
        if (depth >= 64 || imm >> depth != 0) revert BadImmediate(opcode);
        if (oldRoot != pre.localsRoot) revert BadLocalsProof();
        uint64 newValue;
        if (opcode == Opcodes.LOCAL_GET) {
            s.stack.push(value);
            return;
        } else if (opcode == Opcodes.LOCAL_SET) {
            newValue = s.stack.pop();
        } else {
            newValue = s.stack.peek(0);
        }
        // The same path with the new value.
        s.post.localsRoot = Merkle.rootFromPath(bytes32(uint256(newValue)), imm, siblings);
    }

    /// @notice Proof: `uint8 count` and every global as a uint64.
    function executeGlobal(Step memory s, uint16 opcode, uint64 imm, bytes calldata proof)
        internal
        pure
    {
        uint8 count;
        (count, s.offset) = ProofReader.readU8(proof, s.offset);
        uint64[] memory globals = new uint64[](count);
        for (uint256 i = 0; i < count; i++) {
            (globals[i], s.offset) = ProofReader.readU64(proof, s.offset);
        }
        if (MachineState.globalsHash(globals) != s.post.globalsHash || imm >= count) {
            revert BadGlobals();
        }
        if (opcode == Opcodes.GLOBAL_GET) {
            s.stack.push(globals[imm]);
        } else {
            globals[imm] = s.stack.pop();
            s.post.globalsHash = MachineState.globalsHash(globals);
        }
    }
}
