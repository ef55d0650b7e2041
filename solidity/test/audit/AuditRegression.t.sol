// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {ProtocolBase} from "../protocol/ProtocolBase.sol";
import {DisputeGame} from "../../src/DisputeGame.sol";
import {InferenceOracle} from "../../src/InferenceOracle.sol";
import {TestMerkle} from "../protocol/ToyMachine.sol";

/// @notice The three attacks of the audit's proof of concept (shared/audit/AuditPoC.t.sol),
///         replayed against the fixed protocol: the same attack scripts, the opposite outcome.
abstract contract AuditBase is ProtocolBase {
    uint256 internal constant LIAR = 1;
    uint256 internal constant STEPS = 40;

    function _share(uint256 disputes) internal view returns (uint256) {
        return (EXECUTOR_BOND - EXECUTOR_BOND * oracle.BURN_BPS() / 10_000) / disputes;
    }

    function _assertSolvent() internal view {
        assertEq(address(oracle).balance, oracle.totalOwed() + oracle.totalBurned(), "balance");
    }
}

/// PoC 1, merged steps: the liar's leaf 1 is the honest memory after steps 1 and 2, its
/// step 1 has c1 + c2 instructions whose level-2 states run on into step 2 (as the old machine
/// did, where the state after StepEnd was the next step's start), the rest of its leaves are
/// shifted and its last leaf holds a forged output. Now the step from leaf 0 must end in the
/// step-end state of leaf 1, which the machine never reaches: the liar loses.
contract AuditMergedStepTest is AuditBase {
    bytes32 internal requestId;

    function setUp() public override {
        super.setUp();
        requestId = _requestFromStore(_body(5));
        _makeHonestRun(requestId, STEPS, "Paris");
        Run storage h = runs[HONEST];
        Run storage l = runs[LIAR];
        l.leaves.push(h.leaves[0]);
        for (uint256 j = 2; j < STEPS; j++) {
            l.leaves.push(h.leaves[j]); // liar leaf k = honest leaf k+1 (k >= 1)
        }
        l.output = _encodeOutput("Lyon");
        l.leaves.push(_finalMemory(l.output)); // forged final memory
        l.counts.push(h.counts[0] + h.counts[1]); // merged step 1+2
        for (uint256 j = 3; j <= STEPS; j++) {
            l.counts.push(h.counts[j - 1]);
        }
        l.level2 = Level2.RunOn; // the machine running on into the next step
    }

    function test_Audit_MergedStepLiarLosesToHonestChallengers() public {
        _attack(Level2.RunOn);
    }

    /// The same trace with level-2 states that stop at step 1's end state and stay there.
    function test_Audit_MergedStepLiarWithTrueStatesLoses() public {
        _attack(Level2.Follow);
    }

    function test_Audit_MergedStepLiarWithMadeUpStatesLoses() public {
        _attack(Level2.Random);
    }

    /// Variant: the liar's leaf 1 is a memory in the middle of step 1 (a split step), its
    /// count a part of step 1, the rest of its trace the honest one shifted, its output forged.
    function test_Audit_MidStepLeafLoses() public {
        Run storage h = runs[HONEST];
        Run storage l = runs[LIAR];
        delete l.leaves;
        delete l.counts;
        l.leaves.push(h.leaves[0]);
        l.leaves.push(keccak256("memory in the middle of step 1"));
        for (uint256 j = 1; j < STEPS; j++) {
            l.leaves.push(h.leaves[j]);
        }
        l.leaves.push(_finalMemory(l.output));
        l.counts.push(h.counts[0] / 2);
        l.counts.push(h.counts[0] - h.counts[0] / 2);
        for (uint256 j = 2; j <= STEPS; j++) {
            l.counts.push(h.counts[j - 1]);
        }
        l.level2 = Level2.Follow;
        _attack(Level2.Follow);
    }

    function _attack(Level2 mode) internal {
        runs[LIAR].level2 = mode;
        _submit(executor, requestId, LIAR);
        uint256 g1 = _challenge(challenger, requestId);
        uint256 g2 = _challenge(challenger2, requestId);
        assertTrue(game.getGame(g2).phase == DisputeGame.Phase.Queued, "game 2 waits for game 1");
        assertFalse(_play(g1, LIAR, HONEST, 60), "game 1: the liar loses");
        assertEq(game.getGame(g1).nodeIndex, 1, "the honest challenger disputed leaf 1");
        // The second game never starts: its answer is rejected, so anyone cancels it as moot.
        oracle.cancelMootDispute(g2);
        assertTrue(game.getGame(g2).phase == DisputeGame.Phase.Cancelled);
        // Lyon is never delivered; both honest challengers share the liar's bond.
        vm.warp(block.timestamp + WINDOW);
        vm.expectRevert(
            abi.encodeWithSelector(
                InferenceOracle.WrongRequestStatus.selector,
                requestId,
                InferenceOracle.RequestStatus.Open
            )
        );
        oracle.finalize(requestId, runs[LIAR].output);
        assertFalse(store.answered(requestId));
        assertEq(oracle.credits(challenger), _share(2) + CHALLENGER_BOND);
        assertEq(oracle.credits(challenger2), _share(2) + CHALLENGER_BOND);
        assertEq(oracle.credits(executor), 0, "the liar gets nothing");
        // The honest answer then finalizes.
        _submit(executor2, requestId, HONEST);
        vm.warp(block.timestamp + WINDOW);
        oracle.finalize(requestId, runs[HONEST].output);
        assertEq(store.answers(requestId), bytes("Paris"));
        _assertSolvent();
    }
}

/// PoC 2, padding bait: a correct answer whose trace has a non-zero leaf past N used to bait
/// challengers into a game they could not move in. Now such a trace is refused; and a trace that
/// claims more steps than the machine has (an extra "done" leaf) loses its dispute.
contract AuditPaddingBaitTest is AuditBase {
    bytes32 internal requestId;
    bytes32[] internal padded;
    uint8 internal constant DEPTH = 6;

    function setUp() public override {
        super.setUp();
        requestId = _requestFromStore(_body(9));
        _makeHonestRun(requestId, STEPS, "Paris");
        for (uint256 i = 0; i < 64; i++) {
            padded.push(i <= STEPS ? runs[HONEST].leaves[i] : bytes32(0));
        }
        padded[63] = keccak256("garbage padding");
    }

    function test_Audit_PaddingBaitIsRefused() public {
        Run storage h = runs[HONEST];
        InferenceOracle.AnswerClaim memory claim = InferenceOracle.AnswerClaim({
            traceRoot: TestMerkle.root(padded, DEPTH),
            stepCount: uint64(STEPS),
            finalMemoryRoot: _finalMemory(h.output)
        });
        InferenceOracle.SubmissionProofs memory proofs = InferenceOracle.SubmissionProofs({
            inputRegionSiblings: inSiblings,
            firstLeafSiblings: TestMerkle.path(padded, DEPTH, 0),
            lastLeafSiblings: TestMerkle.path(padded, DEPTH, STEPS),
            outputRegionSiblings: outSiblings
        });
        // Leaf 63 sits in the subtree of leaves 48..63, leaf 40's sibling at level 4.
        _commit(executor, requestId, claim, h.output);
        vm.prank(executor);
        vm.expectRevert(abi.encodeWithSelector(InferenceOracle.NonZeroPadding.selector, 4));
        oracle.submit{value: EXECUTOR_BOND}(requestId, claim, h.output, proofs);
        // Without the garbage, the same answer goes in and is the honest one.
        _submit(executor, requestId, HONEST);
        assertEq(oracle.currentAnswer(requestId).traceRoot, TestMerkle.root(h.leaves, DEPTH));
    }

    /// The honest trace plus a leaf N+1 = the final memory again ("done"), N+1 claimed.
    function test_Audit_ExtraDoneLeafLoses() public {
        _copyHonest(LIAR);
        runs[LIAR].leaves.push(runs[HONEST].leaves[STEPS]);
        runs[LIAR].counts.push(5);
        _extraStepsLose(STEPS + 1);
    }

    /// The honest trace plus a zero leaf N+1 and the final memory at N+2: leaf N+1 equals the
    /// honest challenger's (zero) leaf, but no valid leaf exists there, so it disputes it anyway.
    function test_Audit_ExtraZeroLeafThenDoneLeafLoses() public {
        _copyHonest(LIAR);
        runs[LIAR].leaves.push(bytes32(0));
        runs[LIAR].leaves.push(runs[HONEST].leaves[STEPS]);
        runs[LIAR].counts.push(3);
        runs[LIAR].counts.push(3);
        _extraStepsLose(STEPS + 1);
    }

    function _extraStepsLose(uint256 disputedLeaf) internal {
        for (uint256 m = 0; m < 3; m++) {
            uint256 snapshot = vm.snapshotState();
            runs[LIAR].level2 = [Level2.Follow, Level2.Random, Level2.JumpToEnd][m];
            runs[LIAR].lieAt = 1;
            _submit(executor, requestId, LIAR);
            uint256 gameId = _challenge(challenger, requestId);
            assertFalse(_play(gameId, LIAR, HONEST, 60), "the extra step loses");
            assertEq(game.getGame(gameId).nodeIndex, disputedLeaf, "disputed leaf N+1");
            assertEq(oracle.credits(challenger), _share(1) + CHALLENGER_BOND);
            _assertSolvent();
            vm.revertToState(snapshot);
        }
    }
}

/// PoC 3, sybil: the liar's own second challenger wins first. It now takes only its share: the
/// honest challenger, open at the rejection, gets the same share and its bond; the liar's address
/// cannot answer again, and the requester can cancel at once.
contract AuditSybilRewardTest is AuditBase {
    bytes32 internal requestId;

    function setUp() public override {
        super.setUp();
        requestId = _requestFromUser(_body(5), keccak256("user seed")); // it can cancel
        _makeHonestRun(requestId, STEPS, "Paris");
        _makeLiarRun(LIAR, STEPS, 7, "Berlin");
    }

    function test_Audit_SybilGetsOnlyItsShare() public {
        uint256 before = executor.balance + challenger2.balance;
        _submit(executor, requestId, LIAR);
        // The liar's own second address front-runs the honest challenge, so its game plays first.
        uint256 sybilGame = _challenge(challenger2, requestId);
        uint256 honestGame = _challenge(challenger, requestId);
        assertFalse(_play(sybilGame, LIAR, HONEST, 1)); // the liar loses to itself, fast
        oracle.cancelMootDispute(honestGame);
        uint256 share = _share(2);
        assertEq(oracle.credits(challenger), share + CHALLENGER_BOND, "honest: share + bond");
        assertEq(oracle.credits(challenger2), share + CHALLENGER_BOND, "sybil: its share only");
        uint256 attackerNet = executor.balance + challenger2.balance + oracle.credits(challenger2)
            + oracle.credits(executor);
        assertEq(before - attackerNet, EXECUTOR_BOND - share, "the attack costs bond - share");
        // Same block: the liar cannot answer again, and the requester may cancel at once.
        (bool ok, bytes memory err) = _trySubmit(executor, requestId, LIAR);
        assertFalse(ok);
        assertEq(
            err, abi.encodeWithSelector(InferenceOracle.ExecutorLostRequest.selector, executor)
        );
        vm.prank(user);
        oracle.cancel(requestId);
        assertEq(
            uint8(oracle.getRequest(requestId).status),
            uint8(InferenceOracle.RequestStatus.Cancelled)
        );
        _assertSolvent();
    }

    /// A sybil ahead in the queue that lets the liar win only delays the honest game: that one
    /// starts when the sybil's ends, with full clocks, and the answer cannot finalize meanwhile;
    /// the delay costs the attacker the burn of the sybil's bond.
    function test_Audit_SybilAheadThatLosesOnlyDelaysTheHonestGame() public {
        _submit(executor, requestId, LIAR);
        uint256 sybilGame = _challenge(challenger2, requestId);
        uint256 honestGame = _challenge(challenger, requestId);
        assertTrue(game.getGame(honestGame).phase == DisputeGame.Phase.Queued);
        assertEq(game.partyToMove(honestGame), address(0), "nobody moves in a queued game");
        vm.warp(block.timestamp + CLOCK / 2);
        vm.expectRevert(
            abi.encodeWithSelector(
                DisputeGame.WrongPhase.selector,
                DisputeGame.Phase.TraceReveal,
                DisputeGame.Phase.Queued
            )
        );
        game.timeout(honestGame);
        // The sybil lets the liar win: the liar reveals, the sybil stays silent past its clock.
        _reveal(sybilGame, game.getGame(sybilGame), LIAR);
        vm.warp(block.timestamp + CLOCK + 1);
        game.timeout(sybilGame);
        assertTrue(game.getGame(sybilGame).executorWon, "the liar won against its sybil");
        vm.expectRevert(abi.encodeWithSelector(InferenceOracle.NotFinalizable.selector, requestId));
        oracle.finalize(requestId, runs[LIAR].output);
        DisputeGame.Game memory g = game.getGame(honestGame);
        assertTrue(g.phase == DisputeGame.Phase.TraceReveal, "the honest game started");
        assertEq(g.turnStartedAt, block.timestamp, "its clocks start now");
        assertEq(g.executorClock, CLOCK);
        assertEq(g.challengerClock, CLOCK);
        assertFalse(_play(honestGame, LIAR, HONEST, 1));
        // Only the honest dispute was open at the rejection: it gets the whole pot.
        assertEq(oracle.credits(challenger), _share(1) + CHALLENGER_BOND);
        uint256 burn = CHALLENGER_BOND * oracle.BURN_BPS() / 10_000;
        assertEq(oracle.credits(executor), CHALLENGER_BOND - burn, "the sybil bond, less the burn");
        _assertSolvent();
    }
}

/// Issue 8 of the audit, sybil exhaustion: many lying challengers against one honest answer,
/// each disputing a different leaf so that each game needs fresh work. The games are played one
/// at a time, so the executor's clock runs in one game at a time: it may spend most of its clock
/// in every game, far more than one clock budget in all, and still wins every game and every
/// bond.
contract AuditSybilExhaustionTest is AuditBase {
    uint256 internal constant SYBILS = 40;
    uint256 internal constant FIRST_SYBIL_RUN = 10;
    bytes32 internal requestId;

    function setUp() public override {
        super.setUp();
        requestId = _requestFromStore(_body(5));
        _makeHonestRun(requestId, STEPS, "Paris");
        for (uint256 k = 0; k < SYBILS; k++) {
            // Sybil k's view forges leaf 1 + k % (STEPS - 1), from a different instruction each.
            _makeLiarRun(FIRST_SYBIL_RUN + k, 1 + k % (STEPS - 1), uint64(1 + k % 5), "");
        }
    }

    function test_Audit_ManySybilsCannotExhaustAnHonestExecutor() public {
        _submit(executor, requestId, HONEST);
        uint256[] memory games = new uint256[](SYBILS);
        for (uint256 k = 0; k < SYBILS; k++) {
            address sybil = makeAddr(string(abi.encodePacked("sybil", k)));
            vm.deal(sybil, CHALLENGER_BOND);
            games[k] = _challenge(sybil, requestId);
        }
        uint256 started = block.timestamp;
        for (uint256 k = 0; k < SYBILS; k++) {
            for (uint256 later = k + 1; later < SYBILS; later++) {
                assertTrue(game.getGame(games[later]).phase == DisputeGame.Phase.Queued);
            }
            // Every move 10 minutes after the last: up to 12 executor moves per game, so the
            // executor spends up to 2 of its 2 hours in each game.
            assertTrue(_play(games[k], HONEST, FIRST_SYBIL_RUN + k, 10 minutes), "executor wins");
            DisputeGame.Game memory g = game.getGame(games[k]);
            assertEq(g.nodeIndex, 1 + k % (STEPS - 1), "the sybil disputed its forged leaf");
        }
        assertGt(block.timestamp - started, 10 * CLOCK, "far more than one clock in all");
        oracle.finalize(requestId, runs[HONEST].output);
        uint256 burn = CHALLENGER_BOND * oracle.BURN_BPS() / 10_000;
        assertEq(oracle.credits(executor), SYBILS * (CHALLENGER_BOND - burn) + FEE + EXECUTOR_BOND);
        _assertSolvent();
    }
}

/// Issue 7 of the audit, copycats: an answer copied from the mempool (claim, output, proofs)
/// cannot be submitted by the copier. Answers are committed, bound to their sender, and revealed
/// in a later block; a round's earliest commitment reveals first.
contract AuditCopycatTest is AuditBase {
    bytes32 internal requestId;
    address internal copycat = makeAddr("copycat");
    InferenceOracle.AnswerClaim internal claim;
    InferenceOracle.SubmissionProofs internal proofs;
    bytes internal output;

    function setUp() public override {
        super.setUp();
        vm.deal(copycat, 10 ether);
        requestId = _requestFromStore(_body(5));
        _makeHonestRun(requestId, STEPS, "Paris");
        Run storage h = runs[HONEST];
        (claim, proofs) = _answerOf(h.leaves, h.leaves.length - 1, h.output);
        output = h.output;
    }

    function _commitAs(address who, bytes32 commitment) internal {
        vm.prank(who);
        oracle.commitAnswer(requestId, commitment);
    }

    function _reveal(address who) internal returns (bool ok, bytes memory err) {
        vm.prank(who);
        try oracle.submit{value: EXECUTOR_BOND}(requestId, claim, output, proofs) {
            return (true, "");
        } catch (bytes memory e) {
            return (false, e);
        }
    }

    function _hash(address who) internal view returns (bytes32) {
        return oracle.answerCommitment(who, requestId, claim, output);
    }

    /// The copier sees the reveal and commits in the same block, before it: too late, the
    /// original lands in that block and the request is answered.
    function test_Copycat_CommitsAfterSeeingTheRevealAndIsTooLate() public {
        _commitAs(executor, _hash(executor));
        vm.roll(block.number + 1);
        _commitAs(copycat, _hash(copycat)); // front-runs the reveal it saw
        (bool ok,) = _reveal(executor);
        assertTrue(ok);
        vm.roll(block.number + 1);
        (bool copied, bytes memory err) = _reveal(copycat);
        assertFalse(copied);
        assertEq(
            err,
            abi.encodeWithSelector(
                InferenceOracle.WrongRequestStatus.selector,
                requestId,
                InferenceOracle.RequestStatus.Answered
            )
        );
        assertEq(oracle.currentAnswer(requestId).executor, executor);
    }

    /// The original reveal is delayed (stuck, or censored for a while): the copier's later
    /// commitment still cannot reveal first while the original's priority lasts.
    function test_Copycat_CannotOvertakeADelayedReveal() public {
        _commitAs(executor, _hash(executor));
        uint64 committedAt = uint64(block.number);
        vm.roll(block.number + 1);
        _commitAs(copycat, _hash(copycat));
        vm.roll(block.number + 1);
        (bool copied, bytes memory err) = _reveal(copycat);
        assertFalse(copied);
        uint64 until = committedAt + oracle.REVEAL_PRIORITY_BLOCKS();
        assertEq(
            err, abi.encodeWithSelector(InferenceOracle.RevealReserved.selector, executor, until)
        );
        vm.roll(until);
        (bool ok,) = _reveal(executor);
        assertTrue(ok, "the original reveals within its priority");
    }

    /// A copied commitment binds its original sender; no commitment, or one from this block,
    /// reveals nothing.
    function test_Copycat_CopiedCommitmentOrNoneRevealsNothing() public {
        (bool ok, bytes memory err) = _reveal(copycat);
        assertFalse(ok);
        assertEq(err, abi.encodeWithSelector(InferenceOracle.NoCommitment.selector));
        _commitAs(copycat, _hash(executor)); // the original's hash, copied
        (ok, err) = _reveal(copycat);
        assertEq(
            err,
            abi.encodeWithSelector(
                InferenceOracle.CommitmentTooRecent.selector, uint64(block.number)
            )
        );
        vm.roll(block.number + 1);
        (ok, err) = _reveal(copycat);
        assertFalse(ok);
        assertEq(
            err,
            abi.encodeWithSelector(
                InferenceOracle.WrongCommitment.selector, _hash(executor), _hash(copycat)
            )
        );
    }

    /// Someone who commits to garbage first only delays an honest reveal by the priority
    /// period once; committing again after it lapses does not block the earlier honest one.
    function test_Copycat_GarbageCommitmentDelaysOnlyOnce() public {
        _commitAs(copycat, keccak256("garbage"));
        uint64 griefAt = uint64(block.number);
        vm.roll(block.number + 1);
        _commitAs(executor, _hash(executor));
        vm.roll(block.number + 1);
        (bool ok, bytes memory err) = _reveal(executor);
        assertFalse(ok);
        uint64 until = griefAt + oracle.REVEAL_PRIORITY_BLOCKS();
        assertEq(
            err, abi.encodeWithSelector(InferenceOracle.RevealReserved.selector, copycat, until)
        );
        vm.roll(until + 1);
        _commitAs(copycat, keccak256("garbage again")); // takes priority anew...
        vm.roll(block.number + 1);
        (ok,) = _reveal(executor); // ...but the honest commitment is older
        assertTrue(ok);
    }
}
