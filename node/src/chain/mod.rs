//! The chain side of a party (executor or challenger): one signing connection to the node and
//! the deployed contracts, transactions that must succeed, event logs, and the dispute-game
//! driver. RPC reads retry transient faults ([`retry`]); daemons re-decide their writes from
//! the chain state after a fault instead of resending blindly.

pub mod driver;
pub mod nonce;
pub mod redact;
pub mod retry;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use alloy::network::{Ethereum, EthereumWallet};
use alloy::primitives::{Address, B256};
use alloy::providers::{DynProvider, PendingTransactionBuilder, Provider, ProviderBuilder};
use alloy::rpc::types::{Filter, Log, TransactionReceipt};
use alloy::signers::local::PrivateKeySigner;
use anyhow::{Context, Result, ensure};
use serde::{Deserialize, Serialize};
use veritrace_contracts::{DisputeGame, InferenceOracle};

use crate::metrics::Metrics;
use nonce::ResyncingNonces;
use retry::{RetryPolicy, with_retry, with_retry_if};

/// The widest block range asked of `eth_getLogs` until the node refuses one.
pub const MAX_LOG_SPAN: u64 = 2_000;

/// A party's connection: who it is, where the contracts are, how it retries.
#[derive(Debug, Clone)]
pub struct Chain {
    /// Provider that signs with the party's key.
    pub provider: DynProvider,
    /// The party's address.
    pub me: Address,
    /// The `InferenceOracle`.
    pub oracle: Address,
    /// The `DisputeGame` the oracle uses.
    pub game: Address,
    /// Retry policy for reads.
    pub retry: RetryPolicy,
    /// Where gas and faults are counted.
    pub metrics: Metrics,
    /// The nonces of `provider`'s key, resynchronized after a failed send.
    nonces: ResyncingNonces,
    /// The widest `eth_getLogs` block range the node has not refused (hosted providers cap
    /// ranges and result counts): halved at each refusal, never widened again.
    log_span: Arc<AtomicU64>,
    /// The block of this party's latest mined transaction: while it is canonical, so is every
    /// earlier one (nonces are consecutive); once it is not, the nonces must be read again.
    last_mined: Arc<std::sync::Mutex<Option<BlockRef>>>,
}

/// One block, by number and hash: what a party's records were derived from, so that a reorg
/// that replaced it can be noticed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct BlockRef {
    /// Block number.
    pub number: u64,
    /// Block hash.
    pub hash: B256,
}

/// The latest block's number, hash and timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    /// Block number.
    pub number: u64,
    /// Block hash.
    pub hash: B256,
    /// Block timestamp (seconds): the clock of challenge windows and game clocks.
    pub timestamp: u64,
}

impl Head {
    /// The head as a block reference.
    pub fn block(&self) -> BlockRef {
        BlockRef {
            number: self.number,
            hash: self.hash,
        }
    }
}

/// A block's hash and its parent's, as the node serves them now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Block hash.
    pub hash: B256,
    /// Parent block hash.
    pub parent: B256,
}

impl Chain {
    /// Connects to `rpc_url` as `signer` and finds the game of the oracle at `oracle`
    /// (retrying while the node is unreachable; each call waits at most the policy's
    /// `call_timeout`). Errors never show the URL's path, query or credentials (API keys).
    pub async fn connect(
        rpc_url: &str,
        signer: PrivateKeySigner,
        oracle: Address,
        retry: RetryPolicy,
        metrics: Metrics,
    ) -> Result<Self> {
        let me = signer.address();
        let shown = redact::redacted(rpc_url);
        let url = rpc_url
            .parse()
            .with_context(|| format!("bad RPC URL {shown}"))?;
        let nonces = ResyncingNonces::default();
        let http = alloy::transports::http::reqwest::Client::builder()
            .timeout(retry.call_timeout)
            .build()
            .context("building the HTTP client")?;
        // alloy's recommended fillers (gas, nonce, chain id) with our nonce manager.
        let provider = ProviderBuilder::new()
            .disable_recommended_fillers()
            .with_gas_estimation()
            .with_nonce_management(nonces.clone())
            .fetch_chain_id()
            .wallet(EthereumWallet::from(signer))
            .connect_client(
                alloy::rpc::client::ClientBuilder::default()
                    .layer(redact::WithoutUrls)
                    .http_with_client(http, url),
            )
            .erased();
        let chain = Self::with_provider(provider, me, oracle, retry, metrics)
            .await
            .with_context(|| format!("no InferenceOracle at {oracle} on {shown}"))?;
        Ok(Self { nonces, ..chain })
    }

    /// A party over an existing signing `provider` for `me` (one provider per key: each keeps
    /// its own nonce; that provider's nonce manager is its own, see [`Chain::connect`] for the
    /// one that resynchronizes after a failed send).
    pub async fn with_provider(
        provider: DynProvider,
        me: Address,
        oracle: Address,
        retry: RetryPolicy,
        metrics: Metrics,
    ) -> Result<Self> {
        let contract = InferenceOracle::new(oracle, provider.clone());
        let game = with_retry("reading the oracle's game", &retry, || async {
            Ok(contract.game().call().await?)
        })
        .await?;
        Ok(Self {
            provider,
            me,
            oracle,
            game,
            retry,
            metrics,
            nonces: ResyncingNonces::default(),
            log_span: Arc::new(AtomicU64::new(MAX_LOG_SPAN)),
            last_mined: Arc::default(),
        })
    }

    /// The oracle, as this party.
    pub fn oracle(&self) -> InferenceOracle::InferenceOracleInstance<&DynProvider> {
        InferenceOracle::new(self.oracle, &self.provider)
    }

    /// The game contract, as this party.
    pub fn game(&self) -> DisputeGame::DisputeGameInstance<&DynProvider> {
        DisputeGame::new(self.game, &self.provider)
    }

    /// The current answer `index` of request `request_id` as the oracle holds it.
    pub async fn answer(&self, request_id: B256, index: u32) -> Result<InferenceOracle::Answer> {
        self.read("reading an answer", || async {
            Ok(self.oracle().getAnswer(request_id, index).call().await?)
        })
        .await
    }

    /// Reads with retries, counting each transient fault.
    pub async fn read<T, F, Fut>(&self, what: &str, op: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        self.read_if(what, retry::is_transient, op).await
    }

    /// [`Chain::read`] retrying only the faults `retryable` accepts.
    async fn read_if<T, F, Fut>(
        &self,
        what: &str,
        retryable: fn(&anyhow::Error) -> bool,
        op: F,
    ) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        let faults = self.metrics.rpc_faults.clone();
        let mut op = op;
        with_retry_if(what, &self.retry, retryable, || {
            let fut = op();
            let faults = faults.clone();
            async move {
                let out = fut.await;
                if let Err(e) = &out
                    && retry::is_transient(e)
                {
                    faults.inc();
                }
                out
            }
        })
        .await
    }

    /// The chain id of the node.
    pub async fn chain_id(&self) -> Result<u64> {
        self.read("reading the chain id", || async {
            Ok(self.provider.get_chain_id().await?)
        })
        .await
    }

    /// The latest block.
    pub async fn head(&self) -> Result<Head> {
        self.read("reading the latest block", || async {
            let block = self
                .provider
                .get_block_by_number(alloy::eips::BlockNumberOrTag::Latest)
                .await?
                .context("the node has no latest block")?;
            Ok(Head {
                number: block.header.number,
                hash: block.header.hash,
                timestamp: block.header.timestamp,
            })
        })
        .await
    }

    /// Block `number` of the chain the node follows now (`None`: it has no such block, e.g.
    /// after a rollback).
    pub async fn header(&self, number: u64) -> Result<Option<Header>> {
        self.read("reading a block header", || async {
            let block = self
                .provider
                .get_block_by_number(alloy::eips::BlockNumberOrTag::Number(number))
                .await?;
            Ok(block.map(|b| Header {
                hash: b.header.hash,
                parent: b.header.parent_hash,
            }))
        })
        .await
    }

    /// Whether `block` is still on the chain the node follows.
    pub async fn is_canonical(&self, block: BlockRef) -> Result<bool> {
        Ok(self
            .header(block.number)
            .await?
            .is_some_and(|h| h.hash == block.hash))
    }

    /// Reads the nonces from the node again before the next transaction if this party's
    /// latest mined transaction was reorged out (it is pending again or gone, and the local
    /// count runs ahead of the node's). Returns whether it was.
    pub async fn check_own_transactions(&self) -> Result<bool> {
        let last = *self.last_mined.lock().expect("lock");
        let Some(last) = last else {
            return Ok(false);
        };
        if self.is_canonical(last).await? {
            return Ok(false);
        }
        tracing::warn!(
            block = last.number,
            "REORG: our latest transaction's block left the chain; reading our nonce again"
        );
        self.last_mined.lock().expect("lock").take();
        self.nonces.resync().await;
        Ok(true)
    }

    /// Forgets the local nonce count: the next transaction takes the node's.
    pub async fn resync_nonces(&self) {
        self.nonces.resync().await;
    }

    /// A filter for every event of the oracle and the game.
    pub fn events(&self) -> Filter {
        Filter::new().address(vec![self.oracle, self.game])
    }

    /// The logs matching `filter` from block `from` on, as many blocks (at most up to `to`) as
    /// the node serves in one call; returns them with the last block they cover.
    pub async fn log_chunk(&self, filter: &Filter, from: u64, to: u64) -> Result<(Vec<Log>, u64)> {
        loop {
            let end = self.chunk_end(from, to);
            if let Some(logs) = self.logs_in(filter, from, end).await? {
                return Ok((logs, end));
            }
        }
    }

    /// The last log matching `filter` in blocks `from..=to`, read backwards from `to` in
    /// ranges the node serves (the latest move of a game is near the head: one call, usually).
    pub async fn last_log(&self, filter: &Filter, from: u64, to: u64) -> Result<Option<Log>> {
        let mut end = to;
        while end >= from {
            let start = from.max(end.saturating_sub(self.log_span() - 1));
            let Some(logs) = self.logs_in(filter, start, end).await? else {
                continue;
            };
            if let Some(last) = logs.into_iter().last() {
                return Ok(Some(last));
            }
            if start == 0 {
                break;
            }
            end = start - 1;
        }
        Ok(None)
    }

    /// The last block of the widest `eth_getLogs` range from `from` the node serves now, at
    /// most `to`.
    pub fn chunk_end(&self, from: u64, to: u64) -> u64 {
        to.min(from.saturating_add(self.log_span() - 1))
    }

    /// The current widest range of one `eth_getLogs` call.
    fn log_span(&self) -> u64 {
        self.log_span.load(Ordering::Relaxed).max(1)
    }

    /// One `eth_getLogs` call over `from..=to`, retried through transport faults; `None` when
    /// the node answered it with an error over more than one block (a range or result cap:
    /// the range this party asks for is halved, for good).
    async fn logs_in(&self, filter: &Filter, from: u64, to: u64) -> Result<Option<Vec<Log>>> {
        let ranged = filter.clone().from_block(from).to_block(to);
        let result = self
            .read_if("reading event logs", retry::is_transport_fault, || async {
                Ok(self.provider.get_logs(&ranged).await?)
            })
            .await;
        match result {
            Ok(logs) => Ok(Some(logs)),
            Err(error) if to > from && retry::is_error_response(&error) => {
                let narrower = (to - from).div_ceil(2);
                self.log_span.fetch_min(narrower, Ordering::Relaxed);
                tracing::warn!(
                    from,
                    to,
                    narrower,
                    "the node refused an eth_getLogs range; asking for narrower ones: {error:#}"
                );
                Ok(None)
            }
            Err(error) => Err(error),
        }
    }

    /// Sends a transaction and waits for it to succeed, counting its gas. After a failure the
    /// nonces resynchronize with the node, so that a transaction that never went out leaves no
    /// gap in front of the next one.
    pub async fn send(
        &self,
        what: &str,
        call: impl std::future::Future<
            Output = Result<PendingTransactionBuilder<Ethereum>, alloy::contract::Error>,
        >,
    ) -> Result<TransactionReceipt> {
        match mined(call, what).await {
            Ok(receipt) => {
                self.metrics.gas_spent.inc_by(receipt.gas_used);
                if let (Some(number), Some(hash)) = (receipt.block_number, receipt.block_hash) {
                    let mined = BlockRef { number, hash };
                    let mut last = self.last_mined.lock().expect("lock");
                    if last.is_none_or(|l| l.number <= number) {
                        *last = Some(mined);
                    }
                }
                Ok(receipt)
            }
            Err(error) => {
                self.nonces.resync().await;
                Err(error)
            }
        }
    }
}

/// Sends a contract call and waits (at most two minutes) for a successful receipt; `what`
/// names it in errors.
pub async fn mined(
    call: impl std::future::Future<
        Output = Result<PendingTransactionBuilder<Ethereum>, alloy::contract::Error>,
    >,
    what: &str,
) -> Result<TransactionReceipt> {
    let receipt = call
        .await
        .with_context(|| format!("sending {what}"))?
        .with_timeout(Some(Duration::from_secs(120)))
        .get_receipt()
        .await
        .with_context(|| format!("waiting for {what}"))?;
    ensure!(
        receipt.status(),
        "{what} reverted (tx {})",
        receipt.transaction_hash
    );
    Ok(receipt)
}

/// The first event of type `E` in `receipt`.
pub fn event<E: alloy::sol_types::SolEvent>(receipt: &TransactionReceipt) -> Result<E> {
    receipt
        .inner
        .logs()
        .iter()
        .find_map(|l| l.log_decode::<E>().ok())
        .map(|l| l.inner.data)
        .with_context(|| {
            format!(
                "no {} event in tx {}",
                E::SIGNATURE,
                receipt.transaction_hash
            )
        })
}
