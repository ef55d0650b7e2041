// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

/// @title Opcodes
/// @notice The flat instruction set (docs/architecture.md, table "Immediates"), named as in
///         machine/src/opcode.rs, and the operand counts the proofs list.
library Opcodes {
    uint16 internal constant UNREACHABLE = 0x0000;
    uint16 internal constant CALL = 0x0010;
    uint16 internal constant DROP = 0x001A;
    uint16 internal constant SELECT = 0x001B;
    uint16 internal constant LOCAL_GET = 0x0020;
    uint16 internal constant LOCAL_SET = 0x0021;
    uint16 internal constant LOCAL_TEE = 0x0022;
    uint16 internal constant GLOBAL_GET = 0x0023;
    uint16 internal constant GLOBAL_SET = 0x0024;
    uint16 internal constant I32_LOAD = 0x0028;
    uint16 internal constant I64_LOAD = 0x0029;
    uint16 internal constant I32_LOAD8_S = 0x002C;
    uint16 internal constant I64_LOAD32_U = 0x0035;
    uint16 internal constant I32_STORE = 0x0036;
    uint16 internal constant I64_STORE = 0x0037;
    uint16 internal constant I32_STORE8 = 0x003A;
    uint16 internal constant I64_STORE32 = 0x003E;
    uint16 internal constant I32_CONST = 0x0041;
    uint16 internal constant I64_CONST = 0x0042;
    uint16 internal constant I32_EQZ = 0x0045;
    uint16 internal constant I64_GE_U = 0x005A;
    uint16 internal constant I32_CLZ = 0x0067;
    uint16 internal constant I64_ROTR = 0x008A;
    uint16 internal constant I32_WRAP_I64 = 0x00A7;
    uint16 internal constant I64_EXTEND_I32_S = 0x00AC;
    uint16 internal constant I64_EXTEND_I32_U = 0x00AD;
    uint16 internal constant I32_EXTEND8_S = 0x00C0;
    uint16 internal constant I64_EXTEND32_S = 0x00C4;
    uint16 internal constant MEMORY_COPY_CHUNK = 0xFC0A;
    uint16 internal constant MEMORY_FILL_CHUNK = 0xFC0B;
    uint16 internal constant JUMP = 0x8000;
    uint16 internal constant JUMP_IF_ZERO = 0x8001;
    uint16 internal constant BRANCH = 0x8002;
    uint16 internal constant BRANCH_IF = 0x8003;
    uint16 internal constant BRANCH_TABLE = 0x8004;
    uint16 internal constant TABLE_ENTRY = 0x8005;
    uint16 internal constant RETURN = 0x8006;
    uint16 internal constant STEP_END = 0x8007;

    /// @notice Whether `op` is one of the integer loads.
    function isLoad(uint16 op) internal pure returns (bool) {
        return op == I32_LOAD || op == I64_LOAD || (op >= I32_LOAD8_S && op <= I64_LOAD32_U);
    }

    /// @notice Whether `op` is one of the integer stores.
    function isStore(uint16 op) internal pure returns (bool) {
        return op == I32_STORE || op == I64_STORE || (op >= I32_STORE8 && op <= I64_STORE32);
    }

    /// @notice Whether `op` is a pure numeric instruction (compare, arithmetic, conversion).
    function isNumeric(uint16 op) internal pure returns (bool) {
        return (op >= I32_EQZ && op <= I64_GE_U) || (op >= I32_CLZ && op <= I64_ROTR)
            || op == I32_WRAP_I64 || op == I64_EXTEND_I32_S || op == I64_EXTEND_I32_U
            || (op >= I32_EXTEND8_S && op <= I64_EXTEND32_S);
    }

    /// @notice Whether a numeric `op` pops one operand (else two).
    function isUnary(uint16 op) internal pure returns (bool) {
        return op == 0x45 || op == 0x50 || (op >= 0x67 && op <= 0x69) || (op >= 0x79 && op <= 0x7B)
            || op == I32_WRAP_I64 || op == I64_EXTEND_I32_S || op == I64_EXTEND_I32_U
            || (op >= I32_EXTEND8_S && op <= I64_EXTEND32_S);
    }

    /// @notice Byte width of a load or store.
    function accessWidth(uint16 op) internal pure returns (uint256) {
        if (op == I32_LOAD || op == I32_STORE || op == 0x34 || op == 0x35 || op == I64_STORE32) {
            return 4;
        }
        if (op == I64_LOAD || op == I64_STORE) return 8;
        if (op == 0x2C || op == 0x2D || op == 0x30 || op == 0x31 || op == 0x3A || op == 0x3C) {
            return 1;
        }
        return 2;
    }
}
