//! Stack and numeric instructions: constants, `drop`, `select`, compare and arithmetic.

use crate::opcode::{I32_EQZ, is_numeric};
use crate::ops::numeric_arity;
use crate::semantics::{self, Trap};
use crate::state::Machine;

impl Machine {
    pub(super) fn execute_const(&mut self, imm: u64) -> Result<(), Trap> {
        self.stack.push(imm);
        self.pc += 1;
        Ok(())
    }

    pub(super) fn execute_drop(&mut self) -> Result<(), Trap> {
        self.stack.pop();
        self.pc += 1;
        Ok(())
    }

    pub(super) fn execute_select(&mut self) -> Result<(), Trap> {
        let c = self.stack.pop();
        let b = self.stack.pop();
        let a = self.stack.pop();
        self.stack.push(if c != 0 { a } else { b });
        self.pc += 1;
        Ok(())
    }

    pub(super) fn execute_numeric(&mut self, opcode: u16) -> Result<(), Trap> {
        debug_assert!(is_numeric(opcode) && opcode >= I32_EQZ);
        if numeric_arity(opcode) == 1 {
            let a = self.stack.pop();
            self.stack.push(semantics::unary(opcode, a));
        } else {
            let r = semantics::binary(opcode, self.stack.peek(1), self.stack.peek(0))?;
            self.stack.pop();
            self.stack.pop();
            self.stack.push(r);
        }
        self.pc += 1;
        Ok(())
    }
}
