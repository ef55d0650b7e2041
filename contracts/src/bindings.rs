//! `sol!` bindings generated from the forge artifacts (ABI and bytecode).

#![allow(missing_docs)] // generated items; their documentation is the contracts' NatSpec

use alloy::sol;

sol!(
    #[sol(rpc)]
    #[derive(Debug, PartialEq, Eq)]
    ModelRegistry,
    "../solidity/out/ModelRegistry.sol/ModelRegistry.json"
);

sol!(
    #[sol(rpc)]
    #[derive(Debug, PartialEq, Eq)]
    InferenceOracle,
    "../solidity/out/InferenceOracle.sol/InferenceOracle.json"
);

sol!(
    #[sol(rpc)]
    #[derive(Debug, PartialEq, Eq)]
    DisputeGame,
    "../solidity/out/DisputeGame.sol/DisputeGame.json"
);

sol!(
    #[sol(rpc)]
    #[derive(Debug, PartialEq, Eq)]
    AnswerStore,
    "../solidity/out/AnswerStore.sol/AnswerStore.json"
);

sol!(
    #[sol(rpc)]
    #[derive(Debug, PartialEq, Eq)]
    OneStepProver,
    "../solidity/out/OneStepProver.sol/OneStepProver.json"
);
