//! Generate with the scalar integer engine on a GGUF model and print speed figures.
//!
//! `cargo run --release -p veritrace-vm --example generate -- [MODEL] [CHAT MESSAGE] [MAX_TOKENS]`

use std::time::Instant;
use veritrace_vm::image::ImportOptions;
use veritrace_vm::semantics::step::{PHASE_HEAD, PHASE_LAYER};
use veritrace_vm::tokenizer::{Tokenizer, chatml};
use veritrace_vm::{Engine, ModelImage, Request};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let path = args
        .get(1)
        .map(String::as_str)
        .unwrap_or("models/SmolLM2-135M-Instruct.Q4_1.gguf");
    let msg = args
        .get(2)
        .map(String::as_str)
        .unwrap_or("What is the capital of France?");
    let max: u32 = args.get(3).map(|s| s.parse()).transpose()?.unwrap_or(64);
    let t = Instant::now();
    let img = ModelImage::from_gguf_file(std::path::Path::new(path), &ImportOptions::default())?;
    let import = t.elapsed().as_secs_f64();
    let tk = Tokenizer::from_gguf_file(std::path::Path::new(path))?;
    let ids = tk.encode(&chatml(msg))?;
    let mut e = Engine::new(&img);
    let t0 = Instant::now();
    let mut first: Option<f64> = None;
    // Wall time of layer steps by chunk length: (chunk_len, seconds, count).
    let mut layer_times: Vec<(u32, f64, u32)> = Vec::new();
    let mut last = 0f64;
    let out = e.run_with(&Request::greedy(ids.clone(), max), |info, _| {
        let now = t0.elapsed().as_secs_f64();
        if info.phase == PHASE_LAYER {
            match layer_times.iter_mut().find(|x| x.0 == info.chunk_len) {
                Some(x) => {
                    x.1 += now - last;
                    x.2 += 1;
                }
                None => layer_times.push((info.chunk_len, now - last, 1)),
            }
        }
        last = now;
        if info.phase == PHASE_HEAD && first.is_none() {
            first = Some(now);
        }
    })?;
    for (len, secs, n) in &layer_times {
        eprintln!(
            "layer step over {len} token(s): {:.2} ms on average ({n} steps)",
            1e3 * secs / *n as f64
        );
    }
    let total = t0.elapsed().as_secs_f64();
    let prefill = first.unwrap_or(total);
    let n = out.answer.tokens.len();
    println!("{}", out.text);
    eprintln!(
        "import {import:.2} s; prompt {} tokens in {prefill:.2} s = {:.1} tok/s; decode {} tokens in {:.2} s = {:.1} tok/s; {} steps; image {}",
        ids.len(),
        ids.len() as f64 / prefill,
        n.saturating_sub(1),
        total - prefill,
        n.saturating_sub(1) as f64 / (total - prefill),
        out.steps,
        img.hash
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
    Ok(())
}
