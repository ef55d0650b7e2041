//! The canonical program, flattened into the Merkleized machine, executes real SmolLM2 steps
//! exactly as the native engine does: after each step of each kind (init, embed, a decode layer
//! step, head with sampling) the interpreter's memory equals the engine's byte for byte and the machine is
//! back at a step boundary whose hash is the layer-trace leaf. Prints the interpreter's speed.

use std::path::PathBuf;
use std::time::Instant;

use veritrace_tracer::model_machine::ModelMachine;
use veritrace_vm::image::ImportOptions;
use veritrace_vm::semantics::step::{PHASE_EMBED, PHASE_HEAD, PHASE_INIT, PHASE_LAYER};
use veritrace_vm::tokenizer::Tokenizer;
use veritrace_vm::{Engine, ModelImage, Request};

fn model_path() -> PathBuf {
    let p =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models/SmolLM2-135M-Instruct.Q4_1.gguf");
    assert!(
        p.exists(),
        "real model missing at {}: run `make model`",
        p.display()
    );
    p
}

#[test]
fn the_interpreter_replays_real_steps_of_every_kind() {
    let path = model_path();
    let image = ModelImage::from_gguf_file(&path, &ImportOptions::default()).unwrap();
    let tokens = Tokenizer::from_gguf_file(&path)
        .unwrap()
        .encode("The capital of France is")
        .unwrap();
    let mm = ModelMachine::new(&image).unwrap();
    let mut engine = Engine::new(&image);
    engine.load(&Request::greedy(tokens, 2)).unwrap();

    // Replay: init, embed of the prompt, then (after the prompt's steps run natively) the embed
    // and first layer step of the first decode token, and the first head step (head and sampling).
    let mut replayed = Vec::new();
    let mut decode_layer_done = false;
    loop {
        let next = engine.next_step();
        let wanted = match next.phase {
            PHASE_INIT => true,
            PHASE_EMBED => true,
            PHASE_LAYER => next.chunk_len == 1 && !decode_layer_done,
            PHASE_HEAD => replayed.iter().all(|&(p, _, _)| p != PHASE_HEAD),
            _ => false,
        };
        if wanted {
            let mut machine = mm.at_boundary(engine.memory().to_vec());
            let before = machine.hash();
            assert_eq!(before, mm.boundary_hash(&machine.memory_root()));
            let started = Instant::now();
            let n = machine.run_layer_step();
            let secs = started.elapsed().as_secs_f64();
            let (_, done) = engine.step().unwrap();
            assert!(!machine.is_trapped(), "trapped in step {next:?}");
            assert!(machine.at_step_end(), "not at a step's end after {next:?}");
            assert_eq!(machine.globals(), mm.program().globals());
            assert!(
                machine.memory() == engine.memory(),
                "memories differ after step {next:?}"
            );
            // Equal memories, so this is the leaf the engine's memory gives; the machine's own
            // hash must reduce to its step-end hash (empty stacks, status 2, initial globals).
            let after = machine.hash();
            assert_eq!(
                after,
                mm.program().step_end_hash(machine.memory_root()),
                "after {next:?}"
            );
            assert_ne!(before, after);
            eprintln!(
                "step {:>3} phase {} layer {:>2} chunk {}+{}: {n:>11} instructions in {secs:6.2} s ({:.1} M instr/s)",
                next.index,
                next.phase,
                next.layer,
                next.chunk_start,
                next.chunk_len,
                n as f64 / secs / 1e6
            );
            replayed.push((next.phase, next.chunk_len, n));
            decode_layer_done |= next.phase == PHASE_LAYER;
            if done {
                break;
            }
        } else if engine.step().unwrap().1 {
            break;
        }
        if decode_layer_done && replayed.iter().any(|&(p, _, _)| p == PHASE_HEAD) {
            break;
        }
    }
    for phase in [PHASE_INIT, PHASE_EMBED, PHASE_LAYER, PHASE_HEAD] {
        assert!(
            replayed.iter().any(|&(p, _, _)| p == phase),
            "phase {phase} never replayed: {replayed:?}"
        );
    }
}
