//! Tiny random-weight llama models, written as GGUF with candle's writer and imported by the
//! converter: the unit-test models of every backend test.

use candle_core::quantized::gguf_file::{self, Value};
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{Device, Tensor};
use veritrace_vm::ModelImage;
use veritrace_vm::image::ImportOptions;

/// A small deterministic PRNG (splitmix64) for weights and prompts.
pub struct Rng(pub u64);
impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
    }
}

#[derive(Clone, Copy, Debug)]
pub struct Spec {
    pub hidden: usize,
    pub heads: usize,
    pub kv: usize,
    pub ffn: usize,
    pub layers: usize,
    pub vocab: usize,
    pub embd: GgmlDType,
    pub mats: GgmlDType,
    pub arch: &'static str,
    pub seed: u64,
}

pub const BASE: Spec = Spec {
    hidden: 64,
    heads: 2,
    kv: 1,
    ffn: 96,
    layers: 2,
    vocab: 300,
    embd: GgmlDType::Q8_0,
    mats: GgmlDType::Q4_1,
    arch: "llama",
    seed: 1,
};

pub fn tensor(r: &mut Rng, shape: &[usize], scale: f32, dtype: GgmlDType, bias: f32) -> QTensor {
    let n: usize = shape.iter().product();
    let v: Vec<f32> = (0..n).map(|_| bias + scale * r.unit()).collect();
    let t = Tensor::from_vec(v, shape, &Device::Cpu).unwrap();
    QTensor::quantize(&t, dtype).unwrap()
}

/// A GGUF file of a random llama model.
pub fn gguf(s: &Spec) -> Vec<u8> {
    let mut r = Rng(s.seed);
    let hd = s.hidden / s.heads;
    let mut t: Vec<(String, QTensor)> = vec![
        (
            "token_embd.weight".into(),
            tensor(&mut r, &[s.vocab, s.hidden], 1.0, s.embd, 0.0),
        ),
        (
            "output_norm.weight".into(),
            tensor(&mut r, &[s.hidden], 0.3, GgmlDType::F32, 1.0),
        ),
    ];
    for l in 0..s.layers {
        let n = |x: &str| format!("blk.{l}.{x}.weight");
        let sc = 1.0 / (s.hidden as f32).sqrt() * 1.7;
        t.push((
            n("attn_norm"),
            tensor(&mut r, &[s.hidden], 0.3, GgmlDType::F32, 1.0),
        ));
        t.push((
            n("attn_q"),
            tensor(&mut r, &[s.heads * hd, s.hidden], sc, s.mats, 0.0),
        ));
        t.push((
            n("attn_k"),
            tensor(&mut r, &[s.kv * hd, s.hidden], sc, s.mats, 0.0),
        ));
        t.push((
            n("attn_v"),
            tensor(&mut r, &[s.kv * hd, s.hidden], sc, s.mats, 0.0),
        ));
        t.push((
            n("attn_output"),
            tensor(&mut r, &[s.hidden, s.heads * hd], sc, s.mats, 0.0),
        ));
        t.push((
            n("ffn_norm"),
            tensor(&mut r, &[s.hidden], 0.3, GgmlDType::F16, 1.0),
        ));
        t.push((
            n("ffn_gate"),
            tensor(&mut r, &[s.ffn, s.hidden], sc, s.mats, 0.0),
        ));
        t.push((
            n("ffn_up"),
            tensor(&mut r, &[s.ffn, s.hidden], sc, s.mats, 0.0),
        ));
        t.push((
            n("ffn_down"),
            tensor(&mut r, &[s.hidden, s.ffn], sc, s.mats, 0.0),
        ));
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
        ("llama.context_length", Value::U32(64)),
        ("llama.rope.freq_base", Value::F32(10000.0)),
        ("llama.attention.layer_norm_rms_epsilon", Value::F32(1e-5)),
        ("tokenizer.ggml.model", Value::String("gpt2".into())),
        ("tokenizer.ggml.tokens", Value::Array(tokens)),
        ("tokenizer.ggml.token_type", Value::Array(types)),
        ("tokenizer.ggml.eos_token_id", Value::U32(1)),
    ];
    let mdr: Vec<(&str, &Value)> = md.iter().map(|(k, v)| (*k, v)).collect();
    let tr: Vec<(&str, &QTensor)> = t.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let mut cur = std::io::Cursor::new(Vec::new());
    gguf_file::write(&mut cur, &mdr, &tr).unwrap();
    cur.into_inner()
}

pub fn import(s: &Spec, chunk: u32) -> ModelImage {
    ModelImage::from_gguf_bytes(&gguf(s), &ImportOptions { ctx: 64, chunk }).unwrap()
}

pub fn prompt(seed: u64, n: usize, vocab: usize) -> Vec<u32> {
    let mut r = Rng(seed);
    (0..n)
        .map(|_| 2 + (r.next() % (vocab as u64 - 2)) as u32)
        .collect()
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
