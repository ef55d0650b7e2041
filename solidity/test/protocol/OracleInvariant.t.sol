// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {Test} from "forge-std/Test.sol";
import {ProtocolBase} from "./ProtocolBase.sol";
import {InferenceOracle} from "../../src/InferenceOracle.sol";
import {DisputeGame} from "../../src/DisputeGame.sol";

/// @notice Drives the oracle through random sequences of requests, answers (also by an executor
///         that lost the request), challenges (also of a stale answer), games settled on time
///         (also games whose answer was already rejected), finalizations, cancellations (also
///         right after a rejection) and withdrawals.
contract OracleHandler is ProtocolBase {
    bytes32[] public requestIds;
    uint256[] public gameIds;
    address[] internal actors;
    uint256 public deposited;
    uint256 public withdrawn;
    uint256 public finalizedWithOpenDisputes;
    /// Counts of actions that took effect, to show the runs exercise every path.
    mapping(bytes32 => uint256) public done;

    constructor() {
        setUp();
        actors = [executor, executor2, challenger, challenger2, user];
    }

    function oracleAddress() external view returns (address) {
        return address(oracle);
    }

    function actorCount() external view returns (uint256) {
        return actors.length;
    }

    function actorAt(uint256 i) external view returns (address) {
        return actors[i];
    }

    function request(uint256 fee, bool viaStore) external {
        fee = bound(fee, 1, 5 ether);
        bytes32 id;
        if (viaStore) {
            vm.prank(user);
            id = store.ask{value: fee}(modelId, _body(requestIds.length), bytes32(fee));
        } else {
            vm.prank(user);
            id = oracle.request{value: fee}(modelId, _body(requestIds.length), bytes32(fee), 0);
        }
        deposited += fee;
        requestIds.push(id);
        _makeRun(1000 + requestIds.length - 1, id, 4, "ok");
    }

    function submit(uint256 r, bool second) external {
        if (requestIds.length == 0) return;
        r = bound(r, 0, requestIds.length - 1);
        InferenceOracle.RequestStatus status = oracle.getRequest(requestIds[r]).status;
        if (status != InferenceOracle.RequestStatus.Open) return;
        address who = second ? executor2 : executor;
        (bool ok, bytes memory err) = _trySubmit(who, requestIds[r], 1000 + r);
        if (oracle.lostRequest(requestIds[r], who)) {
            bytes memory expected =
                abi.encodeWithSelector(InferenceOracle.ExecutorLostRequest.selector, who);
            if (ok || keccak256(err) != keccak256(expected)) revert("a loser answered again");
            done["loser refused"]++;
            return;
        }
        if (!ok) revert("an honest answer was refused");
        deposited += EXECUTOR_BOND;
        done["submit"]++;
    }

    function challengeAnswer(uint256 r, bool second, bool stale) external {
        if (requestIds.length == 0) return;
        r = bound(r, 0, requestIds.length - 1);
        InferenceOracle.Request memory req = oracle.getRequest(requestIds[r]);
        if (req.status != InferenceOracle.RequestStatus.Answered) return;
        InferenceOracle.Answer memory a = oracle.currentAnswer(requestIds[r]);
        if (block.timestamp >= a.submittedAt + WINDOW) return;
        address who = second ? challenger2 : challenger;
        if (stale && req.answerCount > 1) {
            // A challenge meant for the rejected answer cannot hit its successor.
            uint32 current = req.answerCount - 1;
            vm.prank(who);
            vm.expectRevert(
                abi.encodeWithSelector(
                    InferenceOracle.NotCurrentAnswer.selector, current - 1, current
                )
            );
            oracle.challenge{value: CHALLENGER_BOND}(requestIds[r], current - 1);
            done["stale refused"]++;
            return;
        }
        gameIds.push(_challenge(who, requestIds[r]));
        deposited += CHALLENGER_BOND;
        done["challenge"]++;
    }

    /// Settles a game on time: either the executor never moves, or it moves once and then the
    /// challenger never does.
    function settleOnTime(uint256 gi, bool executorSilent) external {
        if (gameIds.length == 0) return;
        uint256 gameId = gameIds[bound(gi, 0, gameIds.length - 1)];
        DisputeGame.Game memory g = game.getGame(gameId);
        if (g.phase == DisputeGame.Phase.Queued) {
            // No clock runs in a game waiting behind another: it cannot be lost on time.
            vm.warp(block.timestamp + CLOCK + 1);
            vm.expectRevert(
                abi.encodeWithSelector(
                    DisputeGame.WrongPhase.selector,
                    DisputeGame.Phase.TraceReveal,
                    DisputeGame.Phase.Queued
                )
            );
            game.timeout(gameId);
            done["queued waits"]++;
            return;
        }
        if (g.phase != DisputeGame.Phase.TraceReveal || g.nodeIndex != 0) return;
        if (!executorSilent) {
            if (block.timestamp > g.turnStartedAt + g.executorClock) return;
            (bool found, uint256 runId) = _runOf(g.traceRoot);
            if (found) _reveal(gameId, g, runId);
        }
        (bytes32 requestId, uint32 index,,,) = oracle.disputes(gameId);
        // Only an answer's active game runs, and an answer is rejected only by its active game.
        assertFalse(oracle.getAnswer(requestId, index).rejected, "a playing game is never moot");
        vm.warp(block.timestamp + CLOCK + 1);
        game.timeout(gameId);
        done[executorSilent ? bytes32("executor lost") : bytes32("executor won")]++;
    }

    function cancelMoot(uint256 gi) external {
        if (gameIds.length == 0) return;
        uint256 gameId = gameIds[bound(gi, 0, gameIds.length - 1)];
        (bytes32 requestId, uint32 index,, bool open,) = oracle.disputes(gameId);
        if (!open || !oracle.getAnswer(requestId, index).rejected) return;
        oracle.cancelMootDispute(gameId);
        done["moot"]++;
    }

    function finalize(uint256 r) external {
        if (requestIds.length == 0) return;
        r = bound(r, 0, requestIds.length - 1);
        InferenceOracle.RequestStatus status = oracle.getRequest(requestIds[r]).status;
        if (status != InferenceOracle.RequestStatus.Answered) return;
        InferenceOracle.Answer memory a = oracle.currentAnswer(requestIds[r]);
        if (block.timestamp < a.submittedAt + WINDOW) vm.warp(a.submittedAt + WINDOW);
        try oracle.finalize(requestIds[r], runs[1000 + r].output) {
            if (a.openDisputes != 0) finalizedWithOpenDisputes++;
            done["finalize"]++;
        } catch {
            if (a.openDisputes == 0) revert("finalize refused an undisputed answer");
        }
    }

    function cancelRequest(uint256 r) external {
        if (requestIds.length == 0) return;
        r = bound(r, 0, requestIds.length - 1);
        InferenceOracle.Request memory req = oracle.getRequest(requestIds[r]);
        (address requester, uint64 createdAt, InferenceOracle.RequestStatus status) =
            (req.requester, req.createdAt, req.status);
        if (status != InferenceOracle.RequestStatus.Open || requester != user) return;
        if (req.answerCount == 0) {
            vm.warp(createdAt + REQUEST_TIMEOUT);
            done["cancel"]++;
        } else {
            done["cancel after rejection"]++; // at once
        }
        vm.prank(user);
        oracle.cancel(requestIds[r]);
    }

    function withdraw(uint256 a) external {
        address who = actors[bound(a, 0, actors.length - 1)];
        uint256 amount = oracle.credits(who);
        if (amount == 0) return;
        vm.prank(who);
        oracle.withdraw();
        withdrawn += amount;
        done["withdraw"]++;
    }

    /// Settles everything that can be settled: closes every moot dispute, times out every other
    /// game (its executor never moves), finalizes every answer, cancels every request the user
    /// can cancel and withdraws every credit. Returns the fees that stay owed: those of open
    /// requests made through the store, which cannot cancel.
    function drain() external returns (uint256 stuckFees) {
        for (uint256 i = 0; i < gameIds.length; i++) {
            (bytes32 requestId, uint32 index,, bool open,) = oracle.disputes(gameIds[i]);
            if (!open) continue;
            if (oracle.getAnswer(requestId, index).rejected) {
                oracle.cancelMootDispute(gameIds[i]);
            } else {
                vm.warp(block.timestamp + CLOCK + 1);
                game.timeout(gameIds[i]);
            }
        }
        vm.warp(block.timestamp + WINDOW + REQUEST_TIMEOUT);
        for (uint256 r = 0; r < requestIds.length; r++) {
            InferenceOracle.Request memory req = oracle.getRequest(requestIds[r]);
            if (req.status == InferenceOracle.RequestStatus.Answered) {
                oracle.finalize(requestIds[r], runs[1000 + r].output);
            } else if (req.status == InferenceOracle.RequestStatus.Open) {
                if (req.requester == user) {
                    vm.prank(user);
                    oracle.cancel(requestIds[r]);
                } else {
                    stuckFees += req.fee;
                }
            }
        }
        for (uint256 a = 0; a < actors.length; a++) {
            uint256 amount = oracle.credits(actors[a]);
            if (amount == 0) continue;
            vm.prank(actors[a]);
            oracle.withdraw();
            withdrawn += amount;
        }
    }

    /// Whether the current answer of every request, unless rejected, is by an executor that has
    /// not lost the request.
    function losersNeverAnswerAgain() external view returns (bool) {
        for (uint256 r = 0; r < requestIds.length; r++) {
            if (oracle.getRequest(requestIds[r]).answerCount == 0) continue;
            InferenceOracle.Answer memory a = oracle.currentAnswer(requestIds[r]);
            if (!a.rejected && oracle.lostRequest(requestIds[r], a.executor)) return false;
        }
        return true;
    }

    function _runOf(bytes32 traceRoot) internal view returns (bool, uint256) {
        for (uint256 r = 0; r < requestIds.length; r++) {
            uint256 depth = _depth(1000 + r);
            if (_rootOfLeaves(runs[1000 + r].leaves, depth) == traceRoot) return (true, 1000 + r);
        }
        return (false, 0);
    }

    function _rootOfLeaves(bytes32[] memory leaves, uint256 depth) internal pure returns (bytes32) {
        bytes32[] memory level = new bytes32[](uint256(1) << depth);
        for (uint256 i = 0; i < leaves.length; i++) {
            level[i] = leaves[i];
        }
        for (uint256 n = level.length; n > 1; n /= 2) {
            for (uint256 i = 0; i < n / 2; i++) {
                level[i] = keccak256(abi.encodePacked(level[2 * i], level[2 * i + 1]));
            }
        }
        return level[0];
    }
}

/// @notice Money is conserved: the oracle always holds exactly what it owes plus what it burned,
///         and nothing is paid out twice or before finality.
contract OracleInvariantTest is Test {
    OracleHandler internal handler;

    function setUp() public {
        handler = new OracleHandler();
        targetContract(address(handler));
        bytes4[] memory selectors = new bytes4[](8);
        selectors[0] = OracleHandler.request.selector;
        selectors[1] = OracleHandler.submit.selector;
        selectors[2] = OracleHandler.challengeAnswer.selector;
        selectors[3] = OracleHandler.settleOnTime.selector;
        selectors[4] = OracleHandler.cancelMoot.selector;
        selectors[5] = OracleHandler.finalize.selector;
        selectors[6] = OracleHandler.cancelRequest.selector;
        selectors[7] = OracleHandler.withdraw.selector;
        targetSelector(FuzzSelector({addr: address(handler), selectors: selectors}));
    }

    function invariant_BalanceIsOwedPlusBurned() public view {
        InferenceOracle oracle = _oracle();
        assertEq(address(oracle).balance, oracle.totalOwed() + oracle.totalBurned());
    }

    function invariant_EverythingDepositedIsHeldOrWithdrawn() public view {
        InferenceOracle oracle = _oracle();
        assertEq(handler.deposited(), address(oracle).balance + handler.withdrawn());
    }

    function invariant_CreditsNeverExceedWhatIsOwed() public view {
        InferenceOracle oracle = _oracle();
        uint256 credits;
        for (uint256 i = 0; i < handler.actorCount(); i++) {
            credits += oracle.credits(handler.actorAt(i));
        }
        assertLe(credits, oracle.totalOwed());
    }

    function invariant_NoFinalizeWithAnOpenDispute() public view {
        assertEq(handler.finalizedWithOpenDisputes(), 0);
    }

    function invariant_LosersNeverAnswerAgain() public view {
        assertTrue(handler.losersNeverAnswerAgain());
    }

    /// After each run, settling everything pays out everything owed (every dispute's share of
    /// a rejected answer's bond included) but the fees of requests nobody can cancel.
    function afterInvariant() public {
        InferenceOracle oracle = _oracle();
        uint256 stuck = handler.drain();
        assertEq(oracle.totalOwed(), stuck, "everything but stuck fees was paid out");
        assertEq(address(oracle).balance, stuck + oracle.totalBurned(), "balance after drain");
        assertEq(handler.deposited(), address(oracle).balance + handler.withdrawn());
    }

    function _oracle() internal view returns (InferenceOracle) {
        return InferenceOracle(payable(address(_oracleAddress())));
    }

    function _oracleAddress() internal view returns (address) {
        return address(OracleHandlerView(address(handler)).oracleAddress());
    }
}

/// @dev The handler's oracle address, through a tiny view added below.
interface OracleHandlerView {
    function oracleAddress() external view returns (address);
}

/// @notice One long scripted sequence through the handler, checking that each action kind can
///         take effect (so the invariant runs are not vacuous).
contract OracleHandlerCoverageTest is Test {
    function test_EveryActionTakesEffect() public {
        OracleHandler h = new OracleHandler();
        h.request(1 ether, true);
        h.request(2 ether, false);
        h.request(3 ether, false);
        h.request(4 ether, false);
        h.submit(0, false);
        h.challengeAnswer(0, false, false);
        h.challengeAnswer(0, true, false);
        h.challengeAnswer(0, true, false);
        h.settleOnTime(1, true); // game 1 is queued behind game 0: no clock runs
        h.settleOnTime(0, true); // executor silent: answer 0 rejected, three disputes share
        h.cancelMoot(1);
        h.cancelMoot(2);
        h.submit(0, false); // the loser may not answer again
        h.submit(0, true);
        h.challengeAnswer(0, false, true); // names the rejected answer
        h.submit(1, true);
        h.challengeAnswer(1, false, false);
        h.settleOnTime(3, false); // challenger silent: executor of answer 1 wins
        h.finalize(1);
        h.cancelRequest(2);
        h.submit(3, false);
        h.challengeAnswer(3, false, false);
        h.settleOnTime(4, true);
        h.cancelRequest(3); // at once after the rejection
        h.withdraw(0);
        h.withdraw(2);
        bytes32[12] memory kinds = [
            bytes32("submit"),
            "challenge",
            "executor lost",
            "executor won",
            "moot",
            "queued waits",
            "loser refused",
            "stale refused",
            "finalize",
            "cancel",
            "cancel after rejection",
            "withdraw"
        ];
        for (uint256 i = 0; i < kinds.length; i++) {
            assertGt(h.done(kinds[i]), 0, string(abi.encodePacked(kinds[i])));
        }
        // Settling the rest pays out all but the store's uncancellable fees.
        uint256 stuck = h.drain();
        InferenceOracle oracle = InferenceOracle(payable(h.oracleAddress()));
        assertEq(oracle.totalOwed(), stuck);
        assertEq(address(oracle).balance, stuck + oracle.totalBurned());
    }
}
