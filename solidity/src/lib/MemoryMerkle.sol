// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

/// @title MemoryMerkle
/// @notice Roots of the machine's memory Merkle tree (32-byte raw leaves, node =
///         keccak256(left ‖ right), fixed depth; see docs/architecture.md, "Memory") and of the
///         regions inside it: the request input written into the image, the answer read out of
///         the final state.
library MemoryMerkle {
    /// @notice A region is larger than the bytes that must fit in it.
    error DataTooLarge(uint256 length, uint256 capacity);
    /// @notice A path's length does not match the depth it must cover.
    error BadPathLength(uint256 length, uint256 expected);

    /// @notice Root of a tree of `2^depth` zero leaves.
    function zeroRoot(uint256 depth) internal pure returns (bytes32 root) {
        for (uint256 i = 0; i < depth; i++) {
            root = keccak256(abi.encodePacked(root, root));
        }
    }

    /// @notice Root of a `2^regionLog2`-byte region holding `data` at its start and zeros after.
    /// @dev Costs O(data.length / 32 + regionLog2) hashes: all-zero subtrees use `zeroRoot`.
    function regionRoot(bytes memory data, uint8 regionLog2) internal pure returns (bytes32) {
        uint256 capacity = uint256(1) << regionLog2;
        if (data.length > capacity) revert DataTooLarge(data.length, capacity);
        uint256 leafCount = (data.length + 31) / 32;
        // Level 0: the data's leaves, the last one zero padded.
        bytes32[] memory level = new bytes32[](leafCount);
        for (uint256 i = 0; i < leafCount; i++) {
            bytes32 word;
            assembly ("memory-safe") {
                word := mload(add(add(data, 32), mul(i, 32)))
            }
            uint256 remaining = data.length - i * 32;
            if (remaining < 32) {
                // Clear the bytes past the end of `data` (they are whatever follows in memory).
                word &= bytes32(type(uint256).max << ((32 - remaining) * 8));
            }
            level[i] = word;
        }
        // Fold upwards; past the data, a sibling is the root of an all-zero subtree.
        bytes32 zero; // root of an all-zero subtree of the current level's height
        uint256 count = leafCount;
        for (uint256 height = 0; height < regionLog2 - 5; height++) {
            uint256 parents = (count + 1) / 2;
            for (uint256 i = 0; i < parents; i++) {
                bytes32 left = level[2 * i];
                bytes32 right = 2 * i + 1 < count ? level[2 * i + 1] : zero;
                level[i] = keccak256(abi.encodePacked(left, right));
            }
            count = parents;
            zero = keccak256(abi.encodePacked(zero, zero));
        }
        return count == 0 ? zero : level[0];
    }

    /// @notice Root of the whole memory when the subtree at `offset` (of size `2^regionLog2`)
    ///         has root `subtreeRoot` and the other subtrees on its path are `siblings`
    ///         (bottom-up, `memoryLog2 - regionLog2` of them).
    function rootFromRegion(
        bytes32 subtreeRoot,
        uint64 offset,
        uint8 regionLog2,
        uint8 memoryLog2,
        bytes32[] calldata siblings
    ) internal pure returns (bytes32 node) {
        uint256 levels = memoryLog2 - regionLog2;
        if (siblings.length != levels) revert BadPathLength(siblings.length, levels);
        uint256 index = uint256(offset) >> regionLog2;
        node = subtreeRoot;
        for (uint256 i = 0; i < levels; i++) {
            node = (index >> i) & 1 == 0
                ? keccak256(abi.encodePacked(node, siblings[i]))
                : keccak256(abi.encodePacked(siblings[i], node));
        }
    }

    /// @notice Root of a binary tree from a leaf at `index` and its bottom-up `siblings`.
    function rootFromLeaf(bytes32 leaf, uint256 index, bytes32[] calldata siblings)
        internal
        pure
        returns (bytes32 node)
    {
        node = leaf;
        for (uint256 i = 0; i < siblings.length; i++) {
            node = (index >> i) & 1 == 0
                ? keccak256(abi.encodePacked(node, siblings[i]))
                : keccak256(abi.encodePacked(siblings[i], node));
        }
    }
}
