//! The canonical wasm program in wasmtime against the native engine: the same memory, byte for
//! byte, at every step boundary (so the same step-boundary hashes), on tiny random models with
//! random sampling parameters and on the real model. Also: the stack area is zero at every
//! boundary, and a trap inside `step()` is a typed error.

mod common;

use candle_core::quantized::GgmlDType;
use common::tiny::{BASE, Rng, Spec, import, prompt, specs};
use veritrace_vm::program::{self, STACK_SIZE};
use veritrace_vm::semantics::layout::{REGIONS, Region};
use veritrace_vm::{Backend, Engine, ModelImage, Request, VmError, Wasm};

/// Runs `req` on both backends, comparing the whole memory after every step; returns the steps.
fn lockstep(img: &ModelImage, req: &Request) -> u64 {
    let mut native = Engine::new(img);
    let mut wasm = Engine::with_backend(Wasm::new(img).expect("instantiate"));
    assert_eq!(
        native.memory(),
        wasm.memory(),
        "initial memories differ (static data or image placement)"
    );
    native.load(req).unwrap();
    wasm.load(req).unwrap();
    let mut steps = 0;
    loop {
        let (info_n, done_n) = native.step().unwrap();
        let (info_w, done_w) = wasm.step().unwrap();
        assert_eq!(info_n, info_w);
        assert_eq!(done_n, done_w, "step {}", info_n.index);
        let (a, b) = (native.memory(), wasm.memory());
        if a != b {
            let first = a.iter().zip(b).position(|(x, y)| x != y).unwrap();
            let region = REGIONS.into_iter().find(|&r| {
                let o = img.layout.offset(r);
                (o..o + img.layout.size(r)).contains(&first)
            });
            panic!(
                "memories differ after step {} ({info_n:?}) first at byte {first:#x} ({region:?})",
                info_n.index
            );
        }
        assert!(
            b[..STACK_SIZE].iter().all(|&x| x == 0),
            "stack not cleared after step {}",
            info_n.index
        );
        steps += 1;
        if done_n {
            break;
        }
    }
    assert_eq!(native.answer(), wasm.answer());
    steps
}

fn sampled(tokens: Vec<u32>, r: &mut Rng) -> Request {
    let mut seed = [0u8; 32];
    seed.iter_mut().for_each(|b| *b = r.next() as u8);
    Request {
        tokens,
        max_tokens: 1 + (r.next() % 6) as u32,
        temperature_q16: [0, 1 << 14, 1 << 16, 3 << 16][(r.next() % 4) as usize],
        top_k: [0, 1, 5, 40][(r.next() % 4) as usize],
        top_p_q16: [65536, 1 << 15, 60000][(r.next() % 3) as usize],
        seed,
    }
}

#[test]
fn wasm_equals_native_on_tiny_models() {
    let mut r = Rng(7);
    let mut total = 0;
    for (i, s) in specs().into_iter().enumerate() {
        for chunk in [1, 4] {
            let img = import(&s, chunk);
            let n = 1 + (r.next() % 9) as usize;
            let req = sampled(prompt(100 + i as u64, n, s.vocab), &mut r);
            total += lockstep(&img, &req);
        }
    }
    assert!(total > 50, "only {total} steps compared");
}

#[test]
fn wasm_equals_native_on_random_shapes() {
    let mut r = Rng(11);
    for case in 0..6u64 {
        let heads = 1 + (r.next() % 3) as usize;
        let kv = [1, heads][(r.next() % 2) as usize];
        let s = Spec {
            hidden: 32 * heads * (1 + (r.next() % 2) as usize),
            heads,
            kv,
            ffn: 32 * (1 + (r.next() % 4) as usize),
            layers: 1 + (r.next() % 3) as usize,
            vocab: 40 + (r.next() % 200) as usize,
            mats: [GgmlDType::Q4_1, GgmlDType::Q4_0, GgmlDType::Q8_0][(r.next() % 3) as usize],
            seed: 1000 + case,
            ..BASE
        };
        let img = import(&s, 1 + (r.next() % 5) as u32);
        let n = 1 + (r.next() % 12) as usize;
        let req = sampled(prompt(case, n, s.vocab), &mut r);
        lockstep(&img, &req);
    }
}

#[test]
fn wasm_equals_native_on_the_real_model() {
    let img = common::image();
    let tk = common::tokenizer();
    for (i, text) in ["The capital of France is", "def fibonacci(n):"]
        .into_iter()
        .enumerate()
    {
        let tokens = tk.encode(text).unwrap();
        let mut req = Request::greedy(tokens, 3);
        if i == 1 {
            req.temperature_q16 = 45000;
            req.top_k = 20;
            req.seed = [9; 32];
        }
        let steps = lockstep(img, &req);
        eprintln!("{text:?}: {steps} steps identical");
    }
}

#[test]
fn a_trap_in_step_is_a_typed_error() {
    let img = import(&BASE, 4);
    // A program whose step() is `unreachable`: same interface, traps at once.
    let wat = r#"(module (memory (export "memory") 32 32) (func (export "step") unreachable))"#;
    let wasm = wat::parse_str(wat).unwrap();
    let wasm = program::with_memory_size(&wasm, img.layout.memory_log2).unwrap();
    let mut w = Wasm::from_module(&wasm, &img).unwrap();
    match w.step() {
        Err(VmError::WasmTrap { step: 0, reason }) => {
            assert!(reason.contains("unreachable"), "{reason}")
        }
        other => panic!("expected a trap, got {other:?}"),
    }
    // A module with the wrong memory size is refused before anything runs.
    let big = program::module_for(img.layout.memory_log2 + 1).unwrap();
    assert!(matches!(
        Wasm::from_module(&big, &img),
        Err(VmError::Program(_))
    ));
    // One that cannot even be instantiated (static data beyond a 64 KiB memory).
    let small = program::module_for(16).unwrap();
    assert!(matches!(
        Wasm::from_module(&small, &img),
        Err(VmError::WasmRuntime(_))
    ));
}

#[test]
fn the_initial_program_region_is_the_static_data() {
    let img = import(&BASE, 4);
    let mem = img.initial_memory();
    let mut expected = vec![0u8; program::PROGRAM_REGION_SIZE];
    program::write_static_data(&mut expected);
    assert_eq!(&mem[..program::PROGRAM_REGION_SIZE], &expected[..]);
    assert!(expected.iter().any(|&b| b != 0));
    assert_eq!(img.layout.offset(Region::Program), 0);
}
