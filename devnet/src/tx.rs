//! Small helpers for sending transactions and reading their receipts in tests and the demo.

use alloy::providers::Provider;
use anyhow::Result;

pub use veritrace_node::chain::{event, mined};

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
