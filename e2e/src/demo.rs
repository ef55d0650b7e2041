//! The demo story, told on a real local chain. For now: start anvil, deploy the contracts and
//! the one-step prover, register SmolLM2-135M-Instruct with its real roots (canonical program,
//! image, globals, tokenizer) and read the entry back. Later issues grow it into the full
//! request -> execution -> dispute -> slash story.

use std::time::Instant;

use alloy::providers::Provider;
use anyhow::{Context, Result, bail};
use veritrace_contracts::{ModelRegistry, ProtocolParams, deploy_all, deploy_prover};

use crate::model::registered_model;
use crate::{LocalChain, paths};

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
    let prover = deploy_prover(provider)
        .await
        .context("deploying the one-step prover")?;
    let deployment = deploy_all(
        provider,
        chain.account(0),
        prover,
        ProtocolParams::default(),
    )
    .await
    .context("deploying the contracts")?;
    println!("      OneStepProver   at {prover}");
    println!("      ModelRegistry   at {}", deployment.registry);
    println!("      DisputeGame     at {}", deployment.game);
    println!("      InferenceOracle at {}", deployment.oracle);

    println!("\n[3/4] registering the model {}", gguf.display());
    let model = registered_model(&gguf, "SmolLM2-135M-Instruct")?;
    println!(
        "      imported, canonical program flattened ({} instructions) and roots computed in {:.1} s",
        model.served.machine.program().code().len(),
        model.prepare_secs
    );
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
        "      program root   {} (the canonical wasm program's code)",
        entry.spec.programRoot
    );
    println!(
        "      image root     {} (memory root of the initial machine memory)",
        entry.spec.imageRoot
    );
    println!("      globals hash   {}", entry.spec.initialGlobalsHash);
    println!("      tokenizer hash {}", entry.spec.tokenizerHash);
    println!(
        "      limits         context {} tokens, {} steps, {} instructions per step",
        entry.spec.limits.maxContextTokens,
        entry.spec.limits.maxLayerSteps,
        entry.spec.limits.maxStepInstructions
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
