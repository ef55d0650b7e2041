//! RMSNorm in fixed point.
//!
//! For a row `x` (i32 Q.12, `n` values) and weights `w` (i32 Q.16): `ms = floor(sum x^2 / n)`
//! (Q.24, u128), `r = isqrt((ms + eps) * 2^16)` (the RMS in Q.20), `inv = round(2^60 / r)`
//! (1/RMS in Q.40), `y_i = round(round(x_i inv / 2^40) * w_i / 2^16)` saturated to i32 Q.12.

use super::fixed::{isqrt_u128, round_div_i128, sat_i32, shr_round_i64, shr_round_i128};
use super::mem::{rd_i32, wr_i32};

/// Normalize one row of `n` values from `x` into `y` with weights `w` (all little-endian i32).
pub fn rmsnorm(x: &[u8], w: &[u8], n: usize, eps_q24: u32, y: &mut [u8]) {
    let mut ss: u128 = 0;
    for i in 0..n {
        let v = rd_i32(x, 4 * i) as i64;
        ss += (v * v) as u128; // < 2^62 per term
    }
    let ms = ss / n as u128 + eps_q24.max(1) as u128;
    let r = isqrt_u128(ms << 16).max(1);
    let inv = round_div_i128(1i128 << 60, r as i128);
    for i in 0..n {
        let v = rd_i32(x, 4 * i) as i128;
        // |x / rms| <= sqrt(n), so the normalized value is < 2^(12 + 8) for n < 2^16.
        let nv = shr_round_i128(v * inv, 40) as i64;
        let wv = rd_i32(w, 4 * i) as i64;
        wr_i32(y, 4 * i, sat_i32(shr_round_i64(nv.wrapping_mul(wv), 16)));
    }
}
