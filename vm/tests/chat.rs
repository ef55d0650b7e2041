//! The real model answers the France question, through the tokenizer and the integer engine,
//! and the float reference agrees.

mod common;

use std::time::Instant;
use veritrace_vm::tokenizer::chatml;
use veritrace_vm::{Engine, Request};

/// The image hash of SmolLM2-135M-Instruct.Q4_1 with the default import options: a pin that
/// the conversion is reproducible (it changes only with the image format).
const SMOLLM2_IMAGE_HASH: &str = "e1d38b216684ea8ba1f84e35723303a8efd13e55ce463ef6c7eed0036adf9f94";

#[test]
#[cfg_attr(debug_assertions, ignore = "real model: run with --release")]
fn image_hash_is_pinned() {
    assert_eq!(common::hex(&common::image().hash), SMOLLM2_IMAGE_HASH);
}

#[test]
#[cfg_attr(debug_assertions, ignore = "real model: run with --release")]
fn france_answer_contains_paris() {
    let tk = common::tokenizer();
    let prompt = chatml("What is the capital of France?");
    let ids = tk.encode(&prompt).unwrap();
    // The ChatML control tokens are single special tokens, and the text round-trips.
    assert_eq!(ids[0], tk.bos, "<|im_start|> must be the bos token");
    assert_eq!(
        ids.iter().filter(|&&t| t == tk.eos).count(),
        1,
        "one <|im_end|> in the prompt"
    );
    assert_eq!(
        tk.decode(&ids).unwrap(),
        prompt.replace("<|im_start|>", "").replace("<|im_end|>", "")
    );

    let mut fref = common::FloatRef::load();
    let fl = fref.greedy(&ids, 24, tk.eos);
    let ftext = tk.decode(&fl).unwrap();
    eprintln!("float reference: {ftext:?}");
    assert!(ftext.contains("Paris"), "float reference answer: {ftext:?}");

    let img = common::image();
    let mut eng = Engine::new(img);
    let t = Instant::now();
    let out = eng.run(&Request::greedy(ids.clone(), 24)).unwrap();
    let secs = t.elapsed().as_secs_f64();
    eprintln!(
        "integer engine: {:?} ({} tokens, {} steps, {:.2} s, status {})",
        out.text,
        out.answer.tokens.len(),
        out.steps,
        secs,
        out.answer.status
    );
    assert!(
        out.text.contains("Paris"),
        "integer engine answer: {:?}",
        out.text
    );
    // The machine's own detokenization equals the tokenizer's.
    assert_eq!(out.text, tk.decode(&out.answer.tokens).unwrap());
    // Chunked prefill + one-token decode steps equal a teacher-forced pass over the sequence.
    let mut seq = ids.clone();
    seq.extend_from_slice(&out.answer.tokens[..out.answer.tokens.len() - 1]);
    let tf = eng.teacher_forced_argmax(&seq).unwrap();
    assert_eq!(&tf[ids.len() - 1..], &out.answer.tokens[..]);
}
