//! The games a party plays, as its database records them: opened when a dispute names one of
//! its answers or challenges, closed once (by the resolution event or the party's own read).

use alloy::primitives::{B256, U256};
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use veritrace_contracts::InferenceOracle;
use veritrace_protocol::game::Role;

use crate::metrics::Metrics;
use crate::store::Batch;

/// Where one game stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum GameOutcome {
    /// Still being played.
    Open,
    /// We won.
    Won,
    /// We lost.
    Lost,
    /// Cancelled as moot.
    Cancelled,
}

/// A game this party plays, as its database records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GameRecord {
    /// The disputed request.
    pub request_id: B256,
    /// The disputed answer.
    pub answer_index: u32,
    /// Where the game stands.
    pub outcome: GameOutcome,
}

impl GameOutcome {
    /// The outcome, for one party, of a game that ended: cancelled (moot), or won or lost.
    pub fn of(cancelled: bool, won: bool) -> Self {
        match (cancelled, won) {
            (true, _) => GameOutcome::Cancelled,
            (false, true) => GameOutcome::Won,
            (false, false) => GameOutcome::Lost,
        }
    }
}

/// Records game `id` over (`request_id`, `answer_index`) as open, unless it is known already.
pub fn open_game(
    batch: &mut Batch<'_>,
    id: U256,
    request_id: B256,
    answer_index: u32,
) -> Result<u64> {
    let id = u64::try_from(id).context("game id past u64")?;
    if batch.game::<GameRecord>(id)?.is_none() {
        batch.put_game(
            id,
            &GameRecord {
                request_id,
                answer_index,
                outcome: GameOutcome::Open,
            },
        )?;
    }
    Ok(id)
}

/// Applies a `DisputeResolved` event to the game's record if it is one of ours, as `role`
/// sees it, counting wins and losses in `metrics`.
pub fn record_resolution(
    batch: &mut Batch<'_>,
    e: &InferenceOracle::DisputeResolved,
    role: Role,
    metrics: &Metrics,
) -> Result<()> {
    let id = u64::try_from(e.gameId).context("game id past u64")?;
    let won = e.executorWon == (role == Role::Executor);
    close_game(batch, id, GameOutcome::of(e.moot, won), metrics)
}

/// Records that game `id` ended with `outcome` (once: a closed game stays as it was), counting
/// it in `metrics`. Both the event and the daemon's own read of the game may report the end.
pub fn close_game(
    batch: &mut Batch<'_>,
    id: u64,
    outcome: GameOutcome,
    metrics: &Metrics,
) -> Result<()> {
    let Some(record) = batch.game::<GameRecord>(id)? else {
        return Ok(());
    };
    if record.outcome != GameOutcome::Open {
        return Ok(());
    }
    match outcome {
        GameOutcome::Won => metrics.disputes_won.inc(),
        GameOutcome::Lost => metrics.disputes_lost.inc(),
        _ => 0,
    };
    batch.put_game(id, &GameRecord { outcome, ..record })
}
