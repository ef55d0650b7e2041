//! A [`TraceSource`] over a real run of the engine: what the executor defends and the challenger
//! attacks with, plus the ways a party can lie ([`Lie`]) for attack tests and the demo's
//! cheating executor.
//!
//! Level 1 is answered from the layer trace recorded during the run. Levels 2 and 3 need the
//! Merkleized machine inside one disputed step `j`: the source re-runs its engine from the
//! input to boundary `j-1` (re-telling its lie), starts the interpreter there
//! ([`ModelMachine::at_boundary`]) and runs the step once to learn its length. That work is
//! cached for the one step a game disputes. The machine hashes a dissection round asks for
//! ascend, so they are produced in one pass by a cursor machine; when a new round asks for a
//! point behind the cursor, the source infers the round's interval from the points it answered
//! before, keeps a snapshot at its start and forgets the others
//! ([`veritrace_machine::LayerTrace::keep`] / `forget_outside`). A machine over the real model
//! is ~0.75 GiB (2^28 bytes of memory and its tree), so at most three are alive per source: the
//! step's start, the current interval's start and the cursor.

use std::sync::{Arc, Mutex, MutexGuard};

use veritrace_machine::hash::keccak;
use veritrace_machine::{LayerTrace as StepTrace, Machine};
use veritrace_vm::semantics::layout::{Layout, OUTPUT_TEXT, Region};
use veritrace_vm::{Backend, Engine};

use crate::Hash;
use crate::game::{SourceError, TraceSource};
use crate::submission::{ServedModel, Submission};
use crate::trace::LayerTrace;

/// How a run departs from the honest one. Each lie edits the engine's memory at one step
/// boundary and carries on from there, so the forged layer trace is self-consistent after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lie {
    /// Flip one byte of the Hidden region right after layer step `step` (a tampered activation).
    TamperHidden {
        /// The step after which the byte is flipped (1..=N); its leaf is the first forged one.
        step: u64,
    },
    /// The answer says `text` instead: rewrite the Output region (header text_len + bytes)
    /// after the last step.
    WrongText {
        /// The claimed answer text.
        text: String,
    },
    /// Prefill-style: sample with another seed (overwrite the seed slot of the Input region
    /// after leaf 0, before step 1 runs; leaf 0 stays the honest one the oracle checks).
    OtherSeed {
        /// The seed written into the Input region's seed slot.
        seed: [u8; 32],
    },
    /// Honest layer trace and honest boundary hashes, but made-up machine hashes at every
    /// interior level-2 dissection point (inconsistent dissection answers).
    BadDissection,
}

/// Byte offset of the seed slot in the Input region (`Request::encode`).
const INPUT_SEED: usize = 32;
/// Byte offset of `text_len` in the Output region's header.
const OUTPUT_TEXT_LEN: usize = 8;

impl Lie {
    /// The made-up machine hash a [`Lie::BadDissection`] party posts at interior point `t` of
    /// step `step`: `keccak("bad dissection" ‖ step ‖ t)` (both big-endian u64).
    pub fn bad_dissection_hash(step: u64, t: u64) -> Hash {
        keccak(&[b"bad dissection", &step.to_be_bytes(), &t.to_be_bytes()])
    }

    /// Checks that the lie can be told on a machine with `layout`.
    fn check(&self, layout: &Layout) -> anyhow::Result<()> {
        match self {
            Lie::TamperHidden { step: 0 } => {
                anyhow::bail!("TamperHidden needs a step >= 1 (leaf 0 is checked by the oracle)")
            }
            Lie::WrongText { text } => {
                let room = layout.size(Region::Output) - OUTPUT_TEXT;
                anyhow::ensure!(
                    text.len() <= room,
                    "WrongText of {} bytes does not fit the {room}-byte output text",
                    text.len()
                );
            }
            _ => {}
        }
        Ok(())
    }

    /// Whether the lie edits memory at all (`BadDissection` does not).
    fn edits_memory(&self) -> bool {
        !matches!(self, Lie::BadDissection)
    }
}

/// Tells a lie while a run goes on: the boundary edit of
/// [`crate::recorder::record_loaded_edited`].
struct Teller<'a> {
    lie: Option<&'a Lie>,
    layout: Layout,
    told: bool,
}

impl<'a> Teller<'a> {
    fn new(lie: Option<&'a Lie>, layout: Layout) -> Self {
        Self {
            lie,
            layout,
            told: false,
        }
    }

    /// Edits `memory` at `boundary` as the lie says; returns the changed byte ranges.
    fn edit(&mut self, boundary: u64, done: bool, memory: &mut [u8]) -> Vec<(usize, usize)> {
        let l = &self.layout;
        let edited = match self.lie {
            Some(Lie::TamperHidden { step }) if *step == boundary => {
                let o = l.offset(Region::Hidden);
                memory[o] ^= 0xff;
                vec![(o, 1)]
            }
            Some(Lie::WrongText { text }) if done => {
                let o = l.offset(Region::Output);
                let len_at = o + OUTPUT_TEXT_LEN;
                let old = u32::from_le_bytes(memory[len_at..len_at + 4].try_into().unwrap());
                let old = (old as usize).min(l.size(Region::Output) - OUTPUT_TEXT);
                let text_at = o + OUTPUT_TEXT;
                memory[text_at..text_at + old].fill(0);
                memory[text_at..text_at + text.len()].copy_from_slice(text.as_bytes());
                memory[len_at..len_at + 4].copy_from_slice(&(text.len() as u32).to_le_bytes());
                vec![(o, OUTPUT_TEXT + old.max(text.len()))]
            }
            Some(Lie::OtherSeed { seed }) if boundary == 0 => {
                let o = l.offset(Region::Input) + INPUT_SEED;
                memory[o..o + 32].copy_from_slice(seed);
                vec![(o, 32)]
            }
            _ => return Vec::new(),
        };
        self.told = true;
        edited
    }
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
    lie: Option<Lie>,
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
            .field("lie", &self.lie)
            .field("step_count", &self.trace.step_count())
            .field("trace_root", &hex::encode(self.trace.root()))
            .field("input_bytes", &self.input.len())
            .field("cached_step_len_snapshots", &cached)
            .finish()
    }
}

impl<B: Backend> RunSource<B> {
    /// Runs `input` (the input-region bytes the oracle derived) on `engine`, honestly or with
    /// `lie`, recording the trace; returns what to submit and the source that answers the game.
    pub fn execute(
        served: Arc<ServedModel>,
        mut engine: Engine<B>,
        input: &[u8],
        lie: Option<Lie>,
    ) -> anyhow::Result<(Submission, Self)> {
        let layout = served.image.layout;
        if let Some(lie) = &lie {
            lie.check(&layout)?;
        }
        let mut teller = Teller::new(lie.as_ref(), layout);
        let submission =
            served.execute_edited(&mut engine, input, |b, done, m| teller.edit(b, done, m))?;
        if let Some(lie) = &lie {
            anyhow::ensure!(
                teller.told || !lie.edits_memory(),
                "the lie {lie:?} was never told in a run of {} steps",
                submission.trace.step_count()
            );
        }
        let source = Self {
            trace: submission.trace.clone(),
            served,
            input: input.to_vec(),
            lie,
            engine: Mutex::new(engine),
            cache: Mutex::new(None),
        };
        Ok((submission, source))
    }

    /// The lie this source tells, if any.
    pub fn lie(&self) -> Option<&Lie> {
        self.lie.as_ref()
    }

    /// The machine hash the interpreter computes after `t` instructions of step `step` from
    /// this party's boundary memory, without the substitutions [`TraceSource::machine_hash`]
    /// makes (the committed leaves at both ends, a [`Lie::BadDissection`]'s made-up points):
    /// for checking that the interpreter reproduces the engine's boundaries.
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

    /// This party's memory at `boundary`: the engine re-run from the input, lie included.
    fn boundary_memory(&self, boundary: u64) -> Result<Vec<u8>, SourceError> {
        let fail = |reason: String| SourceError::Execution {
            step: boundary + 1,
            reason,
        };
        let mut engine = self.engine.lock().unwrap_or_else(|e| e.into_inner());
        engine.load_input(&self.input);
        let mut teller = Teller::new(self.lie.as_ref(), self.served.image.layout);
        teller.edit(0, false, engine.memory_mut());
        for b in 1..=boundary {
            let (_, done) = engine.step().map_err(|e| fail(e.to_string()))?;
            teller.edit(b, done, engine.memory_mut());
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
        if self.lie == Some(Lie::BadDissection) {
            return Ok(Lie::bad_dissection_hash(step, t));
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

    #[test]
    fn bad_dissection_hashes_depend_on_step_and_point() {
        let a = Lie::bad_dissection_hash(3, 10);
        assert_ne!(a, Lie::bad_dissection_hash(3, 11));
        assert_ne!(a, Lie::bad_dissection_hash(4, 10));
        assert_eq!(a, Lie::bad_dissection_hash(3, 10));
    }
}
