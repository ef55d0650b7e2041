//! The candle backend: the machine's step functions with the matmul's block dot products done
//! by candle tensors (a batched f32 matmul, on the CPU or, with the `cuda` feature, on the first
//! CUDA GPU), and everything else (the per-block i64 rounding, the accumulation, the stores)
//! done on the host by the scalar code's own functions.
//!
//! # Why f32 is exact here
//!
//! A matmul's result is a fixed integer function of the per-block dot products
//! `sq = sum_{i < 32} q_i x_i` of one weight block and one activation block (docs/machine.md,
//! "Matmul"); each block has its own scales, so the contraction dimension is cut into chunks of
//! exactly one block (K = 32) and the device returns one `sq` per (block, row, token). Weights
//! `q` are Q4 nibbles (0..=15) or Q8 values (-128..=127), activations `x` are i8, so every
//! product is an integer with |q x| <= 2^14 and the sum of all 32 magnitudes is at most
//! 32 * 2^14 = 2^19. Any partial sum the device forms (in any order, with or without FMA, split
//! across threads or tiles) is an integer of magnitude <= 2^19 < 2^24, so every f32 operation
//! is exact and the result is `sq` exactly, whatever the gemm implementation does. The inputs
//! are small integers (|.| <= 128) exactly representable even in TF32, but reduced-precision
//! accumulation is disabled anyway on CUDA (`set_gemm_reduced_precision_f32(false)`).
//!
//! The `cuda` feature needs the CUDA toolkit at build time (the build scripts of cudarc and
//! candle-kernels run `nvcc`); without it, `cargo check --features cuda` fails there, while the
//! default build never needs CUDA.
//!
//! The weights' quantized values are converted to f32 tensors `[blocks, rows, 32]` once, when
//! the backend is created (the image region never changes: docs/machine.md, "Memory layout");
//! the block scales `d`, `m` are read from memory at every use.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

pub use candle_core::Device;
use candle_core::Tensor;
use rayon::prelude::*;

use crate::backend::Backend;
use crate::error::{Result, VmError};
use crate::native::{BlockAct, accumulate, block_acts, block_scales, store};
use crate::semantics::fixed::round_div_i64;
use crate::semantics::kernels::{Act, Kernels};
use crate::semantics::layout::{
    Dims, KIND_Q4, Layout, MAX_CHUNK, Region, TensorEntry, block_bytes, layer_tensor, tid,
};
use crate::semantics::matmul::{GUARD, Mat, Out};
use crate::semantics::quant::QK;
use crate::semantics::step::step_with;

/// The device the default constructor uses: CUDA device 0 with the `cuda` feature (TF32
/// disabled), the CPU otherwise.
pub fn default_device() -> Result<Device> {
    #[cfg(feature = "cuda")]
    {
        candle_core::cuda::set_gemm_reduced_precision_f32(false);
        Device::new_cuda(0).map_err(err)
    }
    #[cfg(not(feature = "cuda"))]
    {
        Ok(Device::Cpu)
    }
}

fn err(e: candle_core::Error) -> VmError {
    VmError::Backend {
        backend: "candle",
        reason: e.to_string(),
    }
}

/// One weight matrix on the device.
#[derive(Debug)]
struct DevMat {
    kind: u32,
    rows: usize,
    cols: usize,
    /// `q[b][r][i]` as f32: `[cols / 32, rows, 32]`.
    q: Tensor,
}

/// The weights' quantized values of one matrix as f32 `[blocks, rows, 32]`.
fn dev_mat(w: &Mat<'_>, device: &Device) -> candle_core::Result<Tensor> {
    let nb = w.cols / QK;
    let bb = block_bytes(w.kind);
    let mut v = vec![0f32; w.rows * w.cols];
    // One block column `b` (all rows) per task: a 1B model's weights convert on every core.
    v.par_chunks_mut((w.rows * QK).max(1))
        .enumerate()
        .for_each(|(b, column)| {
            for (r, dst) in column.chunks_exact_mut(QK).enumerate() {
                let blk = &w.data[(r * nb + b) * bb..(r * nb + b + 1) * bb];
                if w.kind == KIND_Q4 {
                    for j in 0..16 {
                        dst[j] = (blk[j] & 0x0F) as f32;
                        dst[j + 16] = (blk[j] >> 4) as f32;
                    }
                } else {
                    for (d, &q) in dst.iter_mut().zip(&blk[..QK]) {
                        *d = q as i8 as f32;
                    }
                }
            }
        });
    Tensor::from_vec(v, (nb, w.rows, QK), device)
}

/// Matmul kernels whose block dot products run on a candle device. Bit-identical to
/// [`Scalar`](crate::semantics::kernels::Scalar).
#[derive(Debug)]
pub struct CandleKernels {
    device: Device,
    /// Address of the memory the cached weights were read from (weights are found by their
    /// offset in it).
    base: usize,
    /// The converted weights by offset in memory (shared by backends over the same image).
    mats: Arc<HashMap<usize, DevMat>>,
    /// The first device error of the current step ([`Kernels::matmul`] cannot return one).
    error: Mutex<Option<VmError>>,
}

impl CandleKernels {
    /// Converts every matrix of the image in `mem` to a device tensor.
    fn new(mem: &[u8], device: Device) -> Result<CandleKernels> {
        let d = Dims::read(mem);
        let (hid, qd, ffn) = (d.hidden as usize, d.q_dim(), d.ffn as usize);
        let mut ids = vec![(tid::HEAD, hid)];
        for l in 0..d.n_layers as usize {
            for (k, cols) in [
                (tid::WQ, hid),
                (tid::WK, hid),
                (tid::WV, hid),
                (tid::WO, qd),
                (tid::GATE, hid),
                (tid::UP, hid),
                (tid::DOWN, ffn),
            ] {
                ids.push((layer_tensor(l, k), cols));
            }
        }
        let mut mats = HashMap::new();
        for (id, cols) in ids {
            let e = TensorEntry::read(mem, id);
            let (off, rows) = (e.offset as usize, e.rows as usize);
            let len = rows * cols / QK * block_bytes(e.kind);
            let w = Mat {
                data: &mem[off..off + len],
                kind: e.kind,
                shift: e.shift,
                rows,
                cols,
            };
            let q = dev_mat(&w, &device).map_err(err)?;
            mats.insert(
                off,
                DevMat {
                    kind: e.kind,
                    rows,
                    cols,
                    q,
                },
            );
        }
        Ok(CandleKernels {
            device,
            base: mem.as_ptr() as usize,
            mats: Arc::new(mats),
            error: Mutex::new(None),
        })
    }

    /// Kernels over `mem` that use the weights `self` converted (no conversion, no device
    /// memory). `mem` must hold the same image in the same layout: its meta region (layout and
    /// tensor directory) and image region are compared, and a difference is an error.
    fn sharing(&self, own_mem: &[u8], mem: &[u8]) -> Result<CandleKernels> {
        let l = Layout::read(own_mem);
        let same = |r: Region| {
            let (o, n) = (l.offset(r), l.size(r));
            mem.len() == own_mem.len() && mem[o..o + n] == own_mem[o..o + n]
        };
        if !(same(Region::Meta) && same(Region::Image)) {
            return Err(VmError::Backend {
                backend: "candle",
                reason: "weights can only be shared by memories of the same image".into(),
            });
        }
        Ok(CandleKernels {
            device: self.device.clone(),
            base: mem.as_ptr() as usize,
            mats: Arc::clone(&self.mats),
            error: Mutex::new(None),
        })
    }

    /// Kernels with no converted weights: every matmul converts its matrix on the fly (slow;
    /// for testing the kernel on arbitrary matrices).
    pub fn uncached(device: Device) -> CandleKernels {
        CandleKernels {
            device,
            base: 0,
            mats: Arc::new(HashMap::new()),
            error: Mutex::new(None),
        }
    }

    /// The device the dot products run on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// `sq[(b rows + r) n_tok + t]` for every block, row and token.
    fn block_dots(&self, w: &Mat<'_>, x: &Act<'_>) -> candle_core::Result<Vec<f32>> {
        let nb = w.cols / QK;
        let n_tok = x.n_tok;
        let mut xv = vec![0f32; w.cols * n_tok];
        for t in 0..n_tok {
            for (c, &q) in x.q[t * x.q_stride..t * x.q_stride + w.cols]
                .iter()
                .enumerate()
            {
                xv[c * n_tok + t] = q as i8 as f32;
            }
        }
        let xt = Tensor::from_vec(xv, (nb, QK, n_tok), &self.device)?;
        let off = (w.data.as_ptr() as usize).wrapping_sub(self.base);
        let cached = self
            .mats
            .get(&off)
            .filter(|m| m.kind == w.kind && m.rows == w.rows && m.cols == w.cols);
        let prod = match cached {
            Some(m) => m.q.matmul(&xt)?,
            // A matrix not in the image directory (never the case for the step functions).
            None => dev_mat(w, &self.device)?.matmul(&xt)?,
        };
        prod.flatten_all()?.to_vec1::<f32>()
    }

    fn record(&self, e: VmError) {
        let mut g = self.error.lock().unwrap_or_else(|p| p.into_inner());
        g.get_or_insert(e);
    }

    fn take_error(&self) -> Option<VmError> {
        self.error.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

/// Rows `r0..` of the result from the device's block dot products: the scalar rounding.
fn rows_from_dots(
    w: &Mat<'_>,
    n_tok: usize,
    acts: &[BlockAct],
    dots: &[f32],
    r0: usize,
    out: &mut [i64],
) {
    let nb = w.cols / QK;
    let ws = w.shift as i32;
    for (i, vals) in out.chunks_mut(n_tok).enumerate() {
        let r = r0 + i;
        let mut acc = [0i64; MAX_CHUNK];
        for b in 0..nb {
            let (d, m) = block_scales(w, r * nb + b);
            let base = (b * w.rows + r) * n_tok;
            for (t, a) in acc.iter_mut().enumerate().take(n_tok) {
                let ba = &acts[t * nb + b];
                if ba.am == 0 {
                    continue;
                }
                let sq = dots[base + t];
                debug_assert!(sq.fract() == 0.0 && sq.abs() <= (1 << 19) as f32);
                *a = accumulate(*a, d, m, sq as i32, ba, ws);
            }
        }
        for (v, a) in vals.iter_mut().zip(&acc) {
            *v = round_div_i64(*a, 127 << GUARD);
        }
    }
}

impl Kernels for CandleKernels {
    fn matmul(&self, w: &Mat<'_>, x: &Act<'_>, y: &mut [u8], y_stride: usize, op: Out) {
        let n_tok = x.n_tok;
        if n_tok == 0 || w.rows == 0 {
            return;
        }
        let dots = match self.block_dots(w, x) {
            Ok(d) => d,
            Err(e) => return self.record(err(e)),
        };
        let acts = block_acts(x, w.cols / QK);
        let mut vals = vec![0i64; w.rows * n_tok];
        let per_task = (w.rows / (4 * rayon::current_num_threads())).clamp(1, w.rows);
        vals.par_chunks_mut(per_task * n_tok)
            .enumerate()
            .for_each(|(i, out)| rows_from_dots(w, n_tok, &acts, &dots, i * per_task, out));
        store(&vals, n_tok, y, y_stride, op);
    }
}

/// The candle backend: the machine's step functions with [`CandleKernels`], on a `Vec` memory.
/// Bit-identical to [`Native`](crate::Native) at every step boundary.
#[derive(Debug)]
pub struct Candle {
    mem: Vec<u8>,
    kernels: CandleKernels,
}

impl Candle {
    /// A backend over an initial memory on [`default_device`].
    pub fn new(memory: Vec<u8>) -> Result<Candle> {
        Candle::with_device(memory, default_device()?)
    }

    /// A backend over an initial memory on `device` (its weights are converted now).
    pub fn with_device(memory: Vec<u8>, device: Device) -> Result<Candle> {
        let kernels = CandleKernels::new(&memory, device)?;
        Ok(Candle {
            mem: memory,
            kernels,
        })
    }

    /// A backend over another initial memory of the same image that uses this backend's
    /// device weights (for running many requests at once on one GPU without a copy of the
    /// weights each). Errors if `memory` holds another image or layout.
    pub fn sharing_weights(&self, memory: Vec<u8>) -> Result<Candle> {
        let kernels = self.kernels.sharing(&self.mem, &memory)?;
        Ok(Candle {
            mem: memory,
            kernels,
        })
    }

    /// The kernels (and their device).
    pub fn kernels(&self) -> &CandleKernels {
        &self.kernels
    }
}

impl Backend for Candle {
    fn name(&self) -> &'static str {
        "candle"
    }

    fn memory(&self) -> &[u8] {
        &self.mem
    }

    fn memory_mut(&mut self) -> &mut [u8] {
        &mut self.mem
    }

    /// One step; a device error fails the step (the memory is then unspecified).
    fn step(&mut self) -> Result<bool> {
        let done = step_with(&mut self.mem, &self.kernels);
        match self.kernels.take_error() {
            Some(e) => Err(e),
            None => Ok(done),
        }
    }
}
