//! Checker: `local.*` and `global.*` (`executeVariables`).

use crate::hash::{self, StateFields};
use crate::opcode::{self as op, Instruction};

use super::reader::ProofError;
use super::step::Step;

/// Executes a locals or globals instruction on the proven state.
pub(super) fn execute_variables(
    step: &mut Step<'_, '_>,
    pre: &StateFields,
    ins: Instruction,
) -> Result<(), ProofError> {
    step.post.pc = pre.pc.wrapping_add(1);
    match ins.opcode {
        op::LOCAL_GET | op::LOCAL_SET | op::LOCAL_TEE => execute_local(step, pre, ins),
        _ => execute_global(step, pre, ins),
    }
}

fn execute_local(
    step: &mut Step<'_, '_>,
    pre: &StateFields,
    ins: Instruction,
) -> Result<(), ProofError> {
    let value = step.reader.u64()?;
    let siblings = step.reader.hashes(usize::from(pre.locals_depth))?;
    if pre.locals_depth >= 64 || ins.imm >> pre.locals_depth != 0 {
        return Err(ProofError::BadImmediate(ins.opcode));
    }
    if hash::root_from_path(&hash::u64_leaf(value), ins.imm, &siblings) != pre.locals_root {
        return Err(ProofError::BadLocalsProof);
    }
    let new = match ins.opcode {
        op::LOCAL_GET => {
            step.stack.push(value);
            return Ok(());
        }
        op::LOCAL_SET => step.stack.pop(),
        _ => step.stack.peek(0),
    };
    step.post.locals_root = hash::root_from_path(&hash::u64_leaf(new), ins.imm, &siblings);
    Ok(())
}

fn execute_global(
    step: &mut Step<'_, '_>,
    pre: &StateFields,
    ins: Instruction,
) -> Result<(), ProofError> {
    let count = step.reader.u8()?;
    let mut globals = (0..count)
        .map(|_| step.reader.u64())
        .collect::<Result<Vec<_>, _>>()?;
    if hash::globals_hash(&globals) != pre.globals_hash || ins.imm >= u64::from(count) {
        return Err(ProofError::BadGlobals);
    }
    let i = ins.imm as usize;
    if ins.opcode == op::GLOBAL_GET {
        step.stack.push(globals[i]);
    } else {
        globals[i] = step.stack.pop();
        step.post.globals_hash = hash::globals_hash(&globals);
    }
    Ok(())
}
