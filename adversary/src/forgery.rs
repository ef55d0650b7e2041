//! Forged traces that re-number the steps of an honest run:
//! the lies of the audit's proof of concept that edit no memory, only which state a leaf
//! claims to be. [`MergedStep`] commits the memory after steps j and j+1 as leaf j (one step
//! of `c_j + c_{j+1}` instructions, its level-2 states running on into step j+1, as the
//! machine did before `StepEnd` became a fixed point); [`ExtraStep`] commits one more "done"
//! leaf after the honest end. Both submissions pass the oracle's checks; both must lose every
//! dispute against an honest challenger. [`pad_with_garbage`] is the audit's padding bait, a
//! made-up leaf past N, which the oracle refuses at `submit`.

use std::sync::OnceLock;

use anyhow::{Result, ensure};

use veritrace_protocol::Hash;
use veritrace_protocol::game::{SourceError, TraceSource};
use veritrace_protocol::trace::LayerTrace;
use veritrace_tracer::submission::Submission;

/// An honest run whose steps `merged` and `merged + 1` are committed as one step.
#[derive(Debug)]
pub struct MergedStep<S> {
    honest: S,
    merged: u64,
    trace: LayerTrace,
    /// The honest length of step `merged`, learnt once (asking the honest source again for
    /// it while it answers about step `merged + 1` would re-run its engine every time).
    first_len: OnceLock<u64>,
}

impl<S: TraceSource> MergedStep<S> {
    /// Forges `submission` (the honest run behind `honest`) so that leaf `merged` is the memory
    /// after step `merged + 1`; the later leaves shift down by one, N by one less.
    pub fn forge(honest: S, submission: &mut Submission, merged: u64) -> Result<Self> {
        let n = honest.layer_trace().step_count();
        ensure!(
            merged >= 1 && merged < n,
            "MergeSteps needs 1 <= step < N = {n}, got {merged}"
        );
        let leaves = (0..=n)
            .filter(|&j| j != merged)
            .map(|j| honest.layer_trace().leaf(j))
            .collect::<Result<Vec<_>, _>>()?;
        let trace = LayerTrace::new(leaves)?;
        submission.trace = trace.clone();
        Ok(Self {
            honest,
            merged,
            trace,
            first_len: OnceLock::new(),
        })
    }

    fn first_len(&self) -> Result<u64, SourceError> {
        if let Some(&len) = self.first_len.get() {
            return Ok(len);
        }
        let len = self.honest.instruction_count(self.merged)?;
        Ok(*self.first_len.get_or_init(|| len))
    }

    /// The honest step and position that forged position (`step`, `t`) claims to be.
    fn honest_position(&self, step: u64, t: u64) -> Result<(u64, u64), SourceError> {
        let j = self.merged;
        Ok(match step {
            s if s < j => (s, t),
            s if s == j => {
                let first = self.first_len()?;
                if t < first {
                    (j, t)
                } else {
                    (j + 1, t - first)
                }
            }
            s => (s + 1, t),
        })
    }
}

impl<S: TraceSource> TraceSource for MergedStep<S> {
    fn layer_trace(&self) -> &LayerTrace {
        &self.trace
    }

    fn instruction_count(&self, step: u64) -> Result<u64, SourceError> {
        let j = self.merged;
        match step {
            s if s == j => Ok(self.first_len()? + self.honest.instruction_count(j + 1)?),
            s => {
                let (honest_step, _) = self.honest_position(s, 0)?;
                self.honest.instruction_count(honest_step)
            }
        }
    }

    fn machine_hash(&self, step: u64, t: u64) -> Result<Hash, SourceError> {
        let (step, t) = self.honest_position(step, t)?;
        self.honest.machine_hash(step, t)
    }

    fn one_step_proof(&self, step: u64, t: u64) -> Result<Vec<u8>, SourceError> {
        let (step, t) = self.honest_position(step, t)?;
        self.honest.one_step_proof(step, t)
    }
}

/// Forges `submission` (an honest run) with a made-up leaf at the end of its tree's padding.
pub fn pad_with_garbage(submission: &mut Submission) -> Result<()> {
    let last = (1u64 << submission.trace.depth()) - 1;
    let bait = veritrace_machine::hash::keccak(&[b"padding bait"]);
    submission.trace = submission.trace.with_padding_leaf(last, bait)?;
    Ok(())
}

/// An honest run with one more leaf after its end: the final memory again, as if a step N + 1
/// had run and changed nothing.
#[derive(Debug)]
pub struct ExtraStep<S> {
    honest: S,
    trace: LayerTrace,
}

impl<S: TraceSource> ExtraStep<S> {
    /// Forges `submission` (the honest run behind `honest`) with leaf N + 1 = leaf N.
    pub fn forge(honest: S, submission: &mut Submission) -> Result<Self> {
        let n = honest.layer_trace().step_count();
        let mut leaves = (0..=n)
            .map(|j| honest.layer_trace().leaf(j))
            .collect::<Result<Vec<_>, _>>()?;
        leaves.push(leaves[n as usize]);
        let trace = LayerTrace::new(leaves)?;
        submission.trace = trace.clone();
        Ok(Self { honest, trace })
    }
}

impl<S: TraceSource> TraceSource for ExtraStep<S> {
    fn layer_trace(&self) -> &LayerTrace {
        &self.trace
    }

    /// Step N + 1 has the length of the honest machine's run from the final memory (which
    /// traps); its claimed end is the step-end state of the final memory.
    fn instruction_count(&self, step: u64) -> Result<u64, SourceError> {
        self.honest.instruction_count(step)
    }

    fn machine_hash(&self, step: u64, t: u64) -> Result<Hash, SourceError> {
        let extra = self.trace.step_count();
        if step == extra && t >= self.honest.instruction_count(step)? {
            let program_end = self.honest.machine_hash(step - 1, u64::MAX)?;
            return Ok(program_end); // the step-end state over leaf N = leaf N + 1
        }
        self.honest.machine_hash(step, t)
    }

    fn one_step_proof(&self, step: u64, t: u64) -> Result<Vec<u8>, SourceError> {
        self.honest.one_step_proof(step, t)
    }
}
