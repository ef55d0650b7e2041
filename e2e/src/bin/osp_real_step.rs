//! Every instruction of one real SmolLM2 step replayed through the Solidity one-step prover in
//! revm: the native engine runs the model up to the chosen step, the Merkleized machine starts at
//! that step boundary, and for each instruction the interpreter writes its one-step proof and
//! executes it; `OneStepProver.executeStep` must return exactly the interpreter's pre- and
//! post-state hashes. Prints progress, then the gas per instruction class and kind.
//!
//! `cargo run --release -p veritrace-e2e --bin osp_real_step -- [--phase layer|embed|head|init]
//! [--from N] [--count M] [--model PATH] [--progress SECS]` (`make osp-real-step`).
//!
//! The step is the first decode step of its phase (one token: `chunk_len` 1) of a greedy run on
//! "The capital of France is"; `init` and `head` take the first step of their phase. `--from`
//! fast-forwards the interpreter (no hashing) over the first N instructions of the step.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, bail};
use veritrace_e2e::osp::OspEvm;
use veritrace_e2e::osp::classify::classify;
use veritrace_e2e::osp::evm::OspResult;
use veritrace_e2e::osp::gas::GasTable;
use veritrace_machine::opcode::{self as op};
use veritrace_tracer::model_machine::ModelMachine;
use veritrace_vm::image::ImportOptions;
use veritrace_vm::semantics::step::{PHASE_EMBED, PHASE_HEAD, PHASE_INIT, PHASE_LAYER};
use veritrace_vm::tokenizer::Tokenizer;
use veritrace_vm::{Engine, ModelImage, Request};

/// The prompt of the run whose step is replayed.
const PROMPT: &str = "The capital of France is";

/// Command-line options.
struct Options {
    model: PathBuf,
    phase: String,
    from: u64,
    count: u64,
    progress_secs: f64,
}

fn usage() -> &'static str {
    "usage: osp_real_step [--phase layer|embed|head|init] [--from N] [--count M] \
     [--model PATH] [--progress SECS]"
}

fn parse_args() -> anyhow::Result<Options> {
    let mut o = Options {
        model: PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../models/SmolLM2-135M-Instruct.Q4_1.gguf"),
        phase: "layer".to_string(),
        from: 0,
        count: u64::MAX,
        progress_secs: 30.0,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || {
            args.next()
                .with_context(|| format!("{a} needs a value\n{}", usage()))
        };
        match a.as_str() {
            "--phase" => o.phase = value()?,
            "--from" => o.from = value()?.parse()?,
            "--count" => o.count = value()?.parse()?,
            "--model" => o.model = PathBuf::from(value()?),
            "--progress" => o.progress_secs = value()?.parse()?,
            "-h" | "--help" => {
                println!("{}", usage());
                std::process::exit(0);
            }
            other => bail!("unknown argument {other}\n{}", usage()),
        }
    }
    Ok(o)
}

fn phase_number(name: &str) -> anyhow::Result<u32> {
    Ok(match name {
        "init" => PHASE_INIT,
        "embed" => PHASE_EMBED,
        "layer" => PHASE_LAYER,
        "head" => PHASE_HEAD,
        other => bail!("unknown phase {other}\n{}", usage()),
    })
}

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Runs the replay; `Ok(false)` when the prover disagreed with the interpreter.
fn run() -> anyhow::Result<bool> {
    let o = parse_args()?;
    let phase = phase_number(&o.phase)?;
    let wall = Instant::now();
    anyhow::ensure!(
        o.model.exists(),
        "model missing at {}: run `make model`",
        o.model.display()
    );
    let image = ModelImage::from_gguf_file(&o.model, &ImportOptions::default())?;
    let tokens = Tokenizer::from_gguf_file(&o.model)?.encode(PROMPT)?;
    let mm = ModelMachine::new(&image)?;
    let (root, log2) = (mm.program_root(), mm.program().memory_log2());

    // Natively up to the step: the first of its phase, one token wide for embed/layer/head.
    let mut engine = Engine::new(&image);
    engine.load(&Request::greedy(tokens, 2))?;
    loop {
        let next = engine.next_step();
        if next.phase == phase && (matches!(phase, PHASE_INIT | PHASE_HEAD) || next.chunk_len == 1)
        {
            break;
        }
        anyhow::ensure!(!engine.step()?.1, "the run ended before a {} step", o.phase);
    }
    let step = engine.next_step();
    let mut machine = mm.at_boundary(engine.memory().to_vec());
    drop(engine);

    // The step's length, and the fast-forward to `--from`, without hashing.
    let length = machine.clone().run_layer_step();
    anyhow::ensure!(
        o.from < length,
        "--from {} is past the step's {length} instructions",
        o.from
    );
    if o.from > 0 {
        let n = machine.run_layer_step_limited(o.from);
        anyhow::ensure!(
            n == o.from && !machine.is_trapped(),
            "fast-forward stopped at {n}"
        );
    }
    let end = o.from.saturating_add(o.count).min(length);
    println!(
        "osp_real_step: {} step {} (phase {}, layer {}, chunk {}+{}), {length} instructions; \
         replaying [{}, {end}) through OneStepProver in revm; program root 0x{}, memory 2^{log2}",
        o.phase,
        step.index,
        step.phase,
        step.layer,
        step.chunk_start,
        step.chunk_len,
        o.from,
        hex::encode(root)
    );

    let mut evm = OspEvm::new()?;
    let mut table = GasTable::new();
    // The first hash builds the whole memory tree (seconds): setup, not replay.
    let mut pre = machine.hash();
    let setup_secs = wall.elapsed().as_secs_f64();
    let started = Instant::now();
    let mut last_report = 0.0;
    let mut mismatches = 0u64;
    let total = end - o.from;
    for i in o.from..end {
        anyhow::ensure!(
            !machine.is_trapped(),
            "the machine trapped before instruction {i}"
        );
        let pc = machine.pc();
        let opcode = machine.program().code()[pc as usize].opcode;
        let key = classify(&machine);
        let proof = machine.prove_step();
        let post = machine.hash();
        let call = evm.execute_step(root, log2, &proof)?;
        let expected = OspResult::Proved { pre, post };
        if call.result != expected {
            mismatches += 1;
            eprintln!(
                "MISMATCH at instruction {i} (pc {pc}, opcode {} 0x{opcode:04x}, {}/{}): \
                 interpreter {expected}, prover {}\n  pre 0x{}\n  post 0x{}\n  \
                 reproduce: cargo run --release -p veritrace-e2e --bin osp_real_step -- \
                 --phase {} --from {i} --count 1 --model {}",
                op::name(opcode),
                key.0,
                key.1,
                call.result,
                hex::encode(pre),
                hex::encode(post),
                o.phase,
                o.model.display()
            );
            if mismatches >= 10 {
                eprintln!("stopping after {mismatches} mismatches");
                break;
            }
        }
        table.add(key, &call);
        pre = post;
        let done = i + 1 - o.from;
        let secs = started.elapsed().as_secs_f64();
        if secs - last_report >= o.progress_secs {
            last_report = secs;
            let rate = done as f64 / secs;
            println!(
                "  {done:>10} / {total} instructions ({:5.1}%), {rate:>7.0} instr/s, \
                 {secs:>7.0} s elapsed, ETA {:.0} s, mismatches {mismatches}",
                100.0 * done as f64 / total as f64,
                (total - done) as f64 / rate
            );
        }
        if opcode == op::STEP_END && i + 1 < length {
            bail!("STEP_END at instruction {i} before the step's end {length}");
        }
    }
    let replay_secs = started.elapsed().as_secs_f64();
    let replayed = table.steps() as u64;
    if end == length && mismatches == 0 {
        anyhow::ensure!(
            machine.at_step_end(),
            "the step replayed but the machine is not at a step's end"
        );
        anyhow::ensure!(
            pre == mm.program().step_end_hash(machine.memory_root()),
            "the final hash is not the step-end hash"
        );
    }

    println!();
    print!("{}", table.render());
    println!();
    println!(
        "{:<10} {:>10} {:>16} {:>16} {:>10} {:>10}",
        "class", "count", "sum exec gas", "sum total gas", "med total", "max total"
    );
    let rows = table.rows();
    let (mut all_exec, mut all_total) = (0u64, 0u64);
    for r in rows.iter().filter(|r| r.kind == "*") {
        println!(
            "{:<10} {:>10} {:>16} {:>16} {:>10} {:>10}",
            r.class, r.count, r.sum_execution, r.sum_total, r.median_total, r.max_total
        );
        all_exec += r.sum_execution;
        all_total += r.sum_total;
    }
    println!(
        "{:<10} {:>10} {:>16} {:>16}",
        "all", replayed, all_exec, all_total
    );
    println!();
    println!(
        "replayed {replayed} of the step's {length} instructions [{}, {}), mismatches {mismatches}; \
         setup {setup_secs:.1} s, replay {replay_secs:.1} s ({:.0} instr/s), wall {:.1} s",
        o.from,
        o.from + replayed,
        replayed as f64 / replay_secs,
        wall.elapsed().as_secs_f64()
    );
    Ok(mismatches == 0)
}
