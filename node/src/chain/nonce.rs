//! Nonces for one signing key that resynchronize after a failed send. alloy's cached manager
//! advances its count before a transaction is broadcast and never looks back, so one send
//! whose gas estimate reverted (a lost submit race, a reveal still reserved for another
//! commitment) leaves a gap, and every later transaction of the daemon waits behind it
//! forever. This manager hands out consecutive nonces like the cached one (a daemon's tasks
//! may send at once) and, told of a failure ([`ResyncingNonces::resync`]), takes the node's
//! pending count again for the next transaction.

use std::sync::Arc;

use alloy::network::Network;
use alloy::primitives::Address;
use alloy::providers::Provider;
use alloy::providers::fillers::NonceManager;
use alloy::transports::TransportResult;

/// The next nonce of one key, or `None` when it must be read from the node.
#[derive(Debug, Clone, Default)]
pub struct ResyncingNonces {
    next: Arc<tokio::sync::Mutex<Option<u64>>>,
}

impl ResyncingNonces {
    /// Forgets the local count: the next transaction takes the node's pending count (which
    /// holds every transaction that really reached it).
    pub async fn resync(&self) {
        *self.next.lock().await = None;
    }
}

#[async_trait::async_trait]
impl NonceManager for ResyncingNonces {
    async fn get_next_nonce<P, N>(&self, provider: &P, address: Address) -> TransportResult<u64>
    where
        P: Provider<N>,
        N: Network,
    {
        let mut next = self.next.lock().await;
        let nonce = match *next {
            Some(nonce) => nonce,
            None => provider.get_transaction_count(address).pending().await?,
        };
        *next = Some(nonce + 1);
        Ok(nonce)
    }
}
