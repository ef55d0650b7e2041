// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {Test} from "forge-std/Test.sol";

/// @notice One step vector of test/vectors/*.json, written by the Rust interpreter
///         (machine/tests/vectors.rs). Fields in alphabetical order, as `parseJson` decodes
///         objects.
struct StepVector {
    uint256 memoryLog2;
    string name;
    bytes32 postHash;
    bytes32 preHash;
    bytes32 programRoot;
    bytes proof;
}

/// @notice Reads the committed step vectors.
abstract contract StepVectorFiles is Test {
    /// @notice Where the vector files are.
    string internal constant DIR = "./test/vectors";

    /// @notice The vectors of one file.
    function load(string memory file) internal view returns (StepVector[] memory) {
        return abi.decode(vm.parseJson(vm.readFile(file)), (StepVector[]));
    }
}
