//! Gas of every protocol transaction in a dispute of realistic size, measured on anvil.
//!
//! The scenario is synthetic on purpose: a lying executor and an honest challenger play the
//! real contracts with made-up machine hashes (the game never looks inside a hash before the
//! one-step proof), so the transaction costs are those of a real dispute of the given size.
//! The game stops at the one-step-proof phase; the proof's own gas comes from the one-step
//! prover's table (issue 4).

use alloy::{
    primitives::{Address, B256, Bytes, U256, keccak256},
    providers::{DynProvider, Provider},
    rpc::types::TransactionReceipt,
};
use anyhow::{Context, Result, bail, ensure};
use veritrace_contracts::{
    AnswerStore, InferenceOracle, ModelRegistry, ProtocolParams, deploy_all,
};
use veritrace_devnet::LocalChain;
use veritrace_devnet::tx::{event, mined};
use veritrace_machine::hash::zero_hashes;
use veritrace_node::chain::retry::RetryPolicy;
use veritrace_node::chain::{Chain, driver};
use veritrace_node::metrics::Metrics;
use veritrace_protocol::{
    Hash, answer,
    game::{Move, Phase, SourceError, TraceSource, challenger_move, executor_move},
    region::{region_root, root_from_region},
    trace::LayerTrace,
};

/// The size of the disputed request.
#[derive(Debug, Clone, Copy)]
pub struct Scenario {
    /// Layer steps N of the request.
    pub steps: u64,
    /// Instructions in the disputed layer step.
    pub instructions: u64,
    /// Prompt tokens in the request body.
    pub prompt_tokens: usize,
    /// Generated tokens in the answer.
    pub output_tokens: usize,
    /// First layer-trace leaf the liar forges.
    pub forged_leaf: u64,
    /// First instruction of that step whose state the liar forges.
    pub forged_instruction: u64,
}

impl Scenario {
    /// A 256-token SmolLM2 request: 30 layers plus an embedding and a head (with sampling) step
    /// per token (~8,200 steps), disputed inside a prefill step of ~2^31 wasm instructions.
    pub fn smollm2_256_tokens() -> Self {
        Self {
            steps: 256 * 32,
            instructions: 1 << 31,
            prompt_tokens: 32,
            output_tokens: 256,
            forged_leaf: 5_000,
            forged_instruction: 1_234_567_890,
        }
    }
}

/// One measured transaction.
#[derive(Debug, Clone)]
pub struct GasRow {
    /// Who sent it.
    pub party: &'static str,
    /// What it was.
    pub action: String,
    /// Gas used.
    pub gas: u64,
}

/// The measured transactions of one scenario.
#[derive(Debug, Clone, Default)]
pub struct GasReport {
    /// Every transaction, in order.
    pub rows: Vec<GasRow>,
    /// The game's own count of executor moves.
    pub executor_moves: u16,
    /// The game's own count of challenger moves.
    pub challenger_moves: u16,
    /// Instruction the game narrowed the dispute down to.
    pub disputed_instruction: u64,
    /// Layer step the game narrowed the dispute down to.
    pub disputed_step: u64,
}

impl GasReport {
    /// Total gas of the rows whose action starts with one of `prefixes`.
    pub fn total(&self, prefixes: &[&str]) -> u64 {
        self.rows
            .iter()
            .filter(|r| prefixes.iter().any(|p| r.action.starts_with(p)))
            .map(|r| r.gas)
            .sum()
    }
}

const INPUT_OFFSET: u64 = 1 << 24;
const OUTPUT_OFFSET: u64 = (1 << 24) + (1 << 16);
const REGION_LOG2: u8 = 16;
const MEMORY_LOG2: u8 = 28;

fn synthetic(label: &str, a: u64, b: u64) -> Hash {
    keccak256([label.as_bytes(), &a.to_be_bytes(), &b.to_be_bytes()].concat()).0
}

fn siblings(label: &str) -> Vec<Hash> {
    (0..(MEMORY_LOG2 - REGION_LOG2) as u64)
        .map(|i| synthetic(label, i, 0))
        .collect()
}

fn output_bytes(tokens: usize) -> Vec<u8> {
    let text: Vec<u8> = b"The capital of France is Paris. "
        .iter()
        .copied()
        .cycle()
        .take(tokens * 4)
        .collect();
    let mut out = Vec::new();
    out.extend(1u32.to_le_bytes());
    out.extend((tokens as u32).to_le_bytes());
    out.extend((text.len() as u32).to_le_bytes());
    out.extend([0u8; 20]);
    out.extend(text);
    out
}

/// One party's view of the disputed run: its trace and its machine hashes inside steps.
struct View {
    trace: LayerTrace,
    forged_leaf: Option<u64>,
    forged_instruction: u64,
    instructions: u64,
}

impl TraceSource for View {
    fn layer_trace(&self) -> &LayerTrace {
        &self.trace
    }

    fn instruction_count(&self, _step: u64) -> Result<u64, SourceError> {
        Ok(self.instructions)
    }

    fn machine_hash(&self, step: u64, t: u64) -> Result<Hash, SourceError> {
        // The contract derives both ends from the leaves; only interior points are posted.
        if t == 0 || t >= self.instructions {
            return Ok(synthetic("derived end", step, t.min(self.instructions)));
        }
        Ok(match self.forged_leaf {
            Some(f) if f == step && t >= self.forged_instruction => {
                synthetic("forged state", step, t)
            }
            _ => synthetic("honest state", step, t),
        })
    }

    fn one_step_proof(&self, step: u64, _instruction: u64) -> Result<Vec<u8>, SourceError> {
        Err(SourceError::Execution {
            step,
            reason: "a synthetic trace has no machine to prove".into(),
        })
    }
}

struct Parties {
    executor: DynProvider,
    challenger: DynProvider,
    user: DynProvider,
}

/// Deploys everything, asks, answers with a forged trace, challenges and plays the game down
/// to the one-step proof; then measures `finalize` on an undisputed answer.
pub async fn run(scenario: Scenario) -> Result<GasReport> {
    let chain = LocalChain::start()?;
    let parties = Parties {
        executor: chain.signer_provider(1),
        challenger: chain.signer_provider(2),
        user: chain.signer_provider(3),
    };
    let params = ProtocolParams::default();
    let deployment = deploy_all(chain.provider(), chain.account(0), Address::ZERO, params).await?;
    let mut report = GasReport::default();

    let registry = ModelRegistry::new(deployment.registry, chain.provider());
    let globals: Hash = synthetic("initial globals", 0, 0);
    let in_siblings = siblings("image");
    let image_root = root_from_region(
        &zero_hashes(usize::from(REGION_LOG2 - 5))[usize::from(REGION_LOG2 - 5)],
        INPUT_OFFSET,
        REGION_LOG2,
        &in_siblings,
    );
    let spec = ModelRegistry::ModelSpec {
        programRoot: B256::from(synthetic("program", 0, 0)),
        imageRoot: B256::from(image_root),
        initialGlobalsHash: B256::from(globals),
        tokenizerHash: B256::from(synthetic("tokenizer", 0, 0)),
        layout: ModelRegistry::Layout {
            memoryLog2: MEMORY_LOG2,
            inputOffset: INPUT_OFFSET,
            inputLog2: REGION_LOG2,
            outputOffset: OUTPUT_OFFSET,
            outputLog2: REGION_LOG2,
        },
        limits: ModelRegistry::Limits {
            maxContextTokens: 2048,
            maxLayerSteps: 1 << 20,
            maxStepInstructions: 1 << 40,
        },
        name: "synthetic SmolLM2-sized model".into(),
    };
    let receipt = mined(registry.register(spec).send(), "register").await?;
    report.rows.push(GasRow {
        party: "registrant",
        action: "register model".into(),
        gas: receipt.gas_used,
    });
    let model_id = event::<ModelRegistry::ModelRegistered>(&receipt)?.id;

    let store = AnswerStore::deploy(&parties.user, deployment.oracle).await?;
    let oracle_exec = InferenceOracle::new(deployment.oracle, &parties.executor);
    let fee = U256::from(10u64).pow(U256::from(16));
    let out_siblings = siblings("final memory");
    let output = output_bytes(scenario.output_tokens);
    let final_memory = root_from_region(
        &region_root(&output, REGION_LOG2)?,
        OUTPUT_OFFSET,
        REGION_LOG2,
        &out_siblings,
    );

    let ask = |seed: u64| {
        let body: Vec<u8> = (0..scenario.prompt_tokens as u32 + 8)
            .flat_map(|t| (t * 13 + seed as u32).to_le_bytes())
            .collect();
        (
            Bytes::from(body),
            B256::from(synthetic("user seed", seed, 0)),
        )
    };
    let leaves_for =
        |request_seed: B256, body: &Bytes, forged_from: Option<u64>| -> Result<Vec<Hash>> {
            // The oracle writes the seed into bytes [32, 64) of the body (MachineIO.encodeInput).
            let input: Vec<u8> = [&body[..32], request_seed.as_slice(), &body[64..]].concat();
            let initial = root_from_region(
                &region_root(&input, REGION_LOG2)?,
                INPUT_OFFSET,
                REGION_LOG2,
                &in_siblings,
            );
            let mut leaves = vec![initial];
            for i in 1..scenario.steps {
                let forged = forged_from.is_some_and(|f| i >= f);
                leaves.push(synthetic(
                    if forged { "forged leaf" } else { "honest leaf" },
                    i,
                    0,
                ));
            }
            leaves.push(final_memory);
            Ok(leaves)
        };

    // --- the disputed request
    let (body, user_seed) = ask(1);
    let receipt = mined(
        store
            .ask(model_id, body.clone(), user_seed)
            .value(fee)
            .send(),
        "request",
    )
    .await?;
    report.rows.push(GasRow {
        party: "dApp",
        action: format!("request ({} body bytes)", body.len()),
        gas: receipt.gas_used,
    });
    let requested = event::<InferenceOracle::InferenceRequested>(&receipt)?;
    let liar = View {
        trace: LayerTrace::new(leaves_for(
            requested.seed,
            &body,
            Some(scenario.forged_leaf),
        )?)?,
        forged_leaf: Some(scenario.forged_leaf),
        forged_instruction: scenario.forged_instruction,
        instructions: scenario.instructions,
    };
    let honest = View {
        trace: LayerTrace::new(leaves_for(requested.seed, &body, None)?)?,
        forged_leaf: None,
        forged_instruction: 0,
        instructions: scenario.instructions,
    };
    let (committed, receipt) = submit(
        &oracle_exec,
        chain.account(1),
        requested.requestId,
        &liar.trace,
        final_memory,
        &output,
        &in_siblings,
        &out_siblings,
        params.executor_bond,
    )
    .await?;
    report.rows.push(GasRow {
        party: "executor",
        action: "commitAnswer (the answer's hash, bound to the executor)".into(),
        gas: committed.gas_used,
    });
    report.rows.push(GasRow {
        party: "executor",
        action: format!("submit ({} output bytes)", output.len()),
        gas: receipt.gas_used,
    });

    let oracle_chal = InferenceOracle::new(deployment.oracle, &parties.challenger);
    let receipt = mined(
        oracle_chal
            .challenge(requested.requestId, 0)
            .value(params.challenger_bond)
            .send(),
        "challenge",
    )
    .await?;
    report.rows.push(GasRow {
        party: "challenger",
        action: "challenge (opens the game)".into(),
        gas: receipt.gas_used,
    });
    let game_id = event::<InferenceOracle::AnswerChallenged>(&receipt)?.gameId;

    play(
        &chain,
        &parties,
        deployment.oracle,
        game_id,
        &liar,
        &honest,
        &mut report,
    )
    .await?;

    // --- finalize, measured on an undisputed second request
    let (body, user_seed) = ask(2);
    let receipt = mined(
        store
            .ask(model_id, body.clone(), user_seed)
            .value(fee)
            .send(),
        "request",
    )
    .await?;
    let requested = event::<InferenceOracle::InferenceRequested>(&receipt)?;
    let trace = LayerTrace::new(leaves_for(requested.seed, &body, None)?)?;
    submit(
        &oracle_exec,
        chain.account(1),
        requested.requestId,
        &trace,
        final_memory,
        &output,
        &in_siblings,
        &out_siblings,
        params.executor_bond,
    )
    .await?;
    chain
        .provider()
        .raw_request::<_, serde_json::Value>("evm_increaseTime".into(), (params.challenge_window,))
        .await?;
    chain
        .provider()
        .raw_request::<_, serde_json::Value>("evm_mine".into(), ())
        .await?;
    let receipt = mined(
        oracle_exec
            .finalize(requested.requestId, Bytes::from(output.clone()))
            .send(),
        "finalize",
    )
    .await?;
    report.rows.push(GasRow {
        party: "anyone",
        action: "finalize (pays, delivers the text)".into(),
        gas: receipt.gas_used,
    });
    let delivered = store.answered(requested.requestId).call().await?;
    ensure!(delivered, "the consumer did not receive the answer");
    Ok(report)
}

/// Commits to the answer and reveals it; returns both receipts.
#[allow(clippy::too_many_arguments)]
async fn submit(
    oracle: &InferenceOracle::InferenceOracleInstance<&DynProvider>,
    executor: Address,
    request_id: B256,
    trace: &LayerTrace,
    final_memory: Hash,
    output: &[u8],
    in_siblings: &[Hash],
    out_siblings: &[Hash],
    bond: U256,
) -> Result<(TransactionReceipt, TransactionReceipt)> {
    let (claim, proofs) = answer::claim_and_proofs(trace, final_memory, in_siblings, out_siblings)?;
    let commitment = answer::answer_commitment(executor, request_id, &claim, output);
    let committed = mined(
        oracle.commitAnswer(request_id, commitment).send(),
        "commitAnswer",
    )
    .await?;
    let submitted = mined(
        oracle
            .submit(request_id, claim, Bytes::from(output.to_vec()), proofs)
            .value(bond)
            .send(),
        "submit",
    )
    .await?;
    Ok((committed, submitted))
}

async fn play(
    chain: &LocalChain,
    parties: &Parties,
    oracle: Address,
    game_id: U256,
    executor_view: &View,
    challenger_view: &View,
    report: &mut GasReport,
) -> Result<()> {
    let party = |provider: &DynProvider, account: usize| {
        Chain::with_provider(
            provider.clone(),
            chain.account(account),
            oracle,
            RetryPolicy::default(),
            Metrics::new("veritrace_bench"),
        )
    };
    let as_executor = party(&parties.executor, 1).await?;
    let as_challenger = party(&parties.challenger, 2).await?;
    let id = u64::try_from(game_id)?;
    let mut posted: Vec<Hash> = Vec::new();
    for _ in 0..100 {
        let game = driver::read_game(&as_executor, id).await?;
        let view = game.view;
        if view.phase == Phase::OneStepProof {
            (report.executor_moves, report.challenger_moves) = game.moves;
            report.disputed_instruction = view.lo;
            report.disputed_step = view.node_index;
            return Ok(());
        }
        let (party, sender, mv) = match executor_move(&view, executor_view)? {
            Some(mv) => ("executor", &as_executor, mv),
            None => {
                let mv =
                    challenger_move(&view, &posted, challenger_view)?.context("nobody's move")?;
                ("challenger", &as_challenger, mv)
            }
        };
        let (action, receipt) = driver::send_move(sender, id, &view, &mv).await?;
        if let Move::RevealTrace(h) | Move::Dissect(h) | Move::OpenStep { hashes: h, .. } = mv {
            posted = h;
        }
        report.rows.push(GasRow {
            party,
            action,
            gas: receipt.gas_used,
        });
    }
    bail!("the game did not reach the one-step proof in 100 moves")
}
