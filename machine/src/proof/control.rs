//! Checker: control instructions (`executeControl` in the Solidity prover).

use crate::hash::{self, Hash, STATUS_STEP_END, StateFields};
use crate::opcode::{self as op, BranchImm, CallImm, Instruction};

use super::reader::ProofError;
use super::step::Step;

/// Executes a control instruction on the proven state.
pub(super) fn execute_control(
    step: &mut Step<'_, '_>,
    pre: &StateFields,
    ins: Instruction,
    entry: Option<Instruction>,
) -> Result<(), ProofError> {
    match ins.opcode {
        op::UNREACHABLE | op::TABLE_ENTRY => step.trap(pre),
        op::CALL => execute_call(step, pre, ins.imm)?,
        op::RETURN => execute_return(step, pre, ins.imm)?,
        op::JUMP => step.post.pc = ins.imm as u32,
        op::JUMP_IF_ZERO => {
            let c = step.stack.pop();
            step.post.pc = if c == 0 {
                ins.imm as u32
            } else {
                pre.pc.wrapping_add(1)
            };
        }
        op::BRANCH => execute_branch(step, ins.imm),
        op::BRANCH_IF => {
            if step.stack.pop() != 0 {
                execute_branch(step, ins.imm);
            } else {
                step.post.pc = pre.pc.wrapping_add(1);
            }
        }
        op::BRANCH_TABLE => {
            step.stack.pop();
            execute_branch(step, entry.expect("read with the BranchTable").imm);
        }
        op::STEP_END => step.post.status = STATUS_STEP_END,
        o => return Err(ProofError::UnsupportedOpcode(o)),
    }
    Ok(())
}

fn execute_branch(step: &mut Step<'_, '_>, imm: u64) {
    let b = BranchImm::unpack(imm);
    step.stack.keep_drop(usize::from(b.keep), b.drop as usize);
    step.post.pc = b.target;
}

/// The root of a depth-`depth` locals tree holding `params` then zeros.
fn locals_root(params: &[u64], depth: u8) -> Hash {
    hash::leaves_root(
        params.iter().map(|v| hash::u64_leaf(*v)).collect(),
        usize::from(depth),
    )
}

fn execute_call(step: &mut Step<'_, '_>, pre: &StateFields, imm: u64) -> Result<(), ProofError> {
    let call = CallImm::unpack(imm);
    let params = usize::from(call.params);
    if call.depth >= 64 || params > 1usize << call.depth {
        return Err(ProofError::BadImmediate(op::CALL));
    }
    let mut args: Vec<u64> = (0..params).map(|_| step.stack.pop()).collect();
    args.reverse();
    step.post.frames = hash::frame_push(
        &pre.frames,
        pre.return_pc,
        pre.locals_depth,
        &pre.locals_root,
    );
    step.post.return_pc = pre.pc.wrapping_add(1);
    step.post.locals_depth = call.depth;
    step.post.locals_root = locals_root(&args, call.depth);
    step.post.pc = call.target;
    Ok(())
}

fn execute_return(step: &mut Step<'_, '_>, pre: &StateFields, imm: u64) -> Result<(), ProofError> {
    let r = &mut *step.reader;
    let (return_pc, depth, root, rest) = (r.u32()?, r.u8()?, r.b32()?, r.b32()?);
    if hash::frame_push(&rest, return_pc, depth, &root) != pre.frames {
        return Err(ProofError::BadFrame);
    }
    let b = BranchImm::unpack(imm);
    step.stack.keep_drop(usize::from(b.keep), b.drop as usize);
    step.post.pc = pre.return_pc;
    step.post.frames = rest;
    step.post.return_pc = return_pc;
    step.post.locals_depth = depth;
    step.post.locals_root = root;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::locals_root;
    use crate::locals::Locals;

    #[test]
    fn sparse_locals_root_equals_the_full_tree() {
        for depth in 0..6u8 {
            for n in 0..=(1usize << depth) {
                let params: Vec<u64> = (0..n as u64).map(|i| i * 7 + 1).collect();
                assert_eq!(
                    locals_root(&params, depth),
                    Locals::new(depth, &params).root(),
                    "{depth} {n}"
                );
            }
        }
    }
}
