//! Running a daemon: logging, the signals that stop it, connecting it (key, chain, models,
//! state, metrics), the poll loop that survives faults, and its exit status.

use std::time::Duration;

use anyhow::{Result, ensure};
use tokio::sync::watch;

use crate::chain::Chain;
use crate::chain::retry::RetryPolicy;
use crate::config::CommonConfig;
use crate::models::{Models, load_models};
use crate::store::Store;

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
