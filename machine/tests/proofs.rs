//! Every step of every test program: the independent checker accepts the proof and returns
//! exactly the interpreter's hashes before and after; mutated proofs never prove the honest
//! post-state for a wrong pre-state.

mod common;

use veritrace_machine::{Machine, StepOutcome, verify_step};

#[test]
fn every_step_of_every_program_verifies() {
    let mut total = 0u64;
    for (name, wat, steps) in common::programs() {
        let program = common::program(&wat);
        let mut m = Machine::new(&program, program.initial_memory());
        'steps: for _ in 0..steps {
            loop {
                let pre = m.hash();
                let ins = program.code()[m.pc() as usize];
                let proof = m.prove_step();
                let post = m.hash();
                let checked = verify_step(program.root(), program.memory_log2(), &proof)
                    .unwrap_or_else(|e| panic!("{name}: pc proof rejected: {e}"));
                assert_eq!(checked, (pre, post), "{name}: hashes differ at {ins:?}");
                total += 1;
                if m.is_trapped() {
                    // A trapped machine proves as unchanged.
                    let pre = m.hash();
                    let proof = m.prove_step();
                    assert_eq!(verify_step(program.root(), 16, &proof), Ok((pre, pre)));
                    break 'steps;
                }
                if m.is_halted() {
                    break;
                }
            }
            assert!(m.at_step_end(), "{name}: not at a step's end after StepEnd");
            // The end of a step is a fixed point: its proof proves it unchanged.
            let end = m.hash();
            let proof = m.prove_step();
            assert_eq!(
                verify_step(program.root(), program.memory_log2(), &proof),
                Ok((end, end)),
                "{name}: a step's end moved"
            );
            m.start_next_step();
            assert!(
                m.at_boundary(),
                "{name}: the next step does not start at a boundary"
            );
        }
    }
    eprintln!("{total} steps proven and checked");
    assert!(total > 10_000);
}

#[test]
fn stepping_with_proofs_equals_stepping_without() {
    for (name, wat, steps) in common::programs() {
        let program = common::program(&wat);
        let mut a = Machine::new(&program, program.initial_memory());
        let mut b = a.clone();
        for _ in 0..steps {
            let n = a.run_layer_step();
            for _ in 0..n {
                b.prove_step();
            }
            assert_eq!(a.hash(), b.hash(), "{name}");
            if a.is_trapped() {
                break;
            }
            a.start_next_step();
            b.start_next_step();
        }
    }
}

#[test]
fn layer_step_ends_at_the_step_end_hash_and_stays_there() {
    let (_, wat, _) = &common::programs()[1];
    let program = common::program(wat);
    let mut m = Machine::new(&program, program.initial_memory());
    let root = m.memory_root();
    assert_eq!(m.hash(), program.boundary_hash(root));
    let n = m.run_layer_step();
    assert!(n > 10);
    let root = m.memory_root();
    let end = program.step_end_hash(root);
    assert_eq!(m.hash(), end);
    // No instruction count past the end runs on into the next step.
    for _ in 0..3 {
        assert_eq!(m.step(), StepOutcome::Halted);
        assert_eq!(m.hash(), end);
    }
    assert_eq!(m.run_layer_step(), 0);
    m.start_next_step();
    assert_eq!(m.hash(), program.boundary_hash(root));
    assert_eq!(m.step(), StepOutcome::Continue);
}

/// Flips every byte of a sample of proofs: the checker rejects, or proves something else than
/// (honest pre, honest post).
#[test]
fn mutated_proofs_never_prove_the_honest_transition() {
    let mut checked = 0;
    for (name, wat, _) in common::programs() {
        let program = common::program(&wat);
        let mut m = Machine::new(&program, program.initial_memory());
        for i in 0..400 {
            let pre = m.hash();
            let proof = m.prove_step();
            let post = m.hash();
            if i % 37 != 0 {
                continue;
            }
            for at in 0..proof.len() {
                let mut bad = proof.clone();
                bad[at] ^= 0x01 << (at % 8);
                if let Ok((p, q)) = verify_step(program.root(), 16, &bad) {
                    assert!(
                        p != pre || q == post,
                        "{name}: byte {at} mutated still proves"
                    );
                    // A different pre-state is fine only if it is not the honest one.
                    assert!(
                        p != pre,
                        "{name}: byte {at}: same pre-state accepted with a mutation"
                    );
                }
                checked += 1;
            }
            let mut longer = proof.clone();
            longer.push(0);
            assert!(verify_step(program.root(), 16, &longer).is_err());
            assert!(verify_step(program.root(), 16, &proof[..proof.len() - 1]).is_err());
            if m.is_trapped() {
                break;
            }
        }
    }
    assert!(checked > 1000);
}

#[test]
fn layer_trace_hashes_match_a_plain_run() {
    use veritrace_machine::StepTrace;
    let (_, wat, _) = common::programs()
        .into_iter()
        .find(|(n, _, _)| *n == "calls")
        .expect("calls");
    let program = common::program(&wat);
    let start = Machine::new(&program, program.initial_memory());
    let mut plain = start.clone();
    let mut hashes = vec![plain.hash()];
    loop {
        let outcome = plain.step();
        hashes.push(plain.hash());
        if outcome == StepOutcome::Boundary {
            break;
        }
    }
    let trace = StepTrace::record(start, 100);
    assert_eq!(trace.len() as usize, hashes.len() - 1);
    for n in [
        0,
        1,
        99,
        100,
        101,
        trace.len() / 2,
        trace.len() - 1,
        trace.len(),
    ] {
        assert_eq!(trace.hash_at(n), hashes[n as usize], "hash after {n}");
    }
    let points: Vec<u64> = (0..=trace.len()).step_by(7).collect();
    let got = trace.hashes_at(&points);
    for (n, h) in points.iter().zip(got) {
        assert_eq!(h, hashes[*n as usize]);
    }
    let mut trace = trace;
    trace.keep(777);
    trace.forget_outside(700, 900);
    assert_eq!(trace.snapshots(), 5, "0, 700 (<= lo), 777, 800 and 900");
    assert_eq!(trace.hash_at(850), hashes[850]);
    let n = trace.len() / 3;
    let proof = trace.prove_at(n);
    let checked = verify_step(program.root(), 16, &proof).expect("valid");
    assert_eq!(checked, (hashes[n as usize], hashes[n as usize + 1]));
}
