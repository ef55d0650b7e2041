// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {Test} from "forge-std/Test.sol";
import {ModelRegistry} from "../../src/ModelRegistry.sol";
import {InferenceOracle} from "../../src/InferenceOracle.sol";
import {DisputeGame} from "../../src/DisputeGame.sol";
import {AnswerStore} from "../../src/examples/AnswerStore.sol";
import {IOneStepProver} from "../../src/interfaces/IOneStepProver.sol";
import {ToyProver, TestMerkle} from "./ToyMachine.sol";

/// @notice Deploys the protocol with a toy machine and plays games between scripted parties.
/// @dev The toy machine models the real one at the level the dispute game sees: a layer step
///      from memory root M starts at `_boundary(M)`, runs through inner states that depend only
///      on M, and after its n(M) instructions rests at `_stepEnd(next(M))` for ever (the status-2
///      fixed point). On a finished memory (the final one, holding the output) `step()` traps:
///      a few inner states, then a trapped state that never changes, and no step-end state at
///      all. The honest run of a request defines n and next for each of its memories and fills
///      the toy prover's table.
///
///      A "run" is one party's view of a request's execution: its layer-trace leaves (memory
///      roots), the instruction count of each step and, for a liar, how its level-2 states
///      leave the true ones (`Level2`). Inner states depend only on the step's start memory, so
///      a liar agrees with the honest machine up to the point where it lies, as a real cheater
///      would.
abstract contract ProtocolBase is Test {
    /// How a run's level-2 states of a step are made (the step's true states when it starts
    /// from a memory the toy machine knows; see `_claimedState`).
    enum Level2 {
        Follow, // the true states of the machine from the step's start
        ForgeFrom, // true states before `lieAt`, forged ones from there on
        RunOn, // the old machine: at a step's end it goes on into the next step
        JumpToEnd, // true states before `lieAt`, then the claimed end state
        Random // forged states everywhere inside
    }

    struct Run {
        bytes32[] leaves; // memory roots M_0..M_N
        uint64[] counts; // counts[j-1]: instructions of step j
        bytes output;
        Level2 level2; // the level-2 lie (the honest run: Follow)
        uint256 lieStep; // the step `level2` applies to; 0: every step
        uint64 lieAt;
    }

    uint8 internal constant MEM_LOG2 = 16;
    uint64 internal constant IN_OFFSET = 0x8000;
    uint8 internal constant IN_LOG2 = 10;
    uint64 internal constant OUT_OFFSET = 0xC000;
    uint8 internal constant OUT_LOG2 = 10;
    bytes32 internal constant G0 = keccak256("toy globals");
    uint256 internal constant EXECUTOR_BOND = 1 ether;
    uint256 internal constant CHALLENGER_BOND = 0.5 ether;
    uint256 internal constant FEE = 0.1 ether;
    uint64 internal constant WINDOW = 1 hours;
    uint64 internal constant CLOCK = 2 hours;
    uint64 internal constant REQUEST_TIMEOUT = 1 days;

    ModelRegistry internal registry;
    InferenceOracle internal oracle;
    DisputeGame internal game;
    ToyProver internal prover;
    AnswerStore internal store;
    bytes32 internal modelId;
    bytes32[] internal inSiblings;
    bytes32[] internal outSiblings;

    address internal executor = makeAddr("executor");
    address internal executor2 = makeAddr("executor2");
    address internal challenger = makeAddr("challenger");
    address internal challenger2 = makeAddr("challenger2");
    address internal user = makeAddr("user");

    mapping(uint256 => Run) internal runs;
    uint256 internal constant HONEST = 0;

    /// Gas of the last game's moves, by kind (for the gas table).
    uint256[] internal gasReveal;
    uint256[] internal gasTracePick;
    uint256 internal gasOpen;
    uint256[] internal gasDissect;
    uint256[] internal gasIntervalPick;
    uint256 internal gasProve;

    function setUp() public virtual {
        for (uint256 i = 0; i < MEM_LOG2 - IN_LOG2; i++) {
            inSiblings.push(keccak256(abi.encode("image sibling", i)));
            outSiblings.push(keccak256(abi.encode("final memory sibling", i)));
        }
        registry = new ModelRegistry();
        prover = new ToyProver();
        // The game needs the oracle's address and the oracle the game's: predict the oracle's.
        address predictedOracle =
            vm.computeCreateAddress(address(this), vm.getNonce(address(this)) + 1);
        game = new DisputeGame(predictedOracle, IOneStepProver(address(prover)), CLOCK);
        oracle = new InferenceOracle(
            registry, game, EXECUTOR_BOND, CHALLENGER_BOND, WINDOW, REQUEST_TIMEOUT
        );
        assertEq(address(oracle), predictedOracle);
        store = new AnswerStore(oracle);
        modelId = registry.register(_spec());
        vm.deal(executor, 100 ether);
        vm.deal(executor2, 100 ether);
        vm.deal(challenger, 100 ether);
        vm.deal(challenger2, 100 ether);
        vm.deal(user, 100 ether);
    }

    function _spec() internal view returns (ModelRegistry.ModelSpec memory spec) {
        spec.programRoot = keccak256("toy program");
        spec.imageRoot =
            TestMerkle.climb(TestMerkle.zeroRoot(IN_LOG2 - 5), IN_OFFSET >> IN_LOG2, inSiblings);
        spec.initialGlobalsHash = G0;
        spec.tokenizerHash = keccak256("toy tokenizer");
        spec.layout = ModelRegistry.Layout(MEM_LOG2, IN_OFFSET, IN_LOG2, OUT_OFFSET, OUT_LOG2);
        spec.limits = ModelRegistry.Limits(512, 1000, 1 << 40);
        spec.name = "toy";
    }

    // ------------------------------------------------------------ requests and runs

    function _requestFromStore(bytes memory body) internal returns (bytes32 requestId) {
        vm.prank(user);
        requestId = store.ask{value: FEE}(modelId, body, keccak256("user seed"));
    }

    /// A request made by `user` itself (an account, so it can cancel), with no callback.
    function _requestFromUser(bytes memory body, bytes32 userSeed)
        internal
        returns (bytes32 requestId)
    {
        vm.prank(user);
        requestId = oracle.request{value: FEE}(modelId, body, userSeed, 0);
    }

    /// A request body: 32-byte header, the seed slot, two token ids.
    function _body(uint256 salt) internal pure returns (bytes memory) {
        return abi.encodePacked(
            bytes4("VTIN"), uint32(2), bytes24(0), bytes32(0), uint32(salt), uint32(7)
        );
    }

    function _inputRoot(bytes32 requestId) internal view returns (bytes32 inputRoot) {
        inputRoot = oracle.getRequest(requestId).inputRoot;
    }

    /// Machine hash of a step's start state (status 0, pc 0) with memory `memoryRoot`.
    function _boundary(bytes32 memoryRoot) internal pure returns (bytes32) {
        return _resting(0, 0, memoryRoot);
    }

    /// Machine hash of a step's end state (status 2, pc 1) with memory `memoryRoot`.
    function _stepEnd(bytes32 memoryRoot) internal pure returns (bytes32) {
        return _resting(2, 1, memoryRoot);
    }

    function _resting(uint8 status, uint32 pc, bytes32 memoryRoot) private pure returns (bytes32) {
        return keccak256(
            abi.encodePacked(
                "Machine:",
                status,
                pc,
                bytes32(0),
                bytes32(0),
                uint32(0),
                uint8(0),
                bytes32(0),
                G0,
                memoryRoot
            )
        );
    }

    function _encodeOutput(bytes memory text) internal pure returns (bytes memory) {
        uint32 n = uint32(text.length);
        return abi.encodePacked(
            bytes4(0x01000000), // status 1 (finished), little-endian
            bytes4(0x02000000), // two tokens
            _le32(n),
            bytes20(0),
            text
        );
    }

    function _le32(uint32 v) internal pure returns (bytes4) {
        return bytes4(
            uint32(uint8(v)) << 24 | uint32(uint8(v >> 8)) << 16 | uint32(uint8(v >> 16)) << 8
                | uint32(uint8(v >> 24))
        );
    }

    function _finalMemory(bytes memory output) internal view returns (bytes32) {
        return TestMerkle.climb(
            TestMerkle.regionRoot(output, OUT_LOG2), OUT_OFFSET >> OUT_LOG2, outSiblings
        );
    }

    /// The honest run of `requestId`: `steps` layer steps of varied lengths; registers its
    /// transitions in the toy machine.
    function _makeHonestRun(bytes32 requestId, uint256 steps, bytes memory text) internal {
        _makeRun(HONEST, requestId, steps, text);
    }

    /// Instructions a finished machine runs in `step()` before it traps.
    uint64 internal constant FINISHED_STEP_LENGTH = 2;

    /// The toy machine: for a memory an honest step starts from, that step's length and result.
    mapping(bytes32 => uint64) internal stepLength;
    mapping(bytes32 => bytes32) internal stepResult;
    /// Memories whose machine has finished (`step()` traps).
    mapping(bytes32 => bool) internal finished;

    /// An honest run of `requestId` stored as run `id`.
    function _makeRun(uint256 id, bytes32 requestId, uint256 steps, bytes memory text) internal {
        Run storage run = runs[id];
        delete run.leaves;
        delete run.counts;
        run.output = _encodeOutput(text);
        run.leaves.push(_initialMemory(requestId));
        for (uint256 j = 1; j < steps; j++) {
            run.leaves.push(keccak256(abi.encode("honest memory", requestId, j)));
        }
        run.leaves.push(_finalMemory(run.output));
        for (uint256 j = 1; j <= steps; j++) {
            run.counts.push(uint64(3 + (j * 37) % 90));
        }
        for (uint256 j = 1; j <= steps; j++) {
            _defineStep(run.leaves[j - 1], run.counts[j - 1], run.leaves[j]);
        }
        _defineFinished(run.leaves[steps]);
    }

    function _initialMemory(bytes32 requestId) internal view returns (bytes32) {
        return TestMerkle.climb(_inputRoot(requestId), IN_OFFSET >> IN_LOG2, inSiblings);
    }

    /// The toy machine's step from memory `from`: `n` instructions, leaving memory `to`.
    function _defineStep(bytes32 from, uint64 n, bytes32 to) internal {
        stepLength[from] = n;
        stepResult[from] = to;
        for (uint64 t = 0; t < n; t++) {
            prover.setTransition(_trueState(from, t), _trueState(from, t + 1));
        }
        prover.setTransition(_stepEnd(to), _stepEnd(to)); // the fixed point
    }

    /// The toy machine on a finished memory: `step()` traps.
    function _defineFinished(bytes32 memoryRoot) internal {
        finished[memoryRoot] = true;
        for (uint64 t = 0; t <= FINISHED_STEP_LENGTH; t++) {
            prover.setTransition(_trueState(memoryRoot, t), _trueState(memoryRoot, t + 1));
        }
    }

    function _knows(bytes32 memoryRoot) internal view returns (bool) {
        return stepLength[memoryRoot] != 0 || finished[memoryRoot];
    }

    /// The true machine hash after `t` instructions of the step from memory `m` (which the toy
    /// machine must know): start, inner states, then the step-end state for ever, or, on a
    /// finished memory, the trapped state for ever.
    function _trueState(bytes32 m, uint64 t) internal view returns (bytes32) {
        if (t == 0) return _boundary(m);
        if (finished[m]) {
            if (t < FINISHED_STEP_LENGTH) return keccak256(abi.encode("toy inner state", m, t));
            return keccak256(abi.encode("toy trapped state", m));
        }
        uint64 n = stepLength[m];
        require(n != 0, "toy machine: no step from this memory");
        if (t < n) return keccak256(abi.encode("toy inner state", m, t));
        return _stepEnd(stepResult[m]);
    }

    /// The old machine, where the state after StepEnd was the next step's start: from memory
    /// `m`, `t` instructions on, running across step ends.
    function _runOnState(bytes32 m, uint64 t) internal view returns (bytes32) {
        while (!finished[m] && stepLength[m] != 0 && t >= stepLength[m]) {
            t -= stepLength[m];
            m = stepResult[m];
        }
        return _knows(m) ? _trueState(m, t) : _forged(m, t);
    }

    function _forged(bytes32 salt, uint64 t) internal pure returns (bytes32) {
        return keccak256(abi.encode("forged state", salt, t));
    }

    /// A liar's run: the honest run with leaf `step` (and, from `at` on, the instruction states
    /// of that step) replaced; with `newText`, it also claims another output.
    function _makeLiarRun(uint256 id, uint256 step, uint64 at, bytes memory newText) internal {
        _copyHonest(id);
        Run storage run = runs[id];
        run.level2 = Level2.ForgeFrom;
        run.lieStep = step;
        run.lieAt = at;
        if (newText.length != 0) {
            run.output = _encodeOutput(newText);
            run.leaves[run.leaves.length - 1] = _finalMemory(run.output);
        }
        if (step != run.leaves.length - 1 || newText.length == 0) {
            run.leaves[step] = keccak256(abi.encode("forged memory", id, step));
        }
    }

    /// Run `id` := the honest run (leaves, counts, output), following the true states.
    function _copyHonest(uint256 id) internal {
        Run storage honest = runs[HONEST];
        Run storage run = runs[id];
        run.leaves = honest.leaves;
        run.counts = honest.counts;
        run.output = honest.output;
        run.level2 = Level2.Follow;
        run.lieStep = 0;
        run.lieAt = 0;
    }

    /// Machine hash after instruction `t` of layer step `j` (1-based) as run `id` sees it. The
    /// honest run answers with the true machine (beyond its last step too: there, the machine
    /// has finished and traps); another run answers with its claims: the start state of its
    /// leaf j-1 at 0, the end state of its leaf j at its count, its `level2` states inside.
    function _state(uint256 id, uint256 j, uint64 t) internal view returns (bytes32) {
        Run storage run = runs[id];
        bytes32 start = run.leaves[j - 1];
        if (id == HONEST) return _trueState(start, t);
        if (t == 0) return _boundary(start);
        if (t >= run.counts[j - 1]) return _stepEnd(run.leaves[j]);
        Level2 mode = run.lieStep == 0 || run.lieStep == j ? run.level2 : Level2.Follow;
        if (mode == Level2.RunOn) return _runOnState(start, t);
        if (mode == Level2.Random) return _forged(keccak256(abi.encode(id, j)), t);
        if ((mode == Level2.ForgeFrom || mode == Level2.JumpToEnd) && t >= run.lieAt) {
            return mode == Level2.ForgeFrom
                ? _forged(keccak256(abi.encode(id, j)), t)
                : _stepEnd(run.leaves[j]);
        }
        return _knows(start) ? _trueState(start, t) : _forged(start, t);
    }

    function _depth(uint256 id) internal view returns (uint256) {
        return oracle.traceDepth(uint64(runs[id].leaves.length - 1));
    }

    // ------------------------------------------------------------ submitting and challenging

    function _submit(address who, bytes32 requestId, uint256 id) internal {
        (bool ok, bytes memory err) = _trySubmit(who, requestId, id);
        if (!ok) {
            assembly ("memory-safe") {
                revert(add(err, 32), mload(err))
            }
        }
    }

    /// Submits run `id` for `requestId` as `who`; returns whether the oracle took it (and its
    /// revert data if not).
    function _trySubmit(address who, bytes32 requestId, uint256 id)
        internal
        returns (bool, bytes memory)
    {
        Run storage run = runs[id];
        return _trySubmitLeaves(who, requestId, run.leaves, run.leaves.length - 1, run.output);
    }

    /// Submits a trace of `leaves` (zero-padded to the depth of N = `stepCount`, and possibly
    /// holding non-zero leaves past N) with its final memory at leaf N.
    function _trySubmitLeaves(
        address who,
        bytes32 requestId,
        bytes32[] memory leaves,
        uint256 stepCount,
        bytes memory output
    ) internal returns (bool, bytes memory) {
        (InferenceOracle.AnswerClaim memory claim, InferenceOracle.SubmissionProofs memory proofs) =
            _answerOf(leaves, stepCount, output);
        _commit(who, requestId, claim, output);
        vm.prank(who);
        try oracle.submit{value: EXECUTOR_BOND}(requestId, claim, output, proofs) {
            return (true, "");
        } catch (bytes memory err) {
            return (false, err);
        }
    }

    /// The claim and proofs of a trace of `leaves` with N = `stepCount` and `output`.
    function _answerOf(bytes32[] memory leaves, uint256 stepCount, bytes memory output)
        internal
        view
        returns (InferenceOracle.AnswerClaim memory claim, InferenceOracle.SubmissionProofs memory)
    {
        uint64 n = uint64(stepCount);
        uint256 depth = oracle.traceDepth(n);
        claim = InferenceOracle.AnswerClaim({
            traceRoot: TestMerkle.root(leaves, depth),
            stepCount: n,
            finalMemoryRoot: _finalMemory(output)
        });
        return (
            claim,
            InferenceOracle.SubmissionProofs({
                inputRegionSiblings: inSiblings,
                firstLeafSiblings: TestMerkle.path(leaves, depth, 0),
                lastLeafSiblings: TestMerkle.path(leaves, depth, n),
                outputRegionSiblings: outSiblings
            })
        );
    }

    /// Commits `who` to `claim` and `output` and moves to the next block, where it may reveal.
    function _commit(
        address who,
        bytes32 requestId,
        InferenceOracle.AnswerClaim memory claim,
        bytes memory output
    ) internal {
        bytes32 commitment = oracle.answerCommitment(who, requestId, claim, output);
        vm.prank(who);
        try oracle.commitAnswer(requestId, commitment) {} catch {} // submit reports why
        vm.roll(block.number + 1);
    }

    /// Challenges the current answer of `requestId`.
    function _challenge(address who, bytes32 requestId) internal returns (uint256 gameId) {
        uint32 current = oracle.getRequest(requestId).answerCount - 1;
        vm.prank(who);
        gameId = oracle.challenge{value: CHALLENGER_BOND}(requestId, current);
    }

    // ------------------------------------------------------------ playing a game

    /// Plays game `gameId` to the end: the executor follows run `execId`, the challenger run
    /// `challId` (each answering honestly from its own view), each move `delay` seconds after
    /// the last. Returns whether the executor won.
    function _play(uint256 gameId, uint256 execId, uint256 challId, uint64 delay)
        internal
        returns (bool executorWon)
    {
        delete gasReveal;
        delete gasTracePick;
        delete gasDissect;
        delete gasIntervalPick;
        for (uint256 moves = 0; moves < 200; moves++) {
            DisputeGame.Game memory g = game.getGame(gameId);
            if (g.phase == DisputeGame.Phase.Resolved) return g.executorWon;
            vm.warp(block.timestamp + delay);
            if (g.phase == DisputeGame.Phase.TraceReveal) {
                _reveal(gameId, g, execId);
            } else if (g.phase == DisputeGame.Phase.TracePick) {
                _pickTrace(gameId, g, execId, challId);
            } else if (g.phase == DisputeGame.Phase.StepOpen) {
                _open(gameId, g, execId);
            } else if (g.phase == DisputeGame.Phase.Dissect) {
                _dissect(gameId, g, execId);
            } else if (g.phase == DisputeGame.Phase.DissectPick) {
                _pickInterval(gameId, g, execId, challId);
            } else if (g.phase == DisputeGame.Phase.OneStepProof) {
                _prove(gameId, g);
            } else {
                revert("unexpected phase");
            }
        }
        revert("game did not end in 200 moves");
    }

    function _levels(uint8 height) internal view returns (uint8) {
        uint8 fan = game.L1_FANOUT_LOG2();
        return height < fan ? height : fan;
    }

    function _reveal(uint256 gameId, DisputeGame.Game memory g, uint256 execId) internal {
        bytes32[] memory nodes = TestMerkle.descendants(
            runs[execId].leaves, g.traceDepth, g.nodeIndex, g.nodeHeight, _levels(g.nodeHeight)
        );
        vm.prank(g.executor);
        uint256 before = gasleft();
        game.revealTrace(gameId, nodes);
        gasReveal.push(before - gasleft());
    }

    function _revealed(DisputeGame.Game memory g, uint256 id)
        internal
        view
        returns (bytes32[] memory)
    {
        return TestMerkle.descendants(
            _leavesIn(id, g.traceDepth),
            g.traceDepth,
            g.nodeIndex,
            g.nodeHeight,
            _levels(g.nodeHeight)
        );
    }

    /// Run `id`'s leaves as far as a tree of `depth` holds them (a claim of fewer steps has a
    /// shallower tree than the honest run's; only leaves up to its N can be disputed).
    function _leavesIn(uint256 id, uint256 depth) internal view returns (bytes32[] memory leaves) {
        leaves = runs[id].leaves;
        uint256 width = uint256(1) << depth;
        if (leaves.length > width) {
            assembly ("memory-safe") {
                mstore(leaves, width)
            }
        }
    }

    function _pickTrace(uint256 gameId, DisputeGame.Game memory g, uint256 execId, uint256 challId)
        internal
    {
        bytes32[] memory theirs = _revealed(g, execId);
        bytes32[] memory mine = _revealed(g, challId);
        uint8 levels = _levels(g.nodeHeight);
        uint256 childHeight = g.nodeHeight - levels;
        // Claimed steps past my last one: no valid leaf exists at my N + 1 (my machine has
        // finished there), whatever the executor put there, even a zero leaf.
        uint256 myLast = runs[challId].leaves.length - 1;
        uint256 pick = type(uint256).max;
        uint256 lastValid;
        for (uint256 i = 0; i < theirs.length; i++) {
            uint256 firstLeaf = ((uint256(g.nodeIndex) << levels) + i) << childHeight;
            bool valid = firstLeaf <= g.stepCount && !(childHeight == 0 && firstLeaf == 0);
            bool holdsMyNext = g.stepCount > myLast && firstLeaf <= myLast + 1
                && myLast + 1 < firstLeaf + (uint256(1) << childHeight);
            if (valid) lastValid = i;
            if (valid && pick == type(uint256).max && (theirs[i] != mine[i] || holdsMyNext)) {
                pick = i;
            }
        }
        // A challenger that finds no difference (it is lying) disputes the last valid child.
        if (pick == type(uint256).max) pick = lastValid;
        vm.prank(g.challenger);
        uint256 before = gasleft();
        game.pickTrace(gameId, theirs, pick);
        gasTracePick.push(before - gasleft());
    }

    function _points(DisputeGame.Game memory g, uint256 id, uint256 step)
        internal
        view
        returns (bytes32[] memory hashes)
    {
        uint64[] memory points = game.dissectionPoints(g.lo, g.hi);
        hashes = new bytes32[](points.length);
        for (uint256 i = 0; i < points.length; i++) {
            hashes[i] = _state(id, step, points[i]);
        }
    }

    function _open(uint256 gameId, DisputeGame.Game memory g, uint256 execId) internal {
        uint256 step = g.nodeIndex; // leaf j; the step from leaf j-1 to leaf j is step j
        Run storage run = runs[execId];
        g.lo = 0;
        g.hi = run.counts[step - 1];
        bytes32[] memory hashes = _points(g, execId, step);
        bytes32[] memory siblings = TestMerkle.path(run.leaves, g.traceDepth, step - 1);
        vm.prank(g.executor);
        uint256 before = gasleft();
        game.openStep(gameId, run.leaves[step - 1], siblings, g.hi, hashes);
        gasOpen = before - gasleft();
    }

    function _dissect(uint256 gameId, DisputeGame.Game memory g, uint256 execId) internal {
        bytes32[] memory hashes = _points(g, execId, g.nodeIndex);
        vm.prank(g.executor);
        uint256 before = gasleft();
        game.dissect(gameId, hashes);
        gasDissect.push(before - gasleft());
    }

    function _pickInterval(
        uint256 gameId,
        DisputeGame.Game memory g,
        uint256 execId,
        uint256 challId
    ) internal {
        bytes32[] memory theirs = _points(g, execId, g.nodeIndex);
        bytes32[] memory mine = _points(g, challId, g.nodeIndex);
        uint256 pick = theirs.length; // the last interval, ending at hi
        for (uint256 i = 0; i < theirs.length; i++) {
            if (theirs[i] != mine[i]) {
                pick = i;
                break;
            }
        }
        // With no difference inside, the difference is at hi (or, for a liar, nowhere).
        vm.prank(g.challenger);
        uint256 before = gasleft();
        game.pickInterval(gameId, theirs, pick);
        gasIntervalPick.push(before - gasleft());
    }

    function _prove(uint256 gameId, DisputeGame.Game memory g) internal {
        vm.prank(g.challenger);
        uint256 before = gasleft();
        game.proveStep(gameId, abi.encode(g.loHash));
        gasProve = before - gasleft();
    }
}
