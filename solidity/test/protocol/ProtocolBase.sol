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
/// @dev A "run" is one party's view of a request's execution: its layer-trace leaves, the
///      instruction count of each step and, for a liar, where its instruction states leave the
///      honest ones. Honest inner states are shared by every run, so a liar agrees with the
///      honest run up to the point where it lies, as a real cheater would.
abstract contract ProtocolBase is Test {
    struct Run {
        bytes32[] leaves;
        uint64[] counts;
        uint256 divergeStep; // 0: never diverges inside a step
        uint64 divergeAt;
        bytes output;
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

    /// A request body: 32-byte header, the seed slot, two token ids.
    function _body(uint256 salt) internal pure returns (bytes memory) {
        return abi.encodePacked(
            bytes4("VTIN"), uint32(2), bytes24(0), bytes32(0), uint32(salt), uint32(7)
        );
    }

    function _inputRoot(bytes32 requestId) internal view returns (bytes32 inputRoot) {
        inputRoot = oracle.getRequest(requestId).inputRoot;
    }

    function _boundary(bytes32 memoryRoot) internal pure returns (bytes32) {
        return keccak256(
            abi.encodePacked(
                "Machine:",
                uint8(0),
                uint32(0),
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

    /// An honest run of `requestId` stored as run `id`.
    function _makeRun(uint256 id, bytes32 requestId, uint256 steps, bytes memory text) internal {
        Run storage run = runs[id];
        delete run.leaves;
        delete run.counts;
        run.output = _encodeOutput(text);
        bytes32 initialMemory =
            TestMerkle.climb(_inputRoot(requestId), IN_OFFSET >> IN_LOG2, inSiblings);
        run.leaves.push(_boundary(initialMemory));
        for (uint256 j = 1; j < steps; j++) {
            run.leaves.push(keccak256(abi.encode("honest leaf", requestId, j)));
        }
        run.leaves.push(_boundary(_finalMemory(run.output)));
        for (uint256 j = 1; j <= steps; j++) {
            run.counts.push(uint64(3 + (j * 37) % 90));
        }
        for (uint256 j = 1; j <= steps; j++) {
            for (uint64 t = 0; t < run.counts[j - 1]; t++) {
                prover.setTransition(_state(id, j, t), _state(id, j, t + 1));
            }
        }
    }

    /// A liar's run: the honest run with leaf `step` (and, from `at` on, the instruction states
    /// of that step) replaced; with `newText`, it also claims another output.
    function _makeLiarRun(uint256 id, uint256 step, uint64 at, bytes memory newText) internal {
        Run storage honest = runs[HONEST];
        Run storage run = runs[id];
        run.leaves = honest.leaves;
        run.counts = honest.counts;
        run.output = honest.output;
        run.divergeStep = step;
        run.divergeAt = at;
        if (newText.length != 0) {
            run.output = _encodeOutput(newText);
            run.leaves[run.leaves.length - 1] = _boundary(_finalMemory(run.output));
        }
        if (step != run.leaves.length - 1 || newText.length == 0) {
            run.leaves[step] = keccak256(abi.encode("forged leaf", id, step));
        }
    }

    /// Machine hash after instruction `t` of layer step `j` (1-based) in run `id`.
    function _state(uint256 id, uint256 j, uint64 t) internal view returns (bytes32) {
        Run storage run = runs[id];
        uint64 n = run.counts[j - 1];
        if (t > n) {
            // Past the step's end: the honest machine goes on into the next step.
            if (j == run.counts.length) return run.leaves[j];
            return _state(id, j + 1, t - n);
        }
        if (run.divergeStep == j && t >= run.divergeAt && t < n) {
            return keccak256(abi.encode("forged state", id, j, t));
        }
        if (t == 0) return run.leaves[j - 1];
        if (t == n) return run.leaves[j];
        return keccak256(abi.encode("honest state", j, t));
    }

    function _depth(uint256 id) internal view returns (uint256) {
        return oracle.traceDepth(uint64(runs[id].leaves.length - 1));
    }

    // ------------------------------------------------------------ submitting and challenging

    function _submit(address who, bytes32 requestId, uint256 id) internal {
        Run storage run = runs[id];
        uint256 depth = _depth(id);
        uint64 n = uint64(run.leaves.length - 1);
        InferenceOracle.AnswerClaim memory claim = InferenceOracle.AnswerClaim({
            traceRoot: TestMerkle.root(run.leaves, depth),
            stepCount: n,
            finalMemoryRoot: _finalMemory(run.output)
        });
        InferenceOracle.SubmissionProofs memory proofs = InferenceOracle.SubmissionProofs({
            inputRegionSiblings: inSiblings,
            firstLeafSiblings: TestMerkle.path(run.leaves, depth, 0),
            lastLeafSiblings: TestMerkle.path(run.leaves, depth, n),
            outputRegionSiblings: outSiblings
        });
        vm.prank(who);
        oracle.submit{value: EXECUTOR_BOND}(requestId, claim, run.output, proofs);
    }

    function _challenge(address who, bytes32 requestId) internal returns (uint256 gameId) {
        vm.prank(who);
        gameId = oracle.challenge{value: CHALLENGER_BOND}(requestId);
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
            runs[id].leaves, g.traceDepth, g.nodeIndex, g.nodeHeight, _levels(g.nodeHeight)
        );
    }

    function _pickTrace(uint256 gameId, DisputeGame.Game memory g, uint256 execId, uint256 challId)
        internal
    {
        bytes32[] memory theirs = _revealed(g, execId);
        bytes32[] memory mine = _revealed(g, challId);
        uint8 levels = _levels(g.nodeHeight);
        uint256 childHeight = g.nodeHeight - levels;
        uint256 pick = type(uint256).max;
        uint256 lastValid;
        for (uint256 i = 0; i < theirs.length; i++) {
            uint256 firstLeaf = ((uint256(g.nodeIndex) << levels) + i) << childHeight;
            bool valid = firstLeaf <= g.stepCount && !(childHeight == 0 && firstLeaf == 0);
            if (valid) lastValid = i;
            if (valid && pick == type(uint256).max && theirs[i] != mine[i]) pick = i;
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
