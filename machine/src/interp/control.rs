//! Control instructions: calls, returns, jumps, branches, branch tables, `StepEnd`.

use crate::hash::STATUS_STEP_END;
use crate::locals::Locals;
use crate::opcode::{BranchImm, CallImm};
use crate::semantics::Trap;
use crate::stacks::Frame;
use crate::state::Machine;

impl Machine {
    pub(super) fn execute_call(&mut self, imm: u64) -> Result<(), Trap> {
        let call = CallImm::unpack(imm);
        let params = usize::from(call.params);
        let values = self.stack.values();
        let args = values[values.len() - params..].to_vec();
        for _ in 0..params {
            self.stack.pop();
        }
        let callee = Frame {
            return_pc: self.pc + 1,
            locals: Locals::new(call.depth, &args),
        };
        let caller = std::mem::replace(&mut self.frame, callee);
        self.frames.push(caller);
        self.pc = call.target;
        Ok(())
    }

    pub(super) fn execute_return(&mut self, imm: u64) -> Result<(), Trap> {
        let b = BranchImm::unpack(imm);
        self.stack.keep_drop(usize::from(b.keep), b.drop as usize);
        self.pc = self.frame.return_pc;
        self.frame = self
            .frames
            .pop()
            .expect("every Return has a caller frame (pc 0 pushes one)");
        Ok(())
    }

    pub(super) fn execute_jump(&mut self, imm: u64) -> Result<(), Trap> {
        self.pc = imm as u32;
        Ok(())
    }

    pub(super) fn execute_jump_if_zero(&mut self, imm: u64) -> Result<(), Trap> {
        let c = self.stack.pop();
        self.pc = if c == 0 { imm as u32 } else { self.pc + 1 };
        Ok(())
    }

    pub(super) fn execute_branch(&mut self, imm: u64) -> Result<(), Trap> {
        let b = BranchImm::unpack(imm);
        self.stack.keep_drop(usize::from(b.keep), b.drop as usize);
        self.pc = b.target;
        Ok(())
    }

    pub(super) fn execute_branch_if(&mut self, imm: u64) -> Result<(), Trap> {
        let c = self.stack.pop();
        if c != 0 {
            return self.execute_branch(imm);
        }
        self.pc += 1;
        Ok(())
    }

    pub(super) fn execute_branch_table(&mut self, imm: u64) -> Result<(), Trap> {
        let i = self.stack.pop();
        let k = i.min(imm);
        let entry = self.program.code()[(u64::from(self.pc) + 1 + k) as usize];
        self.execute_branch(entry.imm)
    }

    pub(super) fn execute_step_end(&mut self) -> Result<(), Trap> {
        self.status = STATUS_STEP_END;
        Ok(())
    }
}
