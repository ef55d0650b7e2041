//! The executor daemon: answers requests for the models it serves and defends its answers.
//! `veritrace-executor --config executor.toml` (see docs/daemons.md for the file).

use clap::Parser;
use veritrace_prover::daemon::{self, CommonArgs};
use veritrace_prover::executor::{Executor, ExecutorConfig};

/// Answers veritrace inference requests and defends every dispute to the end.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    daemon::exit_code(run().await)
}

async fn run() -> anyhow::Result<()> {
    daemon::init_logging();
    let args = Args::parse();
    let config: ExecutorConfig = args
        .common
        .merged_table()?
        .try_into()
        .map_err(|e| anyhow::anyhow!("bad executor configuration: {e}"))?;
    let (chain, store, models) = daemon::connect(&config.common, "veritrace_executor").await?;
    let executor = Executor::new(chain, store, models, config).await?;
    let (_tx, shutdown) = daemon::shutdown_on_signal();
    executor.run(shutdown).await;
    Ok(())
}
