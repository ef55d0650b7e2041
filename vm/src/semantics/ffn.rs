//! SwiGLU: `h = silu(gate) * up` in fixed point.
//!
//! `sigmoid(g)` in Q.30 from `e = exp(-|g|)` (Q.30): `2^60 / (2^30 + e)` for `g >= 0`, else
//! `e 2^30 / (2^30 + e)` (rounded divisions); `silu = round(g sigmoid / 2^30)` (Q.12);
//! `h = round(silu up / 2^12)` saturated to i32.

use super::fixed::{ONE_Q30, exp_neg_q16, round_div_i64, sat_i32, shr_round_i64};
use super::mem::{rd_i32, wr_i32};

/// `sigmoid(g)` for `g` in Q.12, result in Q.30.
pub fn sigmoid_q30(g: i32) -> i64 {
    let a = (g as i64).abs() << 4; // Q.16
    let e = exp_neg_q16(-a);
    if g >= 0 {
        round_div_i64(ONE_Q30 << 30, ONE_Q30 + e)
    } else {
        round_div_i64(e << 30, ONE_Q30 + e)
    }
}

/// `silu(g)` for `g` in Q.12, result in Q.12.
pub fn silu_q12(g: i32) -> i64 {
    shr_round_i64(g as i64 * sigmoid_q30(g), 30)
}

/// `gate[i] = silu(gate[i]) * up[i]` for `n` values.
pub fn swiglu(gate: &mut [u8], up: &[u8], n: usize) {
    for i in 0..n {
        let s = silu_q12(rd_i32(gate, 4 * i));
        let u = rd_i32(up, 4 * i) as i64;
        wr_i32(gate, 4 * i, sat_i32(shr_round_i64(s.wrapping_mul(u), 12)));
    }
}
