//! Checker: constants, `drop`, `select` and numeric instructions (`executeMath`).

use crate::hash::StateFields;
use crate::opcode::{self as op, Instruction};
use crate::ops::numeric_arity;
use crate::semantics;

use super::step::Step;

/// Executes a constant, stack or numeric instruction on the proven state.
pub(super) fn execute_math(step: &mut Step<'_, '_>, pre: &StateFields, ins: Instruction) {
    step.post.pc = pre.pc.wrapping_add(1);
    match ins.opcode {
        op::I32_CONST | op::I64_CONST => step.stack.push(ins.imm),
        op::DROP => {
            step.stack.pop();
        }
        op::SELECT => {
            let c = step.stack.pop();
            let b = step.stack.pop();
            let a = step.stack.pop();
            step.stack.push(if c != 0 { a } else { b });
        }
        o if numeric_arity(o) == 1 => {
            let a = step.stack.pop();
            step.stack.push(semantics::unary(o, a));
        }
        o => {
            let b = step.stack.pop();
            let a = step.stack.pop();
            match semantics::binary(o, a, b) {
                Ok(r) => step.stack.push(r),
                Err(_) => step.trap(pre),
            }
        }
    }
}
