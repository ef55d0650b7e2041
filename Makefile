# veritrace: one entry point for setup, build, test, demo and benchmarks.
# `make test` and `make demo` each do their own setup; nothing needs to be typed first.

SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

NODE_BIN := node_modules/@foundry-rs
FORGE := $(CURDIR)/$(NODE_BIN)/forge-linux-amd64/bin/forge
ANVIL := $(CURDIR)/$(NODE_BIN)/anvil-linux-amd64/bin/anvil
CAST := $(CURDIR)/$(NODE_BIN)/cast-linux-amd64/bin/cast
CARGO ?= cargo
# One cargo profile for build, test, demo and bench: the real model is too slow unoptimized.
PROFILE := --release
NPM_STAMP := node_modules/.veritrace-installed
# Static analysis of the contracts: slither, pinned, in its own virtual environment (ignored).
SLITHER_VERSION := 0.11.6
CRYTIC_COMPILE_VERSION := 0.4.2
SLITHER_VENV := .venv-slither
SLITHER := $(CURDIR)/$(SLITHER_VENV)/bin/slither
SLITHER_STAMP := $(SLITHER_VENV)/.veritrace-installed-$(SLITHER_VERSION)
# slither compiles through forge (crytic-compile) into its own out and cache folders, so that
# solidity/out, which contracts/build.rs reads, is left alone; options in solidity/slither.config.json.
SLITHER_RUN := cd solidity && PATH="$(dir $(FORGE)):$$PATH" FOUNDRY_OUT=out-slither \
  FOUNDRY_CACHE_PATH=cache-slither $(SLITHER) .

# nvcc 13.0 and the CUDA headers from PyPI (about 10 s, 307 MB), pinned to what the GPU machine's
# CUDA 13.0 driver runs; nvvm too: left free, pip takes a newer one whose PTX the 13.0 ptxas (and
# driver) refuse. `make cuda-build` builds with them, in a target directory of its own; `make
# lint` type-checks the cuda feature with tools/nvcc-typecheck standing in for nvcc (the Rust is
# checked, candle's kernels are not compiled: ~11 minutes saved). No GPU is needed for either.
CUDA_TOOLKIT := $(CURDIR)/target/cuda-toolkit
CUDA_STAMP := $(CUDA_TOOLKIT)/.veritrace-installed-13.0.88
CUDA_HOME_DIR := $(CUDA_TOOLKIT)/nvidia/cu13
# H200: compute capability 9.0 (there is no GPU here to ask).
CUDA_ENV := PATH="$(CUDA_HOME_DIR)/bin:$$PATH" CUDA_ROOT=$(CUDA_HOME_DIR) CUDA_PATH=$(CUDA_HOME_DIR) CUDA_HOME=$(CUDA_HOME_DIR) CUDA_COMPUTE_CAP=90
CUDA_FEATURES := --features veritrace-challenger/cuda,veritrace-cli/cuda
# Where cuda-build builds (never mixed with the type check's empty kernels in target/) and where
# it leaves the stripped device check, small enough to carry to the GPU machine (40 MB; the
# daemon and the CLI stay in target/cuda/release: 57 and 60 MB stripped).
CUDA_TARGET_DIR := target/cuda
DEVICE_DIR := target/device
# candle-core links cudarc dynamically, so the link needs cuBLAS, cuRAND and NVRTC (PyPI wheels,
# 915 MB, about 10 s) and libcuda, which ships with the driver: a stub of the driver symbols
# cudarc calls stands in at link time (the real one is loaded on the GPU machine).
CUDA_LIBS := $(CURDIR)/target/cuda-libs
CUDA_LIBS_STAMP := $(CUDA_LIBS)/.veritrace-installed-13.0
CUDA_LINK_ENV := LIBRARY_PATH=$(CUDA_LIBS)/nvidia/cu13/lib:$(CUDA_LIBS)/stubs

.PHONY: help setup model program build lint slither fmt test test-forge test-cargo demo bench test-backends-full fuzz-osp fuzz-game osp-real-step cuda-build clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

setup: $(NPM_STAMP) $(SLITHER_STAMP) ## install the pinned toolchain: rust target, anvil/forge/cast, solc, forge-std, slither
	@rustup target add wasm32-unknown-unknown >/dev/null 2>&1 || { \
	  echo "setup: 'rustup target add wasm32-unknown-unknown' failed" >&2; exit 1; }
	@rustup component add rustfmt clippy >/dev/null 2>&1 || { \
	  echo "setup: 'rustup component add rustfmt clippy' failed" >&2; exit 1; }

# npm ci wipes node_modules; run it only when the lock file changed since the last install.
$(NPM_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@test -x $(FORGE) && test -x $(ANVIL) && test -x $(CAST) || { \
	  echo "setup: npm ci did not install forge/anvil/cast" >&2; exit 1; }
	@touch $@

# About 25 s with a warm network; reinstalled when SLITHER_VERSION changes.
$(SLITHER_STAMP):
	rm -rf $(SLITHER_VENV)
	python3 -m venv $(SLITHER_VENV)
	$(SLITHER_VENV)/bin/pip install --quiet --disable-pip-version-check \
	  slither-analyzer==$(SLITHER_VERSION) crytic-compile==$(CRYTIC_COMPILE_VERSION)
	@touch $@

model: ## fetch SmolLM2-135M-Instruct (checked by sha256) into models/
	@tools/fetch-model.sh

program: setup ## rebuild the canonical wasm program into vm/program/veritrace.wasm (commit it)
	tools/build-program.sh

build: setup ## build every crate and the contracts
	$(CARGO) build $(PROFILE) --workspace

fmt: setup ## format Rust and Solidity sources
	$(CARGO) fmt --all
	cd solidity && $(FORGE) fmt

lint: setup $(CUDA_STAMP) ## rustfmt, clippy -D warnings (also with the cuda feature), the crate map (tools/check-layers), forge fmt --check, slither (no medium or high finding)
	$(CARGO) fmt --all -- --check
	tools/check-layers
	$(CARGO) clippy $(PROFILE) --workspace --all-targets -- -D warnings
	$(CUDA_ENV) NVCC=$(CURDIR)/tools/nvcc-typecheck REAL_NVCC=$(CUDA_HOME_DIR)/bin/nvcc \
	  $(CARGO) clippy $(PROFILE) -p veritrace-vm -p veritrace-challenger -p veritrace-cli \
	  --all-targets $(CUDA_FEATURES) -- -D warnings
	cd solidity && $(FORGE) fmt --check
	$(SLITHER_RUN)
	tools/build-program.sh --check

slither: $(SLITHER_STAMP) ## slither on the contracts alone (findings triaged in solidity/slither.triage.md)
	@test -x $(FORGE) || { echo "slither: forge is missing: run make setup" >&2; exit 1; }
	$(SLITHER_RUN)

test-forge: setup ## Solidity unit and fuzz tests
	cd solidity && $(FORGE) test

test-cargo: setup model ## Rust unit, integration and e2e (anvil) tests
	$(CARGO) build $(PROFILE) --workspace --bins  # the daemon binaries the e2e process tests run
	$(CARGO) test $(PROFILE) --workspace --lib --bins --tests

test-backends-full: setup model ## fast native and candle engines vs scalar: 24 SmolLM2 prompts, every step
	$(CARGO) test $(PROFILE) -p veritrace-vm --test backends -- --ignored --nocapture

test: lint test-forge test-cargo ## every test: lint, forge, cargo (with e2e on anvil)
	@echo "make test: all green"

demo: setup model ## start anvil, deploy, register SmolLM2 and tell the story
	$(CARGO) run $(PROFILE) --quiet -p veritrace-cli -- demo

bench: setup model ## benchmarks: protocol gas of a 256-token dispute (synthetic, and real with the daemons on anvil); level-2 interpreter and dissection on a real layer step
	$(CARGO) run $(PROFILE) --quiet -p veritrace-bench --bin protocol_gas
	$(CARGO) run $(PROFILE) --quiet -p veritrace-bench --bin dispute_bench
	$(CARGO) run $(PROFILE) --quiet -p veritrace-bench --bin machine_bench
	$(CARGO) run $(PROFILE) --quiet -p veritrace-bench --bin trace_bench
	$(CARGO) run $(PROFILE) --quiet -p veritrace-bench --bin engine_bench
	$(CARGO) run $(PROFILE) --quiet -p veritrace-bench --bin osp_gas

fuzz-osp: setup ## differential fuzz: Solidity one-step prover (revm) vs the Rust machine, 1M steps
	$(CARGO) run $(PROFILE) --quiet -p veritrace-e2e --bin osp_fuzz -- --steps 1000000

fuzz-game: setup ## random liars against the honest strategies, refereed by the contract's level-1 rules: 100,000 forged traces, 100,000 random challengers
	PROPTEST_CASES=100000 $(CARGO) test $(PROFILE) --workspace --test level1_liars -- --nocapture

osp-real-step: setup model ## every instruction of a real SmolLM2 decode layer step through the Solidity prover in revm (hours; ARGS="--phase embed" or "--from N --count M")
	$(CARGO) run $(PROFILE) --quiet -p veritrace-e2e --bin osp_real_step -- $(ARGS)

$(CUDA_STAMP):
	python3 -m pip install --quiet --disable-pip-version-check --target $(CUDA_TOOLKIT) \
	  nvidia-cuda-nvcc==13.0.88 nvidia-nvvm==13.0.88 nvidia-cuda-runtime==13.0.96 \
	  nvidia-cuda-crt==13.0.88 nvidia-cuda-cccl==13.0.85
	touch $@

$(CUDA_LIBS_STAMP):
	python3 -m pip install --quiet --disable-pip-version-check --target $(CUDA_LIBS) \
	  nvidia-cublas==13.0.2.14 nvidia-curand==10.4.0.35 nvidia-cuda-nvrtc==13.0.88
	cd $(CUDA_LIBS)/nvidia/cu13/lib && ln -sf libcublas.so.13 libcublas.so && \
	  ln -sf libcublasLt.so.13 libcublasLt.so && ln -sf libcurand.so.10 libcurand.so && \
	  ln -sf libnvrtc.so.13 libnvrtc.so && ln -sf $(CUDA_HOME_DIR)/lib/libcudart.so.13 libcudart.so
	touch $@

cuda-build: setup $(CUDA_STAMP) $(CUDA_LIBS_STAMP) ## build the challenger, the device check and the CLI with CUDA (candle's kernels for sm_90) into target/cuda; the stripped device check into target/device/
	$(CUDA_ENV) $(CARGO) build $(PROFILE) --target-dir $(CUDA_TARGET_DIR) -p veritrace-challenger --lib --features cuda
	mkdir -p $(CUDA_LIBS)/stubs
	nm $$(ls -t $(CUDA_TARGET_DIR)/release/deps/libcudarc-*.rlib | head -1) 2>/dev/null \
	  | awk '$$1 == "U" && $$2 ~ /^cu[A-Z]/ {print "void " $$2 "(void) {}"}' | sort -u > $(CUDA_LIBS)/stubs/libcuda.c
	gcc -shared -fPIC -Wl,-soname,libcuda.so.1 -o $(CUDA_LIBS)/stubs/libcuda.so $(CUDA_LIBS)/stubs/libcuda.c
	$(CUDA_ENV) $(CUDA_LINK_ENV) $(CARGO) build $(PROFILE) --target-dir $(CUDA_TARGET_DIR) \
	  -p veritrace-challenger -p veritrace-cli $(CUDA_FEATURES)
	mkdir -p $(DEVICE_DIR)
	strip -o $(DEVICE_DIR)/veritrace-device-check $(CUDA_TARGET_DIR)/release/veritrace-device-check
	@ls -l $(DEVICE_DIR) $(CUDA_TARGET_DIR)/release/veritrace-challenger $(CUDA_TARGET_DIR)/release/veritrace

clean: ## remove build outputs (keeps node_modules and models)
	$(CARGO) clean
	rm -rf solidity/out solidity/cache solidity/out-slither solidity/cache-slither
