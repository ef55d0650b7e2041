//! Grouped-query causal attention over the int8 KV cache.
//!
//! Keys and values are stored quantized per block of 32 (see [`super::quant`]). For query
//! token at position `p` and head `h` (KV head `h / (n_head / n_kv)`), the query head is
//! quantized the same way and, for every `j <= p`:
//! `raw_j = sum_blocks (sum q_i k_i) qam kam 2^(qea + kea)` (i128),
//! `score_j = round(round(raw_j scale / 2^24) / 127^2)` in Q.16 (`scale` = 1/sqrt(head_dim) in
//! Q.16), then `p_j = exp(score_j - max)` in Q.30 and
//! `out_d = round(sum_j p_j vam_j 2^vea_j v_jd / (127 sum_j p_j))` in Q.12 (i128 sums).

use super::fixed::{exp_neg_q16, round_div_i64, round_div_i128, sat_i32, shr_round_i128};
use super::layout::{Dims, KvLayout, MAX_HEAD_DIM};
use super::mem::{rd_i32, rd_i64, rd_u32, wr_i32, wr_i64, wr_u32};
use super::quant::{QK, quantize_block, unpack_scale};

/// Quantize an i32 row of `n` values at `src` into the cache slots `q_dst` (i8) and `s_dst`
/// (u32 scales), all absolute offsets in `mem`.
pub fn store_row(mem: &mut [u8], src: usize, n: usize, q_dst: usize, s_dst: usize) {
    let mut buf = [0i32; QK];
    let mut q = [0u8; QK];
    for b in 0..n / QK {
        for (i, v) in buf.iter_mut().enumerate() {
            *v = rd_i32(mem, src + 4 * (b * QK + i));
        }
        let s = quantize_block(&buf, &mut q);
        mem[q_dst + b * QK..q_dst + (b + 1) * QK].copy_from_slice(&q);
        wr_u32(mem, s_dst + 4 * b, s);
    }
}

/// Where the attention inputs and outputs are (absolute offsets in memory).
#[derive(Clone, Copy, Debug)]
pub struct AttnIo {
    /// This layer's KV cache base.
    pub kv_base: usize,
    /// The query row of this token (i32, `q_dim` values).
    pub q_row: usize,
    /// The output row (i32, `q_dim` values).
    pub out_row: usize,
    /// Scratch for the scores (i64, `ctx` values).
    pub scores: usize,
}

/// Attention of one token at position `pos` over cache positions `0..=pos`, all heads.
pub fn attend(mem: &mut [u8], d: &Dims, kvl: &KvLayout, io: &AttnIo, pos: usize) {
    let hd = d.head_dim as usize;
    let nbh = hd / QK;
    let kv_dim = d.kv_dim();
    let group = (d.n_head / d.n_kv) as usize;
    let scale = d.attn_scale_q16 as i128;
    for h in 0..d.n_head as usize {
        let g = h / group;
        let mut qq = [0u8; MAX_HEAD_DIM];
        let mut qs = [0u32; MAX_HEAD_DIM / QK];
        let mut buf = [0i32; QK];
        for b in 0..nbh {
            for (i, v) in buf.iter_mut().enumerate() {
                *v = rd_i32(mem, io.q_row + 4 * (h * hd + b * QK + i));
            }
            qs[b] = quantize_block(&buf, &mut qq[b * QK..(b + 1) * QK]);
        }
        let mut max = i64::MIN;
        for j in 0..=pos {
            let mut raw: i128 = 0;
            for b in 0..nbh {
                let (qam, qea) = unpack_scale(qs[b]);
                let ks = rd_u32(
                    mem,
                    io.kv_base + kvl.ks + 4 * (j * kv_dim / QK + g * nbh + b),
                );
                let (kam, kea) = unpack_scale(ks);
                let ko = io.kv_base + kvl.k + j * kv_dim + g * hd + b * QK;
                let mut sdot: i64 = 0;
                for i in 0..QK {
                    sdot += (qq[b * QK + i] as i8 as i64) * (mem[ko + i] as i8 as i64);
                }
                // |sdot| < 2^19, am < 2^16 each: the product is < 2^51.
                raw += ((sdot * qam * kam) as i128) << (qea + kea);
            }
            let t = shr_round_i128(raw * scale, 24);
            let t = t.clamp(-(1i128 << 62), 1i128 << 62) as i64;
            let s = round_div_i64(t, 127 * 127);
            wr_i64(mem, io.scores + 8 * j, s);
            max = max.max(s);
        }
        let mut sum: i64 = 0;
        for j in 0..=pos {
            let p = exp_neg_q16(rd_i64(mem, io.scores + 8 * j).saturating_sub(max));
            wr_i64(mem, io.scores + 8 * j, p);
            sum += p;
        }
        let mut acc = [0i128; MAX_HEAD_DIM];
        for j in 0..=pos {
            let p = rd_i64(mem, io.scores + 8 * j);
            if p == 0 {
                continue;
            }
            let vo = io.kv_base + kvl.v + j * kv_dim + g * hd;
            for b in 0..nbh {
                let vs = rd_u32(
                    mem,
                    io.kv_base + kvl.vs + 4 * (j * kv_dim / QK + g * nbh + b),
                );
                let (vam, vea) = unpack_scale(vs);
                // p <= 2^30, vam < 2^16, vea <= 16: f < 2^62.
                let f = ((p * vam) as i128) << vea;
                for i in 0..QK {
                    acc[b * QK + i] += f * (mem[vo + b * QK + i] as i8 as i128);
                }
            }
        }
        let den = sum as i128 * 127;
        for (i, a) in acc.iter().enumerate().take(hd) {
            let v = round_div_i128(*a, den);
            let v = v.clamp(i32::MIN as i128, i32::MAX as i128) as i64;
            wr_i32(mem, io.out_row + 4 * (h * hd + i), sat_i32(v));
        }
    }
}
