//! Event synchronisation: the logs of new blocks applied to the state database, each batch in
//! one transaction with the cursor.

use alloy::rpc::types::Log;
use anyhow::Result;

use crate::chain::Chain;
use crate::store::{Batch, Store};

/// Reads the events of new blocks and applies them to the state with `apply`, batch by batch
/// (as many blocks as the node serves in one call): each batch's effects and the cursor move
/// in one transaction. Returns the new cursor.
pub async fn sync_events(
    chain: &Chain,
    store: &Store,
    start_block: u64,
    mut apply: impl FnMut(&mut Batch<'_>, &Log) -> Result<()>,
) -> Result<u64> {
    let head = chain.head().await?.number;
    let mut from = match store.cursor()? {
        Some(cursor) => cursor + 1,
        None => start_block,
    };
    let filter = chain.events();
    while from <= head {
        let (logs, to) = chain.log_chunk(&filter, from, head).await?;
        store.write(|batch| {
            for log in &logs {
                apply(batch, log)?;
            }
            batch.set_cursor(to)
        })?;
        from = to + 1;
    }
    Ok(head)
}

/// Decodes `log` as event `E` if it is one.
pub fn decode<E: alloy::sol_types::SolEvent>(log: &Log) -> Option<E> {
    (log.topic0() == Some(&E::SIGNATURE_HASH))
        .then(|| log.log_decode::<E>().ok().map(|l| l.inner.data))
        .flatten()
}
