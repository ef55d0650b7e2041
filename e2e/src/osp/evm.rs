//! The Solidity one-step prover in an in-process EVM (revm, Prague rules): deployed once by a
//! real creation transaction, then called with `executeStep` transactions that are executed but
//! never committed (the prover is stateless, so every call sees the same chain).

use alloy::primitives::{Address, B256, Bytes, TxKind, U256};
use alloy::sol_types::{SolCall, SolInterface};
use revm::context::result::{ExecutionResult, Output};
use revm::context::{Context, TxEnv};
use revm::database::{CacheDB, EmptyDB};
use revm::handler::{MainnetContext, MainnetEvm};
use revm::primitives::hardfork::SpecId;
use revm::{ExecuteCommitEvm, ExecuteEvm, MainBuilder};
use veritrace_contracts::OneStepProver;
use veritrace_contracts::bindings::OneStepProver::OneStepProverErrors;
use veritrace_machine::ProofError;
use veritrace_machine::hash::Hash;

/// Gas limit of every `executeStep` transaction (the proofs the fuzzers make stay far below).
pub const CALL_GAS_LIMIT: u64 = 30_000_000;

/// The sender of every transaction.
const SENDER: Address = Address::repeat_byte(0x5e);

/// Why the in-process EVM could not run a transaction at all (not a revert: those are results).
#[derive(Debug, thiserror::Error)]
pub enum OspEvmError {
    /// revm refused the transaction (validation or database error).
    #[error("revm: {0}")]
    Evm(String),
    /// The creation transaction did not deploy the prover.
    #[error("deploying OneStepProver failed: {0}")]
    Deploy(String),
}

/// What `executeStep` did with a proof.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OspResult {
    /// The proof was accepted: the pre- and post-state hashes.
    Proved {
        /// The pre-state hash the prover read from the proof.
        pre: Hash,
        /// The post-state hash it computed.
        post: Hash,
    },
    /// The prover reverted with one of its custom errors, mapped to the Rust checker's error
    /// (`ProofError::Truncated` carries 0: the Solidity error has no position).
    Rejected(ProofError),
    /// Anything else: a panic, an unknown revert, or a halt (out of gas, invalid opcode).
    Failed(String),
}

impl std::fmt::Display for OspResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Proved { pre, post } => write!(
                f,
                "proved 0x{}.. -> 0x{}..",
                hex::encode(&pre[..8]),
                hex::encode(&post[..8])
            ),
            Self::Rejected(e) => write!(f, "rejected: {e:?}"),
            Self::Failed(why) => write!(f, "failed: {why}"),
        }
    }
}

/// One `executeStep` transaction: its result and its gas.
#[derive(Clone, Debug)]
pub struct OspCall {
    /// The decoded outcome.
    pub result: OspResult,
    /// Gas the transaction is charged: intrinsic (21,000 + calldata, or the EIP-7623 floor)
    /// plus execution.
    pub total_gas: u64,
    /// Gas spent executing the prover's code (total before the floor minus intrinsic).
    pub execution_gas: u64,
    /// Calldata length in bytes.
    pub calldata_bytes: usize,
}

/// The deployed prover in its EVM.
#[derive(Debug)]
pub struct OspEvm {
    evm: MainnetEvm<MainnetContext<CacheDB<EmptyDB>>>,
    prover: Address,
    nonce: u64,
}

/// Intrinsic gas of a call with `data` (EIP-2028 calldata pricing).
pub fn intrinsic_gas(data: &[u8]) -> u64 {
    let zeros = data.iter().filter(|&&b| b == 0).count() as u64;
    21_000 + 4 * zeros + 16 * (data.len() as u64 - zeros)
}

impl OspEvm {
    /// A fresh EVM with OneStepProver deployed from its creation bytecode.
    pub fn new() -> Result<Self, OspEvmError> {
        let ctx: MainnetContext<CacheDB<EmptyDB>> =
            Context::new(CacheDB::new(EmptyDB::default()), SpecId::PRAGUE);
        let mut evm = ctx.build_mainnet();
        let create = TxEnv::builder()
            .caller(SENDER)
            .kind(TxKind::Create)
            .data(OneStepProver::BYTECODE.clone())
            .gas_limit(CALL_GAS_LIMIT)
            .nonce(0)
            .build()
            .map_err(|e| OspEvmError::Evm(format!("{e:?}")))?;
        let prover = match evm
            .transact_commit(create)
            .map_err(|e| OspEvmError::Evm(e.to_string()))?
        {
            ExecutionResult::Success {
                output: Output::Create(_, Some(address)),
                ..
            } => address,
            other => return Err(OspEvmError::Deploy(format!("{other:?}"))),
        };
        Ok(Self {
            evm,
            prover,
            nonce: 1,
        })
    }

    /// The prover's address.
    pub fn prover(&self) -> Address {
        self.prover
    }

    /// Calls `executeStep(programRoot, memoryLog2, proof)` in a transaction (not committed).
    pub fn execute_step(
        &mut self,
        program_root: Hash,
        memory_log2: u8,
        proof: &[u8],
    ) -> Result<OspCall, OspEvmError> {
        let call = OneStepProver::executeStepCall {
            programRoot: B256::from(program_root),
            memoryLog2: memory_log2,
            proof: Bytes::copy_from_slice(proof),
        };
        let data = call.abi_encode();
        let calldata_bytes = data.len();
        let intrinsic = intrinsic_gas(&data);
        let tx = TxEnv::builder()
            .caller(SENDER)
            .kind(TxKind::Call(self.prover))
            .data(data.into())
            .gas_limit(CALL_GAS_LIMIT)
            .nonce(self.nonce)
            .value(U256::ZERO)
            .build()
            .map_err(|e| OspEvmError::Evm(format!("{e:?}")))?;
        let outcome = self
            .evm
            .transact(tx)
            .map_err(|e| OspEvmError::Evm(e.to_string()))?
            .result;
        let (gas, result) = match outcome {
            ExecutionResult::Success { gas, output, .. } => {
                let result = match OneStepProver::executeStepCall::abi_decode_returns(output.data())
                {
                    Ok(r) => OspResult::Proved {
                        pre: r.preHash.0,
                        post: r.postHash.0,
                    },
                    Err(e) => OspResult::Failed(format!("undecodable return data: {e}")),
                };
                (gas, result)
            }
            ExecutionResult::Revert { gas, output, .. } => (gas, decode_revert(&output)),
            ExecutionResult::Halt { gas, reason, .. } => {
                (gas, OspResult::Failed(format!("halt: {reason:?}")))
            }
        };
        Ok(OspCall {
            result,
            total_gas: gas.tx_gas_used(),
            execution_gas: gas.total_gas_spent().saturating_sub(intrinsic),
            calldata_bytes,
        })
    }
}

/// Maps revert data to the checker's error, or `Failed` for anything that is not a custom error
/// of the prover.
fn decode_revert(output: &[u8]) -> OspResult {
    let Ok(error) = OneStepProverErrors::abi_decode(output) else {
        return OspResult::Failed(format!("revert 0x{}", hex::encode(output)));
    };
    let e = match error {
        OneStepProverErrors::ProofTooShort(_) => ProofError::Truncated(0),
        OneStepProverErrors::TrailingProofBytes(t) => {
            ProofError::TrailingBytes(t.remaining.try_into().unwrap_or(usize::MAX))
        }
        OneStepProverErrors::BadStatus(s) => ProofError::BadStatus(s.status),
        OneStepProverErrors::BadMemorySize(s) => ProofError::BadMemorySize(s.memoryLog2),
        OneStepProverErrors::BadCodeProof(_) => ProofError::BadCodeProof,
        OneStepProverErrors::NotATableEntry(_) => ProofError::NotATableEntry,
        OneStepProverErrors::BadValueStack(_) => ProofError::BadValueStack,
        OneStepProverErrors::BadLocalsProof(_) => ProofError::BadLocalsProof,
        OneStepProverErrors::BadGlobals(_) => ProofError::BadGlobals,
        OneStepProverErrors::BadMemoryProof(_) => ProofError::BadMemoryProof,
        OneStepProverErrors::BadFrameProof(_) => ProofError::BadFrame,
        OneStepProverErrors::UnsupportedOpcode(o) => ProofError::UnsupportedOpcode(o.opcode),
        OneStepProverErrors::BadImmediate(o) => ProofError::BadImmediate(o.opcode),
    };
    OspResult::Rejected(e)
}

/// The Rust checker's result in the harness's terms (positions of truncation dropped).
pub fn rust_result(checked: Result<(Hash, Hash), ProofError>) -> OspResult {
    match checked {
        Ok((pre, post)) => OspResult::Proved { pre, post },
        Err(ProofError::Truncated(_)) => OspResult::Rejected(ProofError::Truncated(0)),
        Err(e) => OspResult::Rejected(e),
    }
}

#[cfg(test)]
mod tests {
    use super::{OspEvm, OspResult, intrinsic_gas};
    use veritrace_machine::testkit::programs;
    use veritrace_machine::{Machine, ProofError};

    #[test]
    fn proves_the_first_steps_of_a_program_and_rejects_garbage() {
        let (_, wat, _) = &programs::programs()[0];
        let program = programs::program(wat);
        let mut m = Machine::new(&program, program.initial_memory());
        let mut evm = OspEvm::new().expect("deploy");
        for _ in 0..20 {
            let pre = m.hash();
            let proof = m.prove_step();
            let post = m.hash();
            let call = evm
                .execute_step(program.root(), 16, &proof)
                .expect("transact");
            assert_eq!(call.result, OspResult::Proved { pre, post });
            assert!(call.execution_gas > 1_000 && call.total_gas > call.execution_gas + 21_000);
        }
        let call = evm.execute_step(program.root(), 16, &[0; 3]).expect("tx");
        assert_eq!(call.result, OspResult::Rejected(ProofError::Truncated(0)));
        let call = evm.execute_step(program.root(), 15, &[]).expect("tx");
        assert_eq!(
            call.result,
            OspResult::Rejected(ProofError::BadMemorySize(15))
        );
        assert_eq!(intrinsic_gas(&[0, 1, 0]), 21_000 + 4 + 16 + 4);
    }
}
