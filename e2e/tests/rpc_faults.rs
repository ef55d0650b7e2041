//! What a real RPC endpoint does that anvil does not (issue 20): a node that accepts the
//! connection and never answers, and a hosted provider that refuses `eth_getLogs` over more
//! than a few blocks. Anvil behind the proxies of `veritrace_e2e::proxy`; no model.

use std::time::{Duration, Instant};

use alloy::primitives::{Address, B256, U256};
use alloy::providers::Provider;
use alloy::rpc::types::Filter;
use alloy::sol_types::SolEvent;
use veritrace_contracts::DisputeGame;
use veritrace_devnet::LocalChain;
use veritrace_e2e::bare_game::{self, mined};
use veritrace_e2e::proxy::{CappedLogsProxy, FlakyProxy};
use veritrace_node::chain::Chain;
use veritrace_node::chain::retry::RetryPolicy;
use veritrace_node::events::sync_events;
use veritrace_node::metrics::Metrics;
use veritrace_node::store::Store;

fn quick(call_timeout: Duration) -> RetryPolicy {
    RetryPolicy {
        call_timeout,
        first_delay: Duration::from_millis(50),
        max_delay: Duration::from_millis(200),
        max_retries: 3,
    }
}

/// A game contract whose oracle is account 5, with an oracle over it, and `games` games
/// created `gap` blocks apart (each a `GameCreated` log): a spread of events to read back.
async fn games_spread_over_blocks(
    chain: &LocalChain,
    games: usize,
    gap: u64,
) -> (Address, Address) {
    let party = chain.account(5);
    let game = DisputeGame::deploy(
        chain.signer_provider(5),
        party,
        Address::repeat_byte(2),
        3600,
    )
    .await
    .unwrap();
    let oracle = chain.deploy_bare_oracle(*game.address()).await.unwrap();
    let claim = bare_game::claim(B256::repeat_byte(1), 3, 2);
    for _ in 0..games {
        mined(game.createGame(party, Address::repeat_byte(9), claim.clone())).await;
        chain
            .provider()
            .raw_request::<_, ()>("anvil_mine".into(), (U256::from(gap),))
            .await
            .unwrap();
    }
    (oracle, *game.address())
}

#[tokio::test]
async fn a_node_that_stops_answering_costs_retries_never_a_hang() {
    let chain = LocalChain::start().expect("anvil starts");
    let game = DisputeGame::deploy(
        chain.provider(),
        chain.account(5),
        Address::repeat_byte(2),
        3600,
    )
    .await
    .unwrap();
    let oracle = chain.deploy_bare_oracle(*game.address()).await.unwrap();
    let proxy = FlakyProxy::start(format!("127.0.0.1:{}", chain.port()).parse().unwrap())
        .await
        .unwrap();
    let metrics = Metrics::new("stall_test");
    let party = Chain::connect(
        &proxy.url(),
        chain.signer(5),
        oracle,
        quick(Duration::from_millis(500)),
        metrics.clone(),
    )
    .await
    .unwrap();
    party.head().await.unwrap();

    proxy.stall().await;
    let started = Instant::now();
    let stalled = tokio::time::timeout(Duration::from_secs(30), party.head())
        .await
        .expect("a stalled node must make the call fail (timeout, retries), not hang");
    assert!(stalled.is_err(), "the node never answered");
    assert!(
        metrics.rpc_faults.get() >= 3,
        "each timed-out attempt counts as a transient fault: {}",
        metrics.rpc_faults.get()
    );
    eprintln!(
        "stalled node: error after {:.1} s: {:#}",
        started.elapsed().as_secs_f64(),
        stalled.unwrap_err()
    );

    proxy.come_up();
    party.head().await.expect("the node answers again");
}

#[tokio::test]
async fn a_provider_that_caps_log_ranges_gets_narrower_ranges_and_every_event() {
    let chain = LocalChain::start().expect("anvil starts");
    let (oracle, game) = games_spread_over_blocks(&chain, 6, 7).await;
    let head = chain.provider().get_block_number().await.unwrap();
    let all = chain
        .provider()
        .get_logs(
            &Filter::new()
                .address(vec![oracle, game])
                .from_block(0)
                .to_block(head),
        )
        .await
        .unwrap();
    assert!(all.len() >= 6, "the spread holds the events: {}", all.len());

    let proxy = CappedLogsProxy::start(&chain.endpoint(), 5).await.unwrap();
    let party = Chain::connect(
        &proxy.url(),
        chain.signer(6),
        oracle,
        quick(Duration::from_secs(10)),
        Metrics::new("capped_test"),
    )
    .await
    .unwrap();

    // Event sync from block 0: every event, in order, once; the cursor at the head.
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("state.redb")).unwrap();
    let mut seen = Vec::new();
    let synced = tokio::time::timeout(
        Duration::from_secs(60),
        sync_events(&party, &store, 0, 0, |_, log| {
            seen.push((log.block_number, log.log_index));
            Ok(())
        }),
    )
    .await
    .expect("a refused range must not be retried as it is")
    .unwrap();
    let cursor = synced.head.number;
    assert!(cursor >= head);
    assert_eq!(store.cursor().unwrap(), Some(cursor));
    let expected: Vec<_> = all.iter().map(|l| (l.block_number, l.log_index)).collect();
    assert_eq!(seen, expected, "every event, in order, once");
    assert!(proxy.refused() > 0, "the cap was met");
    let refused_during_sync = proxy.refused();

    // The last event of a kind, read backwards in ranges the provider serves, and none before
    // the given start block.
    let created = Filter::new()
        .address(game)
        .event_signature(DisputeGame::GameCreated::SIGNATURE_HASH);
    let last = party.last_log(&created, 0, cursor).await.unwrap().unwrap();
    let expected_last = all
        .iter()
        .rev()
        .find(|l| l.topic0() == Some(&DisputeGame::GameCreated::SIGNATURE_HASH))
        .unwrap();
    assert_eq!(
        (last.block_number, last.log_index),
        (expected_last.block_number, expected_last.log_index)
    );
    let after_last = expected_last.block_number.unwrap() + 1;
    assert!(
        party
            .last_log(&created, after_last, cursor)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        proxy.refused(),
        refused_during_sync,
        "the narrower range is kept: nothing more refused"
    );
    assert!(proxy.served() > 0);
}

/// RPC URLs of hosted providers carry API keys; a daemon logs its faults, so no error may name
/// more of the URL than its scheme, host and port.
#[tokio::test]
async fn errors_never_show_the_api_key_in_the_rpc_url() {
    let chain = LocalChain::start().expect("anvil starts");
    let proxy = FlakyProxy::start(format!("127.0.0.1:{}", chain.port()).parse().unwrap())
        .await
        .unwrap();
    proxy.go_down().await;
    let secret = "v3/0123456789abcdef-secret-api-key";
    let url = format!("{}/{secret}?apikey=another-secret", proxy.url());
    let error = Chain::connect(
        &url,
        chain.signer(5),
        Address::repeat_byte(0xaa),
        quick(Duration::from_secs(2)),
        Metrics::new("redact_test"),
    )
    .await
    .unwrap_err();
    let shown = format!("{error:#} {error:?}");
    assert!(
        !shown.contains("secret"),
        "the URL's secret parts leaked: {shown}"
    );
    assert!(
        shown.contains("127.0.0.1"),
        "the host is still named: {shown}"
    );
}
