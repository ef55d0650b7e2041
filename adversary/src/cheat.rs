//! The cheating executor: a [`Runner`] that lies in one of the ways the attack tests and the
//! demo exercise, plugged into the real executor daemon (`Executor::with_runner`).

use std::sync::Arc;

use anyhow::Result;
use veritrace_executor::runner::{Run, Runner};
use veritrace_protocol::game::TraceSource;
use veritrace_tracer::run_source::RunSource;
use veritrace_tracer::submission::ServedModel;
use veritrace_vm::Engine;
use veritrace_vm::native::FastNative;

use crate::forgery::{self, ExtraStep, MergedStep};
use crate::lie::{BadDissection, Lie};

/// How a deliberately dishonest executor lies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cheat {
    /// Flip a byte of one layer step's activations.
    TamperHidden {
        /// The forged layer step.
        step: u64,
    },
    /// Claim another answer text.
    WrongText {
        /// The claimed text.
        text: String,
    },
    /// Sample with another seed than the request's.
    OtherSeed,
    /// Honest trace, made-up level-2 hashes.
    BadDissection,
    /// Commit the memory after steps `step` and `step + 1` as one leaf ([`MergedStep`]).
    MergeSteps {
        /// The first of the two merged steps.
        step: u64,
    },
    /// Commit one more "done" leaf after the honest end ([`ExtraStep`]).
    ExtraStep,
    /// A made-up leaf in the padding past N (refused at submit: `NonZeroPadding`).
    PaddedTree,
}

impl Cheat {
    /// The lie the run tells, for the cheats that are [`Lie`]s (the others forge an honest run).
    fn lie(&self) -> Option<Lie> {
        Some(match self {
            Cheat::TamperHidden { step } => Lie::TamperHidden { step: *step },
            Cheat::WrongText { text } => Lie::WrongText { text: text.clone() },
            Cheat::OtherSeed => Lie::OtherSeed { seed: [0x5e; 32] },
            Cheat::BadDissection => Lie::BadDissection,
            Cheat::MergeSteps { .. } | Cheat::ExtraStep | Cheat::PaddedTree => return None,
        })
    }
}

/// A cheating executor's runs: `cheat`, optionally with made-up level-2 hashes on top, or
/// never moving in its games at all.
#[derive(Debug, Clone)]
pub struct Cheater {
    cheat: Cheat,
    bad_dissection: bool,
    silent: bool,
}

impl Cheater {
    /// An executor that tells `cheat` and defends it as well as a lie can be defended.
    pub fn new(cheat: Cheat) -> Self {
        tracing::warn!(?cheat, "this executor LIES on purpose (test/demo mode)");
        Self {
            cheat,
            bad_dissection: false,
            silent: false,
        }
    }

    /// The same, answering level 2 with made-up interior hashes as well.
    pub fn with_bad_dissection(self) -> Self {
        tracing::warn!("... and answers level 2 with made-up hashes");
        Self {
            bad_dissection: true,
            ..self
        }
    }

    /// The same, never moving in its games (the clock must punish it).
    pub fn silent(self) -> Self {
        tracing::warn!("... and never moves in its games");
        Self {
            silent: true,
            ..self
        }
    }

    /// As the executor's runner.
    pub fn into_runner(self) -> Arc<dyn Runner> {
        Arc::new(self)
    }
}

impl Runner for Cheater {
    fn run(&self, served: Arc<ServedModel>, input: &[u8]) -> Result<Run> {
        let engine = Engine::with_backend(FastNative::new(served.image.initial_memory()));
        let (submission, source): Run = match self.cheat.lie() {
            Some(lie) => lie.tell(served, engine, input)?,
            None => {
                let (mut submission, honest) = RunSource::execute(served, engine, input)?;
                let source: Arc<dyn TraceSource + Send + Sync> = match self.cheat {
                    Cheat::MergeSteps { step } => {
                        Arc::new(MergedStep::forge(honest, &mut submission, step)?)
                    }
                    Cheat::ExtraStep => Arc::new(ExtraStep::forge(honest, &mut submission)?),
                    Cheat::PaddedTree => {
                        forgery::pad_with_garbage(&mut submission)?;
                        Arc::new(honest)
                    }
                    _ => unreachable!("Cheat::lie covers every other cheat"),
                };
                (submission, source)
            }
        };
        if self.bad_dissection {
            return Ok((submission, Arc::new(BadDissection(source))));
        }
        Ok((submission, source))
    }

    fn defends(&self) -> bool {
        !self.silent
    }
}
