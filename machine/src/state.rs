//! The machine state (spec: "Machine state and its hash"): status, pc, value stack, frames,
//! the current frame, globals and memory, with the caches that make hashing after every
//! instruction affordable.

use crate::hash::{
    self, Hash, STATUS_RUNNING, STATUS_STEP_END, STATUS_TRAPPED, STEP_END_PC, StateFields,
};
use crate::memory::Memory;
use crate::program::Program;
use crate::stacks::{Frame, FrameStack, ValueStack};

/// A running wasm machine over a flattened program.
#[derive(Clone, Debug)]
pub struct Machine {
    pub(crate) program: Program,
    pub(crate) status: u8,
    pub(crate) pc: u32,
    pub(crate) stack: ValueStack,
    pub(crate) frames: FrameStack,
    pub(crate) frame: Frame,
    pub(crate) globals: Vec<u64>,
    pub(crate) globals_hash: Option<Hash>,
    pub(crate) memory: Memory,
}

impl Machine {
    /// The step-boundary state over `memory` (status 0, pc 0, empty stacks, initial globals).
    ///
    /// Panics if `memory` is not `2^memory_log2` bytes long.
    pub fn new(program: &Program, memory: Vec<u8>) -> Self {
        assert_eq!(
            memory.len() as u64,
            program.memory_size(),
            "memory size of the program"
        );
        Self {
            program: program.clone(),
            status: STATUS_RUNNING,
            pc: 0,
            stack: ValueStack::default(),
            frames: FrameStack::default(),
            frame: Frame::boundary(),
            globals: program.globals().to_vec(),
            globals_hash: None,
            memory: Memory::new(memory),
        }
    }

    /// The program this machine runs.
    pub fn program(&self) -> &Program {
        &self.program
    }

    /// Whether the machine has trapped (it never changes again).
    pub fn is_trapped(&self) -> bool {
        self.status == STATUS_TRAPPED
    }

    /// Index of the next instruction.
    pub fn pc(&self) -> u32 {
        self.pc
    }

    /// Whether the machine has trapped or ended its step: no instruction changes it.
    pub fn is_halted(&self) -> bool {
        self.status != STATUS_RUNNING
    }

    /// Whether the machine is at a step boundary (pc 0, nothing on the stacks, running): where
    /// a layer step starts.
    pub fn at_boundary(&self) -> bool {
        self.status == STATUS_RUNNING && self.pc == 0 && self.stacks_empty()
    }

    /// Whether the machine stands at the end of a layer step (status 2 at `StepEnd`, nothing
    /// on the stacks).
    pub fn at_step_end(&self) -> bool {
        self.status == STATUS_STEP_END && self.pc == STEP_END_PC && self.stacks_empty()
    }

    fn stacks_empty(&self) -> bool {
        self.stack.is_empty() && self.frames.is_empty() && self.frame.is_boundary()
    }

    /// Starts the next layer step from the end of the last one: the step-boundary state over the
    /// same memory and globals (the host's move between two `step()` calls; the dispute game
    /// derives the same start state from the memory root alone).
    ///
    /// Panics unless the machine is at a step's end ([`Machine::at_step_end`]).
    pub fn start_next_step(&mut self) {
        assert!(
            self.at_step_end(),
            "start_next_step: not at the end of a step"
        );
        self.status = STATUS_RUNNING;
        self.pc = 0;
    }

    /// The linear memory's bytes.
    pub fn memory(&self) -> &[u8] {
        self.memory.bytes()
    }

    /// The globals' current values.
    pub fn globals(&self) -> &[u64] {
        &self.globals
    }

    /// The value stack, bottom first.
    pub fn value_stack(&self) -> &[u64] {
        self.stack.values()
    }

    /// The memory tree's root.
    pub fn memory_root(&mut self) -> Hash {
        self.memory.root()
    }

    pub(crate) fn globals_hash(&mut self) -> Hash {
        *self
            .globals_hash
            .get_or_insert_with(|| hash::globals_hash(&self.globals))
    }

    pub(crate) fn set_global(&mut self, index: usize, v: u64) {
        self.globals[index] = v;
        self.globals_hash = None;
    }

    /// The fields the machine hash covers.
    pub fn fields(&mut self) -> StateFields {
        StateFields {
            status: self.status,
            pc: self.pc,
            value_stack: self.stack.hash(),
            frames: self.frames.hash(),
            return_pc: self.frame.return_pc,
            locals_depth: self.frame.locals.depth(),
            locals_root: self.frame.locals.root(),
            globals_hash: self.globals_hash(),
            memory_root: self.memory.root(),
        }
    }

    /// The machine hash.
    pub fn hash(&mut self) -> Hash {
        self.fields().hash()
    }
}
