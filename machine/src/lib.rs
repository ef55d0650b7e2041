//! The Merkleized wasm machine of veritrace: the canonical program flattened into provable
//! instructions, the machine state and its hash, the stepping interpreter and one-step proofs.
//! The format is specified in `docs/architecture.md`, section "The wasm machine".
//!
//! Flow: [`Program::from_wasm`] validates and flattens a module; [`Machine::new`] starts at a
//! step boundary; [`Machine::step`] executes one instruction and [`Machine::hash`] commits to
//! the state; [`Machine::prove_step`] writes the one-step proof that [`verify_step`] checks.

mod error;
mod flatten;
pub mod hash;
mod interp;
mod locals;
mod memory;
pub mod opcode;
mod ops;
mod program;
mod proof;
pub mod semantics;
mod stacks;
mod state;
#[cfg(feature = "testkit")]
pub mod testkit;
mod trace;
mod validate;
#[cfg(feature = "testkit")]
pub mod vectors;

pub use error::ValidationError;
pub use interp::StepOutcome;
pub use memory::MemoryTree;
pub use program::Program;
pub use proof::{ProofError, verify_step};
pub use semantics::Trap;
pub use state::Machine;
pub use trace::StepTrace;
pub use validate::{DataSegment, Module, validate};
