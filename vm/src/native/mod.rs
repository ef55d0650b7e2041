//! The fast native engine: the machine's own step functions ([`step_with`]) with a SIMD,
//! multi-threaded matmul ([`FastKernels`]).
//!
//! Only the matmul is replaced (it is ~95% of a step, see [`crate::semantics::kernels`]). The
//! matmul's result for one output row and one token is a fixed function of that row's weight
//! blocks and that token's activation blocks: per block, an exact integer dot product `sum q x`
//! (|.| < 2^19) and the activation sum `sum x`, then the i64 rounding sequence of
//! docs/machine.md, accumulated with wrapping adds. So:
//!
//! * the dot products may be computed in any order and any width (AVX2 here): integer sums are
//!   exact; the per-block i64 steps are the scalar code's operations, one for one (in scalar
//!   code through [`shift_round_branchless`], in AVX2 lanes through an exact emulation, see
//!   `avx2.rs`), and the accumulation is a wrapping sum, whose order is free;
//! * output rows may be computed on any thread: no row reads another row's result, and the
//!   final saturating store (or residual add) is applied by one thread, row by row, exactly as
//!   the scalar code does.
//!
//! Hence [`FastNative`] leaves the same memory as [`Native`](crate::Native) after every step,
//! for every memory, which `vm/tests/backends.rs` checks on random models and SmolLM2.

#[cfg(target_arch = "x86_64")]
mod avx2;

use rayon::prelude::*;

use crate::backend::Backend;
use crate::error::Result;
#[cfg(doc)]
use crate::semantics::fixed::shift_round_i64;
use crate::semantics::fixed::{round_div_i64, sat_i32};
use crate::semantics::kernels::{Act, Kernels};
use crate::semantics::layout::KIND_Q4;
use crate::semantics::matmul::{GUARD, Mat, Out};
use crate::semantics::mem::{rd_i32, rd_u32, wr_i32};
use crate::semantics::quant::{QK, unpack_scale};
use crate::semantics::step::step_with;

/// Which block dot-product code [`FastKernels`] runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Simd {
    /// Portable Rust (what the compiler auto-vectorizes for the build target).
    Portable,
    /// x86_64 AVX2 intrinsics (selected only when the CPU reports AVX2 at run time).
    Avx2,
}

/// One activation block as the matmul needs it: the unpacked scale, the rounding shift for a
/// weight shift of 0 (`ea + GUARD`), and `sum x` (|.| <= 32 * 128).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct BlockAct {
    /// `am` of the block's scale (0: the block is all zero and contributes nothing).
    pub(crate) am: i64,
    /// `ea + GUARD` (the weight shift is subtracted per matrix).
    pub(crate) shift: i32,
    /// `sum x_i` over the block.
    pub(crate) sx: i64,
}

/// The activation blocks of a matmul: `[t][b]` for `t < n_tok`, `b < cols / 32`.
pub(crate) fn block_acts(x: &Act<'_>, nb: usize) -> Vec<BlockAct> {
    let mut v = Vec::with_capacity(x.n_tok * nb);
    for t in 0..x.n_tok {
        for b in 0..nb {
            let (am, ea) = unpack_scale(rd_u32(x.s, t * x.s_stride + 4 * b));
            let o = t * x.q_stride + b * QK;
            let sx: i64 = x.q[o..o + QK].iter().map(|&q| q as i8 as i64).sum();
            v.push(BlockAct {
                am,
                shift: ea as i32 + GUARD,
                sx,
            });
        }
    }
    v
}

/// [`shift_round_i64`] without a data-dependent branch: the sign of `v` is random in a matmul,
/// and a mispredicted branch per block costs more than the block's AVX2 dot product. Both
/// roundings are computed with the scalar code's exact (wrapping) operations and one is
/// selected; `shift_round_matches_the_scalar_code` checks the equality on extreme values.
#[inline(always)]
pub fn shift_round_branchless(v: i64, s: i32) -> i64 {
    if s >= 0 {
        return v.wrapping_shl(s as u32);
    }
    let s = s.unsigned_abs().min(62);
    let half = 1i64 << (s - 1);
    let pos = v.wrapping_add(half) >> s;
    let neg = (half.wrapping_sub(v) >> s).wrapping_neg();
    if v >= 0 { pos } else { neg }
}

/// One block's contribution to the accumulator, exactly as the scalar matmul computes it:
/// `acc + round(P am 2^(ea + G - S))` with `P = d sq + m sx` (wrapping where the scalar code
/// wraps).
#[inline(always)]
pub(crate) fn accumulate(acc: i64, d: i64, m: i64, sq: i32, a: &BlockAct, w_shift: i32) -> i64 {
    let p = d * sq as i64 + m * a.sx;
    acc.wrapping_add(shift_round_branchless(
        p.wrapping_mul(a.am),
        a.shift - w_shift,
    ))
}

/// `(d, m)` of weight block `blk` (m = 0 for Q8), read as the scalar code reads them.
#[inline(always)]
pub(crate) fn block_scales(w: &Mat<'_>, blk: usize) -> (i64, i64) {
    if w.kind == KIND_Q4 {
        let o = blk * 24;
        (rd_i32(w.data, o + 16) as i64, rd_i32(w.data, o + 20) as i64)
    } else {
        (rd_i32(w.data, blk * 36 + 32) as i64, 0)
    }
}

/// The accumulator of output rows `r0..r0 + out.len() / n_tok` (`out[(r - r0) n_tok + t]`),
/// after the last block, rounded: `round(acc / (127 2^G))` (not yet saturated).
fn rows_portable(w: &Mat<'_>, x: &Act<'_>, acts: &[BlockAct], r0: usize, out: &mut [i64]) {
    let nb = w.cols / QK;
    let n_tok = x.n_tok;
    let ws = w.shift as i32;
    let mut q = [0i32; QK];
    for (i, vals) in out.chunks_mut(n_tok).enumerate() {
        let r = r0 + i;
        let mut acc = [0i64; crate::semantics::layout::MAX_CHUNK];
        for b in 0..nb {
            let blk = r * nb + b;
            let (d, m) = block_scales(w, blk);
            if w.kind == KIND_Q4 {
                let nib = &w.data[blk * 24..blk * 24 + 16];
                for j in 0..16 {
                    q[j] = (nib[j] & 0x0F) as i32;
                    q[j + 16] = (nib[j] >> 4) as i32;
                }
            } else {
                for (qj, &v) in q.iter_mut().zip(&w.data[blk * 36..blk * 36 + QK]) {
                    *qj = v as i8 as i32;
                }
            }
            for (t, a) in acc.iter_mut().enumerate().take(n_tok) {
                let ba = &acts[t * nb + b];
                if ba.am == 0 {
                    continue;
                }
                let o = t * x.q_stride + b * QK;
                let sq: i32 = q
                    .iter()
                    .zip(&x.q[o..o + QK])
                    .map(|(&wq, &xv)| wq * xv as i8 as i32)
                    .sum();
                *a = accumulate(*a, d, m, sq, ba, ws);
            }
        }
        for (v, a) in vals.iter_mut().zip(&acc) {
            *v = round_div_i64(*a, 127 << GUARD);
        }
    }
}

/// The four block terms `round((d sq + m sx) am 2^s)` as the AVX2 lanes compute them (`None`
/// without AVX2), with `s` the total rounding shift; for the exactness tests, which compare
/// them with the scalar code's `shift_round_i64` one term at a time (a wrong rounding of one
/// term rarely shows in a matmul's output, which divides the sum by 127 2^8).
#[doc(hidden)]
pub fn avx2_block_terms(
    d: [i32; 4],
    m: [i32; 4],
    sq: [i32; 4],
    sx: [i16; 4],
    am: [u16; 4],
    s: [i32; 4],
) -> Option<[i64; 4]> {
    let acts: [BlockAct; 4] = std::array::from_fn(|i| BlockAct {
        am: am[i] as i64,
        shift: s[i],
        sx: sx[i] as i64,
    });
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU reports AVX2.
        return Some(unsafe { avx2::terms(d, m, sq, &acts) });
    }
    let _ = (d, m, sq, acts);
    None
}

/// The matmul kernels of the fast engine: block dot products with SIMD, output rows split
/// across rayon's thread pool. Bit-identical to [`Scalar`](crate::semantics::kernels::Scalar).
#[derive(Clone, Copy, Debug)]
pub struct FastKernels {
    simd: Simd,
    min_rows_per_task: usize,
}

impl FastKernels {
    /// The best kernels for this CPU (AVX2 when available).
    pub fn detect() -> FastKernels {
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx2") {
            return FastKernels::with(Simd::Avx2, 8);
        }
        FastKernels::with(Simd::Portable, 8)
    }

    /// The portable kernels (for comparing against the SIMD ones on the same machine).
    pub fn portable() -> FastKernels {
        FastKernels::with(Simd::Portable, 8)
    }

    /// Explicit choice of code path and of the smallest number of output rows one thread task
    /// computes (at least 1). Asking for [`Simd::Avx2`] on a CPU without AVX2 (or off x86_64)
    /// falls back to [`Simd::Portable`].
    pub fn with(simd: Simd, min_rows_per_task: usize) -> FastKernels {
        #[cfg(target_arch = "x86_64")]
        let simd = if simd == Simd::Avx2 && !std::is_x86_feature_detected!("avx2") {
            Simd::Portable
        } else {
            simd
        };
        #[cfg(not(target_arch = "x86_64"))]
        let simd = Simd::Portable;
        FastKernels {
            simd,
            min_rows_per_task: min_rows_per_task.max(1),
        }
    }

    /// The code path in use.
    pub fn simd(&self) -> Simd {
        self.simd
    }

    fn rows(&self, w: &Mat<'_>, x: &Act<'_>, acts: &[BlockAct], r0: usize, out: &mut [i64]) {
        match self.simd {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `Simd::Avx2` is only ever stored after `is_x86_feature_detected!("avx2")`
            // returned true (see `FastKernels::with`), so the CPU executes AVX2 instructions.
            Simd::Avx2 => unsafe { avx2::rows(w, x, acts, r0, out) },
            _ => rows_portable(w, x, acts, r0, out),
        }
    }
}

impl Default for FastKernels {
    fn default() -> FastKernels {
        FastKernels::detect()
    }
}

impl Kernels for FastKernels {
    fn matmul(&self, w: &Mat<'_>, x: &Act<'_>, y: &mut [u8], y_stride: usize, op: Out) {
        let n_tok = x.n_tok;
        if n_tok == 0 || w.rows == 0 {
            return;
        }
        let nb = w.cols / QK;
        let acts = block_acts(x, nb);
        let mut vals = vec![0i64; w.rows * n_tok];
        // About four tasks per thread, so that a slow core does not hold up the others.
        let per_task = (w.rows / (4 * rayon::current_num_threads()))
            .max(self.min_rows_per_task)
            .min(w.rows);
        vals.par_chunks_mut(per_task * n_tok)
            .enumerate()
            .for_each(|(i, out)| self.rows(w, x, &acts, i * per_task, out));
        store(&vals, n_tok, y, y_stride, op);
    }
}

/// Write rounded row results `vals[r n_tok + t]` as the scalar matmul does: saturated, or added
/// (saturating) to what is there.
pub(crate) fn store(vals: &[i64], n_tok: usize, y: &mut [u8], y_stride: usize, op: Out) {
    for (r, row) in vals.chunks(n_tok).enumerate() {
        for (t, &v) in row.iter().enumerate() {
            let o = t * y_stride + 4 * r;
            let v = match op {
                Out::Store => sat_i32(v),
                Out::Add => sat_i32(rd_i32(y, o) as i64 + v),
            };
            wr_i32(y, o, v);
        }
    }
}

/// The fast native backend: the machine's step functions with [`FastKernels`], on a `Vec`
/// memory. Bit-identical to [`Native`](crate::Native) at every step boundary.
#[derive(Debug)]
pub struct FastNative {
    mem: Vec<u8>,
    kernels: FastKernels,
}

impl FastNative {
    /// A backend over an initial memory, with the best kernels for this CPU.
    pub fn new(memory: Vec<u8>) -> FastNative {
        FastNative::with_kernels(memory, FastKernels::detect())
    }

    /// A backend with explicit kernels (e.g. [`FastKernels::portable`]).
    pub fn with_kernels(memory: Vec<u8>, kernels: FastKernels) -> FastNative {
        FastNative {
            mem: memory,
            kernels,
        }
    }

    /// The kernels in use.
    pub fn kernels(&self) -> FastKernels {
        self.kernels
    }
}

impl Backend for FastNative {
    fn name(&self) -> &'static str {
        "native"
    }

    fn memory(&self) -> &[u8] {
        &self.mem
    }

    fn memory_mut(&mut self) -> &mut [u8] {
        &mut self.mem
    }

    fn step(&mut self) -> Result<bool> {
        Ok(step_with(&mut self.mem, self.kernels))
    }
}
