//! The device check: does this machine's GPU reproduce the CPU engines bit for bit, and how
//! fast does it verify? Run it before a challenger bonds on `--device cuda` (docs/daemons.md).
//! `veritrace-device-check --shape smollm2135m --out check.json`

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use veritrace_challenger::device_check::{Plan, Shape, ShapeReport, check_shape};
use veritrace_challenger::verify::DeviceKind;

/// Runs random-weight models of real shapes on the CPU engines and on the device in lockstep,
/// compares the whole memory after every step and the layer-trace roots, and measures decode,
/// verification and batch speed. Exit status 0: every comparison held; 1: a difference
/// (printed, and in the report); 2: the check could not run.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// The device under test (the candle backend runs there).
    #[arg(long, value_enum, default_value_t = default_device())]
    device: DeviceKind,
    /// Model shapes to check, in order.
    #[arg(long = "shape", value_enum, default_values_t = [Shape::Smollm2135m])]
    shapes: Vec<Shape>,
    /// Requests run in lockstep per shape (greedy and sampled in turn).
    #[arg(long, default_value_t = 4)]
    requests: usize,
    /// Prompt tokens per request.
    #[arg(long, default_value_t = 22)]
    prompt_tokens: usize,
    /// Most generated tokens per lockstep request.
    #[arg(long, default_value_t = 32)]
    max_tokens: u32,
    /// Tokens of the traced verification run (0: skip it).
    #[arg(long, default_value_t = 256)]
    verify_tokens: u32,
    /// Answers verified at once for the batch figure (0: skip it).
    #[arg(long, default_value_t = 8)]
    batch: usize,
    /// Write the reports as JSON here (rewritten after every shape).
    #[arg(long)]
    out: Option<PathBuf>,
}

fn default_device() -> DeviceKind {
    if cfg!(feature = "cuda") {
        DeviceKind::Cuda
    } else {
        DeviceKind::Cpu
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("device check: DIFFERENCES FOUND (see above)");
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("device check: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run() -> anyhow::Result<bool> {
    let args = Args::parse();
    let mut reports: Vec<ShapeReport> = Vec::new();
    for &shape in &args.shapes {
        let plan = Plan {
            shape,
            device: args.device,
            requests: args.requests,
            prompt_tokens: args.prompt_tokens,
            max_tokens: args.max_tokens,
            verify_tokens: args.verify_tokens,
            batch: args.batch,
        };
        let report = check_shape(&plan, |line| eprintln!("device check: {line}"))
            .with_context(|| format!("checking the {shape:?} shape"))?;
        reports.push(report);
        if let Some(path) = &args.out {
            let json = serde_json::to_string_pretty(&reports)?;
            std::fs::write(path, json).with_context(|| format!("writing {}", path.display()))?;
        }
    }
    Ok(reports.iter().all(ShapeReport::all_identical))
}
