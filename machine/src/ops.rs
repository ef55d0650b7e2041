//! The mapping from wasmparser operators to the machine's opcodes for the pure numeric
//! instructions and the loads and stores (wasm numbering).

use wasmparser::{MemArg, Operator};

/// The opcode of a numeric operator of the subset (compare, arithmetic, conversion, extension).
pub(crate) fn numeric_opcode(op: &Operator<'_>) -> Option<u16> {
    Some(match op {
        Operator::I32Eqz => 0x0045,
        Operator::I32Eq => 0x0046,
        Operator::I32Ne => 0x0047,
        Operator::I32LtS => 0x0048,
        Operator::I32LtU => 0x0049,
        Operator::I32GtS => 0x004A,
        Operator::I32GtU => 0x004B,
        Operator::I32LeS => 0x004C,
        Operator::I32LeU => 0x004D,
        Operator::I32GeS => 0x004E,
        Operator::I32GeU => 0x004F,
        Operator::I64Eqz => 0x0050,
        Operator::I64Eq => 0x0051,
        Operator::I64Ne => 0x0052,
        Operator::I64LtS => 0x0053,
        Operator::I64LtU => 0x0054,
        Operator::I64GtS => 0x0055,
        Operator::I64GtU => 0x0056,
        Operator::I64LeS => 0x0057,
        Operator::I64LeU => 0x0058,
        Operator::I64GeS => 0x0059,
        Operator::I64GeU => 0x005A,
        Operator::I32Clz => 0x0067,
        Operator::I32Ctz => 0x0068,
        Operator::I32Popcnt => 0x0069,
        Operator::I32Add => 0x006A,
        Operator::I32Sub => 0x006B,
        Operator::I32Mul => 0x006C,
        Operator::I32DivS => 0x006D,
        Operator::I32DivU => 0x006E,
        Operator::I32RemS => 0x006F,
        Operator::I32RemU => 0x0070,
        Operator::I32And => 0x0071,
        Operator::I32Or => 0x0072,
        Operator::I32Xor => 0x0073,
        Operator::I32Shl => 0x0074,
        Operator::I32ShrS => 0x0075,
        Operator::I32ShrU => 0x0076,
        Operator::I32Rotl => 0x0077,
        Operator::I32Rotr => 0x0078,
        Operator::I64Clz => 0x0079,
        Operator::I64Ctz => 0x007A,
        Operator::I64Popcnt => 0x007B,
        Operator::I64Add => 0x007C,
        Operator::I64Sub => 0x007D,
        Operator::I64Mul => 0x007E,
        Operator::I64DivS => 0x007F,
        Operator::I64DivU => 0x0080,
        Operator::I64RemS => 0x0081,
        Operator::I64RemU => 0x0082,
        Operator::I64And => 0x0083,
        Operator::I64Or => 0x0084,
        Operator::I64Xor => 0x0085,
        Operator::I64Shl => 0x0086,
        Operator::I64ShrS => 0x0087,
        Operator::I64ShrU => 0x0088,
        Operator::I64Rotl => 0x0089,
        Operator::I64Rotr => 0x008A,
        Operator::I32WrapI64 => 0x00A7,
        Operator::I64ExtendI32S => 0x00AC,
        Operator::I64ExtendI32U => 0x00AD,
        Operator::I32Extend8S => 0x00C0,
        Operator::I32Extend16S => 0x00C1,
        Operator::I64Extend8S => 0x00C2,
        Operator::I64Extend16S => 0x00C3,
        Operator::I64Extend32S => 0x00C4,
        _ => return None,
    })
}

/// The opcode and memory argument of a load or store of the subset.
pub(crate) fn memory_opcode<'m>(op: &'m Operator<'_>) -> Option<(u16, &'m MemArg)> {
    Some(match op {
        Operator::I32Load { memarg } => (0x0028, memarg),
        Operator::I64Load { memarg } => (0x0029, memarg),
        Operator::I32Load8S { memarg } => (0x002C, memarg),
        Operator::I32Load8U { memarg } => (0x002D, memarg),
        Operator::I32Load16S { memarg } => (0x002E, memarg),
        Operator::I32Load16U { memarg } => (0x002F, memarg),
        Operator::I64Load8S { memarg } => (0x0030, memarg),
        Operator::I64Load8U { memarg } => (0x0031, memarg),
        Operator::I64Load16S { memarg } => (0x0032, memarg),
        Operator::I64Load16U { memarg } => (0x0033, memarg),
        Operator::I64Load32S { memarg } => (0x0034, memarg),
        Operator::I64Load32U { memarg } => (0x0035, memarg),
        Operator::I32Store { memarg } => (0x0036, memarg),
        Operator::I64Store { memarg } => (0x0037, memarg),
        Operator::I32Store8 { memarg } => (0x003A, memarg),
        Operator::I32Store16 { memarg } => (0x003B, memarg),
        Operator::I64Store8 { memarg } => (0x003C, memarg),
        Operator::I64Store16 { memarg } => (0x003D, memarg),
        Operator::I64Store32 { memarg } => (0x003E, memarg),
        _ => return None,
    })
}

/// How many values a numeric opcode pops (it always pushes one).
pub(crate) fn numeric_arity(opcode: u16) -> u32 {
    match opcode {
        0x45 | 0x50 | 0x67..=0x69 | 0x79..=0x7B | 0xA7 | 0xAC | 0xAD | 0xC0..=0xC4 => 1,
        _ => 2,
    }
}
