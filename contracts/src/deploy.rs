//! Deploys the veritrace contracts to a chain and records where they live.

use alloy::{
    primitives::{Address, U256},
    providers::Provider,
};

use crate::{DisputeGame, InferenceOracle, ModelRegistry, OneStepProver};

/// Economic and timing parameters of a deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProtocolParams {
    /// Bond an executor posts with an answer (wei).
    pub executor_bond: U256,
    /// Bond a challenger posts with a challenge (wei).
    pub challenger_bond: U256,
    /// Seconds during which an answer can be challenged.
    pub challenge_window: u64,
    /// Seconds after which an unanswered request can be cancelled.
    pub request_timeout: u64,
    /// Seconds each party may spend on its moves in one game.
    pub clock_budget: u64,
}

impl Default for ProtocolParams {
    /// [`ProtocolParams::devnet`].
    fn default() -> Self {
        Self::devnet()
    }
}

impl ProtocolParams {
    /// Values for a local chain: 1 ETH / 0.5 ETH bonds, one hour windows and clocks.
    pub fn devnet() -> Self {
        Self {
            executor_bond: U256::from(10u64).pow(U256::from(18)),
            challenger_bond: U256::from(5u64) * U256::from(10u64).pow(U256::from(17)),
            challenge_window: 3600,
            request_timeout: 86_400,
            clock_budget: 3600,
        }
    }

    /// Values for a real network (docs/architecture.md, "Bond and clock sizing"): the devnet's
    /// bonds, which exceed a winner's gas for a full dispute at 100 gwei, with a seven-day
    /// window and a three-day clock per party per game, margins against congestion and
    /// censorship.
    pub fn real_network() -> Self {
        const DAY: u64 = 86_400;
        Self {
            challenge_window: 7 * DAY,
            request_timeout: 7 * DAY,
            clock_budget: 3 * DAY,
            ..Self::devnet()
        }
    }
}

/// Addresses of one deployment of the veritrace contracts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deployment {
    /// The `ModelRegistry` contract.
    pub registry: Address,
    /// The `DisputeGame` contract.
    pub game: Address,
    /// The `InferenceOracle` contract.
    pub oracle: Address,
    /// The one-step prover the game uses.
    pub prover: Address,
}

/// Why a deployment failed.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    /// A contract deployment transaction failed.
    #[error("deploying {contract}: {source}")]
    Contract {
        /// Which contract.
        contract: &'static str,
        /// The underlying error.
        source: alloy::contract::Error,
    },
    /// Reading the deployer's nonce failed.
    #[error("reading the deployer's nonce: {0}")]
    Nonce(#[from] alloy::transports::TransportError),
    /// The oracle did not land at the address the game was built for.
    #[error("the oracle was deployed at {actual}, not at the predicted {predicted}")]
    AddressMismatch {
        /// Where the game expects the oracle.
        predicted: Address,
        /// Where it is.
        actual: Address,
    },
}

/// Deploys the Solidity one-step prover (stateless; one per chain is enough).
pub async fn deploy_prover<P: Provider>(provider: &P) -> Result<Address, DeployError> {
    let prover = OneStepProver::deploy(provider)
        .await
        .map_err(|source| DeployError::Contract {
            contract: "OneStepProver",
            source,
        })?;
    Ok(*prover.address())
}

/// Deploys the registry, the dispute game (using `prover` as its one-step prover) and the
/// oracle, from `deployer` (the provider's signer). The game and the oracle refer to each
/// other immutably: the oracle's address is predicted from the deployer's nonce.
pub async fn deploy_all<P: Provider>(
    provider: &P,
    deployer: Address,
    prover: Address,
    params: ProtocolParams,
) -> Result<Deployment, DeployError> {
    let wrap = |contract| move |source| DeployError::Contract { contract, source };
    let registry = ModelRegistry::deploy(provider)
        .await
        .map_err(wrap("ModelRegistry"))?;
    let nonce = provider.get_transaction_count(deployer).await?;
    let predicted = deployer.create(nonce + 1);
    let game = DisputeGame::deploy(provider, predicted, prover, params.clock_budget)
        .await
        .map_err(wrap("DisputeGame"))?;
    let oracle = InferenceOracle::deploy(
        provider,
        *registry.address(),
        *game.address(),
        params.executor_bond,
        params.challenger_bond,
        params.challenge_window,
        params.request_timeout,
    )
    .await
    .map_err(wrap("InferenceOracle"))?;
    if *oracle.address() != predicted {
        return Err(DeployError::AddressMismatch {
            predicted,
            actual: *oracle.address(),
        });
    }
    Ok(Deployment {
        registry: *registry.address(),
        game: *game.address(),
        oracle: *oracle.address(),
        prover,
    })
}
