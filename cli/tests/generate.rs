//! `veritrace generate` end to end: the built binary on the real SmolLM2 and on bad inputs.

use std::path::PathBuf;
use std::process::{Command, Output};

fn model() -> PathBuf {
    let p =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models/SmolLM2-135M-Instruct.Q4_1.gguf");
    assert!(
        p.exists(),
        "the real model is missing at {}: run `bash tools/fetch-model.sh`",
        p.display()
    );
    p
}

fn generate(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_veritrace"))
        .arg("generate")
        .args(args)
        .output()
        .expect("run veritrace")
}

fn generate_real(args: &[&str]) -> Output {
    let m = model();
    let mut all = vec!["--model", m.to_str().unwrap()];
    all.extend_from_slice(args);
    generate(&all)
}

/// Asserts a failure whose stderr names the problem.
fn fails_with(out: &Output, needle: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "expected a failure, stderr: {err}");
    assert!(err.contains(needle), "stderr {err:?} lacks {needle:?}");
}

#[test]
fn bad_parameters_are_rejected_by_name() {
    fails_with(
        &generate_real(&["--prompt", "hi", "--max-tokens", "0"]),
        "--max-tokens",
    );
    fails_with(
        &generate_real(&["--prompt", "hi", "--top-p", "1.5"]),
        "--top-p",
    );
    fails_with(
        &generate_real(&["--prompt", "hi", "--temperature", "-0.5"]),
        "--temperature",
    );
    fails_with(&generate_real(&[]), "--prompt");
}

#[test]
fn missing_and_corrupt_model_files_are_rejected() {
    fails_with(
        &generate(&["--model", "/nonexistent/model.gguf", "--prompt", "hi"]),
        "model file not found: /nonexistent/model.gguf",
    );
    let bad = std::env::temp_dir().join(format!("veritrace-corrupt-{}.gguf", std::process::id()));
    std::fs::write(&bad, b"GGUF this is not a model").unwrap();
    let out = generate(&["--model", bad.to_str().unwrap(), "--prompt", "hi"]);
    std::fs::remove_file(&bad).unwrap();
    fails_with(&out, "cannot import model file");
}

#[test]
fn a_prompt_over_the_context_is_rejected() {
    let long = "hello ".repeat(2100);
    fails_with(
        &generate_real(&["--prompt", &long, "--max-tokens", "1"]),
        "over the context of 2048 tokens",
    );
}

#[test]
fn greedy_chat_knows_the_capital_of_france() {
    let out = generate_real(&[
        "--chat",
        "What is the capital of France?",
        "--max-tokens",
        "12",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stderr: {err}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Paris"), "answer: {text:?}");
    assert!(
        err.contains("prompt:") && err.contains("tok/s"),
        "stderr: {err}"
    );
}

fn trace_root(err: &str) -> (&str, u64) {
    let line = |key: &str| {
        err.lines()
            .find_map(|l| l.strip_prefix(key))
            .unwrap_or_else(|| panic!("no {key:?} in {err}"))
            .trim()
    };
    (line("trace root:"), line("trace steps:").parse().unwrap())
}

#[test]
fn native_and_wasm_give_the_same_text_and_trace_root() {
    let run = |backend: &str| {
        let out = generate_real(&[
            "--prompt",
            "The capital of France is",
            "--max-tokens",
            "2",
            "--temperature",
            "0.8",
            "--seed",
            "7",
            "--backend",
            backend,
            "--trace",
        ]);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "{backend}: {err}");
        (String::from_utf8_lossy(&out.stdout).into_owned(), err)
    };
    let (native_text, native_err) = run("native");
    let (wasm_text, wasm_err) = run("wasm");
    assert_eq!(native_text, wasm_text);
    let (root, steps) = trace_root(&native_err);
    assert!(root.starts_with("0x") && root.len() == 66, "{root}");
    assert!(
        steps > 30,
        "init, embed, 30 layers, head, sample...: {steps}"
    );
    assert_eq!((root, steps), trace_root(&wasm_err));
}
