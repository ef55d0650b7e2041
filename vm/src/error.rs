//! Errors of the host-side code (import, tokenizer, requests).

/// Everything that can go wrong outside the machine.
#[derive(Debug, thiserror::Error)]
pub enum VmError {
    /// The model file cannot be read.
    #[error("cannot read model file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The GGUF file is invalid or truncated.
    #[error("invalid or truncated GGUF file: {0}")]
    Gguf(String),
    /// The model is not a llama-architecture model.
    #[error("unsupported model architecture `{0}` (only `llama` is supported)")]
    UnsupportedArchitecture(String),
    /// A tensor has a type the converter does not handle.
    #[error("tensor `{name}` has unsupported type {dtype} (supported: F32, F16, Q8_0, Q4_0, Q4_1)")]
    UnsupportedTensorType {
        /// Tensor name.
        name: String,
        /// Its GGUF type.
        dtype: String,
    },
    /// A required metadata key is missing or has the wrong type.
    #[error("GGUF metadata `{0}` is missing or has the wrong type")]
    Metadata(String),
    /// A required tensor is missing.
    #[error("GGUF tensor `{0}` is missing")]
    MissingTensor(String),
    /// Shapes or dimensions the machine cannot represent.
    #[error("unsupported model shape: {0}")]
    Shape(String),
    /// The machine's memory would exceed 4 GiB.
    #[error("the machine memory would need 2^{0} bytes (at most 2^32)")]
    TooLarge(u32),
    /// Tokenizer construction or use failed.
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    /// The prompt is empty.
    #[error("the prompt is empty")]
    EmptyPrompt,
    /// The prompt leaves no room for a generated token.
    #[error(
        "prompt of {len} tokens does not fit the context of {ctx} tokens (one must be generated)"
    )]
    PromptTooLong {
        /// Prompt tokens.
        len: usize,
        /// Context of the machine.
        ctx: usize,
    },
    /// `max_tokens` is 0.
    #[error("max_tokens must be at least 1")]
    ZeroMaxTokens,
    /// A prompt token is not in the vocabulary.
    #[error("token id {id} at prompt position {pos} is outside the vocabulary of {vocab} tokens")]
    InvalidToken {
        /// The id.
        id: u32,
        /// Its position.
        pos: usize,
        /// Vocabulary size.
        vocab: u32,
    },
    /// `step()` was called on a machine whose run is over (the canonical program traps there,
    /// so that no valid layer step follows the first finished one).
    #[error("step {step}: the run finished before it (phase {phase}); no further step exists")]
    RunFinished {
        /// Index of the step that was asked for.
        step: u64,
        /// The control record's phase.
        phase: u32,
    },
    /// The wasm program cannot be parsed or adapted to the model's memory.
    #[error("wasm program: {0}")]
    Program(String),
    /// The wasm runtime failed to compile or instantiate the program.
    #[error("wasm runtime: {0}")]
    WasmRuntime(String),
    /// The wasm program trapped inside `step()`.
    #[error("the wasm program trapped in step {step}: {reason}")]
    WasmTrap {
        /// Index of the step.
        step: u64,
        /// wasmtime's description of the trap.
        reason: String,
    },
    /// top-p above 1.0.
    #[error("top_p must be at most 1.0 (65536 in Q.16), got {0}")]
    BadTopP(u32),
    /// A backend's device or tensor library failed (e.g. candle on a GPU).
    #[error("{backend} backend: {reason}")]
    Backend {
        /// The backend's name.
        backend: &'static str,
        /// What failed.
        reason: String,
    },
}

/// Result with [`VmError`].
pub type Result<T> = std::result::Result<T, VmError>;
