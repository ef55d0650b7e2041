//! What the executor and challenger daemons share: the chain client (retries, nonces that
//! resynchronize, the game driver), event sync into the state database and the rewinds that
//! undo reorgs, the games a party records, the runs it holds in memory, the served models
//! checked against the registry, metrics, configuration and keys, and the poll loop that
//! survives faults.

pub mod chain;
pub mod config;
pub mod events;
pub mod games;
pub mod metrics;
pub mod models;
pub mod reorgs;
pub mod runs;
pub mod service;
pub mod store;
