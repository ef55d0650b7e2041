//! The games a party plays, as its database records them: opened when a dispute names one of
//! its answers or challenges, closed once (by the resolution event or the party's own read).

use std::collections::HashSet;

use alloy::primitives::B256;
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use veritrace_contracts::InferenceOracle;
use veritrace_protocol::game::Role;

use crate::metrics::Metrics;
use crate::store::{Batch, Store};

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
    /// The block of the challenge that opened it (0 in older databases: read from the start).
    #[serde(default)]
    pub opened_block: u64,
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

/// Records the game `challenge` opened, in block `log`'s, as open, unless it is known already;
/// returns its id.
pub fn open_game(
    batch: &mut Batch<'_>,
    challenge: &InferenceOracle::AnswerChallenged,
    log: &alloy::rpc::types::Log,
) -> Result<u64> {
    let id = u64::try_from(challenge.gameId).context("game id past u64")?;
    if batch.game::<GameRecord>(id)?.is_none() {
        batch.put_game(
            id,
            &GameRecord {
                request_id: challenge.requestId,
                answer_index: challenge.answerIndex,
                outcome: GameOutcome::Open,
                opened_block: log.block_number.unwrap_or_default(),
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

/// The requests with a game of ours still open (the runs a party must keep answering for).
pub fn disputed_requests(store: &Store) -> Result<HashSet<B256>> {
    Ok(store
        .games::<GameRecord>()?
        .into_iter()
        .filter(|(_, g)| g.outcome == GameOutcome::Open)
        .map(|(_, g)| g.request_id)
        .collect())
}
