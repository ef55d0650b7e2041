//! End-to-end harness of veritrace: a real anvil chain, the real contracts, and the demo story
//! told on top of them.

pub mod chain;
pub mod demo;
pub mod model;
pub mod osp;
pub mod paths;
pub mod protocol_gas;
pub mod proxy;
pub mod story;
pub mod tx;
pub mod world;

pub use chain::{ChainError, LocalChain};
