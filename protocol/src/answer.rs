//! An answer as the oracle takes it: the claim, the submission proofs and the commitment that
//! precedes the reveal (`InferenceOracle.commitAnswer`, then `submit` in a later block).

use alloy::primitives::{Address, B256, keccak256};
use alloy::sol_types::SolValue;
use veritrace_contracts::InferenceOracle::{AnswerClaim, SubmissionProofs};

use crate::Hash;
use crate::trace::{LayerTrace, TraceError};

/// The claim and proofs of an answer whose layer trace is `trace`, with the final memory root
/// and the siblings of the input region (in the image) and of the output region (in the final
/// memory).
pub fn claim_and_proofs(
    trace: &LayerTrace,
    final_memory_root: Hash,
    input_siblings: &[Hash],
    output_siblings: &[Hash],
) -> Result<(AnswerClaim, SubmissionProofs), TraceError> {
    let n = trace.step_count();
    let b256s = |v: &[Hash]| v.iter().copied().map(B256::from).collect::<Vec<_>>();
    let claim = AnswerClaim {
        traceRoot: B256::from(trace.root()),
        stepCount: n,
        finalMemoryRoot: B256::from(final_memory_root),
    };
    let proofs = SubmissionProofs {
        inputRegionSiblings: b256s(input_siblings),
        firstLeafSiblings: b256s(&trace.path(0)?),
        lastLeafSiblings: b256s(&trace.path(n)?),
        outputRegionSiblings: b256s(output_siblings),
    };
    Ok((claim, proofs))
}

/// The hash `executor` commits to before it reveals `claim` and `output` for `request_id`
/// (`InferenceOracle.answerCommitment`): `keccak256(abi.encode(executor, requestId, traceRoot,
/// stepCount, finalMemoryRoot, keccak256(output)))`.
pub fn answer_commitment(
    executor: Address,
    request_id: B256,
    claim: &AnswerClaim,
    output: &[u8],
) -> B256 {
    keccak256(
        (
            executor,
            request_id,
            claim.traceRoot,
            claim.stepCount,
            claim.finalMemoryRoot,
            keccak256(output),
        )
            .abi_encode(),
    )
}
