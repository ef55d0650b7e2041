//! The product end to end: executor and challenger daemons on anvil with the real SmolLM2,
//! each with its own key, state database and metrics, started as tasks of this test process.
//! The honest path finalizes and delivers; every cheating executor is caught and slashed; a
//! lying challenger loses; a challenger killed mid-dispute and restarted still wins, through an
//! RPC outage of several seconds; so does an executor killed and restarted mid-dispute.

use std::time::Duration;

use alloy::primitives::{Address, B256, U256};
use veritrace_challenger::ChallengerConfig;
use veritrace_challenger::verify::{BackendKind, DeviceKind};
use veritrace_contracts::{InferenceOracle, ProtocolParams};
use veritrace_e2e::proxy::FlakyProxy;
use veritrace_e2e::world::{Running, World, game_of, wait_for};
use veritrace_prover::chain::driver::Role;
use veritrace_prover::executor::{Cheat, ExecutorConfig};

/// The real model and two daemons per scenario fill the machine: one scenario at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const QUESTION: &str = "What is the capital of France?";
/// Generated tokens per request: 1 init + 32 prefill steps (embed, 30 layers, head) + 32 per
/// further token.
const TOKENS: u32 = 3;
/// A decode layer step of the first generated token (embed at 34, layer 0 at 35).
const DECODE_LAYER_STEP: u64 = 35;
const LIMIT: Duration = Duration::from_secs(240);

fn executor_config(world: &World, name: &str, cheat: Option<Cheat>) -> ExecutorConfig {
    ExecutorConfig {
        common: world.config(1, name).unwrap(),
        finalize: true,
        cheat,
        bad_dissection: false,
        go_silent: false,
    }
}

fn challenger_config(world: &World, account: usize, name: &str) -> ChallengerConfig {
    ChallengerConfig {
        common: world.config(account, name).unwrap(),
        backend: BackendKind::Native,
        device: DeviceKind::Cpu,
        confirm_with_wasm: true,
        queue: 4,
        lie_tamper_step: None,
    }
}

/// Waits until `request`'s answer was rejected (the executor lost a game) and returns the game.
/// A challenger that disputes every answer with a forged trace (a tampered decode layer step).
fn lying_challenger_config(world: &World) -> ChallengerConfig {
    let mut config = challenger_config(world, 2, "liar");
    config.lie_tamper_step = Some(DECODE_LAYER_STEP);
    config
}

/// Waits for the answer to `request` to be challenged; returns the game.
async fn challenged(world: &World, request: B256) -> u64 {
    wait_for("a challenge", LIMIT, || async {
        game_of(world, request).await
    })
    .await
    .unwrap()
}

/// Waits until `party` has made a move in `game`.
async fn first_move(world: &World, game: u64, party: Role) {
    let contract =
        veritrace_contracts::DisputeGame::new(world.deployment.game, world.chain.provider());
    wait_for("a first move", LIMIT, || async {
        let g = contract.getGame(U256::from(game)).call().await?;
        let moves = match party {
            Role::Executor => g.executorMoves,
            Role::Challenger => g.challengerMoves,
        };
        Ok((moves >= 1).then_some(()))
    })
    .await
    .unwrap();
}

async fn rejected(world: &World, request: B256) -> u64 {
    let game = challenged(world, request).await;
    wait_for("the dispute to end against the executor", LIMIT, || async {
        let answer = world.oracle().getAnswer(request, 0).call().await?;
        Ok(answer.rejected.then_some(()))
    })
    .await
    .unwrap();
    game
}

async fn resolution(world: &World, game: u64) -> (bool, bool) {
    let filter = alloy::rpc::types::Filter::new()
        .address(world.deployment.oracle)
        .event_signature(
            <InferenceOracle::DisputeResolved as alloy::sol_types::SolEvent>::SIGNATURE_HASH,
        )
        .topic1(B256::from(U256::from(game)))
        .from_block(0);
    use alloy::providers::Provider;
    let logs = world.chain.provider().get_logs(&filter).await.unwrap();
    let e = logs[0]
        .log_decode::<InferenceOracle::DisputeResolved>()
        .unwrap()
        .inner
        .data;
    (e.executorWon, e.moot)
}

fn bond_won(params: &ProtocolParams, loser_bond: U256) -> U256 {
    // The winner gets the loser's bond minus the 20% burn.
    let _ = params;
    loser_bond - loser_bond * U256::from(2000) / U256::from(10_000)
}

async fn credit(world: &World, who: Address) -> U256 {
    world.credit(who).await.unwrap()
}

async fn stop_all(daemons: Vec<Running>) {
    for d in daemons {
        d.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_honest_answer_is_verified_finalized_and_delivered() {
    let _serial = SERIAL.lock().await;
    veritrace_e2e::world::init_logs();
    let world = World::start(ProtocolParams::default()).await.unwrap();
    let executor = world
        .executor(executor_config(&world, "executor", None))
        .await
        .unwrap();
    let challenger = world
        .challenger(challenger_config(&world, 2, "challenger"))
        .await
        .unwrap();
    let request = world.ask(QUESTION, 8, 1).await.unwrap();

    wait_for("the challenger to verify the answer", LIMIT, || async {
        Ok((challenger.metrics.processed.get() >= 1).then_some(()))
    })
    .await
    .unwrap();
    assert_eq!(
        challenger.metrics.mismatches.get(),
        0,
        "an honest answer was disputed"
    );
    assert_eq!(
        world.status(request).await.unwrap(),
        2,
        "answered, in its window"
    );
    assert_eq!(
        world.delivered(request).await.unwrap(),
        None,
        "nothing before finality"
    );

    world
        .advance(world.params.challenge_window + 1)
        .await
        .unwrap();
    let text = wait_for("the executor to finalize", LIMIT, || async {
        world.delivered(request).await
    })
    .await
    .unwrap();
    assert!(text.contains("Paris"), "{text:?}");
    let fee = U256::from(10u64).pow(U256::from(16));
    assert_eq!(
        credit(&world, executor.address).await,
        fee + world.params.executor_bond
    );
    assert!(executor.metrics.gas_spent.get() > 0);
    assert!(game_of(&world, request).await.unwrap().is_none());
    stop_all(vec![executor, challenger]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn every_cheating_executor_is_caught_and_slashed() {
    let _serial = SERIAL.lock().await;
    veritrace_e2e::world::init_logs();
    let world = World::start(ProtocolParams::default()).await.unwrap();
    let challenger = world
        .challenger(challenger_config(&world, 2, "challenger"))
        .await
        .unwrap();
    let cheats = [
        (
            "wrong text",
            Cheat::WrongText {
                text: "The capital of France is Berlin.".into(),
            },
            false,
        ),
        (
            "tampered activation",
            Cheat::TamperHidden {
                step: DECODE_LAYER_STEP,
            },
            false,
        ),
        (
            "prefill-style text from another seed",
            Cheat::OtherSeed,
            false,
        ),
        (
            "inconsistent dissection answers",
            Cheat::TamperHidden {
                step: DECODE_LAYER_STEP,
            },
            true,
        ),
    ];
    let bond = world.params.executor_bond;
    let mut expected_credit = U256::ZERO;
    for (i, (what, cheat, bad_dissection)) in cheats.into_iter().enumerate() {
        let mut config = executor_config(&world, &format!("cheater-{i}"), Some(cheat));
        config.bad_dissection = bad_dissection;
        let cheater = world.executor(config).await.unwrap();
        let request = world.ask(QUESTION, TOKENS, 10 + i as u8).await.unwrap();
        let game = rejected(&world, request).await;
        let (executor_won, moot) = resolution(&world, game).await;
        assert!(
            !executor_won && !moot,
            "{what}: the cheater must lose game {game}"
        );
        expected_credit += bond_won(&world.params, bond) + world.params.challenger_bond;
        assert_eq!(
            credit(&world, challenger.address).await,
            expected_credit,
            "{what}: the challenger gets its bond back and 80% of the executor's"
        );
        eprintln!("{what}: caught and slashed in game {game}");
        cheater.stop().await;
    }
    // The daemon books a game's end on its next round after the chain settles it.
    wait_for("the challenger to book four wins", LIMIT, || async {
        Ok((challenger.metrics.disputes_won.get() == 4).then_some(()))
    })
    .await
    .unwrap();
    assert_eq!(challenger.metrics.disputes_lost.get(), 0);
    assert_eq!(challenger.metrics.mismatches.get(), 4);
    challenger.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_silent_executor_loses_on_time() {
    let _serial = SERIAL.lock().await;
    veritrace_e2e::world::init_logs();
    let world = World::start(ProtocolParams::default()).await.unwrap();
    let mut config = executor_config(
        &world,
        "silent",
        Some(Cheat::WrongText {
            text: "Lyon.".into(),
        }),
    );
    config.go_silent = true;
    let executor = world.executor(config).await.unwrap();
    let challenger = world
        .challenger(challenger_config(&world, 2, "challenger"))
        .await
        .unwrap();
    let request = world.ask(QUESTION, TOKENS, 2).await.unwrap();
    let game = challenged(&world, request).await;
    // The executor never reveals; once its clock has run out the challenger claims the game.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        !world
            .oracle()
            .getAnswer(request, 0)
            .call()
            .await
            .unwrap()
            .rejected
    );
    world.advance(world.params.clock_budget + 1).await.unwrap();
    rejected(&world, request).await;
    assert_eq!(resolution(&world, game).await, (false, false));
    assert_eq!(executor.metrics.moves.get(), 0);
    stop_all(vec![executor, challenger]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lying_challenger_loses_its_bond_to_the_honest_executor() {
    let _serial = SERIAL.lock().await;
    veritrace_e2e::world::init_logs();
    let world = World::start(ProtocolParams::default()).await.unwrap();
    let executor = world
        .executor(executor_config(&world, "executor", None))
        .await
        .unwrap();
    let liar = world
        .challenger(lying_challenger_config(&world))
        .await
        .unwrap();
    let request = world.ask(QUESTION, TOKENS, 3).await.unwrap();
    let game = challenged(&world, request).await;
    wait_for("the game to end", LIMIT, || async {
        Ok((executor.metrics.moves.get() > 0 && {
            let g = world.oracle().getAnswer(request, 0).call().await?;
            g.openDisputes == 0
        })
        .then_some(()))
    })
    .await
    .unwrap();
    assert_eq!(resolution(&world, game).await, (true, false));
    world
        .advance(world.params.challenge_window + 1)
        .await
        .unwrap();
    wait_for("finality", LIMIT, || async {
        world.delivered(request).await
    })
    .await
    .unwrap();
    let fee = U256::from(10u64).pow(U256::from(16));
    assert_eq!(
        credit(&world, executor.address).await,
        fee + world.params.executor_bond + bond_won(&world.params, world.params.challenger_bond)
    );
    assert_eq!(credit(&world, liar.address).await, U256::ZERO);
    stop_all(vec![executor, liar]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_challenger_killed_mid_dispute_restarts_and_wins_through_an_rpc_outage() {
    let _serial = SERIAL.lock().await;
    veritrace_e2e::world::init_logs();
    let world = World::start(ProtocolParams::default()).await.unwrap();
    let proxy = FlakyProxy::start(format!("127.0.0.1:{}", world.chain.port()).parse().unwrap())
        .await
        .unwrap();
    let cheater = world
        .executor(executor_config(
            &world,
            "cheater",
            Some(Cheat::TamperHidden {
                step: DECODE_LAYER_STEP,
            }),
        ))
        .await
        .unwrap();
    let mut config = challenger_config(&world, 2, "challenger");
    config.common.rpc_url = proxy.url();
    let challenger = world.challenger(config.clone()).await.unwrap();
    let request = world.ask(QUESTION, TOKENS, 4).await.unwrap();
    let game = challenged(&world, request).await;
    first_move(&world, game, Role::Challenger).await;
    challenger.kill().await;
    eprintln!("challenger killed in game {game}");

    // It comes back with the same database, and right away its node goes dark for 6 s.
    let restarted = world.challenger(config).await.unwrap();
    proxy.go_down().await;
    tokio::time::sleep(Duration::from_secs(6)).await;
    proxy.come_up();
    eprintln!("node reachable again");
    rejected(&world, request).await;
    assert_eq!(resolution(&world, game).await, (false, false));
    assert!(
        restarted.metrics.rpc_faults.get() > 0,
        "the outage was seen and ridden out"
    );
    stop_all(vec![cheater, restarted]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_executor_killed_mid_dispute_restarts_and_defends_its_answer() {
    let _serial = SERIAL.lock().await;
    veritrace_e2e::world::init_logs();
    let world = World::start(ProtocolParams::default()).await.unwrap();
    let config = executor_config(&world, "executor", None);
    let executor = world.executor(config.clone()).await.unwrap();
    let liar = world
        .challenger(lying_challenger_config(&world))
        .await
        .unwrap();
    let request = world.ask(QUESTION, TOKENS, 5).await.unwrap();
    let game = challenged(&world, request).await;
    first_move(&world, game, Role::Executor).await;
    executor.kill().await;
    eprintln!("executor killed in game {game}");

    // It comes back with the same database, recomputes its run and plays the game out.
    let restarted = world.executor(config).await.unwrap();
    wait_for("the game to end", LIMIT, || async {
        let answer = world.oracle().getAnswer(request, 0).call().await?;
        Ok((answer.openDisputes == 0).then_some(()))
    })
    .await
    .unwrap();
    assert_eq!(
        resolution(&world, game).await,
        (true, false),
        "the restarted executor wins"
    );
    assert!(
        restarted.metrics.moves.get() > 0,
        "the restarted executor made the rest of the moves"
    );
    stop_all(vec![restarted, liar]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_challenger_drains_a_stream_through_a_small_queue_and_reports_missed_windows() {
    let _serial = SERIAL.lock().await;
    veritrace_e2e::world::init_logs();
    let world = World::start(ProtocolParams::default()).await.unwrap();
    let executor = world
        .executor(executor_config(&world, "executor", None))
        .await
        .unwrap();
    let mut requests = Vec::new();
    for seed in 0..3u8 {
        requests.push(world.ask(QUESTION, TOKENS, 20 + seed).await.unwrap());
    }
    for &r in &requests {
        wait_for("an answer", LIMIT, || async {
            Ok((world.status(r).await? == 2).then_some(()))
        })
        .await
        .unwrap();
    }
    // The challenger starts with three answers waiting and room for one at a time.
    let mut config = challenger_config(&world, 2, "challenger");
    config.queue = 1;
    let challenger = world.challenger(config.clone()).await.unwrap();
    wait_for("three verdicts", LIMIT, || async {
        Ok((challenger.metrics.processed.get() == 3).then_some(()))
    })
    .await
    .unwrap();
    assert_eq!(challenger.metrics.mismatches.get(), 0);
    challenger.stop().await;

    // Offline for a whole window: the answer is reported missed, no bond is risked.
    let late = world.ask(QUESTION, TOKENS, 30).await.unwrap();
    wait_for("the late answer", LIMIT, || async {
        Ok((world.status(late).await? == 2).then_some(()))
    })
    .await
    .unwrap();
    world
        .advance(world.params.challenge_window + 1)
        .await
        .unwrap();
    let challenger = world.challenger(config).await.unwrap();
    wait_for("the missed report", LIMIT, || async {
        Ok((challenger.metrics.missed.get() == 1).then_some(()))
    })
    .await
    .unwrap();
    assert_eq!(
        challenger.metrics.processed.get(),
        0,
        "nothing re-verified after a restart"
    );
    assert!(game_of(&world, late).await.unwrap().is_none());
    stop_all(vec![executor, challenger]).await;
}
