//! The layer-trace commitment: a binary Merkle tree over the step-boundary memory roots
//! `m_0..m_N`, zero-padded to a power of two (docs/architecture.md, "Data flow", step 3).
//! The executor submits its root and opens nodes and leaves of it in level 1 of a dispute; a
//! challenger compares another party's nodes with what its own run expects of them
//! ([`LayerTrace::expectation`]).

use veritrace_machine::hash::node;

use crate::Hash;

/// Why a trace cannot be committed to.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TraceError {
    /// A trace needs at least the initial and the final state.
    #[error("a layer trace needs at least 2 boundary states, got {0}")]
    TooShort(usize),
    /// A node or leaf outside the tree was asked for.
    #[error("node {index} at height {height} is outside a tree of depth {depth}")]
    OutOfRange {
        /// Index of the node at its height.
        index: u64,
        /// Height of the node above the leaves.
        height: u8,
        /// Depth of the tree.
        depth: u8,
    },
}

/// A committed layer trace with every level of its tree kept, so that any path or node can
/// be opened without rehashing.
#[derive(Debug, Clone)]
pub struct LayerTrace {
    /// `levels[0]` are the padded leaves, `levels[depth]` is `[root]`.
    levels: Vec<Vec<Hash>>,
    step_count: u64,
}

impl LayerTrace {
    /// Commits to the boundary memory roots `m_0..m_N` (N = `leaves.len() - 1` layer steps).
    pub fn new(leaves: Vec<Hash>) -> Result<Self, TraceError> {
        if leaves.len() < 2 {
            return Err(TraceError::TooShort(leaves.len()));
        }
        let depth = trace_depth(leaves.len() as u64 - 1);
        Ok(Self::with_depth(leaves, depth))
    }

    /// The tree over `leaves` (at least 2, at most `2^depth`) zero-padded to depth `depth`.
    fn with_depth(leaves: Vec<Hash>, depth: u8) -> Self {
        let step_count = leaves.len() as u64 - 1;
        let mut level = leaves;
        level.resize(1usize << depth, [0u8; 32]);
        let mut levels = vec![level];
        for _ in 0..depth {
            let below = levels.last().expect("at least the leaves");
            let above = below
                .chunks_exact(2)
                .map(|pair| node(&pair[0], &pair[1]))
                .collect();
            levels.push(above);
        }
        Self { levels, step_count }
    }

    /// This trace with leaf `index` (past N, inside the tree) set to `value`: a tree whose
    /// padding is not zero, which the oracle refuses (`NonZeroPadding`). Forged traces only.
    pub fn with_padding_leaf(&self, index: u64, value: Hash) -> Result<Self, TraceError> {
        let width = self.levels[0].len() as u64;
        if index <= self.step_count || index >= width {
            return Err(TraceError::OutOfRange {
                index,
                height: 0,
                depth: self.depth(),
            });
        }
        let mut leaves = self.levels[0].clone();
        leaves[index as usize] = value;
        let mut forged = Self::with_depth(leaves, self.depth());
        forged.step_count = self.step_count;
        Ok(forged)
    }

    /// What this trace (an honest run) expects of the tree of an answer that claims
    /// `claimed_steps` steps: the contract pins that tree's depth, its leaf 0 and its zero
    /// padding past `claimed_steps`, so every node over leaves this run also has is known, and
    /// a node over a leaf past this run's own N can only be a lie (no step follows a finished
    /// run).
    pub fn expectation(&self, claimed_steps: u64) -> Expectation {
        let shared = self.step_count.min(claimed_steps) as usize;
        Expectation {
            tree: Self::with_depth(
                self.levels[0][..=shared].to_vec(),
                trace_depth(claimed_steps),
            ),
            own_steps: self.step_count,
            claimed_steps,
        }
    }

    /// N, the number of layer steps.
    pub fn step_count(&self) -> u64 {
        self.step_count
    }

    /// Depth of the tree: `max(1, ceil(log2(N + 1)))`, as the oracle computes it.
    pub fn depth(&self) -> u8 {
        (self.levels.len() - 1) as u8
    }

    /// The root submitted to the oracle.
    pub fn root(&self) -> Hash {
        self.levels[self.levels.len() - 1][0]
    }

    /// Boundary hash `h_i` (zero past N).
    pub fn leaf(&self, index: u64) -> Result<Hash, TraceError> {
        self.node(index, 0)
    }

    /// The node at `index` among the nodes `height` levels above the leaves.
    pub fn node(&self, index: u64, height: u8) -> Result<Hash, TraceError> {
        self.levels
            .get(height as usize)
            .and_then(|level| level.get(index as usize))
            .copied()
            .ok_or(TraceError::OutOfRange {
                index,
                height,
                depth: self.depth(),
            })
    }

    /// Bottom-up sibling path of leaf `index`, as `Merkle.rootFromPath` expects.
    pub fn path(&self, index: u64) -> Result<Vec<Hash>, TraceError> {
        self.leaf(index)?;
        Ok((0..self.depth())
            .map(|height| self.levels[height as usize][((index >> height) ^ 1) as usize])
            .collect())
    }

    /// The `2^levels` nodes `levels` below node (`index`, `height`), left to right: what the
    /// executor reveals in one level-1 round.
    pub fn descendants(&self, index: u64, height: u8, levels: u8) -> Result<Vec<Hash>, TraceError> {
        self.node(index, height)?;
        if levels > height {
            return Err(TraceError::OutOfRange {
                index,
                height: height - levels,
                depth: self.depth(),
            });
        }
        let child_height = height - levels;
        let first = index << levels;
        (first..first + (1u64 << levels))
            .map(|i| self.node(i, child_height))
            .collect()
    }
}

/// An honest run's view of another party's trace tree ([`LayerTrace::expectation`]).
#[derive(Debug, Clone)]
pub struct Expectation {
    /// The honest leaves up to `min(own, claimed)` steps, zero-padded at the claim's depth.
    tree: LayerTrace,
    own_steps: u64,
    claimed_steps: u64,
}

impl Expectation {
    /// The node the honest run expects at (`index`, `height`) of the claimed tree, or `None`
    /// when the node covers a leaf past the honest N and within the claim (no honest value
    /// exists: any value there is a lie).
    pub fn node(&self, index: u64, height: u8) -> Result<Option<Hash>, TraceError> {
        let first = u128::from(index) << height;
        let last = first + (1u128 << height) - 1;
        let own = u128::from(self.own_steps);
        let claimed = u128::from(self.claimed_steps);
        if last > own && first <= claimed && own < claimed {
            let _ = self.tree.node(index, height)?; // still inside the claimed tree
            return Ok(None);
        }
        self.tree.node(index, height).map(Some)
    }

    /// The root the honest run expects of the claim, `None` when the claim has more steps than
    /// the honest run (then leaf N + 1 of the honest run is disputable whatever the root).
    pub fn root(&self) -> Option<Hash> {
        (self.claimed_steps <= self.own_steps).then(|| self.tree.root())
    }

    /// The `2^levels` expected nodes `levels` below node (`index`, `height`), left to right.
    pub fn descendants(
        &self,
        index: u64,
        height: u8,
        levels: u8,
    ) -> Result<Vec<Option<Hash>>, TraceError> {
        self.tree.descendants(index, height, levels)?;
        let child_height = height - levels;
        let first = index << levels;
        (first..first + (1u64 << levels))
            .map(|i| self.node(i, child_height))
            .collect()
    }
}

/// Depth of the trace tree over N + 1 leaves: `max(1, ceil(log2(N + 1)))`.
pub fn trace_depth(step_count: u64) -> u8 {
    let leaves = step_count as u128 + 1;
    let mut depth = 1u8;
    while (1u128 << depth) < leaves {
        depth += 1;
    }
    depth
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use veritrace_machine::hash::root_from_path;

    use super::*;

    fn leaves(n: usize, salt: u8) -> Vec<Hash> {
        (0..n)
            .map(|i| node(&[salt; 32], &[(i % 251) as u8; 32]))
            .collect()
    }

    #[test]
    fn depth_matches_the_contract() {
        assert_eq!(trace_depth(1), 1); // 2 leaves
        assert_eq!(trace_depth(2), 2); // 3 leaves
        assert_eq!(trace_depth(3), 2);
        assert_eq!(trace_depth(4), 3);
        assert_eq!(trace_depth(8191), 13); // 8192 leaves
        assert_eq!(trace_depth(8192), 14);
    }

    #[test]
    fn too_short_and_out_of_range_are_errors() {
        assert_eq!(
            LayerTrace::new(vec![[1; 32]]).unwrap_err(),
            TraceError::TooShort(1)
        );
        let trace = LayerTrace::new(leaves(5, 0)).unwrap();
        assert!(trace.leaf(8).is_err());
        assert!(trace.path(8).is_err());
        assert!(trace.descendants(0, 3, 4).is_err());
    }

    #[test]
    fn padding_is_zero_and_two_leaves_hash_directly() {
        let l = leaves(2, 7);
        let trace = LayerTrace::new(l.clone()).unwrap();
        assert_eq!(trace.root(), node(&l[0], &l[1]));
        let trace = LayerTrace::new(leaves(3, 7)).unwrap();
        assert_eq!(trace.leaf(3).unwrap(), [0; 32]);
    }

    proptest! {
        #[test]
        fn every_path_leads_to_the_root(n in 2usize..300, salt: u8) {
            let trace = LayerTrace::new(leaves(n, salt)).unwrap();
            for i in 0..n as u64 {
                let path = trace.path(i).unwrap();
                prop_assert_eq!(path.len(), trace.depth() as usize);
                prop_assert_eq!(root_from_path(&trace.leaf(i).unwrap(), i, &path), trace.root());
            }
        }

        #[test]
        fn descendants_hash_up_to_their_node(n in 2usize..300, salt: u8, levels in 1u8..6) {
            let trace = LayerTrace::new(leaves(n, salt)).unwrap();
            let height = trace.depth();
            let levels = levels.min(height);
            let mut nodes = trace.descendants(0, height, levels).unwrap();
            prop_assert_eq!(nodes.len(), 1 << levels);
            while nodes.len() > 1 {
                nodes = nodes.chunks_exact(2).map(|p| node(&p[0], &p[1])).collect();
            }
            prop_assert_eq!(nodes[0], trace.root());
        }
    }
}
