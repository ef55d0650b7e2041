// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

/// @title ModelRegistry
/// @notice Pins everything the protocol needs to know about a deterministic model: the Merkle root
///         of the canonical wasm program, the memory root of the model image, the memory layout the
///         program uses and the limits that bound a request. The oracle derives the initial machine
///         state of every request from an entry here and the request's input alone, so nothing an
///         executor claims about the start of a computation is trusted.
/// @dev Registration is permissionless and content-addressed: the id is the hash of the entry's
///      semantic fields, so the same model cannot be registered twice under two names, and an entry
///      is immutable once written.
contract ModelRegistry {
    /// @notice Where the request input and the answer live in the machine's linear memory.
    /// @dev Every region is a power of two in size and aligned to its size, so that it is exactly
    ///      one subtree of the memory Merkle tree (32-byte leaves) and can be proven with one path.
    struct Layout {
        /// log2 of the linear memory size in bytes; the memory tree has 2^(memoryLog2 - 5) leaves.
        uint8 memoryLog2;
        /// Byte offset of the request-input region (written by the host before the first step).
        uint64 inputOffset;
        /// log2 of the input region's size in bytes.
        uint8 inputLog2;
        /// Byte offset of the output region (token ids and UTF-8 answer, written by the program).
        uint64 outputOffset;
        /// log2 of the output region's size in bytes.
        uint8 outputLog2;
    }

    /// @notice Bounds on a request; they also bound the depth of the dispute game.
    struct Limits {
        /// Maximum tokens in context (prompt plus generated).
        uint32 maxContextTokens;
        /// Maximum layer-trace steps (calls of the program's `step()`) for one request.
        uint64 maxLayerSteps;
        /// Maximum wasm instructions inside one layer-trace step.
        uint64 maxStepInstructions;
    }

    /// @notice What a registrant supplies.
    struct ModelSpec {
        /// Merkle root of the canonical wasm program (code and static data).
        bytes32 programRoot;
        /// Memory Merkle root of the model image (weights, tables, vocabulary) before any input;
        /// the input region is all zeros in it.
        bytes32 imageRoot;
        /// Hash of the program's initial globals (`G0` of the step-boundary hash).
        bytes32 initialGlobalsHash;
        /// keccak256 of the tokenizer description, so clients can check they encode prompts alike.
        bytes32 tokenizerHash;
        Layout layout;
        Limits limits;
        /// Human-readable name, e.g. "SmolLM2-135M-Instruct int8/Q4".
        string name;
    }

    /// @notice A registered model: the spec plus who registered it and when.
    struct Model {
        ModelSpec spec;
        address registrant;
        uint64 registeredAt;
    }

    /// @notice Longest accepted model name in bytes.
    uint256 public constant MAX_NAME_BYTES = 64;
    /// @notice Smallest accepted memory: one 64 KiB wasm page.
    uint8 public constant MIN_MEMORY_LOG2 = 16;
    /// @notice Largest accepted memory: the whole 4 GiB wasm32 address space.
    uint8 public constant MAX_MEMORY_LOG2 = 32;
    /// @notice A region holds at least one 32-byte leaf.
    uint8 public constant MIN_REGION_LOG2 = 5;

    /// @dev id => model. `registrant == address(0)` means absent (msg.sender is never zero).
    mapping(bytes32 => Model) private models;
    /// @dev Registration order, for enumeration.
    bytes32[] private modelIds;

    /// @notice A model was registered under `id`.
    event ModelRegistered(
        bytes32 indexed id,
        address indexed registrant,
        bytes32 programRoot,
        bytes32 imageRoot,
        string name
    );

    /// @notice The program root or the image root is zero.
    error ZeroRoot();
    /// @notice The model name is empty.
    error EmptyName();
    /// @notice The model name is longer than `MAX_NAME_BYTES`.
    error NameTooLong(uint256 length, uint256 maxLength);
    /// @notice The memory size is outside [MIN_MEMORY_LOG2, MAX_MEMORY_LOG2].
    error InvalidMemorySize(uint8 memoryLog2);
    /// @notice A region is smaller than one leaf or larger than the memory.
    error InvalidRegionSize(uint8 regionLog2);
    /// @notice A region's offset is not a multiple of its size.
    error RegionMisaligned(uint64 offset, uint8 regionLog2);
    /// @notice A region ends past the end of memory.
    error RegionOutOfBounds(uint64 offset, uint8 regionLog2, uint8 memoryLog2);
    /// @notice The input and output regions overlap.
    error RegionsOverlap();
    /// @notice One of the limits is zero.
    error ZeroLimit();
    /// @notice A model with the same content is already registered under `id`.
    error ModelAlreadyRegistered(bytes32 id);
    /// @notice No model is registered under `id`.
    error UnknownModel(bytes32 id);

    /// @notice Registers a model and returns its content-derived id.
    function register(ModelSpec calldata spec) external returns (bytes32 id) {
        _validate(spec);
        id = modelIdOf(spec);
        if (models[id].registrant != address(0)) revert ModelAlreadyRegistered(id);
        models[id] =
            Model({spec: spec, registrant: msg.sender, registeredAt: uint64(block.timestamp)});
        modelIds.push(id);
        emit ModelRegistered(id, msg.sender, spec.programRoot, spec.imageRoot, spec.name);
    }

    /// @notice The id a spec registers under: the hash of its semantic fields (the name is not
    ///         part of it, so a model cannot be registered twice under two names).
    function modelIdOf(ModelSpec calldata spec) public pure returns (bytes32) {
        return keccak256(
            abi.encode(
                spec.programRoot,
                spec.imageRoot,
                spec.initialGlobalsHash,
                spec.tokenizerHash,
                spec.layout,
                spec.limits
            )
        );
    }

    /// @notice The model registered under `id`; reverts with `UnknownModel` when there is none.
    function getModel(bytes32 id) external view returns (Model memory) {
        Model storage model = models[id];
        if (model.registrant == address(0)) revert UnknownModel(id);
        return model;
    }

    /// @notice Whether a model is registered under `id`.
    function isRegistered(bytes32 id) external view returns (bool) {
        return models[id].registrant != address(0);
    }

    /// @notice Number of registered models.
    function modelCount() external view returns (uint256) {
        return modelIds.length;
    }

    /// @notice The id of the `index`-th registered model, in registration order.
    function modelIdAt(uint256 index) external view returns (bytes32) {
        return modelIds[index];
    }

    /// @dev Rejects malformed specs with a specific error each.
    function _validate(ModelSpec calldata spec) private pure {
        if (spec.programRoot == bytes32(0) || spec.imageRoot == bytes32(0)) revert ZeroRoot();
        uint256 nameLength = bytes(spec.name).length;
        if (nameLength == 0) revert EmptyName();
        if (nameLength > MAX_NAME_BYTES) revert NameTooLong(nameLength, MAX_NAME_BYTES);

        Layout calldata layout = spec.layout;
        if (layout.memoryLog2 < MIN_MEMORY_LOG2 || layout.memoryLog2 > MAX_MEMORY_LOG2) {
            revert InvalidMemorySize(layout.memoryLog2);
        }
        _validateRegion(layout.inputOffset, layout.inputLog2, layout.memoryLog2);
        _validateRegion(layout.outputOffset, layout.outputLog2, layout.memoryLog2);
        // Aligned power-of-two regions are either disjoint or nested.
        uint256 inputEnd = uint256(layout.inputOffset) + (uint256(1) << layout.inputLog2);
        uint256 outputEnd = uint256(layout.outputOffset) + (uint256(1) << layout.outputLog2);
        if (layout.inputOffset < outputEnd && layout.outputOffset < inputEnd) {
            revert RegionsOverlap();
        }

        Limits calldata limits = spec.limits;
        if (
            limits.maxContextTokens == 0 || limits.maxLayerSteps == 0
                || limits.maxStepInstructions == 0
        ) revert ZeroLimit();
    }

    /// @dev A region must hold at least one leaf, be aligned to its size and fit in memory.
    function _validateRegion(uint64 offset, uint8 regionLog2, uint8 memoryLog2) private pure {
        if (regionLog2 < MIN_REGION_LOG2 || regionLog2 > memoryLog2) {
            revert InvalidRegionSize(regionLog2);
        }
        uint256 size = uint256(1) << regionLog2;
        if (uint256(offset) % size != 0) revert RegionMisaligned(offset, regionLog2);
        if (uint256(offset) + size > (uint256(1) << memoryLog2)) {
            revert RegionOutOfBounds(offset, regionLog2, memoryLog2);
        }
    }
}
