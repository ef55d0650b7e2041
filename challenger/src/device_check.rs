//! The device check (`veritrace-device-check`): before a watchtower bonds on a GPU's re-runs,
//! it proves that the GPU reproduces the CPU engines bit for bit, and measures how fast it
//! verifies. No model file is needed: the check builds a random-weight model of a real shape
//! ([`Shape`]), so it runs on a machine that holds no GGUF.
//!
//! For each request (greedy and sampled in turn) the fast native engine (the CPU reference,
//! itself bit-identical to the scalar engine and the canonical wasm program by the backend
//! tests) and the candle engine on the device under test run in lockstep: after every step the
//! whole memory outside the image must be equal (the image is never written; it is compared
//! once, at the end), and both runs' layer traces are recorded and their roots compared. Then
//! three speed figures, each again checked against the CPU: single-request decode, the traced
//! verification of one long answer (what a challenger does per answer), and many answers at
//! once (one engine per request on the same device, sharing its weights).

use std::time::{Duration, Instant};

use alloy::primitives::Keccak256;
use anyhow::{Context, Result, anyhow};
use serde::Serialize;
use veritrace_tracer::model_machine::ModelMachine;
use veritrace_tracer::recorder::{TraceRecorder, run_traced};
use veritrace_vm::candle_backend::Candle;
use veritrace_vm::image::ImportOptions;
use veritrace_vm::native::FastNative;
use veritrace_vm::pool::on_worker;
use veritrace_vm::semantics::layout::{REGIONS, Region};
use veritrace_vm::semantics::step::PHASE_HEAD;
use veritrace_vm::synthetic::{GgmlDType, Spec, prompt};
use veritrace_vm::{Backend, Engine, ModelImage, Request};

use crate::verify::{DeviceKind, device};

/// The model shapes the check builds (random weights, real dimensions).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Shape {
    /// A two-layer toy (seconds on a CPU; for testing the check itself).
    Tiny,
    /// SmolLM2-135M, the model veritrace serves today.
    Smollm2135m,
    /// Llama-3.2-1B (tied head, Q4_0 blocks).
    Llama1b,
}

impl Shape {
    /// The random model of this shape.
    pub fn spec(self) -> Spec {
        match self {
            Shape::Tiny => Spec {
                hidden: 128,
                heads: 4,
                kv: 2,
                ffn: 256,
                layers: 2,
                vocab: 512,
                context: 4096,
                rope_base: 10_000.0,
                embd: GgmlDType::Q8_0,
                mats: GgmlDType::Q4_1,
                arch: "llama",
                seed: 7,
            },
            Shape::Smollm2135m => Spec::SMOLLM2_135M,
            Shape::Llama1b => Spec::LLAMA_1B,
        }
    }
}

/// What to run, for one shape.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    /// The model shape.
    pub shape: Shape,
    /// Where the engine under test runs.
    #[serde(skip)]
    pub device: DeviceKind,
    /// Requests run in lockstep (even ones greedy, odd ones sampled).
    pub requests: usize,
    /// Prompt tokens per request.
    pub prompt_tokens: usize,
    /// Most generated tokens per lockstep request.
    pub max_tokens: u32,
    /// Tokens of the traced verification run (a challenger's work per answer).
    pub verify_tokens: u32,
    /// Answers verified at once in the batch figure (0: skip it).
    pub batch: usize,
}

impl Plan {
    /// The machine context the plan needs: every prompt and answer fits, rounded up to 64.
    fn context(&self) -> u32 {
        let need = self.prompt_tokens as u32 + self.max_tokens.max(self.verify_tokens) + 1;
        need.div_ceil(64) * 64
    }

    /// Request `i`: a random prompt; greedy for even `i`, sampled (T = 0.8, top-k 40,
    /// top-p 0.9, a seed of its own) for odd `i`.
    pub fn request(&self, i: usize, max_tokens: u32) -> Request {
        let tokens = prompt(1000 + i as u64, self.prompt_tokens, self.shape.spec().vocab);
        if i.is_multiple_of(2) {
            return Request::greedy(tokens, max_tokens);
        }
        let mut seed = [0u8; 32];
        seed[..8].copy_from_slice(&(i as u64).to_le_bytes());
        Request {
            tokens,
            max_tokens,
            temperature_q16: 52_429,
            top_k: 40,
            top_p_q16: 58_982,
            seed,
        }
    }
}

/// Where two runs first differed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Difference {
    /// Steps both had run when they differed (`None`: at the end, or the done flag).
    pub after_step: Option<u64>,
    /// What differed: a region's name, `done flag`, `trace root` or `device error: ..`.
    pub what: String,
    /// Absolute byte offset of the first differing byte, for memory differences.
    pub offset: Option<usize>,
}

/// One request run in lockstep.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LockstepReport {
    /// Greedy or sampled.
    pub sampled: bool,
    /// Steps run (by both).
    pub steps: u64,
    /// Tokens generated (by the reference).
    pub generated: usize,
    /// The first difference, if any.
    pub difference: Option<Difference>,
    /// Layer-trace root of the reference run (hex).
    pub trace_root: String,
    /// Time of the reference's steps and of the subject's, seconds (each excluding the other
    /// and the recorders).
    pub reference_s: f64,
    /// See `reference_s`.
    pub subject_s: f64,
    /// Decode speed (tokens after the first generated one per second of decode steps).
    pub reference_decode_tok_s: f64,
    /// See `reference_decode_tok_s`.
    pub subject_decode_tok_s: f64,
    /// Generated token ids of the reference.
    #[serde(skip)]
    pub tokens: Vec<u32>,
    /// Digest of the reference's final memory outside the image.
    #[serde(skip)]
    pub final_digest: [u8; 32],
}

/// One traced run of a long answer on each side: what a challenger does per answer.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    /// Tokens generated.
    pub generated: usize,
    /// Steps (trace leaves - 1).
    pub steps: u64,
    /// Wall time of the traced run on the CPU reference and on the device, seconds.
    pub reference_s: f64,
    /// See `reference_s`.
    pub subject_s: f64,
    /// Whether both traces have the same root and step count and the same answer.
    pub identical: bool,
}

/// Many answers verified at once on the device (one engine per request, shared weights).
#[derive(Debug, Clone, Serialize)]
pub struct BatchReport {
    /// Engines run concurrently.
    pub engines: usize,
    /// Tokens generated by all of them.
    pub generated: usize,
    /// Wall time, seconds.
    pub wall_s: f64,
    /// Generated tokens per second, all engines together.
    pub tok_s: f64,
    /// Engines whose answer and final memory equal the CPU reference's.
    pub identical: usize,
}

/// Everything the check found for one shape.
#[derive(Debug, Clone, Serialize)]
pub struct ShapeReport {
    /// The plan that ran.
    pub plan: Plan,
    /// Device under test and reference, as names.
    pub subject: String,
    /// See `subject`.
    pub reference: String,
    /// CPU threads of the rayon pool.
    pub cpu_threads: usize,
    /// Weights of the model.
    pub parameters: usize,
    /// Machine memory: `2^memory_log2` bytes.
    pub memory_log2: u32,
    /// Building the random GGUF and importing it, seconds.
    pub build_s: f64,
    /// Preparing the subject engine (for a GPU: converting and uploading the weights), seconds.
    pub subject_setup_s: f64,
    /// The lockstep runs.
    pub lockstep: Vec<LockstepReport>,
    /// The long traced run.
    pub verify: Option<VerifyReport>,
    /// The batch figure.
    pub batch: Option<BatchReport>,
}

impl ShapeReport {
    /// Whether every comparison of the check held.
    pub fn all_identical(&self) -> bool {
        self.lockstep.iter().all(|r| r.difference.is_none())
            && self.verify.as_ref().is_none_or(|v| v.identical)
            && self.batch.as_ref().is_none_or(|b| b.identical == b.engines)
    }
}

/// Every region but the image (which no step writes).
fn outside_image() -> impl Iterator<Item = Region> {
    REGIONS.into_iter().filter(|&r| r != Region::Image)
}

/// Digest of every region but the image.
fn mutable_digest(image: &ModelImage, mem: &[u8]) -> [u8; 32] {
    let mut h = Keccak256::new();
    for r in outside_image() {
        let (o, n) = (image.layout.offset(r), image.layout.size(r));
        h.update(&mem[o..o + n]);
    }
    h.finalize().0
}

/// The first region and offset where `a` and `b` differ, among `regions`.
fn first_difference(
    image: &ModelImage,
    regions: impl IntoIterator<Item = Region>,
    a: &[u8],
    b: &[u8],
) -> Option<(Region, usize)> {
    for r in regions {
        let (o, n) = (image.layout.offset(r), image.layout.size(r));
        if a[o..o + n] != b[o..o + n] {
            let i = a[o..o + n]
                .iter()
                .zip(&b[o..o + n])
                .position(|(x, y)| x != y)
                .unwrap_or(0);
            return Some((r, o + i));
        }
    }
    None
}

/// Runs `req` on `reference` and `subject` in lockstep, comparing the memory outside the
/// image after every step, the whole memory at the end, and the two layer traces.
pub fn lockstep<R: Backend, S: Backend>(
    image: &ModelImage,
    machine: &ModelMachine,
    reference: &mut Engine<R>,
    subject: &mut Engine<S>,
    req: &Request,
) -> Result<LockstepReport> {
    reference.load(req)?;
    subject.load(req)?;
    let mut report = LockstepReport {
        sampled: req.temperature_q16 != 0,
        ..LockstepReport::default()
    };
    let traces = on_worker(|| -> Result<_> {
        let mut ref_trace = TraceRecorder::new(machine, reference.memory());
        let mut sub_trace = TraceRecorder::new(machine, subject.memory());
        // Decode time: the steps after the first head step (which samples the first token).
        let (mut ref_decode, mut sub_decode) = (Duration::ZERO, Duration::ZERO);
        let mut decoding = false;
        loop {
            let t = Instant::now();
            let (info, done) = reference.step()?;
            let ref_dt = t.elapsed();
            let t = Instant::now();
            let sub = subject.step();
            let sub_dt = t.elapsed();
            report.reference_s += ref_dt.as_secs_f64();
            report.subject_s += sub_dt.as_secs_f64();
            if decoding {
                ref_decode += ref_dt;
                sub_decode += sub_dt;
            }
            decoding |= info.phase == PHASE_HEAD;
            let step = report.steps;
            report.steps += 1;
            let sub_done = match sub {
                Ok((_, d)) => d,
                Err(e) => {
                    report.difference = Some(Difference {
                        after_step: Some(step),
                        what: format!("device error: {e}"),
                        offset: None,
                    });
                    return Ok(None);
                }
            };
            if let Some((r, at)) =
                first_difference(image, outside_image(), reference.memory(), subject.memory())
            {
                report.difference = Some(Difference {
                    after_step: Some(step),
                    what: format!("{r:?}"),
                    offset: Some(at),
                });
                return Ok(None);
            }
            if sub_done != done {
                report.difference = Some(Difference {
                    after_step: Some(step),
                    what: "done flag".into(),
                    offset: None,
                });
                return Ok(None);
            }
            ref_trace.record(&info, reference.memory());
            sub_trace.record(&info, subject.memory());
            if done {
                return Ok(Some((
                    ref_trace.finish()?,
                    sub_trace.finish()?,
                    ref_decode,
                    sub_decode,
                )));
            }
        }
    })?;
    let Some((ref_trace, sub_trace, ref_decode, sub_decode)) = traces else {
        return Ok(report);
    };
    let answer = reference.answer();
    report.generated = answer.tokens.len();
    let rate = |d: Duration| {
        let n = report.generated.saturating_sub(1) as f64;
        if d.is_zero() {
            0.0
        } else {
            n / d.as_secs_f64()
        }
    };
    report.reference_decode_tok_s = rate(ref_decode);
    report.subject_decode_tok_s = rate(sub_decode);
    report.trace_root = alloy::hex::encode(ref_trace.root());
    report.final_digest = mutable_digest(image, reference.memory());
    if let Some((r, at)) = first_difference(image, REGIONS, reference.memory(), subject.memory()) {
        report.difference = Some(Difference {
            after_step: None,
            what: format!("{r:?}"),
            offset: Some(at),
        });
    } else if ref_trace.root() != sub_trace.root()
        || ref_trace.step_count() != sub_trace.step_count()
    {
        report.difference = Some(Difference {
            after_step: None,
            what: "trace root".into(),
            offset: None,
        });
    } else if subject.answer() != answer {
        report.difference = Some(Difference {
            after_step: None,
            what: "answer".into(),
            offset: None,
        });
    }
    report.tokens = answer.tokens;
    Ok(report)
}

/// The long traced run on both sides.
fn verify_run(
    image: &ModelImage,
    machine: &ModelMachine,
    reference: &mut Engine<FastNative>,
    subject: &mut Engine<Candle>,
    req: &Request,
) -> Result<VerifyReport> {
    let t = Instant::now();
    let (ref_out, ref_trace) = run_traced(reference, machine, req)?;
    let reference_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let (sub_out, sub_trace) = run_traced(subject, machine, req)?;
    let subject_s = t.elapsed().as_secs_f64();
    let identical = ref_trace.root() == sub_trace.root()
        && ref_trace.step_count() == sub_trace.step_count()
        && ref_out.answer == sub_out.answer
        && mutable_digest(image, reference.memory()) == mutable_digest(image, subject.memory());
    Ok(VerifyReport {
        generated: ref_out.answer.tokens.len(),
        steps: ref_trace.step_count(),
        reference_s,
        subject_s,
        identical,
    })
}

/// `plan.batch` engines on the device at once, each running one of the lockstep requests (in
/// turn), compared with the reference's answers and final memories.
fn batch_run(
    image: &ModelImage,
    plan: &Plan,
    first: &Candle,
    lockstep: &[LockstepReport],
) -> Result<BatchReport> {
    let mut engines = Vec::with_capacity(plan.batch);
    for i in 0..plan.batch {
        let backend = first.sharing_weights(image.initial_memory())?;
        let req = plan.request(i % lockstep.len(), plan.max_tokens);
        engines.push((
            Engine::with_backend(backend),
            req,
            &lockstep[i % lockstep.len()],
        ));
    }
    let t = Instant::now();
    let results: Vec<Result<(usize, bool)>> = std::thread::scope(|s| {
        let handles: Vec<_> = engines
            .iter_mut()
            .map(|(engine, req, expected)| {
                s.spawn(move || -> Result<(usize, bool)> {
                    let out = engine.run(req)?;
                    let same = out.answer.tokens == expected.tokens
                        && mutable_digest(image, engine.memory()) == expected.final_digest;
                    Ok((out.answer.tokens.len(), same))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow!("a batch engine panicked")))
            })
            .collect()
    });
    let wall_s = t.elapsed().as_secs_f64();
    let mut report = BatchReport {
        engines: plan.batch,
        generated: 0,
        wall_s,
        tok_s: 0.0,
        identical: 0,
    };
    for r in results {
        let (n, same) = r?;
        report.generated += n;
        report.identical += usize::from(same);
    }
    report.tok_s = report.generated as f64 / wall_s.max(1e-9);
    Ok(report)
}

/// Runs the whole check for one shape, calling `progress` with a line per finished part.
pub fn check_shape(plan: &Plan, mut progress: impl FnMut(&str)) -> Result<ShapeReport> {
    let spec = plan.shape.spec();
    let t = Instant::now();
    let gguf = spec.gguf().context("building the random model")?;
    let image = ModelImage::from_gguf_bytes(
        &gguf,
        &ImportOptions {
            ctx: plan.context(),
            ..ImportOptions::default()
        },
    )
    .context("importing the random model")?;
    drop(gguf);
    let machine = ModelMachine::new(&image).context("flattening the canonical program")?;
    let build_s = t.elapsed().as_secs_f64();
    progress(&format!(
        "{:?}: {} weights, 2^{} bytes of memory, built and imported in {build_s:.1} s",
        plan.shape,
        spec.parameters(),
        image.layout.memory_log2
    ));
    let mut reference = Engine::with_backend(FastNative::new(image.initial_memory()));
    let t = Instant::now();
    let subject_backend = Candle::with_device(image.initial_memory(), device(plan.device)?)
        .context("starting the candle backend on the device under test")?;
    let subject_setup_s = t.elapsed().as_secs_f64();
    let subject_name = format!("candle on {:?}", plan.device).to_lowercase();
    progress(&format!(
        "{subject_name}: weights ready in {subject_setup_s:.1} s"
    ));
    let mut subject = Engine::with_backend(subject_backend);
    let mut report = ShapeReport {
        plan: plan.clone(),
        subject: subject_name,
        reference: format!("fast native ({:?})", reference.backend().kernels().simd()),
        cpu_threads: rayon::current_num_threads(),
        parameters: spec.parameters(),
        memory_log2: image.layout.memory_log2,
        build_s,
        subject_setup_s,
        lockstep: Vec::new(),
        verify: None,
        batch: None,
    };
    for i in 0..plan.requests {
        let req = plan.request(i, plan.max_tokens);
        let r = lockstep(&image, &machine, &mut reference, &mut subject, &req)?;
        progress(&format!(
            "request {}/{} ({}): {} steps, {} tokens, {}; decode {:.1} tok/s on the device, {:.1} on the CPU",
            i + 1,
            plan.requests,
            if r.sampled { "sampled" } else { "greedy" },
            r.steps,
            r.generated,
            match &r.difference {
                None => "identical at every step".to_string(),
                Some(d) => format!("DIFFERENT: {d:?}"),
            },
            r.subject_decode_tok_s,
            r.reference_decode_tok_s,
        ));
        report.lockstep.push(r);
    }
    if plan.verify_tokens > 0 {
        let req = plan.request(0, plan.verify_tokens);
        let v = verify_run(&image, &machine, &mut reference, &mut subject, &req)?;
        progress(&format!(
            "verification of a {}-token answer ({} steps, traced): {:.2} s on the device, {:.2} s on the CPU, {}",
            v.generated,
            v.steps,
            v.subject_s,
            v.reference_s,
            if v.identical {
                "identical"
            } else {
                "DIFFERENT"
            }
        ));
        report.verify = Some(v);
    }
    if plan.batch > 0 && !report.lockstep.is_empty() {
        let b = batch_run(&image, plan, subject.backend(), &report.lockstep)?;
        progress(&format!(
            "{} answers at once: {} tokens in {:.2} s = {:.1} tok/s, {}/{} identical to the CPU",
            b.engines, b.generated, b.wall_s, b.tok_s, b.identical, b.engines
        ));
        report.batch = Some(b);
    }
    Ok(report)
}
