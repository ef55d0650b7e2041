// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {Test} from "forge-std/Test.sol";
import {ModelRegistry} from "../src/ModelRegistry.sol";

contract ModelRegistryTest is Test {
    ModelRegistry internal registry;

    event ModelRegistered(
        bytes32 indexed id,
        address indexed registrant,
        bytes32 programRoot,
        bytes32 imageRoot,
        string name
    );

    function setUp() public {
        registry = new ModelRegistry();
    }

    /// A well-formed spec: 256 MiB memory, 64 KiB input region at 0, 64 KiB output region after it.
    function validSpec() internal pure returns (ModelRegistry.ModelSpec memory spec) {
        spec.programRoot = keccak256("program");
        spec.imageRoot = keccak256("image");
        spec.initialGlobalsHash = keccak256("globals");
        spec.tokenizerHash = keccak256("tokenizer");
        spec.layout = ModelRegistry.Layout({
            memoryLog2: 28, inputOffset: 0, inputLog2: 16, outputOffset: 1 << 16, outputLog2: 16
        });
        spec.limits = ModelRegistry.Limits({
            maxContextTokens: 2048, maxLayerSteps: 1 << 20, maxStepInstructions: 1 << 40
        });
        spec.name = "SmolLM2-135M-Instruct";
    }

    function test_RegisterAndReadBack() public {
        ModelRegistry.ModelSpec memory spec = validSpec();
        bytes32 expectedId = registry.modelIdOf(spec);
        vm.warp(1_700_000_000);

        vm.expectEmit(true, true, false, true, address(registry));
        emit ModelRegistered(expectedId, address(this), spec.programRoot, spec.imageRoot, spec.name);
        bytes32 id = registry.register(spec);

        assertEq(id, expectedId);
        assertTrue(registry.isRegistered(id));
        assertEq(registry.modelCount(), 1);
        assertEq(registry.modelIdAt(0), id);

        ModelRegistry.Model memory model = registry.getModel(id);
        assertEq(model.registrant, address(this));
        assertEq(model.registeredAt, 1_700_000_000);
        assertEq(model.spec.programRoot, spec.programRoot);
        assertEq(model.spec.imageRoot, spec.imageRoot);
        assertEq(model.spec.tokenizerHash, spec.tokenizerHash);
        assertEq(model.spec.layout.memoryLog2, 28);
        assertEq(model.spec.layout.outputOffset, 1 << 16);
        assertEq(model.spec.limits.maxContextTokens, 2048);
        assertEq(model.spec.limits.maxStepInstructions, 1 << 40);
        assertEq(model.spec.name, spec.name);
    }

    function test_IdIgnoresNameButCoversContent() public view {
        ModelRegistry.ModelSpec memory a = validSpec();
        ModelRegistry.ModelSpec memory b = validSpec();
        b.name = "another name";
        assertEq(registry.modelIdOf(a), registry.modelIdOf(b));
        b.layout.outputLog2 = 15;
        assertTrue(registry.modelIdOf(a) != registry.modelIdOf(b));
    }

    function test_RevertWhen_Duplicate() public {
        ModelRegistry.ModelSpec memory spec = validSpec();
        bytes32 id = registry.register(spec);
        spec.name = "same content, other name";
        vm.prank(address(0xBEEF));
        vm.expectRevert(abi.encodeWithSelector(ModelRegistry.ModelAlreadyRegistered.selector, id));
        registry.register(spec);
        assertEq(registry.modelCount(), 1);
    }

    function test_RevertWhen_UnknownModel() public {
        bytes32 id = keccak256("nothing");
        assertFalse(registry.isRegistered(id));
        vm.expectRevert(abi.encodeWithSelector(ModelRegistry.UnknownModel.selector, id));
        registry.getModel(id);
    }

    function test_RevertWhen_ZeroRoots() public {
        ModelRegistry.ModelSpec memory spec = validSpec();
        spec.programRoot = 0;
        vm.expectRevert(ModelRegistry.ZeroRoot.selector);
        registry.register(spec);
        spec = validSpec();
        spec.imageRoot = 0;
        vm.expectRevert(ModelRegistry.ZeroRoot.selector);
        registry.register(spec);
    }

    function test_RevertWhen_BadName() public {
        ModelRegistry.ModelSpec memory spec = validSpec();
        spec.name = "";
        vm.expectRevert(ModelRegistry.EmptyName.selector);
        registry.register(spec);
        spec.name = string(new bytes(65));
        vm.expectRevert(abi.encodeWithSelector(ModelRegistry.NameTooLong.selector, 65, 64));
        registry.register(spec);
    }

    function test_RevertWhen_BadMemorySize() public {
        ModelRegistry.ModelSpec memory spec = validSpec();
        spec.layout.memoryLog2 = 15;
        vm.expectRevert(abi.encodeWithSelector(ModelRegistry.InvalidMemorySize.selector, 15));
        registry.register(spec);
        spec.layout.memoryLog2 = 33;
        vm.expectRevert(abi.encodeWithSelector(ModelRegistry.InvalidMemorySize.selector, 33));
        registry.register(spec);
    }

    function test_RevertWhen_BadRegions() public {
        ModelRegistry.ModelSpec memory spec = validSpec();
        spec.layout.inputLog2 = 4;
        vm.expectRevert(abi.encodeWithSelector(ModelRegistry.InvalidRegionSize.selector, 4));
        registry.register(spec);

        spec = validSpec();
        spec.layout.outputOffset = 32;
        vm.expectRevert(abi.encodeWithSelector(ModelRegistry.RegionMisaligned.selector, 32, 16));
        registry.register(spec);

        spec = validSpec();
        spec.layout.outputOffset = uint64(1) << 28;
        vm.expectRevert(
            abi.encodeWithSelector(
                ModelRegistry.RegionOutOfBounds.selector, uint64(1) << 28, 16, 28
            )
        );
        registry.register(spec);

        spec = validSpec();
        spec.layout.outputOffset = 0; // same place as the input region
        vm.expectRevert(ModelRegistry.RegionsOverlap.selector);
        registry.register(spec);

        spec = validSpec();
        spec.layout.inputLog2 = 20; // input [0, 1 MiB) swallows output at 64 KiB
        vm.expectRevert(ModelRegistry.RegionsOverlap.selector);
        registry.register(spec);
    }

    function test_RevertWhen_ZeroLimit() public {
        ModelRegistry.ModelSpec memory spec = validSpec();
        spec.limits.maxLayerSteps = 0;
        vm.expectRevert(ModelRegistry.ZeroLimit.selector);
        registry.register(spec);
    }

    /// Any layout is either accepted (and then its regions are aligned, in bounds and disjoint) or
    /// rejected; an accepted spec reads back exactly.
    function testFuzz_LayoutValidation(
        uint8 memoryLog2,
        uint64 inputOffset,
        uint8 inputLog2,
        uint64 outputOffset,
        uint8 outputLog2
    ) public {
        ModelRegistry.ModelSpec memory spec = validSpec();
        memoryLog2 = uint8(bound(memoryLog2, 14, 34));
        inputLog2 = uint8(bound(inputLog2, 3, 34));
        outputLog2 = uint8(bound(outputLog2, 3, 34));
        // Bias offsets towards aligned, in-range values so both outcomes are exercised.
        inputOffset = uint64(bound(inputOffset, 0, 8)) << (inputLog2 % 32);
        outputOffset = uint64(bound(outputOffset, 0, 8)) << (outputLog2 % 32);
        spec.layout =
            ModelRegistry.Layout(memoryLog2, inputOffset, inputLog2, outputOffset, outputLog2);

        bool valid = _layoutValid(spec.layout);
        bytes32 id;
        try registry.register(spec) returns (bytes32 registered) {
            id = registered;
        } catch {
            assertFalse(valid, "valid layout rejected");
            return;
        }
        assertTrue(valid, "invalid layout accepted");
        ModelRegistry.Model memory model = registry.getModel(id);
        assertEq(model.spec.layout.inputOffset, inputOffset);
        assertEq(model.spec.layout.outputLog2, outputLog2);
    }

    /// Any two specs that differ in a semantic field get different ids; a repeat is refused.
    function testFuzz_ContentAddressing(bytes32 program, bytes32 image, bytes32 otherImage) public {
        vm.assume(program != 0 && image != 0 && otherImage != 0 && image != otherImage);
        ModelRegistry.ModelSpec memory a = validSpec();
        a.programRoot = program;
        a.imageRoot = image;
        ModelRegistry.ModelSpec memory b = validSpec();
        b.programRoot = program;
        b.imageRoot = otherImage;
        bytes32 idA = registry.register(a);
        bytes32 idB = registry.register(b);
        assertTrue(idA != idB);
        vm.expectRevert(abi.encodeWithSelector(ModelRegistry.ModelAlreadyRegistered.selector, idA));
        registry.register(a);
        assertEq(registry.modelCount(), 2);
    }

    /// Reference model of the layout rules, written independently of the contract's code.
    function _layoutValid(ModelRegistry.Layout memory l) internal pure returns (bool) {
        if (l.memoryLog2 < 16 || l.memoryLog2 > 32) return false;
        if (l.inputLog2 < 5 || l.inputLog2 > l.memoryLog2) return false;
        if (l.outputLog2 < 5 || l.outputLog2 > l.memoryLog2) return false;
        uint256 memSize = 2 ** uint256(l.memoryLog2);
        uint256 inSize = 2 ** uint256(l.inputLog2);
        uint256 outSize = 2 ** uint256(l.outputLog2);
        if (l.inputOffset % inSize != 0 || l.outputOffset % outSize != 0) return false;
        if (l.inputOffset + inSize > memSize || l.outputOffset + outSize > memSize) return false;
        bool disjoint =
            l.inputOffset + inSize <= l.outputOffset || l.outputOffset + outSize <= l.inputOffset;
        return disjoint;
    }
}
