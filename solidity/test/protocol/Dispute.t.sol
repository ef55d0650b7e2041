// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {console} from "forge-std/console.sol";
import {ProtocolBase} from "./ProtocolBase.sol";
import {InferenceOracle} from "../../src/InferenceOracle.sol";
import {DisputeGame} from "../../src/DisputeGame.sol";
import {TestMerkle} from "./ToyMachine.sol";
import {MachineIO} from "../../src/lib/MachineIO.sol";

/// @notice Every way a party can lie, played to the end: the liar loses each time.
contract DisputeTest is ProtocolBase {
    uint256 internal constant LIAR = 1;
    uint256 internal constant STEPS = 40;
    bytes32 internal requestId;

    function setUp() public override {
        super.setUp();
        requestId = _requestFromStore(_body(5));
        _makeHonestRun(requestId, STEPS, "Paris");
    }

    function _assertExecutorSlashed(uint256 gameId, address winner) internal {
        vm.expectRevert();
        oracle.finalize(requestId, runs[LIAR].output); // the rejected answer can never finalize
        uint256 burn = EXECUTOR_BOND * oracle.BURN_BPS() / 10_000;
        assertEq(oracle.credits(winner), EXECUTOR_BOND - burn + CHALLENGER_BOND, "winner paid");
        assertEq(oracle.credits(executor), 0, "liar paid nothing");
        assertTrue(oracle.lostRequest(requestId, executor), "the liar may not answer again");
        InferenceOracle.RequestStatus status = oracle.getRequest(requestId).status;
        assertEq(uint8(status), uint8(InferenceOracle.RequestStatus.Open), "request re-opened");
        assertTrue(game.getGame(gameId).phase == DisputeGame.Phase.Resolved);
        _assertSolvent();
    }

    function _assertSolvent() internal view {
        assertEq(address(oracle).balance, oracle.totalOwed() + oracle.totalBurned(), "balance");
    }

    function test_HonestAnswerFinalizesAndIsDelivered() public {
        _submit(executor, requestId, HONEST);
        vm.expectRevert(abi.encodeWithSelector(InferenceOracle.NotFinalizable.selector, requestId));
        oracle.finalize(requestId, runs[HONEST].output);
        assertFalse(store.answered(requestId), "no callback before finality");
        vm.warp(block.timestamp + WINDOW);
        oracle.finalize(requestId, runs[HONEST].output);
        assertTrue(store.answered(requestId));
        assertEq(store.answers(requestId), bytes("Paris"));
        assertEq(oracle.credits(executor), FEE + EXECUTOR_BOND);
        vm.expectRevert(); // no double finalize, no double payout
        oracle.finalize(requestId, runs[HONEST].output);
        vm.prank(executor);
        oracle.withdraw();
        assertEq(executor.balance, 100 ether + FEE);
        _assertSolvent();
    }

    function test_WrongOutputWithCorrectLookingTraceLoses() public {
        _makeLiarRun(LIAR, STEPS, 20, "Lyon");
        _submit(executor, requestId, LIAR);
        uint256 gameId = _challenge(challenger, requestId);
        assertFalse(_play(gameId, LIAR, HONEST, 60));
        _assertExecutorSlashed(gameId, challenger);
        _printGas("wrong output");
    }

    function test_WrongLayerTraceLeafLoses() public {
        _makeLiarRun(LIAR, 17, 5, "");
        _submit(executor, requestId, LIAR);
        uint256 gameId = _challenge(challenger, requestId);
        assertFalse(_play(gameId, LIAR, HONEST, 60));
        DisputeGame.Game memory g = game.getGame(gameId);
        assertEq(g.nodeIndex, 17, "the game found the forged leaf");
        _assertExecutorSlashed(gameId, challenger);
    }

    function test_ForgedLeafWithHonestInstructionsStillLoses() public {
        // The liar's instruction states of step 9 are all honest but its leaf 9 is forged: the
        // last instruction's proof lands on the end state of the honest memory, not the forged.
        _makeLiarRun(LIAR, 9, type(uint64).max, "");
        _submit(executor, requestId, LIAR);
        uint256 gameId = _challenge(challenger, requestId);
        assertFalse(_play(gameId, LIAR, HONEST, 1));
        assertEq(
            game.getGame(gameId).hi, runs[LIAR].counts[8], "disputed the step's last instruction"
        );
        _assertExecutorSlashed(gameId, challenger);
    }

    function test_LyingChallengerLosesItsBond() public {
        _submit(executor, requestId, HONEST);
        uint256 gameId = _challenge(challenger, requestId);
        assertTrue(_play(gameId, HONEST, HONEST, 60));
        uint256 burn = CHALLENGER_BOND * oracle.BURN_BPS() / 10_000;
        assertEq(oracle.credits(executor), CHALLENGER_BOND - burn);
        assertEq(oracle.credits(challenger), 0);
        vm.warp(block.timestamp + WINDOW);
        oracle.finalize(requestId, runs[HONEST].output);
        assertEq(oracle.credits(executor), CHALLENGER_BOND - burn + FEE + EXECUTOR_BOND);
        assertEq(store.answers(requestId), bytes("Paris"));
        _assertSolvent();
    }

    function test_SilentExecutorLosesOnTime() public {
        _makeLiarRun(LIAR, 3, 1, "Rome");
        _submit(executor, requestId, LIAR);
        uint256 gameId = _challenge(challenger, requestId);
        vm.warp(block.timestamp + CLOCK);
        vm.expectRevert(abi.encodeWithSelector(DisputeGame.ClockRunning.selector, 0));
        game.timeout(gameId);
        vm.warp(block.timestamp + 1);
        game.timeout(gameId);
        _assertExecutorSlashed(gameId, challenger);
    }

    function test_SilentChallengerLosesOnTime() public {
        _submit(executor, requestId, HONEST);
        uint256 gameId = _challenge(challenger, requestId);
        bytes32[] memory nodes = _revealed(game.getGame(gameId), HONEST);
        vm.prank(executor);
        game.revealTrace(gameId, nodes);
        vm.warp(block.timestamp + CLOCK + 1);
        vm.prank(challenger);
        vm.expectRevert(DisputeGame.ClockExpired.selector);
        game.pickTrace(gameId, nodes, 0);
        game.timeout(gameId);
        assertTrue(game.getGame(gameId).executorWon);
        assertGt(oracle.credits(executor), 0);
    }

    function test_ChessClockCountsOnlyTheMoversTime() public {
        _submit(executor, requestId, HONEST);
        uint256 gameId = _challenge(challenger, requestId);
        // Each move takes 30 minutes: 4 moves each would exceed a 2 hour budget in total time,
        // but each party only pays for its own.
        vm.warp(block.timestamp + 30 minutes);
        bytes32[] memory nodes = _revealed(game.getGame(gameId), HONEST);
        vm.prank(executor);
        game.revealTrace(gameId, nodes);
        vm.warp(block.timestamp + 30 minutes);
        vm.prank(challenger);
        game.pickTrace(gameId, nodes, 1);
        DisputeGame.Game memory g = game.getGame(gameId);
        assertEq(g.executorClock, CLOCK - 30 minutes);
        assertEq(g.challengerClock, CLOCK - 30 minutes);
    }

    function test_InconsistentDissectionLoses() public {
        // The liar's states of step 12 leave the honest ones at instruction 2 and end at its
        // forged leaf: the first forged instruction is disputed.
        _makeLiarRun(LIAR, 12, 2, "");
        _submit(executor, requestId, LIAR);
        uint256 gameId = _challenge(challenger, requestId);
        assertFalse(_play(gameId, LIAR, HONEST, 5));
        assertEq(game.getGame(gameId).lo, 1, "disputed the first forged instruction");
        _assertExecutorSlashed(gameId, challenger);
    }

    function test_ExecutorCannotOpenAWrongStartLeaf() public {
        _makeLiarRun(LIAR, 5, 0, "");
        _submit(executor, requestId, LIAR);
        uint256 gameId = _challenge(challenger, requestId);
        DisputeGame.Game memory g;
        for (
            g = game.getGame(gameId);
            g.phase != DisputeGame.Phase.StepOpen;
            g = game.getGame(gameId)
        ) {
            if (g.phase == DisputeGame.Phase.TraceReveal) _reveal(gameId, g, LIAR);
            else _pickTrace(gameId, g, LIAR, HONEST);
        }
        assertEq(g.nodeIndex, 5);
        bytes32[] memory siblings = TestMerkle.path(runs[LIAR].leaves, g.traceDepth, 4);
        bytes32[] memory none = new bytes32[](0);
        // A start other than its committed leaf 4 fails the trace proof...
        vm.prank(executor);
        vm.expectRevert(DisputeGame.BadStartLeaf.selector);
        game.openStep(gameId, keccak256("another start"), siblings, 1, none);
        // ... and so does its leaf 4 at the wrong position (a path for leaf 3).
        bytes32[] memory wrongPath = TestMerkle.path(runs[LIAR].leaves, g.traceDepth, 3);
        vm.prank(executor);
        vm.expectRevert(DisputeGame.BadStartLeaf.selector);
        game.openStep(gameId, runs[LIAR].leaves[4], wrongPath, 1, none);
        // Too many instructions is refused too.
        vm.prank(executor);
        vm.expectRevert();
        game.openStep(gameId, runs[LIAR].leaves[4], siblings, uint64(1) << 41, none);
        // Out of moves that hold, the liar runs out of time.
        vm.warp(block.timestamp + CLOCK + 1);
        game.timeout(gameId);
        _assertExecutorSlashed(gameId, challenger);
    }

    function test_ForgedOneStepProofIsRejected() public {
        _submit(executor, requestId, HONEST);
        uint256 gameId = _challenge(challenger, requestId);
        DisputeGame.Game memory g;
        for (uint256 i = 0; i < 100; i++) {
            g = game.getGame(gameId);
            if (g.phase == DisputeGame.Phase.OneStepProof) break;
            if (g.phase == DisputeGame.Phase.TraceReveal) _reveal(gameId, g, HONEST);
            else if (g.phase == DisputeGame.Phase.TracePick) _pickTrace(gameId, g, HONEST, HONEST);
            else if (g.phase == DisputeGame.Phase.StepOpen) _open(gameId, g, HONEST);
            else if (g.phase == DisputeGame.Phase.Dissect) _dissect(gameId, g, HONEST);
            else _pickInterval(gameId, g, HONEST, HONEST);
        }
        // A proof from a state other than the agreed one is refused.
        bytes32 start0 = _boundary(runs[HONEST].leaves[0]);
        bytes32 other = start0 != g.loHash ? start0 : _boundary(runs[HONEST].leaves[1]);
        vm.expectRevert(abi.encodeWithSelector(DisputeGame.WrongPreState.selector, g.loHash, other));
        game.proveStep(gameId, abi.encode(other));
        // The honest proof settles it for the executor.
        game.proveStep(gameId, abi.encode(g.loHash));
        assertTrue(game.getGame(gameId).executorWon);
    }

    function test_RevealsAndPicksAreChecked() public {
        _submit(executor, requestId, HONEST);
        uint256 gameId = _challenge(challenger, requestId);
        DisputeGame.Game memory g = game.getGame(gameId);
        bytes32[] memory nodes = _revealed(g, HONEST);
        nodes[3] = keccak256("not my node");
        vm.prank(executor);
        vm.expectRevert(DisputeGame.BadReveal.selector);
        game.revealTrace(gameId, nodes);
        vm.prank(challenger);
        vm.expectRevert(abi.encodeWithSelector(DisputeGame.NotYourTurn.selector, challenger));
        game.revealTrace(gameId, nodes);
        nodes = _revealed(g, HONEST);
        vm.prank(executor);
        game.revealTrace(gameId, nodes);
        // The challenger cannot swap in other hashes, pick leaf 0, or pick pure padding.
        bytes32[] memory swapped = _revealed(g, HONEST);
        swapped[0] = keccak256("swapped");
        vm.prank(challenger);
        vm.expectRevert(DisputeGame.HashesMismatch.selector);
        game.pickTrace(gameId, swapped, 0);
        vm.prank(challenger);
        vm.expectRevert(abi.encodeWithSelector(DisputeGame.BadPick.selector, nodes.length - 1));
        game.pickTrace(gameId, nodes, nodes.length - 1); // covers only leaves past N = 40
    }

    function test_SeveralChallengers_LiarLosesToAnyHonestOne() public {
        _makeLiarRun(LIAR, STEPS, 7, "Berlin");
        _submit(executor, requestId, LIAR);
        uint256 honestGame = _challenge(challenger, requestId);
        uint256 lyingGame = _challenge(challenger2, requestId); // would play as if the liar were right
        // The lying challenger's game waits behind the honest one and cannot save the liar.
        assertFalse(_play(honestGame, LIAR, HONEST, 10));
        // Both disputes were open when the answer was rejected: each gets half of the forfeited
        // bond (after the burn) and its own bond; the queued game is moot, anyone can close it.
        uint256 share = (EXECUTOR_BOND - EXECUTOR_BOND * oracle.BURN_BPS() / 10_000) / 2;
        assertEq(oracle.credits(challenger), share + CHALLENGER_BOND, "winner: share + bond");
        assertEq(oracle.credits(challenger2), 0, "moot dispute: paid when it closes");
        oracle.cancelMootDispute(lyingGame);
        assertEq(oracle.credits(challenger2), share + CHALLENGER_BOND, "moot: share + bond");
        assertTrue(game.getGame(lyingGame).phase == DisputeGame.Phase.Cancelled);
        vm.expectRevert(abi.encodeWithSelector(InferenceOracle.UnknownDispute.selector, lyingGame));
        oracle.cancelMootDispute(lyingGame); // paid once
        vm.expectRevert();
        oracle.finalize(requestId, runs[LIAR].output);
        assertEq(oracle.credits(executor), 0, "liar paid nothing");
        // A second executor can now answer honestly and be paid.
        _submit(executor2, requestId, HONEST);
        vm.warp(block.timestamp + WINDOW);
        oracle.finalize(requestId, runs[HONEST].output);
        assertEq(store.answers(requestId), bytes("Paris"));
        assertEq(oracle.credits(executor2), FEE + EXECUTOR_BOND);
        _assertSolvent();
    }

    function test_SeveralChallengers_HonestExecutorCollectsEveryBond() public {
        _submit(executor, requestId, HONEST);
        uint256 first = _challenge(challenger, requestId);
        uint256 second = _challenge(challenger2, requestId);
        vm.warp(block.timestamp + WINDOW); // the window closes while the games go on
        vm.expectRevert(abi.encodeWithSelector(InferenceOracle.NotFinalizable.selector, requestId));
        oracle.finalize(requestId, runs[HONEST].output);
        assertTrue(game.getGame(second).phase == DisputeGame.Phase.Queued, "one game at a time");
        assertTrue(_play(first, HONEST, HONEST, 30));
        assertTrue(game.getGame(second).phase == DisputeGame.Phase.TraceReveal, "the next starts");
        vm.expectRevert(abi.encodeWithSelector(InferenceOracle.NotFinalizable.selector, requestId));
        oracle.finalize(requestId, runs[HONEST].output);
        assertTrue(_play(second, HONEST, HONEST, 30));
        oracle.finalize(requestId, runs[HONEST].output);
        uint256 burn = CHALLENGER_BOND * oracle.BURN_BPS() / 10_000;
        assertEq(oracle.credits(executor), 2 * (CHALLENGER_BOND - burn) + FEE + EXECUTOR_BOND);
        assertEq(oracle.totalBurned(), 2 * burn);
        _assertSolvent();
    }

    function test_GasOfAFullDispute() public {
        _makeLiarRun(LIAR, STEPS, 40, "Madrid");
        _submit(executor, requestId, LIAR);
        uint256 gameId = _challenge(challenger, requestId);
        assertFalse(_play(gameId, LIAR, HONEST, 1));
        DisputeGame.Game memory g = game.getGame(gameId);
        console.log(
            "moves: executor %d, challenger %d (+1 proof)", g.executorMoves, g.challengerMoves
        );
        assertLe(g.executorMoves, 12);
        assertLe(g.challengerMoves, 12);
        _printGas("full dispute (toy machine)");
    }

    function _printGas(string memory label) internal view {
        console.log("gas of %s:", label);
        for (uint256 i = 0; i < gasReveal.length; i++) {
            console.log("  revealTrace  %d", gasReveal[i]);
        }
        for (uint256 i = 0; i < gasTracePick.length; i++) {
            console.log("  pickTrace    %d", gasTracePick[i]);
        }
        console.log("  openStep     %d", gasOpen);
        for (uint256 i = 0; i < gasDissect.length; i++) {
            console.log("  dissect      %d", gasDissect[i]);
        }
        for (uint256 i = 0; i < gasIntervalPick.length; i++) {
            console.log("  pickInterval %d", gasIntervalPick[i]);
        }
        console.log("  proveStep    %d (toy prover)", gasProve);
    }
}

/// @notice The consumer callback cannot be starved by whoever finalizes, and a consumer that
///         reverts or burns its gas cannot block finality.
contract CallbackTest is ProtocolBase {
    function test_FinalizeWithTooLittleGasForTheCallbackReverts() public {
        bytes32 requestId = _requestFromStore(_body(1));
        _makeHonestRun(requestId, 3, "Paris");
        _submit(executor, requestId, HONEST);
        vm.warp(block.timestamp + WINDOW);
        // Enough gas for finalize itself but not for the 3M the store asked for.
        (bool ok, bytes memory err) = address(oracle).call{gas: 1_000_000}(
            abi.encodeCall(InferenceOracle.finalize, (requestId, runs[HONEST].output))
        );
        assertFalse(ok);
        assertEq(bytes4(err), InferenceOracle.InsufficientGasForCallback.selector);
        assertFalse(store.answered(requestId));
        oracle.finalize(requestId, runs[HONEST].output);
        assertTrue(store.answered(requestId));
    }

    function test_RevertingConsumerDoesNotBlockFinality() public {
        RevertingConsumer consumer = new RevertingConsumer();
        vm.deal(address(consumer), 1 ether);
        vm.prank(address(consumer));
        bytes32 requestId = oracle.request{value: FEE}(modelId, _body(2), bytes32(0), 100_000);
        _makeHonestRun(requestId, 3, "Paris");
        _submit(executor, requestId, HONEST);
        vm.warp(block.timestamp + WINDOW);
        vm.expectEmit(true, false, false, true, address(oracle));
        emit InferenceOracle.RequestFinalized(requestId, 0, false);
        oracle.finalize(requestId, runs[HONEST].output);
        assertEq(oracle.credits(executor), FEE + EXECUTOR_BOND);
    }

    function test_BodyWithoutSeedSlotIsRefused() public {
        vm.prank(user);
        vm.expectRevert(abi.encodeWithSelector(MachineIO.BodyTooShort.selector, 63, 64));
        oracle.request{value: FEE}(modelId, new bytes(63), bytes32(0), 0);
    }

    function test_SeedIsWrittenIntoItsSlot() public {
        bytes memory body = _body(7);
        bytes32 requestId = _requestFromStore(body);
        bytes32 seed = keccak256(abi.encode(requestId, keccak256("user seed")));
        bytes memory input = bytes.concat(_slice(body, 0, 32), seed, _slice(body, 64, body.length));
        assertEq(oracle.getRequest(requestId).inputRoot, TestMerkle.regionRoot(input, IN_LOG2));
    }

    function _slice(bytes memory b, uint256 from, uint256 to)
        internal
        pure
        returns (bytes memory out)
    {
        out = new bytes(to - from);
        for (uint256 i = from; i < to; i++) {
            out[i - from] = b[i];
        }
    }

    function test_CallbackGasIsBounded() public {
        vm.prank(user);
        vm.expectRevert(
            abi.encodeWithSelector(
                InferenceOracle.CallbackGasTooHigh.selector, 5_000_001, oracle.MAX_CALLBACK_GAS()
            )
        );
        oracle.request{value: FEE}(modelId, _body(3), bytes32(0), 5_000_001);
    }
}

contract RevertingConsumer {
    function onInferenceResult(bytes32, bytes calldata) external pure {
        revert("no thanks");
    }
}
