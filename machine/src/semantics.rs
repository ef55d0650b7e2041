//! Pure instruction semantics shared by the interpreter and the proof checker: integer
//! arithmetic with wasm's exact rules, load/store value conversion, and the planning of one
//! `MemoryCopyChunk` / `MemoryFillChunk` step.

use crate::opcode as op;

/// Why an instruction traps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trap {
    /// `unreachable` was executed.
    Unreachable,
    /// A memory access or bulk operation out of bounds.
    OutOfBounds,
    /// Integer division or remainder by zero.
    DivideByZero,
    /// `div_s` of the minimum value by -1.
    IntegerOverflow,
    /// A `TableEntry` was executed as an instruction.
    TableEntry,
}

fn bool_value(b: bool) -> u64 {
    u64::from(b)
}

/// A unary numeric opcode applied to `a` (i32 operands are read from the low 32 bits).
pub fn unary(opcode: u16, a: u64) -> u64 {
    let x = a as u32;
    match opcode {
        0x45 => bool_value(x == 0),
        0x50 => bool_value(a == 0),
        0x67 => u64::from(x.leading_zeros()),
        0x68 => u64::from(x.trailing_zeros()),
        0x69 => u64::from(x.count_ones()),
        0x79 => u64::from(a.leading_zeros()),
        0x7A => u64::from(a.trailing_zeros()),
        0x7B => u64::from(a.count_ones()),
        op::I32_WRAP_I64 => u64::from(x),
        op::I64_EXTEND_I32_S => i64::from(x as i32) as u64,
        op::I64_EXTEND_I32_U => u64::from(x),
        0xC0 => u64::from(i32::from(x as i8) as u32),
        0xC1 => u64::from(i32::from(x as i16) as u32),
        0xC2 => i64::from(a as i8) as u64,
        0xC3 => i64::from(a as i16) as u64,
        0xC4 => i64::from(a as i32) as u64,
        _ => unreachable!("not a unary opcode: {opcode:#x}"),
    }
}

/// A binary numeric opcode applied to `a` (below) and `b` (top).
pub fn binary(opcode: u16, a: u64, b: u64) -> Result<u64, Trap> {
    if (0x46..=0x4F).contains(&opcode) || (0x6A..=0x78).contains(&opcode) {
        return binary32(opcode, a as u32, b as u32).map(u64::from);
    }
    let (sa, sb) = (a as i64, b as i64);
    Ok(match opcode {
        0x51 => bool_value(a == b),
        0x52 => bool_value(a != b),
        0x53 => bool_value(sa < sb),
        0x54 => bool_value(a < b),
        0x55 => bool_value(sa > sb),
        0x56 => bool_value(a > b),
        0x57 => bool_value(sa <= sb),
        0x58 => bool_value(a <= b),
        0x59 => bool_value(sa >= sb),
        0x5A => bool_value(a >= b),
        0x7C => a.wrapping_add(b),
        0x7D => a.wrapping_sub(b),
        0x7E => a.wrapping_mul(b),
        0x7F => div_s64(sa, sb)? as u64,
        0x80 => a.checked_div(b).ok_or(Trap::DivideByZero)?,
        0x81 => sa.checked_rem(sb).map_or_else(|| rem_edge(sb), Ok)? as u64,
        0x82 => a.checked_rem(b).ok_or(Trap::DivideByZero)?,
        0x83 => a & b,
        0x84 => a | b,
        0x85 => a ^ b,
        0x86 => a.wrapping_shl(b as u32),
        0x87 => sa.wrapping_shr(b as u32) as u64,
        0x88 => a.wrapping_shr(b as u32),
        0x89 => a.rotate_left((b & 63) as u32),
        0x8A => a.rotate_right((b & 63) as u32),
        _ => unreachable!("not a binary opcode: {opcode:#x}"),
    })
}

fn div_s64(a: i64, b: i64) -> Result<i64, Trap> {
    match (a, b) {
        (_, 0) => Err(Trap::DivideByZero),
        (i64::MIN, -1) => Err(Trap::IntegerOverflow),
        _ => Ok(a / b),
    }
}

/// `rem_s` when `checked_rem` fails: by zero traps, `MIN % -1` is 0.
fn rem_edge<T: Default>(b: i64) -> Result<T, Trap> {
    if b == 0 {
        Err(Trap::DivideByZero)
    } else {
        Ok(T::default())
    }
}

fn binary32(opcode: u16, a: u32, b: u32) -> Result<u32, Trap> {
    let (sa, sb) = (a as i32, b as i32);
    Ok(match opcode {
        0x46 => u32::from(a == b),
        0x47 => u32::from(a != b),
        0x48 => u32::from(sa < sb),
        0x49 => u32::from(a < b),
        0x4A => u32::from(sa > sb),
        0x4B => u32::from(a > b),
        0x4C => u32::from(sa <= sb),
        0x4D => u32::from(a <= b),
        0x4E => u32::from(sa >= sb),
        0x4F => u32::from(a >= b),
        0x6A => a.wrapping_add(b),
        0x6B => a.wrapping_sub(b),
        0x6C => a.wrapping_mul(b),
        0x6D => match (sa, sb) {
            (_, 0) => return Err(Trap::DivideByZero),
            (i32::MIN, -1) => return Err(Trap::IntegerOverflow),
            _ => (sa / sb) as u32,
        },
        0x6E => a.checked_div(b).ok_or(Trap::DivideByZero)?,
        0x6F => sa
            .checked_rem(sb)
            .map_or_else(|| rem_edge(i64::from(sb)), Ok)? as u32,
        0x70 => a.checked_rem(b).ok_or(Trap::DivideByZero)?,
        0x71 => a & b,
        0x72 => a | b,
        0x73 => a ^ b,
        0x74 => a.wrapping_shl(b),
        0x75 => sa.wrapping_shr(b) as u32,
        0x76 => a.wrapping_shr(b),
        0x77 => a.rotate_left(b & 31),
        0x78 => a.rotate_right(b & 31),
        _ => unreachable!("not a binary i32 opcode: {opcode:#x}"),
    })
}

/// The effective address of an access of `width` bytes, or `OutOfBounds`.
pub fn effective_address(
    addr: u64,
    offset: u64,
    width: u64,
    memory_size: u64,
) -> Result<u64, Trap> {
    // Wide arithmetic: never overflows, even for operands no honest state holds.
    let ea = u128::from(addr) + u128::from(offset);
    if ea + u128::from(width) > u128::from(memory_size) {
        Err(Trap::OutOfBounds)
    } else {
        Ok(ea as u64)
    }
}

/// The value a load pushes, from the little-endian bytes it read.
pub fn load_value(opcode: u16, bytes: &[u8]) -> u64 {
    let mut raw = [0u8; 8];
    raw[..bytes.len()].copy_from_slice(bytes);
    let raw = u64::from_le_bytes(raw);
    match opcode {
        op::I32_LOAD | op::I32_LOAD8_U | op::I32_LOAD16_U => raw,
        op::I64_LOAD | op::I64_LOAD8_U | op::I64_LOAD16_U | op::I64_LOAD32_U => raw,
        op::I32_LOAD8_S => u64::from(i32::from(raw as i8) as u32),
        op::I32_LOAD16_S => u64::from(i32::from(raw as i16) as u32),
        op::I64_LOAD8_S => i64::from(raw as i8) as u64,
        op::I64_LOAD16_S => i64::from(raw as i16) as u64,
        op::I64_LOAD32_S => i64::from(raw as i32) as u64,
        _ => unreachable!("not a load: {opcode:#x}"),
    }
}

/// One executed chunk of a bulk memory instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Chunk {
    /// First source byte (copy only; the fill value for fill).
    pub src: u64,
    /// First destination byte.
    pub dst: u64,
    /// Bytes in this chunk (1..=32, within one leaf on each side).
    pub len: u64,
    /// The three stack values afterwards, `dst, src|val, n` order (n on top).
    pub next: [u64; 3],
}

/// Plans one `MemoryCopyChunk` for stack `dst, src, n`; `None` when `n = 0` (the instruction
/// pops all three and moves on).
pub fn copy_chunk(dst: u64, src: u64, n: u64, memory_size: u64) -> Result<Option<Chunk>, Trap> {
    let fits = |x: u64| u128::from(x) + u128::from(n) <= u128::from(memory_size);
    if !fits(src) || !fits(dst) {
        return Err(Trap::OutOfBounds);
    }
    if n == 0 {
        return Ok(None);
    }
    let to_leaf_end = |x: u64| 32 - x % 32;
    let from_leaf_start = |x: u64| if x.is_multiple_of(32) { 32 } else { x % 32 };
    Ok(Some(if dst <= src || dst >= src + n {
        let k = n.min(to_leaf_end(dst)).min(to_leaf_end(src));
        Chunk {
            src,
            dst,
            len: k,
            next: [dst + k, src + k, n - k],
        }
    } else {
        let k = n
            .min(from_leaf_start(dst + n))
            .min(from_leaf_start(src + n));
        Chunk {
            src: src + n - k,
            dst: dst + n - k,
            len: k,
            next: [dst, src, n - k],
        }
    }))
}

/// Plans one `MemoryFillChunk` for stack `dst, val, n`; `None` when `n = 0`.
pub fn fill_chunk(dst: u64, val: u64, n: u64, memory_size: u64) -> Result<Option<Chunk>, Trap> {
    if u128::from(dst) + u128::from(n) > u128::from(memory_size) {
        return Err(Trap::OutOfBounds);
    }
    if n == 0 {
        return Ok(None);
    }
    let k = n.min(32 - dst % 32);
    Ok(Some(Chunk {
        src: val,
        dst,
        len: k,
        next: [dst + k, val, n - k],
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn i32_results_are_zero_extended() {
        assert_eq!(binary(0x6B, 0, 1), Ok(0xFFFF_FFFF));
        assert_eq!(unary(0xC0, 0x80), 0xFFFF_FF80);
        assert_eq!(load_value(op::I32_LOAD8_S, &[0xFF]), 0xFFFF_FFFF);
    }

    #[test]
    fn division_edges() {
        assert_eq!(
            binary(0x6D, 0x8000_0000, 0xFFFF_FFFF),
            Err(Trap::IntegerOverflow)
        );
        assert_eq!(binary(0x6F, 0x8000_0000, 0xFFFF_FFFF), Ok(0));
        assert_eq!(binary(0x81, i64::MIN as u64, u64::MAX), Ok(0));
        assert_eq!(binary(0x82, 5, 0), Err(Trap::DivideByZero));
        assert_eq!(binary(0x6F, 7, 0), Err(Trap::DivideByZero));
    }

    #[test]
    fn backward_copy_chunks_end_at_leaf_starts() {
        let c = copy_chunk(40, 30, 20, 1024).unwrap().unwrap();
        assert_eq!((c.src, c.dst, c.len, c.next), (32, 42, 18, [40, 30, 2]));
    }
}
