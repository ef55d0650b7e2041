//! `make bench` part: gas of `OneStepProver.executeStep` per instruction class and kind,
//! measured in revm (Prague) over every step of the machine's test programs and of random
//! flat-code cases, then over cases shaped like SmolLM2 in production: 2^28 bytes of memory
//! (docs/machine.md) and at least as many instructions as the canonical program
//! `vm/program/veritrace.wasm` flattens to. Execution gas and the transaction's total (21,000 + calldata or the EIP-7623
//! floor, + execution); any proof over 300,000 gas is flagged.

use std::time::Instant;

use veritrace_e2e::osp::gas::{GasTable, PROOF_GAS_LIMIT};
use veritrace_e2e::osp::{OspEvm, OspResult};
use veritrace_machine::opcode::{self as op, BranchImm, CallImm, Instruction};
use veritrace_machine::testkit::Rng;
use veritrace_machine::testkit::flat::{FlatCase, Shape};
use veritrace_machine::testkit::programs;
use veritrace_machine::{Machine, Program};

/// Seed of the random cases (fixed: the table is reproducible).
const SEED: u64 = 0x6A5_7AB1E;
/// Random cases at the test sizes (memoryLog2 16-18).
const CASES: u64 = 600;
/// Random cases at the production shape (each hashes a 256 MiB memory).
const LARGE_CASES: u64 = 6;
/// SmolLM2-135M's memory size with the default options (docs/machine.md).
const LARGE_MEMORY_LOG2: u8 = 28;

/// The canonical program's flat code length (2^17 if it cannot be read or flattened).
fn canonical_code_len() -> usize {
    let path = veritrace_devnet::paths::repo_root().join("vm/program/veritrace.wasm");
    let program = std::fs::read(&path)
        .map_err(|e| e.to_string())
        .and_then(|wasm| Program::from_wasm(&wasm).map_err(|e| e.to_string()));
    match program {
        Ok(p) => {
            println!(
                "canonical program {}: {} flat instructions (code depth {}), {} globals",
                path.display(),
                p.code().len(),
                p.code_depth(),
                p.globals().len()
            );
            p.code().len()
        }
        Err(e) => {
            println!("canonical program unavailable ({e}): assuming 2^17 instructions");
            1 << 17
        }
    }
}

/// Gas of `global.get 0` and `global.set n-1` with `n` globals (a proof lists every global).
fn globals_scaling(evm: &mut OspEvm) -> anyhow::Result<()> {
    println!("\nglobal.* proofs list every global: transaction gas by number of globals");
    println!("{:>8} {:>12} {:>12}", "globals", "global.get", "global.set");
    for n in [1u64, 8, 32, 64, 128, 192, 255] {
        let main = CallImm {
            target: 2,
            params: 0,
            depth: 0,
        };
        let ret = BranchImm {
            target: 0,
            keep: 0,
            drop: 0,
        };
        let code = vec![
            Instruction::new(op::CALL, main.pack()),
            Instruction::new(op::STEP_END, 0),
            Instruction::new(op::GLOBAL_GET, 0),
            Instruction::new(op::GLOBAL_SET, n - 1),
            Instruction::new(op::RETURN, ret.pack()),
        ];
        let globals = (0..n)
            .map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15))
            .collect();
        let program = Program::from_flat_code(code, globals, 16);
        let mut m = Machine::new(&program, program.initial_memory());
        m.prove_step();
        let mut gas = Vec::new();
        for _ in 0..2 {
            let (pre, proof) = (m.hash(), m.prove_step());
            let call = evm.execute_step(program.root(), 16, &proof)?;
            anyhow::ensure!(
                call.result
                    == (OspResult::Proved {
                        pre,
                        post: m.hash()
                    }),
                "global.* with {n} globals: {:?}",
                call.result
            );
            gas.push(call.total_gas);
        }
        let flag = if gas.iter().any(|&g| g > PROOF_GAS_LIMIT) {
            format!("  > {PROOF_GAS_LIMIT}")
        } else {
            String::new()
        };
        println!("{n:>8} {:>12} {:>12}{flag}", gas[0], gas[1]);
    }
    Ok(())
}

/// `max(1, ceil(log2(n)))`.
fn large_depth(n: usize) -> u32 {
    n.max(2).next_power_of_two().trailing_zeros()
}

fn summary(name: &str, table: &GasTable) -> u64 {
    let rows = table.rows();
    let worst = rows
        .iter()
        .filter(|r| r.kind != "*")
        .max_by_key(|r| r.max_total)
        .expect("some rows");
    let over: usize = rows
        .iter()
        .filter(|r| r.kind != "*")
        .map(|r| r.over_limit)
        .sum();
    println!(
        "{name}: largest proof {} gas ({} {}), {over} of {} proofs over {PROOF_GAS_LIMIT}",
        worst.max_total,
        worst.class,
        worst.kind,
        table.steps()
    );
    over as u64
}

fn main() -> anyhow::Result<()> {
    let started = Instant::now();
    let mut evm = OspEvm::new()?;

    let mut table = GasTable::new();
    for (_, wat, layer_steps) in programs::programs() {
        let program = programs::program(&wat);
        let m = Machine::new(&program, program.initial_memory());
        table.record(&mut evm, m, layer_steps, u64::MAX)?;
    }
    for case in 0..CASES {
        let c = FlatCase::generate(Rng::case_seed(SEED, case));
        table.record(
            &mut evm,
            Machine::new(&c.program, c.memory),
            c.layer_steps,
            20_000,
        )?;
    }
    println!(
        "one-step proof gas in revm (Prague): every step of the {} test programs and {CASES} random flat cases (memoryLog2 16-18, code depth <= 10)",
        programs::programs().len()
    );
    print!("{}", table.render());
    let mut over = summary("test sizes", &table);

    let shape = Shape {
        memory_log2: Some(LARGE_MEMORY_LOG2),
        min_code_len: canonical_code_len(),
    };
    let mut large = GasTable::new();
    for case in 0..LARGE_CASES {
        let c = FlatCase::generate_shaped(Rng::case_seed(SEED ^ 1, case), shape);
        let m = Machine::new(&c.program, c.memory);
        large.record(&mut evm, m, c.layer_steps, 20_000)?;
    }
    let depth = large_depth(shape.min_code_len);
    println!(
        "\nproduction shape: {LARGE_CASES} random flat cases with memoryLog2 {LARGE_MEMORY_LOG2} ({} memory siblings per leaf) and code depth >= {depth}",
        LARGE_MEMORY_LOG2 - 5
    );
    print!("{}", large.render());
    over += summary("production shape", &large);
    globals_scaling(&mut evm)?;
    println!(
        "osp_gas: {} proofs measured in {:.1} s",
        table.steps() + large.steps(),
        started.elapsed().as_secs_f64()
    );
    if over > 0 {
        println!(
            "FLAG: {over} measured one-step proofs cost more than {PROOF_GAS_LIMIT} gas (see the flag column)"
        );
    }
    Ok(())
}
