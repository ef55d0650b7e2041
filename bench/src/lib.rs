//! The benchmarks of veritrace, one binary each in `src/bin/` (`make bench` runs them all):
//! `engine_bench` (every engine's speed on the real model), `machine_speed` (the interpreter),
//! `machine_bench` and `trace_bench` (level-2 replay and trace recording on a real layer step),
//! `protocol_gas` (a synthetic 256-token dispute), `dispute_bench` (a real dispute on anvil with
//! the daemons) and `osp_gas` (one-step proof gas per opcode class).
