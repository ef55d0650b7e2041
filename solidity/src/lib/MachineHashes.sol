// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {Machine, MachineState} from "../osp/MachineState.sol";

/// @title MachineHashes
/// @notice The machine hashes of a layer step's two ends (docs/architecture.md, "Step-boundary
///         hash"): both have empty stacks, no frames, no locals, the program's initial globals
///         `G0` and a memory root; a step starts at status 0, pc 0 (`Call step`) and ends at
///         status 2 (step ended), pc 1 (`StepEnd`), a fixed point of the machine. The layer trace
///         commits to memory roots only; levels 1 and 2 of the dispute game meet at these hashes.
///         The Rust twins are `StateFields::boundary` and `StateFields::step_end`.
library MachineHashes {
    /// @notice pc of `Call step`, where a step starts.
    uint32 internal constant STEP_START_PC = 0;
    /// @notice pc of `StepEnd`, where a step's end state stays.
    uint32 internal constant STEP_END_PC = 1;

    /// @notice The machine hash at the start of a step from memory root `memoryRoot`.
    function boundaryHash(bytes32 initialGlobalsHash, bytes32 memoryRoot)
        internal
        pure
        returns (bytes32)
    {
        return _restingHash(
            MachineState.STATUS_RUNNING, STEP_START_PC, initialGlobalsHash, memoryRoot
        );
    }

    /// @notice The machine hash at the end of a step that left memory root `memoryRoot`.
    function stepEndHash(bytes32 initialGlobalsHash, bytes32 memoryRoot)
        internal
        pure
        returns (bytes32)
    {
        return
            _restingHash(MachineState.STATUS_STEP_END, STEP_END_PC, initialGlobalsHash, memoryRoot);
    }

    /// @dev The machine hash with empty stacks, no frames and no locals.
    function _restingHash(uint8 status, uint32 pc, bytes32 globalsHash, bytes32 memoryRoot)
        private
        pure
        returns (bytes32)
    {
        return MachineState.hash(
            Machine({
                status: status,
                pc: pc,
                valueStack: bytes32(0),
                frames: bytes32(0),
                returnPc: 0,
                localsDepth: 0,
                localsRoot: bytes32(0),
                globalsHash: globalsHash,
                memoryRoot: memoryRoot
            })
        );
    }
}
