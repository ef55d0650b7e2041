//! The short differential fuzz run of `make test`: the Solidity one-step prover (in revm), the
//! Rust checker and the interpreter agree on every step of the test programs (capped) and of
//! random flat-code cases over fixed seeds, and mutated proofs never prove the honest
//! transition. `make fuzz-osp` runs the same fuzzer to a million steps.

use veritrace_e2e::osp::{FuzzConfig, FuzzStats, Fuzzer};
use veritrace_machine::testkit::programs;

/// Fixed seeds: the run is reproducible; a mismatch names its seed and case.
const SEEDS: [u64; 3] = [1, 0xC0FFEE, 0x5EED_0001];
/// Random cases per seed.
const CASES: u64 = 400;
/// Steps of each test program.
const PROGRAM_STEPS: u64 = 3_000;

/// Kinds every run must reach, so that the fuzz keeps covering what it claims.
const REQUIRED: &[(&str, &str)] = &[
    ("control", "Branch/drop4+"),
    ("control", "BranchIf/not-taken"),
    ("control", "BranchIf/taken"),
    ("control", "BranchTable/default"),
    ("control", "BranchTable/entry"),
    ("control", "Call/params4+"),
    ("control", "Jump"),
    ("control", "JumpIfZero/jump"),
    ("control", "JumpIfZero/next"),
    ("control", "Return/drop4+"),
    ("control", "StepEnd"),
    ("control", "TableEntry"),
    ("control", "unreachable"),
    ("math", "numeric/binary/trap"),
    ("math", "select"),
    ("memory", "MemoryCopyChunk/backward"),
    ("memory", "MemoryCopyChunk/forward"),
    ("memory", "MemoryCopyChunk/out-of-bounds"),
    ("memory", "MemoryFillChunk/out-of-bounds"),
    ("memory", "load/two-leaf"),
    ("memory", "load/out-of-bounds"),
    ("memory", "store/two-leaf"),
    ("memory", "store/out-of-bounds"),
    ("trapped", "no-op"),
    ("variables", "global.set"),
    ("variables", "local.tee"),
];

#[test]
fn solidity_prover_agrees_with_the_interpreter_on_random_states() {
    let mut stats = FuzzStats::default();
    for (i, seed) in SEEDS.into_iter().enumerate() {
        let config = FuzzConfig {
            seed,
            mutate_percent: 15,
            ..FuzzConfig::default()
        };
        let mut fuzzer = Fuzzer::new(config).expect("deploy the prover in revm");
        if i == 0 {
            for (name, wat, layer_steps) in programs::programs() {
                let program = programs::program(&wat);
                fuzzer
                    .run_program(name, &program, layer_steps, PROGRAM_STEPS, &mut stats)
                    .expect("evm");
            }
        }
        for case in 0..CASES {
            fuzzer.run_case(case, &mut stats).expect("evm");
        }
    }
    for m in &stats.mismatches {
        eprintln!("{m}");
    }
    assert!(
        stats.mismatches.is_empty(),
        "{} mismatches",
        stats.mismatches.len()
    );
    for (class, kind) in REQUIRED {
        let n = stats
            .kinds
            .get(&(*class, (*kind).to_string()))
            .copied()
            .unwrap_or(0);
        assert!(n > 0, "no step of kind {class} {kind}");
    }
    eprintln!(
        "osp fuzz: {} steps ({} cases, {} traps, {} layer steps), {} mutated proofs ({} rejected by both, {} with other hashes), 0 mismatches",
        stats.steps,
        stats.cases,
        stats.traps,
        stats.boundaries,
        stats.mutations,
        stats.mutations_rejected,
        stats.mutations_accepted_elsewhere
    );
    assert_eq!(stats.cases, CASES * SEEDS.len() as u64);
    assert!(stats.steps > 100_000, "{} steps", stats.steps);
    assert!(stats.mutations > 10_000 && stats.mutations_rejected > stats.mutations / 2);
    assert!(stats.traps > 100 && stats.boundaries > 500);
}
