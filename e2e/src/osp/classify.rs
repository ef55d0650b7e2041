//! Instruction classes and kinds for the fuzzer's coverage counts and the gas table: the
//! prover's four classes (control, variables, memory, math) split by what changes a proof's
//! size or work (one or two memory leaves, chunk direction, branch taken or not, traps).

use veritrace_machine::opcode::{self as op, BranchImm, CallImm, access_width};
use veritrace_machine::{Machine, semantics};

/// The Solidity class prover an opcode routes to.
pub fn class_of(opcode: u16) -> &'static str {
    match opcode {
        op::LOCAL_GET | op::LOCAL_SET | op::LOCAL_TEE | op::GLOBAL_GET | op::GLOBAL_SET => {
            "variables"
        }
        o if op::is_load(o)
            || op::is_store(o)
            || o == op::MEMORY_COPY_CHUNK
            || o == op::MEMORY_FILL_CHUNK =>
        {
            "memory"
        }
        o if op::is_numeric(o)
            || matches!(o, op::I32_CONST | op::I64_CONST | op::DROP | op::SELECT) =>
        {
            "math"
        }
        _ => "control",
    }
}

/// Whether a numeric opcode takes one operand.
fn is_unary(opcode: u16) -> bool {
    matches!(
        opcode,
        0x45 | 0x50 | 0x67..=0x69 | 0x79..=0x7B | 0xA7 | 0xAC | 0xAD | 0xC0..=0xC4
    )
}

/// `(class, kind)` of the machine's next step, before it executes. A trapped machine's no-op
/// step is `("trapped", "no-op")`, that of a machine at a step's end `("halted", "step-ended")`.
pub fn classify(m: &Machine) -> (&'static str, String) {
    if m.is_trapped() {
        return ("trapped", "no-op".to_string());
    }
    if m.is_halted() {
        return ("halted", "step-ended".to_string());
    }
    let ins = m.program().code()[m.pc() as usize];
    let o = ins.opcode;
    let stack = m.value_stack();
    let peek = |i: usize| stack[stack.len() - 1 - i];
    let size = m.program().memory_size();
    let class = class_of(o);
    let kind = match o {
        op::JUMP_IF_ZERO => format!("JumpIfZero/{}", if peek(0) == 0 { "jump" } else { "next" }),
        op::BRANCH_IF => {
            let taken = if peek(0) != 0 { "taken" } else { "not-taken" };
            format!("BranchIf/{taken}")
        }
        op::BRANCH_TABLE => {
            let default = peek(0) >= ins.imm;
            format!("BranchTable/{}", if default { "default" } else { "entry" })
        }
        op::BRANCH | op::RETURN => {
            let b = BranchImm::unpack(ins.imm);
            let drop = match b.drop {
                0 => "0",
                1..=3 => "1-3",
                _ => "4+",
            };
            format!("{}/drop{drop}", op::name(o))
        }
        op::CALL => {
            let params = match CallImm::unpack(ins.imm).params {
                0 => "0",
                1..=3 => "1-3",
                _ => "4+",
            };
            format!("Call/params{params}")
        }
        op::MEMORY_COPY_CHUNK => {
            let (n, src, dst) = (peek(0), peek(1), peek(2));
            let variant = match semantics::copy_chunk(dst, src, n, size) {
                Ok(None) => "done",
                Ok(Some(c)) if c.dst == dst && c.src == src && c.next[2] + c.len == n => "forward",
                Ok(Some(_)) => "backward",
                Err(_) => "out-of-bounds",
            };
            format!("MemoryCopyChunk/{variant}")
        }
        op::MEMORY_FILL_CHUNK => {
            let (n, dst) = (peek(0), peek(2));
            let variant = match semantics::fill_chunk(dst, peek(1), n, size) {
                Ok(None) => "done",
                Ok(Some(_)) => "chunk",
                Err(_) => "out-of-bounds",
            };
            format!("MemoryFillChunk/{variant}")
        }
        o if op::is_load(o) || op::is_store(o) => {
            let width = access_width(o);
            let addr = peek(usize::from(op::is_store(o)));
            let variant = match semantics::effective_address(addr, ins.imm, width, size) {
                Ok(ea) if ea / 32 != (ea + width - 1) / 32 => "two-leaf",
                Ok(_) => "one-leaf",
                Err(_) => "out-of-bounds",
            };
            let what = if op::is_load(o) { "load" } else { "store" };
            format!("{what}/{variant}")
        }
        op::I32_CONST | op::I64_CONST => "const".to_string(),
        op::DROP | op::SELECT => op::name(o).to_string(),
        o if op::is_numeric(o) => {
            let arity = if is_unary(o) { "unary" } else { "binary" };
            let trap = matches!(o, 0x6D..=0x70 | 0x7F..=0x82)
                && semantics::binary(o, peek(1), peek(0)).is_err();
            format!("numeric/{arity}{}", if trap { "/trap" } else { "" })
        }
        o => op::name(o).to_string(),
    };
    (class, kind)
}
