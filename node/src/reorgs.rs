//! Staying on the canonical chain: noticing that a block a party's records were derived from
//! is no longer on the chain the node follows, and putting the records back to the newest
//! state that still is (its events are then read again, and what was decided on the lost
//! blocks is decided again: a submit or a move that was reorged out is sent again).

use std::collections::HashMap;

use anyhow::Result;

use crate::chain::{BlockRef, Chain};
use crate::store::Store;

/// A reorg undone: the state derived from `stale` (no longer canonical) was put back to the
/// state derived from blocks up to `to` (`None`: the empty state).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rewound {
    /// A block the undone state relied on.
    pub stale: BlockRef,
    /// The tip of the state now held.
    pub to: Option<BlockRef>,
}

/// Checks that the blocks the state was derived from (its tip and its cursor) are still
/// canonical; if one is not, rewinds (see [`rewind`]).
pub async fn stay_canonical(chain: &Chain, store: &Store) -> Result<Option<Rewound>> {
    for block in [store.tip()?, store.cursor_block()?].into_iter().flatten() {
        if !chain.is_canonical(block).await? {
            return rewind(chain, store, block).await.map(Some);
        }
    }
    Ok(None)
}

/// Puts `store` back to its newest kept state whose tip is canonical, because `stale` is not,
/// and has the nonces read again (transactions of the lost blocks are pending again, or gone).
/// Fails, changing nothing, when no kept state is canonical: the reorg is deeper than the
/// store's `reorg_depth`.
pub async fn rewind(chain: &Chain, store: &Store, stale: BlockRef) -> Result<Rewound> {
    let mut canonical: HashMap<BlockRef, bool> = HashMap::new();
    let points = store.rewind_points()?;
    for point in &points {
        let keep = match point.tip {
            None => true,
            Some(tip) => match canonical.get(&tip) {
                Some(&known) => known,
                None => {
                    let known = chain.is_canonical(tip).await?;
                    canonical.insert(tip, known);
                    known
                }
            },
        };
        if keep {
            store.rewind(*point)?;
            chain.resync_nonces().await;
            chain.metrics.reorgs.inc();
            tracing::warn!(
                stale = stale.number,
                stale_hash = %stale.hash,
                back_to = ?point.tip.map(|b| b.number),
                "REORG: a block our records came from left the chain; records put back to the last state on the chain, its events are read again"
            );
            return Ok(Rewound {
                stale,
                to: point.tip,
            });
        }
    }
    anyhow::bail!(
        "block {} ({}) that this party's records came from is no longer on the chain, nor is \
         any of the {} earlier states its database keeps: the reorg is deeper than \
         reorg_depth. Stop the daemon, move its state database aside and start it again to \
         read the chain anew from start_block",
        stale.number,
        stale.hash,
        points.len()
    )
}
