//! The cost of the `--trace` commitment on the fast native backend: prompt and decode tokens/s
//! of the same greedy SmolLM2 run without and with the [`TraceRecorder`], and the overhead.
//! The recorder's one-time setup (a full 2^28-byte memory root for `h_0`) is timed apart.
//!
//! `cargo run --release -p veritrace-prover --bin trace_bench [-- MODEL.gguf]` (`make bench`).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use veritrace_prover::model_machine::ModelMachine;
use veritrace_prover::recorder::TraceRecorder;
use veritrace_vm::image::ImportOptions;
use veritrace_vm::native::FastNative;
use veritrace_vm::semantics::step::PHASE_HEAD;
use veritrace_vm::tokenizer::{Tokenizer, chatml};
use veritrace_vm::{Engine, ModelImage, Request};

/// Wall time of the prefill (up to the first sampled token) and of the decode (the rest).
#[derive(Debug, Default)]
struct Timing {
    prefill: Duration,
    decode: Duration,
    recording: Duration,
    /// Time in `record()` and steps recorded, per phase (`PHASE_*`).
    by_phase: [(Duration, u32); 5],
    generated: usize,
}

fn run(
    engine: &mut Engine<FastNative>,
    mut recorder: Option<&mut TraceRecorder>,
) -> anyhow::Result<Timing> {
    let mut t = Timing::default();
    let start = Instant::now();
    let mut prefill_done = false;
    loop {
        let (info, done) = engine.step()?;
        if let Some(rec) = recorder.as_deref_mut() {
            let r = Instant::now();
            rec.record(&info, engine.memory());
            let spent = r.elapsed();
            t.recording += spent;
            let slot = &mut t.by_phase[(info.phase as usize).min(4)];
            slot.0 += spent;
            slot.1 += 1;
        }
        if info.phase == PHASE_HEAD {
            t.generated += 1;
            if !prefill_done {
                t.prefill = start.elapsed();
                prefill_done = true;
            }
        }
        if done {
            break;
        }
    }
    t.decode = start.elapsed() - t.prefill;
    Ok(t)
}

fn main() -> anyhow::Result<()> {
    let path = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../models/SmolLM2-135M-Instruct.Q4_1.gguf")
        });
    let image = ModelImage::from_gguf_file(&path, &ImportOptions::default())?;
    let tokens = Tokenizer::from_gguf_file(&path)?.encode(&chatml(
        "Write a short paragraph about the history of the city of Paris.",
    ))?;
    let max_tokens = 48;
    let req = Request::greedy(tokens.clone(), max_tokens);
    let machine = ModelMachine::new(&image)?;
    let mut engine = Engine::with_backend(FastNative::new(image.initial_memory()));
    let rounds = 3;
    let (mut plain, mut traced) = (Vec::new(), Vec::new());
    let mut setup = Duration::ZERO;
    let (mut steps, mut changed) = (0, 0);
    for _ in 0..rounds {
        engine.load(&req)?;
        plain.push(run(&mut engine, None)?);
        engine.load(&req)?;
        let t = Instant::now();
        let mut rec = TraceRecorder::new(&machine, engine.memory());
        setup = t.elapsed();
        traced.push(run(&mut engine, Some(&mut rec))?);
        steps = rec.step_count();
        changed = rec.changed_leaves();
    }
    // Best of the rounds: the machine is shared, the minimum is the least disturbed.
    let best = |v: &[Timing], f: fn(&Timing) -> Duration| v.iter().map(f).min().unwrap();
    let generated = plain[0].generated;
    let decode_tokens = generated.saturating_sub(1).max(1) as f64;
    let rate = |n: f64, d: Duration| n / d.as_secs_f64();
    let p0 = rate(tokens.len() as f64, best(&plain, |t| t.prefill));
    let p1 = rate(tokens.len() as f64, best(&traced, |t| t.prefill));
    let d0 = rate(decode_tokens, best(&plain, |t| t.decode));
    let d1 = rate(decode_tokens, best(&traced, |t| t.decode));
    println!(
        "trace_bench: SmolLM2 fast native, {} prompt tokens, {generated} generated, {steps} steps, best of {rounds}",
        tokens.len()
    );
    println!(
        "  prompt: {p0:.1} tok/s plain, {p1:.1} tok/s traced, overhead {:.1}%",
        (p0 / p1 - 1.0) * 100.0
    );
    println!(
        "  decode: {d0:.1} tok/s plain, {d1:.1} tok/s traced, overhead {:.1}%",
        (d0 / d1 - 1.0) * 100.0
    );
    let recording = best(&traced, |t| t.recording);
    println!(
        "  recorder: {:.1} us per step in record() ({changed} leaves rewritten, {:.1} per step)",
        recording.as_secs_f64() * 1e6 / steps as f64,
        changed as f64 / steps as f64
    );
    let least = traced.iter().min_by_key(|t| t.recording).unwrap();
    let per_phase: Vec<String> = ["init", "embed", "layer", "head+sample", "done"]
        .iter()
        .zip(least.by_phase)
        .filter(|(_, (_, n))| *n > 0)
        .map(|(name, (d, n))| format!("{name} {:.0} us", d.as_secs_f64() * 1e6 / f64::from(n)))
        .collect();
    println!("  record() per step by phase: {}", per_phase.join(", "));
    println!(
        "  recorder setup (h_0: a full memory root): {:.2} s, once per request",
        setup.as_secs_f64()
    );
    Ok(())
}
