// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {Machine, MachineState, Step, ValueStack} from "./MachineState.sol";
import {Merkle} from "../lib/Merkle.sol";
import {Opcodes} from "./Opcodes.sol";
import {ProofReader} from "./ProofReader.sol";
import {BadMemoryProof} from "./OspErrors.sol";

/// @title OspMemory
/// @notice Loads, stores (one or two 32-byte leaves) and the bulk-memory chunks. Leaf `i` holds
///         bytes [32i, 32i+32) in memory order: byte `j` of a leaf is `leaf[j]` (big-endian
///         position), and values are little-endian across those bytes.
library OspMemory {
    using MachineState for ValueStack;

    /// @dev Bytes per memory leaf.
    uint256 internal constant LEAF = 32;

    /// @notice Executes a load, a store or a copy/fill chunk.
    function executeMemory(
        Step memory s,
        Machine memory pre,
        uint16 opcode,
        uint64 imm,
        bytes calldata proof
    ) internal pure {
        s.post.pc = MachineState.nextPc(pre);
        if (opcode == Opcodes.MEMORY_COPY_CHUNK) executeCopyChunk(s, pre, proof);
        else if (opcode == Opcodes.MEMORY_FILL_CHUNK) executeFillChunk(s, pre, proof);
        else if (Opcodes.isLoad(opcode)) executeLoad(s, pre, opcode, imm, proof);
        else executeStore(s, pre, opcode, imm, proof);
    }

    /// @notice Reads a leaf and its path and checks them against `root`.
    function readLeaf(Step memory s, bytes calldata proof, uint256 index, bytes32 root)
        internal
        pure
        returns (bytes32 leaf)
    {
        (leaf, s.offset) = ProofReader.readBytes32(proof, s.offset);
        (bytes32[] calldata siblings, uint256 next) =
            ProofReader.readHashes(proof, s.offset, s.memoryLog2 - 5);
        s.offset = next;
        if (Merkle.rootFromPath(leaf, index, siblings) != root) revert BadMemoryProof();
    }

    /// @notice Reads a leaf and skips its path (checked later by `updateLeaf`); returns the leaf
    ///         and where its path starts.
    function readLeafForUpdate(Step memory s, bytes calldata proof)
        internal
        pure
        returns (bytes32 leaf, uint256 pathOffset)
    {
        (leaf, s.offset) = ProofReader.readBytes32(proof, s.offset);
        pathOffset = s.offset;
        s.offset += uint256(s.memoryLog2 - 5) * 32;
    }

    /// @notice Verifies the path at `pathOffset` for `oldLeaf` at `index` against
    ///         `s.post.memoryRoot` and replaces that root by the one with `newLeaf` in its place.
    ///         (`s.post.memoryRoot` starts as the pre-state root.)
    function updateLeaf(
        Step memory s,
        bytes calldata proof,
        uint256 pathOffset,
        bytes32 oldLeaf,
        bytes32 newLeaf,
        uint256 index
    ) internal pure {
        uint256 depth = s.memoryLog2 - 5;
        ProofReader.ensure(proof, pathOffset, depth * 32);
        uint256 pathPtr;
        assembly {
            pathPtr := add(proof.offset, pathOffset)
        }
        (bytes32 oldRoot, bytes32 newRoot) =
            Merkle.rootsFromPath(pathPtr, oldLeaf, newLeaf, index, depth);
        if (oldRoot != s.post.memoryRoot) revert BadMemoryProof();
        s.post.memoryRoot = newRoot;
    }

    /// @notice The effective address of an access of `width` bytes, or `ok = false` when it
    ///         leaves the memory (wide arithmetic: never overflows).
    function effectiveAddress(Step memory s, uint64 addr, uint64 offset, uint256 width)
        internal
        pure
        returns (uint256 ea, bool ok)
    {
        ea = uint256(addr) + offset;
        ok = ea + width <= (uint256(1) << s.memoryLog2);
    }

    /// @notice A load: pop the address; push the little-endian value, sign- or zero-extended.
    function executeLoad(
        Step memory s,
        Machine memory pre,
        uint16 opcode,
        uint64 imm,
        bytes calldata proof
    ) internal pure {
        uint256 width = Opcodes.accessWidth(opcode);
        (uint256 ea, bool ok) = effectiveAddress(s, s.stack.pop(), imm, width);
        if (!ok) {
            s.trapped = true;
            return;
        }
        s.stack.push(loadValue(opcode, loadRaw(s, pre.memoryRoot, proof, ea, width)));
    }

    /// @notice Proves the one or two leaves holding `[ea, ea + width)` against `root` and
    ///         returns those bytes as a little-endian integer.
    function loadRaw(Step memory s, bytes32 root, bytes calldata proof, uint256 ea, uint256 width)
        internal
        pure
        returns (uint64)
    {
        uint256 first = ea / LEAF;
        uint256 last = (ea + width - 1) / LEAF;
        bytes32 a = readLeaf(s, proof, first, root);
        bytes32 b = last != first ? readLeaf(s, proof, last, root) : bytes32(0);
        uint256 start = ea % LEAF;
        uint256 raw = 0;
        for (uint256 j = 0; j < width; j++) {
            uint256 at = start + j;
            raw |= uint256(uint8(at < LEAF ? a[at] : b[at - LEAF])) << (8 * j);
        }
        return uint64(raw);
    }

    /// @notice The value a load pushes from the raw little-endian bytes it read.
    function loadValue(uint16 opcode, uint64 raw) internal pure returns (uint64) {
        if (opcode == 0x2C) return uint32(int32(int8(uint8(raw)))); // i32.load8_s
        if (opcode == 0x2E) return uint32(int32(int16(uint16(raw)))); // i32.load16_s
        if (opcode == 0x30) return uint64(int64(int8(uint8(raw)))); // i64.load8_s
        if (opcode == 0x32) return uint64(int64(int16(uint16(raw)))); // i64.load16_s
        if (opcode == 0x34) return uint64(int64(int32(uint32(raw)))); // i64.load32_s
        return raw; // unsigned loads and full-width loads
    }

    /// @notice `leaf` with byte `at` set to `v`.
    function setByte(bytes32 leaf, uint256 at, uint8 v) internal pure returns (bytes32) {
        uint256 shift = 8 * (31 - at);
        return bytes32((uint256(leaf) & ~(uint256(0xFF) << shift)) | (uint256(v) << shift));
    }

    /// @notice A store: pop the value, then the address; write `width` little-endian bytes. The
    ///         second leaf (if any) is proven against the root after the first leaf's update.
    function executeStore(
        Step memory s,
        Machine memory pre,
        uint16 opcode,
        uint64 imm,
        bytes calldata proof
    ) internal pure {
        uint256 width = Opcodes.accessWidth(opcode);
        uint64 value = s.stack.pop();
        (uint256 ea, bool ok) = effectiveAddress(s, s.stack.pop(), imm, width);
        if (!ok) {
            s.trapped = true;
            return;
        }
        uint256 start = ea % LEAF;
        uint256 inFirst = width < LEAF - start ? width : LEAF - start;
        // s.post.memoryRoot starts as the pre-state root; each leaf is proven against it and
        // replaces it, so a second leaf is proven against the root after the first update.
        storeInLeaf(s, proof, ea / LEAF, value, start, inFirst);
        if (inFirst < width) {
            storeInLeaf(s, proof, ea / LEAF + 1, value >> (8 * inFirst), 0, width - inFirst);
        }
    }

    /// @notice Proves leaf `index` against `s.post.memoryRoot`, writes the low `count` bytes of
    ///         `bytesLE` (little-endian) at byte `start` of it and updates `s.post.memoryRoot`.
    function storeInLeaf(
        Step memory s,
        bytes calldata proof,
        uint256 index,
        uint64 bytesLE,
        uint256 start,
        uint256 count
    ) internal pure {
        (bytes32 leaf, uint256 path) = readLeafForUpdate(s, proof);
        bytes32 updated = leaf;
        for (uint256 j = 0; j < count; j++) {
            updated = setByte(updated, start + j, uint8(bytesLE >> (8 * j)));
        }
        updateLeaf(s, proof, path, leaf, updated, index);
    }

    /// @notice Pops `dst, x, n` (n on top).
    function popChunkOperands(Step memory s)
        internal
        pure
        returns (uint64 dst, uint64 x, uint64 n)
    {
        n = s.stack.pop();
        x = s.stack.pop();
        dst = s.stack.pop();
    }

    /// @notice `MemoryCopyChunk` (stack `dst, src, n`): one chunk within one leaf on each side,
    ///         forward unless the ranges overlap with dst above src.
    function executeCopyChunk(Step memory s, Machine memory pre, bytes calldata proof)
        internal
        pure
    {
        (uint64 dst, uint64 src, uint64 n) = popChunkOperands(s);
        uint256 size = uint256(1) << s.memoryLog2;
        if (uint256(src) + n > size || uint256(dst) + n > size) {
            s.trapped = true;
            return;
        }
        if (n == 0) return;
        (uint256 k, uint256 from, uint256 to) = planCopy(s, dst, src, n);
        s.post.pc = pre.pc;
        applyCopy(s, pre, proof, k, from, to);
    }

    /// @notice Chooses the chunk of a copy (`k` bytes from `from` to `to`) and pushes the three
    ///         operands that remain.
    function planCopy(Step memory s, uint64 dst, uint64 src, uint64 n)
        internal
        pure
        returns (uint256 k, uint256 from, uint256 to)
    {
        if (dst <= src || dst >= uint256(src) + n) {
            // Forward: up to the end of the leaf on either side.
            k = min3(n, LEAF - dst % LEAF, LEAF - src % LEAF);
            (from, to) = (src, dst);
            s.stack.push(uint64(dst + k));
            s.stack.push(uint64(src + k));
        } else {
            // Backward: down to the start of the leaf on either side.
            k = min3(n, fromLeafStart(uint256(dst) + n), fromLeafStart(uint256(src) + n));
            (from, to) = (uint256(src) + n - k, uint256(dst) + n - k);
            s.stack.push(dst);
            s.stack.push(src);
        }
        s.stack.push(uint64(n - k));
    }

    /// @notice Proves the source and destination leaves against the pre-state root (the source
    ///         bytes come from the pre-state even when both are the same leaf) and writes the
    ///         chunk.
    function applyCopy(
        Step memory s,
        Machine memory pre,
        bytes calldata proof,
        uint256 k,
        uint256 from,
        uint256 to
    ) internal pure {
        bytes32 srcLeaf = readLeaf(s, proof, from / LEAF, pre.memoryRoot);
        (bytes32 dstLeaf, uint256 path) = readLeafForUpdate(s, proof);
        bytes32 updated = dstLeaf;
        for (uint256 j = 0; j < k; j++) {
            updated = setByte(updated, to % LEAF + j, uint8(srcLeaf[from % LEAF + j]));
        }
        updateLeaf(s, proof, path, dstLeaf, updated, to / LEAF);
    }

    /// @notice `MemoryFillChunk` (stack `dst, val, n`): fill up to the end of dst's leaf with
    ///         the low byte of `val`.
    function executeFillChunk(Step memory s, Machine memory pre, bytes calldata proof)
        internal
        pure
    {
        (uint64 dst, uint64 val, uint64 n) = popChunkOperands(s);
        if (uint256(dst) + n > (uint256(1) << s.memoryLog2)) {
            s.trapped = true;
            return;
        }
        if (n == 0) return;
        uint256 k = min3(n, LEAF - dst % LEAF, LEAF);
        s.stack.push(uint64(dst + k));
        s.stack.push(val);
        s.stack.push(uint64(n - k));
        s.post.pc = pre.pc;
        applyFill(s, proof, dst, uint8(val), k);
    }

    /// @notice Proves the destination leaf and fills `k` bytes from `dst` with `byteValue`.
    function applyFill(Step memory s, bytes calldata proof, uint256 dst, uint8 byteValue, uint256 k)
        internal
        pure
    {
        (bytes32 leaf, uint256 path) = readLeafForUpdate(s, proof);
        bytes32 updated = leaf;
        for (uint256 j = 0; j < k; j++) {
            updated = setByte(updated, dst % LEAF + j, byteValue);
        }
        updateLeaf(s, proof, path, leaf, updated, dst / LEAF);
    }

    /// @notice `x mod 32`, or 32 when that is 0: the bytes from the start of x's leaf up to x.
    function fromLeafStart(uint256 x) internal pure returns (uint256) {
        uint256 r = x % LEAF;
        return r == 0 ? LEAF : r;
    }

    /// @notice The smallest of three values.
    function min3(uint256 a, uint256 b, uint256 c) internal pure returns (uint256 m) {
        m = a < b ? a : b;
        if (c < m) m = c;
    }
}
