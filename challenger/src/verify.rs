//! Re-running a submitted answer: the challenger's own run on the fast backend it was given,
//! and the confirmation of a mismatch with the canonical wasm program before a bond is risked
//! (a bug in a fast backend must cost the challenger nothing but time).

use std::sync::Arc;
use std::time::Instant;

use anyhow::{Result, bail};
use serde::Deserialize;
use veritrace_protocol::Hash;
use veritrace_protocol::game::TraceSource;
use veritrace_tracer::run_source::{BoundaryEdit, RunSource};
use veritrace_tracer::submission::{ServedModel, Submission};
use veritrace_vm::candle_backend::{Candle, Device};
use veritrace_vm::native::FastNative;
use veritrace_vm::{Engine, Wasm};

/// The engine the challenger re-runs answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum BackendKind {
    /// AVX2 + threads integer kernels.
    #[default]
    Native,
    /// candle matmuls (CPU or CUDA).
    Candle,
}

/// Where the candle backend runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum DeviceKind {
    /// The CPU.
    #[default]
    Cpu,
    /// CUDA device 0 (needs the `cuda` feature).
    Cuda,
}

/// What the executor claimed on `submit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claim {
    /// Layer-trace root.
    pub trace_root: Hash,
    /// N.
    pub step_count: u64,
    /// Final memory root.
    pub final_memory_root: Hash,
}

/// Our own run of a request.
pub struct OwnRun {
    /// What we would have submitted.
    pub submission: Submission,
    /// Our view, to play a game with.
    pub source: Arc<dyn TraceSource + Send + Sync>,
    /// Seconds the run took (with its trace).
    pub secs: f64,
}

impl std::fmt::Debug for OwnRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OwnRun")
            .field("root", &hex_short(&self.submission.trace.root()))
            .field("secs", &self.secs)
            .finish()
    }
}

fn hex_short(h: &Hash) -> String {
    h[..6].iter().map(|b| format!("{b:02x}")).collect()
}

impl OwnRun {
    /// Whether our run agrees with `claim` in every committed value.
    pub fn agrees_with(&self, claim: &Claim) -> bool {
        self.submission.trace.root() == claim.trace_root
            && self.submission.trace.step_count() == claim.step_count
            && self.submission.final_memory_root == claim.final_memory_root
    }

    /// Whether a game against `claim` has a leaf to dispute, so that a bond on it cannot be
    /// lost by an honest player: the oracle pinned the claim's leaf 0, depth and zero padding,
    /// so a root other than the one our run expects at the claim's N differs in a leaf of
    /// `1..=N`, and a claim of more steps than our run has a leaf past our end (which no step
    /// reaches). A claim that differs from our run but not from what it expects (it cannot
    /// have passed the oracle's checks) is never challenged.
    pub fn can_win(&self, claim: &Claim) -> bool {
        let expected = self.submission.trace.expectation(claim.step_count).root();
        expected.is_none_or(|root| root != claim.trace_root)
    }
}

/// The candle device of `kind` (an error for CUDA in a build without the `cuda` feature).
pub(crate) fn device(kind: DeviceKind) -> Result<Device> {
    match kind {
        DeviceKind::Cpu => Ok(Device::Cpu),
        #[cfg(feature = "cuda")]
        DeviceKind::Cuda => Ok(veritrace_vm::candle_backend::default_device()?),
        #[cfg(not(feature = "cuda"))]
        DeviceKind::Cuda => {
            bail!("this build has no CUDA support: rebuild with `--features cuda`")
        }
    }
}

/// Runs `input` on `backend` (honestly, or edited by `edit` for a deliberately lying
/// challenger).
pub fn own_run(
    served: Arc<ServedModel>,
    input: &[u8],
    backend: BackendKind,
    device_kind: DeviceKind,
    edit: Option<Arc<dyn BoundaryEdit>>,
) -> Result<OwnRun> {
    fn execute<B: veritrace_vm::Backend + 'static>(
        served: Arc<ServedModel>,
        engine: Engine<B>,
        input: &[u8],
        edit: Option<Arc<dyn BoundaryEdit>>,
    ) -> Result<(Submission, Arc<dyn TraceSource + Send + Sync>)> {
        let (s, src) = RunSource::execute_with(served, engine, input, edit)?;
        Ok((s, Arc::new(src)))
    }
    let started = Instant::now();
    let memory = served.image.initial_memory();
    let (submission, source): (Submission, Arc<dyn TraceSource + Send + Sync>) = match backend {
        BackendKind::Native => {
            if device_kind == DeviceKind::Cuda {
                bail!("the native backend runs on the CPU; use --backend candle for CUDA");
            }
            execute(
                served,
                Engine::with_backend(FastNative::new(memory)),
                input,
                edit,
            )?
        }
        BackendKind::Candle => {
            let engine = Engine::with_backend(Candle::with_device(memory, device(device_kind)?)?);
            execute(served, engine, input, edit)?
        }
    };
    Ok(OwnRun {
        submission,
        source,
        secs: started.elapsed().as_secs_f64(),
    })
}

/// Re-runs `input` with the canonical wasm program (wasmtime, deterministic settings) and
/// tells whether its layer-trace root is `expected` (our fast run's root). Returns the seconds
/// it took too.
pub fn confirm_with_wasm(
    served: &ServedModel,
    input: &[u8],
    expected: &Hash,
) -> Result<(bool, f64)> {
    let started = Instant::now();
    let mut engine = Engine::with_backend(Wasm::new(&served.image)?);
    let run = served.execute(&mut engine, input)?;
    Ok((
        run.trace.root() == *expected,
        started.elapsed().as_secs_f64(),
    ))
}
