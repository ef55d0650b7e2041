// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {ProtocolBase} from "../protocol/ProtocolBase.sol";
import {DisputeGame} from "../../src/DisputeGame.sol";
import {InferenceOracle} from "../../src/InferenceOracle.sol";
import {TestMerkle} from "../protocol/ToyMachine.sol";

/// @notice Property: whoever lies loses. A random lying executor (a trace edited in one of many
///         ways, any count, any level-2 hashes) against the honest challenger strategy is refused
///         at submission or loses its game; a random lying challenger (random picks, random
///         proofs or none) against an honest executor loses its game.
contract DisputePropertyTest is ProtocolBase {
    uint256 internal constant LIAR = 1;
    uint256 internal constant STEPS = 40;

    /// The ways a trace can lie.
    enum Lie {
        EditLeaf, // leaf j is some other memory
        MergeSteps, // steps j and j+1 as one step, leaves shifted
        SplitStep, // a memory in the middle of step j as a leaf, leaves shifted
        ShiftLeaves, // leaves from j on shifted by one, N kept
        DuplicateLeaf, // leaf j twice, leaves shifted
        MidStepLeaf, // leaf j is a memory in the middle of step j, its count cut there
        MoreSteps, // extra leaves (zero, "done" or made up) past the honest N
        FewerSteps, // the final memory at a leaf before N
        CountUp, // leaf j edited, its step's count too large
        CountDown, // leaf j edited, its step's count too small
        FirstLeaf, // leaf 0 edited: refused at submission
        Padding // a non-zero leaf past N: refused at submission
    }

    bytes32 internal requestId;
    bytes32 internal honestRoot;

    function setUp() public override {
        super.setUp();
        requestId = _requestFromUser(_body(5), keccak256("seed"));
        _makeHonestRun(requestId, STEPS, "Paris");
        honestRoot = TestMerkle.root(runs[HONEST].leaves, _depth(HONEST));
    }

    // ------------------------------------------------------------ lying executors

    /// A random liar against the honest challenger: refused, or it loses.
    function testFuzz_LyingExecutorLoses(uint256 seed) public {
        Lie lie = Lie(seed % (uint256(type(Lie).max) + 1));
        Level2 mode = Level2(_rand(seed, "level 2") % (uint256(type(Level2).max) + 1));
        _lyingExecutorLoses(lie, mode, seed);
    }

    /// Each kind of lie with each kind of level-2 hashes (the fuzz run above draws them at
    /// random; these make sure every combination is played).
    function test_EveryLevel2Loses_EditLeaf() public {
        _everyLevel2Loses(Lie.EditLeaf);
    }

    function test_EveryLevel2Loses_MergeSteps() public {
        _everyLevel2Loses(Lie.MergeSteps);
    }

    function test_EveryLevel2Loses_SplitStep() public {
        _everyLevel2Loses(Lie.SplitStep);
    }

    function test_EveryLevel2Loses_ShiftLeaves() public {
        _everyLevel2Loses(Lie.ShiftLeaves);
    }

    function test_EveryLevel2Loses_DuplicateLeaf() public {
        _everyLevel2Loses(Lie.DuplicateLeaf);
    }

    function test_EveryLevel2Loses_MidStepLeaf() public {
        _everyLevel2Loses(Lie.MidStepLeaf);
    }

    function test_EveryLevel2Loses_MoreSteps() public {
        _everyLevel2Loses(Lie.MoreSteps);
    }

    function test_EveryLevel2Loses_FewerSteps() public {
        _everyLevel2Loses(Lie.FewerSteps);
    }

    function test_EveryLevel2Loses_CountUp() public {
        _everyLevel2Loses(Lie.CountUp);
    }

    function test_EveryLevel2Loses_CountDown() public {
        _everyLevel2Loses(Lie.CountDown);
    }

    function test_EveryLevel2Loses_FirstLeaf() public {
        _everyLevel2Loses(Lie.FirstLeaf);
    }

    function test_EveryLevel2Loses_Padding() public {
        _everyLevel2Loses(Lie.Padding);
    }

    function _everyLevel2Loses(Lie lie) internal {
        for (uint256 mode = 0; mode <= uint256(type(Level2).max); mode++) {
            uint256 snapshot = vm.snapshotState();
            _lyingExecutorLoses(lie, Level2(mode), uint256(keccak256(abi.encode(lie, mode))));
            vm.revertToState(snapshot);
        }
    }

    function _lyingExecutorLoses(Lie lie, Level2 mode, uint256 seed) internal {
        uint256 j = _rand(seed, "j");
        _copyHonest(LIAR);
        if (lie == Lie.Padding) {
            _assertPaddingRefused(j);
            return;
        }
        _buildLie(lie, seed, j);
        if (_rand(seed, "forge output") % 2 == 0) _forgeOutput();
        runs[LIAR].level2 = mode;
        runs[LIAR].lieAt = uint64(_rand(seed, "lie at") % 120);
        assertTrue(TestMerkle.root(runs[LIAR].leaves, _depth(LIAR)) != honestRoot, "no lie");

        (bool ok, bytes memory err) = _trySubmit(executor, requestId, LIAR);
        if (lie == Lie.FirstLeaf) {
            assertFalse(ok, "a wrong first leaf is refused");
            assertEq(bytes4(err), InferenceOracle.WrongInitialState.selector);
            return;
        }
        assertTrue(ok, "a well-formed lie is accepted (to be disputed)");
        uint256 gameId = _challenge(challenger, requestId);
        assertFalse(_play(gameId, LIAR, HONEST, uint64(_rand(seed, "delay") % 600)), "liar won");
        assertTrue(oracle.getAnswer(requestId, 0).rejected);
        assertTrue(oracle.lostRequest(requestId, executor));
    }

    function _buildLie(Lie lie, uint256 seed, uint256 j) internal {
        Run storage l = runs[LIAR];
        uint256 n = STEPS;
        if (lie == Lie.EditLeaf || lie == Lie.CountUp || lie == Lie.CountDown) {
            j = 1 + j % n;
            if (j == n) _forgeOutput(); // leaf N must hold the claimed output
            else l.leaves[j] = _madeUp(seed, j);
            uint64 c = l.counts[j - 1];
            uint64 d = uint64(1 + _rand(seed, "d") % 200);
            if (lie == Lie.CountUp) l.counts[j - 1] = c + d;
            if (lie == Lie.CountDown) l.counts[j - 1] = d < c ? c - d : 1;
        } else if (lie == Lie.MergeSteps) {
            j = 1 + j % (n - 1);
            uint64 merged = l.counts[j - 1] + l.counts[j];
            _removeLeaf(j);
            _removeCount(j - 1);
            l.counts[j - 1] = merged;
        } else if (lie == Lie.SplitStep) {
            j = 1 + j % n;
            uint64 c = l.counts[j - 1];
            uint64 k = uint64(1 + _rand(seed, "k") % (c - 1));
            _insertLeaf(j, _madeUp(seed, j));
            l.counts[j - 1] = k;
            _insertCount(j, c - k);
        } else if (lie == Lie.ShiftLeaves) {
            j = 1 + j % (n - 1);
            for (uint256 i = j; i < n; i++) {
                l.leaves[i] = runs[HONEST].leaves[i + 1];
            }
        } else if (lie == Lie.DuplicateLeaf) {
            j = j % (n + 1);
            _insertLeaf(j + 1, l.leaves[j]);
            _insertCount(j, uint64(1 + _rand(seed, "c") % 100));
        } else if (lie == Lie.MidStepLeaf) {
            j = 1 + j % (n - 1);
            l.leaves[j] = _madeUp(seed, j);
            l.counts[j - 1] = uint64(1 + _rand(seed, "k") % (l.counts[j - 1] - 1));
        } else if (lie == Lie.MoreSteps) {
            uint256 extra = 1 + j % 3;
            bytes32 last = l.leaves[n];
            for (uint256 e = 0; e < extra; e++) {
                uint256 kind = _rand(seed, bytes32(e)) % 3;
                l.leaves.push(kind == 0 ? bytes32(0) : kind == 1 ? last : _madeUp(seed, n + e));
                l.counts.push(uint64(1 + _rand(seed, bytes32(e + 100)) % 100));
            }
            l.leaves[l.leaves.length - 1] = last; // the final memory holds the output
        } else if (lie == Lie.FewerSteps) {
            uint256 newN = 1 + j % (n - 1);
            bytes32 last = l.leaves[n];
            while (l.leaves.length > newN + 1) {
                l.leaves.pop();
                l.counts.pop();
            }
            l.leaves[newN] = last;
        } else if (lie == Lie.FirstLeaf) {
            l.leaves[0] = _madeUp(seed, 0);
        }
    }

    function _assertPaddingRefused(uint256 j) internal {
        Run storage l = runs[LIAR];
        uint256 width = uint256(1) << _depth(LIAR);
        uint256 position = STEPS + 1 + j % (width - STEPS - 1);
        bytes32[] memory leaves = new bytes32[](width);
        for (uint256 i = 0; i <= STEPS; i++) {
            leaves[i] = l.leaves[i];
        }
        leaves[position] = _madeUp(j, position);
        (bool ok, bytes memory err) = _trySubmitLeaves(executor, requestId, leaves, STEPS, l.output);
        assertFalse(ok, "padding garbage accepted");
        assertEq(bytes4(err), InferenceOracle.NonZeroPadding.selector);
    }

    function _forgeOutput() internal {
        Run storage l = runs[LIAR];
        l.output = _encodeOutput("Lyon");
        l.leaves[l.leaves.length - 1] = _finalMemory(l.output);
    }

    function _madeUp(uint256 seed, uint256 j) internal pure returns (bytes32) {
        return keccak256(abi.encode("made-up memory", seed, j));
    }

    function _insertLeaf(uint256 at, bytes32 leaf) internal {
        bytes32[] storage a = runs[LIAR].leaves;
        a.push(bytes32(0));
        for (uint256 i = a.length - 1; i > at; i--) {
            a[i] = a[i - 1];
        }
        a[at] = leaf;
    }

    function _removeLeaf(uint256 at) internal {
        bytes32[] storage a = runs[LIAR].leaves;
        for (uint256 i = at; i + 1 < a.length; i++) {
            a[i] = a[i + 1];
        }
        a.pop();
    }

    function _insertCount(uint256 at, uint64 count) internal {
        uint64[] storage a = runs[LIAR].counts;
        a.push(0);
        for (uint256 i = a.length - 1; i > at; i--) {
            a[i] = a[i - 1];
        }
        a[at] = count;
    }

    function _removeCount(uint256 at) internal {
        uint64[] storage a = runs[LIAR].counts;
        for (uint256 i = at; i + 1 < a.length; i++) {
            a[i] = a[i + 1];
        }
        a.pop();
    }

    // ------------------------------------------------------------ lying challengers

    /// A challenger making random moves against an honest executor loses.
    function testFuzz_LyingChallengerLoses(uint256 seed) public {
        _submit(executor, requestId, HONEST);
        uint256 gameId = _challenge(challenger, requestId);
        for (uint256 move = 0; move < 200; move++) {
            DisputeGame.Game memory g = game.getGame(gameId);
            if (g.phase == DisputeGame.Phase.Resolved) break;
            uint256 r = uint256(keccak256(abi.encode(seed, move)));
            vm.warp(block.timestamp + r % 300);
            if (g.phase == DisputeGame.Phase.TraceReveal) {
                _reveal(gameId, g, HONEST);
            } else if (g.phase == DisputeGame.Phase.TracePick) {
                _randomTracePick(gameId, g, r);
            } else if (g.phase == DisputeGame.Phase.StepOpen) {
                _open(gameId, g, HONEST);
            } else if (g.phase == DisputeGame.Phase.Dissect) {
                _dissect(gameId, g, HONEST);
            } else if (g.phase == DisputeGame.Phase.DissectPick) {
                bytes32[] memory theirs = _points(g, HONEST, g.nodeIndex);
                vm.prank(challenger);
                game.pickInterval(gameId, theirs, r % (theirs.length + 1));
            } else {
                _randomProof(gameId, g, r);
            }
        }
        DisputeGame.Game memory end = game.getGame(gameId);
        assertTrue(end.phase == DisputeGame.Phase.Resolved, "game ended");
        assertTrue(end.executorWon, "the honest executor won");
        uint256 burn = CHALLENGER_BOND * oracle.BURN_BPS() / 10_000;
        assertEq(oracle.credits(executor), CHALLENGER_BOND - burn);
        assertEq(oracle.credits(challenger), 0);
        assertFalse(oracle.getAnswer(requestId, 0).rejected);
    }

    function _randomTracePick(uint256 gameId, DisputeGame.Game memory g, uint256 r) internal {
        bytes32[] memory nodes = _revealed(g, HONEST);
        uint8 levels = _levels(g.nodeHeight);
        uint256 childHeight = g.nodeHeight - levels;
        uint256[] memory valid = new uint256[](nodes.length);
        uint256 count;
        for (uint256 i = 0; i < nodes.length; i++) {
            uint256 firstLeaf = ((uint256(g.nodeIndex) << levels) + i) << childHeight;
            if (firstLeaf <= g.stepCount && !(childHeight == 0 && firstLeaf == 0)) {
                valid[count++] = i;
            }
        }
        if (count < nodes.length && (r >> 128) % 4 == 0) {
            // A pick of padding or leaf 0 is refused.
            uint256 invalid = _firstInvalid(valid, count, nodes.length);
            vm.prank(challenger);
            vm.expectRevert(abi.encodeWithSelector(DisputeGame.BadPick.selector, invalid));
            game.pickTrace(gameId, nodes, invalid);
        }
        vm.prank(challenger);
        game.pickTrace(gameId, nodes, valid[r % count]);
    }

    function _firstInvalid(uint256[] memory valid, uint256 count, uint256 total)
        internal
        pure
        returns (uint256)
    {
        for (uint256 i = 0; i < total; i++) {
            bool isValid;
            for (uint256 k = 0; k < count; k++) {
                if (valid[k] == i) isValid = true;
            }
            if (!isValid) return i;
        }
        revert("every pick is valid");
    }

    /// The challenger proves honestly, tries a proof from another state first, or stays silent.
    function _randomProof(uint256 gameId, DisputeGame.Game memory g, uint256 r) internal {
        uint256 choice = r % 3;
        if (choice == 1) {
            bytes32 other = _boundary(runs[HONEST].leaves[0]);
            if (other == g.loHash) other = _boundary(runs[HONEST].leaves[1]);
            vm.expectRevert(
                abi.encodeWithSelector(DisputeGame.WrongPreState.selector, g.loHash, other)
            );
            game.proveStep(gameId, abi.encode(other));
        }
        if (choice == 2) {
            vm.warp(block.timestamp + CLOCK + 1);
            game.timeout(gameId);
            return;
        }
        vm.prank(challenger);
        game.proveStep(gameId, abi.encode(g.loHash));
    }

    function _rand(uint256 seed, bytes32 label) internal pure returns (uint256) {
        return uint256(keccak256(abi.encode(seed, label)));
    }
}
