//! Tiny random-weight llama models ([`veritrace_vm::synthetic`]) imported by the converter:
//! the unit-test models of every backend test.

use candle_core::quantized::GgmlDType;
use veritrace_vm::ModelImage;
use veritrace_vm::image::ImportOptions;
#[allow(unused_imports)] // Rng: used by some of the test binaries that include this module
pub use veritrace_vm::synthetic::{Rng, Spec, prompt};

pub const BASE: Spec = Spec {
    hidden: 64,
    heads: 2,
    kv: 1,
    ffn: 96,
    layers: 2,
    vocab: 300,
    context: 64,
    rope_base: 10000.0,
    embd: GgmlDType::Q8_0,
    mats: GgmlDType::Q4_1,
    arch: "llama",
    seed: 1,
};

/// A GGUF file of a random llama model.
pub fn gguf(s: &Spec) -> Vec<u8> {
    s.gguf().unwrap()
}

pub fn import(s: &Spec, chunk: u32) -> ModelImage {
    ModelImage::from_gguf_bytes(&gguf(s), &ImportOptions { ctx: 64, chunk }).unwrap()
}

pub fn specs() -> Vec<Spec> {
    vec![
        BASE,
        Spec {
            hidden: 128,
            heads: 4,
            kv: 2,
            ffn: 160,
            layers: 3,
            mats: GgmlDType::Q4_0,
            seed: 2,
            ..BASE
        },
        Spec {
            hidden: 64,
            heads: 1,
            kv: 1,
            ffn: 64,
            embd: GgmlDType::F16,
            mats: GgmlDType::Q8_0,
            seed: 3,
            ..BASE
        },
        Spec {
            hidden: 96,
            heads: 3,
            kv: 3,
            ffn: 128,
            embd: GgmlDType::Q4_1,
            mats: GgmlDType::F32,
            seed: 4,
            ..BASE
        },
    ]
}
