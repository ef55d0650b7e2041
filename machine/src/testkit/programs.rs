//! The test programs shared by the machine's differential, proof and vector tests and by the
//! e2e one-step-prover fuzzer and gas table: WAT sources, each a module with one page of memory
//! (memoryLog2 = 16) and an exported `step`. Every program keeps a call counter at address 0 so
//! that successive steps differ.

use std::fmt::Write;

use crate::Program;

/// Counter prologue: `$c` = memory[0], memory[0] = $c + 1.
pub const COUNTER: &str = "(local.set $c (i32.load (i32.const 0)))
    (i32.store (i32.const 0) (i32.add (local.get $c) (i32.const 1)))";

/// Compiles WAT text to wasm bytes.
pub fn wasm(wat: &str) -> Vec<u8> {
    wat::parse_str(wat).unwrap_or_else(|e| panic!("bad test program: {e}"))
}

/// Validates and flattens a WAT program.
pub fn program(wat: &str) -> Program {
    Program::from_wasm(&wasm(wat)).unwrap_or_else(|e| panic!("refused: {e}"))
}

/// All test programs: (name, WAT, number of steps to run).
pub fn programs() -> Vec<(&'static str, String, usize)> {
    vec![
        ("arith", arith(), 3),
        ("loops", LOOPS.to_string(), 4),
        ("br_table", BR_TABLE.to_string(), 6),
        ("calls", CALLS.to_string(), 3),
        ("memory", MEMORY.to_string(), 4),
        ("bulk", BULK.to_string(), 3),
        (
            "trap_div",
            trap("(drop (i32.div_u (i32.const 100) (i32.sub (i32.const 2) (local.get $c))))"),
            4,
        ),
        (
            "trap_div_s",
            trap(
                "(drop (i64.div_s (i64.const 0x8000000000000000) (i64.extend_i32_s (i32.sub (local.get $c) (i32.const 2)))))",
            ),
            3,
        ),
        (
            "trap_rem",
            trap("(drop (i32.rem_s (i32.const 7) (i32.sub (local.get $c) (i32.const 1))))"),
            3,
        ),
        (
            "trap_store",
            trap(
                "(i32.store (i32.add (i32.const 65530) (i32.mul (local.get $c) (i32.const 2))) (i32.const -1))",
            ),
            3,
        ),
        (
            "trap_load",
            trap("(drop (i64.load offset=65527 (local.get $c)))"),
            3,
        ),
        (
            "trap_unreachable",
            trap("(if (i32.eq (local.get $c) (i32.const 1)) (then (unreachable)))"),
            3,
        ),
        (
            "trap_copy",
            trap(
                "(memory.copy (i32.const 65000) (i32.const 4) (i32.add (i32.const 500) (i32.mul (local.get $c) (i32.const 40))))",
            ),
            3,
        ),
        (
            "trap_fill",
            trap(
                "(memory.fill (i32.add (i32.const 65500) (local.get $c)) (i32.const 7) (i32.const 36))",
            ),
            3,
        ),
    ]
}

fn trap(body: &str) -> String {
    format!(
        r#"(module (memory (export "memory") 1 1)
  (func (export "step") (local $c i32)
    {COUNTER}
    (i32.store (i32.const 8) (i32.add (local.get $c) (i32.const 100)))
    {body}
    (i32.store (i32.const 12) (local.get $c))))"#
    )
}

const EDGE32: [i32; 8] = [0, 1, -1, i32::MIN, i32::MAX, 31, 33, -5];
const EDGE64: [i64; 8] = [0, 1, -1, i64::MIN, i64::MAX, 63, 65, -0x1234_5678_9ABC];

const COMPARE: [&str; 10] = [
    "eq", "ne", "lt_s", "lt_u", "gt_s", "gt_u", "le_s", "le_u", "ge_s", "ge_u",
];

/// Every integer operator on edge operands (shifted by the call counter).
fn arith() -> String {
    let bin32 = [
        "eq", "ne", "lt_s", "lt_u", "gt_s", "gt_u", "le_s", "le_u", "ge_s", "ge_u", "add", "sub",
        "mul", "div_s", "div_u", "rem_s", "rem_u", "and", "or", "xor", "shl", "shr_s", "shr_u",
        "rotl", "rotr",
    ];
    let un32 = ["eqz", "clz", "ctz", "popcnt", "extend8_s", "extend16_s"];
    let un64 = [
        "eqz",
        "clz",
        "ctz",
        "popcnt",
        "extend8_s",
        "extend16_s",
        "extend32_s",
    ];
    let mut body = String::new();
    let mut slot = 64u32;
    let mut next = || {
        slot += 8;
        slot
    };
    for (t, edges) in [("i32", EDGE32.map(i64::from)), ("i64", EDGE64)] {
        let store = if t == "i32" { "i32.store" } else { "i64.store" };
        let ext = if t == "i32" {
            ""
        } else {
            "(i64.extend_i32_s (local.get $c))"
        };
        let var = |v: i64| {
            if t == "i32" {
                format!("(i32.add (i32.const {v}) (local.get $c))")
            } else {
                format!("(i64.add (i64.const {v}) {ext})")
            }
        };
        for &a in &edges {
            for &b in &edges {
                for op in bin32 {
                    let div = op.starts_with("div") || op.starts_with("rem");
                    if div && (b == 0 || (op == "div_s" && b == -1)) {
                        continue;
                    }
                    let st = if COMPARE.contains(&op) {
                        "i32.store"
                    } else {
                        store
                    };
                    let n = next();
                    let _ = writeln!(
                        body,
                        "    ({st} (i32.const {n}) ({t}.{op} {} ({t}.const {b})))",
                        var(a)
                    );
                }
            }
            for op in if t == "i32" { &un32[..] } else { &un64[..] } {
                let st = if *op == "eqz" { "i32.store" } else { store };
                let _ = writeln!(
                    body,
                    "    ({st} (i32.const {}) ({t}.{op} {}))",
                    next(),
                    var(a)
                );
            }
        }
    }
    let _ = writeln!(
        body,
        "    (i32.store (i32.const {}) (i32.wrap_i64 (i64.const 0x123456789abcdef0)))",
        next()
    );
    let _ = writeln!(
        body,
        "    (i64.store (i32.const {}) (i64.extend_i32_s (i32.sub (i32.const 0) (local.get $c))))",
        next()
    );
    let _ = writeln!(
        body,
        "    (i64.store (i32.const {}) (i64.extend_i32_u (i32.sub (i32.const 0) (local.get $c))))",
        next()
    );
    format!(
        r#"(module (memory (export "memory") 1 1)
  (func (export "step") (local $c i32)
    {COUNTER}
{body}  ))"#
    )
}

const LOOPS: &str = r#"(module (memory (export "memory") 1 1)
  (func $sum (param $n i32) (result i32) (local $i i32) (local $acc i32)
    (block $done
      (loop $top
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $acc (i32.add (local.get $acc) (i32.mul (local.get $i) (local.get $i))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $top)))
    (local.get $acc))
  (func $blockval (param $x i32) (result i32)
    (i32.add (i32.const 100)
      (block $b (result i32)
        (drop (br_if $b (i32.const 7) (i32.eqz (i32.and (local.get $x) (i32.const 1)))))
        (if (result i32) (i32.gt_u (local.get $x) (i32.const 2))
          (then (i32.const 11))
          (else (br $b (i32.const 13)))))))
  (func (export "step") (local $c i32) (local $k i32)
    (local.set $c (i32.load (i32.const 0)))
    (i32.store (i32.const 0) (i32.add (local.get $c) (i32.const 1)))
    (i32.store (i32.const 4) (call $sum (i32.add (local.get $c) (i32.const 5))))
    (i32.store (i32.const 8) (call $blockval (local.get $c)))
    (i32.store (i32.const 12)
      (i32.add (i32.const 1000)
        (block $out (result i32)
          (loop $l
            (i32.const 5)
            (br_if $out (i32.const 42) (i32.gt_u (local.get $c) (i32.const 1)))
            (drop) (drop)
            (i32.const 9)
            (br $out)
            (i32.const 1)
            (drop))
          (i32.const 0))))
    (if (i32.and (local.get $c) (i32.const 1))
      (then (i32.store (i32.const 16) (local.get $c))))
    (block $b
      (loop $l
        (local.set $k (i32.add (local.get $k) (i32.const 3)))
        (br_if $l (i32.lt_u (local.get $k) (i32.add (i32.const 20) (local.get $c))))
        (br $b)
        (unreachable)))
    (i32.store (i32.const 20) (local.get $k))
    (i32.store (i32.const 24)
      (select (i32.const 111) (i32.const 222) (i32.and (local.get $c) (i32.const 2))))
    (i64.store (i32.const 32)
      (select (result i64) (i64.const -1) (i64.const 3) (i32.and (local.get $c) (i32.const 1))))
    (if (i32.eqz (local.get $c))
      (then (return)))
    (i32.store (i32.const 40) (i32.const 77)))
)"#;

const BR_TABLE: &str = r#"(module (memory (export "memory") 1 1)
  (func $switch (param $i i32) (result i32) (local $r i32)
    (block $done
      (block $c
        (block $b
          (block $a
            (br_table $a $b $c $done (local.get $i)))
          (local.set $r (i32.const 10))
          (br $done))
        (local.set $r (i32.const 20))
        (br $done))
      (local.set $r (i32.const 30)))
    (local.get $r))
  (func $switch_val (param $i i32) (result i32)
    i32.const 1000
    block $x (result i32)
      block $y (result i32)
        i32.const 5
        i32.const 7
        local.get $i
        i32.const 3
        i32.mul
        local.get $i
        br_table $x $y $x
      end
      i32.const 1
      i32.add
    end
    i32.add)
  (func $ret_table (param $i i32) (result i32)
    (i32.const 4)
    (local.get $i)
    (br_table 0 0 (local.get $i)))
  (func (export "step") (local $c i32)
    (local.set $c (i32.load (i32.const 0)))
    (i32.store (i32.const 0) (i32.add (local.get $c) (i32.const 1)))
    (i32.store (i32.const 4) (call $switch (local.get $c)))
    (i32.store (i32.const 8) (call $switch_val (local.get $c)))
    (i32.store (i32.const 12) (call $ret_table (local.get $c)))
    (i32.store (i32.const 16) (call $switch (i32.const -1))))
)"#;

const CALLS: &str = r#"(module (memory (export "memory") 1 1)
  (global $__stack_pointer (export "g0") (mut i32) (i32.const 4096))
  (global $k (export "g1") i32 (i32.const 17))
  (global $k64 (export "g2") i64 (i64.const -2))
  (func $fact (param $n i64) (result i64)
    (if (result i64) (i64.le_u (local.get $n) (i64.const 1))
      (then (i64.const 1))
      (else (i64.mul (local.get $n) (call $fact (i64.sub (local.get $n) (i64.const 1)))))))
  (func $fib (param $n i32) (result i32)
    (if (i32.lt_u (local.get $n) (i32.const 2)) (then (return (local.get $n))))
    (i32.add (call $fib (i32.sub (local.get $n) (i32.const 1)))
             (call $fib (i32.sub (local.get $n) (i32.const 2)))))
  (func $many (param i32 i32 i32) (result i32) (local i64 i64 i64 i32 i32 i32 i32 i32 i32)
    (local.set 3 (i64.extend_i32_u (local.get 0)))
    (local.set 11 (i32.wrap_i64 (i64.add (local.get 3) (i64.const 0x100000005))))
    (local.set 9 (i32.add (local.tee 8 (local.get 1)) (local.get 2)))
    (i32.const 1)
    (i32.const 2)
    (if (i32.and (local.get 0) (i32.const 1))
      (then (return (i32.add (local.get 9) (local.get 11)))))
    (drop) (drop)
    (i32.mul (local.get 9) (local.get 11)))
  (func $frame (param $x i32) (local $sp i32)
    (global.set $__stack_pointer
      (local.tee $sp (i32.sub (global.get $__stack_pointer) (i32.const 32))))
    (i64.store offset=8 (local.get $sp) (i64.extend_i32_u (local.get $x)))
    (i32.store (i32.const 100) (i32.load offset=8 (local.get $sp)))
    (i32.store (i32.const 104) (global.get $__stack_pointer))
    (global.set $__stack_pointer (i32.add (local.get $sp) (i32.const 32))))
  (func $noop)
  (func $five (param i32 i32 i32 i32 i32) (result i64)
    (i64.extend_i32_u (i32.sub (local.get 0) (local.get 4))))
  (func (export "step") (local $c i32)
    (local.set $c (i32.load (i32.const 0)))
    (i32.store (i32.const 0) (i32.add (local.get $c) (i32.const 1)))
    (i64.store (i32.const 200) (call $fact (i64.extend_i32_u (i32.add (local.get $c) (i32.const 15)))))
    (i32.store (i32.const 208) (call $fib (i32.add (local.get $c) (i32.const 9))))
    (i32.store (i32.const 212) (call $many (local.get $c) (i32.const 2) (i32.const 3)))
    (call $frame (local.get $c))
    (call $noop)
    (i64.store (i32.const 216) (call $five (i32.const 1) (i32.const 2) (i32.const 3) (i32.const 4) (local.get $c)))
    (i32.store (i32.const 224) (global.get $k))
    (i64.store (i32.const 232) (global.get $k64)))
)"#;

const MEMORY: &str = r#"(module (memory (export "memory") 1 1)
  (data (i32.const 300) "\01\02\03\04\05\06\07\08\f0\f1\f2\f3\f4\f5\f6\f7\80\81\82\83\84\85\86\87")
  (func (export "step") (local $c i32) (local $a i32)
    (local.set $c (i32.load (i32.const 0)))
    (i32.store (i32.const 0) (i32.add (local.get $c) (i32.const 1)))
    (local.set $a (i32.add (i32.const 28) (local.get $c)))
    (i64.store (local.get $a) (i64.mul (i64.const 0x0102030405060708) (i64.extend_i32_u (i32.add (local.get $c) (i32.const 1)))))
    (i32.store offset=33 (local.get $c) (i32.const 0xdeadbeef))
    (i32.store16 (i32.const 63) (i32.const 0x8899))
    (i64.store32 (i32.const 95) (i64.const -3))
    (i64.store16 (i32.const 127) (i64.const 0xffff))
    (i64.store8 (i32.const 131) (i64.const 0x1ff))
    (i32.store8 (i32.const 132) (i32.const -1))
    (i32.store (i32.const 1024) (i32.load8_s (i32.add (i32.const 308) (local.get $c))))
    (i32.store (i32.const 1028) (i32.load8_u (i32.add (i32.const 308) (local.get $c))))
    (i32.store (i32.const 1032) (i32.load16_s offset=1 (i32.const 318)))
    (i32.store (i32.const 1036) (i32.load16_u (i32.const 319)))
    (i64.store (i32.const 1040) (i64.load8_s (i32.const 316)))
    (i64.store (i32.const 1048) (i64.load16_s (i32.const 317)))
    (i64.store (i32.const 1056) (i64.load32_s (i32.add (i32.const 313) (local.get $c))))
    (i64.store (i32.const 1064) (i64.load32_u (i32.add (i32.const 313) (local.get $c))))
    (i64.store (i32.const 1072) (i64.load (local.get $a)))
    (i64.store (i32.const 1080) (i64.load16_u (i32.const 63)))
    (i64.store (i32.const 1088) (i64.load8_u (i32.const 131)))
    (i32.store (i32.const 1096) (i32.load (i32.const 31)))
    (i64.store (i32.const 65528) (i64.const 0x1122334455667788))
    (i64.store (i32.const 1104) (i64.load (i32.const 65528)))
    (i64.store (i32.const 1112) (i64.load offset=65520 (i32.const 8)))
    (i32.store (i32.const 158) (i32.add (i32.const 0x11223344) (local.get $c)))
    (i64.store (i32.const 1136) (i64.load32_s (i32.const 158)))
    (i32.store (i32.const 1144) (i32.load16_s (i32.const 159)))
    (i64.store (i32.const 1152) (i64.load16_s (i32.const 159)))
    (i32.store (i32.const 1160) (i32.load16_u (i32.const 191)))
    (i32.store (i32.const 1120) (memory.size))
    (i32.store (i32.const 1124) (memory.grow (i32.const 1)))
    (i32.store (i32.const 1128) (memory.grow (i32.const 0))))
)"#;

const BULK: &str = r#"(module (memory (export "memory") 1 1)
  (func (export "step") (local $c i32) (local $i i32)
    (local.set $c (i32.load (i32.const 0)))
    (i32.store (i32.const 0) (i32.add (local.get $c) (i32.const 1)))
    (memory.fill (i32.add (i32.const 256) (local.get $c)) (i32.add (i32.const 0x1ab) (local.get $c)) (i32.const 100))
    (loop $l
      (i32.store8 (i32.add (i32.const 1024) (local.get $i)) (i32.mul (local.get $i) (i32.const 7)))
      (i32.store8 (i32.add (i32.const 2048) (local.get $i)) (i32.add (local.get $i) (local.get $c)))
      (br_if $l (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1))) (i32.const 200))))
    (memory.copy (i32.const 1034) (i32.const 1024) (i32.const 150))
    (memory.copy (i32.const 2048) (i32.add (i32.const 2055) (local.get $c)) (i32.const 120))
    (memory.copy (i32.const 4099) (i32.const 1029) (i32.const 77))
    (memory.copy (i32.const 65536) (i32.const 0) (i32.const 0))
    (memory.fill (i32.const 65536) (i32.const 1) (i32.const 0))
    (memory.copy (i32.const 3000) (i32.const 3000) (i32.const 50))
    (memory.copy (i32.add (i32.const 5001) (local.get $c)) (i32.const 5000) (i32.const 64))
    (memory.copy (i32.const 6000) (i32.add (i32.const 6001) (local.get $c)) (i32.const 3))
    (memory.fill (i32.const 65500) (i32.const 0xee) (i32.const 36)))
)"#;
