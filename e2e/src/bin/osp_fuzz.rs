//! `make fuzz-osp`: differential fuzzing of the Solidity one-step prover (in revm) against the
//! Rust interpreter and the Rust checker, with mutated proofs. Runs the machine's WAT test
//! programs, then random flat-code cases until `--steps` steps have been checked.
//!
//! Usage: `osp_fuzz [--steps N] [--seed S] [--case C] [--mutate PERCENT]`. `--case C` replays
//! one case of the seed (what a mismatch line prints). Exits non-zero on any mismatch.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use veritrace_e2e::osp::{FuzzConfig, FuzzStats, Fuzzer};
use veritrace_machine::testkit::programs;

/// Steps each test program contributes at most.
const PROGRAM_STEPS: u64 = 200_000;

struct Args {
    steps: u64,
    seed: u64,
    case: Option<u64>,
    mutate: u64,
}

fn number(s: &str) -> anyhow::Result<u64> {
    let s = s.replace('_', "");
    let v = match s.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => s.parse(),
    };
    v.with_context(|| format!("not a number: {s}"))
}

fn parse() -> anyhow::Result<Args> {
    let mut args = Args {
        steps: 1_000_000,
        seed: FuzzConfig::default().seed,
        case: None,
        mutate: FuzzConfig::default().mutate_percent,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--steps" => args.steps = number(&value)?,
            "--seed" => args.seed = number(&value)?,
            "--case" => args.case = Some(number(&value)?),
            "--mutate" => args.mutate = number(&value)?.min(100),
            _ => bail!("unknown flag {flag} (--steps N, --seed S, --case C, --mutate PERCENT)"),
        }
    }
    Ok(args)
}

fn progress(stats: &FuzzStats, target: u64, started: Instant) {
    let secs = started.elapsed().as_secs_f64();
    println!(
        "  {:>9} / {target} steps ({:>5.1}%), {} cases, {} mutations, {} mismatches, {:.0} steps/s",
        stats.steps,
        100.0 * stats.steps as f64 / target as f64,
        stats.cases,
        stats.mutations,
        stats.mismatches.len(),
        stats.steps as f64 / secs
    );
}

fn main() -> anyhow::Result<()> {
    let args = parse()?;
    let config = FuzzConfig {
        seed: args.seed,
        mutate_percent: args.mutate,
        ..FuzzConfig::default()
    };
    let mut fuzzer = Fuzzer::new(config)?;
    let mut stats = FuzzStats::default();
    let started = Instant::now();
    if let Some(case) = args.case {
        fuzzer.run_case(case, &mut stats)?;
    } else {
        println!(
            "osp_fuzz: seed {:#x}, {} steps, {}% of steps also mutated {}x",
            args.seed, args.steps, config.mutate_percent, config.mutations_per_step
        );
        for (name, wat, layer_steps) in programs::programs() {
            let program = programs::program(&wat);
            let left = args.steps.saturating_sub(stats.steps).min(PROGRAM_STEPS);
            fuzzer.run_program(name, &program, layer_steps, left, &mut stats)?;
        }
        println!("  test programs: {} steps", stats.steps);
        let mut last = Instant::now();
        let mut case = 0;
        while stats.steps < args.steps {
            fuzzer.run_case(case, &mut stats)?;
            case += 1;
            if last.elapsed() > Duration::from_secs(10) {
                progress(&stats, args.steps, started);
                last = Instant::now();
            }
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!("coverage (class, kind: steps):");
    for ((class, kind), n) in &stats.kinds {
        println!("  {class:<10} {kind:<28} {n:>9}");
    }
    println!(
        "mutated proofs: {} ({} rejected by both, {} accepted by both with other hashes, {} rejected with different errors)",
        stats.mutations,
        stats.mutations_rejected,
        stats.mutations_accepted_elsewhere,
        stats.error_kind_differences
    );
    for e in &stats.error_kind_examples {
        println!("  e.g. {e}");
    }
    for m in stats.mismatches.iter().take(20) {
        println!("{m}");
    }
    println!(
        "osp_fuzz: {} steps ({} flat cases, {} traps, {} layer steps) and {} mutated proofs in {secs:.1} s ({:.0} steps/s): {} mismatches",
        stats.steps,
        stats.cases,
        stats.traps,
        stats.boundaries,
        stats.mutations,
        stats.steps as f64 / secs,
        stats.mismatches.len()
    );
    if !stats.mismatches.is_empty() {
        bail!("{} mismatches", stats.mismatches.len());
    }
    Ok(())
}
