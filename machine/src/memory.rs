//! Linear memory with its incremental Merkle tree (spec: "Memory"): 32-byte raw leaves, fixed
//! depth `memoryLog2 - 5`, internal nodes cached per level and updated lazily, O(depth) per
//! written leaf, when the root or a proof is asked for.

use rayon::prelude::*;

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
            bytes.len().is_power_of_two() && bytes.len() >= 64 && bytes.len() <= 1 << 32,
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

    /// Brings the cached nodes up to date.
    fn flush(&mut self) {
        if self.rebuild {
            self.rebuild_all();
            self.rebuild = false;
            self.clear_dirty();
            return;
        }
        if self.dirty.is_empty() {
            return;
        }
        let mut parents: Vec<u64> = self.dirty.iter().map(|leaf| leaf >> 1).collect();
        self.clear_dirty();
        parents.sort_unstable();
        parents.dedup();
        let mut levels: [&mut [Hash]; MAX_DEPTH] = Default::default();
        for (slot, level) in levels.iter_mut().zip(self.levels.iter_mut()) {
            *slot = level;
        }
        update_subtree(&self.bytes, &mut levels[..self.depth as usize], &parents, 0);
    }

    /// Recomputes every node, level by level, on all cores.
    fn rebuild_all(&mut self) {
        let leaves = &self.bytes;
        fill_nodes(&mut self.levels[0], |j| parent_of_leaves(leaves, j));
        for l in 1..self.levels.len() {
            let (below, above) = self.levels.split_at_mut(l);
            let below = &below[l - 1];
            fill_nodes(&mut above[0], |j| parent_of_nodes(below, j));
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

/// The deepest tree: a 2^32-byte memory has 2^27 leaves.
const MAX_DEPTH: usize = 27;

/// Dirty level-1 nodes below which a subtree is updated on one thread: handing half of the
/// work to the other core costs about as much as hashing a few nodes.
const PARALLEL_MIN_NODES: usize = 8;

/// Brings up to date the nodes of one subtree above its dirty level-1 nodes, splitting the
/// work between both halves on the rayon pool when called from it (a step recorder runs
/// there, between two steps whose kernels use both cores). `levels[0]` holds the subtree's
/// level-1 nodes and each next slice the level above, the last being the subtree's root;
/// `leaves` are the subtree's bytes; `dirty` its dirty level-1 nodes as absolute indices,
/// sorted and distinct, and `base` the absolute index of `levels[0][0]`.
fn update_subtree(leaves: &[u8], levels: &mut [&mut [Hash]], dirty: &[u64], base: u64) {
    if levels.len() < 2
        || dirty.len() < PARALLEL_MIN_NODES
        || rayon::current_thread_index().is_none()
    {
        update_serial(leaves, levels, dirty, base);
        return;
    }
    let half = levels[0].len() / 2;
    let right_base = base + half as u64;
    let (left_dirty, right_dirty) = dirty.split_at(dirty.partition_point(|&j| j < right_base));
    let (left_leaves, right_leaves) = leaves.split_at(leaves.len() / 2);
    let (top, below) = levels.split_last_mut().expect("at least two levels");
    let mut left: [&mut [Hash]; MAX_DEPTH] = Default::default();
    let mut right: [&mut [Hash]; MAX_DEPTH] = Default::default();
    for (i, level) in below.iter_mut().enumerate() {
        let level = std::mem::take(level);
        let mid = level.len() / 2;
        (left[i], right[i]) = level.split_at_mut(mid);
    }
    let n = below.len();
    let (left, right) = (&mut left[..n], &mut right[..n]);
    if right_dirty.is_empty() {
        update_subtree(left_leaves, left, left_dirty, base);
    } else if left_dirty.is_empty() {
        update_subtree(right_leaves, right, right_dirty, right_base);
    } else {
        rayon::join(
            || update_subtree(left_leaves, left, left_dirty, base),
            || update_subtree(right_leaves, right, right_dirty, right_base),
        );
    }
    top[0] = hash::node(&left[n - 1][0], &right[n - 1][0]);
}

/// [`update_subtree`] on the calling thread: the dirty nodes' parents level by level.
fn update_serial(leaves: &[u8], levels: &mut [&mut [Hash]], dirty: &[u64], base: u64) {
    let mut indices: Vec<usize> = dirty.iter().map(|&j| (j - base) as usize).collect();
    prefetch_paths(levels, &indices);
    for &j in &indices {
        levels[0][j] = parent_of_leaves(leaves, j);
    }
    for l in 1..levels.len() {
        for j in indices.iter_mut() {
            *j >>= 1;
        }
        indices.dedup();
        let (below, above) = levels.split_at_mut(l);
        let below = &below[l - 1];
        for &j in &indices {
            above[0][j] = parent_of_nodes(below, j);
        }
    }
}

/// The parent of leaves `2j` and `2j + 1`.
fn parent_of_leaves(leaves: &[u8], j: usize) -> Hash {
    hash::keccak(&[&leaves[64 * j..64 * j + 64]])
}

/// The parent of nodes `2j` and `2j + 1` of a level.
fn parent_of_nodes(level: &[Hash], j: usize) -> Hash {
    hash::node(&level[2 * j], &level[2 * j + 1])
}

/// Asks the cache for every node [`update_serial`] will read or write above the level-1 nodes
/// `first` (sorted), before it starts: the paths of a step's few dirty clusters cross levels of
/// megabytes that the engine's step has evicted, and the misses overlap when asked at once.
fn prefetch_paths(levels: &[&mut [Hash]], first: &[usize]) {
    #[cfg(target_arch = "x86_64")]
    for (l, level) in levels.iter().enumerate() {
        let mut last = usize::MAX;
        for &j in first {
            // The pair that holds node `j` of this level and its sibling.
            let pair = (j >> l) & !1;
            if pair != last && pair < level.len() {
                last = pair;
                let at = level[pair..].as_ptr().cast::<i8>();
                // SAFETY: a prefetch reads nothing into the program and cannot fault; the
                // addresses are computed without dereferencing.
                unsafe {
                    std::arch::x86_64::_mm_prefetch(at, std::arch::x86_64::_MM_HINT_T0);
                    std::arch::x86_64::_mm_prefetch(
                        at.wrapping_add(63),
                        std::arch::x86_64::_MM_HINT_T0,
                    );
                }
            }
        }
    }
}

/// Sets `out[j] = node(j)` for every `j`, on all cores when `out` is large.
fn fill_nodes(out: &mut [Hash], node: impl Fn(usize) -> Hash + Sync) {
    const CHUNK: usize = 1 << 12;
    if out.len() <= CHUNK {
        for (j, n) in out.iter_mut().enumerate() {
            *n = node(j);
        }
        return;
    }
    out.par_chunks_mut(CHUNK)
        .enumerate()
        .for_each(|(c, chunk)| {
            for (i, n) in chunk.iter_mut().enumerate() {
                *n = node(c * CHUNK + i);
            }
        });
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
        /// Ranges from which the blocks are compared on all cores (a whole memory, when a
        /// trace starts from a recycled tree: a 2^28-byte memcmp is ~20 ms on one core).
        const PARALLEL_BYTES: usize = 1 << 22;
        if end - start >= PARALLEL_BYTES {
            let old = &self.memory.bytes()[start..end];
            let differing: Vec<usize> = memory[start..end]
                .par_chunks(BLOCK)
                .zip(old.par_chunks(BLOCK))
                .enumerate()
                .filter_map(|(i, (new, old))| (new != old).then_some(start + i * BLOCK))
                .collect();
            return differing
                .into_iter()
                .map(|at| self.write_changed_leaves(memory, at, (at + BLOCK).min(end)))
                .sum();
        }
        let mut changed = 0;
        let mut at = start;
        while at < end {
            let block_end = (at + BLOCK).min(end);
            if memory[at..block_end] != self.memory.bytes()[at..block_end] {
                changed += self.write_changed_leaves(memory, at, block_end);
            }
            at = block_end;
        }
        changed
    }

    /// Writes the leaves of `[from, to)` (whole leaves) whose bytes in `memory` differ;
    /// returns how many.
    fn write_changed_leaves(&mut self, memory: &[u8], from: usize, to: usize) -> usize {
        const LEAF: usize = LEAF_SIZE as usize;
        let mut changed = 0;
        for leaf in (from..to).step_by(LEAF) {
            let new = &memory[leaf..leaf + LEAF];
            if new != &self.memory.bytes()[leaf..leaf + LEAF] {
                self.memory.write(leaf as u64, new);
                changed += 1;
            }
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

    /// The root recomputed from scratch, level by level, without the cached tree.
    fn reference_root(bytes: &[u8]) -> Hash {
        let mut level: Vec<Hash> = bytes.chunks(64).map(|pair| hash::keccak(&[pair])).collect();
        while level.len() > 1 {
            level = level.chunks(2).map(|p| hash::node(&p[0], &p[1])).collect();
        }
        level[0]
    }

    #[test]
    fn updates_split_over_the_pool_equal_a_recomputation() {
        let size = 1 << 16;
        let mut m = Memory::new(vec![0; size]);
        let mut x = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        rayon::scope(|_| {
            assert!(rayon::current_thread_index().is_some(), "on a pool worker");
            assert_eq!(m.root(), reference_root(m.bytes()));
            for round in 0..40 {
                // A few clusters of up to 300 bytes each and some lone bytes: enough dirty
                // nodes for the split, in places that share a subtree or not.
                for _ in 0..1 + round % 4 {
                    let len = 1 + next() % 300;
                    let addr = next() % (size as u64 - len);
                    let data: Vec<u8> = (0..len).map(|_| next() as u8).collect();
                    m.write(addr, &data);
                }
                for _ in 0..round % 3 {
                    m.write(next() % size as u64, &[next() as u8]);
                }
                assert_eq!(m.root(), reference_root(m.bytes()), "round {round}");
            }
            let index = 1234;
            assert_eq!(
                hash::root_from_path(&m.leaf(index), index, &m.proof(index)),
                m.root()
            );
        });
    }

    #[test]
    fn a_rebuild_on_all_cores_equals_a_recomputation() {
        let bytes: Vec<u8> = (0..1u32 << 20)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        assert_eq!(Memory::new(bytes.clone()).root(), reference_root(&bytes));
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
        // A range large enough to be compared on all cores.
        let mut big = MemoryTree::new(vec![0; 1 << 23]);
        big.root();
        let mut target = vec![0u8; 1 << 23];
        for at in [5, 1 << 12, (1 << 22) + 7, (1 << 23) - 1] {
            target[at] = 0xa5;
        }
        target[3000..3100].fill(1);
        assert_eq!(big.sync(&target, 0, 1 << 23), 4 + 4);
        assert_eq!(big.bytes(), &target[..]);
        assert_eq!(big.root(), full_root(&target));
        t.write(5, &[1, 2, 3]);
        next[5..8].copy_from_slice(&[1, 2, 3]);
        assert_eq!(t.root(), full_root(&next));
    }
}
