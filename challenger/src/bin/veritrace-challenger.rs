//! The challenger daemon (watchtower): verifies answers and disputes wrong ones.
//! `veritrace-challenger --config challenger.toml --backend native` (see docs/daemons.md).

use clap::Parser;
use veritrace_challenger::verify::{BackendKind, DeviceKind};
use veritrace_challenger::{Challenger, ChallengerConfig};
use veritrace_node::config::CommonArgs;
use veritrace_node::service;

/// Re-runs every answer of the models it serves and disputes the wrong ones.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
    /// Engine of the re-runs.
    #[arg(long, value_enum)]
    backend: Option<BackendKind>,
    /// Device of the candle backend.
    #[arg(long, value_enum)]
    device: Option<DeviceKind>,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    service::exit_code(run().await)
}

async fn run() -> anyhow::Result<()> {
    service::init_logging();
    let args = Args::parse();
    let mut table = args.common.merged_table()?;
    if let Some(b) = args.backend {
        table.insert("backend".into(), format!("{b:?}").to_lowercase().into());
    }
    if let Some(d) = args.device {
        table.insert("device".into(), format!("{d:?}").to_lowercase().into());
    }
    let config: ChallengerConfig = table
        .try_into()
        .map_err(|e| anyhow::anyhow!("bad challenger configuration: {e}"))?;
    let (chain, store, models) = service::connect(&config.common, "veritrace_challenger").await?;
    let challenger = Challenger::new(chain, store, models, config).await?;
    let (_tx, shutdown) = service::shutdown_on_signal();
    challenger.run(shutdown).await;
    Ok(())
}
