//! The product end to end: executor and challenger daemons on anvil with the real SmolLM2,
//! each with its own key, state database and metrics, started as tasks of this test process.
//! The honest path finalizes and delivers; every cheating executor is caught and slashed; a
//! lying challenger loses; a challenger killed mid-dispute and restarted still wins, through an
//! RPC outage of several seconds; so does an executor killed and restarted mid-dispute; fifty
//! sybil challengers and a flood of 1-wei requests cannot make an honest executor lose; an
//! executor short of its balance reserve answers nothing until it can afford to; an honest
//! executor withdraws what it earned into its wallet; a challenger
//! behind a provider that caps log ranges at five blocks still catches a cheat; no daemon keeps
//! the run of a settled request in memory.

use std::time::Duration;

use alloy::primitives::{Address, B256, U256};
use veritrace_adversary::{Cheat, Cheater, Lie, MemoryLie};
use veritrace_challenger::ChallengerConfig;
use veritrace_challenger::verify::{BackendKind, DeviceKind};
use veritrace_contracts::{InferenceOracle, ProtocolParams};
use veritrace_devnet::world::{Running, World, game_of, smollm2, wait_for};
use veritrace_e2e::proxy::{CappedLogsProxy, FlakyProxy};
use veritrace_executor::ExecutorConfig;
use veritrace_node::chain::driver::Role;

/// The real model and two daemons per scenario fill the machine: one scenario at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const QUESTION: &str = "What is the capital of France?";
/// Generated tokens per request: 1 init + 32 prefill steps (embed, 30 layers, head) + 32 per
/// further token.
const TOKENS: u32 = 3;
/// A decode layer step of the first generated token (embed at 34, layer 0 at 35).
const DECODE_LAYER_STEP: u64 = 35;
const LIMIT: Duration = Duration::from_secs(240);

fn executor_config(world: &World, name: &str) -> ExecutorConfig {
    ExecutorConfig {
        common: world.config(1, name).unwrap(),
        finalize: true,
        min_fee_wei: 0,
        game_gas_reserve: 4_000_000,
        // The scenarios count credits at the oracle.
        withdraw: false,
        withdraw_at_wei: 0,
    }
}

fn challenger_config(world: &World, account: usize, name: &str) -> ChallengerConfig {
    ChallengerConfig {
        common: world.config(account, name).unwrap(),
        backend: BackendKind::Native,
        device: DeviceKind::Cpu,
        confirm_with_wasm: true,
        queue: 4,
        verifiers: 1,
    }
}

/// Starts a cheating executor (account 1) named `name`.
async fn cheater(world: &World, name: &str, cheater: Cheater) -> Running {
    world
        .executor_with(executor_config(world, name), cheater.into_runner())
        .await
        .unwrap()
}

/// Starts a cheater (account 1) that tampers with a decode layer step of every answer.
async fn tampering_cheater(world: &World) -> Running {
    let tamper = Cheat::TamperHidden {
        step: DECODE_LAYER_STEP,
    };
    cheater(world, "cheater", Cheater::new(tamper)).await
}

/// The challenger's (account 2) configuration, reaching the node through `rpc_url` (a proxy).
fn challenger_config_via(world: &World, rpc_url: &str) -> ChallengerConfig {
    let mut config = challenger_config(world, 2, "challenger");
    config.common.rpc_url = rpc_url.to_string();
    config
}

/// Waits until `request`'s answer was rejected (the executor lost a game) and returns the game.
/// Starts a challenger (account 2) that disputes every answer with a forged trace (a tampered
/// decode layer step).
async fn lying_challenger(world: &World) -> Running {
    let (_, served, _) = smollm2().unwrap();
    let lie = MemoryLie::new(
        Lie::TamperHidden {
            step: DECODE_LAYER_STEP,
        },
        served.image.layout,
    )
    .unwrap();
    world
        .challenger_with(challenger_config(world, 2, "liar"), Some(lie))
        .await
        .unwrap()
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

/// Everything `who` withdrew from the oracle.
async fn withdrawn(world: &World, who: Address) -> U256 {
    use alloy::providers::Provider;
    let filter = alloy::rpc::types::Filter::new()
        .address(world.deployment.oracle)
        .event_signature(<InferenceOracle::Withdrawn as alloy::sol_types::SolEvent>::SIGNATURE_HASH)
        .topic1(who.into_word())
        .from_block(0);
    let logs = world.chain.provider().get_logs(&filter).await.unwrap();
    logs.iter()
        .map(|l| {
            l.log_decode::<InferenceOracle::Withdrawn>()
                .unwrap()
                .inner
                .data
                .amount
        })
        .fold(U256::ZERO, |sum, amount| sum + amount)
}

async fn stop_all(daemons: Vec<Running>) {
    for d in daemons {
        d.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_honest_answer_is_verified_finalized_and_delivered() {
    let _serial = SERIAL.lock().await;
    veritrace_devnet::world::init_logs();
    let world = World::start(ProtocolParams::default()).await.unwrap();
    let executor = world
        .executor(ExecutorConfig {
            withdraw: true,
            ..executor_config(&world, "executor")
        })
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
    // Fee and bond are credited, then withdrawn into the executor's wallet, which pays its gas.
    wait_for("the executor to withdraw its credits", LIMIT, || async {
        Ok(world
            .credit(executor.address)
            .await?
            .is_zero()
            .then_some(()))
    })
    .await
    .unwrap();
    let fee = U256::from(10u64).pow(U256::from(16));
    assert_eq!(
        withdrawn(&world, executor.address).await,
        fee + world.params.executor_bond
    );
    assert!(executor.metrics.gas_spent.get() > 0);
    assert!(game_of(&world, request).await.unwrap().is_none());
    stop_all(vec![executor, challenger]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn every_cheating_executor_is_caught_and_slashed() {
    let _serial = SERIAL.lock().await;
    veritrace_devnet::world::init_logs();
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
        (
            "merged steps (the audit's PoC 1 on the real model)",
            Cheat::MergeSteps {
                step: DECODE_LAYER_STEP,
            },
            false,
        ),
        ("an extra done leaf after the end", Cheat::ExtraStep, false),
    ];
    let bond = world.params.executor_bond;
    let mut expected_credit = U256::ZERO;
    for (i, (what, cheat, bad_dissection)) in cheats.into_iter().enumerate() {
        let mut runner = Cheater::new(cheat);
        if bad_dissection {
            runner = runner.with_bad_dissection();
        }
        let cheater = cheater(&world, &format!("cheater-{i}"), runner).await;
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
        // Its answer is rejected: nothing is left to defend, its run is let go.
        wait_for("the cheater to let go of its run", LIMIT, || async {
            Ok((cheater.metrics.runs_held.get() == 0).then_some(()))
        })
        .await
        .unwrap();
        cheater.stop().await;
    }
    // The daemon books a game's end on its next round after the chain settles it.
    wait_for("the challenger to book six wins", LIMIT, || async {
        Ok((challenger.metrics.disputes_won.get() == 6).then_some(()))
    })
    .await
    .unwrap();
    assert_eq!(challenger.metrics.disputes_lost.get(), 0);
    assert_eq!(challenger.metrics.mismatches.get(), 6);
    // Every game is over (most of them ended by the chain's event, not the daemon's own read):
    // no run is left in memory.
    wait_for("the challenger to let go of its runs", LIMIT, || async {
        Ok((challenger.metrics.runs_held.get() == 0).then_some(()))
    })
    .await
    .unwrap();
    challenger.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_silent_executor_loses_on_time() {
    let _serial = SERIAL.lock().await;
    veritrace_devnet::world::init_logs();
    let world = World::start(ProtocolParams::default()).await.unwrap();
    let executor = cheater(
        &world,
        "silent",
        Cheater::new(Cheat::WrongText {
            text: "Lyon.".into(),
        })
        .silent(),
    )
    .await;
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
    veritrace_devnet::world::init_logs();
    let world = World::start(ProtocolParams::default()).await.unwrap();
    let executor = world
        .executor(executor_config(&world, "executor"))
        .await
        .unwrap();
    let liar = lying_challenger(&world).await;
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
    veritrace_devnet::world::init_logs();
    let world = World::start(ProtocolParams::default()).await.unwrap();
    let proxy = FlakyProxy::start(format!("127.0.0.1:{}", world.chain.port()).parse().unwrap())
        .await
        .unwrap();
    let cheater = tampering_cheater(&world).await;
    let config = challenger_config_via(&world, &proxy.url());
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

/// Hosted providers refuse `eth_getLogs` over more than a few thousand blocks (some over a few
/// dozen); reading from the deployment block to the head in one call, as event sync and the
/// level-1 picks once did, would leave the challenger unable to pick, losing on time.
#[tokio::test(flavor = "multi_thread")]
async fn a_challenger_behind_a_provider_that_caps_log_ranges_still_catches_a_cheat() {
    let _serial = SERIAL.lock().await;
    veritrace_devnet::world::init_logs();
    let world = World::start(ProtocolParams::default()).await.unwrap();
    let proxy = CappedLogsProxy::start(&world.chain.endpoint(), 5)
        .await
        .unwrap();
    let cheater = tampering_cheater(&world).await;
    let config = challenger_config_via(&world, &proxy.url());
    let challenger = world.challenger(config).await.unwrap();
    let request = world.ask(QUESTION, TOKENS, 6).await.unwrap();
    let game = rejected(&world, request).await;
    assert_eq!(resolution(&world, game).await, (false, false));
    assert!(
        proxy.refused() > 0,
        "the challenger met the cap (the deployment alone is more than five blocks)"
    );
    wait_for("the challenger to book the win", LIMIT, || async {
        Ok((challenger.metrics.disputes_won.get() == 1).then_some(()))
    })
    .await
    .unwrap();
    stop_all(vec![cheater, challenger]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_executor_killed_mid_dispute_restarts_and_defends_its_answer() {
    let _serial = SERIAL.lock().await;
    veritrace_devnet::world::init_logs();
    let world = World::start(ProtocolParams::default()).await.unwrap();
    let config = executor_config(&world, "executor");
    let executor = world.executor(config.clone()).await.unwrap();
    let liar = lying_challenger(&world).await;
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
    veritrace_devnet::world::init_logs();
    let world = World::start(ProtocolParams::default()).await.unwrap();
    let executor = world
        .executor(executor_config(&world, "executor"))
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

/// The audit's padding bait: an executor whose trace has a made-up leaf past N cannot even
/// submit (the oracle checks the padding: `NonZeroPadding`), so no challenger is baited and
/// nothing is at stake; an honest executor then answers the request.
#[tokio::test(flavor = "multi_thread")]
async fn a_trace_with_a_made_up_padding_leaf_is_refused_at_submit() {
    let _serial = SERIAL.lock().await;
    veritrace_devnet::world::init_logs();
    let world = World::start(ProtocolParams::default()).await.unwrap();
    let challenger = world
        .challenger(challenger_config(&world, 2, "challenger"))
        .await
        .unwrap();
    let cheater = cheater(&world, "padder", Cheater::new(Cheat::PaddedTree)).await;
    let request = world.ask(QUESTION, TOKENS, 41).await.unwrap();
    // Each try commits (which goes in) and then submits (which is refused): a second commitment
    // means the first answer was refused.
    wait_for("the padder to try twice", LIMIT, || async {
        use alloy::providers::Provider;
        use alloy::sol_types::SolEvent;
        let filter = alloy::rpc::types::Filter::new()
            .address(world.deployment.oracle)
            .event_signature(InferenceOracle::AnswerCommitted::SIGNATURE_HASH)
            .topic1(request)
            .from_block(0);
        let commits = world.chain.provider().get_logs(&filter).await?.len();
        Ok((commits >= 2).then_some(()))
    })
    .await
    .unwrap();
    assert_eq!(
        world.status(request).await.unwrap(),
        1,
        "refused: still open"
    );
    assert_eq!(cheater.metrics.processed.get(), 0, "no answer went in");
    cheater.stop().await;
    let executor = world
        .executor(executor_config(&world, "executor"))
        .await
        .unwrap();
    wait_for(
        "the challenger to verify an honest answer",
        LIMIT,
        || async { Ok((challenger.metrics.processed.get() >= 1).then_some(())) },
    )
    .await
    .unwrap();
    assert_eq!(world.status(request).await.unwrap(), 2);
    assert_eq!(
        challenger.metrics.mismatches.get(),
        0,
        "nothing was ever disputed"
    );
    stop_all(vec![executor, challenger]).await;
}

/// An executor whose wallet cannot cover a bond plus the gas reserve of the games it may have
/// to play answers nothing and risks nothing; restarted with a reserve it can afford, it
/// answers the same request from its database.
#[tokio::test(flavor = "multi_thread")]
async fn an_executor_below_its_balance_reserve_answers_nothing_until_it_can_afford_it() {
    let _serial = SERIAL.lock().await;
    veritrace_devnet::world::init_logs();
    let world = World::start(ProtocolParams::default()).await.unwrap();
    let mut config = executor_config(&world, "executor");
    // 10^19 gas per game: far beyond anvil's 10,000 ETH at any gas price above 1,000 wei.
    config.game_gas_reserve = 10_000_000_000_000_000_000;
    let executor = world.executor(config).await.unwrap();
    let request = world.ask(QUESTION, TOKENS, 31).await.unwrap();
    wait_for("the executor to see the request", LIMIT, || async {
        Ok((executor.metrics.seen.get() >= 1).then_some(()))
    })
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await; // several rounds
    assert_eq!(
        world.status(request).await.unwrap(),
        1,
        "still open: not answered"
    );
    assert_eq!(executor.metrics.processed.get(), 0);
    assert_eq!(
        executor.metrics.gas_spent.get(),
        0,
        "no bond, no gas risked"
    );
    executor.stop().await;

    let executor = world
        .executor(executor_config(&world, "executor"))
        .await
        .unwrap();
    wait_for("the answer", LIMIT, || async {
        Ok((world.status(request).await? == 2).then_some(()))
    })
    .await
    .unwrap();
    executor.stop().await;
}

/// What one sybil does in its game: it disputes `target` and goes silent at `silent_at`.
#[derive(Debug, Clone, Copy)]
struct Sybil {
    target: u64,
    /// Pick level-1 children toward `target` this many times, then stay silent (at the next
    /// level-1 pick, or at the first level-2 pick once the executor has opened the step).
    picks: u32,
}

/// The child of the node at (`index`, `height`) that holds leaf `target`, `levels` below.
fn child_toward(target: u64, index: u64, height: u8, levels: u8) -> usize {
    let child_height = height - levels;
    ((target >> child_height) - (index << levels)) as usize
}

/// Fifty lying challengers (sybils of one attacker, each with its own funded key) against one
/// honest answer, each disputing a different leaf, while a flood of 1-wei requests arrives. The
/// games are played one at a time: the executor daemon plays each in turn with its whole clock,
/// wins all fifty and every bond, never answers the flood (below its minimum fee), and the
/// answer finalizes. Its work grows linearly: a few reveals per game, one step replay for each
/// sybil that goes as far as level 2.
#[tokio::test(flavor = "multi_thread")]
async fn fifty_sybil_challengers_and_a_request_flood_cannot_make_the_honest_executor_lose() {
    use alloy::providers::Provider;
    use alloy::signers::local::PrivateKeySigner;
    use veritrace_devnet::tx::mined;
    use veritrace_node::chain::Chain;
    use veritrace_node::chain::driver::{posted_hashes, read_game};
    use veritrace_node::chain::retry::RetryPolicy;
    use veritrace_node::metrics::Metrics;
    use veritrace_protocol::game::Phase;

    const SYBILS: usize = 50;
    let _serial = SERIAL.lock().await;
    veritrace_devnet::world::init_logs();
    let world = World::start(ProtocolParams::default()).await.unwrap();
    let mut config = executor_config(&world, "executor");
    config.min_fee_wei = 1_000_000_000_000_000; // 0.001 ETH; the consumer pays 0.01
    let executor = world.executor(config).await.unwrap();
    let request = world.ask(QUESTION, TOKENS, 21).await.unwrap();
    wait_for("the answer", LIMIT, || async {
        let r = world.oracle().requests(request).call().await?;
        Ok((r.answerCount == 1).then_some(()))
    })
    .await
    .unwrap();
    let steps = world
        .oracle()
        .getAnswer(request, 0)
        .call()
        .await
        .unwrap()
        .stepCount;

    // The sybils: fresh keys funded by account 0, each a `Chain` party of its own; sybil k
    // disputes leaf 1 + 37k mod N, and one in five goes on to level 2 (forcing the executor to
    // replay that step).
    let bond = world.params.challenger_bond;
    let mut sybils = Vec::new();
    for k in 0..SYBILS {
        let signer = PrivateKeySigner::random();
        let funding = alloy::rpc::types::TransactionRequest::default()
            .to(signer.address())
            .value(bond + U256::from(10u64).pow(U256::from(17)));
        world
            .chain
            .provider()
            .send_transaction(funding)
            .await
            .unwrap()
            .get_receipt()
            .await
            .unwrap();
        let party = Chain::connect(
            &world.chain.endpoint(),
            signer,
            world.deployment.oracle,
            RetryPolicy::default(),
            Metrics::new("sybil"),
        )
        .await
        .unwrap();
        let receipt = party
            .send(
                "challenge",
                party.oracle().challenge(request, 0).value(bond).send(),
            )
            .await
            .unwrap();
        let id = veritrace_node::chain::event::<InferenceOracle::AnswerChallenged>(&receipt)
            .unwrap()
            .gameId;
        let sybil = Sybil {
            target: 1 + (37 * k as u64) % steps,
            picks: if k % 5 == 0 { u32::MAX } else { 1 },
        };
        sybils.push((u64::try_from(id).unwrap(), sybil, party));
    }

    // The flood: cheap requests from another account while the games go on.
    let flooder = InferenceOracle::new(world.deployment.oracle, world.chain.signer_provider(4));
    let mut flood = Vec::new();
    for i in 0..30u8 {
        let body = alloy::primitives::Bytes::from(World::chat_body(QUESTION, TOKENS).unwrap());
        let receipt = mined(
            flooder
                .request(world.model_id, body, B256::repeat_byte(i), 0)
                .value(U256::from(1))
                .send(),
            "request",
        )
        .await
        .unwrap();
        flood.push(
            veritrace_node::chain::event::<InferenceOracle::InferenceRequested>(&receipt)
                .unwrap()
                .requestId,
        );
    }

    let started = std::time::Instant::now();
    let mut level2_games = 0;
    for (n, (id, sybil, party)) in sybils.iter().enumerate() {
        let mut picks = 0;
        loop {
            let g = read_game(party, *id).await.unwrap();
            if g.view.is_over() {
                assert!(
                    g.executor_won && !g.cancelled,
                    "game {id}: the honest executor must win"
                );
                break;
            }
            assert!(
                !g.view.is_queued(),
                "game {id} must have started: the one before it ended"
            );
            // Later games wait without a clock.
            if let Some((later, _, _)) = sybils.get(n + 1) {
                assert!(read_game(party, *later).await.unwrap().view.is_queued());
            }
            if g.view.is_turn_of(Role::Challenger) {
                let view = g.view;
                if view.phase == Phase::TracePick && picks < sybil.picks {
                    let nodes = posted_hashes(party, *id, 0).await.unwrap();
                    let levels = view.node_height.min(5);
                    let pick =
                        child_toward(sybil.target, view.node_index, view.node_height, levels);
                    let nodes = nodes.into_iter().map(B256::from).collect::<Vec<_>>();
                    party
                        .send(
                            "pickTrace",
                            party
                                .game()
                                .pickTrace(U256::from(*id), nodes, U256::from(pick))
                                .send(),
                        )
                        .await
                        .unwrap();
                    picks += 1;
                    continue;
                }
                if view.phase == Phase::DissectPick {
                    level2_games += 1;
                    assert_eq!(
                        view.node_index, sybil.target,
                        "the sybil disputed its own leaf"
                    );
                }
                // Silent: its clock runs out and the executor daemon claims the game.
                world.advance(world.params.clock_budget + 1).await.unwrap();
                wait_for("the executor to claim the timeout", LIMIT, || async {
                    Ok(read_game(party, *id).await?.view.is_over().then_some(()))
                })
                .await
                .unwrap();
                continue;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let secs = started.elapsed().as_secs_f64();
    let moves = executor.metrics.moves.get();
    eprintln!(
        "{SYBILS} sybil games in {secs:.0} s: the executor made {moves} moves \
         ({:.1} per game, {level2_games} games reached level 2 and cost a step replay each)",
        moves as f64 / SYBILS as f64
    );
    assert_eq!(level2_games, SYBILS / 5);

    // Every game won, the answer final and delivered, the flood untouched.
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
        fee + world.params.executor_bond
            + U256::from(SYBILS) * bond_won(&world.params, world.params.challenger_bond),
        "fee, bond and every sybil's bond less the burn"
    );
    for id in flood {
        assert_eq!(
            world.status(id).await.unwrap(),
            1,
            "a 1-wei request stays unanswered"
        );
    }
    executor.stop().await;
}
