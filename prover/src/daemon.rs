//! What the executor and challenger daemons share: their configuration (file + flags), the
//! signing key (from a file or the environment, never logged), the models they serve checked
//! against the registry, the poll loop that survives faults, and event synchronisation into the
//! state database.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use alloy::primitives::{Address, B256, U256};
use alloy::rpc::types::Log;
use alloy::signers::local::PrivateKeySigner;
use anyhow::{Context, Result, bail, ensure};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use veritrace_contracts::{InferenceOracle, ModelRegistry};

use crate::chain::Chain;
use crate::chain::retry::RetryPolicy;
use crate::registration::registered_model;
use crate::store::{Batch, Store};
use crate::submission::ServedModel;

/// Where one game stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum GameOutcome {
    /// Still being played.
    Open,
    /// We won.
    Won,
    /// We lost.
    Lost,
    /// Cancelled as moot.
    Cancelled,
}

/// A game this party plays, as its database records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GameRecord {
    /// The disputed request.
    pub request_id: B256,
    /// The disputed answer.
    pub answer_index: u32,
    /// Where the game stands.
    pub outcome: GameOutcome,
}

impl GameOutcome {
    /// The outcome, for one party, of a game that ended: cancelled (moot), or won or lost.
    pub fn of(cancelled: bool, won: bool) -> Self {
        match (cancelled, won) {
            (true, _) => GameOutcome::Cancelled,
            (false, true) => GameOutcome::Won,
            (false, false) => GameOutcome::Lost,
        }
    }
}

/// Records game `id` over (`request_id`, `answer_index`) as open, unless it is known already.
pub fn open_game(
    batch: &mut Batch<'_>,
    id: U256,
    request_id: B256,
    answer_index: u32,
) -> Result<u64> {
    let id = u64::try_from(id).context("game id past u64")?;
    if batch.game::<GameRecord>(id)?.is_none() {
        batch.put_game(
            id,
            &GameRecord {
                request_id,
                answer_index,
                outcome: GameOutcome::Open,
            },
        )?;
    }
    Ok(id)
}

/// Applies a `DisputeResolved` event to the game's record if it is one of ours, as `role`
/// sees it, counting wins and losses in `metrics`.
pub fn record_resolution(
    batch: &mut Batch<'_>,
    e: &InferenceOracle::DisputeResolved,
    role: crate::chain::driver::Role,
    metrics: &crate::metrics::Metrics,
) -> Result<()> {
    let id = u64::try_from(e.gameId).context("game id past u64")?;
    let won = e.executorWon == (role == crate::chain::driver::Role::Executor);
    close_game(batch, id, GameOutcome::of(e.moot, won), metrics)
}

/// Records that game `id` ended with `outcome` (once: a closed game stays as it was), counting
/// it in `metrics`. Both the event and the daemon's own read of the game may report the end.
pub fn close_game(
    batch: &mut Batch<'_>,
    id: u64,
    outcome: GameOutcome,
    metrics: &crate::metrics::Metrics,
) -> Result<()> {
    let Some(record) = batch.game::<GameRecord>(id)? else {
        return Ok(());
    };
    if record.outcome != GameOutcome::Open {
        return Ok(());
    }
    match outcome {
        GameOutcome::Won => metrics.disputes_won.inc(),
        GameOutcome::Lost => metrics.disputes_lost.inc(),
        _ => 0,
    };
    batch.put_game(id, &GameRecord { outcome, ..record })
}

/// Environment variable holding the hex private key when no key file is given.
pub const KEY_ENV: &str = "VERITRACE_KEY";

/// Settings both daemons read from their TOML file (flags override them).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CommonConfig {
    /// JSON-RPC endpoint of the node.
    pub rpc_url: String,
    /// Address of the `InferenceOracle`.
    pub oracle: Address,
    /// Path of the state database.
    pub state: PathBuf,
    /// Where to serve Prometheus metrics (none: not served).
    #[serde(default)]
    pub metrics_addr: Option<SocketAddr>,
    /// File holding the hex private key (else the `VERITRACE_KEY` environment variable).
    #[serde(default)]
    pub key_file: Option<PathBuf>,
    /// How often to poll the chain, in milliseconds.
    #[serde(default = "default_poll_ms")]
    pub poll_ms: u64,
    /// First block to read events from on a fresh database (the deployment block).
    #[serde(default)]
    pub start_block: u64,
    /// The models this party runs.
    #[serde(default)]
    pub models: Vec<ModelConfig>,
}

fn default_poll_ms() -> u64 {
    500
}

/// One served model: its GGUF file and the name it was registered under.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// Path of the GGUF file.
    pub gguf: PathBuf,
    /// The name it was registered under (a label: the model id is content-addressed, so the
    /// registry entry is found from the model itself).
    pub name: String,
}

impl CommonConfig {
    /// The poll interval.
    pub fn poll_interval(&self) -> Duration {
        Duration::from_millis(self.poll_ms.max(10))
    }

    /// Reads the signing key: from `key_file` if set, else from `VERITRACE_KEY`.
    pub fn signer(&self) -> Result<PrivateKeySigner> {
        let (text, origin) = match &self.key_file {
            Some(path) => (
                std::fs::read_to_string(path)
                    .with_context(|| format!("reading the key file {}", path.display()))?,
                format!("key file {}", path.display()),
            ),
            None => (
                std::env::var(KEY_ENV).with_context(|| {
                    format!("no key: set key_file in the config, --key-file, or {KEY_ENV}")
                })?,
                KEY_ENV.to_string(),
            ),
        };
        // Never echo the text: it is the key.
        text.trim()
            .parse::<PrivateKeySigner>()
            .map_err(|_| anyhow::anyhow!("the {origin} does not hold a hex private key"))
    }
}

/// Reads a TOML config file of type `T`.
pub fn read_config<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the config file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("parsing the config file {}", path.display()))
}

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

/// The input region the oracle derives for a request: the body with the derived seed in its
/// seed slot (`MachineIO.encodeInput`).
pub fn input_region(seed: &B256, body: &[u8]) -> Result<Vec<u8>> {
    const SEED_OFFSET: usize = 32;
    if body.len() < SEED_OFFSET + 32 {
        bail!(
            "request body of {} bytes is shorter than its header",
            body.len()
        );
    }
    Ok([
        &body[..SEED_OFFSET],
        seed.as_slice(),
        &body[SEED_OFFSET + 32..],
    ]
    .concat())
}

/// Reads the events of new blocks and applies them to the state with `apply`, batch by batch:
/// each batch's effects and the cursor move in one transaction. Returns the new cursor.
pub async fn sync_events(
    chain: &Chain,
    store: &Store,
    start_block: u64,
    mut apply: impl FnMut(&mut Batch<'_>, &Log) -> Result<()>,
) -> Result<u64> {
    const BATCH_BLOCKS: u64 = 2_000;
    let head = chain.head().await?.number;
    let mut from = match store.cursor()? {
        Some(cursor) => cursor + 1,
        None => start_block,
    };
    while from <= head {
        let to = head.min(from + BATCH_BLOCKS - 1);
        let logs = chain.logs(from, to).await?;
        store.write(|batch| {
            for log in &logs {
                apply(batch, log)?;
            }
            batch.set_cursor(to)
        })?;
        from = to + 1;
    }
    Ok(head)
}

/// A signal that tells a daemon to stop (send `true`).
pub type Shutdown = watch::Receiver<bool>;

/// A daemon's unit of work, repeated by [`poll_loop`].
pub trait Round {
    /// One round: catch up with the chain and act on what is due.
    fn round(&mut self) -> impl std::future::Future<Output = Result<()>>;
}

/// Runs `daemon`'s rounds every `interval` until `shutdown`; a failed round is logged and the
/// next one waits longer (exponential backoff up to the policy's cap), so an RPC outage costs
/// retries, never the daemon.
pub async fn poll_loop(
    name: &str,
    interval: Duration,
    retry: RetryPolicy,
    mut shutdown: Shutdown,
    daemon: &mut impl Round,
) {
    let mut failures = 0u32;
    loop {
        if *shutdown.borrow() {
            break;
        }
        let wait = match daemon.round().await {
            Ok(()) => {
                if failures > 0 {
                    tracing::info!(daemon = name, failures, "recovered");
                }
                failures = 0;
                interval
            }
            Err(error) => {
                failures += 1;
                let delay = retry.delay_after(failures).max(interval);
                tracing::warn!(daemon = name, failures, ?delay, "round failed: {error:#}");
                delay
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.changed() => {}
        }
    }
    tracing::info!(daemon = name, "stopped");
}

/// Decodes `log` as event `E` if it is one.
pub fn decode<E: alloy::sol_types::SolEvent>(log: &Log) -> Option<E> {
    (log.topic0() == Some(&E::SIGNATURE_HASH))
        .then(|| log.log_decode::<E>().ok().map(|l| l.inner.data))
        .flatten()
}

/// The current answer of a request as the oracle holds it.
pub async fn answer(
    chain: &Chain,
    request_id: B256,
    index: u32,
) -> Result<InferenceOracle::Answer> {
    chain
        .read("reading an answer", || async {
            Ok(chain.oracle().getAnswer(request_id, index).call().await?)
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_region_puts_the_seed_in_its_slot() {
        let body: Vec<u8> = (0..80u8).collect();
        let seed = B256::repeat_byte(0xee);
        let input = input_region(&seed, &body).unwrap();
        assert_eq!(input.len(), 80);
        assert_eq!(&input[..32], &body[..32]);
        assert_eq!(&input[32..64], seed.as_slice());
        assert_eq!(&input[64..], &body[64..]);
        assert!(input_region(&seed, &body[..63]).is_err());
    }

    #[test]
    fn a_config_file_parses_and_the_key_never_shows_in_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("executor.toml");
        std::fs::write(
            &path,
            r#"
rpc_url = "http://127.0.0.1:8545"
oracle = "0x00000000000000000000000000000000000000aa"
state = "state/executor.redb"
key_file = "missing.key"
[[models]]
gguf = "models/m.gguf"
name = "m"
"#,
        )
        .unwrap();
        let config: CommonConfig = read_config(&path).unwrap();
        assert_eq!(config.poll_ms, 500);
        assert_eq!(config.models.len(), 1);
        assert!(config.signer().is_err());

        let secret = "not-a-key-but-secret-0123456789";
        let key = dir.path().join("bad.key");
        std::fs::write(&key, secret).unwrap();
        let config = CommonConfig {
            key_file: Some(key),
            ..config
        };
        let err = format!("{:#}", config.signer().unwrap_err());
        assert!(!err.contains(secret), "{err}");

        std::fs::write(&path, "rpc_url = 1").unwrap();
        assert!(read_config::<CommonConfig>(&path).is_err());
    }

    #[test]
    fn flags_override_the_config_file_and_unset_flags_keep_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("daemon.toml");
        std::fs::write(
            &path,
            r#"
rpc_url = "http://127.0.0.1:8545"
oracle = "0x00000000000000000000000000000000000000aa"
state = "state/a.redb"
poll_ms = 700
[[models]]
gguf = "models/m.gguf"
name = "m"
"#,
        )
        .unwrap();
        let file = || CommonArgs {
            config: Some(path.clone()),
            ..CommonArgs::default()
        };
        let merged =
            |args: CommonArgs| -> CommonConfig { args.merged_table().unwrap().try_into().unwrap() };
        assert_eq!(merged(file()), read_config::<CommonConfig>(&path).unwrap());

        let other = ModelConfig {
            gguf: "models/other.gguf".into(),
            name: "other".into(),
        };
        let config = merged(CommonArgs {
            rpc_url: Some("http://node:9545".into()),
            oracle: Some(Address::repeat_byte(0xbb)),
            state: Some("state/b.redb".into()),
            metrics_addr: Some("127.0.0.1:9100".parse().unwrap()),
            key_file: Some("k.key".into()),
            start_block: Some(9),
            models: vec![other.clone()],
            ..file()
        });
        assert_eq!(
            config,
            CommonConfig {
                rpc_url: "http://node:9545".into(),
                oracle: Address::repeat_byte(0xbb),
                state: "state/b.redb".into(),
                metrics_addr: Some("127.0.0.1:9100".parse().unwrap()),
                key_file: Some("k.key".into()),
                poll_ms: 700,
                start_block: 9,
                models: vec![other],
            }
        );
        // Without a file, only the flags that are set become keys.
        let flags_only = CommonArgs {
            poll_ms: Some(50),
            ..CommonArgs::default()
        }
        .merged_table()
        .unwrap();
        assert_eq!(
            flags_only,
            toml::Table::from_iter([("poll_ms".into(), 50.into())])
        );
    }
}

/// Command-line flags both daemons take; each overrides the config file's value.
/// Serialized, a set flag is a config key and an unset one is absent (toml leaves `None` out).
#[derive(Debug, Clone, Default, clap::Args, Serialize)]
pub struct CommonArgs {
    /// TOML config file (flags override its values).
    #[arg(long)]
    #[serde(skip)]
    pub config: Option<PathBuf>,
    /// JSON-RPC endpoint of the node.
    #[arg(long)]
    pub rpc_url: Option<String>,
    /// Address of the InferenceOracle.
    #[arg(long)]
    pub oracle: Option<Address>,
    /// Path of the state database.
    #[arg(long)]
    pub state: Option<PathBuf>,
    /// Serve Prometheus metrics here (e.g. 127.0.0.1:9100).
    #[arg(long)]
    pub metrics_addr: Option<SocketAddr>,
    /// File holding the hex private key (default: the VERITRACE_KEY environment variable).
    #[arg(long)]
    pub key_file: Option<PathBuf>,
    /// Poll interval in milliseconds.
    #[arg(long)]
    pub poll_ms: Option<u64>,
    /// First block to read events from on a fresh database.
    #[arg(long)]
    pub start_block: Option<u64>,
    /// A served model as `NAME=PATH.gguf` (repeatable; replaces the config's list).
    #[arg(long = "model", value_parser = parse_model)]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub models: Vec<ModelConfig>,
}

fn parse_model(text: &str) -> Result<ModelConfig, String> {
    let (name, path) = text
        .split_once('=')
        .ok_or_else(|| format!("expected NAME=PATH.gguf, got {text:?}"))?;
    Ok(ModelConfig {
        gguf: PathBuf::from(path),
        name: name.to_string(),
    })
}

impl CommonArgs {
    /// The config file's table (empty without a file) with the flags applied on top, as TOML.
    pub fn merged_table(&self) -> Result<toml::Table> {
        let mut table: toml::Table = match &self.config {
            Some(path) => read_config(path)?,
            None => toml::Table::new(),
        };
        let flags = toml::Table::try_from(self).context("the command-line flags as TOML")?;
        table.extend(flags);
        Ok(table)
    }
}

/// Logs to stderr as text (`RUST_LOG` filters; default `info`).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// A shutdown signal raised by Ctrl-C or SIGTERM.
pub fn shutdown_on_signal() -> (watch::Sender<bool>, Shutdown) {
    let (tx, rx) = watch::channel(false);
    let sender = tx.clone();
    tokio::spawn(async move {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing the SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        tracing::info!("shutting down");
        let _ = sender.send(true);
    });
    (tx, rx)
}

/// Connects a daemon: key, chain, models checked against the registry, state, metrics.
pub async fn connect(
    config: &CommonConfig,
    metrics_prefix: &str,
) -> Result<(Chain, Store, Models)> {
    let signer = config.signer()?;
    let metrics = crate::metrics::Metrics::new(metrics_prefix);
    if let Some(addr) = config.metrics_addr {
        let (bound, _task) = metrics.serve(addr).await?;
        tracing::info!(%bound, "metrics at /metrics");
    }
    let chain = Chain::connect(
        &config.rpc_url,
        signer,
        config.oracle,
        RetryPolicy::default(),
        metrics,
    )
    .await?;
    tracing::info!(me = %chain.me, oracle = %chain.oracle, game = %chain.game, "connected");
    ensure!(
        !config.models.is_empty(),
        "no model to serve: add [[models]] to the config or --model NAME=PATH"
    );
    let models = load_models(&chain, &config.models).await?;
    let store = Store::open(&config.state)?;
    Ok((chain, store, models))
}

/// The exit status of a daemon binary: errors are printed plainly (with their causes), not as
/// a debug dump.
pub fn exit_code(result: Result<()>) -> std::process::ExitCode {
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
