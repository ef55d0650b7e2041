//! The step function: one call advances the control record's state machine by one unit of the
//! layer trace (init, embedding of a chunk, one layer over a chunk, or final norm + head +
//! sampling), then zeroes the scratch region.

use super::attention::{AttnIo, attend, store_row};
use super::ffn::swiglu;
use super::fixed::{sat_i32, shift_round_i64};
use super::kernels::{Act, Kernels, Scalar};
use super::layout::{
    Dims, INPUT_SEED, INPUT_TOKENS, KIND_Q4, KvLayout, Layout, OUTPUT_TEXT, OUTPUT_TEXT_LEN,
    Region, Scratch, TensorEntry, block_bytes, layer_tensor, tid,
};
use super::matmul::{Mat, Out};
use super::mem::{rd_i32, rd_u32, rd_u64, split, split3, wr_i32, wr_u32, wr_u64};
use super::norm::rmsnorm;
use super::prng::seed_state;
use super::quant::{QK, quantize_row};
use super::rope::rope;
use super::sampler::{Params, sample};

/// Control record field offsets (u32 unless noted).
pub mod ctl {
    /// Phase (`PHASE_*`).
    pub const PHASE: usize = 0;
    /// Next layer to run.
    pub const LAYER: usize = 4;
    /// Position of the chunk's first token.
    pub const CHUNK_START: usize = 8;
    /// Tokens in the chunk.
    pub const CHUNK_LEN: usize = 12;
    /// Tokens in the sequence (prompt + generated).
    pub const N_TOKENS: usize = 16;
    /// Prompt tokens.
    pub const N_PROMPT: usize = 20;
    /// Generated tokens.
    pub const GENERATED: usize = 24;
    /// Generation limit.
    pub const MAX_TOKENS: usize = 28;
    /// Temperature (Q.16).
    pub const TEMPERATURE: usize = 32;
    /// Top-k.
    pub const TOP_K: usize = 36;
    /// Top-p (Q.16).
    pub const TOP_P: usize = 40;
    /// Status (`STATUS_*`).
    pub const STATUS: usize = 44;
    /// PRNG state, 4 x u64.
    pub const RNG: usize = 48;
    /// Steps executed so far (u64).
    pub const STEPS: usize = 80;
    /// Bytes of text written to the output.
    pub const TEXT_LEN: usize = 88;
}

/// Phase: validate the input and start.
pub const PHASE_INIT: u32 = 0;
/// Phase: embed the current chunk.
pub const PHASE_EMBED: u32 = 1;
/// Phase: run layer `LAYER` over the chunk.
pub const PHASE_LAYER: u32 = 2;
/// Phase: final norm and head on the chunk's last token, then sampling of the next token (one
/// step, so that the logits never cross a step boundary).
pub const PHASE_HEAD: u32 = 3;
/// Phase: finished. `step()` traps here (as on any unknown phase): the layer trace of a
/// request ends at its first finished step, so its step count N is unique.
pub const PHASE_DONE: u32 = 4;

/// Whether `step()` runs in `phase` (every phase before [`PHASE_DONE`]).
pub fn is_runnable_phase(phase: u32) -> bool {
    phase < PHASE_DONE
}

/// Status: running.
pub const STATUS_RUNNING: u32 = 0;
/// Finished: the end-of-sequence token was sampled.
pub const STATUS_EOS: u32 = 1;
/// Finished: `max_tokens` tokens were generated.
pub const STATUS_MAX_TOKENS: u32 = 2;
/// Finished: the context is full.
pub const STATUS_CONTEXT_FULL: u32 = 3;
/// Rejected: the input magic is wrong.
pub const STATUS_BAD_MAGIC: u32 = 16;
/// Rejected: empty prompt.
pub const STATUS_EMPTY_PROMPT: u32 = 17;
/// Rejected: the prompt does not leave room for one generated token in the context.
pub const STATUS_PROMPT_TOO_LONG: u32 = 18;
/// Rejected: `max_tokens` is 0.
pub const STATUS_ZERO_MAX_TOKENS: u32 = 19;
/// Rejected: a prompt token id is not in the vocabulary.
pub const STATUS_BAD_TOKEN: u32 = 20;
/// Rejected: top-p above 1.0.
pub const STATUS_BAD_PARAMS: u32 = 21;

/// Input region: magic ("VTIN").
pub const INPUT_MAGIC: u32 = u32::from_le_bytes(*b"VTIN");

/// Everything the step functions need to find things, derived from the meta record.
#[derive(Clone, Copy, Debug)]
pub struct Ctx {
    /// The layout.
    pub l: Layout,
    /// The model dimensions.
    pub d: Dims,
    /// Scratch sub-layout.
    pub s: Scratch,
    /// KV sub-layout.
    pub kv: KvLayout,
}

impl Ctx {
    /// Read the context from the meta record.
    pub fn read(mem: &[u8]) -> Ctx {
        let d = Dims::read(mem);
        Ctx {
            l: Layout::read(mem),
            d,
            s: Scratch::new(&d),
            kv: KvLayout::new(&d),
        }
    }
    fn c(&self) -> usize {
        self.l.offset(Region::Control)
    }
    fn sc(&self, rel: usize) -> usize {
        self.l.offset(Region::Scratch) + rel
    }
    fn hidden_row(&self, t: usize) -> usize {
        self.l.offset(Region::Hidden) + 4 * t * self.d.hidden as usize
    }
    fn get(&self, mem: &[u8], f: usize) -> u32 {
        rd_u32(mem, self.c() + f)
    }
    fn put(&self, mem: &mut [u8], f: usize, v: u32) {
        wr_u32(mem, self.c() + f, v)
    }
}

/// Run one step; returns true when the machine is done. This is the canonical step: the scalar
/// kernels ([`Scalar`]), as compiled into the wasm program.
pub fn step(mem: &mut [u8]) -> bool {
    step_with(mem, Scalar)
}

/// Run one step with the hot operations done by `kern` (see [`super::kernels`]: [`Scalar`], or
/// `&K` for a host engine's kernels `K`); every [`Kernels`] implementation leaves the same
/// memory as [`step`]. Returns true when the machine is done.
pub fn step_with<K: Kernels + Copy>(mem: &mut [u8], kern: K) -> bool {
    let cx = Ctx::read(mem);
    match cx.get(mem, ctl::PHASE) {
        PHASE_INIT => init(mem, &cx),
        PHASE_EMBED => {
            let (start, len) = chunk(mem, &cx);
            embed(mem, &cx, start, len);
            cx.put(mem, ctl::LAYER, 0);
            cx.put(mem, ctl::PHASE, PHASE_LAYER);
        }
        PHASE_LAYER => {
            let (start, len) = chunk(mem, &cx);
            let li = cx.get(mem, ctl::LAYER);
            layer_with(mem, &cx, kern, li as usize, start, len);
            if li + 1 < cx.d.n_layers {
                cx.put(mem, ctl::LAYER, li + 1);
            } else {
                let end = start + len;
                let n = cx.get(mem, ctl::N_TOKENS) as usize;
                cx.put(mem, ctl::LAYER, 0);
                if end < n {
                    set_chunk(mem, &cx, end, n);
                    cx.put(mem, ctl::PHASE, PHASE_EMBED);
                } else {
                    cx.put(mem, ctl::PHASE, PHASE_HEAD);
                }
            }
        }
        PHASE_HEAD => {
            let (_, len) = chunk(mem, &cx);
            head_with(mem, &cx, kern, len - 1);
            let h = cx.l.offset(Region::Hidden);
            mem[h..h + cx.l.size(Region::Hidden)].fill(0);
            sample_step(mem, &cx);
        }
        phase => panic!("step() in phase {phase}: the run is over"),
    }
    let steps = rd_u64(mem, cx.c() + ctl::STEPS);
    wr_u64(mem, cx.c() + ctl::STEPS, steps.wrapping_add(1));
    let s = cx.l.offset(Region::Scratch);
    mem[s..s + cx.s.total].fill(0);
    cx.get(mem, ctl::PHASE) == PHASE_DONE
}

fn chunk(mem: &[u8], cx: &Ctx) -> (usize, usize) {
    (
        cx.get(mem, ctl::CHUNK_START) as usize,
        cx.get(mem, ctl::CHUNK_LEN) as usize,
    )
}

fn set_chunk(mem: &mut [u8], cx: &Ctx, start: usize, n_tokens: usize) {
    cx.put(mem, ctl::CHUNK_START, start as u32);
    cx.put(
        mem,
        ctl::CHUNK_LEN,
        (n_tokens - start).min(cx.d.chunk as usize) as u32,
    );
}

fn finish(mem: &mut [u8], cx: &Ctx, status: u32) {
    cx.put(mem, ctl::STATUS, status);
    cx.put(mem, ctl::PHASE, PHASE_DONE);
    let o = cx.l.offset(Region::Output);
    wr_u32(mem, o, status);
}

fn init(mem: &mut [u8], cx: &Ctx) {
    let i = cx.l.offset(Region::Input);
    let n = rd_u32(mem, i + 4);
    let max_tokens = rd_u32(mem, i + 8);
    let (temp, top_k, top_p) = (
        rd_u32(mem, i + 12),
        rd_u32(mem, i + 16),
        rd_u32(mem, i + 20),
    );
    let status = if rd_u32(mem, i) != INPUT_MAGIC {
        STATUS_BAD_MAGIC
    } else if n == 0 {
        STATUS_EMPTY_PROMPT
    } else if n >= cx.d.ctx {
        STATUS_PROMPT_TOO_LONG
    } else if max_tokens == 0 {
        STATUS_ZERO_MAX_TOKENS
    } else if top_p > 1 << 16 {
        STATUS_BAD_PARAMS
    } else if (0..n as usize).any(|t| rd_u32(mem, i + INPUT_TOKENS + 4 * t) >= cx.d.vocab) {
        STATUS_BAD_TOKEN
    } else {
        STATUS_RUNNING
    };
    if status != STATUS_RUNNING {
        finish(mem, cx, status);
        return;
    }
    let tk = cx.l.offset(Region::Tokens);
    for t in 0..n as usize {
        let v = rd_u32(mem, i + INPUT_TOKENS + 4 * t);
        wr_u32(mem, tk + 4 * t, v);
    }
    let rng = seed_state(&mem[i + INPUT_SEED..i + INPUT_SEED + 32]);
    for (k, w) in rng.iter().enumerate() {
        wr_u64(mem, cx.c() + ctl::RNG + 8 * k, *w);
    }
    cx.put(mem, ctl::N_TOKENS, n);
    cx.put(mem, ctl::N_PROMPT, n);
    cx.put(mem, ctl::MAX_TOKENS, max_tokens);
    cx.put(mem, ctl::TEMPERATURE, temp);
    cx.put(mem, ctl::TOP_K, top_k);
    cx.put(mem, ctl::TOP_P, top_p);
    set_chunk(mem, cx, 0, n as usize);
    cx.put(mem, ctl::PHASE, PHASE_EMBED);
}

/// Embed tokens `start..start + len` of the token list into hidden rows `0..len` (the hidden
/// region is zeroed first).
pub fn embed(mem: &mut [u8], cx: &Ctx, start: usize, len: usize) {
    let h = cx.l.offset(Region::Hidden);
    mem[h..h + cx.l.size(Region::Hidden)].fill(0);
    let e = TensorEntry::read(mem, tid::TOK_EMBD);
    let hid = cx.d.hidden as usize;
    let nb = hid / QK;
    let bb = block_bytes(e.kind);
    let tk = cx.l.offset(Region::Tokens);
    for t in 0..len {
        let tok = rd_u32(mem, tk + 4 * (start + t)) as usize;
        for b in 0..nb {
            let o = e.offset as usize + (tok * nb + b) * bb;
            let s = 12 - e.shift as i32;
            for j in 0..QK {
                let v = if e.kind == KIND_Q4 {
                    let byte = mem[o + (j % 16)];
                    let q = if j < 16 { byte & 0x0F } else { byte >> 4 } as i64;
                    rd_i32(mem, o + 16) as i64 * q + rd_i32(mem, o + 20) as i64
                } else {
                    rd_i32(mem, o + 32) as i64 * (mem[o + j] as i8 as i64)
                };
                let x = sat_i32(shift_round_i64(v, s));
                wr_i32(mem, cx.hidden_row(t) + 4 * (b * QK + j), x);
            }
        }
    }
}

/// Quantize `n_tok` rows of `n` i32 values at absolute `src` (row stride `stride` bytes) into
/// the scratch activation buffers.
fn quantize_rows(mem: &mut [u8], cx: &Ctx, src: usize, stride: usize, n: usize, n_tok: usize) {
    let md = cx.d.max_dim();
    let (xq, xs) = (cx.sc(cx.s.xq), cx.sc(cx.s.xs));
    let total = xs + 4 * cx.d.chunk as usize * md / QK - xq;
    let (x, dst) = split(mem, src, stride * n_tok, xq, total);
    let (q, s) = dst.split_at_mut(xs - xq);
    for t in 0..n_tok {
        quantize_row(
            &x[t * stride..],
            n,
            &mut q[t * md..(t + 1) * md],
            &mut s[t * 4 * md / QK..(t + 1) * 4 * md / QK],
        );
    }
}

/// Multiply tensor `id` (`cols` inputs) by the quantized rows in scratch into rows at `y`.
#[allow(clippy::too_many_arguments)]
fn mm<K: Kernels + Copy>(
    mem: &mut [u8],
    cx: &Ctx,
    k: K,
    id: usize,
    cols: usize,
    n_tok: usize,
    y: usize,
    ys: usize,
    op: Out,
) {
    let e = TensorEntry::read(mem, id);
    let rows = e.rows as usize;
    let wbytes = rows * cols / QK * block_bytes(e.kind);
    let md = cx.d.max_dim();
    let (xq, xs) = (cx.sc(cx.s.xq), cx.sc(cx.s.xs));
    let xlen = xs + 4 * cx.d.chunk as usize * md / QK - xq;
    let (w, x, out) = split3(
        mem,
        (e.offset as usize, wbytes),
        (xq, xlen),
        (y, ys * (n_tok - 1) + 4 * rows),
    );
    let m = Mat {
        data: w,
        kind: e.kind,
        shift: e.shift,
        rows,
        cols,
    };
    let a = Act {
        q: x,
        q_stride: md,
        s: &x[xs - xq..],
        s_stride: 4 * md / QK,
        n_tok,
    };
    k.matmul(&m, &a, out, ys, op);
}

/// RMSNorm hidden rows `0..n_tok` with norm tensor `id` into the scratch `xn` rows.
fn norm_rows(mem: &mut [u8], cx: &Ctx, id: usize, n_tok: usize) {
    let hid = cx.d.hidden as usize;
    let e = TensorEntry::read(mem, id);
    let xn = cx.sc(cx.s.xn);
    for t in 0..n_tok {
        let (wv, x, y) = split3(
            mem,
            (e.offset as usize, 4 * hid),
            (cx.hidden_row(t), 4 * hid),
            (xn + 4 * t * hid, 4 * hid),
        );
        rmsnorm(x, wv, hid, cx.d.eps_q24, y);
    }
}

/// Run layer `li` over the chunk of `len` tokens starting at position `start`.
pub fn layer(mem: &mut [u8], cx: &Ctx, li: usize, start: usize, len: usize) {
    layer_with(mem, cx, Scalar, li, start, len)
}

/// [`layer`] with the hot operations done by `kern`.
pub fn layer_with<K: Kernels + Copy>(
    mem: &mut [u8],
    cx: &Ctx,
    kern: K,
    li: usize,
    start: usize,
    len: usize,
) {
    let d = &cx.d;
    let (hid, qd, kvd, ffn) = (d.hidden as usize, d.q_dim(), d.kv_dim(), d.ffn as usize);
    let hd = d.head_dim as usize;
    // Attention block.
    norm_rows(mem, cx, layer_tensor(li, tid::ATTN_NORM), len);
    quantize_rows(mem, cx, cx.sc(cx.s.xn), 4 * hid, hid, len);
    let (q, k, v) = (cx.sc(cx.s.q), cx.sc(cx.s.k), cx.sc(cx.s.v));
    mm(
        mem,
        cx,
        kern,
        layer_tensor(li, tid::WQ),
        hid,
        len,
        q,
        4 * qd,
        Out::Store,
    );
    mm(
        mem,
        cx,
        kern,
        layer_tensor(li, tid::WK),
        hid,
        len,
        k,
        4 * kvd,
        Out::Store,
    );
    mm(
        mem,
        cx,
        kern,
        layer_tensor(li, tid::WV),
        hid,
        len,
        v,
        4 * kvd,
        Out::Store,
    );
    let cos = TensorEntry::read(mem, tid::ROPE_COS);
    let sin = TensorEntry::read(mem, tid::ROPE_SIN);
    let tab = (d.ctx as usize) * hd / 2 * 4;
    let kv_base = cx.l.offset(Region::Kv) + li * cx.kv.layer_bytes;
    for t in 0..len {
        let pos = start + t;
        for (row, heads) in [(q + 4 * t * qd, d.n_head), (k + 4 * t * kvd, d.n_kv)] {
            let n = heads as usize * hd;
            let (c, s, x) = split3(
                mem,
                (cos.offset as usize, tab),
                (sin.offset as usize, tab),
                (row, 4 * n),
            );
            rope(x, heads as usize, hd, c, s, pos);
        }
        let nb = kvd / QK;
        store_row(
            mem,
            k + 4 * t * kvd,
            kvd,
            kv_base + cx.kv.k + pos * kvd,
            kv_base + cx.kv.ks + 4 * pos * nb,
        );
        store_row(
            mem,
            v + 4 * t * kvd,
            kvd,
            kv_base + cx.kv.v + pos * kvd,
            kv_base + cx.kv.vs + 4 * pos * nb,
        );
    }
    let att = cx.sc(cx.s.att);
    for t in 0..len {
        let io = AttnIo {
            kv_base,
            q_row: q + 4 * t * qd,
            out_row: att + 4 * t * qd,
            scores: cx.sc(cx.s.scores),
        };
        attend(mem, d, &cx.kv, &io, start + t);
    }
    quantize_rows(mem, cx, att, 4 * qd, qd, len);
    let h0 = cx.hidden_row(0);
    mm(
        mem,
        cx,
        kern,
        layer_tensor(li, tid::WO),
        qd,
        len,
        h0,
        4 * hid,
        Out::Add,
    );
    // FFN block.
    norm_rows(mem, cx, layer_tensor(li, tid::FFN_NORM), len);
    quantize_rows(mem, cx, cx.sc(cx.s.xn), 4 * hid, hid, len);
    let (g, u) = (cx.sc(cx.s.gate), cx.sc(cx.s.up));
    mm(
        mem,
        cx,
        kern,
        layer_tensor(li, tid::GATE),
        hid,
        len,
        g,
        4 * ffn,
        Out::Store,
    );
    mm(
        mem,
        cx,
        kern,
        layer_tensor(li, tid::UP),
        hid,
        len,
        u,
        4 * ffn,
        Out::Store,
    );
    {
        let (uu, gg) = split(mem, u, 4 * ffn * len, g, 4 * ffn * len);
        swiglu(gg, uu, ffn * len);
    }
    quantize_rows(mem, cx, g, 4 * ffn, ffn, len);
    mm(
        mem,
        cx,
        kern,
        layer_tensor(li, tid::DOWN),
        ffn,
        len,
        h0,
        4 * hid,
        Out::Add,
    );
}

/// Final norm and head on hidden row `row`; logits go to the logits region.
pub fn head(mem: &mut [u8], cx: &Ctx, row: usize) {
    head_with(mem, cx, Scalar, row)
}

/// [`head`] with the hot operations done by `kern`.
pub fn head_with<K: Kernels + Copy>(mem: &mut [u8], cx: &Ctx, kern: K, row: usize) {
    let hid = cx.d.hidden as usize;
    let e = TensorEntry::read(mem, tid::OUT_NORM);
    let xn = cx.sc(cx.s.xn);
    {
        let (wv, x, y) = split3(
            mem,
            (e.offset as usize, 4 * hid),
            (cx.hidden_row(row), 4 * hid),
            (xn, 4 * hid),
        );
        rmsnorm(x, wv, hid, cx.d.eps_q24, y);
    }
    quantize_rows(mem, cx, xn, 4 * hid, hid, 1);
    let lg = cx.l.offset(Region::Logits);
    mm(mem, cx, kern, tid::HEAD, hid, 1, lg, 0, Out::Store);
}

fn sample_step(mem: &mut [u8], cx: &Ctx) {
    let c = cx.c();
    let p = Params {
        temperature_q16: cx.get(mem, ctl::TEMPERATURE),
        top_k: cx.get(mem, ctl::TOP_K),
        top_p_q16: cx.get(mem, ctl::TOP_P),
    };
    let mut rng = [0u64; 4];
    for (k, w) in rng.iter_mut().enumerate() {
        *w = rd_u64(mem, c + ctl::RNG + 8 * k);
    }
    let vocab = cx.d.vocab as usize;
    let lg = cx.l.offset(Region::Logits);
    let sc = cx.l.offset(Region::Scratch);
    let tok = {
        let (logits, scratch) = split(mem, lg, 4 * vocab, sc, cx.s.total);
        let (a, b) = scratch[cx.s.cand..].split_at_mut(cx.s.cand_p - cx.s.cand);
        sample(logits, vocab, &p, &mut rng, a, b)
    };
    for (k, w) in rng.iter().enumerate() {
        wr_u64(mem, c + ctl::RNG + 8 * k, *w);
    }
    mem[lg..lg + cx.l.size(Region::Logits)].fill(0);
    // Append the token to the sequence and its bytes to the output text.
    let n = cx.get(mem, ctl::N_TOKENS) as usize;
    let n_gen = cx.get(mem, ctl::GENERATED) as usize;
    wr_u32(mem, cx.l.offset(Region::Tokens) + 4 * n, tok);
    cx.put(mem, ctl::N_TOKENS, n as u32 + 1);
    cx.put(mem, ctl::GENERATED, n_gen as u32 + 1);
    let o = cx.l.offset(Region::Output);
    wr_u32(mem, o + 4, n_gen as u32 + 1);
    let offs = TensorEntry::read(mem, tid::VOCAB_OFFSETS).offset as usize;
    let bytes = TensorEntry::read(mem, tid::VOCAB_BYTES).offset as usize;
    let (b0, b1) = (
        rd_u32(mem, offs + 4 * tok as usize) as usize,
        rd_u32(mem, offs + 4 * tok as usize + 4) as usize,
    );
    let tl = cx.get(mem, ctl::TEXT_LEN) as usize;
    let text = o + OUTPUT_TEXT;
    mem.copy_within(bytes + b0..bytes + b1, text + tl);
    let tl = tl + (b1 - b0);
    cx.put(mem, ctl::TEXT_LEN, tl as u32);
    wr_u32(mem, o + OUTPUT_TEXT_LEN, tl as u32);
    let status = if tok == cx.d.eos {
        STATUS_EOS
    } else if n_gen + 1 >= cx.get(mem, ctl::MAX_TOKENS) as usize {
        STATUS_MAX_TOKENS
    } else if n + 1 >= cx.d.ctx as usize {
        STATUS_CONTEXT_FULL
    } else {
        STATUS_RUNNING
    };
    if status != STATUS_RUNNING {
        finish(mem, cx, status);
    } else {
        set_chunk(mem, cx, n, n + 1);
        cx.put(mem, ctl::PHASE, PHASE_EMBED);
    }
}
