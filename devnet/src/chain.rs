//! A local anvil chain owned by a test or the demo: started on a free port, stopped when the
//! value is dropped, which also happens when the owner fails or panics.

use std::path::PathBuf;

use alloy::{
    network::EthereumWallet,
    node_bindings::{Anvil, AnvilInstance},
    primitives::Address,
    providers::{DynProvider, Provider, ProviderBuilder},
    signers::local::PrivateKeySigner,
};

use crate::paths;

/// Why a local chain could not be started.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// The anvil executable is not where it should be.
    #[error("anvil not found at {0}: run `make setup` (npm ci) or set VERITRACE_ANVIL")]
    AnvilMissing(PathBuf),
    /// anvil started but did not come up.
    #[error("anvil failed to start: {0}")]
    Spawn(#[from] alloy::node_bindings::NodeError),
}

/// A running anvil instance plus a provider that signs with its first funded account.
#[derive(Debug)]
pub struct LocalChain {
    anvil: AnvilInstance,
    provider: DynProvider,
}

impl LocalChain {
    /// Starts anvil (instant mining) on a port the OS picks.
    pub fn start() -> Result<Self, ChainError> {
        let binary = paths::anvil_binary();
        if !binary.exists() {
            return Err(ChainError::AnvilMissing(binary));
        }
        let anvil = Anvil::at(binary).prague().try_spawn()?;
        let provider = Self::provider_for(&anvil, 0);
        Ok(Self { anvil, provider })
    }

    /// A provider that signs with anvil's `index`-th funded account.
    pub fn signer_provider(&self, index: usize) -> DynProvider {
        Self::provider_for(&self.anvil, index)
    }

    fn provider_for(anvil: &AnvilInstance, index: usize) -> DynProvider {
        let key = anvil.keys()[index].clone();
        let wallet = EthereumWallet::from(PrivateKeySigner::from(key));
        ProviderBuilder::new()
            .wallet(wallet)
            .connect_http(anvil.endpoint_url())
            .erased()
    }

    /// The key of anvil's `index`-th funded account.
    pub fn signer(&self, index: usize) -> PrivateKeySigner {
        PrivateKeySigner::from(self.anvil.keys()[index].clone())
    }

    /// The provider signing with account 0 (the deployer).
    pub fn provider(&self) -> &DynProvider {
        &self.provider
    }

    /// Address of anvil's `index`-th funded account.
    pub fn account(&self, index: usize) -> Address {
        self.anvil.addresses()[index]
    }

    /// The HTTP endpoint, e.g. `http://localhost:PORT`.
    pub fn endpoint(&self) -> String {
        self.anvil.endpoint()
    }

    /// The TCP port anvil listens on.
    pub fn port(&self) -> u16 {
        self.anvil.port()
    }

    /// The chain id anvil reports.
    pub fn chain_id(&self) -> u64 {
        self.anvil.chain_id()
    }

    /// Deploys an `InferenceOracle` over `game` with no registry behind it (1-wei bonds, one
    /// hour windows), for tests of its pure functions and of the chain plumbing.
    pub async fn deploy_bare_oracle(
        &self,
        game: Address,
    ) -> Result<Address, alloy::contract::Error> {
        let oracle = veritrace_contracts::InferenceOracle::deploy(
            &self.provider,
            Address::repeat_byte(3),
            game,
            alloy::primitives::U256::from(1),
            alloy::primitives::U256::from(1),
            3600,
            3600,
        )
        .await?;
        Ok(*oracle.address())
    }
}
