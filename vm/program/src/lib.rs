//! The canonical program of veritrace: one exported `step()` that advances the machine by one
//! unit of the layer trace (docs/machine.md, "Control record and the step unit").
//!
//! The machine's memory is this module's linear memory. The integer semantics address it as one
//! byte slice from address 0; the Program region `[0, 2 MiB)` holds this module's shadow stack
//! and static data, which `step()` leaves exactly as it found them: the stack is zeroed before
//! returning, so that at every step boundary each byte of memory is a function of the semantic
//! state (docs/machine.md, "Memory layout").
#![no_std]

use core::arch::wasm32;

/// Bytes of shadow stack, `[0, STACK_SIZE)`; must equal `-zstack-size` in `.cargo/config.toml`.
const STACK_SIZE: usize = 256 * 1024;

/// The lowest stack bytes are never reached (the stack would have to be 256 KiB deep) and are
/// not cleared, so that no pointer below is ever formed at address 0.
const STACK_CLEAR_FROM: usize = 32;

/// The memory's base address, read through a volatile load so that the optimizer never sees a
/// constant null base: wasm address 0 is ordinary memory, but LLVM may treat a known-null
/// pointer as unusable. The differential tests (wasmtime vs the native engine, byte for byte)
/// check the compiled result.
static MEMORY_BASE: usize = 0;

/// One layer-trace step.
#[unsafe(no_mangle)]
pub extern "C" fn step() {
    run();
    clear_stack();
}

#[inline(never)]
fn run() {
    let size = wasm32::memory_size::<0>() * 65536;
    // SAFETY: the module owns all `size` bytes of its linear memory; the semantics only touch
    // the regions of the layout table (never the Program region, which Rust uses for the shadow
    // stack and statics), so this slice aliases nothing Rust accesses through another path.
    let mem = unsafe {
        let base = core::ptr::read_volatile(&MEMORY_BASE) as *mut u8;
        core::slice::from_raw_parts_mut(base, size)
    };
    veritrace_vm::semantics::step::step(mem);
}

#[inline(never)]
fn clear_stack() {
    // SAFETY: `[STACK_CLEAR_FROM, STACK_SIZE)` is the shadow stack below this function's caller;
    // `step` and this function keep no frame in it (no address-taken locals), so every byte of it
    // is dead once `run` has returned.
    unsafe {
        core::ptr::write_bytes(
            STACK_CLEAR_FROM as *mut u8,
            0,
            STACK_SIZE - STACK_CLEAR_FROM,
        );
    }
}

/// A panic (a failed bounds check or assertion in the semantics) traps the machine.
#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    wasm32::unreachable()
}
