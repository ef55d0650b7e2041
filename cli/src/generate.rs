//! `veritrace generate`: run the deterministic integer engine on a prompt, print the answer and,
//! with `--trace`, the layer-trace commitment an executor would submit for the run.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use veritrace_tracer::model_machine::ModelMachine;
use veritrace_tracer::recorder::TraceRecorder;
use veritrace_vm::candle_backend::Candle;
use veritrace_vm::image::ImportOptions;
use veritrace_vm::io::derive_seed;
use veritrace_vm::native::FastNative;
use veritrace_vm::pool::on_worker;
use veritrace_vm::semantics::step::PHASE_HEAD;
use veritrace_vm::tokenizer::{Tokenizer, chatml};
use veritrace_vm::{Backend, Engine, ModelImage, Request, Wasm};

/// Which engine executes the steps (all leave identical memories at every boundary).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum BackendKind {
    /// The fast native kernels (AVX2 where available).
    Native,
    /// The canonical wasm program in wasmtime (the reference; slow).
    Wasm,
    /// Candle kernels (CPU, or the GPU when built with `cuda`).
    Candle,
}

/// Arguments of `veritrace generate`.
#[derive(Debug, Args)]
pub(crate) struct GenerateArgs {
    /// The GGUF model file.
    #[arg(long, default_value = "models/SmolLM2-135M-Instruct.Q4_1.gguf")]
    model: PathBuf,
    /// Raw prompt text (tokenized as is).
    #[arg(long, conflicts_with = "chat", required_unless_present = "chat")]
    prompt: Option<String>,
    /// A user message, wrapped in the ChatML template.
    #[arg(long)]
    chat: Option<String>,
    /// User seed of the sampler (the machine's seed is keccak256(requestId 0 ‖ uint256 seed)).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Sampling temperature; 0 is greedy.
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    temperature: f64,
    /// Keep only the k most likely tokens; 0 = no limit beyond the machine's cap.
    #[arg(long, default_value_t = 0)]
    top_k: u32,
    /// Nucleus sampling mass in (0, 1]; 1 disables it.
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    top_p: f64,
    /// Most tokens to generate (at least 1).
    #[arg(long, default_value_t = 64)]
    max_tokens: u32,
    /// The engine backend.
    #[arg(long, value_enum, default_value_t = BackendKind::Native)]
    backend: BackendKind,
    /// Record the step-boundary hashes and print the layer-trace root and step count.
    #[arg(long)]
    trace: bool,
}

/// A Q.16 fixed-point value of a parameter checked to lie in `[0, max]`.
fn q16(name: &str, v: f64, max: f64) -> Result<u32> {
    if !v.is_finite() || v < 0.0 || v > max {
        bail!("--{name} must be between 0 and {max}, got {v}");
    }
    Ok((v * 65536.0).round() as u32)
}

/// The request of the arguments for a model, or the reason it cannot be made.
fn build_request(
    args: &GenerateArgs,
    tokenizer: &Tokenizer,
    image: &ModelImage,
) -> Result<Request> {
    let text = match (&args.prompt, &args.chat) {
        (Some(p), None) => p.clone(),
        (None, Some(m)) => chatml(m),
        _ => bail!("give exactly one of --prompt and --chat"),
    };
    let tokens = tokenizer.encode(&text).context("tokenizing the prompt")?;
    if tokens.is_empty() {
        bail!("the prompt is empty");
    }
    let ctx = image.dims.ctx as usize;
    if tokens.len() >= ctx {
        bail!(
            "the prompt is {} tokens, over the context of {ctx} tokens (at most {} fit)",
            tokens.len(),
            ctx - 1
        );
    }
    let mut user_seed = [0u8; 32];
    user_seed[24..].copy_from_slice(&args.seed.to_be_bytes());
    Ok(Request {
        tokens,
        max_tokens: args.max_tokens,
        temperature_q16: q16("temperature", args.temperature, 1000.0)?,
        top_k: args.top_k,
        top_p_q16: q16("top-p", args.top_p, 1.0)?,
        seed: derive_seed(&[0; 32], &user_seed),
    })
}

fn check_args(args: &GenerateArgs) -> Result<()> {
    if args.max_tokens == 0 {
        bail!("--max-tokens must be at least 1");
    }
    if args.temperature.is_nan() || args.temperature < 0.0 {
        bail!(
            "--temperature must be 0 (greedy) or positive, got {}",
            args.temperature
        );
    }
    if !(args.top_p > 0.0 && args.top_p <= 1.0) {
        bail!("--top-p must be in (0, 1], got {}", args.top_p);
    }
    Ok(())
}

fn spinner(msg: &str) -> ProgressBar {
    let pb = ProgressBar::new_spinner();
    pb.set_style(ProgressStyle::with_template("{spinner} {msg} [{elapsed}]").expect("template"));
    pb.set_message(msg.to_string());
    pb.enable_steady_tick(Duration::from_millis(100));
    pb
}

fn load_model(path: &Path) -> Result<(ModelImage, Tokenizer)> {
    if !path.is_file() {
        bail!("model file not found: {}", path.display());
    }
    let pb = spinner(&format!("importing {}", path.display()));
    let image = ModelImage::from_gguf_file(path, &ImportOptions::default())
        .with_context(|| format!("cannot import model file {}", path.display()))?;
    let tokenizer = Tokenizer::from_gguf_file(path)
        .with_context(|| format!("cannot read the tokenizer of {}", path.display()))?;
    pb.finish_with_message(format!(
        "imported {} ({} layers, context {})",
        path.display(),
        image.dims.n_layers,
        image.dims.ctx
    ));
    Ok((image, tokenizer))
}

/// Runs `veritrace generate`.
pub(crate) fn run(args: &GenerateArgs) -> Result<()> {
    check_args(args)?;
    let (image, tokenizer) = load_model(&args.model)?;
    let req = build_request(args, &tokenizer, &image)?;
    match args.backend {
        BackendKind::Native => execute(
            Engine::with_backend(FastNative::new(image.initial_memory())),
            &image,
            &req,
            args.trace,
        ),
        BackendKind::Wasm => execute(
            Engine::with_backend(Wasm::new(&image).context("starting the wasm backend")?),
            &image,
            &req,
            args.trace,
        ),
        BackendKind::Candle => execute(
            Engine::with_backend(
                Candle::new(image.initial_memory()).context("starting the candle backend")?,
            ),
            &image,
            &req,
            args.trace,
        ),
    }
}

fn execute<B: Backend>(
    mut engine: Engine<B>,
    image: &ModelImage,
    req: &Request,
    trace: bool,
) -> Result<()> {
    engine.load(req)?;
    let mut recorder = if trace {
        let pb = spinner("trace: hashing the initial memory");
        let machine = ModelMachine::new(image)?;
        let memory = engine.memory();
        let rec = on_worker(|| TraceRecorder::new(&machine, memory));
        pb.finish_with_message("trace: initial memory hashed");
        Some(rec)
    } else {
        None
    };
    let bar = ProgressBar::new(u64::from(req.max_tokens));
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg} {pos}/{len} tokens [{elapsed}]")
            .expect("template"),
    );
    bar.set_message(format!("{}: prompt", engine.backend_name()));
    bar.enable_steady_tick(Duration::from_millis(100));
    let start = Instant::now();
    let mut prefill = None;
    let mut generated = 0u64;
    // On a pool worker, as `Engine::run_with` does (`veritrace_vm::pool`).
    on_worker(|| -> Result<()> {
        loop {
            let (info, done) = engine.step()?;
            if let Some(rec) = recorder.as_mut() {
                rec.record(&info, engine.memory());
            }
            if info.phase == PHASE_HEAD {
                generated += 1;
                bar.set_position(generated);
                if prefill.is_none() {
                    prefill = Some(start.elapsed());
                    bar.set_message(format!("{}: decode", engine.backend_name()));
                }
            }
            if done {
                return Ok(());
            }
        }
    })?;
    let total = start.elapsed();
    bar.finish_and_clear();
    let answer = engine.answer();
    let text = String::from_utf8_lossy(&answer.text);
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}")?;
    out.flush()?;
    let prefill = prefill.unwrap_or(total);
    eprintln!(
        "prompt: {} tokens, {:.1} tok/s",
        req.tokens.len(),
        req.tokens.len() as f64 / prefill.as_secs_f64()
    );
    if generated > 1 {
        eprintln!(
            "decode: {} tokens, {:.1} tok/s",
            generated - 1,
            (generated - 1) as f64 / (total - prefill).as_secs_f64()
        );
    }
    if let Some(rec) = recorder {
        let trace = rec.finish()?;
        eprintln!("trace root: 0x{}", hex::encode(trace.root()));
        eprintln!("trace steps: {}", trace.step_count());
    }
    Ok(())
}
