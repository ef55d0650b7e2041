// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {ProofReader} from "./ProofReader.sol";

/// @title Merkle
/// @notice Binary Merkle trees of the machine (memory, locals, code): node =
///         keccak256(left ‖ right); a path is read from the proof leaf level first, and bit `l`
///         of the index says whether the running hash is the right child at level `l`.
library Merkle {
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

    /// @notice Reads `depth` siblings at `offset` and returns the root above `leaf` at `index`.
    function rootFromPath(
        bytes calldata proof,
        uint256 offset,
        bytes32 leaf,
        uint256 index,
        uint256 depth
    ) internal pure returns (bytes32 root, uint256 next) {
        ProofReader.ensure(proof, offset, depth * 32);
        root = leaf;
        for (uint256 l = 0; l < depth; l++) {
            bytes32 sibling;
            assembly {
                sibling := calldataload(add(proof.offset, add(offset, shl(5, l))))
            }
            root = (index >> l) & 1 == 0 ? node(root, sibling) : node(sibling, root);
        }
        next = offset + depth * 32;
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
}
