//! Block quantization of activations: i32 Q.12 values to i8 per block of 32.
//!
//! A block's scale is `amax / 127` where `amax` (the largest magnitude, in Q.12 units) is kept
//! as a 16-bit mantissa `am` and an exponent `ea`: `amax ~= am * 2^ea` with `am < 2^16`
//! (truncated, so `am * 2^ea <= amax`). Element `i` is `q_i = clamp(round(127 x_i /
//! (am 2^ea)), -127, 127)` and stands for `q_i * am * 2^ea / 127` in Q.12. The scale is packed
//! as `am | ea << 16` (0 for an all-zero block).

use super::fixed::round_div_i64;

/// Elements per quantization block.
pub const QK: usize = 32;

/// Quantize one block of 32 i32 values into `q`; returns the packed scale.
pub fn quantize_block(x: &[i32], q: &mut [u8]) -> u32 {
    let mut amax: u64 = 0;
    for &v in &x[..QK] {
        amax = amax.max(v.unsigned_abs() as u64);
    }
    if amax == 0 {
        q[..QK].fill(0);
        return 0;
    }
    let bits = 64 - amax.leading_zeros();
    let ea = bits.saturating_sub(16);
    let am = amax >> ea;
    let den = (am << ea) as i64;
    for i in 0..QK {
        // |x| <= 2^31, so 127 x fits easily in i64.
        let v = round_div_i64(x[i] as i64 * 127, den).clamp(-127, 127);
        q[i] = v as i8 as u8;
    }
    (am as u32) | (ea << 16)
}

/// Unpack a scale into `(am, ea)`.
#[inline(always)]
pub fn unpack_scale(s: u32) -> (i64, u32) {
    ((s & 0xFFFF) as i64, s >> 16)
}

/// The Q.12 value a quantized element stands for (rounded).
pub fn dequant(q: i8, s: u32) -> i64 {
    let (am, ea) = unpack_scale(s);
    round_div_i64((q as i64 * am) << ea, 127)
}

/// Quantize a row of `n` i32 values (read little-endian from `x`, `n` a multiple of 32) into
/// `q` (i8 bytes) and `s` (u32 scales, little-endian).
pub fn quantize_row(x: &[u8], n: usize, q: &mut [u8], s: &mut [u8]) {
    let mut buf = [0i32; QK];
    for b in 0..n / QK {
        for (i, v) in buf.iter_mut().enumerate() {
            *v = super::mem::rd_i32(x, 4 * (b * QK + i));
        }
        let sc = quantize_block(&buf, &mut q[b * QK..(b + 1) * QK]);
        super::mem::wr_u32(s, 4 * b, sc);
    }
}
