//! A whole deployment for end-to-end scenarios: anvil, the contracts with the real one-step
//! prover, SmolLM2 registered with its real roots, a consumer dApp, and executor and challenger
//! daemons started in this process (each with its own key, state database and metrics), which
//! a scenario can stop, kill, restart or cut off from the node.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use alloy::primitives::{Address, B256, Bytes, U256};
use alloy::signers::local::PrivateKeySigner;
use anyhow::{Context, Result, bail};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use veritrace_challenger::{Challenger, ChallengerConfig};
use veritrace_contracts::{
    AnswerStore, Deployment, InferenceOracle, ModelRegistry, ProtocolParams, deploy_all,
    deploy_prover,
};
use veritrace_executor::{Executor, ExecutorConfig, HonestRun, Runner};
use veritrace_node::chain::Chain;
use veritrace_node::chain::retry::RetryPolicy;
use veritrace_node::config::CommonConfig;
use veritrace_node::metrics::Metrics;
use veritrace_node::models::Models;
use veritrace_node::store::Store;
use veritrace_tracer::registration::{RegisteredModel, registered_model};
use veritrace_tracer::run_source::BoundaryEdit;
use veritrace_vm::Request;
use veritrace_vm::tokenizer::{Tokenizer, chatml};

use crate::tx::{event, mined};
use crate::{LocalChain, paths};

/// SmolLM2 imported and its registry entry computed once per process (seconds of work).
pub fn smollm2() -> Result<&'static (
    RegisteredModel,
    Arc<veritrace_tracer::submission::ServedModel>,
    Tokenizer,
)> {
    static MODEL: OnceLock<(
        RegisteredModel,
        Arc<veritrace_tracer::submission::ServedModel>,
        Tokenizer,
    )> = OnceLock::new();
    if let Some(m) = MODEL.get() {
        return Ok(m);
    }
    let gguf = paths::smollm2_gguf();
    let model = registered_model(&gguf, "SmolLM2-135M-Instruct")?;
    let served = Arc::new(model.served.clone());
    let tokenizer = Tokenizer::from_gguf_file(&gguf)?;
    Ok(MODEL.get_or_init(|| (model, served, tokenizer)))
}

/// A deployment with SmolLM2 registered.
#[derive(Debug)]
pub struct World {
    /// The chain.
    pub chain: LocalChain,
    /// Where the contracts are.
    pub deployment: Deployment,
    /// Bonds, window, clocks.
    pub params: ProtocolParams,
    /// SmolLM2's registered id.
    pub model_id: B256,
    /// The example consumer dApp (deployed by account 3).
    pub consumer: Address,
    dir: tempfile::TempDir,
}

/// A daemon running as a task of this process.
#[derive(Debug)]
pub struct Running {
    shutdown: watch::Sender<bool>,
    task: JoinHandle<()>,
    /// Its metrics.
    pub metrics: Metrics,
    /// Its address.
    pub address: Address,
}

impl Running {
    /// Runs the daemon future `run(shutdown)` as a task.
    fn spawn<F: std::future::Future<Output = ()> + Send + 'static>(
        metrics: Metrics,
        address: Address,
        run: impl FnOnce(watch::Receiver<bool>) -> F,
    ) -> Self {
        let (shutdown, rx) = watch::channel(false);
        Self {
            shutdown,
            task: tokio::spawn(run(rx)),
            metrics,
            address,
        }
    }

    /// Asks the daemon to stop and waits for it.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        let _ = self.task.await;
    }

    /// Stops the daemon at whatever await point it is (a crash: no clean-up runs).
    pub async fn kill(self) {
        self.task.abort();
        let _ = self.task.await;
    }
}

impl World {
    /// Starts anvil, deploys with `params`, registers SmolLM2 and deploys the consumer.
    pub async fn start(params: ProtocolParams) -> Result<Self> {
        let (model, _, _) = smollm2()?;
        let chain = LocalChain::start()?;
        let prover = deploy_prover(chain.provider()).await?;
        let deployment = deploy_all(chain.provider(), chain.account(0), prover, params).await?;
        let registry = ModelRegistry::new(deployment.registry, chain.provider());
        let receipt = mined(registry.register(model.spec.clone()).send(), "register").await?;
        let model_id = event::<ModelRegistry::ModelRegistered>(&receipt)?.id;
        let consumer = *AnswerStore::deploy(chain.signer_provider(3), deployment.oracle)
            .await?
            .address();
        Ok(Self {
            chain,
            deployment,
            params,
            model_id,
            consumer,
            dir: tempfile::tempdir()?,
        })
    }

    /// The common daemon settings for anvil account `account`, with its state database named
    /// `name` (a restarted daemon reuses the name) and its key in a file.
    pub fn config(&self, account: usize, name: &str) -> Result<CommonConfig> {
        let key_file = self.dir.path().join(format!("{name}.key"));
        let signer = self.chain.signer(account);
        std::fs::write(&key_file, hex::encode(signer.to_bytes()))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600))?;
        }
        Ok(CommonConfig {
            rpc_url: self.chain.endpoint(),
            oracle: self.deployment.oracle,
            state: self.dir.path().join(format!("{name}.redb")),
            metrics_addr: None,
            key_file: Some(key_file),
            poll_ms: 200,
            start_block: 0,
            rpc_timeout_ms: 30_000,
            held_runs: 8,
            confirmations: 0,
            reorg_depth: 64,
            models: Vec::new(),
        })
    }

    async fn connect(
        &self,
        config: &CommonConfig,
        prefix: &str,
    ) -> Result<(Chain, Store, Models, PrivateKeySigner)> {
        let signer = config.signer()?;
        let metrics = Metrics::new(prefix);
        let chain = Chain::connect(
            &config.rpc_url,
            signer.clone(),
            config.oracle,
            RetryPolicy {
                call_timeout: config.rpc_timeout(),
                first_delay: Duration::from_millis(100),
                max_delay: Duration::from_secs(1),
                max_retries: 30,
            },
            metrics,
        )
        .await?;
        // In-process, a killed daemon's tasks release the database lock a moment after the
        // abort (a crashed process releases it at once): wait for it briefly.
        let mut store = Store::open(&config.state);
        for _ in 0..50 {
            if store.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            store = Store::open(&config.state);
        }
        let store = store?.with_reorg_depth(config.reorg_depth);
        store.bind(chain.chain_id().await?, chain.oracle)?;
        let (_, served, _) = smollm2()?;
        let models = Models::from([(self.model_id, served.clone())]);
        Ok((chain, store, models, signer))
    }

    /// Starts an honest executor daemon.
    pub async fn executor(&self, config: ExecutorConfig) -> Result<Running> {
        self.executor_with(config, Arc::new(HonestRun)).await
    }

    /// Starts an executor daemon whose runs `runner` makes (a cheater's, for attack tests and
    /// the demo).
    pub async fn executor_with(
        &self,
        config: ExecutorConfig,
        runner: Arc<dyn Runner>,
    ) -> Result<Running> {
        let (chain, store, models, signer) =
            self.connect(&config.common, "veritrace_executor").await?;
        let metrics = chain.metrics.clone();
        let executor = Executor::with_runner(chain, store, models, config, runner).await?;
        Ok(Running::spawn(metrics, signer.address(), |rx| {
            executor.run(rx)
        }))
    }

    /// Starts an honest challenger daemon.
    pub async fn challenger(&self, config: ChallengerConfig) -> Result<Running> {
        self.challenger_with(config, None).await
    }

    /// Starts a challenger daemon whose own runs `edit` changes (a lying challenger, for
    /// attack tests).
    pub async fn challenger_with(
        &self,
        config: ChallengerConfig,
        edit: Option<Arc<dyn BoundaryEdit>>,
    ) -> Result<Running> {
        let (chain, store, models, signer) =
            self.connect(&config.common, "veritrace_challenger").await?;
        let metrics = chain.metrics.clone();
        let challenger = Challenger::with_edit(chain, store, models, config, edit).await?;
        Ok(Running::spawn(metrics, signer.address(), |rx| {
            challenger.run(rx)
        }))
    }

    /// The request body that asks `message` as a chat (greedy, at most `max_tokens`).
    pub fn chat_body(message: &str, max_tokens: u32) -> Result<Vec<u8>> {
        let (_, _, tokenizer) = smollm2()?;
        let prompt = tokenizer.encode(&chatml(message))?;
        Ok(Request::greedy(prompt, max_tokens).encode())
    }

    /// The consumer asks `message` as a chat (greedy, at most `max_tokens`); returns the request id.
    pub async fn ask(&self, message: &str, max_tokens: u32, user_seed: u8) -> Result<B256> {
        let body = Self::chat_body(message, max_tokens)?;
        let store = AnswerStore::new(self.consumer, self.chain.signer_provider(3));
        let fee = U256::from(10u64).pow(U256::from(16));
        let receipt = mined(
            store
                .ask(
                    self.model_id,
                    Bytes::from(body),
                    B256::repeat_byte(user_seed),
                )
                .value(fee)
                .send(),
            "ask",
        )
        .await?;
        Ok(event::<InferenceOracle::InferenceRequested>(&receipt)?.requestId)
    }

    /// The oracle, read through account 0.
    pub fn oracle(
        &self,
    ) -> InferenceOracle::InferenceOracleInstance<&alloy::providers::DynProvider> {
        InferenceOracle::new(self.deployment.oracle, self.chain.provider())
    }

    /// The request's status (`InferenceOracle.RequestStatus`: 1 open, 2 answered, 3 final).
    pub async fn status(&self, request: B256) -> Result<u8> {
        Ok(self.oracle().requests(request).call().await?.status)
    }

    /// The text the consumer received for `request`, if any.
    pub async fn delivered(&self, request: B256) -> Result<Option<String>> {
        let store = AnswerStore::new(self.consumer, self.chain.provider());
        if !store.answered(request).call().await? {
            return Ok(None);
        }
        let text = store.answers(request).call().await?;
        Ok(Some(String::from_utf8_lossy(&text).into_owned()))
    }

    /// Withdrawable credit of `account` at the oracle.
    pub async fn credit(&self, account: Address) -> Result<U256> {
        Ok(self.oracle().credits(account).call().await?)
    }

    /// Moves chain time forward (anvil).
    pub async fn advance(&self, seconds: u64) -> Result<()> {
        crate::tx::advance_time(self.chain.provider(), seconds).await
    }
}

/// Polls `check` every 250 ms until it returns `Some`, failing after `limit` with `what`.
pub async fn wait_for<T, F, Fut>(what: &str, limit: Duration, mut check: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<T>>>,
{
    let started = Instant::now();
    loop {
        if let Some(value) = check().await? {
            return Ok(value);
        }
        if started.elapsed() > limit {
            bail!("timed out after {limit:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The id of the first game opened over `request`, if one was.
pub async fn game_of(world: &World, request: B256) -> Result<Option<u64>> {
    let filter = alloy::rpc::types::Filter::new()
        .address(world.deployment.oracle)
        .event_signature(
            <InferenceOracle::AnswerChallenged as alloy::sol_types::SolEvent>::SIGNATURE_HASH,
        )
        .topic1(request)
        .from_block(0);
    use alloy::providers::Provider;
    let logs = world.chain.provider().get_logs(&filter).await?;
    logs.first()
        .map(|l| {
            let e = l
                .log_decode::<InferenceOracle::AnswerChallenged>()?
                .inner
                .data;
            u64::try_from(e.gameId).context("game id")
        })
        .transpose()
}

/// Sends the daemons' logs to the test output (`RUST_LOG` filters; default `info`).
pub fn init_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .try_init();
}
