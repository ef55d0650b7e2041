//! Lies told on the real machine. A [`MemoryLie`] edits the engine's memory at one step
//! boundary and the run carries on from there, so the forged layer trace is self-consistent
//! after it (the liar's level-2 states follow from its edited memory too). [`BadDissection`]
//! keeps an honest trace and posts made-up machine hashes at every interior level-2 point.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Result, bail, ensure};
use veritrace_machine::hash::keccak;
use veritrace_protocol::Hash;
use veritrace_protocol::game::{SourceError, TraceSource};
use veritrace_protocol::trace::LayerTrace;
use veritrace_tracer::run_source::{BoundaryEdit, RunSource};
use veritrace_tracer::submission::{ServedModel, Submission};
use veritrace_vm::semantics::layout::{INPUT_SEED, Layout, OUTPUT_TEXT, OUTPUT_TEXT_LEN, Region};
use veritrace_vm::{Backend, Engine};

/// How a run departs from the honest one.
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

/// A source telling a [`Lie`]: a run edited by a [`MemoryLie`], or an honest run behind
/// [`BadDissection`].
pub type LyingSource = Arc<dyn TraceSource + Send + Sync>;

impl Lie {
    /// Runs `input` on `engine` telling this lie; returns what the liar submits and the source
    /// it plays with. Fails if the lie cannot be told on this model or in this run.
    pub fn tell<B: Backend + 'static>(
        &self,
        served: Arc<ServedModel>,
        engine: Engine<B>,
        input: &[u8],
    ) -> Result<(Submission, LyingSource)> {
        if *self == Lie::BadDissection {
            let (submission, honest) = RunSource::execute(served, engine, input)?;
            return Ok((submission, Arc::new(BadDissection(honest))));
        }
        let edit = MemoryLie::new(self.clone(), served.image.layout)?;
        let (submission, source) =
            RunSource::execute_with(served, engine, input, Some(edit.clone()))?;
        ensure!(
            edit.told(),
            "the lie {self:?} was never told in a run of {} steps",
            submission.trace.step_count()
        );
        Ok((submission, Arc::new(source)))
    }
}

/// A [`Lie`] that edits memory, as the [`BoundaryEdit`] of a run.
#[derive(Debug)]
pub struct MemoryLie {
    lie: Lie,
    layout: Layout,
    told: AtomicBool,
}

impl MemoryLie {
    /// The edit that tells `lie` on a machine with `layout`; fails for a lie that edits no
    /// memory or cannot be told there.
    pub fn new(lie: Lie, layout: Layout) -> Result<Arc<Self>> {
        match &lie {
            Lie::TamperHidden { step: 0 } => {
                bail!("TamperHidden needs a step >= 1 (leaf 0 is checked by the oracle)")
            }
            Lie::WrongText { text } => {
                let room = layout.size(Region::Output) - OUTPUT_TEXT;
                ensure!(
                    text.len() <= room,
                    "WrongText of {} bytes does not fit the {room}-byte output text",
                    text.len()
                );
            }
            Lie::BadDissection => bail!("BadDissection edits no memory: wrap the source instead"),
            _ => {}
        }
        Ok(Arc::new(Self {
            lie,
            layout,
            told: AtomicBool::new(false),
        }))
    }

    /// Whether the lie has been told (some boundary was edited).
    pub fn told(&self) -> bool {
        self.told.load(Ordering::Relaxed)
    }
}

impl BoundaryEdit for MemoryLie {
    fn edit(&self, boundary: u64, done: bool, memory: &mut [u8]) -> Vec<(usize, usize)> {
        let l = &self.layout;
        let edited = match &self.lie {
            Lie::TamperHidden { step } if *step == boundary => {
                let o = l.offset(Region::Hidden);
                memory[o] ^= 0xff;
                vec![(o, 1)]
            }
            Lie::WrongText { text } if done => {
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
            Lie::OtherSeed { seed } if boundary == 0 => {
                let o = l.offset(Region::Input) + INPUT_SEED;
                memory[o..o + 32].copy_from_slice(seed);
                vec![(o, 32)]
            }
            _ => return Vec::new(),
        };
        self.told.store(true, Ordering::Relaxed);
        edited
    }
}

/// A source that answers level 2 with made-up interior hashes; its committed leaves, and the
/// machine hashes at both ends of a step, stay the honest source's.
#[derive(Debug)]
pub struct BadDissection<S>(pub S);

/// The made-up machine hash a [`BadDissection`] posts at interior point `t` of step `step`:
/// `keccak("bad dissection" ‖ step ‖ t)` (both big-endian u64).
pub fn bad_dissection_hash(step: u64, t: u64) -> Hash {
    keccak(&[b"bad dissection", &step.to_be_bytes(), &t.to_be_bytes()])
}

impl<S: TraceSource> TraceSource for BadDissection<S> {
    fn layer_trace(&self) -> &LayerTrace {
        self.0.layer_trace()
    }

    fn instruction_count(&self, step: u64) -> Result<u64, SourceError> {
        self.0.instruction_count(step)
    }

    fn machine_hash(&self, step: u64, t: u64) -> Result<Hash, SourceError> {
        if t == 0 || t >= self.0.instruction_count(step)? {
            return self.0.machine_hash(step, t);
        }
        Ok(bad_dissection_hash(step, t))
    }

    fn one_step_proof(&self, step: u64, t: u64) -> Result<Vec<u8>, SourceError> {
        self.0.one_step_proof(step, t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_dissection_hashes_depend_on_step_and_point() {
        let a = bad_dissection_hash(3, 10);
        assert_ne!(a, bad_dissection_hash(3, 11));
        assert_ne!(a, bad_dissection_hash(4, 10));
        assert_eq!(a, bad_dissection_hash(3, 10));
    }
}
