//! Builds the Foundry project so that the `sol!` bindings in `src/` always read fresh artifacts:
//! an ABI change in `solidity/src` changes the generated Rust types and breaks the Rust build
//! instead of a running daemon.

use std::{path::PathBuf, process::Command};

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let root = manifest
        .parent()
        .expect("contracts/ has a parent")
        .to_path_buf();
    let solidity = root.join("solidity");
    let forge = root.join("node_modules/@foundry-rs/forge-linux-amd64/bin/forge");

    println!("cargo:rerun-if-changed={}", solidity.join("src").display());
    println!(
        "cargo:rerun-if-changed={}",
        solidity.join("foundry.toml").display()
    );
    println!(
        "cargo:rerun-if-changed={}",
        root.join("package-lock.json").display()
    );
    println!(
        "cargo:rerun-if-changed={}",
        root.join("tools/solc").display()
    );

    if !forge.exists() {
        panic!(
            "forge not found at {}: run `make setup` (it runs `npm ci`) before building the contracts crate",
            forge.display()
        );
    }
    // Only sources are needed for bindings; tests and scripts are compiled by `forge test`.
    let status = Command::new(&forge)
        .args(["build", "--skip", "test", "--skip", "script"])
        .current_dir(&solidity)
        .status()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", forge.display()));
    if !status.success() {
        panic!("`forge build` failed in {} ({status})", solidity.display());
    }
}
