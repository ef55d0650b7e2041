//! The entry of the proof checker: pre-state, instruction and code proof, value-stack operands,
//! then routing by opcode class. Uses only the proof bytes.

use crate::hash::{self, Hash, STATUS_RUNNING, STATUS_STEP_END, STATUS_TRAPPED};
use crate::opcode::{self as op, Instruction};

use super::reader::{ProofError, Reader};
use super::step::{ProofStack, Step};
use super::{control, math, memory, pop_count, variables};

/// Reads `(opcode, imm, d, siblings)` without checking it (`OneStepProver.skipInstruction`).
fn skip_instruction(r: &mut Reader<'_>) -> Result<(Instruction, Vec<Hash>), ProofError> {
    let opcode = r.u16()?;
    let imm = r.u64()?;
    let depth = r.u8()?;
    Ok((Instruction::new(opcode, imm), r.hashes(usize::from(depth))?))
}

/// Reads `(opcode, imm, d, siblings)` and checks it is instruction `pc` of the program with
/// root `program_root` (`OneStepProver.readInstruction`).
fn read_instruction(
    r: &mut Reader<'_>,
    program_root: &Hash,
    pc: u64,
) -> Result<Instruction, ProofError> {
    let (ins, siblings) = skip_instruction(r)?;
    check_code(program_root, pc, &ins, &siblings)?;
    Ok(ins)
}

/// Checks that `ins` is instruction `pc` of the program with root `program_root`.
fn check_code(
    program_root: &Hash,
    pc: u64,
    ins: &Instruction,
    siblings: &[Hash],
) -> Result<(), ProofError> {
    if siblings.len() < 64 && pc >> siblings.len() != 0 {
        return Err(ProofError::BadCodeProof);
    }
    let leaf = hash::instruction_leaf(ins.opcode, ins.imm);
    let code_root = hash::root_from_path(&leaf, pc, siblings);
    let depth = u8::try_from(siblings.len()).map_err(|_| ProofError::BadCodeProof)?;
    if hash::program_root(depth, &code_root) != *program_root {
        return Err(ProofError::BadCodeProof);
    }
    Ok(())
}

/// Proves that `entry` is the `TableEntry` at `pc + 1 + min(index, count)`.
fn check_table_entry(
    program_root: &Hash,
    pc: u32,
    count: u64,
    index: u64,
    entry: &Instruction,
    siblings: &[Hash],
) -> Result<(), ProofError> {
    let k = index.min(count);
    check_code(program_root, u64::from(pc) + 1 + k, entry, siblings)?;
    if entry.opcode != op::TABLE_ENTRY {
        return Err(ProofError::NotATableEntry);
    }
    Ok(())
}

/// Checks a one-step proof for a program and memory size; returns the pre- and post-state
/// hashes.
pub fn verify_step(
    program_root: Hash,
    memory_log2: u8,
    proof: &[u8],
) -> Result<(Hash, Hash), ProofError> {
    if !(16..=32).contains(&memory_log2) {
        return Err(ProofError::BadMemorySize(memory_log2));
    }
    let mut reader = Reader::new(proof);
    let pre = reader.fields()?;
    let pre_hash = pre.hash();
    match pre.status {
        // A trapped machine, and one whose step has ended, never change again.
        STATUS_TRAPPED | STATUS_STEP_END => {
            reader.finish()?;
            return Ok((pre_hash, pre_hash));
        }
        STATUS_RUNNING => {}
        s => return Err(ProofError::BadStatus(s)),
    }
    let ins = read_instruction(&mut reader, &program_root, u64::from(pre.pc))?;
    let entry = if ins.opcode == op::BRANCH_TABLE {
        Some(skip_instruction(&mut reader)?)
    } else {
        None
    };
    let p = pop_count(ins.opcode, ins.imm, entry.as_ref().map(|(e, _)| e.imm));
    let mut operands = (0..p)
        .map(|_| reader.u64())
        .collect::<Result<Vec<_>, _>>()?;
    operands.reverse();
    let stack = ProofStack {
        rest: reader.b32()?,
        values: operands,
    };
    if stack.hash() != pre.value_stack {
        return Err(ProofError::BadValueStack);
    }
    if let Some((entry, entry_siblings)) = &entry {
        check_table_entry(
            &program_root,
            pre.pc,
            ins.imm,
            stack.peek(0),
            entry,
            entry_siblings,
        )?;
    }
    let mut step = Step {
        reader: &mut reader,
        post: pre,
        stack,
        memory_log2,
    };
    match ins.opcode {
        op::UNREACHABLE
        | op::CALL
        | op::RETURN
        | op::JUMP
        | op::JUMP_IF_ZERO
        | op::BRANCH
        | op::BRANCH_IF
        | op::BRANCH_TABLE
        | op::TABLE_ENTRY
        | op::STEP_END => control::execute_control(&mut step, &pre, ins, entry.map(|(e, _)| e))?,
        op::LOCAL_GET | op::LOCAL_SET | op::LOCAL_TEE | op::GLOBAL_GET | op::GLOBAL_SET => {
            variables::execute_variables(&mut step, &pre, ins)?
        }
        o if op::is_load(o)
            || op::is_store(o)
            || o == op::MEMORY_COPY_CHUNK
            || o == op::MEMORY_FILL_CHUNK =>
        {
            memory::execute_memory(&mut step, &pre, ins)?
        }
        o if o == op::I32_CONST
            || o == op::I64_CONST
            || o == op::DROP
            || o == op::SELECT
            || op::is_numeric(o) =>
        {
            math::execute_math(&mut step, &pre, ins)
        }
        o => return Err(ProofError::UnsupportedOpcode(o)),
    }
    let mut post = step.post;
    if post.status != STATUS_TRAPPED {
        post.value_stack = step.stack.hash();
    }
    reader.finish()?;
    Ok((pre_hash, post.hash()))
}
