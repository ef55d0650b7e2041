//! The dispute of a 256-token SmolLM2 request on anvil, with the real daemons: a cheating
//! executor tampers one layer step in the middle of the answer, the challenger detects it,
//! confirms with the wasm program, challenges and wins. Prints rounds per party and level, the
//! gas of every transaction and in all, and the wall time of each phase, against the targets
//! (<= 12 moves per party, <= 3M gas, < 60 s challenge-to-slash, detection < 2x one inference).

use veritrace_adversary::Cheat;
use veritrace_devnet::demo::{DemoOptions, DemoRequest, run};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let story = run(DemoOptions {
        honest: None,
        disputed: DemoRequest {
            message: "Write a long, detailed essay about the history of the Roman Empire, from its founding to its fall.".into(),
            max_tokens: 256,
        },
        // Layer 10 of the 150th generated token's forward pass (32 steps per token).
        cheat: Cheat::TamperHidden { step: 1 + 32 + 149 * 32 + 12 },
        reanswer: false,
    })
    .await?;
    println!(
        "\ndispute_bench summary (256-token request, {} layer steps)",
        story.steps
    );
    println!(
        "  moves: executor {} / challenger {} (target <= 12 each)",
        story.moves.0, story.moves.1
    );
    println!(
        "  dispute gas: {} (target <= 3,000,000)",
        story.dispute_gas()
    );
    println!(
        "  challenge -> slash: {:.1} s (target < 60 s)",
        story.challenge_to_slash_secs
    );
    println!(
        "  detection: {:.1} s = {:.2}x one traced inference of {:.1} s (target < 2x); wasm confirmation {:.1} s more",
        story.detect_secs,
        story.detect_secs / story.answer_secs,
        story.answer_secs,
        story.confirm_secs
    );
    Ok(())
}
