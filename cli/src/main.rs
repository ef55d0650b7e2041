//! `veritrace`: the one user-facing command line of the project.

mod generate;

use anyhow::Result;
use clap::{Parser, Subcommand};

/// Verifiable LLM inference for EVM chains by optimistic fraud proofs.
#[derive(Debug, Parser)]
#[command(name = "veritrace", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The whole story on a local chain: deploy, register SmolLM2, answer a question honestly,
    /// then catch and slash a cheating executor, step by step.
    Demo,
    /// Run the deterministic engine on a prompt; `--trace` also commits to the run's layer trace.
    Generate(generate::GenerateArgs),
}

#[tokio::main]
async fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Command::Demo => {
            veritrace_devnet::demo::run(veritrace_devnet::demo::DemoOptions::default())
                .await
                .map(|_| ())
        }
        Command::Generate(args) => generate::run(&args),
    }
}
