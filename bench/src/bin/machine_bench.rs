//! Level-2 benchmark on a real SmolLM2 layer step: the stepping interpreter's speed with and
//! without hashing, against the native engine on the same step, and the wall time for an honest
//! challenger to locate the first divergent instruction by the game's k-ary dissection.
//!
//! `cargo run --release -p veritrace-bench --bin machine_bench [-- MODEL.gguf]` (`make bench`).

use std::path::PathBuf;
use std::time::Instant;

use veritrace_machine::StepTrace;
use veritrace_protocol::dissection::{L2_FANOUT, dissection_points, pick_interval};
use veritrace_tracer::model_machine::ModelMachine;
use veritrace_vm::image::ImportOptions;
use veritrace_vm::semantics::step::PHASE_LAYER;
use veritrace_vm::tokenizer::Tokenizer;
use veritrace_vm::{Engine, ModelImage, Request};

fn main() -> anyhow::Result<()> {
    let path = std::env::args().nth(1).map_or_else(
        || {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../models/SmolLM2-135M-Instruct.Q4_1.gguf")
        },
        PathBuf::from,
    );
    let image = ModelImage::from_gguf_file(&path, &ImportOptions::default())?;
    let tokens = Tokenizer::from_gguf_file(&path)?.encode("The capital of France is")?;
    let mm = ModelMachine::new(&image)?;
    println!(
        "machine bench: {} , program {} instructions, root 0x{}",
        path.file_name().unwrap_or_default().to_string_lossy(),
        mm.program().code().len(),
        hex::encode(mm.program_root())
    );

    // Run natively up to the first decode layer step (layer 0 of the first generated token).
    let mut engine = Engine::new(&image);
    engine.load(&Request::greedy(tokens, 2))?;
    loop {
        let next = engine.next_step();
        if next.phase == PHASE_LAYER && next.chunk_len == 1 {
            break;
        }
        engine.step()?;
    }
    let step = engine.next_step();
    let start_memory = engine.memory().to_vec();
    let native_started = Instant::now();
    engine.step()?;
    let native_secs = native_started.elapsed().as_secs_f64();

    // Interpreter without hashing: the whole step.
    let mut machine = mm.at_boundary(start_memory.clone());
    let root_started = Instant::now();
    machine.hash();
    let root_secs = root_started.elapsed().as_secs_f64();
    let started = Instant::now();
    let length = machine.run_layer_step();
    let plain_secs = started.elapsed().as_secs_f64();
    anyhow::ensure!(
        machine.memory() == engine.memory(),
        "interpreter and engine differ"
    );
    println!(
        "step {} (layer {}, position {}): {length} instructions",
        step.index, step.layer, step.chunk_start
    );
    println!("  native engine            {:>10.3} ms", native_secs * 1e3);
    println!(
        "  interpreter, no hashing  {:>10.3} ms  {:>7.1} M instr/s  ({:.0}x native)",
        plain_secs * 1e3,
        length as f64 / plain_secs / 1e6,
        plain_secs / native_secs
    );

    // Interpreter hashing the whole machine state after every instruction (a prefix).
    let mut machine = mm.at_boundary(start_memory.clone());
    machine.hash();
    let sample = 300_000.min(length);
    let started = Instant::now();
    for _ in 0..sample {
        machine.step();
        machine.hash();
    }
    let hashed_secs = started.elapsed().as_secs_f64();
    println!(
        "  interpreter, hash/instr  {:>10.3} ms  {:>7.3} M instr/s  (first {sample} instructions)",
        hashed_secs * 1e3,
        sample as f64 / hashed_secs / 1e6
    );
    println!(
        "  full memory root (2^{} bytes) {:.2} s",
        image.layout.memory_log2, root_secs
    );

    // Level 2: the executor lied from instruction `divergent` on; the challenger dissects.
    for divergent in [1, length / 3, length - 1] {
        let started = Instant::now();
        // One snapshot (the start); each round keeps one more at its new `lo`.
        let mut trace = StepTrace::record(mm.at_boundary(start_memory.clone()), u64::MAX);
        let (mut lo, mut hi, mut rounds) = (0, trace.len(), 0);
        while hi - lo > 1 {
            let points = dissection_points(lo, hi);
            let mine = trace.hashes_at(&points);
            let theirs: Vec<_> = points
                .iter()
                .zip(&mine)
                .map(|(&p, h)| if p < divergent { *h } else { [0xee; 32] })
                .collect();
            let i = pick_interval(&theirs, &mine);
            (lo, hi) = (
                if i == 0 { lo } else { points[i - 1] },
                points.get(i).copied().unwrap_or(hi),
            );
            trace.keep(lo);
            trace.forget_outside(lo, hi);
            rounds += 1;
        }
        let proof = trace.prove_at(lo);
        let secs = started.elapsed().as_secs_f64();
        anyhow::ensure!(
            hi == divergent,
            "located {hi}, the lie started at {divergent}"
        );
        println!(
            "  dissection (k = {L2_FANOUT}) to instruction {divergent:>9}: {rounds} rounds, {secs:6.2} s, proof {} bytes",
            proof.len()
        );
    }
    Ok(())
}
