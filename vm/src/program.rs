//! The canonical wasm program: the committed bytes of `vm/program/veritrace.wasm`, the module
//! actually run for a model (its memory section sized to the model's layout), and its static data.
//!
//! The program is built once for every model, with a 2 MiB memory (the Program region). A model's
//! machine needs `2^memoryLog2` bytes, so [`module_for`] rewrites the memory section to exactly
//! that size (minimum = maximum, no growth) and changes nothing else. The program root commits to
//! the code only, so it is the same for every memory size; the memory size is part of the
//! registered layout (docs/machine.md, "The canonical program").

use sha3::{Digest, Keccak256};
use wasmparser::{DataKind, Operator, Parser, Payload};

use crate::error::{Result, VmError};
use crate::semantics::layout::PROGRAM_LOG2;

/// The canonical program as committed (`make program` rebuilds it; `make lint` checks that a
/// fresh build reproduces it byte for byte).
pub const CANONICAL_WASM: &[u8] = include_bytes!("../program/veritrace.wasm");

/// keccak256 of [`CANONICAL_WASM`]; a change of the program must change this line too.
pub const CANONICAL_WASM_KECCAK: [u8; 32] =
    hex_literal(b"b8fa98e6fb6bde21f65dde6a69fe5e0a2aaaad76054f8a131d1820f3efe57242");

/// Bytes of shadow stack at the bottom of memory, `[0, STACK_SIZE)` (set by the program's link
/// flags). The program zeroes it before `step()` returns.
pub const STACK_SIZE: usize = 256 * 1024;

/// One active data segment of the program: bytes copied to `offset` when it is instantiated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StaticData {
    /// Memory offset of the first byte.
    pub offset: usize,
    /// The bytes.
    pub bytes: Vec<u8>,
}

/// keccak256 of a wasm module's bytes.
pub fn wasm_hash(wasm: &[u8]) -> [u8; 32] {
    Keccak256::digest(wasm).into()
}

/// The canonical module with a memory of exactly `2^memory_log2` bytes.
pub fn module_for(memory_log2: u32) -> Result<Vec<u8>> {
    with_memory_size(CANONICAL_WASM, memory_log2)
}

/// `wasm` with its single memory's limits replaced by minimum = maximum = `2^memory_log2`
/// bytes; every other section is copied unchanged.
pub fn with_memory_size(wasm: &[u8], memory_log2: u32) -> Result<Vec<u8>> {
    if !(16..=32).contains(&memory_log2) {
        return Err(bad(format!("memory of 2^{memory_log2} bytes (16..=32)")));
    }
    let pages = 1u64 << (memory_log2 - 16);
    // Validate first (so every section boundary below is trustworthy), then walk the sections:
    // id byte, LEB128 size, contents.
    wasmparser::Validator::new()
        .validate_all(wasm)
        .map_err(|e| bad(e.to_string()))?;
    let mut out = wasm[..8].to_vec();
    let mut at = 8;
    let mut replaced = false;
    while at < wasm.len() {
        let id = wasm[at];
        let (size, contents) = read_leb128(wasm, at + 1)?;
        let end = contents + size as usize;
        if id == 5 {
            let mut body = vec![1u8, 0x01]; // one memory; limits with a maximum
            leb128(&mut body, pages);
            leb128(&mut body, pages);
            out.push(5);
            leb128(&mut out, body.len() as u64);
            out.extend_from_slice(&body);
            replaced = true;
        } else {
            out.extend_from_slice(&wasm[at..end]);
        }
        at = end;
    }
    if !replaced {
        return Err(bad("the module has no memory section".into()));
    }
    Ok(out)
}

/// The program's active data segments (its static data).
pub fn static_data(wasm: &[u8]) -> Result<Vec<StaticData>> {
    let mut out = Vec::new();
    for payload in Parser::new(0).parse_all(wasm) {
        if let Payload::DataSection(reader) = payload.map_err(|e| bad(e.to_string()))? {
            for data in reader {
                let data = data.map_err(|e| bad(e.to_string()))?;
                let DataKind::Active {
                    memory_index: 0,
                    offset_expr,
                } = data.kind
                else {
                    return Err(bad(
                        "a data segment is not an active segment of memory 0".into()
                    ));
                };
                let mut ops = offset_expr.get_operators_reader();
                let offset = match ops.read().map_err(|e| bad(e.to_string()))? {
                    Operator::I32Const { value } => value as u32 as usize,
                    op => return Err(bad(format!("data offset is not i32.const: {op:?}"))),
                };
                out.push(StaticData {
                    offset,
                    bytes: data.data.to_vec(),
                });
            }
        }
    }
    Ok(out)
}

/// Writes the canonical program's static data into a machine memory: the only non-zero bytes of
/// the Program region at a step boundary.
pub fn write_static_data(mem: &mut [u8]) {
    for d in canonical_static_data() {
        mem[d.offset..d.offset + d.bytes.len()].copy_from_slice(&d.bytes);
    }
}

/// The canonical program's static data, parsed once; it lies inside the Program region above
/// the stack (checked by the tests).
pub fn canonical_static_data() -> &'static [StaticData] {
    static DATA: std::sync::OnceLock<Vec<StaticData>> = std::sync::OnceLock::new();
    DATA.get_or_init(|| static_data(CANONICAL_WASM).expect("the committed program parses"))
}

/// Size of the Program region.
pub const PROGRAM_REGION_SIZE: usize = 1 << PROGRAM_LOG2;

fn bad(reason: String) -> VmError {
    VmError::Program(reason)
}

/// An unsigned LEB128 at `at`: its value and the offset after it.
fn read_leb128(wasm: &[u8], mut at: usize) -> Result<(u64, usize)> {
    let mut value = 0u64;
    for shift in (0..35).step_by(7) {
        let byte = *wasm
            .get(at)
            .ok_or_else(|| bad("truncated section size".into()))?;
        at += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok((value, at));
        }
    }
    Err(bad("section size longer than 5 bytes".into()))
}

fn leb128(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

const fn hex_literal(hex: &[u8; 64]) -> [u8; 32] {
    const fn nibble(c: u8) -> u8 {
        match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            _ => panic!("lowercase hex"),
        }
    }
    let mut out = [0u8; 32];
    let mut i = 0;
    while i < 32 {
        out[i] = nibble(hex[2 * i]) << 4 | nibble(hex[2 * i + 1]);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pinned_hash_is_the_committed_program() {
        assert_eq!(
            hex::encode(wasm_hash(CANONICAL_WASM)),
            hex::encode(CANONICAL_WASM_KECCAK),
            "vm/program/veritrace.wasm changed: update CANONICAL_WASM_KECCAK"
        );
    }

    #[test]
    fn memory_rewrite_changes_only_the_limits() {
        for log2 in [16, 21, 28, 32] {
            let m = module_for(log2).unwrap();
            let pages = 1u64 << (log2 - 16);
            let mut seen = None;
            for p in Parser::new(0).parse_all(&m) {
                if let Payload::MemorySection(r) = p.unwrap() {
                    let mem: Vec<_> = r
                        .into_iter()
                        .collect::<std::result::Result<_, _>>()
                        .unwrap();
                    seen = Some((mem.len(), mem[0].initial, mem[0].maximum));
                }
            }
            assert_eq!(seen, Some((1, pages, Some(pages))), "log2 {log2}");
            assert_eq!(static_data(&m).unwrap(), canonical_static_data());
            // Back to 2 MiB gives the committed bytes exactly.
            assert_eq!(with_memory_size(&m, 21).unwrap(), CANONICAL_WASM);
        }
        assert!(module_for(15).is_err() && module_for(33).is_err());
        assert!(with_memory_size(b"\0asm\x01\0\0\0", 20).is_err());
    }

    #[test]
    fn static_data_lies_in_the_program_region_above_the_stack() {
        let data = canonical_static_data();
        assert!(!data.is_empty());
        for d in data {
            assert!(
                d.offset >= STACK_SIZE,
                "segment at {:#x} overlaps the stack",
                d.offset
            );
            assert!(d.offset + d.bytes.len() <= PROGRAM_REGION_SIZE);
        }
    }
}
