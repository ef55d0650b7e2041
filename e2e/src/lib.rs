//! The end-to-end harness of veritrace: the one-step prover run in revm against the Rust
//! machine (differential fuzzing, the gas table), the protocol gas scenarios, and a fault
//! injecting RPC proxies, and a bare dispute game for the chain plumbing tests. The local stack itself (anvil, deployment, daemons) is
//! `veritrace-devnet`; the tests in `tests/` play on it.

pub mod bare_game;
pub mod osp;
pub mod protocol_gas;
pub mod proxy;
