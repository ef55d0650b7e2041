//! Greedy chat answers of the integer engine against the float reference: how many are
//! identical, and every factual answer the float model gets right stays right.

mod common;

use veritrace_vm::tokenizer::chatml;
use veritrace_vm::{Engine, Request};

const QUESTIONS: &[(&str, &str)] = &[
    ("What is the capital of France?", "Paris"),
    ("What is the capital of Germany?", "Berlin"),
    ("What is the capital of Japan?", "Tokyo"),
    ("How many days are there in a week?", "7"),
    ("What color is the sky on a clear day?", "blue"),
    ("What is the largest planet in our solar system?", "Jupiter"),
    ("Who wrote Romeo and Juliet?", "Shakespeare"),
    ("What is the chemical symbol for water?", "H2O"),
    ("What is the freezing point of water in Celsius?", "0"),
    ("Which animal is known as the king of the jungle?", "lion"),
];

// About 2 minutes in release:
// `CARGO_TARGET_DIR=/work/target-vm cargo test --release -p veritrace-vm --test answers -- --ignored --nocapture`
#[test]
#[ignore = "slow (~2 min in release): run with --ignored"]
fn greedy_answers_stay_correct() {
    let tk = common::tokenizer();
    let mut eng = Engine::new(common::image());
    let mut fref = common::FloatRef::load();
    let (mut same, mut right_f, mut right_i) = (0, 0, 0);
    for (q, key) in QUESTIONS {
        let ids = tk.encode(&chatml(q)).unwrap();
        let f = fref.greedy(&ids, 32, tk.eos);
        let i = eng.run(&Request::greedy(ids, 32)).unwrap();
        let ftext = tk.decode(&f).unwrap();
        let key = key.to_lowercase();
        let (fr, ir) = (
            ftext.to_lowercase().contains(&key),
            i.text.to_lowercase().contains(&key),
        );
        eprintln!("{q}\n  float:   {ftext:?}\n  integer: {:?}", i.text);
        same += usize::from(f == i.answer.tokens);
        right_f += usize::from(fr);
        right_i += usize::from(ir);
        assert!(
            !fr || ir,
            "the float model answers {q:?} correctly but the integer engine does not"
        );
    }
    eprintln!(
        "identical 32-token greedy answers: {same}/{}; correct: float {right_f}, integer {right_i}",
        QUESTIONS.len()
    );
}
