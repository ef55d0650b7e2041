//! The `--trace` commitment of a run: the memory root `m_i` after every step of an engine run
//! (`m_0` = the initial memory with the request loaded), committed as a [`LayerTrace`]
//! (docs/architecture.md, "Data flow", step 3). At a step boundary the whole machine state is a
//! function of the memory root, so `m_i` is the canonical state after exactly `i` steps.
//!
//! A full memory root of a 2^28-byte machine costs seconds, a step milliseconds, so the
//! recorder keeps its own [`MemoryTree`] beside the engine and after each step brings over only
//! the bytes the step can have written (docs/machine.md: at a step boundary every byte is a
//! function of the semantic state):
//!
//! * Control, always (Scratch is not compared: it is zero at every boundary by the machine's
//!   contract, which every backend's differential tests hold it to, and reading its ~400 KiB
//!   after each step cost more than the rest of the recorder);
//! * Hidden after embed, layer and head steps; Tokens and Output after init and head steps
//!   (Logits, like Scratch, is zero at every boundary: the head step samples from it and
//!   clears it);
//! * in Kv, after a layer step, only that layer's K/V rows (and scales) of the chunk's
//!   positions ([`KvLayout`]).
//!
//! Program, Meta, Input and Image never change after the request is loaded. A backend that
//! wrote outside these ranges would be caught by [`Watch::Full`], which compares the whole
//! memory after every step (slow: a verification mode for tests and audits).

use veritrace_machine::MemoryTree;
use veritrace_vm::pool::on_worker;
use veritrace_vm::semantics::layout::{Dims, KvLayout, Layout, Region};
use veritrace_vm::semantics::step::{PHASE_EMBED, PHASE_HEAD, PHASE_INIT, PHASE_LAYER};
use veritrace_vm::{Backend, Engine, Request, RunOutput, StepInfo};

use crate::model_machine::ModelMachine;
use veritrace_protocol::Hash;
use veritrace_protocol::trace::{LayerTrace, TraceError};

/// Which bytes the recorder compares after a step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Watch {
    /// Only what the step can have written (see the module docs): the production mode.
    #[default]
    Touched,
    /// The whole memory: catches a backend that writes where the machine never does.
    Full,
}

/// Records the boundary memory roots of one run incrementally.
#[derive(Debug)]
pub struct TraceRecorder {
    tree: MemoryTree,
    layout: Layout,
    dims: Dims,
    kv: KvLayout,
    machine: ModelMachine,
    leaves: Vec<Hash>,
    watch: Watch,
    changed_leaves: u64,
}

impl TraceRecorder {
    /// Starts a trace at a step boundary: `memory` is the machine memory with the request
    /// loaded and no step run (it yields `h_0`). The first trace of a model costs one full
    /// memory root, the next a copy of it ([`ModelMachine::memory_tree`]).
    pub fn new(machine: &ModelMachine, memory: &[u8]) -> Self {
        Self::with_watch(machine, memory, Watch::Touched)
    }

    /// [`TraceRecorder::new`] with an explicit [`Watch`].
    pub fn with_watch(machine: &ModelMachine, memory: &[u8], watch: Watch) -> Self {
        let layout = Layout::read(memory);
        let dims = Dims::read(memory);
        let mut tree = machine.memory_tree(memory);
        let leaf0 = tree.root();
        Self {
            tree,
            layout,
            dims,
            kv: KvLayout::new(&dims),
            machine: machine.clone(),
            leaves: vec![leaf0],
            watch,
            changed_leaves: 0,
        }
    }

    /// Records the boundary after the step `info` (as [`Engine::step`] reports it, read before
    /// the step ran) left `memory`; returns the new leaf `m_i` (the memory root).
    pub fn record(&mut self, info: &StepInfo, memory: &[u8]) -> Hash {
        match self.watch {
            Watch::Full => {
                self.changed_leaves += self.tree.sync(memory, 0, memory.len()) as u64;
            }
            Watch::Touched => {
                for (offset, len) in self.touched(info) {
                    self.changed_leaves += self.tree.sync(memory, offset, len) as u64;
                }
            }
        }
        let leaf = self.tree.root();
        self.leaves.push(leaf);
        leaf
    }

    /// Brings the byte ranges `(offset, len)` of `memory` into the tree without recording a
    /// leaf: for edits made at a boundary outside a step (see [`record_loaded_edited`]), which
    /// the next [`TraceRecorder::record`] then covers.
    pub fn sync(&mut self, memory: &[u8], ranges: &[(usize, usize)]) {
        for &(offset, len) in ranges {
            self.changed_leaves += self.tree.sync(memory, offset, len) as u64;
        }
    }

    /// The byte ranges `(offset, len)` the step `info` can have changed.
    fn touched(&self, info: &StepInfo) -> Vec<(usize, usize)> {
        let l = &self.layout;
        let used = self.dims.region_bytes();
        let region = |r: Region| (l.offset(r), used[r as usize]);
        let mut out = vec![region(Region::Control)];
        match info.phase {
            PHASE_INIT => out.extend([region(Region::Tokens), region(Region::Output)]),
            PHASE_EMBED => out.push(region(Region::Hidden)),
            PHASE_LAYER => {
                out.push(region(Region::Hidden));
                let base = l.offset(Region::Kv) + info.layer as usize * self.kv.layer_bytes;
                let (start, n) = (info.chunk_start as usize, info.chunk_len as usize);
                let kvd = self.dims.kv_dim();
                let scales = 4 * kvd / 32;
                out.extend([
                    (base + self.kv.k + start * kvd, n * kvd),
                    (base + self.kv.ks + start * scales, n * scales),
                    (base + self.kv.v + start * kvd, n * kvd),
                    (base + self.kv.vs + start * scales, n * scales),
                ]);
            }
            PHASE_HEAD => out.extend([
                region(Region::Hidden),
                region(Region::Tokens),
                region(Region::Output),
            ]),
            _ => {}
        }
        out
    }

    /// The boundary memory roots so far: `m_0..m_i`.
    pub fn leaves(&self) -> &[Hash] {
        &self.leaves
    }

    /// Steps recorded so far.
    pub fn step_count(&self) -> u64 {
        self.leaves.len() as u64 - 1
    }

    /// The memory root at the last recorded boundary.
    pub fn memory_root(&mut self) -> Hash {
        self.tree.root()
    }

    /// The recorder's copy of the memory at the last recorded boundary.
    pub fn memory(&self) -> &[u8] {
        self.tree.bytes()
    }

    /// Leaves rewritten in the tree since the start (a measure of the incremental work).
    pub fn changed_leaves(&self) -> u64 {
        self.changed_leaves
    }

    /// The bottom-up siblings of a region in the current memory (see
    /// [`MemoryTree::region_siblings`]); at the end of a run, of the Output region.
    pub fn region_siblings(&mut self, offset: usize, log2: u8) -> Vec<Hash> {
        self.tree.region_siblings(offset, log2)
    }

    /// Commits to the recorded boundary hashes.
    pub fn finish(mut self) -> Result<LayerTrace, TraceError> {
        LayerTrace::new(std::mem::take(&mut self.leaves))
    }
}

impl Drop for TraceRecorder {
    /// Hands the memory tree back to the model for its next trace.
    fn drop(&mut self) {
        let tree = std::mem::replace(&mut self.tree, MemoryTree::new(vec![0; 64]));
        self.machine.recycle_tree(tree);
    }
}

/// Runs `req` on `engine` to the end while recording its layer trace.
pub fn run_traced<B: Backend>(
    engine: &mut Engine<B>,
    machine: &ModelMachine,
    req: &Request,
) -> anyhow::Result<(RunOutput, LayerTrace)> {
    run_traced_with(engine, machine, req, |_, _| {})
}

/// [`run_traced`] calling `on_step` after every recorded step (for progress reporting).
pub fn run_traced_with<B: Backend>(
    engine: &mut Engine<B>,
    machine: &ModelMachine,
    req: &Request,
    on_step: impl FnMut(&StepInfo, &[u8]) + Send,
) -> anyhow::Result<(RunOutput, LayerTrace)> {
    engine.load(req)?;
    let (output, recorder) = record_loaded(engine, machine, on_step)?;
    Ok((output, recorder.finish()?))
}

/// Runs an engine whose request is already loaded to the end while recording its layer trace;
/// returns the answer and the recorder (whose memory tree still holds the final memory, for
/// region proofs), calling `on_step` after every recorded step.
pub fn record_loaded<B: Backend>(
    engine: &mut Engine<B>,
    machine: &ModelMachine,
    on_step: impl FnMut(&StepInfo, &[u8]) + Send,
) -> anyhow::Result<(RunOutput, TraceRecorder)> {
    record_loaded_edited(engine, machine, |_, _, _| Vec::new(), on_step)
}

/// [`record_loaded`] with `edit` called at every step boundary, before that boundary's leaf
/// is recorded: `edit(boundary, done, memory)` may change the engine's memory and returns the
/// byte ranges `(offset, len)` it changed, which the recorder syncs as well (a step's own
/// writes are synced as in [`record_loaded`]). Boundary 0 is the exception: it is edited after
/// leaf 0 is recorded, so `h_0` stays the loaded request the oracle checks. `done` tells the
/// last boundary. The run then carries on from the edited memory: this is how a party tells a
/// self-consistent lie ([`crate::run_source::BoundaryEdit`]); the honest run edits nothing.
pub fn record_loaded_edited<B: Backend>(
    engine: &mut Engine<B>,
    machine: &ModelMachine,
    mut edit: impl FnMut(u64, bool, &mut [u8]) -> Vec<(usize, usize)> + Send,
    mut on_step: impl FnMut(&StepInfo, &[u8]) + Send,
) -> anyhow::Result<(RunOutput, TraceRecorder)> {
    // On a pool worker: the kernels' matmuls start without waking this thread, and the
    // recorder's hashing splits over both cores (`MemoryTree::root`).
    let recorder = on_worker(|| -> anyhow::Result<TraceRecorder> {
        let mut recorder = TraceRecorder::new(machine, engine.memory());
        let edited = edit(0, false, engine.memory_mut());
        recorder.sync(engine.memory(), &edited);
        loop {
            let (info, done) = engine.step()?;
            let edited = edit(recorder.step_count() + 1, done, engine.memory_mut());
            recorder.sync(engine.memory(), &edited);
            recorder.record(&info, engine.memory());
            on_step(&info, engine.memory());
            if done {
                return Ok(recorder);
            }
        }
    })?;
    let answer = engine.answer();
    let output = RunOutput {
        text: String::from_utf8_lossy(&answer.text).into_owned(),
        answer,
        steps: recorder.step_count(),
    };
    Ok((output, recorder))
}
