//! Random flat programs that walk the machine through random states, for fuzzing the one-step
//! provers with [`Program::from_flat_code`].
//!
//! The generator keeps a typed model of the value stack and of each frame's locals while it emits
//! code, so every executed instruction finds well-typed, canonical operands (an `i32` is always
//! zero-extended), as validated code guarantees. Control flow is data-independent: every
//! conditional instruction's condition or index is a constant pushed right before it, and every
//! jump or branch skips forward over a few never-executed junk instructions. What the generator
//! does not decide are the values: random memory, globals, constants, locals, loads and
//! arithmetic results flow into every operand, including addresses (some out of bounds),
//! divisors (some zero) and bulk-memory lengths. Frames nest through calls with random parameter
//! and locals counts; branches and returns drop random numbers of values; `BranchTable`s select
//! random entries (or the default); rarely an `unreachable` or a `TableEntry` is executed.

use super::Rng;
use crate::Program;
use crate::opcode::{self as op, BranchImm, CallImm, Instruction};

/// A generated case: a program over unvalidated flat code and the memory image to start from.
#[derive(Clone, Debug)]
pub struct FlatCase {
    /// The program: pc 0 calls function 0 (`main`), pc 1 is `StepEnd`.
    pub program: Program,
    /// The initial memory (random patches over zeros).
    pub memory: Vec<u8>,
    /// How many layer steps to run; each one takes the same path through the code.
    pub layer_steps: usize,
}

/// Size parameters of a case, to reproduce a production-sized program's proof sizes.
#[derive(Clone, Copy, Debug, Default)]
pub struct Shape {
    /// Memory size exponent; random in 16..=18 if `None`.
    pub memory_log2: Option<u8>,
    /// The code is padded with (never executed) `unreachable`s to at least this many
    /// instructions, which sets the code tree's depth.
    pub min_code_len: usize,
}

impl FlatCase {
    /// The case generated from `seed` (the same seed always gives the same case).
    pub fn generate(seed: u64) -> Self {
        Self::generate_shaped(seed, Shape::default())
    }

    /// As [`FlatCase::generate`], with a given memory size and code size.
    pub fn generate_shaped(seed: u64, shape: Shape) -> Self {
        let mut rng = Rng::new(seed);
        let random_log2 = match rng.below(100) {
            0..=84 => 16,
            85..=94 => 17,
            _ => 18,
        };
        let memory_log2 = shape.memory_log2.unwrap_or(random_log2);
        let global_count = match rng.below(100) {
            0..=9 => 0,
            10..=69 => rng.range(1, 4),
            70..=97 => rng.range(5, 20),
            _ => rng.range(21, 255),
        };
        let globals: Vec<Ty> = (0..global_count).map(|_| random_ty(&mut rng)).collect();
        let global_values = globals.iter().map(|&t| value(&mut rng, t)).collect();
        let mut memory = vec![0u8; 1 << memory_log2];
        random_patches(&mut rng, &mut memory);
        let layer_steps = 1 + rng.below(2) as usize;
        let mut g = Gen {
            rng,
            funcs: vec![Func::default()],
            globals,
            memory_size: 1 << memory_log2,
            budget: 160,
            done: false,
        };
        let locals = g.random_locals(&[]);
        let depth = locals_depth(locals.len());
        let mut stack = Vec::new();
        g.body(0, &mut stack, &locals, None, 3);
        let mut code = g.link(depth);
        if code.len() < shape.min_code_len {
            code.resize(shape.min_code_len, Instruction::new(op::UNREACHABLE, 0));
        }
        Self {
            program: Program::from_flat_code(code, global_values, memory_log2),
            memory,
            layer_steps,
        }
    }
}

/// A value type of the model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ty {
    I32,
    I64,
}

fn random_ty(rng: &mut Rng) -> Ty {
    if rng.percent(50) { Ty::I32 } else { Ty::I64 }
}

/// Edge values, truncated to 32 bits for `i32`.
const EDGES: [u64; 26] = [
    0,
    1,
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
    0xffff,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_ffff,
    1 << 32,
    0x1234_5678_9abc_def0,
    i64::MAX as u64,
    1 << 63,
    u64::MAX,
    u64::MAX - 1,
    u64::MAX - 31,
];

/// A random canonical value of type `ty`, biased to edges and small magnitudes.
fn value(rng: &mut Rng, ty: Ty) -> u64 {
    let v = match rng.below(10) {
        0..=4 => rng.pick(&EDGES),
        5 | 6 => rng.below(300),
        7 => u64::MAX - rng.below(300),
        _ => rng.next_u64(),
    };
    match ty {
        Ty::I32 => u64::from(v as u32),
        Ty::I64 => v,
    }
}

/// A few random byte runs, mostly in the first pages, and some random leaves at the end.
fn random_patches(rng: &mut Rng, memory: &mut [u8]) {
    let size = memory.len() as u64;
    for _ in 0..rng.range(0, 12) {
        let len = rng.range(1, 96);
        let start = if rng.percent(70) {
            rng.below(2048)
        } else {
            rng.below(size - len)
        };
        rng.fill(&mut memory[start as usize..(start + len) as usize]);
    }
    if rng.percent(50) {
        let start = memory.len() - 64;
        rng.fill(&mut memory[start..]);
    }
}

/// The smallest `d` with `2^d >= n` (0 for at most one local).
fn locals_depth(n: usize) -> u8 {
    n.max(1).next_power_of_two().trailing_zeros() as u8
}

/// A target to patch into bits 0-31 of an immediate once the code is laid out.
#[derive(Clone, Copy, Debug)]
enum Fix {
    /// A label of the same function.
    Label(usize),
    /// The first instruction of a function.
    Func(usize),
}

/// One function's code, with its unresolved targets and its labels' offsets.
#[derive(Debug, Default)]
struct Func {
    code: Vec<Instruction>,
    fixups: Vec<(usize, Fix)>,
    labels: Vec<usize>,
}

/// The integer operators: (opcode, operand types bottom first, result type).
const NUMERIC: &[(u16, &[Ty], Ty)] = &{
    use Ty::{I32, I64};
    const U32: &[Ty] = &[I32];
    const B32: &[Ty] = &[I32, I32];
    const U64: &[Ty] = &[I64];
    const B64: &[Ty] = &[I64, I64];
    [
        (0x45, U32, I32),
        (0x46, B32, I32),
        (0x47, B32, I32),
        (0x48, B32, I32),
        (0x49, B32, I32),
        (0x4A, B32, I32),
        (0x4B, B32, I32),
        (0x4C, B32, I32),
        (0x4D, B32, I32),
        (0x4E, B32, I32),
        (0x4F, B32, I32),
        (0x50, U64, I32),
        (0x51, B64, I32),
        (0x52, B64, I32),
        (0x53, B64, I32),
        (0x54, B64, I32),
        (0x55, B64, I32),
        (0x56, B64, I32),
        (0x57, B64, I32),
        (0x58, B64, I32),
        (0x59, B64, I32),
        (0x5A, B64, I32),
        (0x67, U32, I32),
        (0x68, U32, I32),
        (0x69, U32, I32),
        (0x6A, B32, I32),
        (0x6B, B32, I32),
        (0x6C, B32, I32),
        (0x6D, B32, I32),
        (0x6E, B32, I32),
        (0x6F, B32, I32),
        (0x70, B32, I32),
        (0x71, B32, I32),
        (0x72, B32, I32),
        (0x73, B32, I32),
        (0x74, B32, I32),
        (0x75, B32, I32),
        (0x76, B32, I32),
        (0x77, B32, I32),
        (0x78, B32, I32),
        (0x79, U64, I64),
        (0x7A, U64, I64),
        (0x7B, U64, I64),
        (0x7C, B64, I64),
        (0x7D, B64, I64),
        (0x7E, B64, I64),
        (0x7F, B64, I64),
        (0x80, B64, I64),
        (0x81, B64, I64),
        (0x82, B64, I64),
        (0x83, B64, I64),
        (0x84, B64, I64),
        (0x85, B64, I64),
        (0x86, B64, I64),
        (0x87, B64, I64),
        (0x88, B64, I64),
        (0x89, B64, I64),
        (0x8A, B64, I64),
        (0xA7, U64, I32),
        (0xAC, U32, I64),
        (0xAD, U32, I64),
        (0xC0, U32, I32),
        (0xC1, U32, I32),
        (0xC2, U64, I64),
        (0xC3, U64, I64),
        (0xC4, U64, I64),
    ]
};

/// Loads and their result types.
const LOADS: &[(u16, Ty)] = &[
    (op::I32_LOAD, Ty::I32),
    (op::I64_LOAD, Ty::I64),
    (op::I32_LOAD8_S, Ty::I32),
    (op::I32_LOAD8_U, Ty::I32),
    (op::I32_LOAD16_S, Ty::I32),
    (op::I32_LOAD16_U, Ty::I32),
    (op::I64_LOAD8_S, Ty::I64),
    (op::I64_LOAD8_U, Ty::I64),
    (op::I64_LOAD16_S, Ty::I64),
    (op::I64_LOAD16_U, Ty::I64),
    (op::I64_LOAD32_S, Ty::I64),
    (op::I64_LOAD32_U, Ty::I64),
];

/// Stores and their value types.
const STORES: &[(u16, Ty)] = &[
    (op::I32_STORE, Ty::I32),
    (op::I64_STORE, Ty::I64),
    (op::I32_STORE8, Ty::I32),
    (op::I32_STORE16, Ty::I32),
    (op::I64_STORE8, Ty::I64),
    (op::I64_STORE16, Ty::I64),
    (op::I64_STORE32, Ty::I64),
];

/// Opcodes for never-executed junk.
const JUNK: &[u16] = &[
    op::UNREACHABLE,
    op::CALL,
    op::DROP,
    op::SELECT,
    op::LOCAL_GET,
    op::GLOBAL_SET,
    op::I64_LOAD,
    op::I32_STORE,
    op::I32_CONST,
    op::I64_CONST,
    0x6A,
    op::MEMORY_COPY_CHUNK,
    op::JUMP,
    op::BRANCH,
    op::TABLE_ENTRY,
    op::RETURN,
    op::STEP_END,
    0x1234,
];

/// The code generator and its model of the machine.
#[derive(Debug)]
struct Gen {
    rng: Rng,
    funcs: Vec<Func>,
    globals: Vec<Ty>,
    memory_size: u64,
    /// Actions left to emit over the whole program.
    budget: u32,
    /// An executed trap was emitted: everything after it is dead.
    done: bool,
}

impl Gen {
    fn emit(&mut self, f: usize, opcode: u16, imm: u64) {
        self.funcs[f].code.push(Instruction::new(opcode, imm));
    }

    fn emit_fix(&mut self, f: usize, opcode: u16, imm: u64, fix: Fix) {
        let func = &mut self.funcs[f];
        func.fixups.push((func.code.len(), fix));
        func.code.push(Instruction::new(opcode, imm));
    }

    fn new_label(&mut self, f: usize) -> usize {
        self.funcs[f].labels.push(usize::MAX);
        self.funcs[f].labels.len() - 1
    }

    fn place(&mut self, f: usize, label: usize) {
        self.funcs[f].labels[label] = self.funcs[f].code.len();
    }

    /// Lays out `Call main; StepEnd; main; callees...` and resolves every target.
    fn link(self, main_depth: u8) -> Vec<Instruction> {
        let mut starts = Vec::with_capacity(self.funcs.len());
        let mut pc = 2;
        for f in &self.funcs {
            starts.push(pc);
            pc += f.code.len();
        }
        let call_main = CallImm {
            target: starts[0] as u32,
            params: 0,
            depth: main_depth,
        };
        let mut code = vec![
            Instruction::new(op::CALL, call_main.pack()),
            Instruction::new(op::STEP_END, 0),
        ];
        for (i, f) in self.funcs.iter().enumerate() {
            let base = code.len();
            code.extend_from_slice(&f.code);
            for &(at, fix) in &f.fixups {
                let target = match fix {
                    Fix::Label(l) => starts[i] + f.labels[l],
                    Fix::Func(g) => starts[g],
                };
                let ins = &mut code[base + at];
                ins.imm = (ins.imm & !0xffff_ffff) | target as u64;
            }
        }
        code
    }

    fn random_locals(&mut self, params: &[Ty]) -> Vec<Ty> {
        let extra = match self.rng.below(100) {
            0..=79 => self.rng.below(5),
            80..=94 => self.rng.range(5, 16),
            _ => self.rng.range(17, 100),
        };
        let mut locals = params.to_vec();
        locals.extend((0..extra).map(|_| random_ty(&mut self.rng)));
        locals
    }

    fn push_const(&mut self, f: usize, stack: &mut Vec<Ty>, ty: Ty) {
        let v = value(&mut self.rng, ty);
        self.push_value(f, stack, ty, v);
    }

    fn push_value(&mut self, f: usize, stack: &mut Vec<Ty>, ty: Ty, v: u64) {
        let opcode = match ty {
            Ty::I32 => op::I32_CONST,
            Ty::I64 => op::I64_CONST,
        };
        self.emit(f, opcode, v);
        stack.push(ty);
    }

    /// A memory address (an `i32`): mostly low and in bounds, some across a leaf boundary, a
    /// few near or past the end.
    fn address(&mut self) -> u64 {
        let size = self.memory_size;
        let a = match self.rng.below(1000) {
            0..=499 => self.rng.below(512),
            500..=799 => self.rng.below(size),
            800..=959 => 32 * self.rng.range(1, size / 32 - 1) - self.rng.range(1, 7),
            960..=994 => size - self.rng.range(1, 40),
            _ => self.rng.next_u64(),
        };
        u64::from(a as u32)
    }

    /// A memarg offset: mostly 0 or small, rarely huge.
    fn offset(&mut self) -> u64 {
        match self.rng.below(1000) {
            0..=699 => 0,
            700..=949 => self.rng.below(64),
            950..=994 => self.rng.below(self.memory_size / 2),
            _ => u64::from(u32::MAX - self.rng.below(64) as u32),
        }
    }

    /// Makes the top of the frame hold operands of types `needs` (bottom first): reuses the
    /// values there when they fit, else pushes constants.
    fn operands(&mut self, f: usize, stack: &mut Vec<Ty>, base: usize, needs: &[Ty]) {
        let above = stack.len() - base;
        let fits = above >= needs.len() && stack[stack.len() - needs.len()..] == *needs;
        if fits && self.rng.percent(70) {
            return;
        }
        for &t in needs {
            self.push_const(f, stack, t);
        }
    }

    /// Random `(keep, drop)` over the frame's `above` values; returns them and applies them.
    fn keep_drop(&mut self, stack: &mut Vec<Ty>, base: usize) -> (u8, u32) {
        let above = stack.len() - base;
        let keep = usize::from(above >= 1 && self.rng.percent(50));
        let room = above - keep;
        let drop = match self.rng.below(10) {
            0..=5 => self.rng.below(room.min(3) as u64 + 1) as usize,
            6..=8 => self.rng.below(room as u64 + 1) as usize,
            _ => room,
        };
        apply_keep_drop(stack, keep, drop);
        (keep as u8, drop as u32)
    }

    /// Up to three never-executed instructions.
    fn junk(&mut self, f: usize) {
        for _ in 0..self.rng.below(4) {
            let opcode = self.rng.pick(JUNK);
            let imm = if self.rng.percent(50) {
                self.rng.below(8)
            } else {
                self.rng.next_u64()
            };
            self.emit(f, opcode, imm);
        }
    }

    /// Emits a branch-like instruction with a forward target `label` placed after some junk
    /// when `taken`, right after it otherwise.
    fn forward(&mut self, f: usize, opcode: u16, imm: u64, taken: bool) {
        let label = self.new_label(f);
        self.emit_fix(f, opcode, imm, Fix::Label(label));
        if taken {
            self.junk(f);
        }
        self.place(f, label);
    }

    /// A function body: random actions, then `Return` (unless an executed trap ended the case).
    fn body(
        &mut self,
        f: usize,
        stack: &mut Vec<Ty>,
        locals: &[Ty],
        result: Option<Ty>,
        calls_left: u32,
    ) {
        let base = stack.len();
        let actions = if f == 0 {
            self.rng.range(10, 60)
        } else {
            self.rng.range(2, 20)
        };
        for _ in 0..actions {
            if self.done || self.budget == 0 {
                break;
            }
            self.budget -= 1;
            if self.action(f, stack, base, locals, calls_left) {
                break; // an early return ended this function
            }
        }
        if !self.done {
            self.ret(f, stack, base, result);
        }
    }

    /// Emits `Return{keep, drop}` for a function with `result`, leaving `base + result` values.
    fn ret(&mut self, f: usize, stack: &mut Vec<Ty>, base: usize, result: Option<Ty>) {
        if let Some(t) = result {
            let reuse = stack.len() > base && stack.last() == Some(&t) && self.rng.percent(70);
            if !reuse {
                self.push_const(f, stack, t);
            }
        }
        let keep = u8::from(result.is_some());
        let drop = (stack.len() - base - usize::from(keep)) as u32;
        let imm = BranchImm {
            target: 0,
            keep,
            drop,
        };
        self.emit(f, op::RETURN, imm.pack());
        stack.truncate(base);
        stack.extend(result);
    }

    /// One random action; returns true when it was an early return.
    fn action(
        &mut self,
        f: usize,
        stack: &mut Vec<Ty>,
        base: usize,
        locals: &[Ty],
        calls_left: u32,
    ) -> bool {
        let high = stack.len() - base > 24;
        let roll = self.rng.below(1000);
        match roll {
            // Constants.
            0..=79 if !high => {
                let t = random_ty(&mut self.rng);
                self.push_const(f, stack, t);
            }
            // Locals.
            80..=179 if !locals.is_empty() => {
                let i = self.rng.below(locals.len() as u64) as usize;
                let t = locals[i];
                match self.rng.below(3) {
                    0 if !high => {
                        self.emit(f, op::LOCAL_GET, i as u64);
                        stack.push(t);
                    }
                    which => {
                        self.operands(f, stack, base, &[t]);
                        if which == 1 {
                            self.emit(f, op::LOCAL_SET, i as u64);
                            stack.pop();
                        } else {
                            self.emit(f, op::LOCAL_TEE, i as u64);
                        }
                    }
                }
            }
            // Globals.
            180..=229 if !self.globals.is_empty() => {
                let i = self.rng.below(self.globals.len() as u64) as usize;
                let t = self.globals[i];
                if self.rng.percent(50) && !high {
                    self.emit(f, op::GLOBAL_GET, i as u64);
                    stack.push(t);
                } else {
                    self.operands(f, stack, base, &[t]);
                    self.emit(f, op::GLOBAL_SET, i as u64);
                    stack.pop();
                }
            }
            // Numeric operators.
            230..=479 => {
                let (opcode, args, out) = self.rng.pick(NUMERIC);
                self.operands(f, stack, base, args);
                self.emit(f, opcode, 0);
                stack.truncate(stack.len() - args.len());
                stack.push(out);
            }
            // drop and select.
            480..=539 => {
                if self.rng.percent(50) {
                    let t = random_ty(&mut self.rng);
                    self.operands(f, stack, base, &[t]);
                    self.emit(f, op::DROP, 0);
                    stack.pop();
                } else {
                    let t = random_ty(&mut self.rng);
                    self.operands(f, stack, base, &[t, t, Ty::I32]);
                    self.emit(f, op::SELECT, 0);
                    stack.truncate(stack.len() - 2);
                }
            }
            // Loads.
            540..=619 => {
                let (opcode, t) = self.rng.pick(LOADS);
                let a = self.address();
                self.push_value(f, stack, Ty::I32, a);
                let offset = self.offset();
                self.emit(f, opcode, offset);
                stack.pop();
                stack.push(t);
            }
            // Stores.
            620..=699 => {
                let (opcode, t) = self.rng.pick(STORES);
                let a = self.address();
                self.push_value(f, stack, Ty::I32, a);
                self.push_const(f, stack, t);
                let offset = self.offset();
                self.emit(f, opcode, offset);
                stack.truncate(stack.len() - 2);
            }
            // Bulk memory.
            700..=759 => {
                let fill = self.rng.percent(40);
                let dst = self.address();
                let second = if fill {
                    value(&mut self.rng, Ty::I32)
                } else if self.rng.percent(30) {
                    // Overlapping copies, both directions.
                    u64::from(
                        (dst as u32)
                            .wrapping_add(self.rng.range(0, 80) as u32)
                            .wrapping_sub(40),
                    )
                } else {
                    self.address()
                };
                let n = match self.rng.below(100) {
                    0..=9 => 0,
                    10..=89 => self.rng.range(1, 100),
                    90..=98 => self.rng.range(100, 300),
                    _ => u64::from(self.rng.next_u64() as u32),
                };
                self.push_value(f, stack, Ty::I32, dst);
                self.push_value(f, stack, Ty::I32, second);
                self.push_value(f, stack, Ty::I32, n);
                let opcode = if fill {
                    op::MEMORY_FILL_CHUNK
                } else {
                    op::MEMORY_COPY_CHUNK
                };
                self.emit(f, opcode, 0);
                stack.truncate(stack.len() - 3);
            }
            // Calls.
            760..=809 if calls_left > 0 => self.call(f, stack, base, calls_left),
            // Jump over junk.
            810..=829 => self.forward(f, op::JUMP, 0, true),
            // JumpIfZero on a constant.
            830..=859 => {
                let c = if self.rng.percent(50) {
                    0
                } else {
                    value(&mut self.rng, Ty::I32).max(1)
                };
                self.push_value(f, stack, Ty::I32, c);
                stack.pop();
                self.forward(f, op::JUMP_IF_ZERO, 0, c == 0);
            }
            // Branch.
            860..=889 => {
                let (keep, drop) = self.keep_drop(stack, base);
                let imm = branch_imm(keep, drop);
                self.forward(f, op::BRANCH, imm, true);
            }
            // BranchIf on a constant.
            890..=929 => {
                let c = if self.rng.percent(50) {
                    0
                } else {
                    value(&mut self.rng, Ty::I32).max(1)
                };
                let mut model = stack.clone();
                let (keep, drop) = self.keep_drop(&mut model, base);
                self.push_value(f, stack, Ty::I32, c);
                stack.pop();
                if c != 0 {
                    *stack = model;
                }
                self.forward(f, op::BRANCH_IF, branch_imm(keep, drop), c != 0);
            }
            // BranchTable on a constant index.
            930..=969 => self.branch_table(f, stack, base),
            // Early return.
            970..=984 => {
                return true;
            }
            // An executed trap ends the case.
            985..=989 => {
                let opcode = if self.rng.percent(50) {
                    op::UNREACHABLE
                } else {
                    op::TABLE_ENTRY
                };
                let imm = self.rng.below(3);
                self.emit(f, opcode, imm);
                self.done = true;
            }
            // A branch that drops the frame's values when the stack is high.
            _ if high => {
                let above = stack.len() - base;
                apply_keep_drop(stack, 0, above);
                self.forward(f, op::BRANCH, branch_imm(0, above as u32), true);
            }
            _ => {}
        }
        false
    }

    /// `Call` of a fresh function with random parameters, locals and result.
    fn call(&mut self, f: usize, stack: &mut Vec<Ty>, base: usize, calls_left: u32) {
        let nparams = if self.rng.percent(90) {
            self.rng.below(4)
        } else {
            self.rng.range(4, 9)
        };
        let params: Vec<Ty> = (0..nparams).map(|_| random_ty(&mut self.rng)).collect();
        let result = match self.rng.below(3) {
            0 => None,
            1 => Some(Ty::I32),
            _ => Some(Ty::I64),
        };
        let locals = self.random_locals(&params);
        let depth = locals_depth(locals.len());
        self.operands(f, stack, base, &params);
        let callee = self.funcs.len();
        self.funcs.push(Func::default());
        let imm = CallImm {
            target: 0,
            params: params.len() as u16,
            depth,
        };
        self.emit_fix(f, op::CALL, imm.pack(), Fix::Func(callee));
        stack.truncate(stack.len() - params.len());
        self.body(callee, stack, &locals, result, calls_left - 1);
    }

    /// `BranchTable{count}` on a constant index, its entries, junk, and the target.
    fn branch_table(&mut self, f: usize, stack: &mut Vec<Ty>, base: usize) {
        let count = self.rng.below(5);
        let index = match self.rng.below(10) {
            0..=7 => self.rng.below(count + 2),
            _ => value(&mut self.rng, Ty::I32),
        };
        let k = index.min(count);
        let mut model = stack.clone();
        let (keep, drop) = self.keep_drop(&mut model, base);
        self.push_value(f, stack, Ty::I32, index);
        stack.pop();
        let label = self.new_label(f);
        self.emit(f, op::BRANCH_TABLE, count);
        for j in 0..=count {
            let imm = if j == k {
                branch_imm(keep, drop)
            } else {
                let mut other = stack.clone();
                let (keep, drop) = self.keep_drop(&mut other, base);
                branch_imm(keep, drop)
            };
            self.emit_fix(f, op::TABLE_ENTRY, imm, Fix::Label(label));
        }
        *stack = model;
        self.junk(f);
        self.place(f, label);
    }
}

fn branch_imm(keep: u8, drop: u32) -> u64 {
    BranchImm {
        target: 0,
        keep,
        drop,
    }
    .pack()
}

fn apply_keep_drop(stack: &mut Vec<Ty>, keep: usize, drop: usize) {
    let kept = stack.split_off(stack.len() - keep);
    stack.truncate(stack.len() - drop);
    stack.extend(kept);
}

#[cfg(test)]
mod tests {
    use super::FlatCase;
    use crate::{Machine, verify_step};

    /// Generated cases run (every step proven and checked) to their boundaries or a trap.
    #[test]
    fn generated_cases_run_and_verify() {
        let (mut steps, mut traps) = (0u64, 0u64);
        for seed in 0..200 {
            let case = FlatCase::generate(seed);
            let p = &case.program;
            let mut m = Machine::new(p, case.memory.clone());
            let mut boundaries = 0;
            while boundaries < case.layer_steps {
                let pre = m.hash();
                let proof = m.prove_step();
                let post = m.hash();
                assert_eq!(
                    verify_step(p.root(), p.memory_log2(), &proof),
                    Ok((pre, post)),
                    "seed {seed}"
                );
                steps += 1;
                if m.is_trapped() {
                    traps += 1;
                    break;
                }
                if m.is_halted() {
                    assert!(m.at_step_end(), "seed {seed}: halted off a step's end");
                    boundaries += 1;
                    m.start_next_step();
                }
                assert!(steps < 10_000_000);
            }
        }
        assert!(steps > 10_000, "{steps} steps");
        assert!(traps > 5 && traps < 150, "{traps} traps");
    }
}
