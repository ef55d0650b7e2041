//! Rotary position embedding on interleaved pairs `(x[2i], x[2i+1])` of every head (the GGUF /
//! llama.cpp "normal" layout), with Q.30 cos/sin tables from the image:
//! `y0 = round((x0 c - x1 s) / 2^30)`, `y1 = round((x0 s + x1 c) / 2^30)` (|terms| < 2^61).

use super::fixed::{sat_i32, shr_round_i64};
use super::mem::{rd_i32, wr_i32};

/// Rotate `n_heads` heads of `head_dim` i32 values in `x` for position `pos`.
pub fn rope(x: &mut [u8], n_heads: usize, head_dim: usize, cos: &[u8], sin: &[u8], pos: usize) {
    let half = head_dim / 2;
    for h in 0..n_heads {
        for i in 0..half {
            let c = rd_i32(cos, 4 * (pos * half + i)) as i64;
            let s = rd_i32(sin, 4 * (pos * half + i)) as i64;
            let o = 4 * (h * head_dim + 2 * i);
            let x0 = rd_i32(x, o) as i64;
            let x1 = rd_i32(x, o + 4) as i64;
            wr_i32(x, o, sat_i32(shr_round_i64(x0 * c - x1 * s, 30)));
            wr_i32(x, o + 4, sat_i32(shr_round_i64(x0 * s + x1 * c, 30)));
        }
    }
}
