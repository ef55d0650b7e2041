//! Deploys the veritrace contracts to a chain and records where they live.

use alloy::{primitives::Address, providers::Provider};

use crate::ModelRegistry;

/// Addresses of one deployment of the veritrace contracts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deployment {
    /// The `ModelRegistry` contract.
    pub registry: Address,
}

/// Deploys every veritrace contract with the provider's default signer.
pub async fn deploy_all<P: Provider>(provider: &P) -> Result<Deployment, alloy::contract::Error> {
    let registry = ModelRegistry::deploy(provider).await?;
    Ok(Deployment {
        registry: *registry.address(),
    })
}
