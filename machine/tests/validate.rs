//! The validator refuses everything outside the subset, naming the offending item; the
//! flattener produces the documented flat code.

mod common;

use veritrace_machine::opcode::{self as op, BranchImm, CallImm, Instruction};
use veritrace_machine::{Program, ValidationError};

fn refuse(wat: &str) -> ValidationError {
    Program::from_wasm(&common::wasm(wat)).expect_err("must be refused")
}

const MEM: &str = r#"(memory 1 1)"#;

/// Whether an error is the expected one.
type Check = fn(&ValidationError) -> bool;

#[test]
fn refuses_module_level_items() {
    let cases: Vec<(String, Check)> = vec![
        (
            format!(r#"(module (import "env" "f" (func)) {MEM} (func (export "step")))"#),
            |e| matches!(e, ValidationError::Import { module, name } if module == "env" && name == "f"),
        ),
        (
            format!(r#"(module {MEM} (table 1 funcref) (func (export "step")))"#),
            |e| {
                matches!(
                    e,
                    ValidationError::Section {
                        section: "table",
                        ..
                    }
                )
            },
        ),
        (
            format!(r#"(module {MEM} (func $s (export "step")) (start $s))"#),
            |e| {
                matches!(
                    e,
                    ValidationError::Section {
                        section: "start",
                        ..
                    }
                )
            },
        ),
        (r#"(module (func (export "step")))"#.into(), |e| {
            matches!(e, ValidationError::Memory(_))
        }),
        (
            r#"(module (memory 1 2) (func (export "step")))"#.into(),
            |e| matches!(e, ValidationError::Memory(_)),
        ),
        (
            r#"(module (memory 1) (func (export "step")))"#.into(),
            |e| matches!(e, ValidationError::Memory(_)),
        ),
        (
            r#"(module (memory 3 3) (func (export "step")))"#.into(),
            |e| matches!(e, ValidationError::Memory(_)),
        ),
        (format!(r#"(module {MEM} (func))"#), |e| {
            matches!(e, ValidationError::Step(_))
        }),
        (
            format!(r#"(module {MEM} (func (export "step") (param i32)))"#),
            |e| matches!(e, ValidationError::Step(_)),
        ),
        (
            format!(r#"(module {MEM} (global $x (mut i32) (i32.const 0)) (func (export "step")))"#),
            |e| matches!(e, ValidationError::Global { index: 0, .. }),
        ),
        (
            format!(
                r#"(module {MEM} (global (mut i32) (i32.const 0)) (global (mut i64) (i64.const 0)) (func (export "step")))"#
            ),
            |e| matches!(e, ValidationError::Global { index: 1, .. }),
        ),
        (
            format!(r#"(module {MEM} (global f32 (f32.const 0)) (func (export "step")))"#),
            |e| matches!(e, ValidationError::Global { index: 0, .. }),
        ),
        (
            format!(r#"(module {MEM} (func (export "step")) (func (param f64)))"#),
            |e| matches!(e, ValidationError::Signature { function: 1, .. }),
        ),
        (
            format!(
                r#"(module {MEM} (func (export "step")) (func (result i32 i32) (i32.const 0) (i32.const 0)))"#
            ),
            |e| matches!(e, ValidationError::Signature { function: 1, .. }),
        ),
        (
            format!(r#"(module {MEM} (func (export "step") (local f32)))"#),
            |e| matches!(e, ValidationError::Locals { function: 0, .. }),
        ),
        (
            format!(r#"(module {MEM} (data "x") (func (export "step")))"#),
            |e| matches!(e, ValidationError::Data { index: 0, .. }),
        ),
        (
            format!(r#"(module {MEM} (data (i32.const 65535) "xy") (func (export "step")))"#),
            |e| matches!(e, ValidationError::Data { index: 0, .. }),
        ),
        (
            r#"(module (memory 1 1) (func (export "step") (i32.add)))"#.into(),
            |e| matches!(e, ValidationError::Malformed { .. }),
        ),
    ];
    for (wat, check) in cases {
        let e = refuse(&wat);
        assert!(check(&e), "{wat}: wrong error {e:?}");
        assert!(!e.to_string().is_empty());
    }
}

#[test]
fn refuses_instructions_outside_the_subset_with_function_and_offset() {
    let bodies = [
        "(drop (f32.const 1))",
        "(drop (f64.add (f64.const 1) (f64.const 2)))",
        "(drop (i32.trunc_f32_s (f32.const 1)))",
        "(drop (i32.trunc_sat_f64_u (f64.const 1)))",
        "(drop (v128.const i64x2 0 0))",
        "(drop (i32.atomic.load (i32.const 0)))",
        "(drop (ref.null func))",
        "(block (result i32 i32) (i32.const 1) (i32.const 2)) (drop) (drop)",
        "(unreachable) (drop (f32.const 1))",
    ];
    for body in bodies {
        let wat =
            format!(r#"(module (memory 1 1 shared) (func (export "step")) (func $two {body}))"#,);
        let wat = if body.contains("atomic") {
            wat
        } else {
            wat.replace(" shared", "")
        };
        let e = refuse(&wat);
        if body.contains("atomic") {
            assert!(matches!(e, ValidationError::Memory(_)), "{body}: {e:?}");
            continue;
        }
        match e {
            ValidationError::Instruction {
                function: 1,
                offset,
                ..
            } => assert!(offset > 0),
            e => panic!("{body}: wrong error {e:?}"),
        }
    }
}

#[test]
fn flat_code_of_a_small_function() {
    let wat = r#"(module (memory 1 1)
      (func (export "step")
        (drop (call $f (i32.const 3))))
      (func $f (param $x i32) (result i32) (local $y i64)
        block $b (result i32)
          i32.const 5
          i32.const 1
          local.get $x
          br_if $b
          drop
          drop
          local.get $x
          if (result i32)
            i32.const 2
          else
            i32.const 3
          end
        end)
    )"#;
    let p = common::program(wat);
    let f = 6;
    assert_eq!(p.function_pcs(), [2, f]);
    let br = |target, keep, drop| BranchImm { target, keep, drop }.pack();
    let ins = Instruction::new;
    let expected = vec![
        ins(
            op::CALL,
            CallImm {
                target: 2,
                params: 0,
                depth: 0,
            }
            .pack(),
        ),
        ins(op::STEP_END, 0),
        // step
        ins(op::I32_CONST, 3),
        ins(
            op::CALL,
            CallImm {
                target: f,
                params: 1,
                depth: 1,
            }
            .pack(),
        ),
        ins(op::DROP, 0),
        ins(op::RETURN, br(0, 0, 0)),
        // $f: the br_if keeps the 1 and drops the 5 below it
        ins(op::I32_CONST, 5),
        ins(op::I32_CONST, 1),
        ins(op::LOCAL_GET, 0),
        ins(op::BRANCH_IF, br(f + 11, 1, 1)),
        ins(op::DROP, 0),
        ins(op::DROP, 0),
        ins(op::LOCAL_GET, 0),
        ins(op::JUMP_IF_ZERO, u64::from(f + 10)),
        ins(op::I32_CONST, 2),
        ins(op::JUMP, u64::from(f + 11)),
        ins(op::I32_CONST, 3),
        ins(op::RETURN, br(0, 1, 0)),
    ];
    assert_eq!(p.code(), expected);
    assert_eq!(p.code_depth(), 5);
}

#[test]
fn memory_size_and_grow_are_constants() {
    let p = common::program(
        r#"(module (memory 2 2) (func (export "step") (drop (memory.grow (memory.size)))))"#,
    );
    let code: Vec<u16> = p.code().iter().map(|i| i.opcode).collect();
    assert_eq!(
        code[2..],
        [
            op::I32_CONST,
            op::I32_EQZ,
            op::I32_CONST,
            op::I32_MUL,
            op::I32_CONST,
            op::I32_SUB,
            op::DROP,
            op::RETURN
        ]
    );
    assert_eq!(p.code()[2].imm, 2);
    assert_eq!(p.memory_log2(), 17);
}
