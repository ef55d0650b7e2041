//! A frame's locals and their Merkle tree (spec: "Locals tree"): depth `d`, leaf `i` =
//! `bytes32(uint256(v_i))`, built when first hashed and then updated in O(d) per write.

use crate::hash::{self, Hash};

/// The locals of one frame: `2^depth` values and their lazily maintained tree.
#[derive(Clone, Debug)]
pub(crate) struct Locals {
    depth: u8,
    values: Vec<u64>,
    /// Heap layout: node 1 is the root, leaves at `2^depth + i`; empty until first hashed.
    nodes: Vec<Hash>,
    dirty: Vec<usize>,
    /// `is_dirty[i]` when `i` is in `dirty`: a local written a million times between two
    /// hashes is rehashed once.
    is_dirty: Vec<bool>,
}

impl Locals {
    /// `2^depth` locals, the first ones set to `params`, the rest zero.
    pub(crate) fn new(depth: u8, params: &[u64]) -> Self {
        let mut values = vec![0; 1 << depth];
        values[..params.len()].copy_from_slice(params);
        Self {
            depth,
            is_dirty: vec![false; values.len()],
            values,
            nodes: Vec::new(),
            dirty: Vec::new(),
        }
    }

    /// The tree's depth.
    pub(crate) fn depth(&self) -> u8 {
        self.depth
    }

    /// Local `i`.
    pub(crate) fn get(&self, i: usize) -> u64 {
        self.values[i]
    }

    /// Sets local `i`.
    pub(crate) fn set(&mut self, i: usize, v: u64) {
        self.values[i] = v;
        if !self.nodes.is_empty() && !self.is_dirty[i] {
            self.is_dirty[i] = true;
            self.dirty.push(i);
        }
    }

    fn flush(&mut self) {
        let width = 1usize << self.depth;
        if self.nodes.is_empty() {
            self.nodes = vec![hash::ZERO; 2 * width];
            for (i, v) in self.values.iter().enumerate() {
                self.nodes[width + i] = hash::u64_leaf(*v);
            }
            for n in (1..width).rev() {
                self.nodes[n] = hash::node(&self.nodes[2 * n], &self.nodes[2 * n + 1]);
            }
            return;
        }
        let mut level: Vec<usize> = std::mem::take(&mut self.dirty);
        for &i in &level {
            self.is_dirty[i] = false;
            self.nodes[width + i] = hash::u64_leaf(self.values[i]);
        }
        // Parents level by level, each once.
        for n in level.iter_mut() {
            *n += width;
        }
        while !level.is_empty() && level[0] > 1 {
            for n in level.iter_mut() {
                *n >>= 1;
            }
            level.sort_unstable();
            level.dedup();
            for &n in &level {
                self.nodes[n] = hash::node(&self.nodes[2 * n], &self.nodes[2 * n + 1]);
            }
        }
    }

    /// The root of the locals tree (leaf 0 itself at depth 0).
    pub(crate) fn root(&mut self) -> Hash {
        self.flush();
        self.nodes[1]
    }

    /// The `depth` sibling hashes of local `i`, leaf level first.
    pub(crate) fn proof(&mut self, i: usize) -> Vec<Hash> {
        self.flush();
        let mut n = (1usize << self.depth) + i;
        let mut siblings = Vec::with_capacity(usize::from(self.depth));
        while n > 1 {
            siblings.push(self.nodes[n ^ 1]);
            n >>= 1;
        }
        siblings
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incremental_locals_root_equals_a_fresh_tree() {
        let mut l = Locals::new(3, &[5, 6]);
        l.root();
        l.set(7, 42);
        l.set(0, 1);
        let fresh = Locals::new(3, &[1, 6, 0, 0, 0, 0, 0, 42]).root();
        assert_eq!(l.root(), fresh);
        let siblings = l.proof(7);
        assert_eq!(
            hash::root_from_path(&hash::u64_leaf(42), 7, &siblings),
            fresh
        );
        let mut single = Locals::new(0, &[9]);
        assert_eq!(single.root(), hash::u64_leaf(9));
    }
}
