//! One-step proofs (spec: "One-step proof bytes"): the writer on the machine and an
//! independent checker that uses only the proof bytes, split by instruction class like the
//! Solidity one-step prover (control, memory, math, variables).

mod control;
mod math;
mod memory;
mod reader;
mod step;
mod variables;
mod verify;
mod write;

pub use reader::ProofError;
pub use verify::verify_step;

use crate::opcode::{self as op, BranchImm, CallImm};
use crate::ops::numeric_arity;

/// The number of value-stack operands a proof lists for an instruction (top first). `entry` is
/// the immediate of the selected `TableEntry` of a `BranchTable`.
pub(crate) fn pop_count(opcode: u16, imm: u64, entry: Option<u64>) -> usize {
    match opcode {
        op::CALL => usize::from(CallImm::unpack(imm).params),
        op::DROP | op::LOCAL_SET | op::LOCAL_TEE | op::GLOBAL_SET | op::JUMP_IF_ZERO => 1,
        op::SELECT | op::MEMORY_COPY_CHUNK | op::MEMORY_FILL_CHUNK => 3,
        op::BRANCH | op::TABLE_ENTRY | op::RETURN => BranchImm::unpack(imm).popped(),
        op::BRANCH_IF => 1 + BranchImm::unpack(imm).popped(),
        op::BRANCH_TABLE => 1 + entry.map_or(0, |e| BranchImm::unpack(e).popped()),
        o if op::is_load(o) => 1,
        o if op::is_store(o) => 2,
        o if op::is_numeric(o) => numeric_arity(o) as usize,
        _ => 0,
    }
}
