//! The honest path on a real chain with the real model: a dApp contract asks SmolLM2 a chat
//! question through the oracle, an executor runs the machine natively, commits to the layer
//! trace and submits with a bond (the oracle checks the trace's first leaf against the request
//! and the output against the final memory), the challenge window passes, `finalize` pays the
//! executor and the consumer contract receives the text.

use alloy::primitives::{B256, Bytes, U256};
use veritrace_contracts::{
    AnswerStore, InferenceOracle, ModelRegistry, ProtocolParams, deploy_all, deploy_prover,
};
use veritrace_devnet::tx::{advance_time, event, mined};
use veritrace_devnet::{LocalChain, paths};
use veritrace_protocol::answer;
use veritrace_tracer::registration::registered_model;
use veritrace_vm::native::FastNative;
use veritrace_vm::tokenizer::{Tokenizer, chatml};
use veritrace_vm::{Engine, Request};

#[tokio::test(flavor = "multi_thread")]
async fn a_chat_request_is_answered_finalized_and_delivered() {
    let gguf = paths::smollm2_gguf();
    let model = registered_model(&gguf, "SmolLM2-135M-Instruct").unwrap();
    let chain = LocalChain::start().expect("anvil starts");
    let params = ProtocolParams::default();
    let prover = deploy_prover(chain.provider()).await.unwrap();
    let deployment = deploy_all(chain.provider(), chain.account(0), prover, params)
        .await
        .unwrap();
    let registry = ModelRegistry::new(deployment.registry, chain.provider());
    let receipt = mined(registry.register(model.spec.clone()).send(), "register")
        .await
        .unwrap();
    let model_id = event::<ModelRegistry::ModelRegistered>(&receipt)
        .unwrap()
        .id;

    // The dApp asks (greedy, so the answer is known: it names Paris).
    let user = chain.signer_provider(3);
    let store = AnswerStore::deploy(&user, deployment.oracle).await.unwrap();
    let tokenizer = Tokenizer::from_gguf_file(&gguf).unwrap();
    let prompt = tokenizer
        .encode(&chatml("What is the capital of France?"))
        .unwrap();
    let body = Request::greedy(prompt, 8).encode();
    let fee = U256::from(10u64).pow(U256::from(16));
    let receipt = mined(
        store
            .ask(model_id, Bytes::from(body.clone()), B256::repeat_byte(7))
            .value(fee)
            .send(),
        "ask",
    )
    .await
    .unwrap();
    let requested = event::<InferenceOracle::InferenceRequested>(&receipt).unwrap();

    // The executor: the input region is the body with the derived seed in bytes [32, 64).
    let served = &model.served;
    let input = [&body[..32], requested.seed.as_slice(), &body[64..]].concat();
    let mut engine = Engine::with_backend(FastNative::new(served.image.initial_memory()));
    let submission = served.execute(&mut engine, &input).unwrap();
    assert!(
        submission.run.text.contains("Paris"),
        "{:?}",
        submission.run.text
    );
    let n = submission.trace.step_count();
    let executor = InferenceOracle::new(deployment.oracle, chain.signer_provider(1));
    let (claim, proofs) = answer::claim_and_proofs(
        &submission.trace,
        submission.final_memory_root,
        &submission.input_siblings,
        &submission.output_siblings,
    )
    .unwrap();
    // The answer is committed first (bound to the executor), then revealed in a later block.
    let commitment = answer::answer_commitment(
        chain.account(1),
        requested.requestId,
        &claim,
        &submission.output,
    );
    mined(
        executor
            .commitAnswer(requested.requestId, commitment)
            .send(),
        "commitAnswer",
    )
    .await
    .unwrap();
    let receipt = mined(
        executor
            .submit(
                requested.requestId,
                claim,
                Bytes::from(submission.output.clone()),
                proofs,
            )
            .value(params.executor_bond)
            .send(),
        "submit",
    )
    .await
    .unwrap();
    eprintln!(
        "submitted {n} steps, {} output bytes, {} gas: {:?}",
        submission.output.len(),
        receipt.gas_used,
        submission.run.text
    );

    // Not final inside the window: the consumer has nothing yet, finalize is refused.
    let finalize = executor.finalize(requested.requestId, Bytes::from(submission.output.clone()));
    assert!(finalize.call().await.is_err(), "finalize inside the window");
    assert!(!store.answered(requested.requestId).call().await.unwrap());

    advance_time(chain.provider(), params.challenge_window + 1)
        .await
        .unwrap();
    mined(finalize.send(), "finalize").await.unwrap();
    assert!(store.answered(requested.requestId).call().await.unwrap());
    let delivered = store.answers(requested.requestId).call().await.unwrap();
    assert_eq!(delivered.as_ref(), submission.run.answer.text.as_slice());
    assert!(String::from_utf8_lossy(&delivered).contains("Paris"));
}
