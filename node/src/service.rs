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
/// retries, never the daemon. A shutdown stops a round where it is (a long inference, a wait
/// for a receipt): to the daemon that is a crash at that point, which it is built to survive.
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
        let result = tokio::select! {
            result = daemon.round() => result,
            _ = shutdown.changed() => break,
        };
        let wait = match result {
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
        RetryPolicy {
            call_timeout: config.rpc_timeout(),
            ..RetryPolicy::default()
        },
        metrics,
    )
    .await?;
    tracing::info!(me = %chain.me, oracle = %chain.oracle, game = %chain.game, "connected");
    ensure!(
        !config.models.is_empty(),
        "no model to serve: add [[models]] to the config or --model NAME=PATH"
    );
    let models = load_models(&chain, &config.models).await?;
    let store = Store::open(&config.state)?.with_reorg_depth(config.reorg_depth);
    store.bind(chain.chain_id().await?, chain.oracle)?;
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    /// A round that takes a minute (a long inference, a stuck receipt).
    struct Slow(Arc<AtomicU32>);

    impl Round for Slow {
        async fn round(&mut self) -> Result<()> {
            self.0.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_secs(60)).await;
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_shutdown_stops_the_daemon_in_the_middle_of_a_round() {
        let (tx, rx) = watch::channel(false);
        let rounds = Arc::new(AtomicU32::new(0));
        let mut daemon = Slow(rounds.clone());
        let looping = tokio::spawn(async move {
            poll_loop(
                "slow",
                Duration::from_millis(10),
                RetryPolicy::default(),
                rx,
                &mut daemon,
            )
            .await
        });
        while rounds.load(Ordering::SeqCst) == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        tx.send(true).unwrap();
        tokio::time::timeout(Duration::from_secs(5), looping)
            .await
            .expect("the loop stops within the round, not after it")
            .unwrap();
        assert_eq!(rounds.load(Ordering::SeqCst), 1);
    }
}
