//! The fast backends and the canonical wasm program against the scalar reference: the fast
//! native engine (AVX2 and portable code, rows split across threads), the candle engine (block
//! dot products in f32 tensors) and the canonical program in wasmtime must leave the same memory
//! as [`Native`] after every step, hence produce the same tokens and the same layer trace.
//!
//! * kernel level: random matrices, activations and outputs, including values no real model
//!   produces (extreme scales, shifts and bytes), every kernel against [`Scalar`];
//! * engine level: random tiny models, shapes, chunk sizes and sampling parameters (proptest),
//!   all bytes of memory compared after every step;
//! * the real model (SmolLM2-135M): prompts, greedy and sampled, memory outside the image
//!   compared after every step and the whole memory at the end. `make test` runs a few prompts;
//!   `make test-backends-full` runs 24 (an ignored test).

mod common;

use candle_core::Device;
use candle_core::quantized::GgmlDType;
use common::tiny::{BASE, Spec, import, prompt};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use veritrace_vm::candle_backend::{Candle, CandleKernels};
use veritrace_vm::native::{
    FastKernels, FastNative, Simd, avx2_block_terms, shift_round_branchless,
};
use veritrace_vm::semantics::fixed::shift_round_i64;
use veritrace_vm::semantics::kernels::{Act, Kernels, Scalar};
use veritrace_vm::semantics::layout::{KIND_Q4, KIND_Q8, REGIONS, Region};
use veritrace_vm::semantics::matmul::{Mat, Out};
use veritrace_vm::tokenizer::chatml;
use veritrace_vm::{Backend, Engine, ModelImage, Native, Request, Wasm};

/// A boxed backend (so that the engines of different backends fit in one list).
struct Dyn(Box<dyn Backend>);

impl Backend for Dyn {
    fn name(&self) -> &'static str {
        self.0.name()
    }
    fn memory(&self) -> &[u8] {
        self.0.memory()
    }
    fn memory_mut(&mut self) -> &mut [u8] {
        self.0.memory_mut()
    }
    fn step(&mut self) -> veritrace_vm::error::Result<bool> {
        self.0.step()
    }
}

/// Every backend under test, the scalar reference first.
fn backends(img: &ModelImage, rows_per_task: usize) -> Vec<(String, Box<dyn Backend>)> {
    let mem = img.initial_memory();
    let avx = FastKernels::with(Simd::Avx2, rows_per_task);
    let portable = FastKernels::with(Simd::Portable, rows_per_task + 2);
    vec![
        ("scalar".into(), Box::new(Native::new(mem.clone()))),
        (
            format!("fast {:?}", avx.simd()),
            Box::new(FastNative::with_kernels(mem.clone(), avx)),
        ),
        (
            "fast Portable".into(),
            Box::new(FastNative::with_kernels(mem.clone(), portable)),
        ),
        (
            "candle".into(),
            Box::new(Candle::with_device(mem, Device::Cpu).expect("candle backend")),
        ),
        (
            "wasm".into(),
            Box::new(Wasm::new(img).expect("the canonical program instantiates")),
        ),
    ]
}

/// The region holding byte `i`.
fn region_of(img: &ModelImage, i: usize) -> Option<Region> {
    REGIONS.into_iter().find(|&r| {
        let o = img.layout.offset(r);
        (o..o + img.layout.size(r)).contains(&i)
    })
}

/// Fails unless `a == b`, naming the first differing byte.
fn same(img: &ModelImage, what: &str, a: &[u8], b: &[u8]) -> Result<(), TestCaseError> {
    if a != b {
        let i = a.iter().zip(b).position(|(x, y)| x != y).unwrap_or(0);
        return Err(TestCaseError::fail(format!(
            "{what}: first difference at byte {i:#x} ({:?})",
            region_of(img, i)
        )));
    }
    Ok(())
}

/// Runs `req` on every backend in lockstep. After each step the memories must be identical:
/// all of it if `whole` (tiny models), else every region but the image (which no step writes;
/// the real model's is 128 MiB), and all of it at the end. Returns the steps run and the
/// generated tokens.
fn lockstep(
    img: &ModelImage,
    req: &Request,
    whole: bool,
    rows_per_task: usize,
) -> Result<(u64, Vec<u32>), TestCaseError> {
    let mut engines: Vec<(String, Engine<Dyn>)> = backends(img, rows_per_task)
        .into_iter()
        .map(|(n, b)| (n, Engine::with_backend(Dyn(b))))
        .collect();
    for (_, e) in &mut engines {
        e.load(req).expect("load");
    }
    let mut steps = 0u64;
    loop {
        let mut done = Vec::new();
        for (_, e) in &mut engines {
            done.push(e.step().expect("step").1);
        }
        let (reference, rest) = engines.split_first().expect("backends");
        let a = reference.1.memory();
        for ((name, e), d) in rest.iter().zip(&done[1..]) {
            let what = format!("{name} after step {steps}");
            prop_assert_eq!(*d, done[0], "{}: done flag", what);
            let b = e.memory();
            if whole {
                same(img, &what, a, b)?;
            } else {
                for r in REGIONS.into_iter().filter(|&r| r != Region::Image) {
                    let (o, n) = (img.layout.offset(r), img.layout.size(r));
                    same(img, &what, &a[o..o + n], &b[o..o + n])?;
                }
            }
        }
        steps += 1;
        if done[0] {
            break;
        }
    }
    let a = engines[0].1.memory();
    for (name, e) in &engines[1..] {
        same(img, &format!("{name} at the end"), a, e.memory())?;
        prop_assert_eq!(e.answer(), engines[0].1.answer());
    }
    Ok((steps, engines[0].1.answer().tokens))
}

// ---------------------------------------------------------------------------------------------
// Kernels.

/// Random matmul operands: weight blocks with arbitrary scale words, activations with arbitrary
/// bytes (including -128) and scales, and an arbitrary initial output.
#[derive(Clone, Debug)]
struct MatCase {
    kind: u32,
    shift: u32,
    rows: usize,
    cols: usize,
    n_tok: usize,
    w: Vec<u8>,
    xq: Vec<u8>,
    xs: Vec<u8>,
    y: Vec<u8>,
    add: bool,
}

fn mat_case() -> impl Strategy<Value = MatCase> {
    (
        prop_oneof![Just(KIND_Q4), Just(KIND_Q8)],
        0u32..50,
        1usize..40,
        1usize..14,
        1usize..18,
        any::<bool>(),
        any::<u64>(),
        0u32..5,
    )
        .prop_map(|(kind, shift, rows, nb, n_tok, add, seed, scale_mode)| {
            let mut r = common::tiny::Rng(seed);
            // Mode 4: tiny scales and shifts, so that most block terms are exact ties of the
            // rounding (`P am` an odd multiple of half the divisor).
            let tiny = scale_mode == 4;
            let shift = if tiny { 9 + shift % 4 } else { shift };
            let cols = nb * 32;
            let bb = if kind == KIND_Q4 { 24 } else { 36 };
            let mut w: Vec<u8> = (0..rows * nb * bb).map(|_| r.next() as u8).collect();
            // Scale words: real-model sized (|.| < 2^23) or arbitrary i32.
            for blk in 0..rows * nb {
                for o in if kind == KIND_Q4 {
                    vec![16, 20]
                } else {
                    vec![32]
                } {
                    let v = match scale_mode {
                        4 => ((r.next() % 9) as i32 - 4) as u32,
                        0 | 1 => ((r.next() as i32) >> 9) as u32,
                        2 => r.next() as u32,
                        _ => [0, 1, u32::MAX, 0x8000_0000, 0x7FFF_FFFF][(r.next() % 5) as usize],
                    };
                    w[blk * bb + o..blk * bb + o + 4].copy_from_slice(&v.to_le_bytes());
                }
            }
            let xq: Vec<u8> = (0..n_tok * cols)
                .map(|_| match scale_mode {
                    0 => ((r.next() % 255) as i32 - 127) as u8,
                    _ => r.next() as u8,
                })
                .collect();
            let xs: Vec<u8> = (0..n_tok * nb)
                .flat_map(|_| {
                    let s = match r.next() % 6 {
                        _ if tiny => 1 + (r.next() % 3) as u32,
                        0 => 0,
                        1 => (r.next() as u32) & 0xFFFF,
                        2 => r.next() as u32,
                        _ => ((r.next() as u32) & 0xFFFF) | (((r.next() % 17) as u32) << 16),
                    };
                    s.to_le_bytes()
                })
                .collect();
            let y: Vec<u8> = (0..n_tok * rows * 4).map(|_| r.next() as u8).collect();
            MatCase {
                kind,
                shift,
                rows,
                cols,
                n_tok,
                w,
                xq,
                xs,
                y,
                add,
            }
        })
}

fn run_kernel(k: &dyn Kernels, c: &MatCase) -> Vec<u8> {
    let w = Mat {
        data: &c.w,
        kind: c.kind,
        shift: c.shift,
        rows: c.rows,
        cols: c.cols,
    };
    let x = Act {
        q: &c.xq,
        q_stride: c.cols,
        s: &c.xs,
        s_stride: 4 * c.cols / 32,
        n_tok: c.n_tok,
    };
    let mut y = c.y.clone();
    let op = if c.add { Out::Add } else { Out::Store };
    k.matmul(&w, &x, &mut y, 4 * c.rows, op);
    y
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn kernels_equal_scalar_on_arbitrary_operands(c in mat_case()) {
        let expected = run_kernel(&Scalar, &c);
        let kernels: Vec<(&str, Box<dyn Kernels>)> = vec![
            ("avx2", Box::new(FastKernels::with(Simd::Avx2, 1))),
            ("avx2 split 5", Box::new(FastKernels::with(Simd::Avx2, 5))),
            ("portable", Box::new(FastKernels::with(Simd::Portable, 3))),
            ("candle", Box::new(CandleKernels::uncached(Device::Cpu))),
        ];
        for (name, k) in &kernels {
            prop_assert_eq!(&run_kernel(k.as_ref(), &c), &expected, "{}", name);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 20000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn shift_round_matches_the_scalar_code(
        v in prop_oneof![any::<i64>(), -70_000i64..70_000, Just(i64::MIN), Just(i64::MAX)],
        s in prop_oneof![-70i32..70, any::<i32>(), Just(i32::MIN)],
    ) {
        prop_assert_eq!(shift_round_branchless(v, s), shift_round_i64(v, s));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 20000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn avx2_block_terms_match_the_scalar_code(
        small in any::<bool>(),
        d in any::<[i32; 4]>(),
        m in any::<[i32; 4]>(),
        sq in any::<[i32; 4]>(),
        sx in any::<[i16; 4]>(),
        am in any::<[u16; 4]>(),
        s in any::<[i32; 4]>(),
        seed in any::<u64>(),
    ) {
        // Half the cases: small operands and shifts, where most terms are exact rounding ties.
        let mut r = common::tiny::Rng(seed);
        let mut pick = |v: i64, lo: i64, hi: i64| {
            if small { lo + (r.next() % (hi - lo + 1) as u64) as i64 } else { v }
        };
        let d = d.map(|v| pick(v as i64, -5, 5) as i32);
        let m = m.map(|v| pick(v as i64, -5, 5) as i32);
        let sq = sq.map(|v| (pick(v as i64, -40, 40) as i32).clamp(-(1 << 19), 1 << 19));
        let sx = sx.map(|v| (pick(v as i64, -40, 40) as i16).clamp(-4096, 4096));
        let am = am.map(|v| pick(v as i64, 0, 5) as u16);
        let s = s.map(|v| pick((v % 80) as i64, -6, 3) as i32);
        if let Some(got) = avx2_block_terms(d, m, sq, sx, am, s) {
            for i in 0..4 {
                let p = d[i] as i64 * sq[i] as i64 + m[i] as i64 * sx[i] as i64;
                let want = shift_round_i64(p.wrapping_mul(am[i] as i64), s[i]);
                prop_assert_eq!(got[i], want, "lane {}", i);
            }
        }
    }
}

#[test]
fn the_kernel_tests_can_fail() {
    // A kernel that is off by one in a single output must be caught by the comparison above.
    struct OffByOne;
    impl Kernels for OffByOne {
        fn matmul(&self, w: &Mat<'_>, x: &Act<'_>, y: &mut [u8], ys: usize, op: Out) {
            Scalar.matmul(w, x, y, ys, op);
            y[4 * (w.rows - 1)] ^= 1;
        }
    }
    let c = mat_case()
        .new_tree(&mut proptest::test_runner::TestRunner::deterministic())
        .unwrap()
        .current();
    assert_ne!(run_kernel(&OffByOne, &c), run_kernel(&Scalar, &c));
}

#[test]
fn avx2_is_used_when_available() {
    let k = FastKernels::detect();
    #[cfg(target_arch = "x86_64")]
    assert_eq!(
        k.simd() == Simd::Avx2,
        std::is_x86_feature_detected!("avx2")
    );
    eprintln!("fast kernels: {:?}", k.simd());
}

// ---------------------------------------------------------------------------------------------
// Tiny models.

fn spec() -> impl Strategy<Value = (Spec, u32)> {
    (
        1usize..4,
        any::<bool>(),
        1usize..3,
        1usize..5,
        1usize..4,
        40usize..300,
        prop_oneof![
            Just(GgmlDType::Q4_1),
            Just(GgmlDType::Q4_0),
            Just(GgmlDType::Q8_0),
            Just(GgmlDType::F16)
        ],
        prop_oneof![Just(GgmlDType::Q8_0), Just(GgmlDType::Q4_1)],
        1u32..6,
        any::<u64>(),
    )
        .prop_map(
            |(heads, gqa, width, ffn, layers, vocab, mats, embd, chunk, seed)| {
                let spec = Spec {
                    hidden: 32 * heads * width,
                    heads,
                    kv: if gqa { 1 } else { heads },
                    ffn: 32 * ffn,
                    layers,
                    vocab,
                    mats,
                    embd,
                    seed,
                    ..BASE
                };
                (spec, chunk)
            },
        )
}

fn request() -> impl Strategy<Value = (usize, u32, u32, u32, u32, [u8; 32], u64)> {
    (
        1usize..14,
        1u32..7,
        prop_oneof![Just(0u32), Just(1 << 14), Just(1 << 16), Just(3 << 16)],
        prop_oneof![Just(0u32), Just(1), Just(5), Just(40)],
        prop_oneof![Just(65536u32), Just(1 << 15), Just(60000)],
        any::<[u8; 32]>(),
        any::<u64>(),
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn backends_equal_scalar_on_random_tiny_models(
        (s, chunk) in spec(),
        (n, max_tokens, temperature_q16, top_k, top_p_q16, seed, pseed) in request(),
        rows_per_task in 1usize..9,
    ) {
        let img = import(&s, chunk);
        let req = Request {
            tokens: prompt(pseed, n, s.vocab),
            max_tokens,
            temperature_q16,
            top_k,
            top_p_q16,
            seed,
        };
        let (steps, tokens) = lockstep(&img, &req, true, rows_per_task)?;
        prop_assert!(steps >= 3 && !tokens.is_empty());
    }
}

// ---------------------------------------------------------------------------------------------
// The real model.

/// Chat messages and raw text prompts of various lengths.
const PROMPTS: [&str; 24] = [
    "What is the capital of France?",
    "def fibonacci(n):",
    "Write a haiku about the sea.",
    "The quick brown fox",
    "Explain photosynthesis in one sentence.",
    "1, 2, 3, 4, 5,",
    "Translate 'good morning' into Spanish.",
    "Once upon a time, in a small village,",
    "What is 17 times 23?",
    "List three primary colors.",
    "import numpy as np\n",
    "Who wrote Romeo and Juliet?",
    "The meaning of life is",
    "Give me a synonym for happy.",
    "SELECT * FROM users WHERE",
    "Why is the sky blue?",
    "Name a planet in the solar system.",
    "In 1969, astronauts",
    "How do I boil an egg?",
    "Rust is a programming language that",
    "Summarize: The cat sat on the mat all day.",
    "What does a CPU do?",
    "Tell me a joke about computers.",
    "The largest ocean on Earth is",
];

/// Prompt `i`: every other one in the chat template; odd ones sampled, each with its own
/// temperature, top-k, top-p and seed.
fn real_request(i: usize) -> Request {
    let tk = common::tokenizer();
    let text = if i.is_multiple_of(2) {
        chatml(PROMPTS[i])
    } else {
        PROMPTS[i].to_string()
    };
    let mut req = Request::greedy(tk.encode(&text).expect("tokenize"), 4 + (i % 5) as u32);
    if i % 2 == 1 {
        req.temperature_q16 = [30000, 65536, 90000][i % 3];
        req.top_k = [0, 40, 10, 1][i % 4];
        req.top_p_q16 = [65536, 58000, 62000][(i / 2) % 3];
        req.seed = [i as u8 + 1; 32];
    }
    req
}

fn real_model(prompts: std::ops::Range<usize>) {
    let img = common::image();
    for i in prompts {
        let req = real_request(i);
        let t = std::time::Instant::now();
        let (steps, tokens) = lockstep(img, &req, false, 8).unwrap_or_else(|e| panic!("{e}"));
        eprintln!(
            "prompt {i} ({} tokens, T {}): {steps} steps identical on every backend, tokens \
             {tokens:?}, {:.1} s",
            req.tokens.len(),
            req.temperature_q16,
            t.elapsed().as_secs_f64()
        );
    }
}

#[test]
fn backends_equal_scalar_on_the_real_model() {
    real_model(0..4);
}

#[test]
#[ignore = "slow (a few minutes): `make test-backends-full`"]
fn backends_equal_scalar_on_the_real_model_24_prompts() {
    real_model(0..PROMPTS.len());
}
