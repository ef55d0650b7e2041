//! Event sync across reorgs (issue 20), on anvil with no model: whatever anvil does to the
//! chain between syncs (`anvil_reorg` replacing blocks, `anvil_rollback` and
//! `evm_snapshot`/`evm_revert` taking them away, new events on the new fork), a database synced
//! round by round holds exactly what one synced once from block 0 of the final chain holds;
//! and a reorg deeper than the states a database keeps stops sync with a clear error, changing
//! nothing.

use std::time::Duration;

use alloy::primitives::{Address, B256, U256};
use alloy::providers::Provider;
use veritrace_contracts::DisputeGame;
use veritrace_devnet::LocalChain;
use veritrace_e2e::bare_game::{self, mined};
use veritrace_node::chain::Chain;
use veritrace_node::chain::retry::RetryPolicy;
use veritrace_node::events::{decode, sync_events};
use veritrace_node::metrics::Metrics;
use veritrace_node::store::Store;

/// What a database records of one `GameCreated` event: where it was (a reorg moves events to
/// other blocks of another fork) and what it said.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct Seen {
    block: u64,
    block_hash: B256,
    challenger: Address,
}

fn quick() -> RetryPolicy {
    RetryPolicy {
        call_timeout: Duration::from_secs(10),
        first_delay: Duration::from_millis(50),
        max_delay: Duration::from_millis(200),
        max_retries: 3,
    }
}

/// A small deterministic generator (xorshift64*), so that a failing seed replays.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

struct Bench {
    chain: LocalChain,
    game: DisputeGame::DisputeGameInstance<alloy::providers::DynProvider>,
    oracle: Address,
    made: u8,
    /// The block of the deployment: no reorg goes below it.
    base: u64,
}

impl Bench {
    async fn start() -> Self {
        let chain = LocalChain::start().expect("anvil starts");
        // The nonce read from the node for every transaction: a reorg takes mined ones away.
        let sender = alloy::providers::ProviderBuilder::new()
            .with_simple_nonce_management()
            .wallet(alloy::network::EthereumWallet::from(chain.signer(5)))
            .connect_http(chain.endpoint().parse().unwrap())
            .erased();
        let game = DisputeGame::deploy(sender, chain.account(5), Address::repeat_byte(2), 3600)
            .await
            .unwrap();
        let oracle = chain.deploy_bare_oracle(*game.address()).await.unwrap();
        let base = chain.provider().get_block_number().await.unwrap();
        Self {
            chain,
            game,
            oracle,
            made: 0,
            base,
        }
    }

    async fn party(&self, name: &str) -> Chain {
        Chain::connect(
            &self.chain.endpoint(),
            self.chain.signer(6),
            self.oracle,
            quick(),
            Metrics::new(name),
        )
        .await
        .unwrap()
    }

    /// A new game (one `GameCreated` log) against a challenger no earlier game named.
    async fn create_game(&mut self) {
        self.made = self.made.wrapping_add(1);
        let claim = bare_game::claim(B256::repeat_byte(1), 3, 2);
        let challenger = Address::repeat_byte(self.made);
        let created = mined(
            self.game
                .createGame(self.chain.account(5), challenger, claim),
        );
        tokio::time::timeout(Duration::from_secs(30), created)
            .await
            .expect("a game is created within 30 s");
    }

    async fn rpc<T: alloy::rpc::json_rpc::RpcSend>(
        &self,
        method: &'static str,
        params: T,
    ) -> serde_json::Value {
        self.chain
            .provider()
            .raw_request::<_, serde_json::Value>(method.into(), params)
            .await
            .unwrap_or_else(|e| panic!("{method}: {e}"))
    }

    /// Blocks above the deployment's (those a reorg may take), at most `most`.
    async fn undoable(&self, most: u64) -> u64 {
        let head = self.chain.provider().get_block_number().await.unwrap();
        (head - self.base).min(most)
    }
}

/// Syncs `store` as a party does and returns what it records.
async fn sync(party: &Chain, store: &Store) -> Vec<(u64, Seen)> {
    sync_events(party, store, 0, 0, |batch, log| {
        if let Some(e) = decode::<DisputeGame::GameCreated>(log) {
            let seen = Seen {
                block: log.block_number.unwrap(),
                block_hash: log.block_hash.unwrap(),
                challenger: e.challenger,
            };
            batch.put_game(u64::try_from(e.gameId).unwrap(), &seen)?;
        }
        Ok(())
    })
    .await
    .unwrap();
    store.games::<Seen>().unwrap()
}

/// Random chains of events, reorgs, rollbacks and reverts, synced between any two of them:
/// the round-by-round database always equals one synced once from scratch, and each of its
/// records names a block of the final chain.
#[tokio::test]
async fn a_database_synced_across_reorgs_equals_one_synced_from_scratch() {
    for seed in 1..=8u64 {
        let mut bench = Bench::start().await;
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ seed);
        let dir = tempfile::tempdir().unwrap();
        let party = bench.party("reorg_test").await;
        let store = Store::open(&dir.path().join("follower.redb")).unwrap();
        let mut snapshots: Vec<serde_json::Value> = Vec::new();
        let mut undone = 0u32;
        for step in 0..80 {
            match rng.below(11) {
                0..=4 => bench.create_game().await,
                5 => {
                    let blocks = 1 + rng.below(3);
                    bench.rpc("anvil_mine", (U256::from(blocks),)).await;
                }
                6 | 7 => {
                    let most = bench.undoable(4).await;
                    if most > 0 {
                        let depth = 1 + rng.below(most);
                        bench.rpc("anvil_reorg", (depth, Vec::<()>::new())).await;
                        snapshots.clear(); // anvil forgets the snapshots of the old fork
                        undone += 1;
                    }
                }
                8 => {
                    let most = bench.undoable(3).await;
                    if most > 0 {
                        let depth = 1 + rng.below(most);
                        bench.rpc("anvil_rollback", (depth,)).await;
                        snapshots.clear();
                        undone += 1;
                    }
                }
                9 => snapshots.push(bench.rpc("evm_snapshot", ()).await),
                _ => {
                    if let Some(id) = snapshots.pop() {
                        bench.rpc("evm_revert", (id,)).await;
                        // Later snapshots are gone with the blocks they were taken at.
                        undone += 1;
                    }
                }
            }
            if rng.below(3) == 0 {
                sync(&party, &store).await;
                let fresh = Store::open(&dir.path().join(format!("fresh-{step}.redb"))).unwrap();
                let fresh_party = bench.party("fresh").await;
                assert_eq!(
                    sync(&party, &store).await,
                    sync(&fresh_party, &fresh).await,
                    "seed {seed}, step {step}: the synced database differs from a fresh sync"
                );
            }
        }
        let records = sync(&party, &store).await;
        for (_, seen) in &records {
            let block = bench
                .chain
                .provider()
                .get_block_by_number(seen.block.into())
                .await
                .unwrap()
                .expect("the block of a record exists");
            assert_eq!(block.header.hash, seen.block_hash, "seed {seed}");
        }
        assert!(undone > 0, "seed {seed} undid no block");
        eprintln!(
            "seed {seed}: {undone} reorgs/rollbacks, {} undone by the follower, {} games",
            party.metrics.reorgs.get(),
            records.len()
        );
    }
}

/// A rollback deeper than the states the database keeps (reorg depth 3, 10 blocks gone) stops
/// sync with an error that says so and what to do, and changes nothing.
#[tokio::test]
async fn a_reorg_deeper_than_the_kept_states_stops_sync_and_changes_nothing() {
    let mut bench = Bench::start().await;
    let dir = tempfile::tempdir().unwrap();
    let party = bench.party("deep_reorg").await;
    let store = Store::open(&dir.path().join("db.redb"))
        .unwrap()
        .with_reorg_depth(3);
    for _ in 0..12 {
        bench.create_game().await;
        sync(&party, &store).await;
    }
    let before = store.games::<Seen>().unwrap();
    let cursor = store.cursor_block().unwrap();
    bench.rpc("anvil_rollback", (10u64,)).await;
    bench.rpc("anvil_mine", (U256::from(12),)).await;
    let error = sync_events(&party, &store, 0, 0, |_, _| Ok(()))
        .await
        .unwrap_err();
    let message = format!("{error:#}");
    assert!(message.contains("deeper than reorg_depth"), "{message}");
    assert!(
        message.contains("move its state database aside"),
        "{message}"
    );
    assert_eq!(store.games::<Seen>().unwrap(), before);
    assert_eq!(store.cursor_block().unwrap(), cursor);
}
