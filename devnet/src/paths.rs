//! Where the project's tools and files are, relative to the checkout.

use std::path::PathBuf;

/// The repository root (the folder holding the workspace `Cargo.toml`).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("e2e/ lives inside the repository")
        .to_path_buf()
}

/// The anvil binary: `$VERITRACE_ANVIL` if set, else the one `npm ci` installs.
pub fn anvil_binary() -> PathBuf {
    std::env::var_os("VERITRACE_ANVIL")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil"))
}

/// The real model file that `make model` fetches.
pub fn smollm2_gguf() -> PathBuf {
    std::env::var_os("VERITRACE_MODEL")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("models/SmolLM2-135M-Instruct.Q4_1.gguf"))
}
