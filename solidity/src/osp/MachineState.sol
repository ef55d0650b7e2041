// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {ProofReader} from "./ProofReader.sol";
import {BadValueStack} from "./OspErrors.sol";

/// @notice The machine state of docs/architecture.md ("Machine state and its hash"), field by
///         field in hash order.
struct Machine {
    /// 0 running, 1 trapped, 2 step ended (1 and 2 are final: the machine never changes again).
    uint8 status;
    /// Index of the next instruction.
    uint32 pc;
    /// Value-stack hash chain.
    bytes32 valueStack;
    /// Saved-frames hash chain.
    bytes32 frames;
    /// The current frame's return address.
    uint32 returnPc;
    /// Depth of the current frame's locals tree.
    uint8 localsDepth;
    /// Root of the current frame's locals tree.
    bytes32 localsRoot;
    /// Hash of all globals.
    bytes32 globalsHash;
    /// Root of the memory tree.
    bytes32 memoryRoot;
}

/// @notice The proven top of the value stack: `values[0..height)` (bottom first) above `rest`.
struct ValueStack {
    /// Hash of the stack below the proven operands.
    bytes32 rest;
    /// Operands, bottom first; capacity is the pop count plus one push.
    uint64[] values;
    /// Number of live entries in `values`.
    uint256 height;
}

/// @notice What the class provers work on: the post-state under construction, the proven
///         stack, the proof cursor and the memory size.
struct Step {
    /// Post-state under construction (starts as a copy of the pre-state, pc advanced).
    Machine post;
    /// The proven operands.
    ValueStack stack;
    /// Cursor into the proof bytes.
    uint256 offset;
    /// log2 of the memory size in bytes.
    uint8 memoryLog2;
    /// Set when the instruction traps: the post-state is the pre-state with status 1.
    bool trapped;
}

/// @title MachineState
/// @notice Labelled hashes of the machine ("Machine:", "Value:", "Frame:", "Globals:"), the
///         states at a layer step's two ends, and the proven value stack. Rust twins: the
///         hashes and `StateFields` (`hash`, `boundary`, `step_end`) in machine/src/hash.rs.
library MachineState {
    /// @notice Status of a running machine.
    uint8 internal constant STATUS_RUNNING = 0;
    /// @notice Status of a trapped machine (final).
    uint8 internal constant STATUS_TRAPPED = 1;
    /// @notice Status of a machine whose step has ended: `StepEnd` was executed (final; the
    ///         state after a layer step, whose next step starts from a fresh boundary state).
    uint8 internal constant STATUS_STEP_END = 2;
    /// @notice pc of `Call step`, where a step starts.
    uint32 internal constant STEP_START_PC = 0;
    /// @notice pc of `StepEnd`, where a step's end state stays.
    uint32 internal constant STEP_END_PC = 1;

    /// @notice Whether a machine of this status never changes again (trapped or step ended).
    function isFinal(uint8 status) internal pure returns (bool) {
        return status == STATUS_TRAPPED || status == STATUS_STEP_END;
    }

    /// @notice `keccak256("Machine:" ‖ fields)`, packed, big-endian.
    function hash(Machine memory m) internal pure returns (bytes32) {
        return keccak256(
            abi.encodePacked(
                "Machine:",
                m.status,
                m.pc,
                m.valueStack,
                m.frames,
                m.returnPc,
                m.localsDepth,
                m.localsRoot,
                m.globalsHash,
                m.memoryRoot
            )
        );
    }

    /// @notice The state where a layer step starts from memory root `memoryRoot`
    ///         (docs/architecture.md, "Step-boundary hash"): status 0 at pc 0 (`Call step`),
    ///         empty stacks, no frames, no locals, the program's initial globals.
    function boundary(bytes32 initialGlobalsHash, bytes32 memoryRoot)
        internal
        pure
        returns (Machine memory m)
    {
        m.status = STATUS_RUNNING;
        m.pc = STEP_START_PC;
        m.globalsHash = initialGlobalsHash;
        m.memoryRoot = memoryRoot;
    }

    /// @notice The end state of a layer step that left memory root `memoryRoot`: the boundary
    ///         state with status 2 (step ended) at pc 1 (`StepEnd`), a fixed point.
    function stepEnd(bytes32 initialGlobalsHash, bytes32 memoryRoot)
        internal
        pure
        returns (Machine memory m)
    {
        m = boundary(initialGlobalsHash, memoryRoot);
        m.status = STATUS_STEP_END;
        m.pc = STEP_END_PC;
    }

    /// @notice `hash(boundary(...))`, the machine hash where a step starts (Rust:
    ///         `Program::boundary_hash`). The layer trace commits to memory roots only; levels 1
    ///         and 2 of the dispute game meet at this hash and `stepEndHash`.
    function boundaryHash(bytes32 initialGlobalsHash, bytes32 memoryRoot)
        internal
        pure
        returns (bytes32)
    {
        return hash(boundary(initialGlobalsHash, memoryRoot));
    }

    /// @notice `hash(stepEnd(...))`, the machine hash where a step ends (Rust:
    ///         `Program::step_end_hash`).
    function stepEndHash(bytes32 initialGlobalsHash, bytes32 memoryRoot)
        internal
        pure
        returns (bytes32)
    {
        return hash(stepEnd(initialGlobalsHash, memoryRoot));
    }

    /// @notice Reads the pre-state fields in machine-hash order.
    function read(bytes calldata proof, uint256 offset)
        internal
        pure
        returns (Machine memory m, uint256)
    {
        (m.status, offset) = ProofReader.readU8(proof, offset);
        (m.pc, offset) = ProofReader.readU32(proof, offset);
        (m.valueStack, offset) = ProofReader.readBytes32(proof, offset);
        (m.frames, offset) = ProofReader.readBytes32(proof, offset);
        (m.returnPc, offset) = ProofReader.readU32(proof, offset);
        (m.localsDepth, offset) = ProofReader.readU8(proof, offset);
        (m.localsRoot, offset) = ProofReader.readBytes32(proof, offset);
        (m.globalsHash, offset) = ProofReader.readBytes32(proof, offset);
        (m.memoryRoot, offset) = ProofReader.readBytes32(proof, offset);
        return (m, offset);
    }

    /// @notice `pc + 1`, wrapping like the Rust twin (pc < 2^32 is bounded by the code proof).
    function nextPc(Machine memory m) internal pure returns (uint32) {
        unchecked {
            return m.pc + 1;
        }
    }

    /// @notice A field-by-field copy (memory struct assignment would alias).
    function copy(Machine memory m) internal pure returns (Machine memory c) {
        c.status = m.status;
        c.pc = m.pc;
        c.valueStack = m.valueStack;
        c.frames = m.frames;
        c.returnPc = m.returnPc;
        c.localsDepth = m.localsDepth;
        c.localsRoot = m.localsRoot;
        c.globalsHash = m.globalsHash;
        c.memoryRoot = m.memoryRoot;
    }

    /// @notice The value-stack chain after pushing `v` onto `prev`.
    function valuePush(bytes32 prev, uint64 v) internal pure returns (bytes32) {
        return keccak256(abi.encodePacked("Value:", prev, v));
    }

    /// @notice The frames chain after pushing a saved frame onto `prev`.
    function framePush(bytes32 prev, uint32 returnPc, uint8 localsDepth, bytes32 localsRoot)
        internal
        pure
        returns (bytes32)
    {
        return keccak256(abi.encodePacked("Frame:", prev, returnPc, localsDepth, localsRoot));
    }

    /// @notice `keccak256("Globals:" ‖ uint64 g0 ‖ uint64 g1 ‖ ...)`.
    function globalsHash(uint64[] memory globals) internal pure returns (bytes32) {
        // abi.encodePacked pads array elements to 32 bytes, so pack the uint64s by hand.
        bytes memory packed = new bytes(8 + 8 * globals.length);
        bytes8 label = "Globals:";
        assembly {
            mstore(add(packed, 0x20), label)
        }
        for (uint256 i = 0; i < globals.length; i++) {
            bytes8 g = bytes8(globals[i]);
            uint256 at = 8 + 8 * i;
            assembly {
                // Writes 32 bytes whose first 8 are g; the zero tail is overwritten or unused.
                mstore(add(add(packed, 0x20), at), g)
            }
        }
        return keccak256(packed);
    }

    /// @notice Reads `p` operands (top first) and the rest hash, checks them against
    ///         `valueStack`, and returns the stack with room for one more push.
    function readStack(bytes calldata proof, uint256 offset, uint256 p, bytes32 valueStack)
        internal
        pure
        returns (ValueStack memory s, uint256)
    {
        ProofReader.ensure(proof, offset, p * 8 + 32);
        s.values = new uint64[](p + 3);
        s.height = p;
        for (uint256 i = 0; i < p; i++) {
            (s.values[p - 1 - i], offset) = ProofReader.readU64(proof, offset);
        }
        (s.rest, offset) = ProofReader.readBytes32(proof, offset);
        if (stackHash(s) != valueStack) revert BadValueStack();
        return (s, offset);
    }

    /// @notice The chain hash of the proven stack.
    function stackHash(ValueStack memory s) internal pure returns (bytes32 h) {
        h = s.rest;
        for (uint256 i = 0; i < s.height; i++) {
            h = valuePush(h, s.values[i]);
        }
    }

    /// @notice Pops the top operand.
    function pop(ValueStack memory s) internal pure returns (uint64 v) {
        v = s.values[--s.height];
    }

    /// @notice Pushes `v`.
    function push(ValueStack memory s, uint64 v) internal pure {
        s.values[s.height++] = v;
    }

    /// @notice The operand `depth` below the top.
    function peek(ValueStack memory s, uint256 depth) internal pure returns (uint64) {
        return s.values[s.height - 1 - depth];
    }

    /// @notice Removes `drop` values below the top `keep` ones.
    function keepDrop(ValueStack memory s, uint256 keep, uint256 drop) internal pure {
        if (drop == 0) return;
        uint256 base = s.height - keep - drop;
        for (uint256 i = 0; i < keep; i++) {
            s.values[base + i] = s.values[base + drop + i];
        }
        s.height -= drop;
    }
}
