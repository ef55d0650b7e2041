//! Differential fuzzing of the Solidity one-step prover: every step the Rust interpreter takes is
//! proven, then checked three ways — the interpreter's own hashes before and after the step, the
//! Rust checker `verify_step`, and `OneStepProver.executeStep` in revm — which must all agree.
//! Some steps' proofs are also mutated (bit flips, byte overwrites, truncation, extension,
//! insertion, deletion, overwritten operands and hashes, a wrong `memoryLog2`): the Solidity
//! prover must then never return the honest (pre, post) pair, and it must agree with the Rust
//! checker on whether the proof is accepted and, if so, on the hashes.
//!
//! Steps come from [`FlatCase`]s (random flat code over random states, one per case seed) and
//! from the machine's WAT test programs. Everything derives from one run seed: a mismatch prints
//! the seed and case that replay it.

use std::collections::BTreeMap;
use std::fmt;

use veritrace_machine::opcode::{self as op, Instruction};
use veritrace_machine::testkit::Rng;
use veritrace_machine::testkit::flat::FlatCase;
use veritrace_machine::{Machine, Program, verify_step};

use super::classify::classify;
use super::evm::{OspEvm, OspEvmError, OspResult, rust_result};

/// What to run.
#[derive(Clone, Copy, Debug)]
pub struct FuzzConfig {
    /// The run seed: case `i` is generated from `Rng::case_seed(seed, i)`.
    pub seed: u64,
    /// Percentage of steps whose proof is also mutated.
    pub mutate_percent: u64,
    /// Mutations tried on such a step.
    pub mutations_per_step: usize,
    /// Steps after which a single case stops (bulk-memory chunks can be long).
    pub max_case_steps: u64,
}

impl Default for FuzzConfig {
    fn default() -> Self {
        Self {
            seed: 0x5EED_0001,
            mutate_percent: 10,
            mutations_per_step: 4,
            max_case_steps: 20_000,
        }
    }
}

/// Where a step came from: enough to replay it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// Case `case` of the run with seed `seed` (`FlatCase::generate(Rng::case_seed(seed, case))`).
    Flat {
        /// The run seed.
        seed: u64,
        /// The case index.
        case: u64,
    },
    /// A WAT test program of `veritrace_machine::testkit::programs`.
    Program(&'static str),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Flat { seed, case } => write!(
                f,
                "flat case {case} of seed {seed:#x} (replay: osp_fuzz --seed {seed:#x} --case {case})"
            ),
            Self::Program(name) => write!(f, "test program {name}"),
        }
    }
}

/// A disagreement: always a bug on one side (or in the spec).
#[derive(Clone, Debug)]
pub struct Mismatch {
    /// The case or program.
    pub source: Source,
    /// Index of the step within the case (0 = the first instruction executed).
    pub step: u64,
    /// pc of the instruction.
    pub pc: u32,
    /// The instruction (for a trapped machine, the one it trapped on).
    pub instruction: Instruction,
    /// What disagreed, with both sides' results.
    pub detail: String,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "MISMATCH in {}, step {} at pc {} ({} {:#06x} imm {:#x}): {}",
            self.source,
            self.step,
            self.pc,
            op::name(self.instruction.opcode),
            self.instruction.opcode,
            self.instruction.imm,
            self.detail
        )
    }
}

/// Counts over a run.
#[derive(Clone, Debug, Default)]
pub struct FuzzStats {
    /// Steps checked three ways.
    pub steps: u64,
    /// Flat cases run.
    pub cases: u64,
    /// Cases or programs that ended in a trap.
    pub traps: u64,
    /// Layer steps completed (StepEnd reached).
    pub boundaries: u64,
    /// Mutated proofs submitted.
    pub mutations: u64,
    /// Mutated proofs both provers rejected.
    pub mutations_rejected: u64,
    /// Mutated proofs both accepted, with equal hashes other than the honest pair.
    pub mutations_accepted_elsewhere: u64,
    /// Mutated proofs both rejected, but with different errors (check order; not a failure).
    pub error_kind_differences: u64,
    /// The first few such differences, for the report.
    pub error_kind_examples: Vec<String>,
    /// Steps by `(class, kind)`.
    pub kinds: BTreeMap<(&'static str, String), u64>,
    /// Every disagreement.
    pub mismatches: Vec<Mismatch>,
}

/// The fuzzer: one EVM with the deployed prover, the config and the mutation RNG.
#[derive(Debug)]
pub struct Fuzzer {
    evm: OspEvm,
    config: FuzzConfig,
}

/// How the mutated proof is submitted.
struct Mutated {
    proof: Vec<u8>,
    memory_log2: u8,
    what: String,
}

impl Fuzzer {
    /// A fuzzer over a freshly deployed prover.
    pub fn new(config: FuzzConfig) -> Result<Self, OspEvmError> {
        Ok(Self {
            evm: OspEvm::new()?,
            config,
        })
    }

    /// Runs flat case `case` of the configured seed.
    pub fn run_case(&mut self, case: u64, stats: &mut FuzzStats) -> Result<(), OspEvmError> {
        let seed = self.config.seed;
        let generated = FlatCase::generate(Rng::case_seed(seed, case));
        let machine = Machine::new(&generated.program, generated.memory);
        let source = Source::Flat { seed, case };
        let mut rng = Rng::new(Rng::case_seed(seed ^ 0x4D55_5441_5445, case));
        stats.cases += 1;
        self.run_machine(
            machine,
            generated.layer_steps,
            &source,
            &mut rng,
            self.config.max_case_steps,
            stats,
        )
    }

    /// Runs a test program for `layer_steps` layer steps (at most `max_steps` steps).
    pub fn run_program(
        &mut self,
        name: &'static str,
        program: &Program,
        layer_steps: usize,
        max_steps: u64,
        stats: &mut FuzzStats,
    ) -> Result<(), OspEvmError> {
        let machine = Machine::new(program, program.initial_memory());
        let mut rng = Rng::new(self.config.seed ^ name.len() as u64);
        let source = Source::Program(name);
        self.run_machine(machine, layer_steps, &source, &mut rng, max_steps, stats)
    }

    fn run_machine(
        &mut self,
        mut m: Machine,
        layer_steps: usize,
        source: &Source,
        rng: &mut Rng,
        max_steps: u64,
        stats: &mut FuzzStats,
    ) -> Result<(), OspEvmError> {
        let mut boundaries = 0;
        let mut step = 0;
        while boundaries < layer_steps && step < max_steps {
            let was_trapped = m.is_trapped();
            self.check_step(&mut m, source, step, rng, stats)?;
            step += 1;
            if was_trapped {
                stats.traps += 1;
                return Ok(());
            }
            if m.at_step_end() {
                // The end of a step is a fixed point: its proof, checked the same three ways,
                // proves it unchanged.
                self.check_step(&mut m, source, step, rng, stats)?;
                boundaries += 1;
                stats.boundaries += 1;
                m.start_next_step();
            }
        }
        Ok(())
    }

    /// Proves the machine's next step and checks it three ways (and maybe mutated).
    fn check_step(
        &mut self,
        m: &mut Machine,
        source: &Source,
        step: u64,
        rng: &mut Rng,
        stats: &mut FuzzStats,
    ) -> Result<(), OspEvmError> {
        let program = m.program().clone();
        let (root, log2) = (program.root(), program.memory_log2());
        let pc = m.pc();
        let instruction = program.code()[pc as usize];
        let kind = classify(m);
        let pre = m.hash();
        let proof = m.prove_step();
        let post = m.hash();
        *stats.kinds.entry(kind).or_default() += 1;
        stats.steps += 1;
        let honest = OspResult::Proved { pre, post };
        let mismatch = |detail: String| Mismatch {
            source: source.clone(),
            step,
            pc,
            instruction,
            detail,
        };
        let rust = rust_result(verify_step(root, log2, &proof));
        if rust != honest {
            stats.mismatches.push(mismatch(format!(
                "Rust checker: {rust}; interpreter: {honest}"
            )));
        }
        let solidity = self.evm.execute_step(root, log2, &proof)?.result;
        if solidity != honest {
            stats.mismatches.push(mismatch(format!(
                "Solidity: {solidity}; interpreter: {honest}"
            )));
        }
        if !rng.percent(self.config.mutate_percent) {
            return Ok(());
        }
        for _ in 0..self.config.mutations_per_step {
            let Some(bad) = mutate(&proof, log2, rng) else {
                continue;
            };
            stats.mutations += 1;
            let rust = rust_result(verify_step(root, bad.memory_log2, &bad.proof));
            let solidity = self
                .evm
                .execute_step(root, bad.memory_log2, &bad.proof)?
                .result;
            // Only a different memory size may legitimately prove the same bytes (it is fixed by
            // the registry, not by the proof); every byte of the proof is committed to.
            let bytes_changed = bad.proof != proof;
            if bytes_changed && solidity == honest {
                stats.mismatches.push(mismatch(format!(
                    "mutation ({}) still proves the honest transition in Solidity",
                    bad.what
                )));
            }
            if bytes_changed && rust == honest {
                stats.mismatches.push(mismatch(format!(
                    "mutation ({}) still proves the honest transition in Rust",
                    bad.what
                )));
            }
            match (&rust, &solidity) {
                (OspResult::Rejected(a), OspResult::Rejected(b)) => {
                    stats.mutations_rejected += 1;
                    if a != b {
                        stats.error_kind_differences += 1;
                        if stats.error_kind_examples.len() < 5 {
                            stats.error_kind_examples.push(format!(
                                "{} ({}): Rust {a:?}, Solidity {b:?}",
                                op::name(instruction.opcode),
                                bad.what
                            ));
                        }
                    }
                }
                (a, b) if a == b => stats.mutations_accepted_elsewhere += 1,
                (a, b) => stats.mismatches.push(mismatch(format!(
                    "mutation ({}): Rust {a}; Solidity {b}",
                    bad.what
                ))),
            }
        }
        Ok(())
    }
}

/// Edge values written over 8-byte operands.
const EDGE_WORDS: [u64; 6] = [0, 1, u64::MAX, 1 << 63, 0xffff_ffff, 1 << 32];

/// One random malformation of `proof` (None if it happened to leave everything unchanged).
fn mutate(proof: &[u8], memory_log2: u8, rng: &mut Rng) -> Option<Mutated> {
    let mut p = proof.to_vec();
    let len = p.len() as u64;
    let mut log2 = memory_log2;
    let what = match rng.below(10) {
        0 | 1 => {
            let at = rng.below(len) as usize;
            let bit = rng.below(8);
            p[at] ^= 1 << bit;
            format!("bit {bit} of byte {at} flipped")
        }
        2 => {
            let at = rng.below(len) as usize;
            p[at] = rng.next_u64() as u8;
            format!("byte {at} overwritten")
        }
        3 => {
            let keep = rng.below(len) as usize;
            p.truncate(keep);
            format!("truncated to {keep} bytes")
        }
        4 => {
            let n = rng.range(1, 40) as usize;
            let mut extra = vec![0; n];
            if rng.percent(50) {
                rng.fill(&mut extra);
            }
            p.extend(extra);
            format!("{n} bytes appended")
        }
        5 => {
            let at = rng.below(len + 1) as usize;
            p.insert(at, rng.next_u64() as u8);
            format!("byte inserted at {at}")
        }
        6 => {
            let at = rng.below(len) as usize;
            p.remove(at);
            format!("byte {at} deleted")
        }
        7 if len >= 8 => {
            let at = rng.below(len - 7) as usize;
            let word = if rng.percent(50) {
                rng.pick(&EDGE_WORDS)
            } else {
                rng.next_u64()
            };
            p[at..at + 8].copy_from_slice(&word.to_be_bytes());
            format!("8 bytes at {at} set to {word:#x}")
        }
        8 if len >= 32 => {
            let at = rng.below(len - 31) as usize;
            let mut h = [0u8; 32];
            if rng.percent(70) {
                rng.fill(&mut h);
            }
            p[at..at + 32].copy_from_slice(&h);
            format!("32 bytes at {at} replaced")
        }
        _ => {
            log2 = rng.pick(&[15, 16, 17, 18, 20, 24, 32, 33]);
            format!("memoryLog2 {log2}")
        }
    };
    (p != proof || log2 != memory_log2).then_some(Mutated {
        proof: p,
        memory_log2: log2,
        what,
    })
}

#[cfg(test)]
mod tests {
    use super::{FuzzConfig, FuzzStats, Fuzzer, mutate};
    use veritrace_machine::testkit::Rng;

    #[test]
    fn mutations_change_something() {
        let mut rng = Rng::new(3);
        let proof: Vec<u8> = (0..200u8).collect();
        let mut changed = 0;
        for _ in 0..500 {
            if let Some(m) = mutate(&proof, 16, &mut rng) {
                assert!(m.proof != proof || m.memory_log2 != 16, "{}", m.what);
                changed += 1;
            }
        }
        assert!(changed > 450);
    }

    #[test]
    fn a_few_cases_agree() {
        let mut fuzzer = Fuzzer::new(FuzzConfig::default()).expect("deploy");
        let mut stats = FuzzStats::default();
        for case in 0..5 {
            fuzzer.run_case(case, &mut stats).expect("evm");
        }
        assert!(stats.mismatches.is_empty(), "{:?}", stats.mismatches);
        assert!(stats.steps > 50 && stats.mutations > 0);
    }
}
