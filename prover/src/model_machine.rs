//! A model's canonical program as a Merkleized machine: the bridge between the engine's step
//! boundaries (level 1 of the dispute game) and the instruction-level machine of levels 2 and 3.
//! At a boundary the machine state is the engine's memory with empty stacks, pc 0 and the
//! program's initial globals, so its hash is the step-boundary hash of the layer trace.

use veritrace_machine::{Machine, Program, ValidationError};
use veritrace_vm::{ModelImage, VmError, program};

use crate::Hash;

/// Why a model's machine cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum ModelMachineError {
    /// The canonical program cannot be sized for the model's memory.
    #[error(transparent)]
    Program(#[from] VmError),
    /// The canonical program is outside the machine's wasm subset.
    #[error("the canonical program is not a valid machine program: {0}")]
    Invalid(#[from] ValidationError),
}

/// The canonical program validated and flattened for one model's memory size.
#[derive(Clone, Debug)]
pub struct ModelMachine {
    program: Program,
}

impl ModelMachine {
    /// Flattens the canonical program with the memory size of `image`'s layout.
    pub fn new(image: &ModelImage) -> Result<Self, ModelMachineError> {
        let wasm = program::module_for(image.layout.memory_log2)?;
        Ok(Self {
            program: Program::from_wasm(&wasm)?,
        })
    }

    /// The flattened program.
    pub fn program(&self) -> &Program {
        &self.program
    }

    /// The program root registered for the model (it commits to the code only).
    pub fn program_root(&self) -> Hash {
        self.program.root()
    }

    /// The machine at a step boundary over `memory` (a whole machine memory).
    pub fn at_boundary(&self, memory: Vec<u8>) -> Machine {
        Machine::new(&self.program, memory)
    }

    /// The step-boundary hash (a layer-trace leaf) for a memory root.
    pub fn boundary_hash(&self, memory_root: &Hash) -> Hash {
        self.program.boundary_hash(*memory_root)
    }

    /// The image root registered for the model: the memory root of its initial memory (program
    /// static data, meta, image; the input region zero).
    pub fn image_root(&self, image: &ModelImage) -> Hash {
        self.at_boundary(image.initial_memory()).memory_root()
    }
}
