//! The executor of veritrace: follows the requests for the models it serves, answers them at
//! native speed with the layer trace recorded, commits and submits with a bond, defends every
//! dispute to the end and finalizes its answers. Built on `veritrace-node` (chain, state,
//! games) and `veritrace-tracer` (runs and their traces).

pub mod executor;
pub mod runner;

pub use executor::{Executor, ExecutorConfig};
pub use runner::{HonestRun, Runner};
