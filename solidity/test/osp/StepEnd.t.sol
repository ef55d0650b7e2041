// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {OneStepProver} from "../../src/osp/OneStepProver.sol";
import {BadStatus, TrailingProofBytes} from "../../src/osp/OspErrors.sol";
import {StepVector, StepVectorFiles} from "./StepVectors.sol";

/// @notice `StepEnd` is a fixed point: it sets status 2 and leaves every other field (pc 1
///         included) unchanged, and a machine of status 1 or 2 never changes. Checked on the
///         pre-states of the committed StepEnd vectors (independently of their post hashes,
///         which the Rust side regenerates) and on hand-made states.
contract StepEndTest is StepVectorFiles {
    /// @dev Bytes of the state fields at the start of a proof.
    uint256 internal constant STATE_BYTES = 170;

    OneStepProver internal prover;

    function setUp() public {
        prover = new OneStepProver();
    }

    function test_StepEndSetsStatus2AndKeepsEverythingElse() public view {
        StepVector[] memory vs = load(string.concat(DIR, "/control.json"));
        uint256 checked;
        for (uint256 i = 0; i < vs.length; i++) {
            if (!_endsWith(vs[i].name, "/StepEnd")) continue;
            bytes memory state = _slice(vs[i].proof, 0, STATE_BYTES);
            assertEq(uint8(state[0]), 0, "a StepEnd vector runs");
            assertEq(_pc(state), 1, "StepEnd is at pc 1");
            (bytes32 pre, bytes32 post) =
                prover.executeStep(vs[i].programRoot, uint8(vs[i].memoryLog2), vs[i].proof);
            assertEq(pre, keccak256(abi.encodePacked("Machine:", state)), "pre-state hash");
            state[0] = bytes1(uint8(2));
            assertEq(post, keccak256(abi.encodePacked("Machine:", state)), vs[i].name);
            checked++;
        }
        assertGt(checked, 0, "no StepEnd vector");
    }

    function test_FinalStatesNeverChange() public view {
        for (uint8 status = 1; status <= 2; status++) {
            bytes memory state = _state(status, 1, keccak256("memory"));
            (bytes32 pre, bytes32 post) = prover.executeStep(bytes32(0), 16, state);
            assertEq(pre, keccak256(abi.encodePacked("Machine:", state)));
            assertEq(post, pre, "a final machine is its own successor");
        }
    }

    function test_FinalStateProofIsTheStateOnly() public {
        bytes memory proof = bytes.concat(_state(2, 1, keccak256("memory")), hex"00");
        vm.expectRevert(abi.encodeWithSelector(TrailingProofBytes.selector, 1));
        prover.executeStep(bytes32(0), 16, proof);
    }

    function test_StatusAbove2IsRefused() public {
        vm.expectRevert(abi.encodeWithSelector(BadStatus.selector, 3));
        prover.executeStep(bytes32(0), 16, _state(3, 1, keccak256("memory")));
    }

    /// A resting state: empty stacks, no frames, no locals, some globals.
    function _state(uint8 status, uint32 pc, bytes32 memoryRoot)
        internal
        pure
        returns (bytes memory)
    {
        return abi.encodePacked(
            status,
            pc,
            bytes32(0),
            bytes32(0),
            uint32(0),
            uint8(0),
            bytes32(0),
            keccak256("globals"),
            memoryRoot
        );
    }

    function _pc(bytes memory state) internal pure returns (uint32) {
        return uint32(bytes4(_slice(state, 1, 5)));
    }

    function _endsWith(string memory s, string memory suffix) internal pure returns (bool) {
        bytes memory a = bytes(s);
        bytes memory b = bytes(suffix);
        if (a.length < b.length) return false;
        return keccak256(_slice(a, a.length - b.length, a.length)) == keccak256(b);
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
}
