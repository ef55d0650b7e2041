//! `sol!` bindings generated from the forge artifacts (ABI and bytecode).

#![allow(missing_docs)] // generated items; their documentation is the contracts' NatSpec

use alloy::sol;

sol!(
    #[sol(rpc)]
    #[derive(Debug, PartialEq, Eq)]
    ModelRegistry,
    "../solidity/out/ModelRegistry.sol/ModelRegistry.json"
);
