//! Shared helpers of the real-model tests: the model file, the image, the tokenizer and the
//! float reference (candle-transformers' quantized llama on the same GGUF, CPU).
#![allow(dead_code, unreachable_pub)]

pub mod tiny;

use candle_core::{Device, Tensor};
use candle_transformers::models::quantized_llama::ModelWeights;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Instant;
use veritrace_vm::ModelImage;
use veritrace_vm::image::ImportOptions;
use veritrace_vm::tokenizer::Tokenizer;

/// The real model; panics with instructions if it is missing.
pub fn model_path() -> PathBuf {
    let p =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models/SmolLM2-135M-Instruct.Q4_1.gguf");
    assert!(
        p.exists(),
        "the real model is missing at {}: run `bash tools/fetch-model.sh` from the repository root",
        p.display()
    );
    p
}

/// The image of the real model (imported once per test binary; prints the import time).
pub fn image() -> &'static ModelImage {
    static IMG: OnceLock<ModelImage> = OnceLock::new();
    IMG.get_or_init(|| {
        let t = Instant::now();
        let img =
            ModelImage::from_gguf_file(&model_path(), &ImportOptions::default()).expect("import");
        eprintln!(
            "import: {:.2} s, image hash {}",
            t.elapsed().as_secs_f64(),
            hex(&img.hash)
        );
        img
    })
}

/// The tokenizer of the real model.
pub fn tokenizer() -> &'static Tokenizer {
    static TK: OnceLock<Tokenizer> = OnceLock::new();
    TK.get_or_init(|| Tokenizer::from_gguf_file(&model_path()).expect("tokenizer"))
}

/// Lower-case hex.
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The float reference model.
pub struct FloatRef {
    model: ModelWeights,
}

impl FloatRef {
    /// Load the reference from the real model file.
    pub fn load() -> FloatRef {
        let path = model_path();
        let mut f = std::fs::File::open(&path).expect("open model");
        let content = candle_core::quantized::gguf_file::Content::read(&mut f).expect("gguf");
        let model = ModelWeights::from_gguf(content, &mut f, &Device::Cpu).expect("float model");
        FloatRef { model }
    }

    fn logits(&mut self, tokens: &[u32], pos: usize) -> Vec<f32> {
        let x = Tensor::new(tokens, &Device::Cpu)
            .unwrap()
            .unsqueeze(0)
            .unwrap();
        let l = self.model.forward(&x, pos).unwrap();
        l.squeeze(0).unwrap().to_vec1::<f32>().unwrap()
    }

    /// Teacher-forced argmax after every prefix (one token at a time through the KV cache).
    pub fn teacher_forced_argmax(&mut self, tokens: &[u32]) -> Vec<u32> {
        self.model.clear_kv_cache();
        (0..tokens.len())
            .map(|i| argmax_f32(&self.logits(&tokens[i..i + 1], i)))
            .collect()
    }

    /// Greedy generation (stops after `eos` or `max` tokens).
    pub fn greedy(&mut self, prompt: &[u32], max: usize, eos: u32) -> Vec<u32> {
        self.model.clear_kv_cache();
        let mut out = Vec::new();
        let mut next = argmax_f32(&self.logits(prompt, 0));
        let mut pos = prompt.len();
        loop {
            out.push(next);
            if next == eos || out.len() >= max {
                return out;
            }
            next = argmax_f32(&self.logits(&[next], pos));
            pos += 1;
        }
    }
}

/// Index of the largest value, lowest index on ties.
pub fn argmax_f32(v: &[f32]) -> u32 {
    let mut b = 0;
    for i in 1..v.len() {
        if v[i] > v[b] {
            b = i;
        }
    }
    b as u32
}
