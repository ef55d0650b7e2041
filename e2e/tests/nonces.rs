//! A daemon's transaction that fails before it is broadcast (its gas estimate reverts: a lost
//! submit race, a reveal still reserved for another commitment) must not leave a nonce gap
//! that blocks every later transaction of the daemon (issue 20's nonce finding, met here by
//! the executor's commit-then-submit).

use std::time::Duration;

use alloy::primitives::{Address, B256, U256};
use veritrace_contracts::DisputeGame;
use veritrace_devnet::LocalChain;
use veritrace_node::chain::Chain;
use veritrace_node::chain::retry::RetryPolicy;
use veritrace_node::metrics::Metrics;

#[tokio::test]
async fn a_send_that_reverts_before_broadcast_leaves_no_nonce_gap() {
    let chain = LocalChain::start().expect("anvil starts");
    let party = chain.account(5);
    // A game whose oracle is the party itself, so that it may create and cancel games.
    let game = DisputeGame::deploy(chain.provider(), party, Address::repeat_byte(2), 3600)
        .await
        .unwrap();
    let oracle = chain.deploy_bare_oracle(*game.address()).await.unwrap();
    let party_chain = Chain::connect(
        &chain.endpoint(),
        chain.signer(5),
        oracle,
        RetryPolicy::default(),
        Metrics::new("nonce_test"),
    )
    .await
    .unwrap();
    let claim = veritrace_e2e::bare_game::claim(B256::repeat_byte(1), 3, 2);
    for round in 0..3 {
        let refused = party_chain
            .send(
                "cancelGame",
                party_chain.game().cancelGame(U256::from(999)).send(),
            )
            .await;
        assert!(refused.is_err(), "an unknown game cannot be cancelled");
        let created = tokio::time::timeout(
            Duration::from_secs(30),
            party_chain.send(
                "createGame",
                party_chain
                    .game()
                    .createGame(party, Address::repeat_byte(9), claim.clone())
                    .send(),
            ),
        )
        .await
        .unwrap_or_else(|_| panic!("round {round}: the next transaction is stuck behind a gap"));
        created.unwrap();
    }
}
