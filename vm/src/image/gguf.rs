//! Reading GGUF (candle's reader) and converting tensors to the machine's integer formats.
//!
//! All float-to-fixed conversions are exact IEEE operations (f16 -> f32 -> f64 widening,
//! multiplication by a power of two, division, `round_ties_even`), so the image is
//! bit-identical on every machine.

use crate::error::{Result, VmError};
use crate::semantics::layout::{KIND_Q4, KIND_Q8};
use candle_core::quantized::GgmlDType;
use candle_core::quantized::gguf_file::{Content, TensorInfo, Value};

/// A parsed GGUF file: the header (candle) and the raw bytes.
pub struct Gguf<'a> {
    /// Metadata and tensor directory.
    pub content: Content,
    /// The whole file.
    pub bytes: &'a [u8],
}

impl std::fmt::Debug for Gguf<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gguf")
            .field("file_bytes", &self.bytes.len())
            .field("metadata_keys", &self.content.metadata.len())
            .field("tensors", &self.content.tensor_infos.len())
            .finish()
    }
}

/// A converted matrix.
#[derive(Debug)]
pub struct ConvMatrix {
    /// `KIND_Q4` or `KIND_Q8`.
    pub kind: u32,
    /// Scale shift.
    pub shift: u32,
    /// Rows.
    pub rows: usize,
    /// Block bytes.
    pub data: Vec<u8>,
}

fn f16(b: &[u8]) -> f64 {
    half::f16::from_le_bytes([b[0], b[1]]).to_f32() as f64
}

fn f32le(b: &[u8]) -> f64 {
    f32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64
}

/// `round_ties_even(v * 2^s)` saturated to i32.
pub fn to_fixed(v: f64, s: u32) -> i32 {
    let x = (v * (2f64).powi(s as i32)).round_ties_even();
    x.clamp(i32::MIN as f64, i32::MAX as f64) as i32
}

/// The largest shift `S <= 48` with `maxabs * 2^S < 2^23`.
pub fn choose_shift(maxabs: f64) -> u32 {
    let mut s = 48u32;
    while s > 0 && maxabs * (2f64).powi(s as i32) >= (1u64 << 23) as f64 {
        s -= 1;
    }
    s
}

impl<'a> Gguf<'a> {
    /// Parse the header of a GGUF file held in memory.
    pub fn parse(bytes: &'a [u8]) -> Result<Gguf<'a>> {
        let mut cur = std::io::Cursor::new(bytes);
        let content = Content::read(&mut cur).map_err(|e| VmError::Gguf(e.to_string()))?;
        Ok(Gguf { content, bytes })
    }

    /// A metadata value.
    pub fn meta(&self, key: &str) -> Result<&Value> {
        self.content
            .metadata
            .get(key)
            .ok_or_else(|| VmError::Metadata(key.into()))
    }

    /// A u32 metadata value.
    pub fn meta_u32(&self, key: &str) -> Result<u32> {
        self.meta(key)?
            .to_u32()
            .map_err(|_| VmError::Metadata(key.into()))
    }

    /// An f32 metadata value.
    pub fn meta_f32(&self, key: &str) -> Result<f32> {
        self.meta(key)?
            .to_f32()
            .map_err(|_| VmError::Metadata(key.into()))
    }

    /// A string metadata value.
    pub fn meta_str(&self, key: &str) -> Result<&str> {
        self.meta(key)?
            .to_string()
            .map(|s| s.as_str())
            .map_err(|_| VmError::Metadata(key.into()))
    }

    fn info(&self, name: &str) -> Result<&TensorInfo> {
        self.content
            .tensor_infos
            .get(name)
            .ok_or_else(|| VmError::MissingTensor(name.into()))
    }

    /// Whether a tensor exists.
    pub fn has(&self, name: &str) -> bool {
        self.content.tensor_infos.contains_key(name)
    }

    /// The raw data of a tensor, its type and its dims (candle order: outermost first).
    fn raw(&self, name: &str) -> Result<(&'a [u8], GgmlDType, Vec<usize>)> {
        let info = self.info(name)?;
        let dims = info.shape.dims().to_vec();
        let n: usize = dims.iter().product();
        let bytes = match info.ggml_dtype {
            GgmlDType::F32 => 4 * n,
            GgmlDType::F16 => 2 * n,
            GgmlDType::Q8_0 => n / 32 * 34,
            GgmlDType::Q4_0 => n / 32 * 18,
            GgmlDType::Q4_1 => n / 32 * 20,
            other => {
                return Err(VmError::UnsupportedTensorType {
                    name: name.into(),
                    dtype: format!("{other:?}"),
                });
            }
        };
        if info.ggml_dtype != GgmlDType::F32
            && info.ggml_dtype != GgmlDType::F16
            && !n.is_multiple_of(32)
        {
            return Err(VmError::Shape(format!(
                "tensor `{name}` has {n} elements, not a multiple of 32"
            )));
        }
        let start = self.content.tensor_data_offset as usize + info.offset as usize;
        let data = self.bytes.get(start..start + bytes).ok_or_else(|| {
            VmError::Gguf(format!("tensor `{name}` data ({bytes} bytes at {start}) is past the end of the file ({} bytes)", self.bytes.len()))
        })?;
        Ok((data, info.ggml_dtype, dims))
    }

    /// Convert a matrix of `rows x cols` (cols the inner dimension).
    pub fn matrix(&self, name: &str, rows: usize, cols: usize) -> Result<ConvMatrix> {
        let (data, dtype, dims) = self.raw(name)?;
        let n: usize = dims.iter().product();
        if n != rows * cols || dims.last() != Some(&cols) {
            return Err(VmError::Shape(format!(
                "tensor `{name}` has shape {dims:?}, expected [{rows}, {cols}]"
            )));
        }
        if !cols.is_multiple_of(32) {
            return Err(VmError::Shape(format!(
                "tensor `{name}`: {cols} columns, not a multiple of 32"
            )));
        }
        let nb = n / 32;
        match dtype {
            GgmlDType::Q4_0 | GgmlDType::Q4_1 => {
                let bs = if dtype == GgmlDType::Q4_0 { 18 } else { 20 };
                let qo = bs - 16;
                let dm: Vec<(f64, f64)> = (0..nb)
                    .map(|b| {
                        let blk = &data[b * bs..];
                        let d = f16(blk);
                        if dtype == GgmlDType::Q4_0 {
                            (d, -8.0 * d)
                        } else {
                            (d, f16(&blk[2..]))
                        }
                    })
                    .collect();
                let maxabs = dm
                    .iter()
                    .fold(0f64, |a, (d, m)| a.max(d.abs()).max(m.abs()));
                let shift = choose_shift(maxabs);
                let mut out = vec![0u8; nb * 24];
                for (b, (d, m)) in dm.iter().enumerate() {
                    let o = &mut out[b * 24..b * 24 + 24];
                    o[..16].copy_from_slice(&data[b * bs + qo..b * bs + bs]);
                    o[16..20].copy_from_slice(&to_fixed(*d, shift).to_le_bytes());
                    o[20..24].copy_from_slice(&to_fixed(*m, shift).to_le_bytes());
                }
                Ok(ConvMatrix {
                    kind: KIND_Q4,
                    shift,
                    rows,
                    data: out,
                })
            }
            GgmlDType::Q8_0 => {
                let ds: Vec<f64> = (0..nb).map(|b| f16(&data[b * 34..])).collect();
                let shift = choose_shift(ds.iter().fold(0f64, |a, d| a.max(d.abs())));
                let mut out = vec![0u8; nb * 36];
                for (b, d) in ds.iter().enumerate() {
                    let o = &mut out[b * 36..b * 36 + 36];
                    o[..32].copy_from_slice(&data[b * 34 + 2..b * 34 + 34]);
                    o[32..36].copy_from_slice(&to_fixed(*d, shift).to_le_bytes());
                }
                Ok(ConvMatrix {
                    kind: KIND_Q8,
                    shift,
                    rows,
                    data: out,
                })
            }
            _ => {
                // F32 / F16: quantize to 8-bit blocks of 32 (d = amax / 127).
                let vals = self.floats(data, dtype, n);
                let ds: Vec<f64> = vals
                    .chunks(32)
                    .map(|c| c.iter().fold(0f64, |a, v| a.max(v.abs())) / 127.0)
                    .collect();
                let shift = choose_shift(ds.iter().fold(0f64, |a, d| a.max(*d)));
                let mut out = vec![0u8; nb * 36];
                for (b, d) in ds.iter().enumerate() {
                    let o = &mut out[b * 36..b * 36 + 36];
                    for j in 0..32 {
                        let q = if *d == 0.0 {
                            0.0
                        } else {
                            (vals[b * 32 + j] / d).round_ties_even()
                        };
                        o[j] = q.clamp(-127.0, 127.0) as i8 as u8;
                    }
                    o[32..36].copy_from_slice(&to_fixed(*d, shift).to_le_bytes());
                }
                Ok(ConvMatrix {
                    kind: KIND_Q8,
                    shift,
                    rows,
                    data: out,
                })
            }
        }
    }

    fn floats(&self, data: &[u8], dtype: GgmlDType, n: usize) -> Vec<f64> {
        if dtype == GgmlDType::F32 {
            (0..n).map(|i| f32le(&data[4 * i..])).collect()
        } else {
            (0..n).map(|i| f16(&data[2 * i..])).collect()
        }
    }

    /// Convert a norm vector of `n` values to i32 Q.16.
    pub fn vector(&self, name: &str, n: usize) -> Result<Vec<u8>> {
        let (data, dtype, dims) = self.raw(name)?;
        if dims.iter().product::<usize>() != n {
            return Err(VmError::Shape(format!(
                "tensor `{name}` has shape {dims:?}, expected [{n}]"
            )));
        }
        if dtype != GgmlDType::F32 && dtype != GgmlDType::F16 {
            return Err(VmError::UnsupportedTensorType {
                name: name.into(),
                dtype: format!("{dtype:?} (norm vectors must be F32 or F16)"),
            });
        }
        Ok(self
            .floats(data, dtype, n)
            .iter()
            .flat_map(|v| to_fixed(*v, 16).to_le_bytes())
            .collect())
    }
}
