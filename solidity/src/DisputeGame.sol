// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {DisputeClaim, IDisputeGame} from "./interfaces/IDisputeGame.sol";
import {IGameResultSink} from "./interfaces/IGameResultSink.sol";
import {IOneStepProver} from "./interfaces/IOneStepProver.sol";
import {Merkle} from "./lib/Merkle.sol";
import {MachineState} from "./osp/MachineState.sol";

/// @title DisputeGame
/// @notice The three-level dispute game between an executor and one challenger.
/// @dev The layer trace's leaves are memory roots: leaf j = M_j, the memory after j calls of
///      `step()` (leaf 0 and leaf N were checked by the oracle on submission, leaves past N are
///      zero). Level 1 descends the executor's committed trace tree: the executor reveals the
///      2^L1_FANOUT_LOG2 descendants of the current node (checked against it), the challenger
///      picks one (an honest challenger: the first that differs from its own trace, or the one
///      holding leaf N_honest + 1 when the executor claims more steps), down to one leaf
///      1 <= j <= N. Level 2: the executor opens leaf j-1 (checked against the trace root) and
///      names the step's instruction count n; the game derives both ends of the step, the start
///      state `boundaryHash(G0, M_{j-1})` at instruction 0 and the end state
///      `stepEndHash(G0, M_j)` at instruction n, and the parties dissect [0, n] k-ary (the
///      executor posts the interior machine hashes, the challenger picks a sub-interval) down to
///      one instruction. Level 3: a one-step proof from the agreed pre-state decides: if its
///      post-state differs from the executor's claim, the challenger wins.
///      Why this is sound: `StepEnd` leaves the machine at status 2, which never changes again,
///      so from a step's start the deterministic machine reaches exactly one step-end state (or
///      none, if it traps) and stays there; a link j-1 -> j can be defended only if M_j is the
///      memory one step after M_{j-1}, whatever n the executor names, and by induction from the
///      checked leaf 0 every defensible leaf is the canonical one. The canonical program traps
///      when `step()` runs on a finished machine, so no step after the last one can be defended
///      and N is unique. Each party has a chess clock; the party to move whose time runs out
///      loses (anyone may call `timeout`).
///      Games are created `Queued` and started by the oracle, which runs the games over one
///      answer one at a time, in challenge order: an executor's clock runs in one game at a
///      time, so no number of challengers can make it spend more than one game's work per clock.
contract DisputeGame is IDisputeGame {
    /// @notice What the game waits for.
    enum Phase {
        None,
        TraceReveal, // executor: reveal the children of the current trace node
        TracePick, // challenger: pick a revealed child
        StepOpen, // executor: open leaf j-1, name n, post the first dissection
        Dissect, // executor: post the interior hashes of the current interval
        DissectPick, // challenger: pick a sub-interval
        OneStepProof, // challenger (or anyone): prove the single disputed instruction
        Resolved,
        Cancelled,
        Queued // created, waiting for the games before it over the same answer; no clock runs
    }

    /// @notice One game's state.
    struct Game {
        address executor;
        address challenger;
        Phase phase;
        bool executorWon;
        // clocks, in seconds left, and when the party to move was put on the clock
        uint64 executorClock;
        uint64 challengerClock;
        uint64 turnStartedAt;
        // the claim under dispute
        bytes32 traceRoot;
        uint64 stepCount;
        uint8 traceDepth;
        uint8 memoryLog2;
        bytes32 programRoot;
        bytes32 initialGlobalsHash;
        uint64 maxStepInstructions;
        // level 1: the current node covers leaves [nodeIndex << nodeHeight, (nodeIndex+1) << nodeHeight)
        bytes32 node;
        uint64 nodeIndex;
        uint8 nodeHeight;
        // level 2: the interval [lo, hi] of instruction positions with the executor's hashes
        // (at lo = 0 the step's start state, at hi = n its end state)
        uint64 lo;
        uint64 hi;
        bytes32 loHash;
        bytes32 hiHash;
        // hash of the hashes last revealed or posted by the executor
        bytes32 pendingHash;
        // counters for reporting
        uint16 executorMoves;
        uint16 challengerMoves;
    }

    /// @notice Children revealed per level-1 round: 2^L1_FANOUT_LOG2.
    uint8 public constant L1_FANOUT_LOG2 = 5;
    /// @notice Sub-intervals per level-2 round (k of k-ary dissection).
    uint64 public constant L2_FANOUT = 32;

    /// @notice The oracle that opens games and hears their results.
    address public immutable oracle;
    /// @notice The one-step prover.
    IOneStepProver public immutable prover;
    /// @notice Seconds each party may spend on its moves over a whole game.
    uint64 public immutable clockBudget;

    /// @dev Games by id (ids start at 1); read them with `getGame`.
    mapping(uint256 => Game) private games;
    /// @notice Number of games created.
    uint256 public gameCount;

    /// @notice A game was created; it waits (`Queued`) until the oracle starts it.
    event GameCreated(uint256 indexed gameId, address indexed executor, address indexed challenger);
    /// @notice The game's clocks started: the executor is to reveal the trace root's children.
    event GameStarted(uint256 indexed gameId);
    /// @notice The executor revealed `nodes`, the children of the node at (`nodeIndex`, `nodeHeight`).
    event TraceRevealed(
        uint256 indexed gameId, uint64 nodeIndex, uint8 nodeHeight, bytes32[] nodes
    );
    /// @notice The challenger picked a child; the game now disputes that node.
    event TracePicked(uint256 indexed gameId, uint64 nodeIndex, uint8 nodeHeight, bytes32 node);
    /// @notice The executor opened the step from leaf `step` = j-1 to leaf j with
    ///         `instructionCount` instructions; `startHash` (the start state of memory M_{j-1})
    ///         and `endHash` (the step-end state of memory M_j) are the derived ends of level 2.
    event StepOpened(
        uint256 indexed gameId,
        uint64 step,
        bytes32 startHash,
        bytes32 endHash,
        uint64 instructionCount
    );
    /// @notice The executor posted the interior hashes of [lo, hi].
    event Dissected(uint256 indexed gameId, uint64 lo, uint64 hi, bytes32[] hashes);
    /// @notice The challenger picked the sub-interval [lo, hi].
    event IntervalPicked(uint256 indexed gameId, uint64 lo, uint64 hi);
    /// @notice The one-step proof of instruction `lo` was checked.
    event OneStepProven(
        uint256 indexed gameId, uint64 instruction, bytes32 postHash, bool executorWon
    );
    /// @notice The game ended.
    event GameResolved(uint256 indexed gameId, bool executorWon, bool byTimeout);
    /// @notice The oracle cancelled the game (its answer was rejected elsewhere).
    event GameCancelled(uint256 indexed gameId);

    /// @notice Only the oracle may create or cancel games.
    error NotOracle(address caller);
    /// @notice No game has this id.
    error UnknownGame(uint256 gameId);
    /// @notice The game is not in the phase the call needs.
    error WrongPhase(Phase expected, Phase actual);
    /// @notice The caller is not the party to move.
    error NotYourTurn(address caller);
    /// @notice The party to move has run out of time; call `timeout`.
    error ClockExpired();
    /// @notice The party to move still has time.
    error ClockRunning(uint64 secondsLeft);
    /// @notice Revealed children do not hash to the current node.
    error BadReveal();
    /// @notice The hashes passed back are not the ones posted.
    error HashesMismatch();
    /// @notice The pick is out of range, or covers only padding beyond the last leaf, or leaf 0.
    error BadPick(uint256 index);
    /// @notice The opened start leaf does not match the trace root.
    error BadStartLeaf();
    /// @notice The instruction count is zero or above the model's limit.
    error BadInstructionCount(uint64 count, uint64 maxCount);
    /// @notice The number of posted hashes is not what the interval needs.
    error WrongHashCount(uint256 count, uint256 expected);
    /// @notice The one-step proof does not start from the agreed state.
    error WrongPreState(bytes32 expected, bytes32 actual);

    constructor(address oracle_, IOneStepProver prover_, uint64 clockBudget_) {
        oracle = oracle_;
        prover = prover_;
        clockBudget = clockBudget_;
    }

    // ---------------------------------------------------------------- oracle interface

    /// @inheritdoc IDisputeGame
    function createGame(address executor, address challenger, DisputeClaim calldata claim)
        external
        returns (uint256 gameId)
    {
        if (msg.sender != oracle) revert NotOracle(msg.sender);
        gameId = ++gameCount;
        Game storage g = games[gameId];
        g.executor = executor;
        g.challenger = challenger;
        g.phase = Phase.Queued;
        g.executorClock = clockBudget;
        g.challengerClock = clockBudget;
        g.traceRoot = claim.traceRoot;
        g.stepCount = claim.stepCount;
        g.traceDepth = claim.traceDepth;
        g.memoryLog2 = claim.memoryLog2;
        g.programRoot = claim.programRoot;
        g.initialGlobalsHash = claim.initialGlobalsHash;
        g.maxStepInstructions = claim.maxStepInstructions;
        g.node = claim.traceRoot;
        g.nodeIndex = 0;
        g.nodeHeight = claim.traceDepth;
        emit GameCreated(gameId, executor, challenger);
    }

    /// @inheritdoc IDisputeGame
    function startGame(uint256 gameId) external {
        if (msg.sender != oracle) revert NotOracle(msg.sender);
        Game storage g = _game(gameId);
        if (g.phase != Phase.Queued) revert WrongPhase(Phase.Queued, g.phase);
        g.phase = Phase.TraceReveal;
        g.turnStartedAt = uint64(block.timestamp);
        emit GameStarted(gameId);
    }

    /// @inheritdoc IDisputeGame
    function cancelGame(uint256 gameId) external {
        if (msg.sender != oracle) revert NotOracle(msg.sender);
        Game storage g = _game(gameId);
        g.phase = Phase.Cancelled;
        emit GameCancelled(gameId);
    }

    // ---------------------------------------------------------------- level 1

    /// @notice Executor: reveals the descendants of the current trace node, `L1_FANOUT_LOG2`
    ///         levels down (fewer near the leaves), left to right.
    function revealTrace(uint256 gameId, bytes32[] calldata nodes) external {
        Game storage g = _move(gameId, Phase.TraceReveal);
        uint8 levels = _revealLevels(g.nodeHeight);
        if (nodes.length != uint256(1) << levels) {
            revert WrongHashCount(nodes.length, uint256(1) << levels);
        }
        if (Merkle.leavesRoot(nodes, levels) != g.node) revert BadReveal();
        g.pendingHash = keccak256(abi.encodePacked(nodes));
        g.phase = Phase.TracePick;
        emit TraceRevealed(gameId, g.nodeIndex, g.nodeHeight, nodes);
    }

    /// @notice Challenger: picks revealed child `index` (the first that differs from its trace).
    function pickTrace(uint256 gameId, bytes32[] calldata nodes, uint256 index) external {
        Game storage g = _move(gameId, Phase.TracePick);
        if (keccak256(abi.encodePacked(nodes)) != g.pendingHash) revert HashesMismatch();
        if (index >= nodes.length) revert BadPick(index);
        uint8 levels = _revealLevels(g.nodeHeight);
        uint64 childIndex = (g.nodeIndex << levels) + uint64(index);
        uint8 childHeight = g.nodeHeight - levels;
        uint256 firstLeaf = uint256(childIndex) << childHeight;
        // Only leaves 1..N can be disputed: leaf 0 was checked on submission, past N is padding.
        if (firstLeaf > g.stepCount || (childHeight == 0 && firstLeaf == 0)) revert BadPick(index);
        g.node = nodes[index];
        g.nodeIndex = childIndex;
        g.nodeHeight = childHeight;
        g.phase = childHeight == 0 ? Phase.StepOpen : Phase.TraceReveal;
        emit TracePicked(gameId, childIndex, childHeight, nodes[index]);
    }

    // ---------------------------------------------------------------- level 1 -> level 2

    /// @notice Executor: opens leaf j-1 (M_{j-1}, the memory root the disputed step starts from)
    ///         with its trace path, names the step's instruction count and posts the first
    ///         dissection of [0, count]. Level 2 runs from `boundaryHash(G0, M_{j-1})` at 0 to
    ///         `stepEndHash(G0, M_j)` at `instructionCount`.
    function openStep(
        uint256 gameId,
        bytes32 startLeaf,
        bytes32[] calldata startSiblings,
        uint64 instructionCount,
        bytes32[] calldata hashes
    ) external {
        Game storage g = _move(gameId, Phase.StepOpen);
        _openStep(gameId, g, startLeaf, startSiblings, instructionCount);
        _postDissection(gameId, g, hashes);
    }

    // ---------------------------------------------------------------- level 2

    /// @notice Executor: posts the machine hashes at the interior points of [lo, hi].
    function dissect(uint256 gameId, bytes32[] calldata hashes) external {
        Game storage g = _move(gameId, Phase.Dissect);
        _postDissection(gameId, g, hashes);
    }

    /// @notice Challenger: picks sub-interval `index` of the last dissection (it agrees with
    ///         the hash at its start and disagrees with the hash at its end).
    function pickInterval(uint256 gameId, bytes32[] calldata hashes, uint256 index) external {
        Game storage g = _move(gameId, Phase.DissectPick);
        if (keccak256(abi.encodePacked(hashes)) != g.pendingHash) revert HashesMismatch();
        uint256 parts = hashes.length + 1;
        if (index >= parts) revert BadPick(index);
        if (index > 0) g.loHash = hashes[index - 1];
        if (index + 1 < parts) g.hiHash = hashes[index];
        uint64 newLo = _point(g.lo, g.hi, parts, index);
        uint64 newHi = _point(g.lo, g.hi, parts, index + 1);
        g.lo = newLo;
        g.hi = newHi;
        g.phase = newHi - newLo == 1 ? Phase.OneStepProof : Phase.Dissect;
        emit IntervalPicked(gameId, newLo, newHi);
    }

    // ---------------------------------------------------------------- level 3

    /// @notice Replays instruction `lo` from the agreed state with a one-step proof. If the
    ///         result differs from the executor's hash at `hi`, the challenger wins; otherwise
    ///         the executor does. Anyone may call it; it does not use either clock.
    function proveStep(uint256 gameId, bytes calldata proof) external {
        Game storage g = _game(gameId);
        if (g.phase != Phase.OneStepProof) revert WrongPhase(Phase.OneStepProof, g.phase);
        (bytes32 pre, bytes32 post) = prover.executeStep(g.programRoot, g.memoryLog2, proof);
        if (pre != g.loHash) revert WrongPreState(g.loHash, pre);
        bool executorWon = post == g.hiHash;
        emit OneStepProven(gameId, g.lo, post, executorWon);
        _resolve(gameId, g, executorWon, false);
    }

    /// @notice Ends the game against the party to move if its clock has run out.
    function timeout(uint256 gameId) external {
        Game storage g = _game(gameId);
        Phase phase = g.phase;
        if (
            phase == Phase.None || phase == Phase.Resolved || phase == Phase.Cancelled
                || phase == Phase.Queued
        ) {
            revert WrongPhase(Phase.TraceReveal, phase);
        }
        bool executorToMove = _executorToMove(phase);
        uint64 left = executorToMove ? g.executorClock : g.challengerClock;
        uint64 spent = uint64(block.timestamp) - g.turnStartedAt;
        if (spent <= left) revert ClockRunning(left - spent);
        _resolve(gameId, g, !executorToMove, true);
    }

    // ---------------------------------------------------------------- views

    /// @notice The whole state of game `gameId`.
    function getGame(uint256 gameId) external view returns (Game memory) {
        return _game(gameId);
    }

    /// @notice The party whose move the game waits for (zero when it is over or still queued).
    function partyToMove(uint256 gameId) external view returns (address) {
        Game storage g = _game(gameId);
        if (g.phase == Phase.Resolved || g.phase == Phase.Cancelled || g.phase == Phase.Queued) {
            return address(0);
        }
        return _executorToMove(g.phase) ? g.executor : g.challenger;
    }

    /// @notice The instruction positions at which the executor must post hashes for [lo, hi].
    function dissectionPoints(uint64 lo, uint64 hi) external pure returns (uint64[] memory points) {
        uint256 parts = _parts(lo, hi);
        points = new uint64[](parts - 1);
        for (uint256 i = 1; i < parts; i++) {
            points[i - 1] = _point(lo, hi, parts, i);
        }
    }

    // ---------------------------------------------------------------- internals

    /// @dev Checks the opened start leaf j-1 and sets up level 2 over [0, instructionCount]
    ///      between the step's derived start and end states.
    function _openStep(
        uint256 gameId,
        Game storage g,
        bytes32 startLeaf,
        bytes32[] calldata startSiblings,
        uint64 instructionCount
    ) private {
        uint64 startIndex = g.nodeIndex - 1; // the disputed leaf j = g.nodeIndex is >= 1
        if (
            startSiblings.length != g.traceDepth
                || Merkle.rootFromPath(startLeaf, startIndex, startSiblings) != g.traceRoot
        ) revert BadStartLeaf();
        if (instructionCount == 0 || instructionCount > g.maxStepInstructions) {
            revert BadInstructionCount(instructionCount, g.maxStepInstructions);
        }
        bytes32 startHash = MachineState.boundaryHash(g.initialGlobalsHash, startLeaf);
        bytes32 endHash = MachineState.stepEndHash(g.initialGlobalsHash, g.node);
        g.lo = 0;
        g.hi = instructionCount;
        g.loHash = startHash;
        g.hiHash = endHash;
        emit StepOpened(gameId, startIndex, startHash, endHash, instructionCount);
    }

    function _postDissection(uint256 gameId, Game storage g, bytes32[] calldata hashes) private {
        uint256 expected = _parts(g.lo, g.hi) - 1;
        if (hashes.length != expected) revert WrongHashCount(hashes.length, expected);
        g.pendingHash = keccak256(abi.encodePacked(hashes));
        g.phase = Phase.DissectPick;
        emit Dissected(gameId, g.lo, g.hi, hashes);
    }

    /// @dev Number of sub-intervals [lo, hi] is cut into: k, or one per instruction when shorter.
    function _parts(uint64 lo, uint64 hi) private pure returns (uint256) {
        uint256 width = hi - lo;
        return width < L2_FANOUT ? width : L2_FANOUT;
    }

    /// @dev The i-th of `parts + 1` points from lo to hi (point 0 = lo, point parts = hi).
    function _point(uint64 lo, uint64 hi, uint256 parts, uint256 i) private pure returns (uint64) {
        return lo + uint64(uint256(hi - lo) * i / parts);
    }

    function _revealLevels(uint8 height) private pure returns (uint8) {
        return height < L1_FANOUT_LOG2 ? height : L1_FANOUT_LOG2;
    }

    function _executorToMove(Phase phase) private pure returns (bool) {
        return phase == Phase.TraceReveal || phase == Phase.StepOpen || phase == Phase.Dissect;
    }

    /// @dev Checks phase, turn and clock; charges the mover's clock; counts the move.
    function _move(uint256 gameId, Phase expected) private returns (Game storage g) {
        g = _game(gameId);
        if (g.phase != expected) revert WrongPhase(expected, g.phase);
        bool executorToMove = _executorToMove(expected);
        if (msg.sender != (executorToMove ? g.executor : g.challenger)) {
            revert NotYourTurn(msg.sender);
        }
        uint64 spent = uint64(block.timestamp) - g.turnStartedAt;
        if (executorToMove) {
            if (spent > g.executorClock) revert ClockExpired();
            g.executorClock -= spent;
            g.executorMoves++;
        } else {
            if (spent > g.challengerClock) revert ClockExpired();
            g.challengerClock -= spent;
            g.challengerMoves++;
        }
        g.turnStartedAt = uint64(block.timestamp);
    }

    function _resolve(uint256 gameId, Game storage g, bool executorWon, bool byTimeout) private {
        g.phase = Phase.Resolved;
        g.executorWon = executorWon;
        emit GameResolved(gameId, executorWon, byTimeout);
        IGameResultSink(oracle).onGameResolved(gameId, executorWon);
    }

    function _game(uint256 gameId) private view returns (Game storage g) {
        g = games[gameId];
        if (g.phase == Phase.None) revert UnknownGame(gameId);
    }
}
