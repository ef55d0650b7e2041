//! The models a party serves, each checked against the oracle's registry before it is used.

use std::collections::HashMap;
use std::sync::Arc;

use alloy::primitives::B256;
use anyhow::{Result, ensure};
use veritrace_contracts::ModelRegistry;
use veritrace_tracer::registration::registered_model;
use veritrace_tracer::submission::ServedModel;

use crate::chain::Chain;
use crate::config::ModelConfig;

/// The models a party serves, by registered model id.
pub type Models = HashMap<B256, Arc<ServedModel>>;

/// Imports each configured model, computes its registry entry and checks that the registry of
/// the oracle holds exactly that entry (a party must never run a different model than the one
/// the chain names).
pub async fn load_models(chain: &Chain, configs: &[ModelConfig]) -> Result<Models> {
    let registry_address = chain
        .read("reading the oracle's registry", || async {
            Ok(chain.oracle().registry().call().await?)
        })
        .await?;
    let registry = ModelRegistry::new(registry_address, &chain.provider);
    let mut models = Models::new();
    for config in configs {
        let gguf = config.gguf.clone();
        let name = config.name.clone();
        let model = tokio::task::spawn_blocking(move || registered_model(&gguf, &name)).await??;
        let spec = model.spec.clone();
        let id = chain
            .read("computing a model id", || async {
                Ok(registry.modelIdOf(spec.clone()).call().await?)
            })
            .await?;
        let registered = chain
            .read("reading the registry", || async {
                Ok(registry.isRegistered(id).call().await?)
            })
            .await?;
        ensure!(
            registered,
            "{} ({:?}) is not registered (model id {id}): register this exact model first",
            config.gguf.display(),
            config.name
        );
        tracing::info!(model = %config.name, %id, secs = model.prepare_secs, "model ready");
        models.insert(id, Arc::new(model.served));
    }
    Ok(models)
}
