//! The integer model semantics: `no_std`, no floating point, no allocation. Everything operates
//! on the machine's linear memory (`&mut [u8]`) through the [`layout::Layout`] read from the
//! meta record at [`layout::META_OFFSET`].

pub mod attention;
pub mod ffn;
pub mod fixed;
pub mod kernels;
pub mod layout;
pub mod matmul;
pub mod mem;
pub mod norm;
pub mod prng;
pub mod quant;
pub mod rope;
pub mod sampler;
pub mod step;
