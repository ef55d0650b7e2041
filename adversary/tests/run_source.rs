//! `RunSource` over the real SmolLM2: the honest source submits exactly what
//! `ServedModel::execute` submits and its interpreter reproduces the engine's boundaries; and
//! for every `Lie`, the whole dispute game played in Rust (the moves of `prover::game`, refereed
//! by the rules of `solidity/src/DisputeGame.sol`, one-step proofs checked by
//! `veritrace_machine::verify_step`) ends against the liar at the expected step.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Instant;

use veritrace_adversary::Lie;
use veritrace_adversary::lie::LyingSource;
use veritrace_machine::hash::node as hash_pair;
use veritrace_machine::hash::root_from_path;
use veritrace_machine::{Program, verify_step};
use veritrace_protocol::Hash;
use veritrace_protocol::dissection::{parts, point, reveal_levels};
use veritrace_protocol::game::{
    GameView, Move, MoveError, Phase, SourceError, TraceSource, challenger_move, executor_move,
};
use veritrace_protocol::region::region_root;
use veritrace_tracer::model_machine::ModelMachine;
use veritrace_tracer::run_source::RunSource;
use veritrace_tracer::submission::{ServedModel, Submission};
use veritrace_vm::image::ImportOptions;
use veritrace_vm::native::FastNative;
use veritrace_vm::semantics::layout::Region;
use veritrace_vm::semantics::step::PHASE_LAYER;
use veritrace_vm::tokenizer::{Tokenizer, chatml};
use veritrace_vm::{Engine, ModelImage, Request};

type Source = RunSource<FastNative>;

/// The served model, the request's input bytes and the honest source, built once.
struct World {
    served: Arc<ServedModel>,
    input: Vec<u8>,
    honest: Source,
    honest_submission: Submission,
}

/// Machines over the real model are ~0.75 GiB each: one test at a time.
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../models/SmolLM2-135M-Instruct.Q4_1.gguf");
        assert!(
            path.exists(),
            "real model missing at {}: run `make model`",
            path.display()
        );
        let image = ModelImage::from_gguf_file(&path, &ImportOptions::default()).unwrap();
        let machine = ModelMachine::new(&image).unwrap();
        let prompt = Tokenizer::from_gguf_file(&path)
            .unwrap()
            .encode(&chatml("Hi"))
            .unwrap();
        let body = Request::greedy(prompt, 2).encode();
        // The oracle's input: the body with the derived seed in its slot.
        let input = [&body[..32], &[7u8; 32][..], &body[64..]].concat();
        let served = Arc::new(ServedModel::new(image, machine));
        let started = Instant::now();
        let (honest_submission, honest) =
            Source::execute(served.clone(), engine(&served), &input).unwrap();
        eprintln!(
            "honest execute: {} steps, {:?} in {:.2} s",
            honest_submission.trace.step_count(),
            honest_submission.run.text,
            started.elapsed().as_secs_f64()
        );
        World {
            served,
            input,
            honest,
            honest_submission,
        }
    })
}

fn engine(served: &ServedModel) -> Engine<FastNative> {
    Engine::with_backend(FastNative::new(served.image.initial_memory()))
}

/// The steps of the run, as the engine reports them (1-based index = position in the list).
fn step_infos(w: &World) -> Vec<veritrace_vm::StepInfo> {
    let mut e = engine(&w.served);
    e.load_input(&w.input);
    let mut infos = Vec::new();
    loop {
        let (info, done) = e.step().unwrap();
        infos.push(info);
        if done {
            return infos;
        }
    }
}

fn lying(w: &World, lie: Lie) -> (Submission, LyingSource) {
    let started = Instant::now();
    let out = lie
        .tell(w.served.clone(), engine(&w.served), &w.input)
        .unwrap();
    eprintln!(
        "{lie:?}: execute in {:.2} s",
        started.elapsed().as_secs_f64()
    );
    out
}

/// The oracle's submit checks: leaf 0 is the request, the output lies in the final memory,
/// whose boundary hash is the last leaf.
fn assert_submittable(w: &World, s: &Submission) {
    let l = &w.served.image.layout;
    let log2 = |r: Region| l.log2s[r as usize] as u8;
    // The siblings place the (empty) input region in the registered image root...
    let empty_input = region_root(&[], log2(Region::Input)).unwrap();
    let image_root = root_from_path(
        &empty_input,
        (l.offset(Region::Input) >> log2(Region::Input)) as u64,
        &s.input_siblings,
    );
    assert_eq!(
        image_root,
        w.served.image_root(),
        "input inside the image root"
    );
    // ... and, with the input in place, give the memory root behind leaf 0.
    assert_eq!(image_root_with_input(w, s), s.trace.leaf(0).unwrap());
    let output_root = region_root(&s.output, log2(Region::Output)).unwrap();
    assert_eq!(
        root_from_path(
            &output_root,
            (l.offset(Region::Output) >> log2(Region::Output)) as u64,
            &s.output_siblings
        ),
        s.final_memory_root,
        "output inside the final memory"
    );
    let n = s.trace.step_count();
    assert_eq!(s.final_memory_root, s.trace.leaf(n).unwrap());
    // Every leaf past N is zero: the right-hand siblings on leaf N's path are zero subtrees.
    let zeros = veritrace_machine::hash::zero_hashes(s.trace.depth() as usize);
    for (k, sibling) in s.trace.path(n).unwrap().iter().enumerate() {
        if (n >> k) & 1 == 0 {
            assert_eq!(*sibling, zeros[k], "NonZeroPadding at level {k}");
        }
    }
}

/// The memory root with the request loaded: the input region's root over the same siblings.
fn image_root_with_input(w: &World, s: &Submission) -> Hash {
    let l = &w.served.image.layout;
    let log2 = l.log2s[Region::Input as usize] as u8;
    let input_root = region_root(&w.input, log2).unwrap();
    root_from_path(
        &input_root,
        (l.offset(Region::Input) >> log2) as u64,
        &s.input_siblings,
    )
}

// ------------------------------------------------------------------------------------ referee

/// How a game ended.
#[derive(Debug)]
struct Outcome {
    executor_won: bool,
    /// The disputed step j.
    step: u64,
    /// The instruction the one-step proof replayed (`lo`).
    instruction: u64,
    /// Instructions the executor claimed for step j.
    count: u64,
    /// Level-2 rounds (dissections posted).
    rounds: u32,
    /// Seconds from `openStep` asked to `openStep` posted (the first level-2 answer).
    first_level2_secs: f64,
}

/// The contract's state, as far as the rules need it.
struct Referee {
    view: GameView,
    trace_root: Hash,
    depth: u8,
    node: Hash,
    lo_hash: Hash,
    hi_hash: Hash,
    pending: Vec<Hash>,
    program_root: Hash,
    program: Program,
    memory_log2: u8,
    max_step_instructions: u64,
}

fn subtree_root(nodes: &[Hash]) -> Hash {
    let mut level = nodes.to_vec();
    while level.len() > 1 {
        level = level
            .chunks_exact(2)
            .map(|p| hash_pair(&p[0], &p[1]))
            .collect();
    }
    level[0]
}

impl Referee {
    /// A game over the executor's claim, from the root (level 1).
    fn new(w: &World, claim: &Submission) -> Self {
        let depth = claim.trace.depth();
        Self {
            view: GameView {
                phase: Phase::TraceReveal,
                step_count: claim.trace.step_count(),
                node_index: 0,
                node_height: depth,
                lo: 0,
                hi: 0,
                lo_hash: [0; 32],
                hi_hash: [0; 32],
                program_root: [0; 32],
                memory_log2: 0,
            },
            trace_root: claim.trace.root(),
            depth,
            node: claim.trace.root(),
            lo_hash: [0; 32],
            hi_hash: [0; 32],
            pending: Vec::new(),
            program_root: w.served.machine.program_root(),
            program: w.served.machine.program().clone(),
            memory_log2: w.served.image.layout.memory_log2 as u8,
            max_step_instructions: 1 << 40,
        }
    }

    /// A game that starts at level 2 on step `step` of the executor's claim, as if level 1 had
    /// ended there (for lies level 1 cannot reach: a challenger that agrees with every leaf).
    fn at_step(w: &World, claim: &Submission, step: u64) -> Self {
        let mut r = Self::new(w, claim);
        r.view.phase = Phase::StepOpen;
        r.view.node_index = step;
        r.view.node_height = 0;
        r.node = claim.trace.leaf(step).unwrap();
        r
    }

    fn post_dissection(&mut self, hashes: Vec<Hash>) {
        let expected = parts(self.view.lo, self.view.hi) - 1;
        assert_eq!(hashes.len() as u64, expected, "WrongHashCount");
        self.pending = hashes;
        self.view.phase = Phase::DissectPick;
    }

    /// Plays to the end; every move must pass the contract's checks.
    fn play(mut self, executor: &impl TraceSource, challenger: &impl TraceSource) -> Outcome {
        let (mut rounds, mut count, mut first_level2_secs) = (0, 0, 0.0);
        loop {
            let v = self.view;
            match v.phase {
                Phase::TraceReveal | Phase::StepOpen | Phase::Dissect => {
                    let started = Instant::now();
                    let mv = executor_move(&v, executor)
                        .unwrap()
                        .expect("executor's turn");
                    match mv {
                        Move::RevealTrace(nodes) => {
                            assert_eq!(nodes.len(), 1 << reveal_levels(v.node_height));
                            assert_eq!(subtree_root(&nodes), self.node, "BadReveal");
                            self.pending = nodes;
                            self.view.phase = Phase::TracePick;
                        }
                        Move::OpenStep {
                            start_leaf,
                            siblings,
                            instruction_count,
                            hashes,
                        } => {
                            first_level2_secs = started.elapsed().as_secs_f64();
                            assert_eq!(siblings.len(), self.depth as usize, "BadStartLeaf");
                            assert_eq!(
                                root_from_path(&start_leaf, v.node_index - 1, &siblings),
                                self.trace_root,
                                "BadStartLeaf"
                            );
                            assert!(
                                instruction_count > 0
                                    && instruction_count <= self.max_step_instructions,
                                "BadInstructionCount"
                            );
                            count = instruction_count;
                            self.view.lo = 0;
                            self.view.hi = instruction_count;
                            // Both ends derived from the leaves, as the contract does.
                            self.lo_hash = self.program.boundary_hash(start_leaf);
                            self.hi_hash = self.program.step_end_hash(self.node);
                            rounds += 1;
                            self.post_dissection(hashes);
                        }
                        Move::Dissect(hashes) => {
                            rounds += 1;
                            self.post_dissection(hashes);
                        }
                        other => panic!("executor cannot {other:?} in {v:?}"),
                    }
                }
                Phase::TracePick | Phase::DissectPick => {
                    let mv = challenger_move(&v, &self.pending, challenger)
                        .unwrap()
                        .expect("challenger's turn");
                    match mv {
                        Move::PickTrace(nodes, index) => {
                            assert_eq!(nodes, self.pending, "HashesMismatch");
                            assert!(index < nodes.len(), "BadPick");
                            let levels = reveal_levels(v.node_height);
                            let child = (v.node_index << levels) + index as u64;
                            let child_height = v.node_height - levels;
                            let first_leaf = child << child_height;
                            assert!(
                                first_leaf <= v.step_count
                                    && !(child_height == 0 && first_leaf == 0),
                                "BadPick"
                            );
                            self.node = nodes[index];
                            self.view.node_index = child;
                            self.view.node_height = child_height;
                            self.view.phase = if child_height == 0 {
                                Phase::StepOpen
                            } else {
                                Phase::TraceReveal
                            };
                        }
                        Move::PickInterval(hashes, index) => {
                            assert_eq!(hashes, self.pending, "HashesMismatch");
                            let n = hashes.len() as u64 + 1;
                            assert!((index as u64) < n, "BadPick");
                            if index > 0 {
                                self.lo_hash = hashes[index - 1];
                            }
                            if (index as u64) + 1 < n {
                                self.hi_hash = hashes[index];
                            }
                            let (lo, hi) = (v.lo, v.hi);
                            self.view.lo = point(lo, hi, n, index as u64);
                            self.view.hi = point(lo, hi, n, index as u64 + 1);
                            self.view.phase = if self.view.hi - self.view.lo == 1 {
                                Phase::OneStepProof
                            } else {
                                Phase::Dissect
                            };
                        }
                        other => panic!("challenger cannot {other:?} in {v:?}"),
                    }
                }
                Phase::OneStepProof => {
                    // Anyone may prove: the challenger first; if its proof does not start from
                    // the agreed state (the call would revert), the executor's.
                    let mut proofs = vec![challenger.one_step_proof(v.node_index, v.lo).unwrap()];
                    proofs.push(executor.one_step_proof(v.node_index, v.lo).unwrap());
                    let (_, post) = proofs
                        .iter()
                        .map(|p| verify_step(self.program_root, self.memory_log2, p).unwrap())
                        .find(|(pre, _)| *pre == self.lo_hash)
                        .expect("no proof starts from the agreed state (WrongPreState)");
                    return Outcome {
                        executor_won: post == self.hi_hash,
                        step: v.node_index,
                        instruction: v.lo,
                        count,
                        rounds,
                        first_level2_secs,
                    };
                }
                Phase::Over | Phase::Queued => {
                    unreachable!("this referee starts its games at once")
                }
            }
        }
    }
}

fn play(
    name: &str,
    referee: Referee,
    executor: &impl TraceSource,
    challenger: &impl TraceSource,
) -> Outcome {
    let started = Instant::now();
    let outcome = referee.play(executor, challenger);
    eprintln!(
        "{name}: {outcome:?}; first level-2 answer {:.2} s, whole game {:.2} s",
        outcome.first_level2_secs,
        started.elapsed().as_secs_f64()
    );
    outcome
}

// -------------------------------------------------------------------------------------- tests

#[test]
fn the_honest_source_submits_what_execute_does_and_reproduces_the_boundaries() {
    let _serial = serial();
    let w = world();
    let mut e = engine(&w.served);
    let started = Instant::now();
    let expected = w.served.execute(&mut e, &w.input).unwrap();
    eprintln!(
        "ServedModel::execute in {:.2} s",
        started.elapsed().as_secs_f64()
    );
    let s = &w.honest_submission;
    assert_eq!(s.trace.root(), expected.trace.root());
    assert_eq!(s.final_memory_root, expected.final_memory_root);
    assert_eq!(s.output, expected.output);
    assert_eq!(s.output_siblings, expected.output_siblings);
    assert_eq!(s.input_siblings, expected.input_siblings);
    assert_eq!(s.run, expected.run);
    assert_eq!(w.honest.layer_trace().root(), s.trace.root());
    assert_submittable(w, s);

    // The first decode layer step: a real ~72.6M-instruction step.
    let infos = step_infos(w);
    assert_eq!(infos.len() as u64, s.trace.step_count());
    let j = infos
        .iter()
        .position(|i| i.phase == PHASE_LAYER && i.chunk_len == 1)
        .unwrap() as u64
        + 1;
    let src = &w.honest;
    let started = Instant::now();
    let count = src.instruction_count(j).unwrap();
    eprintln!(
        "step {j} (decode layer 0): {count} instructions, counted in {:.2} s",
        started.elapsed().as_secs_f64()
    );
    assert!(count > 1_000_000, "{count}");
    let program = w.served.machine.program();
    let start = |i: u64| program.boundary_hash(s.trace.leaf(i).unwrap());
    let end = |i: u64| program.step_end_hash(s.trace.leaf(i).unwrap());
    // The interpreter, from the re-run engine's boundary, ends the step on the engine's next
    // boundary memory.
    assert_eq!(src.interpreter_hash(j, 0).unwrap(), start(j - 1));
    assert_eq!(src.interpreter_hash(j, count).unwrap(), end(j));
    assert_eq!(src.machine_hash(j, 0).unwrap(), start(j - 1));
    assert_eq!(src.machine_hash(j, count).unwrap(), end(j));

    // One-step proofs inside the step and of its last instruction (StepEnd) verify.
    let program_root = w.served.machine.program_root();
    let log2 = w.served.image.layout.memory_log2 as u8;
    for t in [count / 2, count - 1] {
        let started = Instant::now();
        let proof = src.one_step_proof(j, t).unwrap();
        let (pre, post) = verify_step(program_root, log2, &proof).unwrap();
        assert_eq!(pre, src.machine_hash(j, t).unwrap(), "pre at {t}");
        assert_eq!(post, src.machine_hash(j, t + 1).unwrap(), "post at {t}");
        eprintln!(
            "proof of instruction {} of {count}: {} bytes, proved and checked in {:.2} s",
            t + 1,
            proof.len(),
            started.elapsed().as_secs_f64()
        );
    }
    assert_ne!(src.machine_hash(j, count / 2).unwrap(), start(j - 1));

    // Past a step's end (a count another party may claim) the machine stays at the step's end
    // state: it never runs on into the next step, and its proof proves it unchanged.
    let count1 = src.instruction_count(1).unwrap();
    let past = src.machine_hash(1, count1 + 5).unwrap();
    assert_eq!(past, end(1));
    assert_eq!(src.interpreter_hash(1, count1 + 5).unwrap(), end(1));
    let proof = src.one_step_proof(1, count1 + 5).unwrap();
    assert_eq!(
        verify_step(program_root, log2, &proof).unwrap(),
        (past, past)
    );
    assert_ne!(src.interpreter_hash(2, 5).unwrap(), past);

    // Step N + 1 (which a longer claim makes a challenger dispute) runs from the final memory
    // into the canonical program's trap: it never reaches a step's end.
    let n = s.trace.step_count();
    let after_end = src.interpreter_hash(n + 1, 1 << 20).unwrap();
    assert_ne!(after_end, src.machine_hash(n + 1, 0).unwrap());
    assert_eq!(
        src.machine_hash(n + 1, 0).unwrap(),
        program.boundary_hash(s.trace.leaf(n).unwrap())
    );
    let proof = src.one_step_proof(n + 1, 1 << 20).unwrap();
    let (pre, post) = verify_step(program_root, log2, &proof).unwrap();
    assert_eq!(
        (pre, post),
        (after_end, after_end),
        "a trapped machine stays trapped"
    );

    // Steps outside 1..=N + 1 are errors, not panics.
    for bad in [0, n + 2] {
        assert!(matches!(
            src.instruction_count(bad),
            Err(SourceError::StepOutOfRange { step, step_count }) if step == bad && step_count == n
        ));
        assert!(src.machine_hash(bad, 1).is_err());
        assert!(src.one_step_proof(bad, 0).is_err());
    }
}

#[test]
fn a_tampered_activation_loses_as_executor_and_as_challenger() {
    let _serial = serial();
    let w = world();
    let n = w.honest_submission.trace.step_count();
    // Step 2 embeds the prompt: the first step whose Hidden region matters.
    let (sub, liar) = lying(w, Lie::TamperHidden { step: 2 });
    assert_submittable(w, &sub);
    assert_eq!(sub.trace.step_count(), n);
    assert_eq!(
        sub.trace.leaf(1).unwrap(),
        w.honest_submission.trace.leaf(1).unwrap()
    );
    assert_ne!(
        sub.trace.leaf(2).unwrap(),
        w.honest_submission.trace.leaf(2).unwrap()
    );

    let o = play(
        "TamperHidden executor",
        Referee::new(w, &sub),
        &liar,
        &w.honest,
    );
    assert!(!o.executor_won);
    assert_eq!(o.step, 2);
    // The lie is made at the step's end: the interior agrees up to its last instruction.
    assert_eq!(o.instruction, o.count - 1);

    let o = play(
        "TamperHidden challenger",
        Referee::new(w, &w.honest_submission),
        &w.honest,
        &liar,
    );
    assert!(o.executor_won);
    assert_eq!(o.step, 2);
}

#[test]
fn a_tampered_decode_layer_loses() {
    let _serial = serial();
    let w = world();
    let infos = step_infos(w);
    let j = infos
        .iter()
        .position(|i| i.phase == PHASE_LAYER && i.chunk_len == 1)
        .unwrap() as u64
        + 1;
    let (sub, liar) = lying(w, Lie::TamperHidden { step: j });
    let o = play(
        "TamperHidden decode layer executor",
        Referee::new(w, &sub),
        &liar,
        &w.honest,
    );
    assert!(!o.executor_won);
    assert_eq!(o.step, j);
    assert!(o.count > 1_000_000 && o.rounds >= 5, "{o:?}");
}

#[test]
fn a_wrong_answer_text_loses_at_the_last_step() {
    let _serial = serial();
    let w = world();
    let (sub, liar) = lying(
        w,
        Lie::WrongText {
            text: "The capital of France is Berlin.".into(),
        },
    );
    assert_submittable(w, &sub);
    assert_eq!(sub.run.text, "The capital of France is Berlin.");
    assert_ne!(sub.output, w.honest_submission.output);
    let n = sub.trace.step_count();
    assert_eq!(n, w.honest_submission.trace.step_count());
    let o = play(
        "WrongText executor",
        Referee::new(w, &sub),
        &liar,
        &w.honest,
    );
    assert!(!o.executor_won);
    assert_eq!(o.step, n);

    // A text shorter than the honest one: the old bytes are cleared, or the output (read as
    // its used prefix, zeros after it) would not be the final memory's.
    let (short, _) = lying(w, Lie::WrongText { text: "I".into() });
    assert!(w.honest_submission.output.len() > short.output.len());
    assert_eq!(short.run.text, "I");
    assert_submittable(w, &short);
}

#[test]
fn another_seed_loses_at_the_first_differing_step() {
    let _serial = serial();
    let w = world();
    let (sub, liar) = lying(w, Lie::OtherSeed { seed: [9; 32] });
    assert_submittable(w, &sub);
    let honest = &w.honest_submission.trace;
    assert_eq!(sub.trace.leaf(0).unwrap(), honest.leaf(0).unwrap());
    let first_diff = (1..=honest.step_count())
        .find(|&i| sub.trace.leaf(i).unwrap() != honest.leaf(i).unwrap())
        .unwrap();
    assert_eq!(
        first_diff, 1,
        "the seed is part of the memory from leaf 1 on"
    );
    let o = play(
        "OtherSeed executor",
        Referee::new(w, &sub),
        &liar,
        &w.honest,
    );
    assert!(!o.executor_won);
    assert_eq!(o.step, first_diff);
    // The liar's state after one instruction already differs (its memory holds another seed).
    assert_eq!(o.instruction, 0);

    let o = play(
        "OtherSeed challenger",
        Referee::new(w, &w.honest_submission),
        &w.honest,
        &liar,
    );
    assert!(o.executor_won);
    assert_eq!(o.step, first_diff);
}

#[test]
fn made_up_dissection_hashes_lose() {
    let _serial = serial();
    let w = world();
    let (sub, bad) = lying(w, Lie::BadDissection);
    assert_eq!(sub.trace.root(), w.honest_submission.trace.root());
    assert_eq!(sub.output, w.honest_submission.output);
    // An honest challenger finds nothing to dispute in its (honest) trace.
    let mut r = Referee::new(w, &sub);
    let reveal = executor_move(&r.view, &bad).unwrap().unwrap();
    let Move::RevealTrace(nodes) = reveal else {
        panic!("{reveal:?}")
    };
    r.pending = nodes;
    r.view.phase = Phase::TracePick;
    assert!(matches!(
        challenger_move(&r.view, &r.pending, &w.honest),
        Err(MoveError::NothingToDispute { .. })
    ));

    // Disputed at level 2 anyway (step 2), its made-up hashes lose to an honest challenger...
    let o = play(
        "BadDissection executor",
        Referee::at_step(w, &sub, 2),
        &bad,
        &w.honest,
    );
    assert!(!o.executor_won);
    assert_eq!((o.step, o.instruction), (2, 0));
    // ... and as a challenger's picks they cannot beat an honest executor.
    let o = play(
        "BadDissection challenger",
        Referee::at_step(w, &w.honest_submission, 2),
        &w.honest,
        &bad,
    );
    assert!(o.executor_won);
    assert_eq!(o.step, 2);

    // Against a challenger that tampered step 2, the inconsistent executor still loses.
    let (_, tamper) = lying(w, Lie::TamperHidden { step: 2 });
    let o = play(
        "BadDissection vs TamperHidden",
        Referee::new(w, &sub),
        &bad,
        &tamper,
    );
    assert!(!o.executor_won);
    assert_eq!(o.step, 2);
}
