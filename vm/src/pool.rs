//! Where a step loop runs. The native and candle kernels split every matmul over the rayon
//! pool; driven from a thread outside the pool, each of the hundreds of matmuls of a token
//! hands its work to the pool, blocks, and wakes up when the pool is done, and the workers fall
//! asleep in the scalar code between two matmuls. Driven from a worker, a matmul keeps its
//! caller working on its own share and the other worker steals the rest.

/// Runs `f` (a loop of engine steps, with whatever the caller does between them) on a worker
/// of the global rayon pool, or in place when already on one; returns its result.
pub fn on_worker<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    rayon::scope(|_| f())
}
