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

/// keccak256 of `left ‖ right`: the node hash of every binary Merkle tree in veritrace (the
/// machine's, so that there is one implementation).
pub fn hash_pair(left: &Hash, right: &Hash) -> Hash {
    veritrace_machine::hash::node(left, right)
}
