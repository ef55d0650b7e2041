//! Linear memory with its incremental Merkle tree (spec: "Memory"): 32-byte raw leaves, fixed
//! depth `memoryLog2 - 5`, internal nodes cached per level and updated lazily, O(depth) per
//! written leaf, when the root or a proof is asked for.

use crate::hash::{self, Hash};

/// Bytes per leaf.
pub(crate) const LEAF_SIZE: u64 = 32;

/// Linear memory and its Merkle tree.
#[derive(Clone)]
pub(crate) struct Memory {
    bytes: Vec<u8>,
    /// Tree depth: `log2(len) - 5`.
    depth: u32,
    /// `levels[l - 1]` holds the nodes at height `l` (1 = parents of leaves); the last is the root.
    levels: Vec<Vec<Hash>>,
    /// Distinct leaves written since the tree was last brought up to date.
    dirty: Vec<u64>,
    /// One bit per leaf: set when the leaf is in `dirty` (so a leaf written a million times
    /// between two roots is rehashed once).
    dirty_bits: Vec<u64>,
    /// Whether the whole tree must be rebuilt (too many dirty leaves, or never built).
    rebuild: bool,
}

impl std::fmt::Debug for Memory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Memory")
            .field("size", &self.bytes.len())
            .field("dirty_leaves", &self.dirty.len())
            .field("rebuild", &self.rebuild)
            .finish()
    }
}

impl Memory {
    /// Memory over `bytes`; the length must be a power of two of at least 64 bytes.
    pub(crate) fn new(bytes: Vec<u8>) -> Self {
        assert!(
            bytes.len().is_power_of_two() && bytes.len() >= 64,
            "memory size"
        );
        let depth = bytes.len().trailing_zeros() - 5;
        let levels = (1..=depth)
            .map(|l| vec![hash::ZERO; 1 << (depth - l)])
            .collect();
        let leaves = bytes.len() / LEAF_SIZE as usize;
        Self {
            bytes,
            depth,
            levels,
            dirty: Vec::new(),
            dirty_bits: vec![0; leaves.div_ceil(64)],
            rebuild: true,
        }
    }

    /// The bytes.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Size in bytes.
    pub(crate) fn size(&self) -> u64 {
        self.bytes.len() as u64
    }

    /// `len` bytes at `addr` (the caller checked bounds).
    pub(crate) fn read(&self, addr: u64, len: u64) -> &[u8] {
        &self.bytes[addr as usize..(addr + len) as usize]
    }

    /// The 32 bytes of leaf `index`.
    pub(crate) fn leaf(&self, index: u64) -> Hash {
        let start = (index * LEAF_SIZE) as usize;
        self.bytes[start..start + LEAF_SIZE as usize]
            .try_into()
            .expect("32 bytes")
    }

    fn mark(&mut self, addr: u64, len: u64) {
        if len == 0 || self.rebuild {
            return;
        }
        for leaf in addr / LEAF_SIZE..=(addr + len - 1) / LEAF_SIZE {
            let (word, bit) = ((leaf / 64) as usize, 1u64 << (leaf % 64));
            if self.dirty_bits[word] & bit == 0 {
                self.dirty_bits[word] |= bit;
                self.dirty.push(leaf);
            }
        }
        if self.dirty.len() > self.levels[0].len() / 2 {
            self.clear_dirty();
            self.rebuild = true;
        }
    }

    /// Writes `data` at `addr` (the caller checked bounds).
    pub(crate) fn write(&mut self, addr: u64, data: &[u8]) {
        self.bytes[addr as usize..addr as usize + data.len()].copy_from_slice(data);
        self.mark(addr, data.len() as u64);
    }

    /// Copies `len` bytes from `src` to `dst` as if through a buffer (overlap allowed).
    pub(crate) fn copy_within(&mut self, dst: u64, src: u64, len: u64) {
        self.bytes
            .copy_within(src as usize..(src + len) as usize, dst as usize);
        self.mark(dst, len);
    }

    /// Sets `len` bytes at `dst` to `value`.
    pub(crate) fn fill(&mut self, dst: u64, value: u8, len: u64) {
        self.bytes[dst as usize..(dst + len) as usize].fill(value);
        self.mark(dst, len);
    }

    /// Forgets the dirty leaves (their bits included).
    fn clear_dirty(&mut self) {
        for &leaf in &self.dirty {
            self.dirty_bits[(leaf / 64) as usize] = 0;
        }
        self.dirty.clear();
    }

    fn parent_of_leaves(&self, j: usize) -> Hash {
        hash::keccak(&[&self.bytes[64 * j..64 * j + 64]])
    }

    /// Brings the cached nodes up to date.
    fn flush(&mut self) {
        if self.rebuild {
            for j in 0..self.levels[0].len() {
                self.levels[0][j] = self.parent_of_leaves(j);
            }
            for l in 1..self.levels.len() {
                let (below, above) = self.levels.split_at_mut(l);
                let below = &below[l - 1];
                for (j, n) in above[0].iter_mut().enumerate() {
                    *n = hash::node(&below[2 * j], &below[2 * j + 1]);
                }
            }
            self.rebuild = false;
            self.clear_dirty();
            return;
        }
        if self.dirty.is_empty() {
            return;
        }
        let mut indices: Vec<u64> = self.dirty.iter().map(|leaf| leaf >> 1).collect();
        self.clear_dirty();
        indices.sort_unstable();
        indices.dedup();
        for &j in &indices {
            self.levels[0][j as usize] = self.parent_of_leaves(j as usize);
        }
        for l in 1..self.levels.len() {
            for j in indices.iter_mut() {
                *j >>= 1;
            }
            indices.dedup();
            let (below, above) = self.levels.split_at_mut(l);
            let below = &below[l - 1];
            for &j in &indices {
                let j = j as usize;
                above[0][j] = hash::node(&below[2 * j], &below[2 * j + 1]);
            }
        }
    }

    /// The root of the memory tree.
    pub(crate) fn root(&mut self) -> Hash {
        self.flush();
        self.levels[self.levels.len() - 1][0]
    }

    /// The `depth` sibling hashes of leaf `index`, leaf level first.
    pub(crate) fn proof(&mut self, index: u64) -> Vec<Hash> {
        self.flush();
        let mut siblings = Vec::with_capacity(self.depth as usize);
        siblings.push(self.leaf(index ^ 1));
        for l in 1..self.depth {
            siblings.push(self.levels[l as usize - 1][((index >> l) ^ 1) as usize]);
        }
        siblings
    }
}

/// A public incremental Merkle tree over a memory image, with the machine's exact hash format
/// (32-byte raw leaves, `keccak256(left ‖ right)` nodes, depth `log2(len) - 5`). The executor
/// keeps one beside a fast engine so that a step-boundary memory root costs O(changed leaves ×
/// depth) instead of a 2^28-byte rehash.
#[derive(Clone, Debug)]
pub struct MemoryTree {
    memory: Memory,
}

impl MemoryTree {
    /// A tree over `bytes`; the length must be a power of two of at least 64 bytes. The nodes
    /// are built on the first [`MemoryTree::root`].
    pub fn new(bytes: Vec<u8>) -> Self {
        Self {
            memory: Memory::new(bytes),
        }
    }

    /// A tree over a copy of `bytes`.
    pub fn from_bytes(bytes: &[u8]) -> Self {
        Self::new(bytes.to_vec())
    }

    /// The tree's copy of the memory.
    pub fn bytes(&self) -> &[u8] {
        self.memory.bytes()
    }

    /// Size in bytes.
    pub fn len(&self) -> usize {
        self.memory.bytes().len()
    }

    /// Always false (a tree covers at least 64 bytes); here because `len` is.
    pub fn is_empty(&self) -> bool {
        self.memory.bytes().is_empty()
    }

    /// Writes `data` at `offset`, marking the leaves it covers dirty. Panics out of bounds.
    pub fn write(&mut self, offset: usize, data: &[u8]) {
        assert!(offset + data.len() <= self.len(), "write out of bounds");
        self.memory.write(offset as u64, data);
    }

    /// Brings `[offset, offset + len)` (widened to whole leaves) in line with the same range
    /// of `memory`, a whole memory of the tree's size, writing only the leaves whose bytes
    /// differ. Returns how many leaves changed. This is how a recorder follows an engine that
    /// owns its memory: the comparison is a memcmp, the hashing is done for changed leaves only.
    pub fn sync(&mut self, memory: &[u8], offset: usize, len: usize) -> usize {
        assert_eq!(
            memory.len(),
            self.len(),
            "sync from a memory of another size"
        );
        const LEAF: usize = LEAF_SIZE as usize;
        /// Bytes compared at once before looking at single leaves.
        const BLOCK: usize = 1024;
        let start = offset / LEAF * LEAF;
        let end = (offset + len).div_ceil(LEAF) * LEAF;
        assert!(end <= self.len(), "sync out of bounds");
        let mut changed = 0;
        let mut at = start;
        while at < end {
            let block_end = (at + BLOCK).min(end);
            if memory[at..block_end] != self.memory.bytes()[at..block_end] {
                for leaf in (at..block_end).step_by(LEAF) {
                    let new = &memory[leaf..leaf + LEAF];
                    if new != &self.memory.bytes()[leaf..leaf + LEAF] {
                        self.memory.write(leaf as u64, new);
                        changed += 1;
                    }
                }
            }
            at = block_end;
        }
        changed
    }

    /// The root of the memory tree (the `memoryRoot` of the machine state).
    pub fn root(&mut self) -> Hash {
        self.memory.root()
    }

    /// The bottom-up sibling hashes of the region `[offset, offset + 2^log2)` (aligned, at least
    /// one leaf): with the region's own root they give the memory root. This is what the oracle
    /// takes to place a request's input or an answer's output in a memory root.
    pub fn region_siblings(&mut self, offset: usize, log2: u8) -> Vec<Hash> {
        assert!(
            (5..=self.memory.size().trailing_zeros() as u8).contains(&log2)
                && offset.is_multiple_of(1 << log2)
                && offset + (1 << log2) <= self.len(),
            "region of 2^{log2} bytes at {offset:#x}"
        );
        self.memory.proof((offset / LEAF_SIZE as usize) as u64)[usize::from(log2) - 5..].to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full_root(bytes: &[u8]) -> Hash {
        Memory::new(bytes.to_vec()).root()
    }

    #[test]
    fn incremental_updates_equal_a_rebuild() {
        let mut m = Memory::new(vec![0; 1 << 12]);
        let mut x = 0x1234_5678_u64;
        for round in 0..200u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let addr = x % ((1 << 12) - 40);
            match round % 3 {
                0 => m.write(addr, &x.to_le_bytes()[..(round % 8 + 1) as usize]),
                1 => m.copy_within(addr, (addr * 7) % 4000, 33),
                _ => m.fill(addr, x as u8, 40),
            }
            if round % 5 == 0 {
                assert_eq!(m.root(), full_root(m.bytes()), "round {round}");
            }
        }
        let index = 77;
        let siblings = m.proof(index);
        assert_eq!(
            hash::root_from_path(&m.leaf(index), index, &siblings),
            m.root()
        );
    }

    #[test]
    fn many_dirty_leaves_fall_back_to_a_rebuild() {
        let mut m = Memory::new(vec![0; 1 << 10]);
        m.root();
        m.fill(0, 9, 1 << 10);
        assert!(m.rebuild);
        assert_eq!(m.root(), full_root(&[9; 1 << 10]));
    }

    #[test]
    fn tree_sync_writes_only_changed_leaves() {
        let mut base = vec![0u8; 1 << 12];
        base[100] = 7;
        let mut t = MemoryTree::from_bytes(&base);
        t.root();
        let mut next = base.clone();
        next[100] = 8;
        next[2000] = 1;
        next[4095] = 3;
        assert_eq!(t.sync(&next, 90, 5), 0, "outside the changed bytes' leaves");
        assert_eq!(t.sync(&next, 0, 1 << 12), 3);
        assert_eq!(t.bytes(), &next[..]);
        assert_eq!(t.root(), full_root(&next));
        t.write(5, &[1, 2, 3]);
        next[5..8].copy_from_slice(&[1, 2, 3]);
        assert_eq!(t.root(), full_root(&next));
    }
}
