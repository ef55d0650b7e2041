//! Differential test against wasmtime: the same module's `step` run by wasmtime and by the
//! stepping interpreter must leave the same memory and globals, and trap on the same call.

mod common;

use proptest::prelude::*;
use veritrace_machine::{Machine, Program, verify_step};
use wasmtime::{Engine, Instance, Module, Store, Val};

/// Runs one layer step through `prove_step`, checking every proof with `verify_step`.
fn prove_layer_step(m: &mut Machine) -> u64 {
    let (root, log2) = (m.program().root(), m.program().memory_log2());
    let mut n = 0;
    loop {
        let pre = m.hash();
        let proof = m.prove_step();
        let post = m.hash();
        assert_eq!(
            verify_step(root, log2, &proof),
            Ok((pre, post)),
            "proof of step {n}"
        );
        n += 1;
        if m.is_halted() {
            return n;
        }
    }
}

/// Runs `steps` calls of `step` in both engines, comparing after each; returns the number of
/// interpreter instructions executed and whether the program trapped.
fn compare(name: &str, wasm: &[u8], steps: usize, prove: bool) -> (u64, bool) {
    let program = Program::from_wasm(wasm).unwrap_or_else(|e| panic!("{name}: refused: {e}"));
    let mut machine = Machine::new(&program, program.initial_memory());
    let engine = Engine::default();
    let module = Module::new(&engine, wasm).expect("wasmtime compiles");
    let mut store = Store::new(&engine, ());
    let instance = Instance::new(&mut store, &module, &[]).expect("instantiate");
    let step = instance
        .get_typed_func::<(), ()>(&mut store, "step")
        .expect("step");
    let memory = instance
        .get_memory(&mut store, "memory")
        .expect("exported memory");
    assert_eq!(
        memory.data(&store),
        machine.memory(),
        "{name}: initial memory"
    );
    let mut executed = 0;
    for call in 0..steps {
        let wasmtime_trapped = step.call(&mut store, ()).is_err();
        executed += if prove {
            prove_layer_step(&mut machine)
        } else {
            machine.run_layer_step()
        };
        assert_eq!(
            machine.is_trapped(),
            wasmtime_trapped,
            "{name}: trap outcome of call {call}"
        );
        if memory.data(&store) != machine.memory() {
            let at = (0..machine.memory().len())
                .find(|&i| memory.data(&store)[i] != machine.memory()[i]);
            let at = at.expect("some byte differs");
            let (w, m) = (
                &memory.data(&store)[at..at + 8],
                &machine.memory()[at..at + 8],
            );
            panic!(
                "{name}: memory after call {call} differs from byte {at}: wasmtime {w:02x?}, machine {m:02x?}"
            );
        }
        for (i, g) in machine.globals().iter().enumerate() {
            let Some(global) = instance.get_global(&mut store, &format!("g{i}")) else {
                panic!("{name}: test programs export global {i} as g{i}");
            };
            let expected = match global.get(&mut store) {
                Val::I32(v) => u64::from(v as u32),
                Val::I64(v) => v as u64,
                v => panic!("{name}: global {i} is {v:?}"),
            };
            assert_eq!(*g, expected, "{name}: global {i} after call {call}");
        }
        if wasmtime_trapped {
            return (executed, true);
        }
        assert!(
            machine.at_step_end(),
            "{name}: not at a step's end after call {call}"
        );
        machine.start_next_step();
    }
    (executed, false)
}

#[test]
fn test_programs_agree_with_wasmtime() {
    let mut total = 0;
    let mut traps = 0;
    for (name, wat, steps) in common::programs() {
        let wasm = common::wasm(&wat);
        let (executed, trapped) = compare(name, &wasm, steps, false);
        assert_eq!(
            trapped,
            name.starts_with("trap"),
            "{name}: trap expectation"
        );
        total += executed;
        traps += usize::from(trapped);
    }
    eprintln!(
        "wasmtime agreement: {total} interpreter instructions over the test programs ({traps} trap programs)"
    );
    assert!(total > 50_000);
}

/// One random integer expression of type `ty` (`"i32"` or `"i64"`), as WAT.
fn expr(ty: &'static str, depth: u32) -> BoxedStrategy<String> {
    let edges: Vec<i64> = vec![
        0,
        1,
        -1,
        2,
        7,
        31,
        32,
        33,
        63,
        64,
        65,
        0x7f,
        0x80,
        0xff,
        0x7fff,
        0x8000,
        i64::from(i32::MAX),
        i64::from(i32::MIN),
        i64::MAX,
        i64::MIN,
        0x1234_5678_9abc_def0,
    ];
    let constant = prop_oneof![proptest::sample::select(edges), any::<i64>(),].prop_map(move |v| {
        if ty == "i32" {
            format!("(i32.const {})", v as i32)
        } else {
            format!("(i64.const {v})")
        }
    });
    let load_ops: &'static [&'static str] = if ty == "i32" {
        &[
            "i32.load",
            "i32.load8_s",
            "i32.load8_u",
            "i32.load16_s",
            "i32.load16_u",
        ]
    } else {
        &[
            "i64.load",
            "i64.load8_s",
            "i64.load8_u",
            "i64.load16_s",
            "i64.load16_u",
            "i64.load32_s",
            "i64.load32_u",
        ]
    };
    let load = (proptest::sample::select(load_ops), 0u32..4200, 0u32..64)
        .prop_map(|(op, addr, offset)| format!("({op} offset={offset} (i32.const {addr}))"));
    let local = (0..3u32)
        .prop_map(move |i| format!("(local.get ${}{i})", if ty == "i32" { "v" } else { "w" }));
    let leaf = prop_oneof![4 => constant, 1 => load, 1 => local].boxed();
    if depth == 0 {
        return leaf;
    }
    let bin: &'static [&'static str] = &[
        "add", "sub", "mul", "div_s", "div_u", "rem_s", "rem_u", "and", "or", "xor", "shl",
        "shr_s", "shr_u", "rotl", "rotr",
    ];
    let cmp: &'static [&'static str] = &[
        "eq", "ne", "lt_s", "lt_u", "gt_s", "gt_u", "le_s", "le_u", "ge_s", "ge_u",
    ];
    let un: &'static [&'static str] = if ty == "i32" {
        &["clz", "ctz", "popcnt", "extend8_s", "extend16_s"]
    } else {
        &[
            "clz",
            "ctz",
            "popcnt",
            "extend8_s",
            "extend16_s",
            "extend32_s",
        ]
    };
    // Divisors are mostly made odd so that most programs run to the end.
    let binary = (
        proptest::sample::select(bin),
        expr(ty, depth - 1),
        expr(ty, depth - 1),
        0..5,
    )
        .prop_map(move |(op, a, b, odd)| {
            if (op.starts_with("div") || op.starts_with("rem")) && odd > 0 {
                format!("({ty}.{op} {a} ({ty}.or {b} ({ty}.const 1)))")
            } else {
                format!("({ty}.{op} {a} {b})")
            }
        });
    let unary = (proptest::sample::select(un), expr(ty, depth - 1))
        .prop_map(move |(op, a)| format!("({ty}.{op} {a})"));
    let other = if ty == "i32" { "i64" } else { "i32" };
    let (conv, eqz_ty) = if ty == "i32" {
        (
            prop_oneof![
                (
                    proptest::sample::select(cmp),
                    expr("i64", depth - 1),
                    expr("i64", depth - 1)
                )
                    .prop_map(|(op, a, b)| format!("(i64.{op} {a} {b})")),
                expr("i64", depth - 1).prop_map(|a| format!("(i32.wrap_i64 {a})")),
                expr("i64", depth - 1).prop_map(|a| format!("(i64.eqz {a})")),
            ]
            .boxed(),
            "i32",
        )
    } else {
        (
            prop_oneof![
                expr("i32", depth - 1).prop_map(|a| format!("(i64.extend_i32_s {a})")),
                expr("i32", depth - 1).prop_map(|a| format!("(i64.extend_i32_u {a})")),
            ]
            .boxed(),
            other,
        )
    };
    let _ = eqz_ty;
    let select = (expr(ty, depth - 1), expr(ty, depth - 1), expr("i32", 0))
        .prop_map(|(a, b, c)| format!("(select {a} {b} {c})"));
    prop_oneof![2 => leaf, 4 => binary, 2 => unary, 1 => conv, 1 => select].boxed()
}

/// One store of a random expression to a random (possibly unaligned, rarely out of bounds)
/// address.
fn statement() -> impl Strategy<Value = String> {
    let store32 = (
        proptest::sample::select(&["i32.store", "i32.store8", "i32.store16"][..]),
        expr("i32", 3),
    )
        .prop_map(|(op, e)| (op, e));
    let store64 = (
        proptest::sample::select(&["i64.store", "i64.store8", "i64.store16", "i64.store32"][..]),
        expr("i64", 3),
    );
    let address = prop_oneof![80 => 0u32..4200, 1 => 65500u32..65540];
    (prop_oneof![store32, store64], address)
        .prop_map(|((op, e), addr)| format!("    ({op} (i32.const {addr}) {e})"))
}

/// Random straight-line programs (random integer expressions over edge and random constants and
/// loads, stored at random unaligned addresses), each run for two calls in both engines.
#[test]
fn random_straight_line_programs_agree_with_wasmtime() {
    let mut runner = proptest::test_runner::TestRunner::new(fuzz_config());
    let stats = std::cell::Cell::new((0u64, 0u64, 0u64));
    runner
        .run(&proptest::collection::vec(statement(), 1..24), |body| {
            let wat = format!(
                "(module (memory (export \"memory\") 1 1)\n  (data (i32.const 0) \"\\01\\ff\\80\\7f\\00\\10\\fe\\23\\45\\67\\89\\ab\\cd\\ef\")\n  (func (export \"step\") {LOCALS}\n{}))",
                body.join("\n")
            );
            let (executed, trapped) = compare("random", &common::wasm(&wat), 2, true);
            let (n, programs, traps) = stats.get();
            stats.set((n + executed, programs + 1, traps + u64::from(trapped)));
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
    let (n, programs, traps) = stats.get();
    eprintln!(
        "random programs: {programs} programs ({traps} trapped), {n} interpreter instructions agreed with wasmtime, each proven and checked"
    );
    assert!(programs >= fuzz_cases().into() && traps > 0 && traps < programs);
}

/// Number of random programs per fuzz test (`VERITRACE_FUZZ_CASES`, default 300).
fn fuzz_cases() -> u32 {
    std::env::var("VERITRACE_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300)
}

/// The fuzz tests' proptest configuration (no failure files: the runner is used directly).
fn fuzz_config() -> ProptestConfig {
    ProptestConfig {
        cases: fuzz_cases(),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// The locals every random `step` declares (expressions read them).
const LOCALS: &str = "(local $v0 i32) (local $v1 i32) (local $v2 i32) (local $w0 i64) (local $w1 i64) (local $w2 i64) (local $i0 i32) (local $i1 i32) (local $i2 i32)";

/// Helpers the random programs call: a br_table with an early return, and a recursion.
const HELPERS: &str = r#"
  (func $h (param $p i32) (param $q i64) (result i64) (local $t i64)
    (local.set $t (i64.add (local.get $q) (i64.extend_i32_u (local.get $p))))
    (block $d (block $c (block $b (block $a
      (br_table $a $b $c $d (i32.and (local.get $p) (i32.const 7))))
      (return (i64.mul (local.get $t) (i64.const 3))))
      (local.set $t (i64.rotl (local.get $t) (i64.const 13))))
      (br $d))
    (i64.xor (local.get $t) (i64.const 0x5555)))
  (func $r (param $n i32) (result i32)
    (if (result i32) (i32.eqz (local.get $n))
      (then (i32.const 1))
      (else (i32.add (i32.mul (local.get $n) (i32.const 3)) (call $r (i32.sub (local.get $n) (i32.const 1)))))))"#;

/// A random statement with nested control flow up to `depth` levels (labels and loop counters
/// are named by depth, so nesting never shadows and loops stay bounded).
fn structured(depth: u32) -> BoxedStrategy<String> {
    let set32 = ((0..3u32), expr("i32", 2)).prop_map(|(i, e)| format!("(local.set $v{i} {e})"));
    let set64 = ((0..3u32), expr("i64", 2)).prop_map(|(i, e)| format!("(local.set $w{i} {e})"));
    let call_h = (expr("i32", 1), expr("i64", 1))
        .prop_map(|(a, b)| format!("(local.set $w0 (call $h {a} {b}))"));
    let call_r = expr("i32", 1)
        .prop_map(|a| format!("(local.set $v1 (call $r (i32.and {a} (i32.const 15))))"));
    let leaf =
        prop_oneof![3 => statement(), 2 => set32, 2 => set64, 1 => call_h, 1 => call_r].boxed();
    if depth == 0 {
        return leaf;
    }
    let d = depth;
    let inner =
        || proptest::collection::vec(structured(depth - 1), 1..4).prop_map(|v| v.join("\n"));
    let cond = || expr("i32", 1);
    let if_else =
        (cond(), inner(), inner()).prop_map(|(c, a, b)| format!("(if {c} (then {a}) (else {b}))"));
    let looped = (inner(), 1..5u32).prop_map(move |(b, k)| {
        format!(
            "(local.set $i{d} (i32.const 0)) (loop $l{d} {b} (br_if $l{d} (i32.lt_u (local.tee $i{d} (i32.add (local.get $i{d}) (i32.const 1))) (i32.const {k}))))"
        )
    });
    let block_br_if = (inner(), cond(), inner())
        .prop_map(move |(a, c, b)| format!("(block $b{d} {a} (br_if $b{d} {c}) {b})"));
    let table = (inner(), inner(), expr("i32", 1)).prop_map(move |(a, b, i)| {
        format!("(block $ta{d} (block $tb{d} (block $tc{d} (br_table $ta{d} $tb{d} $tc{d} $tb{d} {i})) {a}) {b})")
    });
    let value_block = (inner(), expr("i32", 1), cond(), expr("i32", 1)).prop_map(move |(a, e1, c, e2)| {
        format!("(local.set $v2 (i32.add (i32.const 1) (block $vb{d} (result i32) {a} (br_if $vb{d} {e1} {c}) (drop) {e2})))")
    });
    let early_return = cond().prop_map(|c| format!("(if {c} (then (return)))"));
    prop_oneof![4 => leaf, 2 => if_else, 2 => looped, 2 => block_br_if, 1 => table, 1 => value_block, 1 => early_return]
        .boxed()
}

/// Random programs with nested ifs, bounded loops, br_if, br_table, value-carrying blocks,
/// calls and early returns, each run for two calls in both engines with every step proven.
#[test]
fn random_structured_programs_agree_with_wasmtime() {
    let mut runner = proptest::test_runner::TestRunner::new(fuzz_config());
    let stats = std::cell::Cell::new((0u64, 0u64, 0u64));
    runner
        .run(&proptest::collection::vec(structured(2), 1..8), |body| {
            let wat = format!(
                "(module (memory (export \"memory\") 1 1){HELPERS}\n  (func (export \"step\") {LOCALS}\n{}))",
                body.join("\n")
            );
            let (executed, trapped) = compare("structured", &common::wasm(&wat), 2, true);
            let (n, programs, traps) = stats.get();
            stats.set((n + executed, programs + 1, traps + u64::from(trapped)));
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
    let (n, programs, traps) = stats.get();
    eprintln!(
        "structured programs: {programs} programs ({traps} trapped), {n} interpreter instructions agreed with wasmtime, each proven and checked"
    );
    assert!(programs >= fuzz_cases().into() && n > 10 * programs);
}
