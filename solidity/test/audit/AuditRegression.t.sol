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
        assertFalse(_play(g1, LIAR, HONEST, 60), "game 1: the liar loses");
        assertEq(game.getGame(g1).nodeIndex, 1, "the honest challenger disputed leaf 1");
        // The second game goes on although its answer is already rejected: the liar loses it too.
        assertFalse(_play(g2, LIAR, HONEST, 60), "game 2: the liar loses");
        assertEq(game.getGame(g2).nodeIndex, 1);
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
        uint256 honestGame = _challenge(challenger, requestId);
        uint256 sybilGame = _challenge(challenger2, requestId); // the liar's own second address
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

    /// The honest challenger's game need not be cancelled: played to the end, it pays the same.
    function test_Audit_HonestGamePlayedAfterTheSybilsPaysItsShare() public {
        _submit(executor, requestId, LIAR);
        uint256 honestGame = _challenge(challenger, requestId);
        uint256 sybilGame = _challenge(challenger2, requestId);
        assertFalse(_play(sybilGame, LIAR, HONEST, 1));
        assertEq(oracle.credits(challenger), 0, "paid when its game closes");
        assertFalse(_play(honestGame, LIAR, HONEST, 1));
        assertEq(oracle.credits(challenger), _share(2) + CHALLENGER_BOND);
        _assertSolvent();
    }
}
