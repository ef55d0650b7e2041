// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {ProofTooShort, TrailingProofBytes} from "./OspErrors.sol";

/// @title ProofReader
/// @notice Reads one-step proof bytes front to back (docs/architecture.md, "One-step proof
///         bytes"). Every field is big-endian; every read takes the cursor and returns the value
///         and the cursor after it, like Nitro's Deserialize.
library ProofReader {
    /// @dev Reads `n` (1..32) bytes at `offset` as a big-endian unsigned integer.
    function readUint(bytes calldata proof, uint256 offset, uint256 n)
        internal
        pure
        returns (uint256 value, uint256 next)
    {
        next = offset + n;
        if (next > proof.length) revert ProofTooShort();
        assembly {
            // calldataload reads 32 bytes; keep the first n of them.
            value := shr(sub(256, shl(3, n)), calldataload(add(proof.offset, offset)))
        }
    }

    /// @notice Reads a uint8.
    function readU8(bytes calldata proof, uint256 offset) internal pure returns (uint8, uint256) {
        (uint256 v, uint256 next) = readUint(proof, offset, 1);
        return (uint8(v), next);
    }

    /// @notice Reads a big-endian uint16.
    function readU16(bytes calldata proof, uint256 offset) internal pure returns (uint16, uint256) {
        (uint256 v, uint256 next) = readUint(proof, offset, 2);
        return (uint16(v), next);
    }

    /// @notice Reads a big-endian uint32.
    function readU32(bytes calldata proof, uint256 offset) internal pure returns (uint32, uint256) {
        (uint256 v, uint256 next) = readUint(proof, offset, 4);
        return (uint32(v), next);
    }

    /// @notice Reads a big-endian uint64.
    function readU64(bytes calldata proof, uint256 offset) internal pure returns (uint64, uint256) {
        (uint256 v, uint256 next) = readUint(proof, offset, 8);
        return (uint64(v), next);
    }

    /// @notice Reads a bytes32.
    function readBytes32(bytes calldata proof, uint256 offset)
        internal
        pure
        returns (bytes32, uint256)
    {
        (uint256 v, uint256 next) = readUint(proof, offset, 32);
        return (bytes32(v), next);
    }

    /// @notice Reads `n` bytes32 values (a Merkle path, leaf level first) as a calldata array,
    ///         without copying them (Rust: `Reader::hashes`).
    function readHashes(bytes calldata proof, uint256 offset, uint256 n)
        internal
        pure
        returns (bytes32[] calldata hashes, uint256 next)
    {
        ensure(proof, offset, n * 32);
        assembly {
            hashes.offset := add(proof.offset, offset)
            hashes.length := n
        }
        next = offset + n * 32;
    }

    /// @notice Reverts `ProofTooShort` unless `n` more bytes remain after `offset`.
    function ensure(bytes calldata proof, uint256 offset, uint256 n) internal pure {
        if (offset + n > proof.length) revert ProofTooShort();
    }

    /// @notice Reverts `TrailingProofBytes` unless every byte was read.
    function finish(bytes calldata proof, uint256 offset) internal pure {
        if (offset != proof.length) revert TrailingProofBytes(proof.length - offset);
    }
}
