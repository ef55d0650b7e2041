// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {Vm, console} from "forge-std/Test.sol";
import {OneStepProver} from "../../src/osp/OneStepProver.sol";
import {StepVector, StepVectorFiles} from "./StepVectors.sol";

/// @notice Replays the step vectors the Rust interpreter writes to test/vectors/*.json and
///         checks that single-byte mutations of their proofs never yield the honest pair.
contract VectorsTest is StepVectorFiles {
    OneStepProver internal prover;

    function setUp() public {
        prover = new OneStepProver();
    }

    /// @dev Every `.json` file in DIR; the vectors are committed, so none is a failure.
    function vectorFiles() internal view returns (string[] memory files, uint256 n) {
        Vm.DirEntry[] memory entries = vm.readDir(DIR);
        files = new string[](entries.length);
        for (uint256 i = 0; i < entries.length; i++) {
            bytes memory p = bytes(entries[i].path);
            if (
                !entries[i].isDir && p.length > 5 && p[p.length - 5] == "."
                    && p[p.length - 4] == "j" && p[p.length - 3] == "s" && p[p.length - 2] == "o"
                    && p[p.length - 1] == "n"
            ) files[n++] = entries[i].path;
        }
    }

    function test_replayVectors() public view {
        (string[] memory files, uint256 n) = vectorFiles();
        assertGt(n, 0, "no vector file in test/vectors (run cargo test -p veritrace-machine)");
        uint256 total;
        for (uint256 f = 0; f < n; f++) {
            StepVector[] memory vs = load(files[f]);
            for (uint256 i = 0; i < vs.length; i++) {
                StepVector memory v = vs[i];
                (bytes32 pre, bytes32 post) =
                    prover.executeStep(v.programRoot, uint8(v.memoryLog2), v.proof);
                assertEq(pre, v.preHash, string.concat(v.name, ": preHash"));
                assertEq(post, v.postHash, string.concat(v.name, ": postHash"));
            }
            console.log("replayed %d vectors from %s", vs.length, files[f]);
            total += vs.length;
        }
        assertGt(total, 0, "vector files hold no vector");
        console.log("replayed %d vectors in %d files: all match", total, n);
    }

    /// @notice Flipping any single byte of a valid proof must revert or change the pre or post
    ///         hash: never the honest pair. Runs over the first vectors of every file.
    function test_mutateVectorProofs() public view {
        (string[] memory files, uint256 n) = vectorFiles();
        assertGt(n, 0, "no vector file in test/vectors");
        uint256 mutated;
        uint256 reverted;
        for (uint256 f = 0; f < n; f++) {
            StepVector[] memory vs = load(files[f]);
            uint256 limit = vs.length < 6 ? vs.length : 6;
            for (uint256 i = 0; i < limit; i++) {
                StepVector memory v = vs[i];
                bytes memory proof = v.proof;
                for (uint256 j = 0; j < proof.length; j++) {
                    proof[j] = proof[j] ^ 0x01;
                    try prover.executeStep(v.programRoot, uint8(v.memoryLog2), proof) returns (
                        bytes32 pre, bytes32 post
                    ) {
                        assertTrue(
                            pre != v.preHash || post != v.postHash,
                            string.concat(v.name, ": mutation kept the honest pair")
                        );
                    } catch {
                        reverted++;
                    }
                    proof[j] = proof[j] ^ 0x01;
                    mutated++;
                }
            }
        }
        console.log(
            "mutated %d proof bytes, %d reverted, none gave the honest pair", mutated, reverted
        );
    }
}
