// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

/// @title IGameResultSink
/// @notice Where the oracle hears about a finished game (implemented by InferenceOracle).
interface IGameResultSink {
    /// @notice Game `gameId` ended; `executorWon` names the winner.
    function onGameResolved(uint256 gameId, bool executorWon) external;
}
