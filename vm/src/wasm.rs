//! The wasm backend: the canonical program ([`crate::program`]) run by wasmtime with settings
//! that admit nothing outside the deterministic subset (no SIMD, no threads, no relaxed or
//! float-sensitive features). This is the reference the challenger confirms a divergence with
//! before it risks a bond, and the differential check on every faster backend.

use wasmtime::{Config, Instance, Memory, Module, OptLevel, Store, TypedFunc};

use crate::backend::Backend;
use crate::error::{Result, VmError};
use crate::image::ModelImage;
use crate::program;
use crate::semantics::layout::Region;
use crate::semantics::mem::rd_u64;
use crate::semantics::step::{PHASE_DONE, ctl};

/// The canonical program instantiated for one model, its memory holding the model image.
pub struct Wasm {
    store: Store<()>,
    memory: Memory,
    step: TypedFunc<(), ()>,
    control: usize,
}

impl std::fmt::Debug for Wasm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wasm")
            .field("memory_bytes", &self.memory.data_size(&self.store))
            .finish()
    }
}

/// A wasmtime configuration that only runs deterministic integer code (threads are not even
/// compiled in: the `threads` cargo feature of wasmtime is off).
pub fn deterministic_config() -> Config {
    let mut config = Config::new();
    config
        .wasm_simd(false)
        .wasm_relaxed_simd(false)
        .wasm_multi_memory(false)
        .wasm_bulk_memory(true)
        .cranelift_nan_canonicalization(true)
        .cranelift_opt_level(OptLevel::Speed);
    config
}

impl Wasm {
    /// Compiles the canonical program for the image's memory size, instantiates it (which
    /// writes its static data) and loads the image.
    pub fn new(image: &ModelImage) -> Result<Wasm> {
        let wasm = program::module_for(image.layout.memory_log2)?;
        Wasm::from_module(&wasm, image)
    }

    /// The same for any module with the canonical program's interface (tests use it to run
    /// altered programs).
    pub fn from_module(wasm: &[u8], image: &ModelImage) -> Result<Wasm> {
        let runtime = |e: wasmtime::Error| VmError::WasmRuntime(format!("{e:#}"));
        let engine = wasmtime::Engine::new(&deterministic_config()).map_err(runtime)?;
        let module = Module::new(&engine, wasm).map_err(runtime)?;
        let mut store = Store::new(&engine, ());
        let instance = Instance::new(&mut store, &module, &[]).map_err(runtime)?;
        let memory = instance
            .get_memory(&mut store, "memory")
            .ok_or_else(|| VmError::Program("no exported memory".into()))?;
        let step = instance
            .get_typed_func::<(), ()>(&mut store, "step")
            .map_err(runtime)?;
        let expected = 1usize << image.layout.memory_log2;
        if memory.data_size(&store) != expected {
            return Err(VmError::Program(format!(
                "memory of {} bytes, the model needs {expected}",
                memory.data_size(&store)
            )));
        }
        image.load_into(memory.data_mut(&mut store));
        let control = image.layout.offset(Region::Control);
        Ok(Wasm {
            store,
            memory,
            step,
            control,
        })
    }
}

impl Backend for Wasm {
    fn name(&self) -> &'static str {
        "wasm"
    }

    fn memory(&self) -> &[u8] {
        self.memory.data(&self.store)
    }

    fn memory_mut(&mut self) -> &mut [u8] {
        self.memory.data_mut(&mut self.store)
    }

    fn step(&mut self) -> Result<bool> {
        let index = rd_u64(self.memory(), self.control + ctl::STEPS);
        self.step
            .call(&mut self.store, ())
            .map_err(|e| VmError::WasmTrap {
                step: index,
                reason: format!("{e:#}"),
            })?;
        let phase = crate::semantics::mem::rd_u32(self.memory(), self.control + ctl::PHASE);
        Ok(phase == PHASE_DONE)
    }
}
