//! A `DisputeGame` played without an oracle contract: an account stands in for the oracle
//! (it creates and starts games), so that the tests of the chain plumbing (nonces, clocks, log
//! reads) need no registry, no model and no bonds.

use alloy::contract::{CallBuilder, CallDecoder};
use alloy::primitives::B256;
use alloy::providers::Provider;
use alloy::rpc::types::TransactionReceipt;
use veritrace_contracts::DisputeGame::DisputeClaim;

/// A claim over a layer trace with `root`, `step_count` steps and tree depth `depth`, for a
/// 2^16-byte machine of a made-up program.
pub fn claim(root: B256, step_count: u64, depth: u8) -> DisputeClaim {
    DisputeClaim {
        traceRoot: root,
        stepCount: step_count,
        traceDepth: depth,
        programRoot: B256::repeat_byte(2),
        memoryLog2: 16,
        initialGlobalsHash: B256::repeat_byte(3),
        maxStepInstructions: 100,
    }
}

/// Sends `call` and waits for its receipt (a test's transaction that must go through).
pub async fn mined<P: Provider, D: CallDecoder>(call: CallBuilder<P, D>) -> TransactionReceipt {
    let receipt = call
        .send()
        .await
        .expect("the transaction is accepted")
        .get_receipt()
        .await
        .expect("the transaction is mined");
    assert!(receipt.status(), "the transaction reverted");
    receipt
}
