//! The proof serializer: writes the fields in the order the checker (and the Solidity prover)
//! reads them.

use crate::hash::{Hash, StateFields};
use crate::memory::LEAF_SIZE;
use crate::opcode::{self as op, Instruction, access_width};
use crate::semantics;
use crate::state::Machine;

use super::pop_count;

/// Proof bytes under construction.
struct Writer(Vec<u8>);

impl Writer {
    fn bytes(&mut self, b: &[u8]) {
        self.0.extend_from_slice(b);
    }

    fn u64(&mut self, v: u64) {
        self.bytes(&v.to_be_bytes());
    }

    fn hashes(&mut self, hashes: &[Hash]) {
        hashes.iter().for_each(|h| self.bytes(h));
    }

    fn fields(&mut self, f: &StateFields) {
        self.bytes(&[f.status]);
        self.bytes(&f.pc.to_be_bytes());
        self.bytes(&f.value_stack);
        self.bytes(&f.frames);
        self.bytes(&f.return_pc.to_be_bytes());
        self.bytes(&[f.locals_depth]);
        self.bytes(&f.locals_root);
        self.bytes(&f.globals_hash);
        self.bytes(&f.memory_root);
    }
}

impl Machine {
    fn write_instruction(&self, w: &mut Writer, pc: u32) -> Instruction {
        let ins = self.program.code()[pc as usize];
        w.bytes(&ins.opcode.to_be_bytes());
        w.u64(ins.imm);
        w.bytes(&[self.program.code_depth()]);
        w.hashes(&self.program.code_proof(pc));
        ins
    }

    fn write_leaf(&mut self, w: &mut Writer, index: u64) {
        w.bytes(&self.memory.leaf(index));
        let siblings = self.memory.proof(index);
        w.hashes(&siblings);
    }

    /// Writes the one-step proof of the next instruction, then executes it (a store that spans
    /// two leaves proves its second leaf against the tree after the first leaf's update).
    pub fn prove_step(&mut self) -> Vec<u8> {
        let mut w = Writer(Vec::new());
        let fields = self.fields();
        w.fields(&fields);
        if self.is_halted() {
            return w.0;
        }
        let pc = self.pc;
        let ins = self.write_instruction(&mut w, pc);
        let entry = (ins.opcode == op::BRANCH_TABLE).then(|| {
            let k = self.stack.peek(0).min(ins.imm);
            self.write_instruction(&mut w, (u64::from(pc) + 1 + k) as u32)
                .imm
        });
        let p = pop_count(ins.opcode, ins.imm, entry);
        for i in 0..p {
            w.u64(self.stack.peek(i));
        }
        let rest = self.stack.hash_of_bottom(self.stack.len() - p);
        w.bytes(&rest);
        let second_store_leaf = self.write_class_data(&mut w, ins);
        self.step();
        if let Some((index, leaf)) = second_store_leaf {
            w.bytes(&leaf);
            let siblings = self.memory.proof(index);
            w.hashes(&siblings);
        }
        w.0
    }

    /// Writes item 5 of the proof; returns the second leaf of a two-leaf store (index and
    /// pre-state bytes), whose path is written after the instruction executed.
    fn write_class_data(&mut self, w: &mut Writer, ins: Instruction) -> Option<(u64, Hash)> {
        let size = self.memory.size();
        match ins.opcode {
            op::LOCAL_GET | op::LOCAL_SET | op::LOCAL_TEE => {
                let i = ins.imm as usize;
                w.u64(self.frame.locals.get(i));
                let siblings = self.frame.locals.proof(i);
                w.hashes(&siblings);
            }
            op::GLOBAL_GET | op::GLOBAL_SET => {
                w.bytes(&[self.globals.len() as u8]);
                for g in self.globals.clone() {
                    w.u64(g);
                }
            }
            o if op::is_load(o) || op::is_store(o) => {
                let width = access_width(o);
                let addr = self.stack.peek(usize::from(op::is_store(o)));
                let Ok(ea) = semantics::effective_address(addr, ins.imm, width, size) else {
                    return None;
                };
                let (first, last) = (ea / LEAF_SIZE, (ea + width - 1) / LEAF_SIZE);
                self.write_leaf(w, first);
                if first != last {
                    if op::is_store(o) {
                        return Some((last, self.memory.leaf(last)));
                    }
                    self.write_leaf(w, last);
                }
            }
            op::MEMORY_COPY_CHUNK => {
                let (n, src, dst) = (self.stack.peek(0), self.stack.peek(1), self.stack.peek(2));
                if let Ok(Some(c)) = semantics::copy_chunk(dst, src, n, size) {
                    self.write_leaf(w, c.src / LEAF_SIZE);
                    self.write_leaf(w, c.dst / LEAF_SIZE);
                }
            }
            op::MEMORY_FILL_CHUNK => {
                let (n, val, dst) = (self.stack.peek(0), self.stack.peek(1), self.stack.peek(2));
                if let Ok(Some(c)) = semantics::fill_chunk(dst, val, n, size) {
                    self.write_leaf(w, c.dst / LEAF_SIZE);
                }
            }
            op::RETURN => {
                let below = self.frames.len() - 1;
                let rest = self.frames.hash_of_bottom(below);
                let saved = self.frames.top_mut().expect("Return has a caller frame");
                w.bytes(&saved.return_pc.to_be_bytes());
                w.bytes(&[saved.locals.depth()]);
                w.bytes(&saved.locals.root());
                w.bytes(&rest);
            }
            _ => {}
        }
        None
    }
}
