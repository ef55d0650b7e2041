//! Gas of `OneStepProver.executeStep` per instruction class and kind, measured in revm over the
//! steps of whole programs: execution gas and the transaction's total (intrinsic 21,000 plus
//! calldata, or the EIP-7623 floor when higher, plus execution), which is what a one-step proof
//! costs on chain.

use std::collections::BTreeMap;
use std::fmt::Write;

use veritrace_machine::Machine;

use super::classify::classify;
use super::evm::{OspCall, OspEvm, OspEvmError, OspResult};

/// The on-chain budget a single one-step proof should stay under.
pub const PROOF_GAS_LIMIT: u64 = 300_000;

/// Gas of one proven step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Sample {
    execution: u64,
    total: u64,
    calldata: usize,
}

/// One line of the table.
#[derive(Clone, Debug)]
pub struct GasRow {
    /// Class prover (control, variables, memory, math) or `trapped`.
    pub class: &'static str,
    /// Kind within the class (`*` for the class's summary line).
    pub kind: String,
    /// Steps measured.
    pub count: usize,
    /// Median execution gas.
    pub median_execution: u64,
    /// Largest execution gas.
    pub max_execution: u64,
    /// Median transaction gas.
    pub median_total: u64,
    /// Largest transaction gas.
    pub max_total: u64,
    /// Largest calldata in bytes.
    pub max_calldata: usize,
    /// Steps whose transaction gas exceeds [`PROOF_GAS_LIMIT`].
    pub over_limit: usize,
    /// Sum of the execution gas of all steps.
    pub sum_execution: u64,
    /// Sum of the transaction gas of all steps.
    pub sum_total: u64,
}

/// Samples grouped by `(class, kind)`, each group a histogram (distinct gas figures are few,
/// so tens of millions of steps fit in little memory).
#[derive(Debug, Default)]
pub struct GasTable {
    samples: BTreeMap<(&'static str, String), BTreeMap<Sample, usize>>,
}

/// Why a measurement failed.
#[derive(Debug, thiserror::Error)]
pub enum GasError {
    /// The EVM could not run the transaction.
    #[error(transparent)]
    Evm(#[from] OspEvmError),
    /// The prover did not return the interpreter's hashes: the fuzzer's job, but never measure
    /// a wrong answer.
    #[error("pc {pc}: the prover returned {got:?} for an honest proof")]
    Wrong {
        /// pc of the step.
        pc: u32,
        /// What the prover returned.
        got: OspResult,
    },
}

impl GasTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Steps `m` for `layer_steps` layer steps (or to a trap, or `max_steps`), measuring every
    /// step's proof; returns the steps measured.
    pub fn record(
        &mut self,
        evm: &mut OspEvm,
        mut m: Machine,
        layer_steps: usize,
        max_steps: u64,
    ) -> Result<u64, GasError> {
        let (root, log2) = (m.program().root(), m.program().memory_log2());
        let (mut steps, mut boundaries) = (0, 0);
        while boundaries < layer_steps && steps < max_steps {
            let was_trapped = m.is_trapped();
            let key = classify(&m);
            let pc = m.pc();
            let pre = m.hash();
            let proof = m.prove_step();
            let post = m.hash();
            let call = evm.execute_step(root, log2, &proof)?;
            if call.result != (OspResult::Proved { pre, post }) {
                return Err(GasError::Wrong {
                    pc,
                    got: call.result,
                });
            }
            self.add(key, &call);
            steps += 1;
            if was_trapped {
                break;
            }
            if m.at_step_end() {
                boundaries += 1;
                m.start_next_step();
            }
        }
        Ok(steps)
    }

    /// Records one measured step of class and kind `key` (as [`classify`] gives).
    pub fn add(&mut self, key: (&'static str, String), call: &OspCall) {
        let sample = Sample {
            execution: call.execution_gas,
            total: call.total_gas,
            calldata: call.calldata_bytes,
        };
        *self
            .samples
            .entry(key)
            .or_default()
            .entry(sample)
            .or_default() += 1;
    }

    /// Steps measured so far.
    pub fn steps(&self) -> usize {
        self.samples.values().flat_map(|h| h.values()).sum()
    }

    /// One row per kind, then a summary row (`kind = "*"`) per class, classes in order.
    pub fn rows(&self) -> Vec<GasRow> {
        let mut rows = Vec::new();
        let mut by_class: BTreeMap<&'static str, BTreeMap<Sample, usize>> = BTreeMap::new();
        for ((class, kind), samples) in &self.samples {
            rows.push(row(class, kind.clone(), samples));
            let merged = by_class.entry(class).or_default();
            for (&s, &n) in samples {
                *merged.entry(s).or_default() += n;
            }
        }
        for (class, samples) in &by_class {
            rows.push(row(class, "*".to_string(), samples));
        }
        rows.sort_by(|a, b| {
            (a.class, a.kind != "*", &a.kind).cmp(&(b.class, b.kind != "*", &b.kind))
        });
        rows
    }

    /// The table as text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<10} {:<28} {:>7} {:>10} {:>10} {:>10} {:>10} {:>9}  flag",
            "class", "kind", "count", "med exec", "max exec", "med total", "max total", "max bytes"
        );
        for r in self.rows() {
            let flag = if r.over_limit > 0 {
                format!("{} > {PROOF_GAS_LIMIT}", r.over_limit)
            } else {
                String::new()
            };
            let kind = if r.kind == "*" {
                "(all)".to_string()
            } else {
                format!("  {}", r.kind)
            };
            let _ = writeln!(
                out,
                "{:<10} {:<28} {:>7} {:>10} {:>10} {:>10} {:>10} {:>9}  {flag}",
                r.class,
                kind,
                r.count,
                r.median_execution,
                r.max_execution,
                r.median_total,
                r.max_total,
                r.max_calldata
            );
        }
        out
    }
}

fn row(class: &'static str, kind: String, samples: &BTreeMap<Sample, usize>) -> GasRow {
    let count: usize = samples.values().sum();
    // The weighted median: the value at sorted position count / 2.
    let median = |f: fn(&Sample) -> u64| {
        let mut v: Vec<(u64, usize)> = samples.iter().map(|(s, &n)| (f(s), n)).collect();
        v.sort_unstable();
        let mut seen = 0;
        for (x, n) in v {
            seen += n;
            if seen > count / 2 {
                return x;
            }
        }
        0
    };
    let weighted = |f: fn(&Sample) -> u64| samples.iter().map(|(s, &n)| f(s) * n as u64).sum();
    GasRow {
        class,
        kind,
        count,
        median_execution: median(|s| s.execution),
        max_execution: samples.keys().map(|s| s.execution).max().unwrap_or(0),
        median_total: median(|s| s.total),
        max_total: samples.keys().map(|s| s.total).max().unwrap_or(0),
        max_calldata: samples.keys().map(|s| s.calldata).max().unwrap_or(0),
        over_limit: samples
            .iter()
            .filter(|(s, _)| s.total > PROOF_GAS_LIMIT)
            .map(|(_, &n)| n)
            .sum(),
        sum_execution: weighted(|s| s.execution),
        sum_total: weighted(|s| s.total),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::{Sample, row};

    #[test]
    fn the_histogram_gives_weighted_medians_maxima_and_sums() {
        let s = |execution, total| Sample {
            execution,
            total,
            calldata: 10,
        };
        // Gas 1 x3, 5 x1, 9 x1: median 1 (position 2 of 5), sum 3 + 5 + 9.
        let h = BTreeMap::from([(s(1, 100), 3), (s(5, 500), 1), (s(9, 400_000), 1)]);
        let r = row("math", "k".to_string(), &h);
        assert_eq!((r.count, r.median_execution, r.max_execution), (5, 1, 9));
        assert_eq!(
            (r.median_total, r.max_total, r.over_limit),
            (100, 400_000, 1)
        );
        assert_eq!((r.sum_execution, r.sum_total), (17, 400_800));
        let h = BTreeMap::from([(s(1, 1), 1), (s(5, 5), 2)]);
        assert_eq!(row("math", "k".to_string(), &h).median_execution, 5);
    }
}
