//! Interpreter speed: instructions per second of an int8 matrix-vector style kernel, without
//! hashing, with the machine hash after every instruction, and with a one-step proof per
//! instruction. `cargo run --release -p veritrace-bench --bin machine_speed [pages_log2]`.

use std::time::Instant;

use veritrace_machine::{Machine, Program};

/// A 64x64 by 64x64 int8 matrix product with i32 accumulation (loads, stores, locals, loops).
fn kernel(pages: u32) -> String {
    format!(
        r#"(module (memory {pages} {pages})
  (func $dot (param $a i32) (param $b i32) (param $n i32) (result i32) (local $acc i32) (local $k i32)
    (loop $l
      (local.set $acc (i32.add (local.get $acc)
        (i32.mul (i32.load8_s (i32.add (local.get $a) (local.get $k)))
                 (i32.load8_s (i32.add (local.get $b) (local.get $k))))))
      (br_if $l (i32.lt_u (local.tee $k (i32.add (local.get $k) (i32.const 1))) (local.get $n))))
    (local.get $acc))
  (func (export "step") (local $i i32) (local $j i32)
    (memory.fill (i32.const 0) (i32.const 3) (i32.const 4096))
    (memory.fill (i32.const 4096) (i32.const 253) (i32.const 4096))
    (loop $rows
      (local.set $j (i32.const 0))
      (loop $cols
        (i32.store (i32.add (i32.const 8192) (i32.shl (i32.add (i32.shl (local.get $i) (i32.const 6)) (local.get $j)) (i32.const 2)))
          (call $dot (i32.shl (local.get $i) (i32.const 6)) (i32.add (i32.const 4096) (i32.shl (local.get $j) (i32.const 6))) (i32.const 64)))
        (br_if $cols (i32.lt_u (local.tee $j (i32.add (local.get $j) (i32.const 1))) (i32.const 64))))
      (br_if $rows (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1))) (i32.const 64))))))"#
    )
}

fn rate(label: &str, n: u64, start: Instant) {
    let s = start.elapsed().as_secs_f64();
    println!(
        "{label:<42} {n:>10} instructions in {s:>7.3} s = {:>12.0} instructions/s",
        n as f64 / s
    );
}

fn main() {
    let pages_log2: u32 = std::env::args()
        .nth(1)
        .map_or(0, |a| a.parse().expect("pages_log2"));
    let wasm = wat::parse_str(kernel(1 << pages_log2)).expect("wat");
    let program = Program::from_wasm(&wasm).expect("valid");
    println!(
        "memoryLog2 = {}, code = {} instructions",
        program.memory_log2(),
        program.code().len()
    );
    let start_state = Machine::new(&program, program.initial_memory());

    let mut m = start_state.clone();
    let t = Instant::now();
    let n = m.run_layer_step();
    rate("run_layer_step (no hashing)", n, t);
    let expected = m.hash();

    let mut m = start_state.clone();
    m.hash();
    let t = Instant::now();
    let mut count = 0;
    while count < n {
        m.step();
        m.hash();
        count += 1;
    }
    rate("step + machine hash after each", count, t);
    assert_eq!(m.hash(), expected);

    let mut m = start_state.clone();
    let t = Instant::now();
    let limit = n.min(300_000);
    for _ in 0..limit {
        std::hint::black_box(m.prove_step());
    }
    rate("prove_step each (first 300k)", limit, t);

    // Level 2: a 32-ary dissection of the whole layer step down to one instruction, answering
    // each round from checkpoints, then the one-step proof.
    let t = Instant::now();
    let mut trace = veritrace_machine::StepTrace::record(start_state.clone(), (n / 4).max(1));
    let recorded = t.elapsed().as_secs_f64();
    let (mut lo, mut hi) = (0u64, trace.len());
    let mut rounds = 0;
    while hi - lo > 1 {
        let points: Vec<u64> = (1..32)
            .map(|i| lo + (hi - lo) * i / 32)
            .filter(|&p| p > lo && p < hi)
            .collect();
        let hashes = trace.hashes_at(&points);
        assert_eq!(hashes.len(), points.len());
        // The disagreement is placed at instruction 2/3 of the step.
        let target = trace.len() * 2 / 3;
        let mut next = (lo, hi);
        for w in std::iter::once(lo)
            .chain(points.iter().copied())
            .chain(std::iter::once(hi))
            .collect::<Vec<_>>()
            .windows(2)
        {
            if w[0] <= target && target < w[1] {
                next = (w[0], w[1]);
            }
        }
        (lo, hi) = next;
        trace.keep(lo);
        trace.forget_outside(lo, hi);
        rounds += 1;
    }
    let proof = trace.prove_at(lo);
    println!(
        "level-2 dissection of {} instructions: {rounds} rounds + proof of instruction {hi} ({} bytes) in {:.3} s (recording {recorded:.3} s)",
        trace.len(),
        proof.len(),
        t.elapsed().as_secs_f64()
    );

    let mut m = start_state;
    let t = Instant::now();
    let root = program.root();
    for _ in 0..limit {
        let proof = m.prove_step();
        veritrace_machine::verify_step(root, program.memory_log2(), &proof).expect("valid");
    }
    rate("prove_step + verify_step each (first 300k)", limit, t);
}
