//! The Merkleized wasm machine of veritrace: the canonical program flattened into provable
//! instructions, the machine state and its hash, the stepping interpreter and one-step proofs.
//! The format is specified in `docs/architecture.md`, section "The wasm machine".
