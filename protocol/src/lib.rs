//! The rules of the veritrace dispute game as pure functions, the Rust twin of
//! `solidity/src/DisputeGame.sol` and the submission checks of `InferenceOracle.sol`: the
//! layer-trace commitment, the dissection arithmetic, the moves of all three levels from a
//! party's own view of a run, and the answer claim with its commitment. No I/O: the daemons
//! (`veritrace-node`) read the chain and send what these functions decide.

pub mod answer;
pub mod dissection;
pub mod game;
pub mod region;
pub mod trace;

/// A 32-byte keccak256 hash.
pub use veritrace_machine::hash::Hash;
