//! Runs a model on the engine and on the Merkleized machine: records a request's layer trace
//! at native speed ([`recorder`]), prepares what an executor submits ([`submission`]), replays
//! any layer step inside the machine to answer a dispute's questions about a run
//! ([`run_source`]), and computes a model's registry entry ([`registration`]). Both daemons
//! build on it; the engines are `veritrace-vm`'s, the machine is `veritrace-machine`'s.

pub mod model_machine;
pub mod recorder;
pub mod registration;
pub mod run_source;
pub mod submission;
