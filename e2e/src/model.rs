//! What the registry holds for a real model: see [`veritrace_prover::registration`], which the
//! executor and the challenger use to check the on-chain entry of the models they serve.

pub use veritrace_prover::registration::*;
