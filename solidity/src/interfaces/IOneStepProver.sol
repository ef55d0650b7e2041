// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

/// @title IOneStepProver
/// @notice Replays one instruction of the wasm machine (docs/architecture.md, "One-step proof
///         bytes") and returns the hashes of the machine before and after it.
interface IOneStepProver {
    /// @notice Decodes `proof`, checks it against `programRoot` and the memory tree of depth
    ///         `memoryLog2 - 5`, executes one instruction and returns (pre-state, post-state).
    function executeStep(bytes32 programRoot, uint8 memoryLog2, bytes calldata proof)
        external
        view
        returns (bytes32 preHash, bytes32 postHash);
}
