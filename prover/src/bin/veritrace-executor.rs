//! The executor daemon: answers requests for the models it serves and defends its answers.
//! `veritrace-executor --config executor.toml` (see docs/daemons.md for the file).

use clap::Parser;
use veritrace_executor::{Executor, ExecutorConfig};
use veritrace_node::config::CommonArgs;
use veritrace_node::service;

/// Answers veritrace inference requests and defends every dispute to the end.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    service::exit_code(run().await)
}

async fn run() -> anyhow::Result<()> {
    service::init_logging();
    let args = Args::parse();
    let config: ExecutorConfig = args
        .common
        .merged_table()?
        .try_into()
        .map_err(|e| anyhow::anyhow!("bad executor configuration: {e}"))?;
    let (chain, store, models) = service::connect(&config.common, "veritrace_executor").await?;
    let executor = Executor::new(chain, store, models, config).await?;
    let (_tx, shutdown) = service::shutdown_on_signal();
    executor.run(shutdown).await;
    Ok(())
}
