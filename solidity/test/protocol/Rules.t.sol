// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {ProtocolBase} from "./ProtocolBase.sol";
import {InferenceOracle} from "../../src/InferenceOracle.sol";
import {DisputeGame} from "../../src/DisputeGame.sol";
import {TestMerkle} from "./ToyMachine.sol";

/// @notice The submission formats (memory-root leaves, zero padding), the step's derived ends,
///         and the economic rules: shared rewards, barred losers, early cancellation, challenges
///         that name their answer.
contract RulesTest is ProtocolBase {
    uint256 internal constant LIAR = 1;
    uint256 internal constant OTHER = 2; // the honest run of another request
    uint256 internal constant STEPS = 40;
    bytes32 internal requestId;

    function setUp() public override {
        super.setUp();
        requestId = _requestFromUser(_body(5), keccak256("seed"));
        _makeHonestRun(requestId, STEPS, "Paris");
    }

    function _share(uint256 disputes) internal view returns (uint256) {
        return (EXECUTOR_BOND - EXECUTOR_BOND * oracle.BURN_BPS() / 10_000) / disputes;
    }

    function _assertSolvent() internal view {
        assertEq(address(oracle).balance, oracle.totalOwed() + oracle.totalBurned(), "balance");
    }

    // ------------------------------------------------------------ submission

    function test_LeavesAreMemoryRootsNotMachineHashes() public {
        // The old format (boundary hashes as leaves) is refused at leaf 0...
        bytes32[] memory leaves = runs[HONEST].leaves;
        bytes32 m0 = leaves[0];
        leaves[0] = _boundary(m0);
        (bool ok, bytes memory err) =
            _trySubmitLeaves(executor, requestId, leaves, STEPS, runs[HONEST].output);
        assertFalse(ok);
        assertEq(bytes4(err), InferenceOracle.WrongInitialState.selector);
        // ... and at leaf N.
        leaves[0] = m0;
        leaves[STEPS] = _boundary(leaves[STEPS]);
        (ok, err) = _trySubmitLeaves(executor, requestId, leaves, STEPS, runs[HONEST].output);
        assertFalse(ok);
        assertEq(err, abi.encodeWithSelector(InferenceOracle.BadTraceProof.selector));
        // The memory roots themselves are accepted.
        _submit(executor, requestId, HONEST);
    }

    /// Any non-zero leaf past N is refused, at the level of leaf N's path whose sibling holds it.
    function testFuzz_NonZeroPaddingIsRefused(uint256 position, bytes32 garbage) public {
        vm.assume(garbage != bytes32(0));
        uint256 width = uint256(1) << oracle.traceDepth(uint64(STEPS)); // 64
        position = bound(position, STEPS + 1, width - 1);
        bytes32[] memory leaves = new bytes32[](width);
        for (uint256 i = 0; i <= STEPS; i++) {
            leaves[i] = runs[HONEST].leaves[i];
        }
        leaves[position] = garbage;
        (bool ok, bytes memory err) =
            _trySubmitLeaves(executor, requestId, leaves, STEPS, runs[HONEST].output);
        assertFalse(ok, "padding garbage accepted");
        uint256 level = _highestBit(position ^ STEPS);
        assertEq(err, abi.encodeWithSelector(InferenceOracle.NonZeroPadding.selector, level));
    }

    function _highestBit(uint256 x) internal pure returns (uint256 bit) {
        while (x > 1) {
            x >>= 1;
            bit++;
        }
    }

    function test_FullTreeHasNoPaddingToCheck() public {
        // N = 2^k - 1: leaf N is the last leaf; every sibling is on its left.
        bytes32 other = _requestAndRun(63);
        _submit(executor, other, OTHER);
        assertEq(oracle.currentAnswer(other).stepCount, 63);
    }

    function _requestAndRun(uint256 steps) internal returns (bytes32 id) {
        id = _requestFromUser(_body(steps), keccak256("other"));
        _makeRun(OTHER, id, steps, "Paris");
    }

    // ------------------------------------------------------------ level 1 -> 2

    function test_OpenStepDerivesBothEndsFromTheMemoryRoots() public {
        _makeLiarRun(LIAR, 17, 5, "");
        _submit(executor, requestId, LIAR);
        uint256 gameId = _challenge(challenger, requestId);
        DisputeGame.Game memory g = game.getGame(gameId);
        assertEq(g.initialGlobalsHash, G0, "the game knows G0");
        while (g.phase != DisputeGame.Phase.StepOpen) {
            if (g.phase == DisputeGame.Phase.TraceReveal) _reveal(gameId, g, LIAR);
            else _pickTrace(gameId, g, LIAR, HONEST);
            g = game.getGame(gameId);
        }
        assertEq(g.nodeIndex, 17);
        Run storage liar = runs[LIAR];
        bytes32 startHash = _boundary(liar.leaves[16]);
        bytes32 endHash = _stepEnd(liar.leaves[17]);
        vm.expectEmit(true, false, false, true, address(game));
        emit DisputeGame.StepOpened(gameId, 16, startHash, endHash, liar.counts[16]);
        _open(gameId, g, LIAR);
        g = game.getGame(gameId);
        assertEq(g.loHash, startHash, "level 2 starts at the step's start state");
        assertEq(g.hiHash, endHash, "level 2 ends at the step's end state");
    }

    function test_ToyMachineEndStatesAreFixedPoints() public view {
        Run storage h = runs[HONEST];
        for (uint256 j = 1; j <= STEPS; j++) {
            bytes32 end = _stepEnd(h.leaves[j]);
            assertEq(prover.next(end), end, "step end is a fixed point");
            assertEq(_trueState(h.leaves[j - 1], h.counts[j - 1] + 1000), end, "stays there");
            assertTrue(prover.next(_boundary(h.leaves[j])) != end, "the next step starts anew");
        }
        // A finished machine traps: no step-end state is reachable from the final memory.
        bytes32 trapped = _trueState(h.leaves[STEPS], FINISHED_STEP_LENGTH);
        assertEq(prover.next(trapped), trapped);
    }

    // ------------------------------------------------------------ challenges

    function test_ChallengeMustNameTheCurrentAnswer() public {
        _makeLiarRun(LIAR, 3, 1, "Rome");
        _submit(executor, requestId, LIAR);
        vm.prank(challenger);
        vm.expectRevert(abi.encodeWithSelector(InferenceOracle.NotCurrentAnswer.selector, 1, 0));
        oracle.challenge{value: CHALLENGER_BOND}(requestId, 1);
        uint256 gameId = _challenge(challenger, requestId);
        vm.warp(block.timestamp + CLOCK + 1);
        game.timeout(gameId); // answer 0 rejected
        _submit(executor2, requestId, HONEST); // answer 1
        vm.prank(challenger2);
        vm.expectRevert(abi.encodeWithSelector(InferenceOracle.NotCurrentAnswer.selector, 0, 1));
        oracle.challenge{value: CHALLENGER_BOND}(requestId, 0);
        vm.prank(challenger2);
        oracle.challenge{value: CHALLENGER_BOND}(requestId, 1);
        assertEq(oracle.currentAnswer(requestId).openDisputes, 1);
    }

    // ------------------------------------------------------------ economics

    /// Three disputes are open when the answer is rejected: each gets a third of the forfeited
    /// bond after the burn, the winner at once and the queued ones when cancelled as moot (they
    /// never start); the division's remainder is burned.
    function test_ForfeitedBondIsSharedByEveryOpenDispute() public {
        _makeLiarRun(LIAR, 17, 5, "");
        _submit(executor, requestId, LIAR);
        uint256 winnerGame = _challenge(challenger, requestId);
        uint256 mootGame = _challenge(challenger2, requestId);
        uint256 laterGame = _challenge(user, requestId);
        uint256 burnedBefore = oracle.totalBurned();
        assertFalse(_play(winnerGame, LIAR, HONEST, 10));
        uint256 share = _share(3);
        uint256 pot = EXECUTOR_BOND - EXECUTOR_BOND * oracle.BURN_BPS() / 10_000;
        assertGt(pot % 3, 0, "a remainder to burn");
        assertEq(oracle.getAnswer(requestId, 0).rejectionShare, share);
        assertEq(oracle.credits(challenger), share + CHALLENGER_BOND, "winner paid at once");
        assertEq(
            oracle.totalBurned() - burnedBefore,
            EXECUTOR_BOND * oracle.BURN_BPS() / 10_000 + pot % 3,
            "burn and remainder"
        );
        oracle.cancelMootDispute(mootGame);
        assertEq(oracle.credits(challenger2), share + CHALLENGER_BOND, "moot: share + bond");
        assertTrue(game.getGame(laterGame).phase == DisputeGame.Phase.Queued, "never started");
        vm.warp(block.timestamp + 10 * CLOCK);
        oracle.cancelMootDispute(laterGame);
        assertEq(oracle.credits(user), share + CHALLENGER_BOND, "cancelled later: share + bond");
        assertEq(oracle.credits(executor), 0, "the liar gets nothing");
        assertEq(oracle.getAnswer(requestId, 0).openDisputes, 0);
        _assertSolvent();
    }

    function test_ChallengerBondLostToAnHonestExecutorIsNotShared() public {
        _submit(executor, requestId, HONEST);
        uint256 gameId = _challenge(challenger, requestId);
        _challenge(challenger2, requestId);
        assertTrue(_play(gameId, HONEST, HONEST, 10));
        uint256 burn = CHALLENGER_BOND * oracle.BURN_BPS() / 10_000;
        assertEq(oracle.credits(executor), CHALLENGER_BOND - burn);
        assertEq(oracle.credits(challenger2), 0);
        assertFalse(oracle.getAnswer(requestId, 0).rejected);
        _assertSolvent();
    }

    function test_LoserCannotAnswerTheRequestAgain() public {
        _makeLiarRun(LIAR, 3, 1, "Rome");
        _submit(executor, requestId, LIAR);
        uint256 gameId = _challenge(challenger, requestId);
        vm.warp(block.timestamp + CLOCK + 1);
        game.timeout(gameId);
        assertTrue(oracle.lostRequest(requestId, executor));
        assertFalse(oracle.lostRequest(requestId, executor2));
        (bool ok, bytes memory err) = _trySubmit(executor, requestId, HONEST);
        assertFalse(ok);
        assertEq(
            err, abi.encodeWithSelector(InferenceOracle.ExecutorLostRequest.selector, executor)
        );
        // Only this request: the loser may answer others.
        bytes32 other = _requestAndRun(4);
        _submit(executor, other, OTHER);
        _submit(executor2, requestId, HONEST);
    }

    function test_RequesterCancelsAtOnceAfterARejection() public {
        // Not before the timeout while unanswered, nor while answered.
        vm.prank(user);
        vm.expectRevert(abi.encodeWithSelector(InferenceOracle.CannotCancel.selector, requestId));
        oracle.cancel(requestId);
        _makeLiarRun(LIAR, 3, 1, "Rome");
        _submit(executor, requestId, LIAR);
        vm.prank(user);
        vm.expectRevert(abi.encodeWithSelector(InferenceOracle.CannotCancel.selector, requestId));
        oracle.cancel(requestId);
        uint256 gameId = _challenge(challenger, requestId);
        vm.warp(block.timestamp + CLOCK + 1);
        game.timeout(gameId);
        // Only the requester, but at once.
        vm.prank(challenger);
        vm.expectRevert(abi.encodeWithSelector(InferenceOracle.CannotCancel.selector, requestId));
        oracle.cancel(requestId);
        vm.prank(user);
        oracle.cancel(requestId);
        assertEq(
            uint8(oracle.getRequest(requestId).status),
            uint8(InferenceOracle.RequestStatus.Cancelled)
        );
        assertEq(oracle.credits(user), FEE);
        _assertSolvent();
    }

    function test_UnansweredRequestCancelsAfterTheTimeout() public {
        vm.warp(block.timestamp + REQUEST_TIMEOUT - 1);
        vm.prank(user);
        vm.expectRevert(abi.encodeWithSelector(InferenceOracle.CannotCancel.selector, requestId));
        oracle.cancel(requestId);
        vm.warp(block.timestamp + 1);
        vm.prank(user);
        oracle.cancel(requestId);
        assertEq(oracle.credits(user), FEE);
    }

    function test_SubmitPathsAreChecked() public {
        // The last leaf's path must have the trace's depth.
        Run storage h = runs[HONEST];
        uint256 depth = oracle.traceDepth(uint64(STEPS));
        bytes32[] memory full = TestMerkle.path(h.leaves, depth, STEPS);
        bytes32[] memory short = new bytes32[](depth - 1);
        for (uint256 i = 0; i < short.length; i++) {
            short[i] = full[i];
        }
        InferenceOracle.AnswerClaim memory claim = InferenceOracle.AnswerClaim({
            traceRoot: TestMerkle.root(h.leaves, depth),
            stepCount: uint64(STEPS),
            finalMemoryRoot: _finalMemory(h.output)
        });
        InferenceOracle.SubmissionProofs memory proofs = InferenceOracle.SubmissionProofs({
            inputRegionSiblings: inSiblings,
            firstLeafSiblings: TestMerkle.path(h.leaves, depth, 0),
            lastLeafSiblings: short,
            outputRegionSiblings: outSiblings
        });
        _commit(executor, requestId, claim, h.output);
        vm.prank(executor);
        vm.expectRevert(InferenceOracle.BadTraceProof.selector);
        oracle.submit{value: EXECUTOR_BOND}(requestId, claim, h.output, proofs);
    }
}
