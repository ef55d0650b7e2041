//! The Rust mirror of the dispute game's arithmetic (`veritrace_protocol::{trace, dissection}`)
//! against the deployed contracts on anvil: constants, trace depths, dissection points and
//! answer commitments (`veritrace_protocol::answer`).

use alloy::primitives::{Address, B256, Bytes};
use veritrace_contracts::{DisputeGame, InferenceOracle};
use veritrace_devnet::LocalChain;
use veritrace_protocol::answer::answer_commitment;
use veritrace_protocol::{dissection, trace};

#[tokio::test]
async fn rust_mirror_matches_the_contracts() {
    let chain = LocalChain::start().expect("anvil starts");
    let provider = chain.provider();
    // Pure functions only: the constructor arguments are never used by them.
    let game = DisputeGame::deploy(
        provider,
        Address::repeat_byte(1),
        Address::repeat_byte(2),
        3600,
    )
    .await
    .unwrap();
    let oracle = InferenceOracle::new(
        chain.deploy_bare_oracle(*game.address()).await.unwrap(),
        provider,
    );

    assert_eq!(
        game.L1_FANOUT_LOG2().call().await.unwrap(),
        dissection::L1_FANOUT_LOG2
    );
    assert_eq!(
        game.L2_FANOUT().call().await.unwrap(),
        dissection::L2_FANOUT
    );

    for steps in [1u64, 2, 3, 4, 31, 32, 33, 1000, 8191, 8192, 1 << 20] {
        assert_eq!(
            oracle.traceDepth(steps).call().await.unwrap(),
            trace::trace_depth(steps),
            "trace depth of {steps} steps"
        );
    }

    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..40 {
        // xorshift: varied widths from 1 to 2^40
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let lo = x % (1 << 40);
        let hi = lo + 1 + (x >> 24) % (1u64 << (x % 41));
        let on_chain = game.dissectionPoints(lo, hi).call().await.unwrap();
        assert_eq!(
            on_chain,
            dissection::dissection_points(lo, hi),
            "points of [{lo}, {hi}]"
        );
    }

    // The answer commitment the executor daemon computes is the oracle's `answerCommitment`.
    for i in 0u8..6 {
        let executor = Address::repeat_byte(0x10 + i);
        let request = B256::repeat_byte(0x20 + i);
        let claim = InferenceOracle::AnswerClaim {
            traceRoot: B256::repeat_byte(0x30 + i),
            stepCount: 97 + u64::from(i) * 1000,
            finalMemoryRoot: B256::repeat_byte(0x40 + i),
        };
        let output: Vec<u8> = (0..i * 40).collect();
        let on_chain = oracle
            .answerCommitment(
                executor,
                request,
                claim.clone(),
                Bytes::from(output.clone()),
            )
            .call()
            .await
            .unwrap();
        assert_eq!(
            on_chain,
            answer_commitment(executor, request, &claim, &output),
            "case {i}"
        );
    }
}
