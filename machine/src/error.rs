//! The validator's typed errors: each names the offending item.

use thiserror::Error;

/// Why a module is outside the subset the machine implements.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ValidationError {
    /// Not a valid wasm module at all (wasmparser's validator refused it).
    #[error("malformed module at byte {offset}: {message}")]
    Malformed {
        /// Byte offset in the module.
        offset: usize,
        /// The parser's message.
        message: String,
    },
    /// The module imports something.
    #[error("import {module}::{name} is not allowed (modules have no imports)")]
    Import {
        /// Import module name.
        module: String,
        /// Import field name.
        name: String,
    },
    /// A whole section is outside the subset (start, table, element, tag, passive data...).
    #[error("section {section} is not allowed: {reason}")]
    Section {
        /// The section's name.
        section: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The memory is missing, multiple, shared, 64-bit, growable or of a bad size.
    #[error("memory: {0}")]
    Memory(String),
    /// A global is of a refused type, or mutable without being the shadow-stack pointer.
    #[error("global {index}: {reason}")]
    Global {
        /// Global index.
        index: u32,
        /// What is wrong with it.
        reason: String,
    },
    /// A function type uses floats, SIMD or reference values, or returns several values.
    #[error("function {function}: type {reason}")]
    Signature {
        /// Function index.
        function: u32,
        /// What is wrong with it.
        reason: String,
    },
    /// A local of a refused type, or too many locals.
    #[error("function {function}: locals: {reason}")]
    Locals {
        /// Function index.
        function: u32,
        /// What is wrong with them.
        reason: String,
    },
    /// An instruction outside the subset.
    #[error("function {function}, byte {offset}: instruction {instruction} is not allowed")]
    Instruction {
        /// Function index.
        function: u32,
        /// Byte offset of the instruction in the module.
        offset: usize,
        /// The instruction as wasmparser prints it.
        instruction: String,
    },
    /// A data segment is not active, or its offset is not a constant in bounds.
    #[error("data segment {index}: {reason}")]
    Data {
        /// Segment index.
        index: u32,
        /// What is wrong with it.
        reason: String,
    },
    /// No exported function `step` of type `[] -> []`.
    #[error("export step: {0}")]
    Step(String),
    /// The flat code would not fit the immediates (pc, drop count, parameter count...).
    #[error("function {function}: {reason}")]
    Limit {
        /// Function index.
        function: u32,
        /// Which limit.
        reason: String,
    },
}

impl From<wasmparser::BinaryReaderError> for ValidationError {
    fn from(e: wasmparser::BinaryReaderError) -> Self {
        ValidationError::Malformed {
            offset: e.offset(),
            message: e.message().to_string(),
        }
    }
}
