//! The model image: GGUF -> integer weights, norms, RoPE tables and vocabulary, placed in the
//! machine's memory layout, with a content hash.

mod gguf;
mod vocab;

pub use gguf::{Gguf, choose_shift, to_fixed};
pub use vocab::token_bytes;

use crate::error::{Result, VmError};
use crate::semantics::layout::{
    Dims, KIND_RAW, KIND_VEC, Layout, MAX_CHUNK, MAX_HEAD_DIM, META_LOG2, META_OFFSET, N_REGIONS,
    PROGRAM_LOG2, REGIONS, Region, TensorEntry, layer_tensor, tid,
};
use sha3::{Digest, Keccak256};

/// Import options.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImportOptions {
    /// Context of the machine (capped at the model's trained context).
    pub ctx: u32,
    /// Prefill chunk: tokens per layer step.
    pub chunk: u32,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            ctx: 2048,
            chunk: 16,
        }
    }
}

/// The deterministic model image and the layout of the machine that runs it.
#[derive(Clone)]
pub struct ModelImage {
    /// Region layout.
    pub layout: Layout,
    /// Model dimensions.
    pub dims: Dims,
    /// The meta region's bytes.
    pub meta: Vec<u8>,
    /// The image region's bytes (its full power-of-two size).
    pub image: Vec<u8>,
    /// `keccak256("veritrace-image-v1" ‖ meta ‖ image)`.
    pub hash: [u8; 32],
}

impl std::fmt::Debug for ModelImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelImage")
            .field("layout", &self.layout)
            .field("dims", &self.dims)
            .field("image_bytes", &self.image.len())
            .field("hash", &self.hash)
            .finish()
    }
}

fn pow2_log2(n: usize) -> u32 {
    n.max(32).next_power_of_two().trailing_zeros()
}

/// Place the regions: program at 0 and meta at `META_OFFSET`, the others by decreasing size
/// (ties by region index) at the lowest offset aligned to their size that is free.
pub fn build_layout(d: &Dims, image_bytes: usize) -> Result<Layout> {
    let mut log2s = [0u32; N_REGIONS];
    let sizes = d.region_bytes();
    for r in REGIONS {
        log2s[r as usize] = match r {
            Region::Program => PROGRAM_LOG2,
            Region::Meta => META_LOG2,
            Region::Image => pow2_log2(image_bytes),
            _ => pow2_log2(sizes[r as usize]),
        };
    }
    let mut offsets = [0u64; N_REGIONS];
    offsets[Region::Meta as usize] = META_OFFSET as u64;
    let mut placed: Vec<(u64, u64)> =
        vec![(0, 1 << PROGRAM_LOG2), (META_OFFSET as u64, 1 << META_LOG2)];
    let mut order: Vec<Region> = REGIONS[2..].to_vec();
    order.sort_by_key(|r| (std::cmp::Reverse(log2s[*r as usize]), *r as u32));
    for r in order {
        let size = 1u64 << log2s[r as usize];
        let mut at = 0u64;
        while placed.iter().any(|(o, s)| at < o + s && *o < at + size) {
            at += size;
        }
        offsets[r as usize] = at;
        placed.push((at, size));
    }
    let end = placed.iter().map(|(o, s)| o + s).max().unwrap_or(1);
    let memory_log2 = end.next_power_of_two().trailing_zeros().max(16);
    if memory_log2 > 32 {
        return Err(VmError::TooLarge(memory_log2));
    }
    Ok(Layout {
        memory_log2,
        offsets: offsets.map(|o| o as u32),
        log2s,
    })
}

/// Append `data` to the image at a 32-byte aligned offset; returns the relative offset.
fn push(img: &mut Vec<u8>, data: &[u8]) -> usize {
    let o = (img.len() + 31) & !31;
    img.resize(o, 0);
    img.extend_from_slice(data);
    o
}

impl ModelImage {
    /// Read and convert a GGUF file.
    pub fn from_gguf_file(path: &std::path::Path, opts: &ImportOptions) -> Result<ModelImage> {
        let bytes = std::fs::read(path).map_err(|source| VmError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_gguf_bytes(&bytes, opts)
    }

    /// Convert a GGUF file held in memory.
    pub fn from_gguf_bytes(bytes: &[u8], opts: &ImportOptions) -> Result<ModelImage> {
        let g = Gguf::parse(bytes)?;
        let arch = g.meta_str("general.architecture")?.to_string();
        if arch != "llama" {
            return Err(VmError::UnsupportedArchitecture(arch));
        }
        let hidden = g.meta_u32("llama.embedding_length")?;
        let n_head = g.meta_u32("llama.attention.head_count")?;
        let n_kv = g
            .meta_u32("llama.attention.head_count_kv")
            .unwrap_or(n_head);
        let head_dim = hidden.checked_div(n_head).unwrap_or(0);
        let tokens: Vec<String> = g
            .meta("tokenizer.ggml.tokens")?
            .to_vec()
            .map_err(|_| VmError::Metadata("tokenizer.ggml.tokens".into()))?
            .iter()
            .map(|v| {
                v.to_string()
                    .cloned()
                    .map_err(|_| VmError::Metadata("tokenizer.ggml.tokens".into()))
            })
            .collect::<Result<_>>()?;
        let types: Option<Vec<i32>> = g
            .content
            .metadata
            .get("tokenizer.ggml.token_type")
            .and_then(|v| v.to_vec().ok())
            .map(|v| v.iter().map(|x| x.to_i32().unwrap_or(1)).collect());
        let model_ctx = g.meta_u32("llama.context_length").unwrap_or(opts.ctx);
        let rope_base = g.meta_f32("llama.rope.freq_base").unwrap_or(10000.0) as f64;
        let eps = g.meta_f32("llama.attention.layer_norm_rms_epsilon")? as f64;
        let tok_model = g
            .meta_str("tokenizer.ggml.model")
            .unwrap_or("gpt2")
            .to_string();
        let vb = token_bytes(&tok_model, &tokens, types.as_deref());
        let mut d = Dims {
            hidden,
            ffn: g.meta_u32("llama.feed_forward_length")?,
            n_layers: g.meta_u32("llama.block_count")?,
            n_head,
            n_kv,
            head_dim,
            vocab: tokens.len() as u32,
            ctx: opts.ctx.min(model_ctx),
            chunk: opts.chunk,
            eps_q24: to_fixed(eps, 24).max(1) as u32,
            attn_scale_q16: to_fixed(1.0 / (head_dim.max(1) as f64).sqrt(), 16) as u32,
            eos: g.meta_u32("tokenizer.ggml.eos_token_id")?,
            max_token_bytes: vb.iter().map(|b| b.len()).max().unwrap_or(1).max(1) as u32,
        };
        if let Ok(rd) = g.meta_u32("llama.rope.dimension_count")
            && rd != head_dim
        {
            return Err(VmError::Shape(format!(
                "partial RoPE ({rd} of {head_dim} dims) is not supported"
            )));
        }
        check_dims(&d)?;
        let (h, f, qd, kvd) = (hidden as usize, d.ffn as usize, d.q_dim(), d.kv_dim());
        let vocab = d.vocab as usize;

        // Image content, offsets relative to the image region for now.
        let mut img = Vec::new();
        let mut dir = vec![TensorEntry::default(); d.n_tensors()];
        let put_mat = |img: &mut Vec<u8>,
                       dir: &mut Vec<TensorEntry>,
                       id: usize,
                       name: &str,
                       rows: usize,
                       cols: usize|
         -> Result<()> {
            let m = g.matrix(name, rows, cols)?;
            let o = push(img, &m.data);
            dir[id] = TensorEntry {
                offset: o as u32,
                kind: m.kind,
                shift: m.shift,
                rows: rows as u32,
            };
            Ok(())
        };
        let put_vec = |img: &mut Vec<u8>,
                       dir: &mut Vec<TensorEntry>,
                       id: usize,
                       name: &str,
                       n: usize|
         -> Result<()> {
            let v = g.vector(name, n)?;
            let o = push(img, &v);
            dir[id] = TensorEntry {
                offset: o as u32,
                kind: KIND_VEC,
                shift: 16,
                rows: n as u32,
            };
            Ok(())
        };
        put_mat(
            &mut img,
            &mut dir,
            tid::TOK_EMBD,
            "token_embd.weight",
            vocab,
            h,
        )?;
        put_vec(&mut img, &mut dir, tid::OUT_NORM, "output_norm.weight", h)?;
        if g.has("output.weight") {
            put_mat(&mut img, &mut dir, tid::HEAD, "output.weight", vocab, h)?;
        } else {
            dir[tid::HEAD] = dir[tid::TOK_EMBD];
        }
        for l in 0..d.n_layers as usize {
            let n = |s: &str| format!("blk.{l}.{s}.weight");
            put_vec(
                &mut img,
                &mut dir,
                layer_tensor(l, tid::ATTN_NORM),
                &n("attn_norm"),
                h,
            )?;
            put_mat(
                &mut img,
                &mut dir,
                layer_tensor(l, tid::WQ),
                &n("attn_q"),
                qd,
                h,
            )?;
            put_mat(
                &mut img,
                &mut dir,
                layer_tensor(l, tid::WK),
                &n("attn_k"),
                kvd,
                h,
            )?;
            put_mat(
                &mut img,
                &mut dir,
                layer_tensor(l, tid::WV),
                &n("attn_v"),
                kvd,
                h,
            )?;
            put_mat(
                &mut img,
                &mut dir,
                layer_tensor(l, tid::WO),
                &n("attn_output"),
                h,
                qd,
            )?;
            put_vec(
                &mut img,
                &mut dir,
                layer_tensor(l, tid::FFN_NORM),
                &n("ffn_norm"),
                h,
            )?;
            put_mat(
                &mut img,
                &mut dir,
                layer_tensor(l, tid::GATE),
                &n("ffn_gate"),
                f,
                h,
            )?;
            put_mat(
                &mut img,
                &mut dir,
                layer_tensor(l, tid::UP),
                &n("ffn_up"),
                f,
                h,
            )?;
            put_mat(
                &mut img,
                &mut dir,
                layer_tensor(l, tid::DOWN),
                &n("ffn_down"),
                h,
                f,
            )?;
        }
        let (cos, sin) = rope_tables(d.ctx as usize, head_dim as usize, rope_base);
        let raw = |o: usize, n: usize| TensorEntry {
            offset: o as u32,
            kind: KIND_RAW,
            shift: 0,
            rows: n as u32,
        };
        dir[tid::ROPE_COS] = raw(push(&mut img, &cos), cos.len());
        dir[tid::ROPE_SIN] = raw(push(&mut img, &sin), sin.len());
        let mut offs = Vec::with_capacity(4 * (vocab + 1));
        let mut all = Vec::new();
        for b in &vb {
            offs.extend_from_slice(&(all.len() as u32).to_le_bytes());
            all.extend_from_slice(b);
        }
        offs.extend_from_slice(&(all.len() as u32).to_le_bytes());
        dir[tid::VOCAB_OFFSETS] = raw(push(&mut img, &offs), offs.len());
        dir[tid::VOCAB_BYTES] = raw(push(&mut img, &all), all.len());
        d.max_token_bytes = d.max_token_bytes.max(1);

        let layout = build_layout(&d, img.len())?;
        img.resize(layout.size(Region::Image), 0);
        let mut meta = vec![0u8; 1 << META_LOG2];
        layout.write(&mut meta);
        d.write(&mut meta);
        let base = layout.offset(Region::Image) as u32;
        for (i, mut e) in dir.into_iter().enumerate() {
            e.offset += base;
            e.write(&mut meta, i);
        }
        let mut hsh = Keccak256::new();
        hsh.update(b"veritrace-image-v1");
        hsh.update(&meta);
        hsh.update(&img);
        Ok(ModelImage {
            layout,
            dims: d,
            meta,
            image: img,
            hash: hsh.finalize().into(),
        })
    }

    /// The machine's initial memory (before the request input is written).
    pub fn initial_memory(&self) -> Vec<u8> {
        let mut m = vec![0u8; 1usize << self.layout.memory_log2];
        self.load_into(&mut m);
        m
    }

    /// Write the canonical program's static data, the meta and the image regions into a memory
    /// of the right size: every byte that is not zero in the initial memory.
    pub fn load_into(&self, m: &mut [u8]) {
        crate::program::write_static_data(m);
        m[META_OFFSET..META_OFFSET + self.meta.len()].copy_from_slice(&self.meta);
        let o = self.layout.offset(Region::Image);
        m[o..o + self.image.len()].copy_from_slice(&self.image);
    }
}

fn check_dims(d: &Dims) -> Result<()> {
    let bad = |m: String| Err(VmError::Shape(m));
    if d.n_head == 0 || d.n_kv == 0 || !d.n_head.is_multiple_of(d.n_kv) {
        return bad(format!("{} query heads over {} KV heads", d.n_head, d.n_kv));
    }
    if d.head_dim as usize * d.n_head as usize != d.hidden as usize {
        return bad(format!("hidden {} is not heads x head_dim", d.hidden));
    }
    if !d.head_dim.is_multiple_of(32) || d.head_dim as usize > MAX_HEAD_DIM {
        return bad(format!(
            "head dim {} (must be a multiple of 32, at most {MAX_HEAD_DIM})",
            d.head_dim
        ));
    }
    if !d.hidden.is_multiple_of(32) || !d.ffn.is_multiple_of(32) || d.ffn == 0 {
        return bad(format!(
            "hidden {} / ffn {} must be multiples of 32",
            d.hidden, d.ffn
        ));
    }
    if d.chunk == 0 || d.chunk as usize > MAX_CHUNK {
        return bad(format!("chunk {} (1..={MAX_CHUNK})", d.chunk));
    }
    if d.ctx < 2 || d.vocab == 0 || d.n_layers == 0 {
        return bad(format!(
            "ctx {} vocab {} layers {}",
            d.ctx, d.vocab, d.n_layers
        ));
    }
    if d.eos >= d.vocab {
        return bad(format!("eos id {} outside the vocabulary", d.eos));
    }
    Ok(())
}

/// RoPE cos/sin tables, i32 Q.30 `[ctx][head_dim/2]`, angle `p * base^(-2i/head_dim)`, computed
/// with `libm` (a pure-software libm: identical on every machine) and rounded half-even.
pub fn rope_tables(ctx: usize, head_dim: usize, base: f64) -> (Vec<u8>, Vec<u8>) {
    let half = head_dim / 2;
    let mut cos = Vec::with_capacity(4 * ctx * half);
    let mut sin = Vec::with_capacity(4 * ctx * half);
    for p in 0..ctx {
        for i in 0..half {
            let theta = libm::pow(base, -((2 * i) as f64) / head_dim as f64);
            let a = p as f64 * theta;
            cos.extend_from_slice(&to_fixed(libm::cos(a), 30).to_le_bytes());
            sin.extend_from_slice(&to_fixed(libm::sin(a), 30).to_le_bytes());
        }
    }
    (cos, sin)
}
