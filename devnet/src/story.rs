//! The story of one disputed request, read back from the chain: who answered, who challenged,
//! every move of the game with its gas, the disputed step and instruction, how long each phase
//! took. The demo tells it; the dispute benchmark prints it for a 256-token request.

use std::time::{Duration, Instant};

use alloy::primitives::{Address, B256, U256};
use alloy::providers::Provider;
use alloy::rpc::types::{Filter, Log};
use alloy::sol_types::SolEvent;
use anyhow::{Context, Result};
use veritrace_contracts::{DisputeGame, InferenceOracle};
use veritrace_node::metrics::Metrics;

use crate::world::{World, game_of, wait_for};

/// One transaction of the story.
#[derive(Debug, Clone)]
pub struct TxRow {
    /// Who sent it.
    pub party: &'static str,
    /// What it did.
    pub action: String,
    /// Its gas.
    pub gas: u64,
}

/// What happened to one disputed answer.
#[derive(Debug, Clone, Default)]
pub struct DisputeStory {
    /// Game id.
    pub game: u64,
    /// Layer steps N of the disputed answer.
    pub steps: u64,
    /// The text the executor claimed.
    pub claimed_text: String,
    /// Every transaction from submit to the end of the game.
    pub txs: Vec<TxRow>,
    /// Level-1 rounds (reveals by the executor, picks by the challenger).
    pub level1: (u32, u32),
    /// Level-2 rounds (dissections by the executor, picks by the challenger).
    pub level2: (u32, u32),
    /// Moves the game counted per party (executor, challenger).
    pub moves: (u16, u16),
    /// The disputed layer step j.
    pub disputed_step: u64,
    /// Instructions in it.
    pub step_instructions: u64,
    /// The instruction the one-step proof replayed.
    pub disputed_instruction: Option<u64>,
    /// Whether the executor won.
    pub executor_won: bool,
    /// Ended on time rather than by proof.
    pub by_timeout: bool,
    /// Seconds from the request to the answer on chain (one traced inference plus polling).
    pub answer_secs: f64,
    /// Seconds of the challenger's own run of the request (detection).
    pub detect_secs: f64,
    /// Seconds of its wasm confirmation.
    pub confirm_secs: f64,
    /// Seconds from the answer on chain to the challenge.
    pub submit_to_challenge_secs: f64,
    /// Seconds from the challenge to the end of the game (the slash).
    pub challenge_to_slash_secs: f64,
}

impl DisputeStory {
    /// Gas of the game's transactions: the challenge, every move, the proof or timeout.
    pub fn dispute_gas(&self) -> u64 {
        self.txs
            .iter()
            .filter(|t| !t.action.starts_with("submit"))
            .map(|t| t.gas)
            .sum()
    }

    /// Prints the story for a newcomer.
    pub fn print(&self) {
        println!(
            "      game {}: N = {} layer steps; the executor claimed {:?}",
            self.game,
            self.steps,
            short(&self.claimed_text)
        );
        println!(
            "      level 1 (bisect the layer trace): {} reveals by the executor, {} picks by the challenger",
            self.level1.0, self.level1.1
        );
        println!(
            "      level 2 (inside layer step {}: {} wasm instructions): {} dissections, {} picks",
            self.disputed_step, self.step_instructions, self.level2.0, self.level2.1
        );
        match self.disputed_instruction {
            Some(i) => println!(
                "      level 3: the Solidity wasm VM replayed instruction {i} of step {}: {}",
                self.disputed_step,
                if self.executor_won {
                    "the executor was right"
                } else {
                    "the executor LIED"
                }
            ),
            None => println!("      level 3: not reached (the game ended on time)"),
        }
        println!(
            "      moves: executor {}, challenger {} (target <= 12 each)",
            self.moves.0, self.moves.1
        );
        println!("      gas per transaction:");
        for t in &self.txs {
            println!("        {:<11} {:<56} {:>9}", t.party, t.action, t.gas);
        }
        println!(
            "        {:<11} {:<56} {:>9}   (target <= 3,000,000)",
            "",
            "total of the dispute (challenge .. end)",
            self.dispute_gas()
        );
        println!("      time:");
        println!(
            "        request -> answer on chain        {:>7.1} s  (one traced inference)",
            self.answer_secs
        );
        println!(
            "        challenger's own run (detection)  {:>7.1} s  ({:.2}x the answer time; target < 2x)",
            self.detect_secs,
            self.detect_secs / self.answer_secs.max(1e-9)
        );
        println!(
            "        wasm confirmation before bonding  {:>7.1} s",
            self.confirm_secs
        );
        println!(
            "        answer on chain -> challenge      {:>7.1} s",
            self.submit_to_challenge_secs
        );
        println!(
            "        challenge -> slash (whole game)   {:>7.1} s  (target < 60 s)",
            self.challenge_to_slash_secs
        );
    }
}

fn short(text: &str) -> String {
    if text.chars().count() > 60 {
        format!("{}...", text.chars().take(60).collect::<String>())
    } else {
        text.to_string()
    }
}

/// Reads a metric's value by its rendered name (e.g. `veritrace_challenger_confirm_seconds_sum`).
pub fn metric(metrics: &Metrics, name: &str) -> f64 {
    metrics
        .render()
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or(0.0)
}

async fn logs(world: &World, filter: Filter) -> Result<Vec<Log>> {
    Ok(world
        .chain
        .provider()
        .get_logs(&filter.from_block(0))
        .await?)
}

async fn gas_of(world: &World, log: &Log) -> Result<u64> {
    let hash = log
        .transaction_hash
        .context("a log without its transaction")?;
    let receipt = world
        .chain
        .provider()
        .get_transaction_receipt(hash)
        .await?
        .context("no receipt")?;
    Ok(receipt.gas_used)
}

/// Watches `request` (asked at `asked_at`) through its answer, the challenge and the end of
/// its first game; `challenger`'s metrics give its own run and confirmation times.
pub async fn follow_dispute(
    world: &World,
    request: B256,
    asked_at: Instant,
    challenger: &Metrics,
    limit: Duration,
) -> Result<DisputeStory> {
    let oracle = world.oracle();
    let (detect0, confirm0) = (
        metric(challenger, "veritrace_challenger_inference_seconds_sum"),
        metric(challenger, "veritrace_challenger_confirm_seconds_sum"),
    );
    wait_for("the answer", limit, || async {
        let answer = oracle.getAnswer(request, 0).call().await?;
        Ok((answer.executor != Address::ZERO).then_some(()))
    })
    .await?;
    let answered = Instant::now();
    let game = wait_for("the challenge", limit, || async {
        game_of(world, request).await
    })
    .await?;
    let challenged = Instant::now();
    let detect_secs = metric(challenger, "veritrace_challenger_inference_seconds_sum") - detect0;
    let confirm_secs = metric(challenger, "veritrace_challenger_confirm_seconds_sum") - confirm0;
    let game_contract = DisputeGame::new(world.deployment.game, world.chain.provider());
    let g = wait_for("the end of the game", limit, || async {
        let g = game_contract.getGame(U256::from(game)).call().await?;
        Ok(matches!(g.phase, 7 | 8).then_some(g)) // resolved or cancelled
    })
    .await?;
    let slashed = Instant::now();

    let mut story = DisputeStory {
        game,
        steps: g.stepCount,
        moves: (g.executorMoves, g.challengerMoves),
        executor_won: g.executorWon,
        answer_secs: answered.duration_since(asked_at).as_secs_f64(),
        detect_secs,
        confirm_secs,
        submit_to_challenge_secs: challenged.duration_since(answered).as_secs_f64(),
        challenge_to_slash_secs: slashed.duration_since(challenged).as_secs_f64(),
        ..DisputeStory::default()
    };
    let request_logs = logs(
        world,
        Filter::new()
            .address(world.deployment.oracle)
            .topic1(request),
    )
    .await?;
    for log in &request_logs {
        if let Ok(e) = log.log_decode::<InferenceOracle::AnswerSubmitted>() {
            let e = e.inner.data;
            story.claimed_text = output_text(&e.output);
            story.txs.push(TxRow {
                party: "executor",
                action: format!(
                    "submit ({} steps, {} output bytes)",
                    e.claim.stepCount,
                    e.output.len()
                ),
                gas: gas_of(world, log).await?,
            });
        } else if log.topic0() == Some(&InferenceOracle::AnswerChallenged::SIGNATURE_HASH) {
            story.txs.push(TxRow {
                party: "challenger",
                action: "challenge (bond; opens the game)".into(),
                gas: gas_of(world, log).await?,
            });
        }
    }
    let game_logs = logs(
        world,
        Filter::new()
            .address(world.deployment.game)
            .topic1(B256::from(U256::from(game))),
    )
    .await?;
    let mut opened_in: Option<B256> = None;
    for log in &game_logs {
        let gas = gas_of(world, log).await?;
        let row = |party, action: String| TxRow { party, action, gas };
        let row = if let Ok(e) = log.log_decode::<DisputeGame::TraceRevealed>() {
            story.level1.0 += 1;
            let e = e.inner.data;
            row(
                "executor",
                format!(
                    "L1 reveal {} nodes below height {}",
                    e.nodes.len(),
                    e.nodeHeight
                ),
            )
        } else if let Ok(e) = log.log_decode::<DisputeGame::TracePicked>() {
            story.level1.1 += 1;
            let e = e.inner.data;
            row(
                "challenger",
                format!("L1 pick node {} at height {}", e.nodeIndex, e.nodeHeight),
            )
        } else if let Ok(e) = log.log_decode::<DisputeGame::StepOpened>() {
            let e = e.inner.data;
            story.disputed_step = e.step + 1;
            story.step_instructions = e.instructionCount;
            story.level2.0 += 1;
            opened_in = log.transaction_hash;
            row(
                "executor",
                format!(
                    "L1->L2 open step {} ({} instructions), 1st dissection",
                    e.step + 1,
                    e.instructionCount
                ),
            )
        } else if let Ok(e) = log.log_decode::<DisputeGame::Dissected>() {
            if log.transaction_hash == opened_in {
                continue; // the dissection openStep posted, counted with it
            }
            story.level2.0 += 1;
            let e = e.inner.data;
            row("executor", format!("L2 dissect [{}, {}]", e.lo, e.hi))
        } else if let Ok(e) = log.log_decode::<DisputeGame::IntervalPicked>() {
            story.level2.1 += 1;
            let e = e.inner.data;
            row("challenger", format!("L2 pick [{}, {}]", e.lo, e.hi))
        } else if let Ok(e) = log.log_decode::<DisputeGame::OneStepProven>() {
            story.disputed_instruction = Some(e.inner.data.instruction);
            row(
                "prover",
                format!(
                    "L3 one-step proof of instruction {}",
                    e.inner.data.instruction
                ),
            )
        } else if let Ok(e) = log.log_decode::<DisputeGame::GameResolved>() {
            story.by_timeout = e.inner.data.byTimeout;
            if !story.by_timeout {
                continue; // part of the proof's transaction
            }
            row(
                "anyone",
                "timeout (the silent party's clock ran out)".into(),
            )
        } else {
            continue;
        };
        story.txs.push(row);
    }
    Ok(story)
}

/// The text of an output region prefix (`header(32) ‖ text`, text length at bytes 8..12).
fn output_text(output: &[u8]) -> String {
    if output.len() < 32 {
        return String::new();
    }
    let len = u32::from_le_bytes(output[8..12].try_into().expect("4 bytes")) as usize;
    let end = (32 + len).min(output.len());
    String::from_utf8_lossy(&output[32..end]).into_owned()
}
