//! The stepping interpreter: one flat instruction per `step`, dispatched by opcode class.

mod control;
mod math;
mod memory;
mod variables;

use crate::hash::{STATUS_RUNNING, STATUS_TRAPPED};
use crate::opcode::{self as op, Instruction};
use crate::semantics::Trap;
use crate::state::Machine;

/// What one `step` did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StepOutcome {
    /// An instruction executed; the layer step goes on.
    Continue,
    /// `StepEnd` executed: the layer step is over (status 2). The machine stays in this end
    /// state until the host starts the next step ([`Machine::start_next_step`]).
    Boundary,
    /// The instruction trapped; the machine is now trapped.
    Trapped(Trap),
    /// The machine had already trapped or ended its step: nothing changed.
    Halted,
}

impl Machine {
    /// Executes the instruction at `pc`.
    pub fn step(&mut self) -> StepOutcome {
        if self.status != STATUS_RUNNING {
            return StepOutcome::Halted;
        }
        let ins = self.program.code()[self.pc as usize];
        match self.execute(ins) {
            Ok(()) if ins.opcode == op::STEP_END => StepOutcome::Boundary,
            Ok(()) => StepOutcome::Continue,
            Err(trap) => {
                self.status = STATUS_TRAPPED;
                StepOutcome::Trapped(trap)
            }
        }
    }

    /// Runs from here to the end of the layer step (or a trap); returns the instructions executed.
    pub fn run_layer_step(&mut self) -> u64 {
        self.run_layer_step_limited(u64::MAX)
    }

    /// As `run_layer_step`, but stops after at most `limit` instructions.
    pub fn run_layer_step_limited(&mut self, limit: u64) -> u64 {
        let mut n = 0;
        while n < limit {
            match self.step() {
                StepOutcome::Continue => n += 1,
                StepOutcome::Boundary | StepOutcome::Trapped(_) => return n + 1,
                StepOutcome::Halted => return n,
            }
        }
        n
    }

    /// Executes `ins`; on `Err` nothing has changed yet (the caller sets the trapped status).
    fn execute(&mut self, ins: Instruction) -> Result<(), Trap> {
        match ins.opcode {
            op::UNREACHABLE => Err(Trap::Unreachable),
            op::CALL => self.execute_call(ins.imm),
            op::RETURN => self.execute_return(ins.imm),
            op::JUMP => self.execute_jump(ins.imm),
            op::JUMP_IF_ZERO => self.execute_jump_if_zero(ins.imm),
            op::BRANCH => self.execute_branch(ins.imm),
            op::BRANCH_IF => self.execute_branch_if(ins.imm),
            op::BRANCH_TABLE => self.execute_branch_table(ins.imm),
            op::TABLE_ENTRY => Err(Trap::TableEntry),
            op::STEP_END => self.execute_step_end(),
            op::LOCAL_GET => self.execute_local_get(ins.imm),
            op::LOCAL_SET => self.execute_local_set(ins.imm),
            op::LOCAL_TEE => self.execute_local_tee(ins.imm),
            op::GLOBAL_GET => self.execute_global_get(ins.imm),
            op::GLOBAL_SET => self.execute_global_set(ins.imm),
            op::MEMORY_COPY_CHUNK => self.execute_memory_copy_chunk(),
            op::MEMORY_FILL_CHUNK => self.execute_memory_fill_chunk(),
            opcode if op::is_load(opcode) => self.execute_load(opcode, ins.imm),
            opcode if op::is_store(opcode) => self.execute_store(opcode, ins.imm),
            op::I32_CONST | op::I64_CONST => self.execute_const(ins.imm),
            op::DROP => self.execute_drop(),
            op::SELECT => self.execute_select(),
            opcode if op::is_numeric(opcode) => self.execute_numeric(opcode),
            opcode => unreachable!("the flattener never emits opcode {opcode:#x}"),
        }
    }
}
