//! The state a one-step proof works on: the proven part of the value stack and the step under
//! construction (Solidity keeps both in `MachineState.sol`: `ValueStack` and `Step`).

use crate::hash::{self, Hash, STATUS_TRAPPED, StateFields};

use super::reader::Reader;

/// The proven part of the value stack: the rest hash and the operands above it, bottom first.
#[derive(Debug)]
pub(super) struct ProofStack {
    pub(super) rest: Hash,
    pub(super) values: Vec<u64>,
}

impl ProofStack {
    pub(super) fn pop(&mut self) -> u64 {
        self.values.pop().expect("pop count covers every pop")
    }

    pub(super) fn push(&mut self, v: u64) {
        self.values.push(v);
    }

    pub(super) fn peek(&self, depth: usize) -> u64 {
        self.values[self.values.len() - 1 - depth]
    }

    /// Removes `drop` values below the top `keep` ones.
    pub(super) fn keep_drop(&mut self, keep: usize, drop: usize) {
        let kept = self.values.split_off(self.values.len() - keep);
        self.values.truncate(self.values.len() - drop);
        self.values.extend(kept);
    }

    pub(super) fn hash(&self) -> Hash {
        self.values
            .iter()
            .fold(self.rest, |prev, v| hash::value_push(&prev, *v))
    }
}

/// What the class checkers work on: the reader, the post-state under construction, the stack.
#[derive(Debug)]
pub(super) struct Step<'a, 'r> {
    pub(super) reader: &'r mut Reader<'a>,
    pub(super) post: StateFields,
    pub(super) stack: ProofStack,
    pub(super) memory_log2: u8,
}

impl Step<'_, '_> {
    /// The post-state of a trap: the pre-state with status 1.
    pub(super) fn trap(&mut self, pre: &StateFields) {
        self.post = StateFields {
            status: STATUS_TRAPPED,
            ..*pre
        };
    }
}
