//! The cost of the `--trace` commitment on the fast native backend: prompt and decode tokens/s
//! of the same greedy SmolLM2 run without and with the [`TraceRecorder`], and the overhead.
//! The recorder's setup for `h_0` (a full 2^28-byte memory root for a model's first trace, a
//! copy of it afterwards) is timed apart.
//!
//! `cargo run --release -p veritrace-bench --bin trace_bench [-- MODEL.gguf]` (`make bench`).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use veritrace_tracer::model_machine::ModelMachine;
use veritrace_tracer::recorder::TraceRecorder;
use veritrace_vm::image::ImportOptions;
use veritrace_vm::native::FastNative;
use veritrace_vm::pool::on_worker;
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

/// One part of a run's wall time.
type Part = fn(&Timing) -> Duration;

/// `a / b`.
fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64()
}

/// "median% [min%, max%]" of `ratios - 1`.
fn overhead(ratios: impl Iterator<Item = f64>) -> String {
    let mut r: Vec<f64> = ratios.map(|x| (x - 1.0) * 100.0).collect();
    r.sort_by(f64::total_cmp);
    format!(
        "{:.1}% [{:.1}%, {:.1}%]",
        r[r.len() / 2],
        r[0],
        r[r.len() - 1]
    )
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
    let rounds = 7;
    let (mut plain, mut traced) = (Vec::new(), Vec::new());
    let mut setups = Vec::new();
    let (mut steps, mut changed) = (0, 0);
    for round in 0..rounds {
        // Plain and traced back to back, in alternating order, so that each round's ratio
        // compares runs under the same load.
        for traced_first in [round % 2 == 1, round % 2 == 0] {
            engine.load(&req)?;
            if traced_first {
                let t = Instant::now();
                let mut rec = on_worker(|| TraceRecorder::new(&machine, engine.memory()));
                setups.push(t.elapsed());
                traced.push(on_worker(|| run(&mut engine, Some(&mut rec)))?);
                steps = rec.step_count();
                changed = rec.changed_leaves();
            } else {
                plain.push(on_worker(|| run(&mut engine, None))?);
            }
        }
    }
    let best = |v: &[Timing], f: fn(&Timing) -> Duration| v.iter().map(f).min().unwrap();
    let generated = plain[0].generated;
    let decode_tokens = generated.saturating_sub(1).max(1) as f64;
    let rate = |n: f64, d: Duration| n / d.as_secs_f64();
    println!(
        "trace_bench: SmolLM2 fast native, {} prompt tokens, {generated} generated, {steps} steps, {rounds} rounds",
        tokens.len()
    );
    println!(
        "  (tok/s: best round; overhead: median [min, max] over the rounds of traced / plain in the same round)"
    );
    let whole = |t: &Timing| t.prefill + t.decode;
    let rows: [(&str, f64, Part); 2] = [
        ("prompt", tokens.len() as f64, |t| t.prefill),
        ("decode", decode_tokens, |t| t.decode),
    ];
    for (name, n, part) in rows {
        let ratios = plain
            .iter()
            .zip(&traced)
            .map(|(p, t)| ratio(part(t), part(p)));
        println!(
            "  {name}: {:.1} tok/s plain, {:.1} tok/s traced, overhead {}",
            rate(n, best(&plain, part)),
            rate(n, best(&traced, part)),
            overhead(ratios)
        );
    }
    // Round 0 built the model's first tree; the later rounds pay what every request pays.
    let later_setup = *setups[1..].iter().min().unwrap();
    let plain_best = best(&plain, whole);
    let traced_whole: Vec<Duration> = traced[1..]
        .iter()
        .zip(&setups[1..])
        .map(|(t, setup)| *setup + whole(t))
        .collect();
    let ratios = plain[1..]
        .iter()
        .zip(&traced_whole)
        .map(|(p, t)| ratio(*t, whole(p)));
    println!(
        "  whole request, recorder setup included: {:.3} s plain, {:.3} s traced, overhead {}",
        plain_best.as_secs_f64(),
        traced_whole.iter().min().unwrap().as_secs_f64(),
        overhead(ratios)
    );
    let recording = best(&traced, |t| t.recording);
    println!(
        "  recorder: {:.1} us per step in record() ({changed} leaves rewritten, {:.1} per step)",
        recording.as_secs_f64() * 1e6 / steps as f64,
        changed as f64 / steps as f64
    );
    // The recorder's own time, which the load on this machine disturbs far less than the
    // difference of two wall times: record() in the least disturbed round plus a later round's
    // setup, against the fastest plain request.
    println!(
        "  time in the recorder per request: record() {:.1} ms + setup {:.1} ms = {:.1}% of the plain request ({:.3} s)",
        recording.as_secs_f64() * 1e3,
        later_setup.as_secs_f64() * 1e3,
        ratio(recording + later_setup, plain_best) * 100.0,
        plain_best.as_secs_f64()
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
        "  recorder setup (h_0): {:.2} s for the model's first trace (a full memory root), then {:.3} s per request (that tree handed back by the last trace, the leaves that differ rehashed)",
        setups[0].as_secs_f64(),
        later_setup.as_secs_f64()
    );
    Ok(())
}
