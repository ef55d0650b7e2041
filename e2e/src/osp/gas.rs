//! Gas of `OneStepProver.executeStep` per instruction class and kind, measured in revm over the
//! steps of whole programs: execution gas and the transaction's total (intrinsic 21,000 plus
//! calldata, or the EIP-7623 floor when higher, plus execution), which is what a one-step proof
//! costs on chain.

use std::collections::BTreeMap;
use std::fmt::Write;

use veritrace_machine::Machine;

use super::classify::classify;
use super::evm::{OspEvm, OspEvmError, OspResult};

/// The on-chain budget a single one-step proof should stay under.
pub const PROOF_GAS_LIMIT: u64 = 300_000;

/// Gas of one proven step.
#[derive(Clone, Copy, Debug)]
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
}

/// Samples grouped by `(class, kind)`.
#[derive(Debug, Default)]
pub struct GasTable {
    samples: BTreeMap<(&'static str, String), Vec<Sample>>,
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
            self.samples.entry(key).or_default().push(Sample {
                execution: call.execution_gas,
                total: call.total_gas,
                calldata: call.calldata_bytes,
            });
            steps += 1;
            if was_trapped {
                break;
            }
            if m.pc() == 0 && !m.is_trapped() {
                boundaries += 1;
            }
        }
        Ok(steps)
    }

    /// Steps measured so far.
    pub fn steps(&self) -> usize {
        self.samples.values().map(Vec::len).sum()
    }

    /// One row per kind, then a summary row (`kind = "*"`) per class, classes in order.
    pub fn rows(&self) -> Vec<GasRow> {
        let mut rows = Vec::new();
        let mut by_class: BTreeMap<&'static str, Vec<Sample>> = BTreeMap::new();
        for ((class, kind), samples) in &self.samples {
            rows.push(row(class, kind.clone(), samples));
            by_class
                .entry(class)
                .or_default()
                .extend(samples.iter().copied());
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

fn row(class: &'static str, kind: String, samples: &[Sample]) -> GasRow {
    let median = |f: fn(&Sample) -> u64| {
        let mut v: Vec<u64> = samples.iter().map(f).collect();
        v.sort_unstable();
        v[v.len() / 2]
    };
    GasRow {
        class,
        kind,
        count: samples.len(),
        median_execution: median(|s| s.execution),
        max_execution: samples.iter().map(|s| s.execution).max().unwrap_or(0),
        median_total: median(|s| s.total),
        max_total: samples.iter().map(|s| s.total).max().unwrap_or(0),
        max_calldata: samples.iter().map(|s| s.calldata).max().unwrap_or(0),
        over_limit: samples.iter().filter(|s| s.total > PROOF_GAS_LIMIT).count(),
    }
}
