//! Small helpers for sending transactions and reading their receipts in tests and the demo.

use alloy::providers::Provider;
use alloy::rpc::types::TransactionReceipt;
use anyhow::{Context, Result, ensure};

/// Sends a contract call and waits for a successful receipt; `what` names it in errors.
pub async fn mined(
    call: impl std::future::Future<
        Output = Result<
            alloy::providers::PendingTransactionBuilder<alloy::network::Ethereum>,
            alloy::contract::Error,
        >,
    >,
    what: &str,
) -> Result<TransactionReceipt> {
    let receipt = call
        .await
        .with_context(|| format!("sending {what}"))?
        .get_receipt()
        .await?;
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

/// Moves the chain's clock forward by `seconds` and mines a block (anvil only).
pub async fn advance_time<P: Provider>(provider: &P, seconds: u64) -> Result<()> {
    provider
        .raw_request::<_, serde_json::Value>("evm_increaseTime".into(), (seconds,))
        .await?;
    provider
        .raw_request::<_, serde_json::Value>("evm_mine".into(), ())
        .await?;
    Ok(())
}
