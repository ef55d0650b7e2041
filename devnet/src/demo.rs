//! The demo: the whole product on a local chain, told for a newcomer. anvil starts, the
//! contracts are deployed, SmolLM2 is registered with its real roots; an executor and a
//! challenger daemon start; a dApp asks a chat question and gets the answer after the challenge
//! window; then a cheating executor answers a second question, the challenger catches it, the
//! game runs down to one wasm instruction replayed on chain, the cheater is slashed, and an
//! honest executor answers the re-opened request.

use std::time::{Duration, Instant};

use alloy::primitives::{Address, U256};
use anyhow::{Result, ensure};
use veritrace_adversary::{Cheat, Cheater};
use veritrace_challenger::ChallengerConfig;
use veritrace_challenger::verify::{BackendKind, DeviceKind};
use veritrace_contracts::ProtocolParams;
use veritrace_executor::ExecutorConfig;

use crate::story::follow_dispute;
use crate::world::{Running, World, smollm2, wait_for};

/// What the demo asks, and how much it lets the model say.
#[derive(Debug, Clone)]
pub struct DemoRequest {
    /// The chat message.
    pub message: String,
    /// Most tokens to generate.
    pub max_tokens: u32,
}

/// How the demo (or the dispute benchmark) runs.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// The first, honestly answered question (skipped when `None`).
    pub honest: Option<DemoRequest>,
    /// The question the cheater answers.
    pub disputed: DemoRequest,
    /// The cheater's lie.
    pub cheat: Cheat,
    /// After the slash, let an honest executor answer the re-opened request and finalize it.
    pub reanswer: bool,
}

impl Default for DemoOptions {
    fn default() -> Self {
        Self {
            honest: Some(DemoRequest {
                message: "What is the capital of France?".into(),
                max_tokens: 12,
            }),
            disputed: DemoRequest {
                message: "Name three primary colors.".into(),
                max_tokens: 12,
            },
            // A layer step of the first generated token's forward pass.
            cheat: Cheat::TamperHidden { step: 39 },
            reanswer: true,
        }
    }
}

const LIMIT: Duration = Duration::from_secs(900);

fn eth(wei: U256) -> String {
    let milli = wei / U256::from(10u64).pow(U256::from(15));
    format!(
        "{}.{:03} ETH",
        milli / U256::from(1000),
        milli % U256::from(1000)
    )
}

async fn credits(world: &World, who: &[(&str, Address)]) -> Result<()> {
    for (name, address) in who {
        println!("        {name:<18} {}", eth(world.credit(*address).await?));
    }
    Ok(())
}

fn executor_config(world: &World, account: usize, name: &str) -> Result<ExecutorConfig> {
    Ok(ExecutorConfig {
        common: world.config(account, name)?,
        finalize: true,
        min_fee_wei: 0,
        game_gas_reserve: 4_000_000,
        // The scenarios count credits at the oracle.
        withdraw: false,
        withdraw_at_wei: 0,
    })
}

/// Runs the demo and prints the story; returns the dispute's story for benchmarks.
pub async fn run(options: DemoOptions) -> Result<crate::story::DisputeStory> {
    let started = Instant::now();
    println!("veritrace demo\n==============");
    println!("\n[1/6] importing SmolLM2-135M-Instruct and computing its registry entry");
    let (model, served, _) = smollm2()?;
    println!(
        "      {} wasm instructions in the canonical program, roots computed in {:.1} s",
        served.machine.program().code().len(),
        model.prepare_secs
    );
    println!("      program root {}", model.spec.programRoot);
    println!("      image root   {}", model.spec.imageRoot);

    println!("\n[2/6] starting anvil, deploying the contracts, registering the model");
    let world = World::start(ProtocolParams::default()).await?;
    let d = &world.deployment;
    println!(
        "      chain {}  (id {})",
        world.chain.endpoint(),
        world.chain.chain_id()
    );
    println!("      InferenceOracle {}  DisputeGame {}", d.oracle, d.game);
    println!(
        "      OneStepProver   {}  ModelRegistry {}",
        d.prover, d.registry
    );
    println!("      model id {}", world.model_id);
    println!("      the dApp (AnswerStore) {}", world.consumer);
    let p = world.params;
    println!(
        "      bonds: executor {}, challenger {}; challenge window {} s; clocks {} s per party",
        eth(p.executor_bond),
        eth(p.challenger_bond),
        p.challenge_window,
        p.clock_budget
    );

    println!(
        "\n[3/6] starting the daemons: an honest executor (account 1) and a challenger (account 2)"
    );
    let mut executor = Some(
        world
            .executor(executor_config(&world, 1, "executor")?)
            .await?,
    );
    let challenger = world
        .challenger(ChallengerConfig {
            common: world.config(2, "challenger")?,
            backend: BackendKind::Native,
            device: DeviceKind::Cpu,
            confirm_with_wasm: true,
            queue: 8,
            verifiers: 1,
        })
        .await?;
    let executor_address = executor.as_ref().map(|e| e.address).unwrap_or_default();
    let challenger_address = challenger.address;
    let parties = [
        ("honest executor", executor_address),
        ("challenger", challenger_address),
        ("cheater", world.chain.account(4)),
    ];

    if let Some(q) = &options.honest {
        println!("\n[4/6] the dApp asks: {:?}", q.message);
        let t0 = Instant::now();
        let request = world.ask(&q.message, q.max_tokens, 1).await?;
        println!("      request {request}");
        wait_for("the answer", LIMIT, || async {
            Ok((world.status(request).await? == 2).then_some(()))
        })
        .await?;
        println!(
            "      answered on chain after {:.1} s (executor ran the model, committed its layer trace, bonded)",
            t0.elapsed().as_secs_f64()
        );
        let m = &challenger.metrics;
        wait_for("the challenger's verdict", LIMIT, || async {
            Ok((m.processed.get() >= 1).then_some(()))
        })
        .await?;
        ensure!(
            m.mismatches.get() == 0,
            "the challenger disputed an honest answer"
        );
        println!("      the challenger re-ran it: same layer-trace root, nothing to dispute");
        println!(
            "      not final yet: fast-forwarding anvil's clock past the {} s window",
            p.challenge_window
        );
        world.advance(p.challenge_window + 1).await?;
        let text = wait_for("delivery", LIMIT, || async {
            world.delivered(request).await
        })
        .await?;
        println!("      the executor finalized; the dApp received: {text:?}");
        println!("      credits at the oracle (withdrawable):");
        credits(&world, &parties).await?;
    }

    println!(
        "\n[5/6] a CHEATING executor (account 4, {:?}) answers the next question",
        options.cheat
    );
    // The honest executor pauses so that the cheater answers first.
    if let Some(e) = executor.take() {
        e.stop().await;
    }
    let cheater = world
        .executor_with(
            executor_config(&world, 4, "cheater")?,
            Cheater::new(options.cheat.clone()).into_runner(),
        )
        .await?;
    let q = &options.disputed;
    println!(
        "      the dApp asks: {:?} (up to {} tokens)",
        q.message, q.max_tokens
    );
    let asked = Instant::now();
    let request = world.ask(&q.message, q.max_tokens, 2).await?;
    let story = follow_dispute(&world, request, asked, &challenger.metrics, LIMIT).await?;
    story.print();
    ensure!(!story.executor_won, "the cheater won its game");
    println!(
        "      the cheater's answer is rejected and its bond forfeited (20% burned, 80% to the challenger)"
    );
    cheater.stop().await;
    credits(&world, &parties).await?;

    let mut honest_again: Option<Running> = None;
    if options.reanswer {
        println!("\n[6/6] the request is open again: the honest executor answers it");
        let m = &challenger.metrics;
        let (verified, mismatches) = (m.processed.get(), m.mismatches.get());
        honest_again = Some(
            world
                .executor(executor_config(&world, 1, "executor")?)
                .await?,
        );
        wait_for(
            "the challenger's verdict on the new answer",
            LIMIT,
            || async { Ok((m.processed.get() > verified).then_some(())) },
        )
        .await?;
        ensure!(
            m.mismatches.get() == mismatches,
            "the challenger disputed the honest answer"
        );
        println!(
            "      answered again and verified by the challenger; fast-forwarding past the window"
        );
        world.advance(p.challenge_window + 1).await?;
        let text = wait_for("delivery", LIMIT, || async {
            world.delivered(request).await
        })
        .await?;
        println!("      final after the window; the dApp received: {text:?}");
        credits(&world, &parties).await?;
    }
    for d in [Some(challenger), honest_again].into_iter().flatten() {
        d.stop().await;
    }
    println!(
        "\ndone in {:.1} s; anvil stops now.",
        started.elapsed().as_secs_f64()
    );
    Ok(story)
}
