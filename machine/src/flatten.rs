//! The flattener: structured wasm control flow to flat code with explicit jumps, tracking the
//! static value-stack height to compute the `keep`/`drop` of branches and returns.

use wasmparser::{BlockType, FunctionBody, Operator, ValType};

use crate::error::ValidationError;
use crate::opcode::{self as op, BranchImm, CallImm, Instruction, MAX_DROP};
use crate::ops::{memory_opcode, numeric_arity, numeric_opcode};
use crate::validate::Module;

/// A module's functions as one flat code, with what a [`crate::Program`] is built from.
#[derive(Debug)]
pub(crate) struct FlatCode {
    /// The flat code: `Call step` at pc 0, `StepEnd` at pc 1, then every function body.
    pub(crate) code: Vec<Instruction>,
    /// The pc of each function's first instruction.
    pub(crate) function_pcs: Vec<u32>,
}

/// Flattens every function body of a validated module into one flat code.
pub(crate) fn flatten(module: &Module<'_>) -> Result<FlatCode, ValidationError> {
    let mut code = vec![
        Instruction::new(op::CALL, 0),
        Instruction::new(op::STEP_END, 0),
    ];
    let mut calls = vec![(0usize, module.step)];
    let mut function_pcs = Vec::with_capacity(module.bodies.len());
    let mut depths = Vec::with_capacity(module.bodies.len());
    for (index, body) in module.bodies.iter().enumerate() {
        function_pcs.push(pc_of(code.len(), index as u32)?);
        let mut f = FunctionFlattener::new(module, index as u32, &mut code, &mut calls);
        depths.push(f.run(body)?);
    }
    for (at, callee) in calls {
        let signature = &module.signatures[callee as usize];
        let imm = CallImm {
            target: function_pcs[callee as usize],
            params: signature.params as u16,
            depth: depths[callee as usize],
        };
        code[at].imm = imm.pack();
    }
    Ok(FlatCode { code, function_pcs })
}

fn pc_of(len: usize, function: u32) -> Result<u32, ValidationError> {
    u32::try_from(len).map_err(|_| ValidationError::Limit {
        function,
        reason: "code exceeds 2^32 instructions".into(),
    })
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Function,
    Block,
    Loop,
    If,
    Else,
}

/// A control frame: a block, loop, if/else arm or the function body.
#[derive(Debug)]
struct Control {
    kind: Kind,
    /// Value-stack height when the frame was entered.
    base: u32,
    /// Result count (0 or 1).
    arity: u32,
    /// pc of a loop's first instruction.
    start: u32,
    /// Code indices of jumps to the end of the frame, patched at `end`.
    fixups: Vec<usize>,
    /// Code index of an `if`'s `JumpIfZero`, patched at `else` or `end`.
    if_jump: Option<usize>,
    /// Whether the code before the frame was reachable.
    live_at_entry: bool,
}

struct FunctionFlattener<'m, 'c> {
    module: &'m Module<'m>,
    function: u32,
    code: &'c mut Vec<Instruction>,
    calls: &'c mut Vec<(usize, u32)>,
    controls: Vec<Control>,
    height: u32,
    live: bool,
    offset: usize,
}

impl<'m, 'c> FunctionFlattener<'m, 'c> {
    fn new(
        module: &'m Module<'m>,
        function: u32,
        code: &'c mut Vec<Instruction>,
        calls: &'c mut Vec<(usize, u32)>,
    ) -> Self {
        Self {
            module,
            function,
            code,
            calls,
            controls: Vec::new(),
            height: 0,
            live: true,
            offset: 0,
        }
    }

    fn limit(&self, reason: &str) -> ValidationError {
        ValidationError::Limit {
            function: self.function,
            reason: reason.to_string(),
        }
    }

    /// Flattens the body; returns the depth of the function's locals tree.
    fn run(&mut self, body: &FunctionBody<'_>) -> Result<u8, ValidationError> {
        let signature = &self.module.signatures[self.function as usize];
        let mut count = u64::from(signature.params);
        for local in body.get_locals_reader()? {
            let (n, ty) = local?;
            if !matches!(ty, ValType::I32 | ValType::I64) {
                let reason = format!("local of type {ty}, only i32/i64 are allowed");
                return Err(ValidationError::Locals {
                    function: self.function,
                    reason,
                });
            }
            count += u64::from(n);
        }
        if signature.params > u32::from(u16::MAX) {
            return Err(self.limit("more than 65535 parameters"));
        }
        let depth = if count <= 1 {
            0
        } else {
            count.next_power_of_two().trailing_zeros()
        };
        self.controls.push(Control {
            kind: Kind::Function,
            base: 0,
            arity: signature.results,
            start: 0,
            fixups: Vec::new(),
            if_jump: None,
            live_at_entry: true,
        });
        let mut reader = body.get_operators_reader()?;
        while !self.controls.is_empty() {
            let (operator, offset) = reader.read_with_offset()?;
            self.offset = offset;
            self.operator(&operator)?;
        }
        Ok(depth as u8)
    }

    fn refuse(&self, operator: &Operator<'_>) -> ValidationError {
        ValidationError::Instruction {
            function: self.function,
            offset: self.offset,
            instruction: format!("{operator:?}"),
        }
    }

    fn emit(&mut self, opcode: u16, imm: u64) -> usize {
        self.code.push(Instruction::new(opcode, imm));
        self.code.len() - 1
    }

    fn pc(&self) -> Result<u32, ValidationError> {
        pc_of(self.code.len(), self.function)
    }

    fn block_arity(&self, ty: &BlockType, operator: &Operator<'_>) -> Result<u32, ValidationError> {
        match ty {
            BlockType::Empty => Ok(0),
            BlockType::Type(ValType::I32 | ValType::I64) => Ok(1),
            _ => Err(self.refuse(operator)),
        }
    }

    fn push_control(
        &mut self,
        kind: Kind,
        arity: u32,
        if_jump: Option<usize>,
    ) -> Result<(), ValidationError> {
        let start = self.pc()?;
        self.controls.push(Control {
            kind,
            base: self.height,
            arity,
            start,
            fixups: Vec::new(),
            if_jump,
            live_at_entry: self.live,
        });
        Ok(())
    }

    /// The `Branch`-style immediate for label `depth` at the current height; records a fixup
    /// for `at` when the target is a frame's end.
    fn branch_imm(&mut self, depth: u32, at: usize) -> Result<u64, ValidationError> {
        let index = self.controls.len() - 1 - depth as usize;
        let frame = &self.controls[index];
        let (keep, target) = if frame.kind == Kind::Loop {
            (0, frame.start)
        } else {
            (frame.arity, 0)
        };
        let drop = self.height - frame.base - keep;
        if drop > MAX_DROP {
            return Err(self.limit("a branch drops more than 2^24-1 values"));
        }
        if frame.kind != Kind::Loop {
            self.controls[index].fixups.push(at);
        }
        Ok(BranchImm {
            target,
            keep: keep as u8,
            drop,
        }
        .pack())
    }

    fn branch(&mut self, opcode: u16, depth: u32) -> Result<(), ValidationError> {
        let at = self.emit(opcode, 0);
        self.code[at].imm = self.branch_imm(depth, at)?;
        Ok(())
    }

    fn operator(&mut self, operator: &Operator<'_>) -> Result<(), ValidationError> {
        match operator {
            Operator::Block { blockty } => {
                let arity = self.block_arity(blockty, operator)?;
                return self.push_control(Kind::Block, arity, None);
            }
            Operator::Loop { blockty } => {
                let arity = self.block_arity(blockty, operator)?;
                return self.push_control(Kind::Loop, arity, None);
            }
            Operator::If { blockty } => {
                let arity = self.block_arity(blockty, operator)?;
                let jump = if self.live {
                    self.height -= 1;
                    Some(self.emit(op::JUMP_IF_ZERO, 0))
                } else {
                    None
                };
                return self.push_control(Kind::If, arity, jump);
            }
            Operator::Else => return self.else_arm(),
            Operator::End => return self.end(),
            _ => {}
        }
        if !self.live {
            // Unreachable code emits nothing, but must still be in the subset.
            return self.check_only(operator);
        }
        self.live_operator(operator)
    }

    fn else_arm(&mut self) -> Result<(), ValidationError> {
        if self.live {
            let at = self.emit(op::JUMP, 0);
            self.controls.last_mut().expect("inside if").fixups.push(at);
        }
        let pc = u64::from(self.pc()?);
        let frame = self.controls.last_mut().expect("inside if");
        if let Some(jump) = frame.if_jump.take() {
            self.code[jump].imm = pc;
        }
        frame.kind = Kind::Else;
        self.height = frame.base;
        self.live = frame.live_at_entry;
        Ok(())
    }

    fn end(&mut self) -> Result<(), ValidationError> {
        let frame = self.controls.pop().expect("inside a frame");
        if frame.kind == Kind::Function {
            let drop = if self.live {
                self.height - frame.arity
            } else {
                0
            };
            let imm = BranchImm {
                target: 0,
                keep: frame.arity as u8,
                drop,
            }
            .pack();
            self.emit(op::RETURN, imm);
        }
        let end = u64::from(self.pc()?);
        // A function's branches go to its final Return, the last instruction emitted.
        let target = if frame.kind == Kind::Function {
            end - 1
        } else {
            end
        };
        if let Some(jump) = frame.if_jump {
            self.code[jump].imm = end;
        }
        for at in frame.fixups {
            self.code[at].imm |= target;
        }
        self.height = frame.base + frame.arity;
        self.live = frame.live_at_entry;
        Ok(())
    }

    fn check_only(&mut self, operator: &Operator<'_>) -> Result<(), ValidationError> {
        if matches!(
            operator,
            Operator::Unreachable
                | Operator::Br { .. }
                | Operator::BrIf { .. }
                | Operator::BrTable { .. }
                | Operator::Return
                | Operator::Call { .. }
        ) {
            return Ok(());
        }
        let (code_len, calls_len) = (self.code.len(), self.calls.len());
        let (height, controls) = (self.height, self.controls.len());
        // Pretend the code is live at a height large enough for any operand, then discard.
        self.live = true;
        self.height = u32::MAX / 2;
        let result = self.live_operator(operator);
        self.code.truncate(code_len);
        self.calls.truncate(calls_len);
        self.controls.truncate(controls);
        for c in &mut self.controls {
            c.fixups.retain(|&at| at < code_len);
        }
        self.height = height;
        self.live = false;
        result
    }

    fn live_operator(&mut self, operator: &Operator<'_>) -> Result<(), ValidationError> {
        if let Some(opcode) = numeric_opcode(operator) {
            self.height -= numeric_arity(opcode) - 1;
            self.emit(opcode, 0);
            return Ok(());
        }
        if let Some((opcode, memarg)) = memory_opcode(operator) {
            if memarg.memory != 0 {
                return Err(self.refuse(operator));
            }
            if op::is_store(opcode) {
                self.height -= 2;
            }
            self.emit(opcode, memarg.offset);
            return Ok(());
        }
        match operator {
            Operator::Nop => {}
            Operator::Unreachable => {
                self.emit(op::UNREACHABLE, 0);
                self.live = false;
            }
            Operator::Br { relative_depth }
                if *relative_depth as usize + 1 < self.controls.len() =>
            {
                self.branch(op::BRANCH, *relative_depth)?;
                self.live = false;
            }
            Operator::Br { .. } | Operator::Return => {
                let arity = self.controls[0].arity;
                let drop = self.height - arity;
                if drop > MAX_DROP {
                    return Err(self.limit("a return drops more than 2^24-1 values"));
                }
                self.emit(
                    op::RETURN,
                    BranchImm {
                        target: 0,
                        keep: arity as u8,
                        drop,
                    }
                    .pack(),
                );
                self.live = false;
            }
            Operator::BrIf { relative_depth } => {
                self.height -= 1;
                self.branch(op::BRANCH_IF, *relative_depth)?;
            }
            Operator::BrTable { targets } => {
                self.height -= 1;
                self.emit(op::BRANCH_TABLE, u64::from(targets.len()));
                for target in targets.targets() {
                    self.branch(op::TABLE_ENTRY, target?)?;
                }
                self.branch(op::TABLE_ENTRY, targets.default())?;
                self.live = false;
            }
            Operator::Call { function_index } => {
                let signature = &self.module.signatures[*function_index as usize];
                self.height = self.height - signature.params + signature.results;
                let at = self.emit(op::CALL, 0);
                self.calls.push((at, *function_index));
            }
            Operator::Drop => {
                self.height -= 1;
                self.emit(op::DROP, 0);
            }
            Operator::Select => {
                self.height -= 2;
                self.emit(op::SELECT, 0);
            }
            Operator::TypedSelect {
                ty: ValType::I32 | ValType::I64,
            } => {
                self.height -= 2;
                self.emit(op::SELECT, 0);
            }
            Operator::LocalGet { local_index } => {
                self.height += 1;
                self.emit(op::LOCAL_GET, u64::from(*local_index));
            }
            Operator::LocalSet { local_index } => {
                self.height -= 1;
                self.emit(op::LOCAL_SET, u64::from(*local_index));
            }
            Operator::LocalTee { local_index } => {
                self.emit(op::LOCAL_TEE, u64::from(*local_index));
            }
            Operator::GlobalGet { global_index } => {
                self.height += 1;
                self.emit(op::GLOBAL_GET, u64::from(*global_index));
            }
            Operator::GlobalSet { global_index } => {
                self.height -= 1;
                self.emit(op::GLOBAL_SET, u64::from(*global_index));
            }
            Operator::I32Const { value } => {
                self.height += 1;
                self.emit(op::I32_CONST, u64::from(*value as u32));
            }
            Operator::I64Const { value } => {
                self.height += 1;
                self.emit(op::I64_CONST, *value as u64);
            }
            Operator::MemorySize { mem: 0 } => {
                self.height += 1;
                let pages = 1u64 << (self.module.memory_log2 - 16);
                self.emit(op::I32_CONST, pages);
            }
            Operator::MemoryGrow { mem: 0 } => {
                // grow(n) = (n == 0) ? pages : -1, as (n == 0) * (pages + 1) - 1 (mod 2^32):
                // growing by 0 pages succeeds in wasm even when maximum = minimum.
                let pages = 1u64 << (self.module.memory_log2 - 16);
                self.emit(op::I32_EQZ, 0);
                self.emit(op::I32_CONST, pages + 1);
                self.emit(op::I32_MUL, 0);
                self.emit(op::I32_CONST, 1);
                self.emit(op::I32_SUB, 0);
            }
            Operator::MemoryCopy {
                dst_mem: 0,
                src_mem: 0,
            } => {
                self.height -= 3;
                self.emit(op::MEMORY_COPY_CHUNK, 0);
            }
            Operator::MemoryFill { mem: 0 } => {
                self.height -= 3;
                self.emit(op::MEMORY_FILL_CHUNK, 0);
            }
            _ => return Err(self.refuse(operator)),
        }
        Ok(())
    }
}
