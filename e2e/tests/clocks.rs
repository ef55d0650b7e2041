//! A daemon that comes back after its clock in a game ran out (it was down too long) must not
//! keep sending moves that can only revert (issue 20): it reports the game lost on time and
//! leaves the win to the other party's `timeout`. Anvil, a bare game (its oracle an account, so
//! the game cannot be resolved here; the timeout itself is covered by the daemon tests), no model.

use std::sync::Arc;
use std::time::Duration;

use alloy::primitives::{Address, B256};
use veritrace_contracts::DisputeGame;
use veritrace_devnet::LocalChain;
use veritrace_e2e::bare_game::{self, mined};
use veritrace_node::chain::Chain;
use veritrace_node::chain::driver::{Progress, Role, advance, read_game};
use veritrace_node::chain::retry::RetryPolicy;
use veritrace_node::metrics::Metrics;
use veritrace_protocol::Hash;
use veritrace_protocol::game::{SourceError, TraceSource};
use veritrace_protocol::trace::LayerTrace;

/// A party's layer trace, and nothing below it (level 1 only).
struct Leaves(LayerTrace);

impl TraceSource for Leaves {
    fn layer_trace(&self) -> &LayerTrace {
        &self.0
    }
    fn instruction_count(&self, step: u64) -> Result<u64, SourceError> {
        Err(SourceError::StepOutOfRange {
            step,
            step_count: self.0.step_count(),
        })
    }
    fn machine_hash(&self, step: u64, _: u64) -> Result<Hash, SourceError> {
        self.instruction_count(step).map(|_| [0; 32])
    }
    fn one_step_proof(&self, step: u64, _: u64) -> Result<Vec<u8>, SourceError> {
        self.instruction_count(step).map(|_| Vec::new())
    }
}

#[tokio::test]
async fn a_party_whose_clock_ran_out_sends_nothing_there_and_still_moves_elsewhere() {
    const CLOCK: u64 = 600;
    let chain = LocalChain::start().expect("anvil starts");
    // Account 5 plays the oracle (it creates and starts the game); 6 defends, 7 attacks.
    let game = DisputeGame::deploy(
        chain.signer_provider(5),
        chain.account(5),
        Address::repeat_byte(2),
        CLOCK,
    )
    .await
    .unwrap();
    let oracle = chain.deploy_bare_oracle(*game.address()).await.unwrap();
    let trace = LayerTrace::new((0..9u8).map(|i| [i + 1; 32]).collect()).unwrap();
    let claim = bare_game::claim(B256::from(trace.root()), trace.step_count(), trace.depth());
    let start_game = || async {
        let receipt =
            mined(game.createGame(chain.account(6), chain.account(7), claim.clone())).await;
        let created = receipt
            .inner
            .logs()
            .iter()
            .find_map(|l| l.log_decode::<DisputeGame::GameCreated>().ok())
            .unwrap()
            .inner
            .data
            .gameId;
        mined(game.startGame(created)).await;
        u64::try_from(created).unwrap()
    };
    let endpoint = chain.endpoint();
    let executor = Chain::connect(
        &endpoint,
        chain.signer(6),
        oracle,
        RetryPolicy::default(),
        Metrics::new("clock_test"),
    )
    .await
    .unwrap();
    let source: Arc<dyn TraceSource + Send + Sync> = Arc::new(Leaves(trace));

    // The executor was away for longer than its clock in the first game.
    let expired = start_game().await;
    veritrace_devnet::tx::advance_time(chain.provider(), CLOCK + 1)
        .await
        .unwrap();
    for _ in 0..2 {
        let progress = advance(&executor, Role::Executor, expired, 0, source.clone())
            .await
            .expect("an expired clock is a state of the game, not an error");
        assert_eq!(progress, Progress::OutOfTime);
    }
    assert_eq!(executor.metrics.moves.get(), 0, "no move was sent");
    let state = read_game(&executor, expired).await.unwrap();
    assert_eq!(state.moves, (0, 0));

    // The same party in a game whose clock runs moves at once (the check above is not vacuous).
    let running = start_game().await;
    let progress = tokio::time::timeout(
        Duration::from_secs(30),
        advance(&executor, Role::Executor, running, 0, source),
    )
    .await
    .unwrap()
    .unwrap();
    assert!(
        matches!(progress, Progress::Moved { ref action, .. } if action.starts_with("L1 revealTrace")),
        "{progress:?}"
    );
    assert_eq!(read_game(&executor, running).await.unwrap().moves, (1, 0));
}
