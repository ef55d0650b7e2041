//! Prompt and decode speed of every engine on the same request, in one run: the scalar
//! reference (`Native`), the fast native engine (`FastNative`: AVX2 when available, and the
//! portable code), the candle engine (`Candle`, CPU), the canonical wasm program in wasmtime
//! (`Wasm`) and the float reference (candle-transformers'
//! quantized llama on the same GGUF, the model the integer machine approximates).
//!
//! `cargo run --release -p veritrace-bench --bin engine_bench -- [MODEL] [MAX_TOKENS]`
//! (`make bench`). The integer engines must produce the same tokens; the bench checks it.
//!
//! It lives in the bench crate so that the float reference (candle-transformers) is a
//! dependency of no library.

use std::path::Path;
use std::time::Instant;

use candle_core::{Device, Tensor};
use candle_transformers::models::quantized_llama::ModelWeights;
use veritrace_vm::candle_backend::Candle;
use veritrace_vm::image::ImportOptions;
use veritrace_vm::native::{FastKernels, FastNative};
use veritrace_vm::semantics::step::PHASE_HEAD;
use veritrace_vm::tokenizer::{Tokenizer, chatml};
use veritrace_vm::{Backend, Engine, ModelImage, Native, Request, Wasm};

type Res<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// One engine's figures.
struct Figures {
    name: String,
    prompt_tps: f64,
    decode_tps: f64,
    tokens: Vec<u32>,
}

/// Runs `req` once to warm up (thread pool, caches), then once timed: prompt = until the first
/// token is sampled, decode = the remaining tokens.
fn measure<B: Backend>(name: &str, backend: B, req: &Request) -> Res<Figures> {
    let mut e = Engine::with_backend(backend);
    e.run(&Request::greedy(req.tokens[..4].to_vec(), 2))?;
    let t0 = Instant::now();
    let mut first = None;
    let out = e.run_with(req, |info, _| {
        if info.phase == PHASE_HEAD && first.is_none() {
            first = Some(t0.elapsed().as_secs_f64());
        }
    })?;
    let total = t0.elapsed().as_secs_f64();
    let prefill = first.unwrap_or(total);
    let n = out.answer.tokens.len();
    let f = Figures {
        name: name.to_string(),
        prompt_tps: req.tokens.len() as f64 / prefill,
        decode_tps: (n.saturating_sub(1)) as f64 / (total - prefill).max(1e-9),
        tokens: out.answer.tokens,
    };
    eprintln!(
        "{name}: prompt {:.1} tok/s, decode {:.1} tok/s ({n} tokens, {} steps)",
        f.prompt_tps, f.decode_tps, out.steps
    );
    Ok(f)
}

/// The float reference: the whole prompt in one forward pass, then one token at a time (greedy),
/// for the same number of tokens as the integer engines generated.
fn measure_float(path: &Path, prompt: &[u32], n: usize) -> Res<Figures> {
    let mut f = std::fs::File::open(path)?;
    let content = candle_core::quantized::gguf_file::Content::read(&mut f)?;
    let mut model = ModelWeights::from_gguf(content, &mut f, &Device::Cpu)?;
    let logits = |model: &mut ModelWeights, toks: &[u32], pos: usize| -> Res<u32> {
        let x = Tensor::new(toks, &Device::Cpu)?.unsqueeze(0)?;
        let l = model.forward(&x, pos)?.squeeze(0)?.to_vec1::<f32>()?;
        let mut b = 0;
        for i in 1..l.len() {
            if l[i] > l[b] {
                b = i;
            }
        }
        Ok(b as u32)
    };
    // Warm-up.
    logits(&mut model, &prompt[..4], 0)?;
    model.clear_kv_cache();
    let t0 = Instant::now();
    let mut next = logits(&mut model, prompt, 0)?;
    let prefill = t0.elapsed().as_secs_f64();
    let mut tokens = vec![next];
    for i in 1..n {
        next = logits(&mut model, &[next], prompt.len() + i - 1)?;
        tokens.push(next);
    }
    let decode = t0.elapsed().as_secs_f64() - prefill;
    let f = Figures {
        name: "float reference (candle quantized_llama)".into(),
        prompt_tps: prompt.len() as f64 / prefill,
        decode_tps: (n.saturating_sub(1)) as f64 / decode.max(1e-9),
        tokens,
    };
    eprintln!(
        "float: prompt {:.1} tok/s, decode {:.1} tok/s",
        f.prompt_tps, f.decode_tps
    );
    Ok(f)
}

fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().collect();
    let path = Path::new(
        args.get(1)
            .map(String::as_str)
            .unwrap_or("models/SmolLM2-135M-Instruct.Q4_1.gguf"),
    );
    let max: u32 = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(32);
    let img = ModelImage::from_gguf_file(path, &ImportOptions::default())?;
    let tk = Tokenizer::from_gguf_file(path)?;
    let prompt = tk.encode(&chatml(
        "Explain in a few sentences why the sky is blue, and what happens at sunset.",
    ))?;
    // Generate exactly `max` tokens: eos is not sampled by a greedy request that the model
    // answers at length; if it is, the figures cover fewer tokens (printed).
    let req = Request::greedy(prompt.clone(), max);
    eprintln!(
        "model {}, prompt {} tokens, up to {max} generated, {} rayon threads",
        path.display(),
        prompt.len(),
        rayon::current_num_threads()
    );
    let mem = img.initial_memory();
    let mut figs = vec![measure(
        "scalar native (Native)",
        Native::new(mem.clone()),
        &req,
    )?];
    let fast = FastKernels::detect();
    figs.push(measure(
        &format!("fast native (FastNative, {:?})", fast.simd()),
        FastNative::with_kernels(mem.clone(), fast),
        &req,
    )?);
    figs.push(measure(
        "fast native (FastNative, Portable)",
        FastNative::with_kernels(mem.clone(), FastKernels::portable()),
        &req,
    )?);
    figs.push(measure(
        "candle (Candle, CPU)",
        Candle::with_device(mem, Device::Cpu)?,
        &req,
    )?);
    figs.push(measure(
        "wasm (canonical program, wasmtime)",
        Wasm::new(&img)?,
        &req,
    )?);
    let same = figs.iter().all(|f| f.tokens == figs[0].tokens);
    let n = figs[0].tokens.len();
    figs.push(measure_float(path, &prompt, n)?);
    let (p0, d0) = (figs[0].prompt_tps, figs[0].decode_tps);
    println!(
        "engine bench: {} prompt tokens, {n} generated tokens",
        prompt.len()
    );
    println!(
        "{:<42} {:>12} {:>12} {:>10} {:>10}",
        "engine", "prompt tok/s", "decode tok/s", "prompt x", "decode x"
    );
    for f in &figs {
        println!(
            "{:<42} {:>12.1} {:>12.1} {:>10.2} {:>10.2}",
            f.name,
            f.prompt_tps,
            f.decode_tps,
            f.prompt_tps / p0,
            f.decode_tps / d0
        );
    }
    println!("(ratios relative to the scalar native engine)");
    println!(
        "integer engines produce identical tokens: {}",
        if same { "yes" } else { "NO" }
    );
    let text = tk.decode(&figs[0].tokens)?;
    println!("integer answer: {text:?}");
    if !same {
        return Err("the integer engines disagree".into());
    }
    Ok(())
}
