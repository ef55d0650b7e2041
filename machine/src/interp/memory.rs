//! Memory instructions: loads, stores and the chunked bulk copy and fill.

use crate::opcode::access_width;
use crate::semantics::{self, Trap};
use crate::state::Machine;

impl Machine {
    pub(super) fn execute_load(&mut self, opcode: u16, offset: u64) -> Result<(), Trap> {
        let width = access_width(opcode);
        let ea =
            semantics::effective_address(self.stack.peek(0), offset, width, self.memory.size())?;
        let value = semantics::load_value(opcode, self.memory.read(ea, width));
        self.stack.pop();
        self.stack.push(value);
        self.pc += 1;
        Ok(())
    }

    pub(super) fn execute_store(&mut self, opcode: u16, offset: u64) -> Result<(), Trap> {
        let width = access_width(opcode);
        let value = self.stack.peek(0);
        let ea =
            semantics::effective_address(self.stack.peek(1), offset, width, self.memory.size())?;
        self.memory
            .write(ea, &value.to_le_bytes()[..width as usize]);
        self.stack.pop();
        self.stack.pop();
        self.pc += 1;
        Ok(())
    }

    fn replace_top3(&mut self, next: [u64; 3]) {
        for _ in 0..3 {
            self.stack.pop();
        }
        for v in next {
            self.stack.push(v);
        }
    }

    pub(super) fn execute_memory_copy_chunk(&mut self) -> Result<(), Trap> {
        let (n, src, dst) = (self.stack.peek(0), self.stack.peek(1), self.stack.peek(2));
        match semantics::copy_chunk(dst, src, n, self.memory.size())? {
            None => {
                (0..3).for_each(|_| {
                    self.stack.pop();
                });
                self.pc += 1;
            }
            Some(c) => {
                self.memory.copy_within(c.dst, c.src, c.len);
                self.replace_top3(c.next);
            }
        }
        Ok(())
    }

    pub(super) fn execute_memory_fill_chunk(&mut self) -> Result<(), Trap> {
        let (n, val, dst) = (self.stack.peek(0), self.stack.peek(1), self.stack.peek(2));
        match semantics::fill_chunk(dst, val, n, self.memory.size())? {
            None => {
                (0..3).for_each(|_| {
                    self.stack.pop();
                });
                self.pc += 1;
            }
            Some(c) => {
                self.memory.fill(c.dst, val as u8, c.len);
                self.replace_top3(c.next);
            }
        }
        Ok(())
    }
}
