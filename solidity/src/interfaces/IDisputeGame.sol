// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

/// @notice What the oracle tells its dispute game when a challenge opens (file-level, so that
///         the ABI names it `struct DisputeClaim`).
struct DisputeClaim {
    /// Root of the executor's layer trace (memory roots M_0..M_N, zero leaves up to 2^depth).
    bytes32 traceRoot;
    /// N: the number of layer steps; M_N is the final memory.
    uint64 stepCount;
    /// Depth of the trace tree.
    uint8 traceDepth;
    /// The model's program root, memory size and initial globals.
    bytes32 programRoot;
    uint8 memoryLog2;
    bytes32 initialGlobalsHash;
    /// Upper bound on the instructions of one layer step.
    uint64 maxStepInstructions;
}

/// @title IDisputeGame
/// @notice The dispute game the oracle delegates disputes to (implemented by DisputeGame).
interface IDisputeGame {
    /// @notice Creates a game between `executor` and `challenger` over `claim`, queued (no clock
    ///         runs until `startGame`); returns its id.
    function createGame(address executor, address challenger, DisputeClaim calldata claim)
        external
        returns (uint256 gameId);
    /// @notice Starts a queued game's clocks: the executor is to move.
    function startGame(uint256 gameId) external;
    /// @notice Ends an open game without a winner (its result no longer matters).
    function cancelGame(uint256 gameId) external;
}
