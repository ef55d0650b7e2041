//! Reading proof bytes front to back, and the checker's errors.

use thiserror::Error;

use crate::hash::{Hash, StateFields};

/// Why a one-step proof is rejected.
#[derive(Debug, Error, Clone, Copy, PartialEq, Eq)]
pub enum ProofError {
    /// The proof ends before a field.
    #[error("proof truncated at byte {0}")]
    Truncated(usize),
    /// Bytes remain after the last field.
    #[error("{0} trailing bytes after the proof")]
    TrailingBytes(usize),
    /// The status byte is neither 0 nor 1.
    #[error("invalid status {0}")]
    BadStatus(u8),
    /// The instruction is not in the program at the pc (or the selected table entry's place).
    #[error("instruction not proven against the program root")]
    BadCodeProof,
    /// A `BranchTable` is not followed by a `TableEntry`.
    #[error("branch table entry is not a TableEntry")]
    NotATableEntry,
    /// The listed operands and rest hash do not hash to the value stack.
    #[error("value-stack operands do not match the value stack")]
    BadValueStack,
    /// The local or its path does not match the locals root.
    #[error("local not proven against the locals root")]
    BadLocalsProof,
    /// The listed globals do not hash to the globals hash, or the index is out of range.
    #[error("globals do not match the globals hash")]
    BadGlobals,
    /// A memory leaf or path does not match the memory root.
    #[error("memory leaf not proven against the memory root")]
    BadMemoryProof,
    /// The saved frame does not hash to the frames chain.
    #[error("saved frame does not match the frames chain")]
    BadFrame,
    /// The opcode is not one the machine implements.
    #[error("unsupported opcode {0:#06x}")]
    UnsupportedOpcode(u16),
    /// The memory size is outside `16 <= memoryLog2 <= 32`.
    #[error("memoryLog2 {0} is out of range")]
    BadMemorySize(u8),
    /// An immediate the flattener never produces (local index, locals depth, parameters).
    #[error("invalid immediate for opcode {0:#06x}")]
    BadImmediate(u16),
}

/// A cursor over proof bytes; every read is big-endian.
#[derive(Debug)]
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, pos: 0 }
    }

    fn take<const N: usize>(&mut self) -> Result<[u8; N], ProofError> {
        let end = self.pos + N;
        let slice = self
            .bytes
            .get(self.pos..end)
            .ok_or(ProofError::Truncated(self.pos))?;
        self.pos = end;
        Ok(slice.try_into().expect("N bytes"))
    }

    pub(crate) fn u8(&mut self) -> Result<u8, ProofError> {
        Ok(self.take::<1>()?[0])
    }

    pub(crate) fn u16(&mut self) -> Result<u16, ProofError> {
        Ok(u16::from_be_bytes(self.take()?))
    }

    pub(crate) fn u32(&mut self) -> Result<u32, ProofError> {
        Ok(u32::from_be_bytes(self.take()?))
    }

    pub(crate) fn u64(&mut self) -> Result<u64, ProofError> {
        Ok(u64::from_be_bytes(self.take()?))
    }

    pub(crate) fn b32(&mut self) -> Result<Hash, ProofError> {
        self.take()
    }

    pub(crate) fn hashes(&mut self, n: usize) -> Result<Vec<Hash>, ProofError> {
        (0..n).map(|_| self.b32()).collect()
    }

    /// The pre-state fields in machine-hash order.
    pub(crate) fn fields(&mut self) -> Result<StateFields, ProofError> {
        Ok(StateFields {
            status: self.u8()?,
            pc: self.u32()?,
            value_stack: self.b32()?,
            frames: self.b32()?,
            return_pc: self.u32()?,
            locals_depth: self.u8()?,
            locals_root: self.b32()?,
            globals_hash: self.b32()?,
            memory_root: self.b32()?,
        })
    }

    /// Fails unless every byte was read.
    pub(crate) fn finish(&self) -> Result<(), ProofError> {
        match self.bytes.len() - self.pos {
            0 => Ok(()),
            n => Err(ProofError::TrailingBytes(n)),
        }
    }
}
