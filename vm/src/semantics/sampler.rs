//! Integer sampling: greedy, temperature, top-k, top-p.
//!
//! * `temperature_q16 == 0`: greedy, the largest logit, lowest token id on ties.
//! * otherwise the candidates are the `k` best tokens by (logit desc, id asc), `k = top_k` if
//!   `1 <= top_k <= MAX_CANDIDATES`, else `MAX_CANDIDATES` (capped at the vocabulary size);
//!   `z_i = round(logit_i 2^20 / temperature_q16)` (Q.16), `p_i = exp(z_i - z_0)` (Q.30);
//!   top-p keeps the shortest prefix whose cumulative weight `c` satisfies `c 2^16 >= top_p
//!   total` (`top_p_q16 >= 2^16` keeps all); the draw is `r = (u64 * c_n) >> 64` and the token
//!   is the first candidate whose cumulative weight exceeds `r`.

use super::fixed::{exp_neg_q16, round_div_i64};
use super::layout::MAX_CANDIDATES;
use super::mem::{rd_i32, rd_i64, rd_u32, wr_i32, wr_i64, wr_u32};
use super::prng::next_u64;

/// Sampling parameters of a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Params {
    /// Temperature in Q.16; 0 means greedy.
    pub temperature_q16: u32,
    /// Top-k; 0 means `MAX_CANDIDATES`.
    pub top_k: u32,
    /// Top-p in Q.16; `>= 65536` disables it.
    pub top_p_q16: u32,
}

/// Greedy choice: the largest logit, lowest id on ties.
pub fn argmax(logits: &[u8], vocab: usize) -> u32 {
    let mut best = 0usize;
    let mut bv = rd_i32(logits, 0);
    for i in 1..vocab {
        let v = rd_i32(logits, 4 * i);
        if v > bv {
            bv = v;
            best = i;
        }
    }
    best as u32
}

#[inline(always)]
fn entry(c: &[u8], i: usize) -> (i32, u32) {
    (rd_i32(c, 8 * i), rd_u32(c, 8 * i + 4))
}

#[inline(always)]
fn set(c: &mut [u8], i: usize, e: (i32, u32)) {
    wr_i32(c, 8 * i, e.0);
    wr_u32(c, 8 * i + 4, e.1);
}

/// `a` ranks strictly below `b` (smaller logit, or equal logit and larger id).
#[inline(always)]
fn worse(a: (i32, u32), b: (i32, u32)) -> bool {
    a.0 < b.0 || (a.0 == b.0 && a.1 > b.1)
}

fn sift_down(c: &mut [u8], mut i: usize, n: usize) {
    loop {
        let (l, r) = (2 * i + 1, 2 * i + 2);
        let mut m = i;
        if l < n && worse(entry(c, l), entry(c, m)) {
            m = l;
        }
        if r < n && worse(entry(c, r), entry(c, m)) {
            m = r;
        }
        if m == i {
            return;
        }
        let (a, b) = (entry(c, i), entry(c, m));
        set(c, i, b);
        set(c, m, a);
        i = m;
    }
}

/// Fill `cand` with the `k` best `(logit, id)` pairs, best first.
pub fn top_candidates(logits: &[u8], vocab: usize, k: usize, cand: &mut [u8]) {
    // Min-heap (worst at the root) of the k best so far.
    for i in 0..vocab {
        let e = (rd_i32(logits, 4 * i), i as u32);
        if i < k {
            // Sift up.
            set(cand, i, e);
            let mut j = i;
            while j > 0 {
                let p = (j - 1) / 2;
                if worse(entry(cand, j), entry(cand, p)) {
                    let (a, b) = (entry(cand, j), entry(cand, p));
                    set(cand, j, b);
                    set(cand, p, a);
                    j = p;
                } else {
                    break;
                }
            }
        } else if worse(entry(cand, 0), e) {
            set(cand, 0, e);
            sift_down(cand, 0, k);
        }
    }
    // Heap sort: move the worst to the end repeatedly, leaving best first.
    let mut n = k;
    while n > 1 {
        let (a, b) = (entry(cand, 0), entry(cand, n - 1));
        set(cand, 0, b);
        set(cand, n - 1, a);
        n -= 1;
        sift_down(cand, 0, n);
    }
}

/// Choose the next token. `cand` (8 bytes per candidate) and `cand_p` (8 bytes per candidate)
/// are scratch; `rng` advances only when sampling (temperature > 0).
pub fn sample(
    logits: &[u8],
    vocab: usize,
    p: &Params,
    rng: &mut [u64; 4],
    cand: &mut [u8],
    cand_p: &mut [u8],
) -> u32 {
    if p.temperature_q16 == 0 {
        return argmax(logits, vocab);
    }
    let k = if p.top_k == 0 || p.top_k as usize > MAX_CANDIDATES {
        MAX_CANDIDATES
    } else {
        p.top_k as usize
    }
    .min(vocab);
    top_candidates(logits, vocab, k, cand);
    let t = p.temperature_q16 as i64;
    let z0 = round_div_i64((entry(cand, 0).0 as i64) << 20, t);
    let mut total: i64 = 0;
    for i in 0..k {
        let z = round_div_i64((entry(cand, i).0 as i64) << 20, t);
        total += exp_neg_q16(z - z0);
        wr_i64(cand_p, 8 * i, total);
    }
    let mut n = k;
    if p.top_p_q16 < 1 << 16 {
        let need = p.top_p_q16 as i64 * total;
        n = 1;
        while n < k && rd_i64(cand_p, 8 * (n - 1)) << 16 < need {
            n += 1;
        }
    }
    let mass = rd_i64(cand_p, 8 * (n - 1));
    let r = ((next_u64(rng) as u128 * mass as u128) >> 64) as i64;
    for i in 0..n {
        if rd_i64(cand_p, 8 * i) > r {
            return entry(cand, i).1;
        }
    }
    entry(cand, n - 1).1
}
