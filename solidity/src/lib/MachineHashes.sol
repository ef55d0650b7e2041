// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

/// @title MachineHashes
/// @notice The step-boundary machine hash of docs/architecture.md ("Step-boundary hash"): the
///         machine hash with status 0, pc 0, empty stacks, no locals, the program's initial
///         globals and the given memory root. Levels 1 and 2 of the dispute game meet here.
library MachineHashes {
    /// @notice The machine hash at a step boundary with memory root `memoryRoot`.
    function boundaryHash(bytes32 initialGlobalsHash, bytes32 memoryRoot)
        internal
        pure
        returns (bytes32)
    {
        return keccak256(
            abi.encodePacked(
                "Machine:",
                uint8(0), // status: running
                uint32(0), // pc: Call step
                bytes32(0), // value stack: empty
                bytes32(0), // frames: empty
                uint32(0), // returnPc
                uint8(0), // localsDepth
                bytes32(0), // localsRoot
                initialGlobalsHash,
                memoryRoot
            )
        );
    }
}
