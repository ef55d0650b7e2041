//! A [`TraceSource`] over a real run of the engine: what the executor defends and the challenger
//! attacks with. A run may be edited at its step boundaries ([`BoundaryEdit`]: how the
//! dishonest parties of `veritrace-adversary` lie); an honest run edits nothing.
//!
//! Level 1 is answered from the layer trace recorded during the run. Levels 2 and 3 need the
//! Merkleized machine inside one disputed step `j`: the source re-runs its engine from the
//! input to boundary `j-1` (re-telling its lie), starts the interpreter there
//! ([`ModelMachine::at_boundary`]) and runs the step once to learn its length. That work is
//! cached for the one step a game disputes. The machine hashes a dissection round asks for
//! ascend, so they are produced in one pass by a cursor machine; when a new round asks for a
//! point behind the cursor, the source infers the round's interval from the points it answered
//! before, keeps a snapshot at its start and forgets the others
//! ([`veritrace_machine::StepTrace::keep`] / `forget_outside`). A machine over the real model
//! is ~0.75 GiB (2^28 bytes of memory and its tree), so at most three are alive per source: the
//! step's start, the current interval's start and the cursor.

use std::sync::{Arc, Mutex, MutexGuard};

use veritrace_machine::{Machine, StepTrace};
use veritrace_protocol::Hash;
use veritrace_protocol::game::{SourceError, TraceSource};
use veritrace_protocol::trace::LayerTrace;
use veritrace_vm::{Backend, Engine};

use crate::submission::{ServedModel, Submission};

/// A change a party makes to the engine's memory at a step boundary, after which the run
/// carries on from the edited memory, so that the forged layer trace is self-consistent after
/// it. Honest runs make none; the dishonest parties of attack tests and the demo
/// (`veritrace-adversary`) tell their lies through it. See
/// [`crate::recorder::record_loaded_edited`] for when each boundary is edited.
pub trait BoundaryEdit: Send + Sync + std::fmt::Debug {
    /// Edits `memory` at `boundary` (`done`: the run's last boundary); returns the byte ranges
    /// `(offset, len)` it changed (none: nothing edited here).
    fn edit(&self, boundary: u64, done: bool, memory: &mut [u8]) -> Vec<(usize, usize)>;
}

/// What a source keeps about the one step under dispute.
struct StepCache {
    /// The disputed step.
    step: u64,
    /// Snapshots along it (always the start; the current interval's start).
    trace: StepTrace,
    /// A machine after `.0` instructions, where the last question left it.
    cursor: Option<(u64, Machine)>,
    /// Interior points answered from the interpreter, ascending: the ends of later rounds.
    answered: Vec<u64>,
}

impl StepCache {
    /// The machine after `t` instructions, from the nearest snapshot. Past the step's end
    /// (`t > len`) the machine stays where the step ended (its end state, or a trap).
    fn machine_at(&self, t: u64) -> Machine {
        self.trace.machine_at(t.min(self.trace.len()))
    }

    /// Moves the cursor to `t`: forward from where it is, or (a new, narrower round) from the
    /// snapshot at the start of the interval `t` lies in, which is kept from now on.
    fn seek(&mut self, t: u64) -> &mut Machine {
        let ahead = matches!(&self.cursor, Some((at, _)) if *at <= t);
        if !ahead {
            self.cursor = None;
            let len = self.trace.len();
            let lo = self.answered.iter().rev().find(|&&p| p < t).copied();
            let hi = self.answered.iter().find(|&&p| p > t).copied();
            let lo = lo.unwrap_or(0).min(len);
            if lo > 0 {
                self.trace.keep(lo);
            }
            self.trace
                .forget_outside(lo, hi.unwrap_or(u64::MAX).clamp(lo, len));
            self.cursor = Some((t, self.machine_at(t)));
        }
        let (at, m) = self.cursor.as_mut().expect("cursor set above");
        while *at < t && !m.is_halted() {
            m.step();
            *at += 1;
        }
        // A halted machine never changes: the positions past its end are all the same state.
        *at = t;
        if let Err(i) = self.answered.binary_search(&t) {
            self.answered.insert(i, t);
        }
        m
    }
}

/// One party's run of one request: its (possibly forged) layer trace and the machine to answer
/// level-2/3 questions.
pub struct RunSource<B: Backend> {
    served: Arc<ServedModel>,
    input: Vec<u8>,
    edit: Option<Arc<dyn BoundaryEdit>>,
    trace: LayerTrace,
    engine: Mutex<Engine<B>>,
    cache: Mutex<Option<StepCache>>,
}

impl<B: Backend> std::fmt::Debug for RunSource<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let cached = self.cache.try_lock().ok().and_then(|c| {
            c.as_ref()
                .map(|c| (c.step, c.trace.len(), c.trace.snapshots()))
        });
        f.debug_struct("RunSource")
            .field("edit", &self.edit)
            .field("step_count", &self.trace.step_count())
            .field("trace_root", &hex::encode(self.trace.root()))
            .field("input_bytes", &self.input.len())
            .field("cached_step_len_snapshots", &cached)
            .finish()
    }
}

impl<B: Backend> RunSource<B> {
    /// Runs `input` (the input-region bytes the oracle derived) on `engine` honestly, recording
    /// the trace; returns what to submit and the source that answers the game.
    pub fn execute(
        served: Arc<ServedModel>,
        engine: Engine<B>,
        input: &[u8],
    ) -> anyhow::Result<(Submission, Self)> {
        Self::execute_with(served, engine, input, None)
    }

    /// [`RunSource::execute`] with the run's memory edited at its step boundaries by `edit`,
    /// if any (also when the source re-runs the engine to answer a question about a step).
    pub fn execute_with(
        served: Arc<ServedModel>,
        mut engine: Engine<B>,
        input: &[u8],
        edit: Option<Arc<dyn BoundaryEdit>>,
    ) -> anyhow::Result<(Submission, Self)> {
        let submission = served.execute_edited(&mut engine, input, |b, done, m| match &edit {
            Some(edit) => edit.edit(b, done, m),
            None => Vec::new(),
        })?;
        let source = Self {
            trace: submission.trace.clone(),
            served,
            input: input.to_vec(),
            edit,
            engine: Mutex::new(engine),
            cache: Mutex::new(None),
        };
        Ok((submission, source))
    }

    /// The machine hash the interpreter computes after `t` instructions of step `step` from
    /// this party's boundary memory, without the substitution [`TraceSource::machine_hash`]
    /// makes (the committed leaves at both ends): for checking that the interpreter reproduces
    /// the engine's boundaries.
    pub fn interpreter_hash(&self, step: u64, t: u64) -> Result<Hash, SourceError> {
        let mut cache = self.cache_for(step)?;
        let cache = cache.as_mut().expect("cache_for fills it");
        Ok(cache.seek(t).hash())
    }

    /// Steps this source can replay: its own `1..=N`, and step N + 1, which a claim of more
    /// steps than this run has makes a challenger dispute (it runs from this party's final
    /// memory, where the canonical program traps: no step follows a finished run).
    fn check_step(&self, step: u64) -> Result<(), SourceError> {
        let step_count = self.trace.step_count();
        if step == 0 || step > step_count + 1 {
            return Err(SourceError::StepOutOfRange { step, step_count });
        }
        Ok(())
    }

    /// The cache, filled for `step` (re-running the engine and the step when it held another).
    fn cache_for(&self, step: u64) -> Result<MutexGuard<'_, Option<StepCache>>, SourceError> {
        self.check_step(step)?;
        // A panic while answering may have left the cursor half-moved: start the step afresh.
        let mut cache = self.cache.lock().unwrap_or_else(|poisoned| {
            let mut cache = poisoned.into_inner();
            *cache = None;
            cache
        });
        if cache.as_ref().is_none_or(|c| c.step != step) {
            // Free the old step's machines before building the new ones.
            *cache = None;
            let memory = self.boundary_memory(step - 1)?;
            let start = self.served.machine.at_boundary(memory);
            *cache = Some(StepCache {
                step,
                trace: StepTrace::record(start, u64::MAX),
                cursor: None,
                answered: Vec::new(),
            });
        }
        Ok(cache)
    }

    /// This party's memory at `boundary`: the engine re-run from the input, edits included.
    fn boundary_memory(&self, boundary: u64) -> Result<Vec<u8>, SourceError> {
        let fail = |reason: String| SourceError::Execution {
            step: boundary + 1,
            reason,
        };
        let mut engine = self.engine.lock().unwrap_or_else(|e| e.into_inner());
        engine.load_input(&self.input);
        let edit = |b: u64, done: bool, memory: &mut [u8]| {
            if let Some(edit) = &self.edit {
                edit.edit(b, done, memory);
            }
        };
        edit(0, false, engine.memory_mut());
        for b in 1..=boundary {
            let (_, done) = engine.step().map_err(|e| fail(e.to_string()))?;
            edit(b, done, engine.memory_mut());
            if done && b < boundary {
                return Err(fail(format!("the run ended after {b} steps")));
            }
        }
        Ok(engine.memory().to_vec())
    }
}

impl<B: Backend> TraceSource for RunSource<B> {
    fn layer_trace(&self) -> &LayerTrace {
        &self.trace
    }

    /// The interpreter's length of step `step` from this party's boundary memory (the first
    /// question about a step re-runs the engine to its start and the step once).
    fn instruction_count(&self, step: u64) -> Result<u64, SourceError> {
        let cache = self.cache_for(step)?;
        Ok(cache.as_ref().expect("cache_for fills it").trace.len())
    }

    /// The step's start state over leaf `step-1` at `t = 0`, its end state over leaf `step`
    /// from `t = instruction_count(step)` on (so that a lie stays consistent with the committed
    /// leaves; the end is a fixed point), else the interpreter's hash after `t` instructions.
    /// Step N + 1 (past this run) is the interpreter's all the way.
    fn machine_hash(&self, step: u64, t: u64) -> Result<Hash, SourceError> {
        self.check_step(step)?;
        let program = self.served.machine.program();
        if t == 0 {
            return Ok(program.boundary_hash(self.trace.leaf(step - 1)?));
        }
        let mut cache = self.cache_for(step)?;
        let cache = cache.as_mut().expect("cache_for fills it");
        if t >= cache.trace.len() && step <= self.trace.step_count() {
            return Ok(program.step_end_hash(self.trace.leaf(step)?));
        }
        Ok(cache.seek(t).hash())
    }

    /// The proof of instruction `t + 1` from the interpreter's state after `t` (past the
    /// step's end: the proof of the halted state, which proves it unchanged).
    fn one_step_proof(&self, step: u64, t: u64) -> Result<Vec<u8>, SourceError> {
        let mut cache = self.cache_for(step)?;
        let cache = cache.as_mut().expect("cache_for fills it");
        let proof = cache.seek(t).prove_step();
        // Proving executes the instruction: the cursor is now after `t + 1`.
        if let Some((at, _)) = cache.cursor.as_mut() {
            *at = t + 1;
        }
        Ok(proof)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use veritrace_vm::Native;
    use veritrace_vm::native::FastNative;

    #[test]
    fn sources_can_cross_threads() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<RunSource<Native>>();
        send_sync::<RunSource<FastNative>>();
    }
}
