//! The flattened program: flat code, its Merkle tree and root, initial globals and memory
//! (spec: "Flat code and the program root").

use std::sync::Arc;

use crate::error::ValidationError;
use crate::hash::{self, Hash, StateFields, ZERO};
use crate::opcode::Instruction;
use crate::validate::DataSegment;

/// A validated, flattened program with its code tree. Cheap to clone (shared contents).
#[derive(Clone, Debug)]
pub struct Program {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    code: Vec<Instruction>,
    globals: Vec<u64>,
    data: Vec<DataSegment>,
    memory_log2: u8,
    function_pcs: Vec<u32>,
    /// `levels[0]` are the padded leaves, `levels[depth]` is `[codeTreeRoot]`.
    levels: Vec<Vec<Hash>>,
}

impl Program {
    /// Validates and flattens a wasm module.
    pub fn from_wasm(wasm: &[u8]) -> Result<Self, ValidationError> {
        let module = crate::validate::validate(wasm)?;
        let flat = crate::flatten::flatten(&module)?;
        Ok(Self::new(
            flat.code,
            module.globals.clone(),
            module.data.clone(),
            module.memory_log2,
            flat.function_pcs,
        ))
    }

    /// A program from flat code directly, without validation (for tests and fuzzing of the
    /// one-step provers): the caller guarantees that every reachable instruction finds its
    /// operands, that pc 0 is a `Call` and pc 1 is `StepEnd`.
    pub fn from_flat_code(code: Vec<Instruction>, globals: Vec<u64>, memory_log2: u8) -> Self {
        assert!((16..=32).contains(&memory_log2), "16 <= memoryLog2 <= 32");
        Self::new(code, globals, Vec::new(), memory_log2, Vec::new())
    }

    /// Builds the code tree over `code`.
    pub(crate) fn new(
        code: Vec<Instruction>,
        globals: Vec<u64>,
        data: Vec<DataSegment>,
        memory_log2: u8,
        function_pcs: Vec<u32>,
    ) -> Self {
        let depth = code_depth(code.len());
        let mut leaves: Vec<Hash> = code
            .iter()
            .map(|i| hash::instruction_leaf(i.opcode, i.imm))
            .collect();
        leaves.resize(1 << depth, ZERO);
        let mut levels = vec![leaves];
        for _ in 0..depth {
            let below = levels.last().expect("at least the leaves");
            let next = below.chunks(2).map(|p| hash::node(&p[0], &p[1])).collect();
            levels.push(next);
        }
        let inner = Inner {
            code,
            globals,
            data,
            memory_log2,
            function_pcs,
            levels,
        };
        Self {
            inner: Arc::new(inner),
        }
    }

    /// The flat code; pc 0 is `Call step`, pc 1 is `StepEnd`.
    pub fn code(&self) -> &[Instruction] {
        &self.inner.code
    }

    /// The globals' initial values (also their values at every step boundary).
    pub fn globals(&self) -> &[u64] {
        &self.inner.globals
    }

    /// The active data segments.
    pub fn data(&self) -> &[DataSegment] {
        &self.inner.data
    }

    /// Memory is `2^memory_log2` bytes.
    pub fn memory_log2(&self) -> u8 {
        self.inner.memory_log2
    }

    /// Memory size in bytes.
    pub fn memory_size(&self) -> u64 {
        1 << self.inner.memory_log2
    }

    /// The pc of each function's first instruction, by function index.
    pub fn function_pcs(&self) -> &[u32] {
        &self.inner.function_pcs
    }

    /// Depth `d = max(1, ceil(log2(n)))` of the code tree.
    pub fn code_depth(&self) -> u8 {
        (self.inner.levels.len() - 1) as u8
    }

    /// The program root `keccak256("Program:" ‖ uint8 d ‖ codeTreeRoot)`.
    pub fn root(&self) -> Hash {
        let depth = self.code_depth();
        hash::program_root(depth, &self.inner.levels[usize::from(depth)][0])
    }

    /// The sibling hashes of instruction `pc`, leaf level first.
    pub fn code_proof(&self, pc: u32) -> Vec<Hash> {
        let levels = &self.inner.levels;
        (0..levels.len() - 1)
            .map(|l| levels[l][((pc as usize) >> l) ^ 1])
            .collect()
    }

    /// The memory image: zeros with the data segments applied.
    pub fn initial_memory(&self) -> Vec<u8> {
        let mut memory = vec![0; 1 << self.inner.memory_log2];
        for d in &self.inner.data {
            let start = d.offset as usize;
            memory[start..start + d.bytes.len()].copy_from_slice(&d.bytes);
        }
        memory
    }

    /// `G0`: the hash of the initial globals.
    pub fn initial_globals_hash(&self) -> Hash {
        hash::globals_hash(&self.inner.globals)
    }

    /// The step-boundary machine hash for a memory root: a layer step's start state.
    pub fn boundary_hash(&self, memory_root: Hash) -> Hash {
        StateFields::boundary(self.initial_globals_hash(), memory_root).hash()
    }

    /// The machine hash of a layer step's end state with a memory root (status 2 at `StepEnd`).
    pub fn step_end_hash(&self, memory_root: Hash) -> Hash {
        StateFields::step_end(self.initial_globals_hash(), memory_root).hash()
    }
}

/// `max(1, ceil(log2(n)))`.
fn code_depth(n: usize) -> u8 {
    (n.max(2).next_power_of_two().trailing_zeros()) as u8
}
