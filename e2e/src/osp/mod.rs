//! The Solidity one-step prover in an in-process EVM (revm): the harness, the differential
//! fuzzer against the Rust interpreter and checker, and the gas measurements per instruction
//! class. No anvil: every `executeStep` is a revm transaction, thousands per second.

pub mod classify;
pub mod evm;
pub mod fuzz;
pub mod gas;

pub use evm::{OspCall, OspEvm, OspEvmError, OspResult};
pub use fuzz::{FuzzConfig, FuzzStats, Fuzzer, Mismatch};
