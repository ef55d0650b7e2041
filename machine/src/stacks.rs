//! The value stack and the saved-frame stack, each with its hash chain cached: the chain is
//! extended lazily up to the current top when a hash is asked for.

use crate::hash::{self, Hash, ZERO};
use crate::locals::Locals;

/// The value stack and its chain `push v = keccak256("Value:" ‖ prev ‖ uint64 v)`.
#[derive(Clone, Debug, Default)]
pub(crate) struct ValueStack {
    values: Vec<u64>,
    /// `chain[i]` is the hash of `values[..=i]`, valid for `i < hashed`.
    chain: Vec<Hash>,
    hashed: usize,
}

impl ValueStack {
    /// The values, bottom first.
    pub(crate) fn values(&self) -> &[u64] {
        &self.values
    }

    /// Number of values.
    pub(crate) fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether the stack is empty.
    pub(crate) fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Pushes `v`.
    pub(crate) fn push(&mut self, v: u64) {
        self.values.push(v);
    }

    /// Pops the top (the flattener guarantees it exists).
    pub(crate) fn pop(&mut self) -> u64 {
        let v = self
            .values
            .pop()
            .expect("value stack underflow: the flattener guarantees heights");
        self.hashed = self.hashed.min(self.values.len());
        v
    }

    /// The value `depth` below the top (0 = top).
    pub(crate) fn peek(&self, depth: usize) -> u64 {
        self.values[self.values.len() - 1 - depth]
    }

    /// Removes `drop` values below the top `keep` ones.
    pub(crate) fn keep_drop(&mut self, keep: usize, drop: usize) {
        let len = self.values.len();
        self.values.copy_within(len - keep..len, len - keep - drop);
        self.values.truncate(len - drop);
        self.hashed = self.hashed.min(len - keep - drop);
    }

    /// The chain hash of the bottom `len` values.
    pub(crate) fn hash_of_bottom(&mut self, len: usize) -> Hash {
        self.chain.truncate(self.hashed);
        while self.chain.len() < self.values.len() {
            let prev = self.chain.last().copied().unwrap_or(ZERO);
            self.chain
                .push(hash::value_push(&prev, self.values[self.chain.len()]));
        }
        self.hashed = self.values.len();
        if len == 0 { ZERO } else { self.chain[len - 1] }
    }

    /// The chain hash of the whole stack.
    pub(crate) fn hash(&mut self) -> Hash {
        self.hash_of_bottom(self.values.len())
    }
}

/// A frame: its return address and its locals.
#[derive(Clone, Debug)]
pub(crate) struct Frame {
    /// Where `Return` continues.
    pub(crate) return_pc: u32,
    /// The frame's locals.
    pub(crate) locals: Locals,
}

impl Frame {
    /// The frame of the boundary state: return pc 0, one zero local at depth 0.
    pub(crate) fn boundary() -> Self {
        Self {
            return_pc: 0,
            locals: Locals::new(0, &[]),
        }
    }

    /// Whether this is the boundary state's frame.
    pub(crate) fn is_boundary(&self) -> bool {
        self.return_pc == 0 && self.locals.depth() == 0 && self.locals.get(0) == 0
    }
}

/// The saved caller frames and their chain
/// `push = keccak256("Frame:" ‖ prev ‖ uint32 returnPc ‖ uint8 localsDepth ‖ localsRoot)`.
#[derive(Clone, Debug, Default)]
pub(crate) struct FrameStack {
    frames: Vec<Frame>,
    chain: Vec<Hash>,
    hashed: usize,
}

impl FrameStack {
    /// Number of saved frames.
    pub(crate) fn len(&self) -> usize {
        self.frames.len()
    }

    /// Whether no frame is saved.
    pub(crate) fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// Saves a frame.
    pub(crate) fn push(&mut self, frame: Frame) {
        self.frames.push(frame);
    }

    /// Restores the top frame, if any.
    pub(crate) fn pop(&mut self) -> Option<Frame> {
        let f = self.frames.pop();
        self.hashed = self.hashed.min(self.frames.len());
        f
    }

    /// The top saved frame.
    pub(crate) fn top_mut(&mut self) -> Option<&mut Frame> {
        self.frames.last_mut()
    }

    /// The chain hash of the bottom `len` frames.
    pub(crate) fn hash_of_bottom(&mut self, len: usize) -> Hash {
        self.chain.truncate(self.hashed);
        while self.chain.len() < self.frames.len() {
            let prev = self.chain.last().copied().unwrap_or(ZERO);
            let f = &mut self.frames[self.chain.len()];
            let root = f.locals.root();
            self.chain.push(hash::frame_push(
                &prev,
                f.return_pc,
                f.locals.depth(),
                &root,
            ));
        }
        self.hashed = self.frames.len();
        if len == 0 { ZERO } else { self.chain[len - 1] }
    }

    /// The chain hash of all saved frames.
    pub(crate) fn hash(&mut self) -> Hash {
        self.hash_of_bottom(self.frames.len())
    }
}
