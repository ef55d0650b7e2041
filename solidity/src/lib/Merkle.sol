// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

/// @title Merkle
/// @notice The binary Merkle trees of the machine and of the protocol (memory, locals, code,
///         layer trace): node = keccak256(left ‖ right), 32-byte leaves; a path lists the
///         siblings leaf level first, and bit `l` of the index says whether the running hash is
///         the right child at level `l`. Also the roots of memory regions (the request input
///         written into the image, the answer read out of the final memory; docs/architecture.md,
///         "Memory"). The Rust twins are `node` and `root_from_path` in machine/src/hash.rs and
///         `zero_root`, `region_root` and `root_from_region` in prover/src/commitments.rs.
library Merkle {
    /// @notice A region is larger than the bytes that must fit in it.
    error DataTooLarge(uint256 length, uint256 capacity);
    /// @notice A path's length does not match the depth it must cover.
    error BadPathLength(uint256 length, uint256 expected);

    /// @notice keccak256(left ‖ right), hashed in the scratch space (no allocation).
    function node(bytes32 left, bytes32 right) internal pure returns (bytes32 h) {
        assembly {
            mstore(0x00, left)
            mstore(0x20, right)
            h := keccak256(0x00, 0x40)
        }
    }

    /// @notice The root of a depth-`depth` tree whose leaves are all zero.
    function zeroRoot(uint256 depth) internal pure returns (bytes32 z) {
        for (uint256 l = 0; l < depth; l++) {
            z = node(z, z);
        }
    }

    /// @notice The root above `leaf` at `index` through its bottom-up `siblings`.
    function rootFromPath(bytes32 leaf, uint256 index, bytes32[] calldata siblings)
        internal
        pure
        returns (bytes32 root)
    {
        root = leaf;
        for (uint256 l = 0; l < siblings.length; l++) {
            root = (index >> l) & 1 == 0 ? node(root, siblings[l]) : node(siblings[l], root);
        }
    }

    /// @notice Returns the roots above `oldLeaf` and `newLeaf` at `index` through the `depth`
    ///         siblings at absolute calldata position `pathPtr` (the caller checks the bounds):
    ///         the first proves the leaf, the second is the root after replacing it.
    function rootsFromPath(
        uint256 pathPtr,
        bytes32 oldLeaf,
        bytes32 newLeaf,
        uint256 index,
        uint256 depth
    ) internal pure returns (bytes32 oldRoot, bytes32 newRoot) {
        assembly {
            oldRoot := oldLeaf
            newRoot := newLeaf
            for { let l := 0 } lt(l, depth) { l := add(l, 1) } {
                let sibling := calldataload(add(pathPtr, shl(5, l)))
                // Bit l of the index: 0 = the running hash is the left child.
                let right := and(shr(l, index), 1)
                // Scratch words 0x00/0x20: place (hash, sibling) or (sibling, hash).
                mstore(xor(0x00, shl(5, right)), oldRoot)
                mstore(xor(0x20, shl(5, right)), sibling)
                oldRoot := keccak256(0x00, 0x40)
                mstore(xor(0x00, shl(5, right)), newRoot)
                mstore(xor(0x20, shl(5, right)), sibling)
                newRoot := keccak256(0x00, 0x40)
            }
        }
    }

    /// @notice Root of a `2^regionLog2`-byte region holding `data` at its start and zeros after.
    /// @dev Costs O(data.length / 32 + regionLog2) hashes (`leavesRoot`).
    function regionRoot(bytes memory data, uint8 regionLog2) internal pure returns (bytes32) {
        uint256 capacity = uint256(1) << regionLog2;
        if (data.length > capacity) revert DataTooLarge(data.length, capacity);
        uint256 leafCount = (data.length + 31) / 32;
        // The data's leaves, the last one zero padded.
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
        return leavesRoot(level, regionLog2 - 5);
    }

    /// @notice Root of a depth-`depth` tree holding `leaves` (at most `2^depth`) first and zero
    ///         leaves after. Overwrites `leaves`.
    /// @dev Costs O(leaves.length + depth) hashes: past the leaves, a sibling is the root of an
    ///      all-zero subtree.
    function leavesRoot(bytes32[] memory leaves, uint256 depth) internal pure returns (bytes32) {
        bytes32 zero = bytes32(0); // root of an all-zero subtree of the current level's height
        uint256 count = leaves.length;
        for (uint256 height = 0; height < depth; height++) {
            uint256 parents = (count + 1) / 2;
            for (uint256 i = 0; i < parents; i++) {
                bytes32 right = 2 * i + 1 < count ? leaves[2 * i + 1] : zero;
                leaves[i] = node(leaves[2 * i], right);
            }
            count = parents;
            zero = node(zero, zero);
        }
        return count == 0 ? zero : leaves[0];
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
    ) internal pure returns (bytes32) {
        uint256 levels = memoryLog2 - regionLog2;
        if (siblings.length != levels) revert BadPathLength(siblings.length, levels);
        return rootFromPath(subtreeRoot, uint256(offset) >> regionLog2, siblings);
    }
}
