//! A synthetic dispute on anvil reaches the one-step proof with a bounded number of moves,
//! and the undisputed answer is finalized and delivered.

use veritrace_e2e::protocol_gas::{Scenario, run};

#[tokio::test]
async fn synthetic_dispute_narrows_to_the_forged_instruction() {
    let scenario = Scenario {
        steps: 300,
        instructions: 100_000,
        prompt_tokens: 8,
        output_tokens: 16,
        forged_leaf: 123,
        forged_instruction: 4_321,
    };
    let report = run(scenario).await.expect("scenario runs");
    // The liar forged leaves 123.. and, inside step 123, every state from instruction 4321 on:
    // the honest challenger must corner instruction 4320 -> 4321 of step 123.
    assert_eq!(report.disputed_step, 123);
    assert_eq!(report.disputed_instruction, 4_320);
    // depth 9 -> 2 level-1 rounds; 100,000 instructions -> 4 level-2 rounds (32^4 > 10^5).
    assert_eq!(report.executor_moves, 2 + 1 + 3);
    assert_eq!(report.challenger_moves, 2 + 4);
    assert!(report.rows.iter().any(|r| r.action.starts_with("finalize")));
}
