//! The kernel seam: the hot operations of a step, behind a trait, so that a host engine can run
//! the very same step functions with faster implementations of them.
//!
//! A profile of the scalar engine on SmolLM2-135M puts ~95% of a step's time in
//! [`matmul`](super::matmul::matmul) (the rest: attention, quantization, norms, SwiGLU, each
//! around 1% at short contexts), so the seam is the matmul alone. The step functions are generic
//! over [`Kernels`] ([`super::step::step_with`]), taken by value: [`Scalar`] is zero-sized, a
//! stateful implementation is passed as a reference (`&K` implements [`Kernels`]).
//! [`super::step::step`] is `step_with(mem, Scalar)`, the scalar code the canonical wasm program
//! runs (no float, no allocation, `no_std`).
//!
//! Every implementation must write the same bits as [`Scalar`] for every input: the matmul's
//! definition (docs/machine.md, "Matmul") fixes each block's i64 rounding; the accumulation is
//! a wrapping i64 sum, so its order is free, and so is the order in which output rows are
//! computed (no row reads another's result).

use super::matmul::{Mat, Out, matmul};

/// The quantized activation rows a matmul reads (the scratch `xq` / `xs` buffers).
#[derive(Clone, Copy, Debug)]
pub struct Act<'a> {
    /// `n_tok` rows of i8 values, row `t` at byte `t * q_stride` (at least `cols` per row).
    pub q: &'a [u8],
    /// Row stride of `q` in bytes.
    pub q_stride: usize,
    /// The packed block scales (`am | ea << 16`, u32 little-endian), row `t` at byte
    /// `t * s_stride`, one per block of 32 values.
    pub s: &'a [u8],
    /// Row stride of `s` in bytes.
    pub s_stride: usize,
    /// Number of rows (tokens of the chunk), at most `MAX_CHUNK`.
    pub n_tok: usize,
}

/// Implementations of the hot operations of a step. Each method must produce exactly the bits
/// of the [`Scalar`] implementation, for every input.
pub trait Kernels {
    /// `y[t][r] (op)= sum_c W[r][c] x[t][c]` for `t < x.n_tok`, `r < w.rows`: i32 outputs at
    /// byte `t * y_stride + 4 r` of `y`, as defined by [`super::matmul::matmul`].
    fn matmul(&self, w: &Mat<'_>, x: &Act<'_>, y: &mut [u8], y_stride: usize, op: Out);
}

/// Kernels are passed by value (a zero-sized [`Scalar`] costs nothing); a stateful
/// implementation is passed by reference.
impl<K: Kernels + ?Sized> Kernels for &K {
    #[inline(always)]
    fn matmul(&self, w: &Mat<'_>, x: &Act<'_>, y: &mut [u8], y_stride: usize, op: Out) {
        (**self).matmul(w, x, y, y_stride, op)
    }
}

/// The reference kernels: the scalar integer code of [`super::matmul`], which is what the
/// canonical wasm program executes.
#[derive(Clone, Copy, Debug, Default)]
pub struct Scalar;

impl Kernels for Scalar {
    fn matmul(&self, w: &Mat<'_>, x: &Act<'_>, y: &mut [u8], y_stride: usize, op: Out) {
        matmul(
            w, x.q, x.q_stride, x.s, x.s_stride, x.n_tok, y, y_stride, op,
        );
    }
}
