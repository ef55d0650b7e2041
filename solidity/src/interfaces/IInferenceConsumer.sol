// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

/// @title IInferenceConsumer
/// @notice Implemented by contracts that request inferences and want the answer delivered.
/// @dev Called only once an answer is final (its challenge window closed with no open dispute),
///      with a bounded amount of gas; a revert in the callback does not block finality.
interface IInferenceConsumer {
    /// @notice Delivers the final answer `text` (UTF-8) of request `requestId`.
    function onInferenceResult(bytes32 requestId, bytes calldata text) external;
}
