//! Event synchronisation: the logs of new blocks applied to the state database, each batch in
//! one transaction with the cursor and the block it ends at, after checking that the blocks
//! read extend the cursor's (a reorg below the cursor is undone first, see [`crate::reorgs`]).

use alloy::rpc::types::Log;
use anyhow::Result;

use crate::chain::{BlockRef, Chain, Head};
use crate::reorgs::{self, Rewound};
use crate::store::{Batch, Store};

/// Reads of a batch that may find the chain changed under them before sync gives up for
/// this round.
const READS_PER_BATCH: u32 = 8;

/// What one [`sync_events`] did.
#[derive(Debug, Clone, Copy)]
pub struct Synced {
    /// The head when it started.
    pub head: Head,
    /// The last reorg it undid, if any: what the daemon held in memory about the undone
    /// blocks must go too.
    pub rewound: Option<Rewound>,
}

/// Reads the events of the blocks at least `confirmations` deep and applies them to the
/// state with `apply`, batch by batch (as many blocks as the node serves in one call): each
/// batch's effects and the cursor move in one transaction. A batch is applied only when the
/// node served the same last block before and after its logs and its first block's parent is
/// the cursor's block; a cursor or tip block that left the chain is undone first.
pub async fn sync_events(
    chain: &Chain,
    store: &Store,
    start_block: u64,
    confirmations: u64,
    mut apply: impl FnMut(&mut Batch<'_>, &Log) -> Result<()>,
) -> Result<Synced> {
    let mut rewound = reorgs::stay_canonical(chain, store).await?;
    let head = chain.head().await?;
    let safe = head.number.saturating_sub(confirmations);
    let filter = chain.events();
    let mut changed = 0u32;
    loop {
        let cursor = store.cursor_block()?;
        let from = match (cursor, store.cursor()?) {
            (Some(block), _) => block.number + 1,
            (None, Some(number)) => number + 1,
            (None, None) => start_block,
        };
        if from > safe {
            break;
        }
        let end = chain.chunk_end(from, safe);
        // A block missing here went in a rollback since the head was read: the next round sees.
        let Some(before) = chain.header(end).await? else {
            break;
        };
        let (logs, to) = chain.log_chunk(&filter, from, end).await?;
        if to != end {
            continue; // the node refused the range: read the narrower one it serves
        }
        let after = chain.header(end).await?;
        let first = if from == end {
            after
        } else {
            chain.header(from).await?
        };
        let (Some(after), Some(first)) = (after, first) else {
            break;
        };
        if after != before {
            changed += 1;
            anyhow::ensure!(
                changed < READS_PER_BATCH,
                "the chain changed under {READS_PER_BATCH} reads of blocks {from}..={end} in a row"
            );
            tracing::info!(
                from,
                end,
                "the chain changed while its logs were read; reading again"
            );
            continue;
        }
        if let Some(cursor) = cursor
            && first.parent != cursor.hash
        {
            // Block `from` does not extend the cursor's block: that block left the chain.
            rewound = Some(reorgs::rewind(chain, store, cursor).await?);
            continue;
        }
        let seen = BlockRef {
            number: end,
            hash: before.hash,
        };
        store.write_seen(seen, |batch| {
            for log in &logs {
                apply(batch, log)?;
            }
            batch.set_cursor(seen)
        })?;
    }
    Ok(Synced { head, rewound })
}

/// Decodes `log` as event `E` if it is one.
pub fn decode<E: alloy::sol_types::SolEvent>(log: &Log) -> Option<E> {
    (log.topic0() == Some(&E::SIGNATURE_HASH))
        .then(|| log.log_decode::<E>().ok().map(|l| l.inner.data))
        .flatten()
}
