//! A model's canonical program as a Merkleized machine: the bridge between the engine's step
//! boundaries (level 1 of the dispute game) and the instruction-level machine of levels 2 and 3.
//! At a boundary the machine state is the engine's memory with empty stacks, pc 0 and the
//! program's initial globals, so its hash is the step-boundary hash of the layer trace.

use std::sync::{Arc, Mutex};

use veritrace_machine::{Machine, MemoryTree, Program, ValidationError};
use veritrace_vm::{ModelImage, VmError, program};

use veritrace_protocol::Hash;

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
    /// The memory tree of the last finished trace, shared by the clones: the next trace starts
    /// from it instead of hashing the whole memory again.
    spare_tree: Arc<Mutex<Option<MemoryTree>>>,
}

impl ModelMachine {
    /// Flattens the canonical program with the memory size of `image`'s layout.
    pub fn new(image: &ModelImage) -> Result<Self, ModelMachineError> {
        let wasm = program::module_for(image.layout.memory_log2)?;
        Ok(Self {
            program: Program::from_wasm(&wasm)?,
            spare_tree: Arc::default(),
        })
    }

    /// The memory tree of `memory` (a whole machine memory), as a trace starts from it: the
    /// tree a finished trace of this model handed back ([`ModelMachine::recycle_tree`]) with
    /// only the leaves in which `memory` differs rehashed (exact for any memory), or, when
    /// there is none, a new tree (a full memory root: seconds for a 2^28-byte machine).
    pub fn memory_tree(&self, memory: &[u8]) -> MemoryTree {
        let spare = self.spare_tree.lock().expect("spare tree lock").take();
        match spare {
            Some(mut tree) if tree.len() == memory.len() => {
                tree.sync(memory, 0, memory.len());
                tree
            }
            _ => MemoryTree::from_bytes(memory),
        }
    }

    /// Keeps the tree of a finished trace for the next one ([`ModelMachine::memory_tree`]).
    pub fn recycle_tree(&self, tree: MemoryTree) {
        *self.spare_tree.lock().expect("spare tree lock") = Some(tree);
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
