//! How the executor turns a request's input into what it submits and the source it defends the
//! answer with. The daemon runs every request honestly on the fast native engine
//! ([`HonestRun`]); the dishonest executors of attack tests and the demo plug in runners of
//! their own (`veritrace-adversary`), so that no lie is compiled into the daemon.

use std::sync::Arc;

use anyhow::Result;
use veritrace_protocol::game::TraceSource;
use veritrace_tracer::run_source::RunSource;
use veritrace_tracer::submission::{ServedModel, Submission};
use veritrace_vm::Engine;
use veritrace_vm::native::FastNative;

/// A run of one request: what to submit, and the source that answers the games over it.
pub type Run = (Submission, Arc<dyn TraceSource + Send + Sync>);

/// Makes the executor's runs.
pub trait Runner: Send + Sync + std::fmt::Debug {
    /// Runs the input-region bytes `input` on `served`'s model.
    fn run(&self, served: Arc<ServedModel>, input: &[u8]) -> Result<Run>;

    /// Whether the executor moves in the games over its answers (an honest one always does).
    fn defends(&self) -> bool {
        true
    }
}

/// The honest run: the fast native engine with the layer trace recorded.
#[derive(Debug, Clone, Copy, Default)]
pub struct HonestRun;

impl Runner for HonestRun {
    fn run(&self, served: Arc<ServedModel>, input: &[u8]) -> Result<Run> {
        let engine = Engine::with_backend(FastNative::new(served.image.initial_memory()));
        let (submission, source) = RunSource::execute(served, engine, input)?;
        Ok((submission, Arc::new(source)))
    }
}
