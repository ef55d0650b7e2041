//! The flat instruction set: opcodes, the `Instruction` type and the packing of immediates
//! (table "Immediates" of the spec).

/// `unreachable`: traps.
pub const UNREACHABLE: u16 = 0x0000;
/// `Call{target, params, depth}`.
pub const CALL: u16 = 0x0010;
/// `drop`.
pub const DROP: u16 = 0x001A;
/// `select` (typed `select` is flattened to this).
pub const SELECT: u16 = 0x001B;
/// `local.get`.
pub const LOCAL_GET: u16 = 0x0020;
/// `local.set`.
pub const LOCAL_SET: u16 = 0x0021;
/// `local.tee`.
pub const LOCAL_TEE: u16 = 0x0022;
/// `global.get`.
pub const GLOBAL_GET: u16 = 0x0023;
/// `global.set`.
pub const GLOBAL_SET: u16 = 0x0024;
/// First load opcode (`i32.load`).
pub const I32_LOAD: u16 = 0x0028;
/// `i64.load`.
pub const I64_LOAD: u16 = 0x0029;
/// `i32.load8_s`.
pub const I32_LOAD8_S: u16 = 0x002C;
/// `i32.load8_u`.
pub const I32_LOAD8_U: u16 = 0x002D;
/// `i32.load16_s`.
pub const I32_LOAD16_S: u16 = 0x002E;
/// `i32.load16_u`.
pub const I32_LOAD16_U: u16 = 0x002F;
/// `i64.load8_s`.
pub const I64_LOAD8_S: u16 = 0x0030;
/// `i64.load8_u`.
pub const I64_LOAD8_U: u16 = 0x0031;
/// `i64.load16_s`.
pub const I64_LOAD16_S: u16 = 0x0032;
/// `i64.load16_u`.
pub const I64_LOAD16_U: u16 = 0x0033;
/// `i64.load32_s`.
pub const I64_LOAD32_S: u16 = 0x0034;
/// Last load opcode (`i64.load32_u`).
pub const I64_LOAD32_U: u16 = 0x0035;
/// First store opcode (`i32.store`).
pub const I32_STORE: u16 = 0x0036;
/// `i64.store`.
pub const I64_STORE: u16 = 0x0037;
/// `i32.store8`.
pub const I32_STORE8: u16 = 0x003A;
/// `i32.store16`.
pub const I32_STORE16: u16 = 0x003B;
/// `i64.store8`.
pub const I64_STORE8: u16 = 0x003C;
/// `i64.store16`.
pub const I64_STORE16: u16 = 0x003D;
/// Last store opcode (`i64.store32`).
pub const I64_STORE32: u16 = 0x003E;
/// `i32.const`.
pub const I32_CONST: u16 = 0x0041;
/// `i64.const`.
pub const I64_CONST: u16 = 0x0042;
/// `i32.eqz`, the first integer compare opcode.
pub const I32_EQZ: u16 = 0x0045;
/// `i64.ge_u`, the last integer compare opcode.
pub const I64_GE_U: u16 = 0x005A;
/// `i32.clz`, the first integer arithmetic opcode.
pub const I32_CLZ: u16 = 0x0067;
/// `i32.sub`.
pub const I32_SUB: u16 = 0x006B;
/// `i32.mul`.
pub const I32_MUL: u16 = 0x006C;
/// `i64.rotr`, the last integer arithmetic opcode.
pub const I64_ROTR: u16 = 0x008A;
/// `i32.wrap_i64`.
pub const I32_WRAP_I64: u16 = 0x00A7;
/// `i64.extend_i32_s`.
pub const I64_EXTEND_I32_S: u16 = 0x00AC;
/// `i64.extend_i32_u`.
pub const I64_EXTEND_I32_U: u16 = 0x00AD;
/// `i32.extend8_s`, the first sign-extension opcode.
pub const I32_EXTEND8_S: u16 = 0x00C0;
/// `i64.extend32_s`, the last sign-extension opcode.
pub const I64_EXTEND32_S: u16 = 0x00C4;
/// `MemoryCopyChunk`: one bounded chunk of `memory.copy`.
pub const MEMORY_COPY_CHUNK: u16 = 0xFC0A;
/// `MemoryFillChunk`: one bounded chunk of `memory.fill`.
pub const MEMORY_FILL_CHUNK: u16 = 0xFC0B;
/// `Jump{target}`.
pub const JUMP: u16 = 0x8000;
/// `JumpIfZero{target}`.
pub const JUMP_IF_ZERO: u16 = 0x8001;
/// `Branch{target, keep, drop}`.
pub const BRANCH: u16 = 0x8002;
/// `BranchIf{target, keep, drop}`.
pub const BRANCH_IF: u16 = 0x8003;
/// `BranchTable{count}`.
pub const BRANCH_TABLE: u16 = 0x8004;
/// `TableEntry{target, keep, drop}` (data; executing one traps).
pub const TABLE_ENTRY: u16 = 0x8005;
/// `Return{keep, drop}`.
pub const RETURN: u16 = 0x8006;
/// `StepEnd`: back to pc 0, the boundary state.
pub const STEP_END: u16 = 0x8007;

/// One flat instruction: an opcode and its 64-bit immediate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Instruction {
    /// The opcode (table "Immediates" of the spec).
    pub opcode: u16,
    /// The immediate, packed per opcode.
    pub imm: u64,
}

impl Instruction {
    /// An instruction from its parts.
    pub const fn new(opcode: u16, imm: u64) -> Self {
        Self { opcode, imm }
    }
}

/// The unpacked immediate of `Call`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CallImm {
    /// pc of the callee's first instruction.
    pub target: u32,
    /// Number of parameters popped from the value stack.
    pub params: u16,
    /// Depth of the callee's locals tree.
    pub depth: u8,
}

impl CallImm {
    /// Packs into bits 0-31 target, 32-47 params, 48-55 depth.
    pub fn pack(self) -> u64 {
        u64::from(self.target) | (u64::from(self.params) << 32) | (u64::from(self.depth) << 48)
    }

    /// Unpacks (bits 56-63 are ignored).
    pub fn unpack(imm: u64) -> Self {
        Self {
            target: imm as u32,
            params: (imm >> 32) as u16,
            depth: (imm >> 48) as u8,
        }
    }
}

/// The unpacked immediate of `Branch`, `BranchIf`, `TableEntry` and `Return`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BranchImm {
    /// Target pc (ignored by `Return`).
    pub target: u32,
    /// Values kept on top (0 or 1).
    pub keep: u8,
    /// Values dropped below the kept ones (24 bits).
    pub drop: u32,
}

/// Largest `drop` a branch immediate can hold (24 bits).
pub const MAX_DROP: u32 = (1 << 24) - 1;

impl BranchImm {
    /// Packs into bits 0-31 target, 32-39 keep, 40-63 drop.
    pub fn pack(self) -> u64 {
        u64::from(self.target) | (u64::from(self.keep) << 32) | (u64::from(self.drop) << 40)
    }

    /// Unpacks.
    pub fn unpack(imm: u64) -> Self {
        Self {
            target: imm as u32,
            keep: (imm >> 32) as u8,
            drop: (imm >> 40) as u32,
        }
    }

    /// `keep + drop`: the values the instruction pops before pushing the kept ones back.
    pub fn popped(self) -> usize {
        usize::from(self.keep) + self.drop as usize
    }
}

/// Byte width of a load or store opcode.
pub fn access_width(opcode: u16) -> u64 {
    match opcode {
        I32_LOAD | I32_STORE | I64_LOAD32_S | I64_LOAD32_U | I64_STORE32 => 4,
        I64_LOAD | I64_STORE => 8,
        I32_LOAD8_S | I32_LOAD8_U | I64_LOAD8_S | I64_LOAD8_U | I32_STORE8 | I64_STORE8 => 1,
        _ => 2,
    }
}

/// Whether `opcode` is one of the integer loads the machine implements.
pub fn is_load(opcode: u16) -> bool {
    matches!(opcode, I32_LOAD | I64_LOAD | I32_LOAD8_S..=I64_LOAD32_U)
}

/// Whether `opcode` is one of the integer stores the machine implements.
pub fn is_store(opcode: u16) -> bool {
    matches!(opcode, I32_STORE | I64_STORE | I32_STORE8..=I64_STORE32)
}

/// Whether `opcode` is a pure numeric operation (compare, arithmetic, conversion, extension).
pub fn is_numeric(opcode: u16) -> bool {
    matches!(
        opcode,
        I32_EQZ..=I64_GE_U
            | I32_CLZ..=I64_ROTR
            | I32_WRAP_I64
            | I64_EXTEND_I32_S
            | I64_EXTEND_I32_U
            | I32_EXTEND8_S..=I64_EXTEND32_S
    )
}

/// A short human name of an opcode, for test vector names and errors.
pub fn name(opcode: u16) -> &'static str {
    match opcode {
        UNREACHABLE => "unreachable",
        CALL => "Call",
        DROP => "drop",
        SELECT => "select",
        LOCAL_GET => "local.get",
        LOCAL_SET => "local.set",
        LOCAL_TEE => "local.tee",
        GLOBAL_GET => "global.get",
        GLOBAL_SET => "global.set",
        I32_CONST => "i32.const",
        I64_CONST => "i64.const",
        MEMORY_COPY_CHUNK => "MemoryCopyChunk",
        MEMORY_FILL_CHUNK => "MemoryFillChunk",
        JUMP => "Jump",
        JUMP_IF_ZERO => "JumpIfZero",
        BRANCH => "Branch",
        BRANCH_IF => "BranchIf",
        BRANCH_TABLE => "BranchTable",
        TABLE_ENTRY => "TableEntry",
        RETURN => "Return",
        STEP_END => "StepEnd",
        op if is_load(op) => "load",
        op if is_store(op) => "store",
        op if is_numeric(op) => "numeric",
        _ => "unknown",
    }
}
