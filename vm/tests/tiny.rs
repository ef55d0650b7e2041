//! Tiny random-weight llama models built in the test (written as GGUF with candle's writer,
//! imported by the converter): determinism, chunking invariance, step-boundary hygiene and
//! every bad-input error.

mod common;

use candle_core::quantized::GgmlDType;
use common::tiny::{BASE, Spec, gguf, import, prompt, specs};
use veritrace_vm::image::ImportOptions;
use veritrace_vm::semantics::layout::{META_OFFSET, REGIONS, Region};
use veritrace_vm::semantics::mem::rd_u32;
use veritrace_vm::semantics::step::{self as st, ctl};
use veritrace_vm::{Engine, ModelImage, Request, VmError};

#[test]
fn import_is_deterministic() {
    for s in specs() {
        let a = import(&s, 4);
        let b = import(&s, 4);
        assert_eq!(a.hash, b.hash, "{s:?}");
        assert_eq!(a.image, b.image);
        // Regions: power-of-two sizes, aligned, disjoint, inside memory; meta at its address.
        let l = a.layout;
        let regions: Vec<(usize, usize)> =
            REGIONS.iter().map(|r| (l.offset(*r), l.size(*r))).collect();
        for (i, (o, n)) in regions.iter().enumerate() {
            assert!(n.is_power_of_two() && o % n == 0, "region {i} unaligned");
            assert!(
                o + n <= 1usize << l.memory_log2,
                "region {i} outside memory"
            );
            for (j, (p, m)) in regions.iter().enumerate().skip(i + 1) {
                assert!(o + n <= *p || p + m <= *o, "regions {i} and {j} overlap");
            }
        }
        assert_eq!(l.offset(Region::Meta), META_OFFSET);
        let c = import(
            &Spec {
                seed: s.seed + 100,
                ..s
            },
            4,
        );
        assert_ne!(a.hash, c.hash, "different weights, different hash");
    }
}

#[test]
fn runs_are_deterministic_and_chunking_invariant() {
    for s in specs() {
        let img4 = import(&s, 4);
        let img1 = import(&s, 1);
        let p = prompt(s.seed, 11, s.vocab);
        let reqs = [
            Request::greedy(p.clone(), 12),
            Request {
                temperature_q16: 3 << 16,
                top_k: 40,
                top_p_q16: 58000,
                seed: [7; 32],
                ..Request::greedy(p.clone(), 12)
            },
            Request {
                temperature_q16: 1 << 15,
                top_k: 0,
                top_p_q16: 1 << 16,
                seed: [9; 32],
                ..Request::greedy(p.clone(), 12)
            },
        ];
        for req in &reqs {
            let mut e = Engine::new(&img4);
            let scratch = {
                let l = img4.layout;
                (l.offset(Region::Scratch), l.size(Region::Scratch))
            };
            let mut boundary_hashes = Vec::new();
            let a = e
                .run_with(req, |_, m| {
                    assert!(
                        m[scratch.0..scratch.0 + scratch.1].iter().all(|b| *b == 0),
                        "scratch not zero at a boundary"
                    );
                    boundary_hashes.push(hash(m));
                })
                .unwrap();
            let mut hashes2 = Vec::new();
            let b = e.run_with(req, |_, m| hashes2.push(hash(m))).unwrap();
            assert_eq!(a, b, "{s:?}");
            assert_eq!(
                boundary_hashes, hashes2,
                "identical memory at every step boundary"
            );
            let c = Engine::new(&img1).run(req).unwrap();
            assert_eq!(
                a.answer.tokens, c.answer.tokens,
                "chunk 1 vs chunk 4: {s:?}"
            );
            assert!(!a.answer.tokens.is_empty());
            // Step count: init + per chunk (embed + layers) + per token (head, which samples) ...
            let n_gen = a.answer.tokens.len() as u64;
            let chunks = 11u64.div_ceil(4) + (n_gen - 1);
            assert_eq!(a.steps, 1 + chunks * (1 + s.layers as u64) + n_gen);
            // Text is the concatenation of the tokens' bytes (the eos token has none).
            let want: String = a
                .answer
                .tokens
                .iter()
                .filter(|t| **t != 1)
                .map(|t| format!("t{t} "))
                .collect();
            assert_eq!(a.text, want);
        }
        // Greedy decoding equals teacher-forced argmax of the same sequence.
        let mut e = Engine::new(&img4);
        let g = e.run(&reqs[0]).unwrap();
        let mut seq = p.clone();
        seq.extend_from_slice(&g.answer.tokens[..g.answer.tokens.len() - 1]);
        let tf = e.teacher_forced_argmax(&seq).unwrap();
        assert_eq!(&tf[p.len() - 1..], &g.answer.tokens[..], "{s:?}");
        // Sampling depends on the seed.
        let hot = Request {
            temperature_q16: 1000 << 16,
            ..reqs[1].clone()
        };
        let r1 = e.run(&hot).unwrap();
        let r2 = e
            .run(&Request {
                seed: [8; 32],
                ..hot
            })
            .unwrap();
        assert_ne!(r1.answer.tokens, r2.answer.tokens, "{s:?}");
    }
}

fn hash(m: &[u8]) -> u64 {
    // FNV-1a over 8-byte words: enough to compare two runs in a test.
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for c in m.chunks_exact(8) {
        h = (h ^ u64::from_le_bytes(c.try_into().unwrap())).wrapping_mul(0x100_0000_01b3);
    }
    h
}

#[test]
fn stops_at_max_tokens_and_full_context() {
    let img = import(&BASE, 4);
    let mut e = Engine::new(&img);
    let p = prompt(5, 10, BASE.vocab);
    let out = e.run(&Request::greedy(p.clone(), 3)).unwrap();
    assert!(out.answer.tokens.len() <= 3);
    if out.answer.tokens.len() == 3 {
        assert_eq!(out.answer.status, st::STATUS_MAX_TOKENS);
    } else {
        assert_eq!(out.answer.status, st::STATUS_EOS);
    }
    let long = prompt(6, 60, BASE.vocab);
    let out = e
        .run(&Request {
            temperature_q16: 1 << 16,
            ..Request::greedy(long, 100)
        })
        .unwrap();
    if out.answer.status == st::STATUS_CONTEXT_FULL {
        assert_eq!(out.answer.tokens.len(), 4);
    } else {
        assert_eq!(out.answer.status, st::STATUS_EOS);
    }
}

#[test]
fn bad_requests_are_typed_errors() {
    let img = import(&BASE, 4);
    let mut e = Engine::new(&img);
    let ok = prompt(1, 5, BASE.vocab);
    assert!(matches!(
        e.run(&Request::greedy(vec![], 4)),
        Err(VmError::EmptyPrompt)
    ));
    assert!(matches!(
        e.run(&Request::greedy(prompt(2, 64, BASE.vocab), 4)),
        Err(VmError::PromptTooLong { len: 64, ctx: 64 })
    ));
    assert!(matches!(
        e.run(&Request::greedy(ok.clone(), 0)),
        Err(VmError::ZeroMaxTokens)
    ));
    let mut bad = ok.clone();
    bad[3] = 300;
    let err = e.run(&Request::greedy(bad, 4)).unwrap_err();
    assert!(
        matches!(
            err,
            VmError::InvalidToken {
                id: 300,
                pos: 3,
                vocab: 300
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("token id 300"));
    assert!(matches!(
        e.run(&Request {
            top_p_q16: 70000,
            ..Request::greedy(ok.clone(), 4)
        }),
        Err(VmError::BadTopP(70000))
    ));
}

/// The machine itself rejects bad input written raw (what the chain would deliver).
#[test]
fn machine_rejects_raw_bad_input() {
    let img = import(&BASE, 4);
    let cases: Vec<(Vec<u8>, u32)> = vec![
        (
            {
                let mut b = Request::greedy(vec![5, 6], 4).encode();
                b[0] = 0;
                b
            },
            st::STATUS_BAD_MAGIC,
        ),
        (Request::greedy(vec![], 4).encode(), st::STATUS_EMPTY_PROMPT),
        (
            Request::greedy(vec![5; 64], 4).encode(),
            st::STATUS_PROMPT_TOO_LONG,
        ),
        (
            Request::greedy(vec![5, 6], 0).encode(),
            st::STATUS_ZERO_MAX_TOKENS,
        ),
        (
            Request::greedy(vec![5, 999], 4).encode(),
            st::STATUS_BAD_TOKEN,
        ),
        (
            Request {
                top_p_q16: 1 << 17,
                ..Request::greedy(vec![5], 4)
            }
            .encode(),
            st::STATUS_BAD_PARAMS,
        ),
    ];
    for (bytes, status) in cases {
        let mut m = img.initial_memory();
        let i = img.layout.offset(Region::Input);
        m[i..i + bytes.len()].copy_from_slice(&bytes);
        assert!(st::step(&mut m), "rejected input finishes in one step");
        let c = img.layout.offset(Region::Control);
        assert_eq!(rd_u32(&m, c + ctl::STATUS), status);
        assert_eq!(rd_u32(&m, img.layout.offset(Region::Output)), status);
    }
}

#[test]
fn bad_model_files_are_clear_errors() {
    let opts = ImportOptions { ctx: 64, chunk: 4 };
    let good = gguf(&BASE);
    // Truncated in the tensor data and in the header.
    let e = ModelImage::from_gguf_bytes(&good[..good.len() - 1000], &opts).unwrap_err();
    assert!(matches!(e, VmError::Gguf(_)), "{e}");
    assert!(e.to_string().contains("past the end"), "{e}");
    let e = ModelImage::from_gguf_bytes(&good[..200], &opts).unwrap_err();
    assert!(matches!(e, VmError::Gguf(_)), "{e}");
    let e = ModelImage::from_gguf_bytes(b"not a gguf file at all", &opts).unwrap_err();
    assert!(matches!(e, VmError::Gguf(_)), "{e}");
    // Unsupported tensor type, named.
    let e = ModelImage::from_gguf_bytes(
        &gguf(&Spec {
            mats: GgmlDType::Q5_0,
            ..BASE
        }),
        &opts,
    )
    .unwrap_err();
    match &e {
        VmError::UnsupportedTensorType { name, dtype } => {
            assert_eq!(name, "blk.0.attn_q.weight");
            assert!(dtype.contains("Q5_0"), "{dtype}");
        }
        other => panic!("wrong error {other}"),
    }
    // Not llama.
    let e = ModelImage::from_gguf_bytes(
        &gguf(&Spec {
            arch: "gpt2",
            ..BASE
        }),
        &opts,
    )
    .unwrap_err();
    assert!(
        matches!(&e, VmError::UnsupportedArchitecture(a) if a == "gpt2"),
        "{e}"
    );
    // Missing file.
    let e = ModelImage::from_gguf_file(std::path::Path::new("/nonexistent/model.gguf"), &opts)
        .unwrap_err();
    assert!(matches!(e, VmError::Io { .. }), "{e}");
}
