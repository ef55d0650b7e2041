// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {IOneStepProver} from "../../src/interfaces/IOneStepProver.sol";

/// @notice A deterministic toy machine for testing the dispute game without wasm: its transition
///         function is a table (state hash -> next state hash) that the test fills with the
///         honest run (test/protocol/ProtocolBase.sol: each step runs from its start state to
///         its step-end state, which, like a trapped state, maps to itself). A "proof" is just
///         the pre-state hash; there is no transition out of a state the honest run never
///         visits, exactly as no valid wasm proof exists for a hash without a preimage. The real
///         one-step prover is tested in test/osp/.
contract ToyProver is IOneStepProver {
    /// @notice No transition is defined out of this state.
    error NoTransition(bytes32 state);

    /// @notice The state after one instruction from a state (zero: none).
    mapping(bytes32 => bytes32) public next;

    /// @notice Defines the transition `pre -> post` (`pre == post` for a final state).
    function setTransition(bytes32 pre, bytes32 post) external {
        next[pre] = post;
    }

    function executeStep(bytes32, uint8, bytes calldata proof)
        external
        view
        returns (bytes32 preHash, bytes32 postHash)
    {
        preHash = abi.decode(proof, (bytes32));
        postHash = next[preHash];
        if (postHash == bytes32(0)) revert NoTransition(preHash);
    }
}

/// @notice Merkle helpers written independently of src/lib/Merkle.sol (memory arrays,
///         whole trees), for building fixtures and paths.
library TestMerkle {
    function hashPair(bytes32 a, bytes32 b) internal pure returns (bytes32) {
        return keccak256(abi.encodePacked(a, b));
    }

    /// Whole tree over `leaves` padded with zeros to 2^depth; returns all levels' nodes.
    function root(bytes32[] memory leaves, uint256 depth) internal pure returns (bytes32) {
        bytes32[] memory level = _padded(leaves, depth);
        for (uint256 d = 0; d < depth; d++) {
            bytes32[] memory up = new bytes32[](level.length / 2);
            for (uint256 i = 0; i < up.length; i++) {
                up[i] = hashPair(level[2 * i], level[2 * i + 1]);
            }
            level = up;
        }
        return level[0];
    }

    /// Bottom-up sibling path of leaf `index`.
    function path(bytes32[] memory leaves, uint256 depth, uint256 index)
        internal
        pure
        returns (bytes32[] memory siblings)
    {
        siblings = new bytes32[](depth);
        bytes32[] memory level = _padded(leaves, depth);
        for (uint256 d = 0; d < depth; d++) {
            siblings[d] = level[index ^ 1];
            bytes32[] memory up = new bytes32[](level.length / 2);
            for (uint256 i = 0; i < up.length; i++) {
                up[i] = hashPair(level[2 * i], level[2 * i + 1]);
            }
            level = up;
            index >>= 1;
        }
    }

    /// The 2^levels nodes `levels` below node (index, height) of the tree over `leaves`.
    function descendants(
        bytes32[] memory leaves,
        uint256 depth,
        uint256 nodeIndex,
        uint256 height,
        uint256 levels
    ) internal pure returns (bytes32[] memory nodes) {
        uint256 childHeight = height - levels;
        nodes = new bytes32[](uint256(1) << levels);
        for (uint256 i = 0; i < nodes.length; i++) {
            nodes[i] = nodeAt(leaves, depth, (nodeIndex << levels) + i, childHeight);
        }
    }

    /// Node at (index, height) of the tree over `leaves` padded to 2^depth.
    function nodeAt(bytes32[] memory leaves, uint256 depth, uint256 index, uint256 height)
        internal
        pure
        returns (bytes32)
    {
        bytes32[] memory padded = _padded(leaves, depth);
        bytes32[] memory sub = new bytes32[](uint256(1) << height);
        for (uint256 i = 0; i < sub.length; i++) {
            sub[i] = padded[(index << height) + i];
        }
        return root(sub, height);
    }

    function zeroRoot(uint256 depth) internal pure returns (bytes32 r) {
        for (uint256 i = 0; i < depth; i++) {
            r = hashPair(r, r);
        }
    }

    /// Root of a region of 2^log2 bytes holding `data` then zeros, built leaf by leaf.
    function regionRoot(bytes memory data, uint256 log2) internal pure returns (bytes32) {
        uint256 leafCount = uint256(1) << (log2 - 5);
        bytes32[] memory leaves = new bytes32[](leafCount);
        for (uint256 i = 0; i < data.length; i++) {
            uint256 leaf = i / 32;
            leaves[leaf] = leaves[leaf] | (bytes32(data[i]) >> (8 * (i % 32)));
        }
        return root(leaves, log2 - 5);
    }

    /// Memory root from a region root at region index `index` and bottom-up siblings.
    function climb(bytes32 node, uint256 index, bytes32[] memory siblings)
        internal
        pure
        returns (bytes32)
    {
        for (uint256 i = 0; i < siblings.length; i++) {
            node = (index >> i) & 1 == 0 ? hashPair(node, siblings[i]) : hashPair(siblings[i], node);
        }
        return node;
    }

    function _padded(bytes32[] memory leaves, uint256 depth)
        private
        pure
        returns (bytes32[] memory padded)
    {
        padded = new bytes32[](uint256(1) << depth);
        for (uint256 i = 0; i < leaves.length; i++) {
            padded[i] = leaves[i];
        }
    }
}
