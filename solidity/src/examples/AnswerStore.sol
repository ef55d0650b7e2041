// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {IInferenceConsumer} from "../interfaces/IInferenceConsumer.sol";
import {InferenceOracle} from "../InferenceOracle.sol";

/// @title AnswerStore
/// @notice Example dApp: asks the oracle questions and keeps the final answers.
contract AnswerStore is IInferenceConsumer {
    /// @notice The oracle this store asks.
    InferenceOracle public immutable oracle;
    /// @notice Final answers by request id.
    mapping(bytes32 => bytes) public answers;
    /// @notice Whether a request's answer has arrived.
    mapping(bytes32 => bool) public answered;
    /// @notice Requests in the order they were asked.
    bytes32[] public asked;

    /// @notice A question was sent to the oracle.
    event Asked(bytes32 indexed requestId);
    /// @notice A final answer arrived.
    event Answered(bytes32 indexed requestId, bytes text);

    /// @notice Only the oracle delivers answers.
    error NotOracle(address caller);

    constructor(InferenceOracle oracle_) {
        oracle = oracle_;
    }

    /// @notice Gas the oracle gives `onInferenceResult`: storing an answer costs about 22k gas
    ///         per 32 bytes, so this covers answers of up to ~4 KB.
    uint32 public constant CALLBACK_GAS = 3_000_000;

    /// @notice Asks model `modelId` (request body per docs/machine.md), paying `msg.value` as fee.
    function ask(bytes32 modelId, bytes calldata body, bytes32 userSeed)
        external
        payable
        returns (bytes32 requestId)
    {
        requestId = oracle.request{value: msg.value}(modelId, body, userSeed, CALLBACK_GAS);
        asked.push(requestId);
        emit Asked(requestId);
    }

    /// @inheritdoc IInferenceConsumer
    function onInferenceResult(bytes32 requestId, bytes calldata text) external {
        if (msg.sender != address(oracle)) revert NotOracle(msg.sender);
        answers[requestId] = text;
        answered[requestId] = true;
        emit Answered(requestId, text);
    }

    /// @notice Number of questions asked.
    function askedCount() external view returns (uint256) {
        return asked.length;
    }
}
