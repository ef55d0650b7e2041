//! `make bench` part: prints the gas of every protocol transaction of a dispute over a
//! 256-token SmolLM2-sized request, measured on anvil, against the design's targets.

use veritrace_e2e::protocol_gas::{Scenario, run};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let scenario = Scenario::smollm2_256_tokens();
    println!(
        "protocol gas on anvil: {} layer steps, {} instructions in the disputed step",
        scenario.steps, scenario.instructions
    );
    let report = run(scenario).await?;
    println!("{:<11} {:<52} {:>10}", "party", "transaction", "gas");
    for row in &report.rows {
        println!("{:<11} {:<52} {:>10}", row.party, row.action, row.gas);
    }
    let dispute = report.total(&["challenge", "L1", "L2"]);
    println!(
        "dispute narrowed to step {} instruction {} in {} executor and {} challenger moves (target <= 12 each)",
        report.disputed_step,
        report.disputed_instruction,
        report.executor_moves,
        report.challenger_moves
    );
    println!(
        "dispute gas without the one-step proof: {dispute} ({:.0}% of the 3M target; the proof's gas is in the one-step prover table)",
        dispute as f64 / 30_000.0
    );
    Ok(())
}
