//! The demo story, told on a real local chain. For now: start anvil, deploy the contracts,
//! register SmolLM2-135M-Instruct and read the entry back. Later issues grow it into the full
//! request -> execution -> dispute -> slash story.

use std::{io::Read, path::Path, time::Instant};

use alloy::primitives::Address;
use alloy::{
    primitives::{B256, keccak256},
    providers::Provider,
};
use anyhow::{Context, Result, bail};
use sha2::Digest;
use veritrace_contracts::{ModelRegistry, ProtocolParams, deploy_all};

use crate::{LocalChain, paths};

/// The values the demo registers for the real model.
///
/// Until the deterministic model image and the canonical wasm program exist (issue 3), the
/// image root is the sha256 of the GGUF file and the program root a labelled placeholder; the
/// demo says so when it prints them.
#[derive(Debug, Clone)]
pub struct DemoModel {
    /// Registered name.
    pub name: String,
    /// The spec sent to `ModelRegistry.register`.
    pub spec: ModelRegistry::ModelSpec,
}

/// Builds the registry entry for the GGUF file at `gguf`.
pub fn demo_model(gguf: &Path) -> Result<DemoModel> {
    let file_hash = sha256_file(gguf)?;
    let name = "SmolLM2-135M-Instruct".to_string();
    let spec = ModelRegistry::ModelSpec {
        programRoot: keccak256(b"veritrace/program: placeholder until the canonical wasm program"),
        imageRoot: file_hash,
        initialGlobalsHash: keccak256(
            b"veritrace/globals: placeholder until the canonical wasm program",
        ),
        tokenizerHash: keccak256(b"veritrace/tokenizer: placeholder until the image carries it"),
        layout: ModelRegistry::Layout {
            memoryLog2: 28,
            inputOffset: 0,
            inputLog2: 16,
            outputOffset: 1 << 16,
            outputLog2: 16,
        },
        limits: ModelRegistry::Limits {
            maxContextTokens: 2048,
            maxLayerSteps: 1 << 20,
            maxStepInstructions: 1 << 40,
        },
        name: name.clone(),
    };
    Ok(DemoModel { name, spec })
}

fn sha256_file(path: &Path) -> Result<B256> {
    let mut file = std::fs::File::open(path).with_context(|| {
        format!(
            "cannot open the model {} (run `make model`)",
            path.display()
        )
    })?;
    let mut hasher = sha2::Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(B256::from_slice(&hasher.finalize()))
}

/// Runs the demo and prints what happens, step by step.
pub async fn run() -> Result<()> {
    let started = Instant::now();
    let gguf = paths::smollm2_gguf();
    println!("veritrace demo\n==============");

    println!("\n[1/4] starting a local chain (anvil)");
    let chain = LocalChain::start()?;
    let provider = chain.provider();
    println!(
        "      endpoint {}  chain id {}",
        chain.endpoint(),
        chain.chain_id()
    );
    println!("      deployer {}", chain.account(0));

    println!("\n[2/4] deploying the contracts");
    // The one-step prover lands with issue 4; until then the game points at no prover.
    let deployment = deploy_all(
        provider,
        chain.account(0),
        Address::ZERO,
        ProtocolParams::default(),
    )
    .await
    .context("deploying the contracts")?;
    println!("      ModelRegistry   at {}", deployment.registry);
    println!("      DisputeGame     at {}", deployment.game);
    println!("      InferenceOracle at {}", deployment.oracle);

    println!("\n[3/4] registering the model {}", gguf.display());
    let model = demo_model(&gguf)?;
    let registry = ModelRegistry::new(deployment.registry, provider);
    let receipt = registry
        .register(model.spec.clone())
        .send()
        .await
        .context("sending register")?
        .get_receipt()
        .await
        .context("waiting for the register receipt")?;
    if !receipt.status() {
        bail!("register reverted in tx {}", receipt.transaction_hash);
    }
    let id = receipt
        .inner
        .logs()
        .iter()
        .find_map(|log| log.log_decode::<ModelRegistry::ModelRegistered>().ok())
        .map(|event| event.inner.data.id)
        .context("no ModelRegistered event in the receipt")?;
    println!(
        "      tx {}  gas used {}",
        receipt.transaction_hash, receipt.gas_used
    );
    println!("      model id {id}");

    println!("\n[4/4] reading the entry back from the chain");
    let entry = registry.getModel(id).call().await.context("getModel")?;
    println!("      name           {}", entry.spec.name);
    println!("      registrant     {}", entry.registrant);
    println!(
        "      image root     {} (provisional: sha256 of the GGUF file)",
        entry.spec.imageRoot
    );
    println!(
        "      program root   {} (provisional placeholder)",
        entry.spec.programRoot
    );
    println!(
        "      memory 2^{} bytes, input region 2^{} at {:#x}, output region 2^{} at {:#x}",
        entry.spec.layout.memoryLog2,
        entry.spec.layout.inputLog2,
        entry.spec.layout.inputOffset,
        entry.spec.layout.outputLog2,
        entry.spec.layout.outputOffset
    );
    if entry.spec != model.spec {
        bail!("the entry read back differs from the one registered");
    }
    let count = registry.modelCount().call().await?;
    println!("      models registered: {count}");
    println!("      block number {}", provider.get_block_number().await?);

    println!(
        "\ndone in {:.1} s; anvil stops now. Next: inference requests and disputes (issues 3-6).",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
