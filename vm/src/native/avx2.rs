//! AVX2 block dot products. Every value computed here is an exact integer:
//!
//! * Q4 weights `q` are nibbles (0..=15) and activations `x` any i8: `_mm256_maddubs_epi16`
//!   multiplies u8 by i8 and adds pairs into i16, |2 * 15 * 128| = 3840, no saturation; the
//!   pairs are then summed in i32 (`_mm256_madd_epi16` with ones).
//! * Q8 weights are any i8: both operands are sign-extended to i16 and `_mm256_madd_epi16` adds
//!   pairs of i16 products into i32 (|2 * 128 * 128| = 2^15), exact for every byte value.
//!
//! The 8 i32 lanes then sum to `sum q x` (|.| <= 32 * 128 * 128 = 2^19). Everything after that is
//! the scalar code's (`super::accumulate`).

use core::arch::x86_64::*;

use super::{BlockAct, accumulate, block_scales};
use crate::semantics::fixed::round_div_i64;
use crate::semantics::kernels::Act;
use crate::semantics::layout::{KIND_Q4, MAX_CHUNK};
use crate::semantics::matmul::{GUARD, Mat};
use crate::semantics::quant::QK;

/// Sum of the 8 i32 lanes.
#[inline]
#[target_feature(enable = "avx2")]
fn hsum(v: __m256i) -> i32 {
    let s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v));
    let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b01_00_11_10>(s));
    let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b10_11_00_01>(s));
    _mm_cvtsi128_si32(s)
}

/// 32 bytes as a vector; the slice bounds are checked.
#[inline]
#[target_feature(enable = "avx2")]
fn load32(b: &[u8]) -> __m256i {
    let b: &[u8; 32] = b.try_into().expect("32 bytes");
    // SAFETY: `b` is a reference to 32 readable bytes; the load is unaligned.
    unsafe { _mm256_loadu_si256(b.as_ptr().cast()) }
}

/// 16 bytes as a vector; the slice bounds are checked.
#[inline]
#[target_feature(enable = "avx2")]
fn load16(b: &[u8]) -> __m128i {
    let b: &[u8; 16] = b.try_into().expect("16 bytes");
    // SAFETY: `b` is a reference to 16 readable bytes; the load is unaligned.
    unsafe { _mm_loadu_si128(b.as_ptr().cast()) }
}

/// [`super::rows_portable`] with AVX2 dot products: rows `r0..r0 + out.len() / n_tok`, each
/// value `round(acc / (127 2^G))`.
#[target_feature(enable = "avx2")]
pub(super) fn rows(w: &Mat<'_>, x: &Act<'_>, acts: &[BlockAct], r0: usize, out: &mut [i64]) {
    let nb = w.cols / QK;
    let n_tok = x.n_tok;
    let ws = w.shift as i32;
    let q4 = w.kind == KIND_Q4;
    let low = _mm256_set1_epi8(0x0F);
    let ones = _mm256_set1_epi16(1);
    for (i, vals) in out.chunks_mut(n_tok).enumerate() {
        let r = r0 + i;
        let mut acc = [0i64; MAX_CHUNK];
        for b in 0..nb {
            let blk = r * nb + b;
            let (d, m) = block_scales(w, blk);
            if q4 {
                // Elements 0..16 are the low nibbles of the 16 bytes, 16..32 the high ones.
                let v = _mm256_castsi128_si256(load16(&w.data[blk * 24..blk * 24 + 16]));
                let v = _mm256_permute4x64_epi64::<0b01_00_01_00>(v);
                let sh = _mm256_blend_epi32::<0b1111_0000>(v, _mm256_srli_epi16::<4>(v));
                let wq = _mm256_and_si256(sh, low);
                for (t, a) in acc.iter_mut().enumerate().take(n_tok) {
                    let ba = &acts[t * nb + b];
                    if ba.am == 0 {
                        continue;
                    }
                    let o = t * x.q_stride + b * QK;
                    let xv = load32(&x.q[o..o + QK]);
                    let p16 = _mm256_maddubs_epi16(wq, xv);
                    let sq = hsum(_mm256_madd_epi16(p16, ones));
                    *a = accumulate(*a, d, m, sq, ba, ws);
                }
            } else {
                let v = load32(&w.data[blk * 36..blk * 36 + QK]);
                let wlo = _mm256_cvtepi8_epi16(_mm256_castsi256_si128(v));
                let whi = _mm256_cvtepi8_epi16(_mm256_extracti128_si256::<1>(v));
                for (t, a) in acc.iter_mut().enumerate().take(n_tok) {
                    let ba = &acts[t * nb + b];
                    if ba.am == 0 {
                        continue;
                    }
                    let o = t * x.q_stride + b * QK;
                    let xv = load32(&x.q[o..o + QK]);
                    let xlo = _mm256_cvtepi8_epi16(_mm256_castsi256_si128(xv));
                    let xhi = _mm256_cvtepi8_epi16(_mm256_extracti128_si256::<1>(xv));
                    let s =
                        _mm256_add_epi32(_mm256_madd_epi16(wlo, xlo), _mm256_madd_epi16(whi, xhi));
                    *a = accumulate(*a, d, m, hsum(s), ba, ws);
                }
            }
        }
        for (v, a) in vals.iter_mut().zip(&acc) {
            *v = round_div_i64(*a, 127 << GUARD);
        }
    }
}
