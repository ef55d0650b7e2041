//! The local stack of veritrace: an anvil chain, the deployed protocol, the registered model,
//! honest and cheating daemons in one process, and the demo story told on top of them. Used by
//! the CLI (`veritrace demo`) and by the end-to-end tests.

pub mod chain;
pub mod demo;
pub mod paths;
pub mod story;
pub mod tx;
pub mod world;

pub use chain::{ChainError, LocalChain};
