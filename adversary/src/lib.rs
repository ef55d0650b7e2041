//! The dishonest parties of veritrace, for attack tests and the demo: lies told on the real
//! machine ([`lie`]), forged traces that re-number an honest run's steps ([`forgery`]), and the
//! cheating executor built from them ([`cheat`]). Each lie is a [`BoundaryEdit`] of the run or
//! a [`TraceSource`] wrapper around an honest source, plugged into the daemons through their
//! hooks (`Executor::with_runner`, `Challenger::with_edit`). Nothing here is a dependency of
//! the daemon binaries: an operator's executor or challenger cannot lie by configuration.
//!
//! [`BoundaryEdit`]: veritrace_tracer::run_source::BoundaryEdit
//! [`TraceSource`]: veritrace_protocol::game::TraceSource

pub mod cheat;
pub mod forgery;
pub mod lie;

pub use cheat::{Cheat, Cheater};
pub use lie::{BadDissection, Lie, MemoryLie, bad_dissection_hash};
