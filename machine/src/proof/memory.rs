//! Checker: loads, stores and the bulk-memory chunks (`executeMemory`).

use crate::hash::{self, Hash, StateFields};
use crate::opcode::{self as op, Instruction, access_width};
use crate::semantics::{self, Chunk};

use super::reader::ProofError;
use super::step::Step;

const LEAF: u64 = 32;

/// Reads a leaf and its path and checks them against `root`; returns the leaf and siblings.
fn read_leaf(
    step: &mut Step<'_, '_>,
    index: u64,
    root: &Hash,
) -> Result<(Hash, Vec<Hash>), ProofError> {
    let leaf = step.reader.b32()?;
    let siblings = step.reader.hashes(usize::from(step.memory_log2 - 5))?;
    if hash::root_from_path(&leaf, index, &siblings) != *root {
        return Err(ProofError::BadMemoryProof);
    }
    Ok((leaf, siblings))
}

/// Executes a memory instruction on the proven state.
pub(super) fn execute_memory(
    step: &mut Step<'_, '_>,
    pre: &StateFields,
    ins: Instruction,
) -> Result<(), ProofError> {
    step.post.pc = pre.pc.wrapping_add(1);
    match ins.opcode {
        op::MEMORY_COPY_CHUNK => execute_copy_chunk(step, pre),
        op::MEMORY_FILL_CHUNK => execute_fill_chunk(step, pre),
        o if op::is_load(o) => execute_load(step, pre, ins),
        _ => execute_store(step, pre, ins),
    }
}

fn execute_load(
    step: &mut Step<'_, '_>,
    pre: &StateFields,
    ins: Instruction,
) -> Result<(), ProofError> {
    let width = access_width(ins.opcode);
    let addr = step.stack.pop();
    let Ok(ea) = semantics::effective_address(addr, ins.imm, width, 1 << step.memory_log2) else {
        step.trap(pre);
        return Ok(());
    };
    let (first, last) = (ea / LEAF, (ea + width - 1) / LEAF);
    let mut bytes = read_leaf(step, first, &pre.memory_root)?.0.to_vec();
    if last != first {
        bytes.extend(read_leaf(step, last, &pre.memory_root)?.0);
    }
    let start = (ea % LEAF) as usize;
    step.stack.push(semantics::load_value(
        ins.opcode,
        &bytes[start..start + width as usize],
    ));
    Ok(())
}

fn execute_store(
    step: &mut Step<'_, '_>,
    pre: &StateFields,
    ins: Instruction,
) -> Result<(), ProofError> {
    let width = access_width(ins.opcode);
    let value = step.stack.pop();
    let addr = step.stack.pop();
    let Ok(ea) = semantics::effective_address(addr, ins.imm, width, 1 << step.memory_log2) else {
        step.trap(pre);
        return Ok(());
    };
    let bytes = value.to_le_bytes();
    let (first, last) = (ea / LEAF, (ea + width - 1) / LEAF);
    let start = (ea % LEAF) as usize;
    let in_first = (width as usize).min(32 - start);
    let (mut leaf, siblings) = read_leaf(step, first, &pre.memory_root)?;
    leaf[start..start + in_first].copy_from_slice(&bytes[..in_first]);
    let mut root = hash::root_from_path(&leaf, first, &siblings);
    if last != first {
        let (mut leaf, siblings) = read_leaf(step, last, &root)?;
        leaf[..width as usize - in_first].copy_from_slice(&bytes[in_first..width as usize]);
        root = hash::root_from_path(&leaf, last, &siblings);
    }
    step.post.memory_root = root;
    Ok(())
}

/// Pops `dst, x, n`, plans a chunk with `plan`, and leaves the stack and pc as the spec says.
fn pop_chunk_operands(
    step: &mut Step<'_, '_>,
    pre: &StateFields,
    plan: fn(u64, u64, u64, u64) -> Result<Option<Chunk>, semantics::Trap>,
) -> Option<Chunk> {
    let n = step.stack.pop();
    let x = step.stack.pop();
    let dst = step.stack.pop();
    match plan(dst, x, n, 1 << step.memory_log2) {
        Err(_) => {
            step.trap(pre);
            None
        }
        Ok(None) => None,
        Ok(Some(c)) => {
            c.next.iter().for_each(|v| step.stack.push(*v));
            step.post.pc = pre.pc;
            Some(c)
        }
    }
}

fn execute_copy_chunk(step: &mut Step<'_, '_>, pre: &StateFields) -> Result<(), ProofError> {
    let Some(c) = pop_chunk_operands(step, pre, semantics::copy_chunk) else {
        return Ok(());
    };
    let (src_leaf, _) = read_leaf(step, c.src / LEAF, &pre.memory_root)?;
    let (mut dst_leaf, siblings) = read_leaf(step, c.dst / LEAF, &pre.memory_root)?;
    let (s, d, k) = (
        (c.src % LEAF) as usize,
        (c.dst % LEAF) as usize,
        c.len as usize,
    );
    dst_leaf[d..d + k].copy_from_slice(&src_leaf[s..s + k]);
    step.post.memory_root = hash::root_from_path(&dst_leaf, c.dst / LEAF, &siblings);
    Ok(())
}

fn execute_fill_chunk(step: &mut Step<'_, '_>, pre: &StateFields) -> Result<(), ProofError> {
    let Some(c) = pop_chunk_operands(step, pre, semantics::fill_chunk) else {
        return Ok(());
    };
    let (mut leaf, siblings) = read_leaf(step, c.dst / LEAF, &pre.memory_root)?;
    let d = (c.dst % LEAF) as usize;
    leaf[d..d + c.len as usize].fill(c.src as u8);
    step.post.memory_root = hash::root_from_path(&leaf, c.dst / LEAF, &siblings);
    Ok(())
}
