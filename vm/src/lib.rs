//! The deterministic machine of veritrace: the integer model semantics, the model image, the
//! canonical wasm program and the commitments to its state. This crate does no network I/O.
