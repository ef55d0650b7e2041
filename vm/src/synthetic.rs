//! Random-weight llama models of any shape, written as real GGUF files (candle's writer) for
//! the converter to import: the unit-test models of every backend test, and the real-shape
//! models of the GPU check (`veritrace-device-check`), where no model file can travel.
//!
//! The weights are a pure function of [`Spec`] (a splitmix64 stream in a fixed tensor order),
//! so two machines that build the same spec import the same image.

pub use candle_core::quantized::GgmlDType;
use candle_core::quantized::QTensor;
use candle_core::quantized::gguf_file::{self, Value};
use candle_core::{Device, Tensor};

use crate::ModelImage;
use crate::error::{Result, VmError};
use crate::image::ImportOptions;

/// A small deterministic PRNG (splitmix64) for weights and prompts.
#[derive(Clone, Debug)]
pub struct Rng(pub u64);

impl Rng {
    /// The next 64 random bits.
    #[allow(clippy::should_implement_trait)] // an endless stream, not an iterator
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform value in `[-1, 1)`.
    pub fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
    }
}

/// The shape, weight types and seed of a random llama model.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Spec {
    /// Embedding width.
    pub hidden: usize,
    /// Attention heads.
    pub heads: usize,
    /// Key/value heads.
    pub kv: usize,
    /// Feed-forward width.
    pub ffn: usize,
    /// Transformer blocks.
    pub layers: usize,
    /// Vocabulary size (token 1 is the end-of-sequence token).
    pub vocab: usize,
    /// Trained context written into the metadata (the import caps the machine's context at it).
    pub context: u32,
    /// RoPE frequency base.
    pub rope_base: f32,
    /// Type of the token embedding (also the tied output head).
    pub embd: GgmlDType,
    /// Type of every block matrix.
    pub mats: GgmlDType,
    /// `general.architecture` (anything but `llama` is refused by the import).
    pub arch: &'static str,
    /// Seed of the weights.
    pub seed: u64,
}

impl Spec {
    /// SmolLM2-135M's exact shape (the real model's weight types: Q8_0 embedding, Q4_1 blocks).
    pub const SMOLLM2_135M: Spec = Spec {
        hidden: 576,
        heads: 9,
        kv: 3,
        ffn: 1536,
        layers: 30,
        vocab: 49_152,
        context: 8192,
        rope_base: 100_000.0,
        embd: GgmlDType::Q8_0,
        mats: GgmlDType::Q4_1,
        arch: "llama",
        seed: 135,
    };

    /// Llama-3.2-1B's shape (tied head; Q4_0 blocks, as the image has no K-quant format yet).
    pub const LLAMA_1B: Spec = Spec {
        hidden: 2048,
        heads: 32,
        kv: 8,
        ffn: 8192,
        layers: 16,
        vocab: 128_256,
        context: 131_072,
        rope_base: 500_000.0,
        embd: GgmlDType::Q8_0,
        mats: GgmlDType::Q4_0,
        arch: "llama",
        seed: 1000,
    };

    /// Number of weights (embedding, norms and block matrices).
    pub fn parameters(&self) -> usize {
        let hd = self.hidden / self.heads;
        let attn = 2 * self.heads * hd * self.hidden + 2 * self.kv * hd * self.hidden;
        let block = attn + 3 * self.ffn * self.hidden + 2 * self.hidden;
        self.vocab * self.hidden + self.hidden + self.layers * block
    }

    /// The GGUF file of this model.
    pub fn gguf(&self) -> Result<Vec<u8>> {
        gguf(self)
    }

    /// The imported image of this model.
    pub fn import(&self, opts: &ImportOptions) -> Result<ModelImage> {
        ModelImage::from_gguf_bytes(&self.gguf()?, opts)
    }
}

fn candle(e: candle_core::Error) -> VmError {
    VmError::Backend {
        backend: "synthetic model",
        reason: e.to_string(),
    }
}

/// A tensor of `bias + scale * uniform[-1, 1)` values, quantized to `dtype`.
pub fn tensor(
    r: &mut Rng,
    shape: &[usize],
    scale: f32,
    dtype: GgmlDType,
    bias: f32,
) -> Result<QTensor> {
    let n: usize = shape.iter().product();
    let v: Vec<f32> = (0..n).map(|_| bias + scale * r.unit()).collect();
    let t = Tensor::from_vec(v, shape, &Device::Cpu).map_err(candle)?;
    QTensor::quantize(&t, dtype).map_err(candle)
}

/// The GGUF file of a random llama model of shape `s` (token `i` is the text `t{i} `).
pub fn gguf(s: &Spec) -> Result<Vec<u8>> {
    let mut r = Rng(s.seed);
    let hd = s.hidden / s.heads;
    let mut t: Vec<(String, QTensor)> = vec![
        (
            "token_embd.weight".into(),
            tensor(&mut r, &[s.vocab, s.hidden], 1.0, s.embd, 0.0)?,
        ),
        (
            "output_norm.weight".into(),
            tensor(&mut r, &[s.hidden], 0.3, GgmlDType::F32, 1.0)?,
        ),
    ];
    let sc = 1.0 / (s.hidden as f32).sqrt() * 1.7;
    for l in 0..s.layers {
        let n = |x: &str| format!("blk.{l}.{x}.weight");
        let shapes: [(&str, [usize; 2], GgmlDType, f32, f32); 9] = [
            ("attn_norm", [s.hidden, 0], GgmlDType::F32, 0.3, 1.0),
            ("attn_q", [s.heads * hd, s.hidden], s.mats, sc, 0.0),
            ("attn_k", [s.kv * hd, s.hidden], s.mats, sc, 0.0),
            ("attn_v", [s.kv * hd, s.hidden], s.mats, sc, 0.0),
            ("attn_output", [s.hidden, s.heads * hd], s.mats, sc, 0.0),
            ("ffn_norm", [s.hidden, 0], GgmlDType::F16, 0.3, 1.0),
            ("ffn_gate", [s.ffn, s.hidden], s.mats, sc, 0.0),
            ("ffn_up", [s.ffn, s.hidden], s.mats, sc, 0.0),
            ("ffn_down", [s.hidden, s.ffn], s.mats, sc, 0.0),
        ];
        for (name, shape, dtype, scale, bias) in shapes {
            let dims: &[usize] = if shape[1] == 0 { &shape[..1] } else { &shape };
            t.push((n(name), tensor(&mut r, dims, scale, dtype, bias)?));
        }
    }
    let tokens: Vec<Value> = (0..s.vocab)
        .map(|i| {
            Value::String(if i == 1 {
                "<eos>".into()
            } else {
                format!("t{i} ")
            })
        })
        .collect();
    let types: Vec<Value> = (0..s.vocab)
        .map(|i| Value::I32(if i == 1 { 3 } else { 1 }))
        .collect();
    let md: Vec<(&str, Value)> = vec![
        ("general.architecture", Value::String(s.arch.into())),
        ("llama.embedding_length", Value::U32(s.hidden as u32)),
        ("llama.feed_forward_length", Value::U32(s.ffn as u32)),
        ("llama.block_count", Value::U32(s.layers as u32)),
        ("llama.attention.head_count", Value::U32(s.heads as u32)),
        ("llama.attention.head_count_kv", Value::U32(s.kv as u32)),
        ("llama.context_length", Value::U32(s.context)),
        ("llama.rope.freq_base", Value::F32(s.rope_base)),
        ("llama.attention.layer_norm_rms_epsilon", Value::F32(1e-5)),
        ("tokenizer.ggml.model", Value::String("gpt2".into())),
        ("tokenizer.ggml.tokens", Value::Array(tokens)),
        ("tokenizer.ggml.token_type", Value::Array(types)),
        ("tokenizer.ggml.eos_token_id", Value::U32(1)),
    ];
    let mdr: Vec<(&str, &Value)> = md.iter().map(|(k, v)| (*k, v)).collect();
    let tr: Vec<(&str, &QTensor)> = t.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let mut cur = std::io::Cursor::new(Vec::new());
    gguf_file::write(&mut cur, &mdr, &tr).map_err(candle)?;
    Ok(cur.into_inner())
}

/// `n` random prompt token ids below `vocab`, none of them the end-of-sequence token 1 (nor 0).
pub fn prompt(seed: u64, n: usize, vocab: usize) -> Vec<u32> {
    let mut r = Rng(seed);
    (0..n)
        .map(|_| 2 + (r.next() % (vocab as u64 - 2)) as u32)
        .collect()
}
