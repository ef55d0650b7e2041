//! The seam between the driver ([`crate::Engine`]) and whatever executes `step()`: the native
//! semantics in this process, the canonical wasm program in wasmtime, or a native engine with
//! faster kernels. Every backend owns one machine memory and must leave it, after each call of
//! [`Backend::step`], byte for byte equal to what the canonical program leaves (the differential
//! tests in `vm/tests/` hold them to it).

use crate::error::Result;

/// Something that executes the machine's `step()` over a memory it owns. `Send`, so that a run
/// can be driven from a worker of the kernels' thread pool ([`crate::pool`]).
pub trait Backend: Send {
    /// A short name for logs and benchmarks (`native`, `wasm`, ...).
    fn name(&self) -> &'static str;

    /// The whole machine memory.
    fn memory(&self) -> &[u8];

    /// The whole machine memory, for writing a request into it.
    fn memory_mut(&mut self) -> &mut [u8];

    /// Executes one `step()` call. Returns `true` when the machine has finished (phase done).
    fn step(&mut self) -> Result<bool>;
}

/// The reference backend: the `semantics` code compiled for the host, on a `Vec` memory.
#[derive(Debug)]
pub struct Native {
    mem: Vec<u8>,
}

impl Native {
    /// A backend over an initial memory.
    pub fn new(memory: Vec<u8>) -> Native {
        Native { mem: memory }
    }
}

impl Backend for Native {
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
        Ok(crate::semantics::step::step(&mut self.mem))
    }
}
