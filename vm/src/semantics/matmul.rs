//! Matrix times a chunk of quantized activation rows.
//!
//! For weight block `(d, m, q_i)` (Q4: `w_i = (d q_i + m) / 2^S`, q in 0..16; Q8: `w_i = d q_i
//! / 2^S`, q in -128..128, m = 0) and activation block `(am, ea, x_i)` the block product is
//! `P = d * sum(q_i x_i) + m * sum(x_i)` (|P| < 2^43) and the output in Q.12 is
//! `sum_blocks P am 2^ea / (127 2^S)`. Each block adds `round(P am 2^(ea + G - S))` (|P am| <
//! 2^59) to an i64 accumulator (wrapping; unreachable for real weights), and the row result is
//! `round(acc / (127 2^G))` saturated to i32, with `G = 8` guard bits.

use super::fixed::{round_div_i64, sat_i32, shift_round_i64};
use super::layout::{KIND_Q4, MAX_CHUNK};
use super::mem::{rd_i32, rd_u32, wr_i32};
use super::quant::{QK, unpack_scale};

/// Guard bits of the matmul accumulator.
pub const GUARD: i32 = 8;

/// A weight matrix in the image.
#[derive(Clone, Copy, Debug)]
pub struct Mat<'a> {
    /// Block data, `rows * cols / 32` blocks, row-major.
    pub data: &'a [u8],
    /// `KIND_Q4` or `KIND_Q8`.
    pub kind: u32,
    /// Fixed-point shift `S` of `d` and `m`.
    pub shift: u32,
    /// Rows (outputs).
    pub rows: usize,
    /// Columns (inputs).
    pub cols: usize,
}

/// How results are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Out {
    /// `y = W x`.
    Store,
    /// `y += W x` (saturating), for residual connections.
    Add,
}

/// Unpack block `blk` of a matrix into `q` and return `(d, m)`.
#[inline(always)]
fn unpack(w: &Mat<'_>, blk: usize, q: &mut [i16; QK]) -> (i64, i64) {
    if w.kind == KIND_Q4 {
        let o = blk * 24;
        let b = &w.data[o..o + 24];
        for j in 0..16 {
            q[j] = (b[j] & 0x0F) as i16;
            q[j + 16] = (b[j] >> 4) as i16;
        }
        (rd_i32(b, 16) as i64, rd_i32(b, 20) as i64)
    } else {
        let o = blk * 36;
        let b = &w.data[o..o + 36];
        for j in 0..QK {
            q[j] = b[j] as i8 as i16;
        }
        (rd_i32(b, 32) as i64, 0)
    }
}

/// `(sum q_i x_i, sum x_i)` of one block; |sum q x| <= 32 * 128 * 127 < 2^19 and |sum x| <=
/// 4064, so i32 is exact.
#[inline(always)]
fn block_dot(q: &[i16; QK], x: &[u8]) -> (i32, i32) {
    let x: &[u8; QK] = x.try_into().expect("block of 32");
    let mut sq: i32 = 0;
    let mut sx: i32 = 0;
    for j in 0..QK {
        let xv = x[j] as i8 as i32;
        sq += q[j] as i32 * xv;
        sx += xv;
    }
    (sq, sx)
}

/// `y[t][r] (op)= sum_c W[r][c] x[t][c]` for `t < n_tok`. `xq` holds `n_tok` rows of `cols`
/// i8 values (row stride `xq_stride` bytes), `xs` their scales (row stride `xs_stride` bytes),
/// `y` i32 rows of stride `y_stride` bytes.
#[allow(clippy::too_many_arguments)]
pub fn matmul(
    w: &Mat<'_>,
    xq: &[u8],
    xq_stride: usize,
    xs: &[u8],
    xs_stride: usize,
    n_tok: usize,
    y: &mut [u8],
    y_stride: usize,
    op: Out,
) {
    let nb = w.cols / QK;
    let mut q = [0i16; QK];
    for r in 0..w.rows {
        let mut acc = [0i64; MAX_CHUNK];
        for b in 0..nb {
            let (d, m) = unpack(w, r * nb + b, &mut q);
            for (t, a) in acc.iter_mut().enumerate().take(n_tok) {
                let (am, ea) = unpack_scale(rd_u32(xs, t * xs_stride + 4 * b));
                if am == 0 {
                    continue;
                }
                let o = t * xq_stride + b * QK;
                let (sq, sx) = block_dot(&q, &xq[o..o + QK]);
                let p = d * sq as i64 + m * sx as i64;
                let s = ea as i32 + GUARD - w.shift as i32;
                *a = a.wrapping_add(shift_round_i64(p.wrapping_mul(am), s));
            }
        }
        for (t, a) in acc.iter().enumerate().take(n_tok) {
            let v = round_div_i64(*a, 127 << GUARD);
            let o = t * y_stride + 4 * r;
            let v = match op {
                Out::Store => sat_i32(v),
                Out::Add => sat_i32(rd_i32(y, o) as i64 + v),
            };
            wr_i32(y, o, v);
        }
    }
}
