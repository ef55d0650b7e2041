//! What the registry holds for a real model, computed from its GGUF file: the canonical
//! program's root for the model's memory size, the image root (memory root of the initial
//! memory), the initial globals hash, the tokenizer hash, the layout of the request-input and
//! answer regions, and the limits.

use std::path::Path;
use std::time::Instant;

use alloy::primitives::B256;
use anyhow::{Context, Result};
use veritrace_contracts::ModelRegistry;

use crate::model_machine::ModelMachine;
use crate::submission::ServedModel;
use veritrace_vm::ModelImage;
use veritrace_vm::image::ImportOptions;
use veritrace_vm::semantics::layout::Region;
use veritrace_vm::tokenizer::Tokenizer;

/// A model ready to register, with everything needed to run it.
#[derive(Debug, Clone)]
pub struct RegisteredModel {
    /// The spec sent to `ModelRegistry.register`.
    pub spec: ModelRegistry::ModelSpec,
    /// The image and its machine, as an executor serves them (the image root computed once).
    pub served: ServedModel,
    /// Seconds spent importing the GGUF file and computing the roots.
    pub prepare_secs: f64,
}

/// Imports `gguf` and computes its registry entry under `name`.
pub fn registered_model(gguf: &Path, name: &str) -> Result<RegisteredModel> {
    let started = Instant::now();
    let image = ModelImage::from_gguf_file(gguf, &ImportOptions::default())
        .with_context(|| format!("importing {} (run `make model`)", gguf.display()))?;
    let tokenizer = Tokenizer::from_gguf_file(gguf).context("reading the tokenizer")?;
    let machine = ModelMachine::new(&image).context("flattening the canonical program")?;
    let served = ServedModel::new(image, machine);
    let (l, d, machine) = (&served.image.layout, &served.image.dims, &served.machine);
    let spec = ModelRegistry::ModelSpec {
        programRoot: B256::from(machine.program_root()),
        imageRoot: B256::from(served.image_root()),
        initialGlobalsHash: B256::from(machine.program().initial_globals_hash()),
        tokenizerHash: B256::from(tokenizer.hash()?),
        layout: ModelRegistry::Layout {
            memoryLog2: l.memory_log2 as u8,
            inputOffset: l.offset(Region::Input) as u64,
            inputLog2: l.log2s[Region::Input as usize] as u8,
            outputOffset: l.offset(Region::Output) as u64,
            outputLog2: l.log2s[Region::Output as usize] as u8,
        },
        limits: ModelRegistry::Limits {
            maxContextTokens: d.ctx,
            maxLayerSteps: max_layer_steps(d.ctx, d.n_layers),
            maxStepInstructions: MAX_STEP_INSTRUCTIONS,
        },
        name: name.to_string(),
    };
    Ok(RegisteredModel {
        spec,
        served,
        prepare_secs: started.elapsed().as_secs_f64(),
    })
}

/// Bound on the instructions of one step: a 16-token prefill layer step of SmolLM2 near the end
/// of its context runs about 2^31; 2^36 leaves a wide margin and costs one more level-2 round at
/// most (k = 32).
pub const MAX_STEP_INSTRUCTIONS: u64 = 1 << 36;

/// Most steps a request can take: the init step, then per context token at most an embed and
/// one step per layer (a chunk of one token) plus a head step (which samples the token).
pub fn max_layer_steps(ctx: u32, n_layers: u32) -> u64 {
    1 + u64::from(ctx) * (u64::from(n_layers) + 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_step_bound_covers_a_full_context_of_one_token_chunks() {
        // init + (embed + 2 layers + head-and-sample) per token.
        assert_eq!(max_layer_steps(4, 2), 1 + 4 * 4);
    }
}
