#!/usr/bin/env bash
# Builds the canonical wasm program (vm/program) with the pinned toolchain and writes it to
# vm/program/veritrace.wasm. With --check, builds it and fails unless the result equals the
# committed file byte for byte: the committed program is reproducible from the sources.
set -euo pipefail
cd "$(dirname "$0")/../vm/program"

out=veritrace.wasm
built=target/wasm32-unknown-unknown/release/veritrace_program.wasm
# Panic locations name source files: --remap-path-prefix keeps the checkout's location out of the
# bytes. Cargo joins `target.<cfg>.rustflags` with the `target.<triple>.rustflags` of
# .cargo/config.toml (RUSTFLAGS or `target.<triple>` here would replace them).
root=$(cd ../.. && pwd)
cargo_home=${CARGO_HOME:-$HOME/.cargo}
unset RUSTFLAGS CARGO_ENCODED_RUSTFLAGS
export CARGO_TARGET_DIR="$PWD/target"
cargo build --release --locked --quiet --config \
  "target.'cfg(target_arch = \"wasm32\")'.rustflags = [\"--remap-path-prefix=$root=/veritrace\", \"--remap-path-prefix=$cargo_home=/cargo\"]" >&2

case "${1:-}" in
  --check)
    if ! cmp -s "$built" "$out"; then
      echo "build-program: a fresh build of vm/program differs from the committed $out" >&2
      echo "build-program: run 'make program' and commit the result (and its new hash)" >&2
      exit 1
    fi
    echo "build-program: vm/program/$out is reproducible ($(wc -c < "$out") bytes)" ;;
  "")
    cp "$built" "$out"
    echo "build-program: wrote vm/program/$out ($(wc -c < "$out") bytes)" ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac
