//! The memory layout: named power-of-two regions, the meta record (layout, model dimensions,
//! tensor directory) at a fixed address, and the derived sub-layouts of the scratch and KV
//! regions. Everything here is a pure function of the model dimensions.

use super::mem::{rd_u32, wr_u32};

/// The program region (wasm shadow stack and static data) is `[0, 2^PROGRAM_LOG2)`.
pub const PROGRAM_LOG2: u32 = 21;
/// The meta record lives at this fixed address.
pub const META_OFFSET: usize = 1 << PROGRAM_LOG2;
/// The meta region is `2^META_LOG2` bytes.
pub const META_LOG2: u32 = 13;
/// Magic of the meta record ("VTMM" little-endian).
pub const META_MAGIC: u32 = u32::from_le_bytes(*b"VTMM");
/// Version of the meta record and image format.
pub const META_VERSION: u32 = 1;
/// Byte offset of the model dimensions inside the meta record.
pub const META_DIMS: usize = 128;
/// Byte offset of the tensor directory inside the meta record.
pub const META_TENSORS: usize = 256;
/// Size of one tensor directory entry.
pub const TENSOR_ENTRY: usize = 16;
/// Largest chunk of tokens one layer step processes.
pub const MAX_CHUNK: usize = 64;
/// Largest head dimension supported.
pub const MAX_HEAD_DIM: usize = 256;
/// Most sampling candidates kept (top-k is capped at this).
pub const MAX_CANDIDATES: usize = 1024;

/// The regions of memory, in the order of the layout table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum Region {
    /// Wasm shadow stack and static data of the program.
    Program = 0,
    /// Meta record: layout table, model dimensions, tensor directory.
    Meta = 1,
    /// Control record: the step state machine.
    Control = 2,
    /// Request input, written by the host before step 0.
    Input = 3,
    /// Answer: status, token ids, UTF-8 text.
    Output = 4,
    /// The token sequence (prompt then generated tokens).
    Tokens = 5,
    /// Hidden state of the current chunk (i32 Q.12).
    Hidden = 6,
    /// Logits of the last token (i32 Q.12), inside a head step; zero at every step boundary.
    Logits = 7,
    /// Scratch, all zero at every step boundary.
    Scratch = 8,
    /// Key/value cache.
    Kv = 9,
    /// Model image: weights, norms, RoPE tables, vocabulary.
    Image = 10,
}

/// Number of regions.
pub const N_REGIONS: usize = 11;

/// All regions in table order.
pub const REGIONS: [Region; N_REGIONS] = [
    Region::Program,
    Region::Meta,
    Region::Control,
    Region::Input,
    Region::Output,
    Region::Tokens,
    Region::Hidden,
    Region::Logits,
    Region::Scratch,
    Region::Kv,
    Region::Image,
];

/// Offsets and sizes (log2) of every region, and the memory size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    /// Memory is `2^memory_log2` bytes.
    pub memory_log2: u32,
    /// Byte offset of each region, by [`Region`] index.
    pub offsets: [u32; N_REGIONS],
    /// log2 of the size of each region.
    pub log2s: [u32; N_REGIONS],
}

impl Layout {
    /// Offset of a region.
    pub fn offset(&self, r: Region) -> usize {
        self.offsets[r as usize] as usize
    }
    /// Size of a region in bytes.
    pub fn size(&self, r: Region) -> usize {
        1usize << self.log2s[r as usize]
    }
    /// Read the layout table from the meta record in memory.
    pub fn read(mem: &[u8]) -> Layout {
        let mut l = Layout {
            memory_log2: rd_u32(mem, META_OFFSET + 8),
            offsets: [0; N_REGIONS],
            log2s: [0; N_REGIONS],
        };
        for i in 0..N_REGIONS {
            l.offsets[i] = rd_u32(mem, META_OFFSET + 16 + 8 * i);
            l.log2s[i] = rd_u32(mem, META_OFFSET + 20 + 8 * i);
        }
        l
    }
    /// Write the header and layout table into a meta record buffer (offsets relative to it).
    pub fn write(&self, meta: &mut [u8]) {
        wr_u32(meta, 0, META_MAGIC);
        wr_u32(meta, 4, META_VERSION);
        wr_u32(meta, 8, self.memory_log2);
        wr_u32(meta, 12, N_REGIONS as u32);
        for i in 0..N_REGIONS {
            wr_u32(meta, 16 + 8 * i, self.offsets[i]);
            wr_u32(meta, 20 + 8 * i, self.log2s[i]);
        }
    }
}

/// Model dimensions and constants (the `dims` block of the meta record, u32 fields in order).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Dims {
    /// Hidden size.
    pub hidden: u32,
    /// FFN inner size.
    pub ffn: u32,
    /// Number of layers.
    pub n_layers: u32,
    /// Query heads.
    pub n_head: u32,
    /// Key/value heads.
    pub n_kv: u32,
    /// Head dimension.
    pub head_dim: u32,
    /// Vocabulary size.
    pub vocab: u32,
    /// Context length of the machine (tokens).
    pub ctx: u32,
    /// Prefill chunk size (tokens per layer step).
    pub chunk: u32,
    /// RMSNorm epsilon in Q.24 (at least 1).
    pub eps_q24: u32,
    /// Attention score scale `1/sqrt(head_dim)` in Q.16.
    pub attn_scale_q16: u32,
    /// End-of-sequence token id (generation stops after sampling it).
    pub eos: u32,
    /// Longest detokenized token, in bytes.
    pub max_token_bytes: u32,
}

const DIMS_FIELDS: usize = 13;

impl Dims {
    fn fields(&self) -> [u32; DIMS_FIELDS] {
        [
            self.hidden,
            self.ffn,
            self.n_layers,
            self.n_head,
            self.n_kv,
            self.head_dim,
            self.vocab,
            self.ctx,
            self.chunk,
            self.eps_q24,
            self.attn_scale_q16,
            self.eos,
            self.max_token_bytes,
        ]
    }
    /// Read the dimensions from the meta record in memory.
    pub fn read(mem: &[u8]) -> Dims {
        let f = |i: usize| rd_u32(mem, META_OFFSET + META_DIMS + 4 * i);
        Dims {
            hidden: f(0),
            ffn: f(1),
            n_layers: f(2),
            n_head: f(3),
            n_kv: f(4),
            head_dim: f(5),
            vocab: f(6),
            ctx: f(7),
            chunk: f(8),
            eps_q24: f(9),
            attn_scale_q16: f(10),
            eos: f(11),
            max_token_bytes: f(12),
        }
    }
    /// Write the dimensions into a meta record buffer.
    pub fn write(&self, meta: &mut [u8]) {
        for (i, v) in self.fields().iter().enumerate() {
            wr_u32(meta, META_DIMS + 4 * i, *v);
        }
    }
    /// Query projection width.
    pub fn q_dim(&self) -> usize {
        (self.n_head * self.head_dim) as usize
    }
    /// Key/value projection width.
    pub fn kv_dim(&self) -> usize {
        (self.n_kv * self.head_dim) as usize
    }
    /// Widest activation row quantized before a matmul.
    pub fn max_dim(&self) -> usize {
        let (h, f) = (self.hidden as usize, self.ffn as usize);
        h.max(f).max(self.q_dim())
    }
    /// Number of tensor directory entries.
    pub fn n_tensors(&self) -> usize {
        GLOBAL_TENSORS + LAYER_TENSORS * self.n_layers as usize
    }
    /// Byte sizes of the regions that depend on the dimensions (Program, Meta and Image are
    /// fixed elsewhere and reported as 0 here).
    pub fn region_bytes(&self) -> [usize; N_REGIONS] {
        let ctx = self.ctx as usize;
        let mut s = [0usize; N_REGIONS];
        s[Region::Control as usize] = CONTROL_BYTES;
        s[Region::Input as usize] = INPUT_TOKENS + 4 * ctx;
        s[Region::Output as usize] = OUTPUT_TEXT + ctx * self.max_token_bytes as usize;
        s[Region::Tokens as usize] = 4 * ctx;
        s[Region::Hidden as usize] = 4 * self.chunk as usize * self.hidden as usize;
        s[Region::Logits as usize] = 4 * self.vocab as usize;
        s[Region::Scratch as usize] = Scratch::new(self).total;
        s[Region::Kv as usize] = self.n_layers as usize * KvLayout::new(self).layer_bytes;
        s
    }
}

/// Size of the control record.
pub const CONTROL_BYTES: usize = 128;
/// Byte offset of the 32-byte sampling seed in the input region (the oracle writes the derived
/// seed here: `MachineIO.SEED_OFFSET`).
pub const INPUT_SEED: usize = 32;
/// Byte offset of the prompt token ids in the input region.
pub const INPUT_TOKENS: usize = 64;
/// Byte offset of the text in the output region (right after the 32-byte header), so that the
/// answer a dApp receives on chain is exactly `header ‖ text`, the used prefix of the region.
/// The generated token ids are in the Tokens region, after the prompt.
pub const OUTPUT_TEXT: usize = 32;
/// Byte offset of the answer's text length (u32) in the output region's header.
pub const OUTPUT_TEXT_LEN: usize = 8;

/// Global tensor directory entries (before the per-layer ones).
pub const GLOBAL_TENSORS: usize = 8;
/// Tensor directory entries per layer.
pub const LAYER_TENSORS: usize = 9;

/// Global tensor ids.
pub mod tid {
    /// Token embedding matrix (vocab x hidden).
    pub const TOK_EMBD: usize = 0;
    /// Final norm weights.
    pub const OUT_NORM: usize = 1;
    /// Output head (vocab x hidden); equals `TOK_EMBD` for tied heads.
    pub const HEAD: usize = 2;
    /// RoPE cosines, i32 Q.30, `[ctx][head_dim/2]`.
    pub const ROPE_COS: usize = 3;
    /// RoPE sines, i32 Q.30, `[ctx][head_dim/2]`.
    pub const ROPE_SIN: usize = 4;
    /// Vocabulary byte offsets, u32 `[vocab + 1]` relative to `VOCAB_BYTES`.
    pub const VOCAB_OFFSETS: usize = 5;
    /// Concatenated UTF-8 bytes of every token.
    pub const VOCAB_BYTES: usize = 6;
    /// Per-layer tensor index within the layer's entries: attention norm.
    pub const ATTN_NORM: usize = 0;
    /// Query projection.
    pub const WQ: usize = 1;
    /// Key projection.
    pub const WK: usize = 2;
    /// Value projection.
    pub const WV: usize = 3;
    /// Attention output projection.
    pub const WO: usize = 4;
    /// FFN norm.
    pub const FFN_NORM: usize = 5;
    /// FFN gate projection.
    pub const GATE: usize = 6;
    /// FFN up projection.
    pub const UP: usize = 7;
    /// FFN down projection.
    pub const DOWN: usize = 8;
}

/// Index of a per-layer tensor in the directory.
pub fn layer_tensor(layer: usize, which: usize) -> usize {
    GLOBAL_TENSORS + LAYER_TENSORS * layer + which
}

/// Tensor kind: 4-bit blocks of 32 (16 nibble bytes, i32 d, i32 m; 24 bytes per block).
pub const KIND_Q4: u32 = 0;
/// Tensor kind: 8-bit blocks of 32 (32 i8, i32 d; 36 bytes per block).
pub const KIND_Q8: u32 = 1;
/// Tensor kind: vector of i32 Q.16.
pub const KIND_VEC: u32 = 2;
/// Tensor kind: raw table (RoPE, vocabulary).
pub const KIND_RAW: u32 = 3;

/// One entry of the tensor directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct TensorEntry {
    /// Absolute byte address in memory.
    pub offset: u32,
    /// One of the `KIND_*` constants.
    pub kind: u32,
    /// Fixed-point shift of the block scales (matrices only).
    pub shift: u32,
    /// Number of rows (matrices), elements (vectors) or bytes (raw).
    pub rows: u32,
}

impl TensorEntry {
    /// Read entry `i` of the directory from memory.
    pub fn read(mem: &[u8], i: usize) -> TensorEntry {
        let o = META_OFFSET + META_TENSORS + TENSOR_ENTRY * i;
        TensorEntry {
            offset: rd_u32(mem, o),
            kind: rd_u32(mem, o + 4),
            shift: rd_u32(mem, o + 8),
            rows: rd_u32(mem, o + 12),
        }
    }
    /// Write entry `i` into a meta record buffer.
    pub fn write(&self, meta: &mut [u8], i: usize) {
        let o = META_TENSORS + TENSOR_ENTRY * i;
        wr_u32(meta, o, self.offset);
        wr_u32(meta, o + 4, self.kind);
        wr_u32(meta, o + 8, self.shift);
        wr_u32(meta, o + 12, self.rows);
    }
}

/// Bytes per block of a matrix kind.
pub fn block_bytes(kind: u32) -> usize {
    if kind == KIND_Q4 { 24 } else { 36 }
}

/// Byte offsets (relative to the scratch region) of the scratch buffers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Scratch {
    /// Normed rows, i32 `[chunk][hidden]`.
    pub xn: usize,
    /// Quantized activations, i8 `[chunk][max_dim]`.
    pub xq: usize,
    /// Their block scales, u32 `[chunk][max_dim/32]`.
    pub xs: usize,
    /// Queries, i32 `[chunk][q_dim]`.
    pub q: usize,
    /// Keys, i32 `[chunk][kv_dim]`.
    pub k: usize,
    /// Values, i32 `[chunk][kv_dim]`.
    pub v: usize,
    /// Attention outputs, i32 `[chunk][q_dim]`.
    pub att: usize,
    /// FFN gate, i32 `[chunk][ffn]`.
    pub gate: usize,
    /// FFN up, i32 `[chunk][ffn]`.
    pub up: usize,
    /// Attention scores, i64 `[ctx]`.
    pub scores: usize,
    /// Reserved (the attention quantizes the query head on the stack).
    pub hq: usize,
    /// Sampling candidates: `(logit i32, id u32)` `[MAX_CANDIDATES]`.
    pub cand: usize,
    /// Candidate weights, i64 `[MAX_CANDIDATES]`.
    pub cand_p: usize,
    /// Total bytes.
    pub total: usize,
}

fn align32(x: usize) -> usize {
    (x + 31) & !31
}

impl Scratch {
    /// The scratch sub-layout for the given dimensions.
    pub fn new(d: &Dims) -> Scratch {
        let c = d.chunk as usize;
        let mut at = 0usize;
        let mut take = |n: usize| {
            let o = at;
            at = align32(at + n);
            o
        };
        let xn = take(4 * c * d.hidden as usize);
        let xq = take(c * d.max_dim());
        let xs = take(4 * c * d.max_dim() / 32);
        let q = take(4 * c * d.q_dim());
        let k = take(4 * c * d.kv_dim());
        let v = take(4 * c * d.kv_dim());
        let att = take(4 * c * d.q_dim());
        let gate = take(4 * c * d.ffn as usize);
        let up = take(4 * c * d.ffn as usize);
        let scores = take(8 * d.ctx as usize);
        let hq = take(d.head_dim as usize + 4 * d.head_dim as usize / 32);
        let cand = take(8 * MAX_CANDIDATES);
        let cand_p = take(8 * MAX_CANDIDATES);
        Scratch {
            xn,
            xq,
            xs,
            q,
            k,
            v,
            att,
            gate,
            up,
            scores,
            hq,
            cand,
            cand_p,
            total: at,
        }
    }
}

/// Byte offsets of the KV cache of one layer (relative to the layer's base).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KvLayout {
    /// Keys, i8 `[ctx][kv_dim]`.
    pub k: usize,
    /// Key block scales, u32 `[ctx][kv_dim/32]`.
    pub ks: usize,
    /// Values, i8 `[ctx][kv_dim]`.
    pub v: usize,
    /// Value block scales, u32 `[ctx][kv_dim/32]`.
    pub vs: usize,
    /// Bytes per layer.
    pub layer_bytes: usize,
}

impl KvLayout {
    /// The KV sub-layout for the given dimensions.
    pub fn new(d: &Dims) -> KvLayout {
        let (ctx, kv) = (d.ctx as usize, d.kv_dim());
        let k = 0;
        let ks = k + ctx * kv;
        let v = ks + 4 * ctx * kv / 32;
        let vs = v + ctx * kv;
        KvLayout {
            k,
            ks,
            v,
            vs,
            layer_bytes: align32(vs + 4 * ctx * kv / 32),
        }
    }
}
