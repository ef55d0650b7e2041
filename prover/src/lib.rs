//! The executor of veritrace: runs requested inferences, commits to their layer traces and
//! answers disputes. Built on [`veritrace_vm`].

pub mod answer;
pub mod chain;
pub mod commitments;
pub mod daemon;
pub mod dissection;
pub mod executor;
pub mod forgery;
pub mod game;
pub mod metrics;
pub mod model_machine;
pub mod real_source;
pub mod recorder;
pub mod registration;
pub mod store;
pub mod submission;
pub mod trace;

/// A 32-byte keccak256 hash.
pub type Hash = [u8; 32];

/// keccak256 of `left ‖ right`: the node hash of every binary Merkle tree in veritrace.
pub fn hash_pair(left: &Hash, right: &Hash) -> Hash {
    use sha3::{Digest, Keccak256};
    let mut hasher = Keccak256::new();
    hasher.update(left);
    hasher.update(right);
    hasher.finalize().into()
}
