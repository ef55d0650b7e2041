//! The deterministic machine of veritrace: the integer model semantics, the model image, the
//! canonical wasm program and the commitments to its state. This crate does no network I/O.
//!
//! * [`semantics`] is the machine itself: `no_std`, integer-only, allocation-free, operating on
//!   one flat byte memory. It builds for `wasm32-unknown-unknown` with `--no-default-features`.
//! * With the `std` feature (default): GGUF import into a model image ([`image`]), the
//!   tokenizer and chat template ([`tokenizer`]), request/answer encoding ([`io`]) and the
//!   driver ([`engine`]) over a [`Backend`]: [`Native`] or the canonical wasm program
//!   ([`program`]) in wasmtime ([`wasm`]).
#![cfg_attr(not(feature = "std"), no_std)]

pub mod semantics;

#[cfg(feature = "std")]
pub mod backend;
#[cfg(feature = "std")]
pub mod candle_backend;
#[cfg(feature = "std")]
pub mod engine;
#[cfg(feature = "std")]
pub mod error;
#[cfg(feature = "std")]
pub mod image;
#[cfg(feature = "std")]
pub mod io;
#[cfg(feature = "std")]
pub mod native;
#[cfg(feature = "std")]
pub mod pool;
#[cfg(feature = "std")]
pub mod program;
#[cfg(feature = "std")]
pub mod synthetic;
#[cfg(feature = "std")]
pub mod tokenizer;
#[cfg(feature = "std")]
pub mod wasm;

#[cfg(feature = "std")]
pub use backend::{Backend, Native};
#[cfg(feature = "std")]
pub use engine::{Engine, RunOutput, StepInfo};
#[cfg(feature = "std")]
pub use error::VmError;
#[cfg(feature = "std")]
pub use image::ModelImage;
#[cfg(feature = "std")]
pub use io::Request;
#[cfg(feature = "std")]
pub use wasm::Wasm;
