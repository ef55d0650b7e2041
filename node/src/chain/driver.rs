//! Plays one side of a dispute game against the deployed `DisputeGame`: reads the game, lets
//! [`veritrace_protocol::game::decide`] choose the party's move from its own view of the run,
//! sends it; claims a win on
//! time when the other party's clock has run out. Every decision is made from the chain state
//! alone (plus the source), so a daemon that restarts simply asks again.

use std::sync::Arc;

use alloy::primitives::{Address, B256, Bytes, U256};
use alloy::rpc::types::{Filter, TransactionReceipt};
use alloy::sol_types::SolEvent;
use anyhow::{Context, Result};
use veritrace_contracts::DisputeGame;

use veritrace_protocol::Hash;
pub use veritrace_protocol::game::Role;
use veritrace_protocol::game::{GameView, Move, Phase, TraceSource, decide};

use super::Chain;

/// A game as the contract holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GameState {
    /// The fields moves depend on.
    pub view: GameView,
    /// The defender.
    pub executor: Address,
    /// The attacker.
    pub challenger: Address,
    /// Seconds left on the executor's clock (at `turn_started_at`).
    pub executor_clock: u64,
    /// Seconds left on the challenger's clock.
    pub challenger_clock: u64,
    /// When the party to move was put on the clock.
    pub turn_started_at: u64,
    /// Resolved (not cancelled) and the executor won.
    pub executor_won: bool,
    /// Cancelled by the oracle (the answer lost elsewhere).
    pub cancelled: bool,
    /// Moves each party has made.
    pub moves: (u16, u16),
}

impl GameState {
    /// Seconds the party to move has left at chain time `now` (zero once expired).
    pub fn time_left(&self, now: u64) -> u64 {
        let clock = if self.view.executor_to_move() {
            self.executor_clock
        } else {
            self.challenger_clock
        };
        clock.saturating_sub(now.saturating_sub(self.turn_started_at))
    }
}

/// What one call of [`advance`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// Sent a transaction (`action` describes it, with its gas).
    Moved {
        /// What was sent.
        action: String,
        /// Its gas.
        gas: u64,
    },
    /// Waiting for the other party (or for our losing position's clock to run out).
    Waiting,
    /// Our clock ran out: any move would revert; the other party claims the game on time.
    OutOfTime,
    /// The game is over.
    Over {
        /// Whether `role` won (false for a cancelled game: nobody won it).
        won: bool,
        /// The game was cancelled as moot.
        cancelled: bool,
    },
}

/// Reads game `id`.
pub async fn read_game(chain: &Chain, id: u64) -> Result<GameState> {
    let g = chain
        .read("reading a game", || async {
            Ok(chain.game().getGame(U256::from(id)).call().await?)
        })
        .await?;
    Ok(GameState {
        view: GameView {
            phase: Phase::from_abi(g.phase).context("unknown game phase")?,
            step_count: g.stepCount,
            node_index: g.nodeIndex,
            node_height: g.nodeHeight,
            lo: g.lo,
            hi: g.hi,
            lo_hash: g.loHash.0,
            hi_hash: g.hiHash.0,
            program_root: g.programRoot.0,
            memory_log2: g.memoryLog2,
        },
        executor: g.executor,
        challenger: g.challenger,
        executor_clock: g.executorClock,
        challenger_clock: g.challengerClock,
        turn_started_at: g.turnStartedAt,
        executor_won: g.phase == 7 && g.executorWon,
        cancelled: g.phase == 8,
        moves: (g.executorMoves, g.challengerMoves),
    })
}

/// The hashes the executor revealed or posted last in game `id` (what the challenger picks
/// from), read back from the game's events (no earlier than block `opened`, where the game
/// began) so that a restarted challenger has them too.
pub async fn posted_hashes(chain: &Chain, id: u64, opened: u64) -> Result<Vec<Hash>> {
    let filter = Filter::new()
        .address(chain.game)
        .event_signature(vec![
            DisputeGame::TraceRevealed::SIGNATURE_HASH,
            DisputeGame::Dissected::SIGNATURE_HASH,
        ])
        .topic1(B256::from(U256::from(id)));
    let head = chain.head().await?.number;
    let last = chain
        .last_log(&filter, opened, head)
        .await?
        .context("the executor has posted nothing yet")?;
    let hashes = if let Ok(e) = last.log_decode::<DisputeGame::TraceRevealed>() {
        e.inner.data.nodes
    } else {
        last.log_decode::<DisputeGame::Dissected>()?
            .inner
            .data
            .hashes
    };
    Ok(hashes.into_iter().map(|h| h.0).collect())
}

/// [`advance`] for one of the many games a daemon plays each round, with `source` the party's
/// view or the error that kept it from having one: a failure is logged and `None` returned, so
/// that one game never stalls the others (the next round retries it).
pub async fn advance_or_log(
    chain: &Chain,
    role: Role,
    id: u64,
    opened: u64,
    source: Result<Arc<dyn TraceSource + Send + Sync>>,
) -> Option<Progress> {
    let progress = match source {
        Ok(source) => advance(chain, role, id, opened, source).await,
        Err(error) => Err(error),
    };
    progress
        .map_err(|error| {
            tracing::error!(
                game = id,
                "cannot move in this game (retrying next round): {error:#}"
            );
        })
        .ok()
}

/// One round for `role` in game `id`: sends its move if it is its turn (unless its own clock ran
/// out: that move would only revert), claims the win if the other party's clock ran out, or
/// reports that it waits or that the game is over. A queued game
/// waits; once its answer is rejected (by the game before it) the challenger cancels it as moot,
/// which pays it its share of the forfeited bond and its own bond back. `opened` is the block
/// where the game began (or an earlier one): the challenger reads the posted hashes from there.
pub async fn advance(
    chain: &Chain,
    role: Role,
    id: u64,
    opened: u64,
    source: Arc<dyn TraceSource + Send + Sync>,
) -> Result<Progress> {
    let game = read_game(chain, id).await?;
    if game.view.is_over() {
        return Ok(Progress::Over {
            won: !game.cancelled && game.executor_won == (role == Role::Executor),
            cancelled: game.cancelled,
        });
    }
    if game.view.is_queued() {
        return queued(chain, role, id).await;
    }
    let now = chain.head().await?.timestamp;
    if game.view.is_turn_of(role) && game.time_left(now) == 0 {
        return Ok(Progress::OutOfTime);
    }
    let picking = matches!(game.view.phase, Phase::TracePick | Phase::DissectPick);
    let theirs = if role == Role::Challenger && picking {
        posted_hashes(chain, id, opened).await?
    } else {
        Vec::new()
    };
    let mv = {
        let source = source.clone();
        tokio::task::spawn_blocking(move || decide(role, &game.view, &theirs, source.as_ref()))
            .await??
    };
    if let Some(mv) = mv {
        let (action, receipt) = send_move(chain, id, &game.view, &mv).await?;
        chain.metrics.moves.inc();
        return Ok(Progress::Moved {
            action,
            gas: receipt.gas_used,
        });
    }
    if !game.view.is_turn_of(role) && game.time_left(now) == 0 {
        let receipt = chain
            .send("timeout", chain.game().timeout(U256::from(id)).send())
            .await?;
        chain.metrics.moves.inc();
        return Ok(Progress::Moved {
            action: "timeout (the other party's clock ran out)".into(),
            gas: receipt.gas_used,
        });
    }
    Ok(Progress::Waiting)
}

/// A queued game: the challenger cancels it once its answer is rejected; otherwise it waits.
async fn queued(chain: &Chain, role: Role, id: u64) -> Result<Progress> {
    if role != Role::Challenger {
        return Ok(Progress::Waiting);
    }
    let oracle = chain.oracle();
    let dispute = chain
        .read("reading a dispute", || async {
            Ok(oracle.disputes(U256::from(id)).call().await?)
        })
        .await?;
    let answer = chain.answer(dispute.requestId, dispute.answerIndex).await?;
    if !answer.rejected {
        return Ok(Progress::Waiting);
    }
    let receipt = chain
        .send(
            "cancelMootDispute",
            oracle.cancelMootDispute(U256::from(id)).send(),
        )
        .await?;
    chain.metrics.moves.inc();
    Ok(Progress::Moved {
        action: "cancelMootDispute (the game before it rejected the answer)".into(),
        gas: receipt.gas_used,
    })
}

/// Sends `mv` in game `id`; returns a description of it and its receipt.
pub async fn send_move(
    chain: &Chain,
    id: u64,
    view: &GameView,
    mv: &Move,
) -> Result<(String, TransactionReceipt)> {
    let game = chain.game();
    let id = U256::from(id);
    let b256s = |v: &[Hash]| v.iter().copied().map(B256::from).collect::<Vec<_>>();
    Ok(match mv {
        Move::RevealTrace(nodes) => (
            format!("L1 revealTrace (height {})", view.node_height),
            chain
                .send("revealTrace", game.revealTrace(id, b256s(nodes)).send())
                .await?,
        ),
        Move::PickTrace(nodes, pick) => (
            format!("L1 pickTrace (child {pick})"),
            chain
                .send(
                    "pickTrace",
                    game.pickTrace(id, b256s(nodes), U256::from(*pick)).send(),
                )
                .await?,
        ),
        Move::OpenStep {
            start_leaf,
            siblings,
            instruction_count,
            hashes,
        } => (
            format!(
                "L1->L2 openStep (step {}, {instruction_count} instructions)",
                view.node_index
            ),
            chain
                .send(
                    "openStep",
                    game.openStep(
                        id,
                        B256::from(*start_leaf),
                        b256s(siblings),
                        *instruction_count,
                        b256s(hashes),
                    )
                    .send(),
                )
                .await?,
        ),
        Move::Dissect(hashes) => (
            format!("L2 dissect ({} instructions)", view.hi - view.lo),
            chain
                .send("dissect", game.dissect(id, b256s(hashes)).send())
                .await?,
        ),
        Move::PickInterval(hashes, pick) => (
            format!("L2 pickInterval ({} instructions)", view.hi - view.lo),
            chain
                .send(
                    "pickInterval",
                    game.pickInterval(id, b256s(hashes), U256::from(*pick))
                        .send(),
                )
                .await?,
        ),
        Move::ProveStep(proof) => (
            format!("L3 proveStep (instruction {})", view.lo),
            chain
                .send(
                    "proveStep",
                    game.proveStep(id, Bytes::from(proof.clone())).send(),
                )
                .await?,
        ),
    })
}
