//! Locals and globals: `local.get/set/tee`, `global.get/set`.

use crate::semantics::Trap;
use crate::state::Machine;

impl Machine {
    pub(super) fn execute_local_get(&mut self, imm: u64) -> Result<(), Trap> {
        self.stack.push(self.frame.locals.get(imm as usize));
        self.pc += 1;
        Ok(())
    }

    pub(super) fn execute_local_set(&mut self, imm: u64) -> Result<(), Trap> {
        let v = self.stack.pop();
        self.frame.locals.set(imm as usize, v);
        self.pc += 1;
        Ok(())
    }

    pub(super) fn execute_local_tee(&mut self, imm: u64) -> Result<(), Trap> {
        self.frame.locals.set(imm as usize, self.stack.peek(0));
        self.pc += 1;
        Ok(())
    }

    pub(super) fn execute_global_get(&mut self, imm: u64) -> Result<(), Trap> {
        self.stack.push(self.globals[imm as usize]);
        self.pc += 1;
        Ok(())
    }

    pub(super) fn execute_global_set(&mut self, imm: u64) -> Result<(), Trap> {
        let v = self.stack.pop();
        self.set_global(imm as usize, v);
        self.pc += 1;
        Ok(())
    }
}
