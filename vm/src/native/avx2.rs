//! AVX2 matmul rows. Every value computed here is an exact integer, and every i64 operation is
//! the scalar code's, lane by lane:
//!
//! * Q4 weights `q` are nibbles (0..=15) and activations `x` any i8: `_mm256_maddubs_epi16`
//!   multiplies u8 by i8 and adds pairs into i16, |2 * 15 * 128| = 3840, no saturation; the
//!   pairs are then summed in i32 (`_mm256_madd_epi16` with ones).
//! * Q8 weights are any i8: both operands are sign-extended to i16 and `_mm256_madd_epi16` adds
//!   pairs of i16 products into i32 (|2 * 128 * 128| = 2^15), exact for every byte value.
//! * The 8 i32 lanes of four blocks are reduced with `hadd` into the four `sq = sum q x`
//!   (|.| <= 2^19).
//! * Per block, in four i64 lanes: `P = d sq + m sx` (`_mm256_mul_epi32`: exact signed 32x32 ->
//!   64 products, |P| < 2^51), `P am` wrapping (am < 2^16: `lo(P) am + (hi(P) am << 32)` mod
//!   2^64, which is `wrapping_mul`), then `shift_round_i64`: a left shift by `s & 63` for
//!   `s >= 0` (`wrapping_shl`), else both signed roundings with the scalar code's wrapping adds
//!   and arithmetic shifts (emulated exactly: `ashr(v, k) = srl(v ^ m, k) ^ m` with `m` the sign
//!   mask), the right one selected by the sign of `P am`.
//! * The four lanes are separate accumulators, summed at the end with wrapping adds: the sum
//!   modulo 2^64 does not depend on the order.
//!
//! Blocks past the last multiple of four go through the scalar path (`super::accumulate`).

use core::arch::x86_64::*;

use super::{BlockAct, accumulate};
use crate::semantics::fixed::round_div_i64;
use crate::semantics::kernels::Act;
use crate::semantics::layout::KIND_Q4;
use crate::semantics::matmul::{GUARD, Mat};
use crate::semantics::mem::rd_i32;
use crate::semantics::quant::QK;

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

/// Four i64 from a slice (bounds checked).
#[inline]
#[target_feature(enable = "avx2")]
fn load4(v: &[i64]) -> __m256i {
    let v: &[i64; 4] = v.try_into().expect("4 lanes");
    // SAFETY: `v` is a reference to 32 readable bytes; the load is unaligned.
    unsafe { _mm256_loadu_si256(v.as_ptr().cast()) }
}

/// Arithmetic right shift of each i64 lane by its count in `k` (0..=63).
#[inline]
#[target_feature(enable = "avx2")]
fn sra64(v: __m256i, k: __m256i) -> __m256i {
    let m = _mm256_cmpgt_epi64(_mm256_setzero_si256(), v);
    _mm256_xor_si256(_mm256_srlv_epi64(_mm256_xor_si256(v, m), k), m)
}

/// A weight row unpacked for the dot products: per block, the 32 values as bytes (Q4, u8) or
/// as two vectors of i16 (Q8), and the scales `d`, `m` as i64.
struct Row {
    q4: bool,
    w: Vec<__m256i>,
    d: Vec<i64>,
    m: Vec<i64>,
}

impl Row {
    #[target_feature(enable = "avx2")]
    fn new(q4: bool, nb: usize) -> Row {
        Row {
            q4,
            w: vec![_mm256_setzero_si256(); if q4 { nb } else { 2 * nb }],
            d: vec![0; nb],
            m: vec![0; nb],
        }
    }

    /// Unpacks row `r` of `w` (the scalar code's `unpack`).
    #[target_feature(enable = "avx2")]
    fn load(&mut self, w: &Mat<'_>, r: usize) {
        let nb = self.d.len();
        let low = _mm256_set1_epi8(0x0F);
        for b in 0..nb {
            let blk = r * nb + b;
            if self.q4 {
                let o = blk * 24;
                // Elements 0..16 are the low nibbles of the 16 bytes, 16..32 the high ones.
                let v = _mm256_castsi128_si256(load16(&w.data[o..o + 16]));
                let v = _mm256_permute4x64_epi64::<0b01_00_01_00>(v);
                let sh = _mm256_blend_epi32::<0b1111_0000>(v, _mm256_srli_epi16::<4>(v));
                self.w[b] = _mm256_and_si256(sh, low);
                self.d[b] = rd_i32(w.data, o + 16) as i64;
                self.m[b] = rd_i32(w.data, o + 20) as i64;
            } else {
                let o = blk * 36;
                let v = load32(&w.data[o..o + QK]);
                self.w[2 * b] = _mm256_cvtepi8_epi16(_mm256_castsi256_si128(v));
                self.w[2 * b + 1] = _mm256_cvtepi8_epi16(_mm256_extracti128_si256::<1>(v));
                self.d[b] = rd_i32(w.data, o + 32) as i64;
                self.m[b] = 0;
            }
        }
    }

    /// `sum q x` of block `b` with the activation block `xv`, as 8 i32 partial sums.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn dot8(&self, b: usize, xv: __m256i) -> __m256i {
        if self.q4 {
            let p16 = _mm256_maddubs_epi16(self.w[b], xv);
            _mm256_madd_epi16(p16, _mm256_set1_epi16(1))
        } else {
            let xlo = _mm256_cvtepi8_epi16(_mm256_castsi256_si128(xv));
            let xhi = _mm256_cvtepi8_epi16(_mm256_extracti128_si256::<1>(xv));
            _mm256_add_epi32(
                _mm256_madd_epi16(self.w[2 * b], xlo),
                _mm256_madd_epi16(self.w[2 * b + 1], xhi),
            )
        }
    }
}

/// One token's activation blocks in lanes, with the rounding shift of this matrix resolved:
/// `s = ea + G - S`; `left = s & 63` where `s >= 0`; `k = min(-s, 62)`, `half = 2^(k - 1)` and
/// `is_right` (all ones) where `s < 0`.
struct Lanes {
    sx: Vec<i64>,
    am: Vec<i64>,
    left: Vec<i64>,
    k: Vec<i64>,
    half: Vec<i64>,
    is_right: Vec<i64>,
}

impl Lanes {
    fn new(acts: &[BlockAct], w_shift: i32) -> Lanes {
        let n = acts.len();
        let mut l = Lanes {
            sx: Vec::with_capacity(n),
            am: Vec::with_capacity(n),
            left: Vec::with_capacity(n),
            k: Vec::with_capacity(n),
            half: Vec::with_capacity(n),
            is_right: Vec::with_capacity(n),
        };
        for a in acts {
            let s = a.shift - w_shift;
            let k = s.unsigned_abs().clamp(1, 62) as i64;
            l.sx.push(a.sx);
            l.am.push(a.am);
            l.left.push(if s >= 0 { (s & 63) as i64 } else { 0 });
            l.k.push(k);
            l.half.push(1i64 << (k - 1));
            l.is_right.push(if s >= 0 { 0 } else { -1 });
        }
        l
    }
}

/// Four blocks' `acc` contributions, added to the four lane accumulators.
#[inline]
#[target_feature(enable = "avx2")]
fn tail4(acc: __m256i, sq: __m128i, row: &Row, ln: &Lanes, b: usize, tb: usize) -> __m256i {
    let zero = _mm256_setzero_si256();
    let sq = _mm256_cvtepi32_epi64(sq);
    let p = _mm256_add_epi64(
        _mm256_mul_epi32(load4(&row.d[b..b + 4]), sq),
        _mm256_mul_epi32(load4(&row.m[b..b + 4]), load4(&ln.sx[tb..tb + 4])),
    );
    // p * am (mod 2^64), am in 0..2^16.
    let am = load4(&ln.am[tb..tb + 4]);
    let v = _mm256_add_epi64(
        _mm256_mul_epu32(p, am),
        _mm256_slli_epi64::<32>(_mm256_mul_epu32(_mm256_srli_epi64::<32>(p), am)),
    );
    let left = _mm256_sllv_epi64(v, load4(&ln.left[tb..tb + 4]));
    let k = load4(&ln.k[tb..tb + 4]);
    let half = load4(&ln.half[tb..tb + 4]);
    let pos = sra64(_mm256_add_epi64(v, half), k);
    let neg = _mm256_sub_epi64(zero, sra64(_mm256_sub_epi64(half, v), k));
    let right = _mm256_blendv_epi8(pos, neg, _mm256_cmpgt_epi64(zero, v));
    let r = _mm256_blendv_epi8(left, right, load4(&ln.is_right[tb..tb + 4]));
    _mm256_add_epi64(acc, r)
}

/// Wrapping sum of the four i64 lanes.
#[inline]
#[target_feature(enable = "avx2")]
fn hsum64(v: __m256i) -> i64 {
    let mut l = [0i64; 4];
    // SAFETY: `l` is 32 writable bytes; the store is unaligned.
    unsafe { _mm256_storeu_si256(l.as_mut_ptr().cast(), v) };
    l[0].wrapping_add(l[1])
        .wrapping_add(l[2])
        .wrapping_add(l[3])
}

/// [`super::rows_portable`] with AVX2: rows `r0..r0 + out.len() / n_tok`, each value
/// `round(acc / (127 2^G))`.
#[target_feature(enable = "avx2")]
pub(super) fn rows(w: &Mat<'_>, x: &Act<'_>, acts: &[BlockAct], r0: usize, out: &mut [i64]) {
    let nb = w.cols / QK;
    let n_tok = x.n_tok;
    let ws = w.shift as i32;
    let ln = Lanes::new(acts, ws);
    let mut row = Row::new(w.kind == KIND_Q4, nb);
    let nb4 = nb / 4 * 4;
    for (i, vals) in out.chunks_mut(n_tok).enumerate() {
        row.load(w, r0 + i);
        for (t, v) in vals.iter_mut().enumerate() {
            let xr = &x.q[t * x.q_stride..t * x.q_stride + nb * QK];
            let tb = t * nb;
            let mut acc4 = _mm256_setzero_si256();
            for b in (0..nb4).step_by(4) {
                let s0 = row.dot8(b, load32(&xr[b * QK..(b + 1) * QK]));
                let s1 = row.dot8(b + 1, load32(&xr[(b + 1) * QK..(b + 2) * QK]));
                let s2 = row.dot8(b + 2, load32(&xr[(b + 2) * QK..(b + 3) * QK]));
                let s3 = row.dot8(b + 3, load32(&xr[(b + 3) * QK..(b + 4) * QK]));
                let h = _mm256_hadd_epi32(_mm256_hadd_epi32(s0, s1), _mm256_hadd_epi32(s2, s3));
                let sq = _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256::<1>(h));
                acc4 = tail4(acc4, sq, &row, &ln, b, tb + b);
            }
            let mut acc = hsum64(acc4);
            for b in nb4..nb {
                let s = row.dot8(b, load32(&xr[b * QK..(b + 1) * QK]));
                let s = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256::<1>(s));
                let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b01_00_11_10>(s));
                let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b10_11_00_01>(s));
                let sq = _mm_cvtsi128_si32(s);
                acc = accumulate(acc, row.d[b], row.m[b], sq, &acts[tb + b], ws);
            }
            *v = round_div_i64(acc, 127 << GUARD);
        }
    }
}

/// The four block terms `round(P am 2^s)` of [`tail4`], for the exactness tests.
#[target_feature(enable = "avx2")]
pub(super) fn terms(d: [i32; 4], m: [i32; 4], sq: [i32; 4], acts: &[BlockAct; 4]) -> [i64; 4] {
    let row = Row {
        q4: true,
        w: Vec::new(),
        d: d.map(i64::from).to_vec(),
        m: m.map(i64::from).to_vec(),
    };
    let ln = Lanes::new(acts, 0);
    let sq = _mm_setr_epi32(sq[0], sq[1], sq[2], sq[3]);
    let v = tail4(_mm256_setzero_si256(), sq, &row, &ln, 0, 0);
    let mut l = [0i64; 4];
    // SAFETY: `l` is 32 writable bytes; the store is unaligned.
    unsafe { _mm256_storeu_si256(l.as_mut_ptr().cast(), v) };
    l
}
