// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {Machine, MachineState, Step, ValueStack} from "./MachineState.sol";
import {Opcodes} from "./Opcodes.sol";

/// @title OspMath
/// @notice Constants, the stack instructions drop and select, and the integer numeric
///         instructions with wasm's exact rules: i32 operands are read from the low 32 bits, i32
///         results are zero-extended, shifts and rotates count modulo the width, division by
///         zero and signed `div_s` overflow trap.
library OspMath {
    using MachineState for ValueStack;

    /// @notice Executes `i32.const`, `i64.const`, `drop`, `select` or a numeric instruction.
    function executeMath(Step memory s, Machine memory pre, uint16 opcode, uint64 imm)
        internal
        pure
    {
        s.post.pc = MachineState.nextPc(pre);
        if (opcode == Opcodes.I32_CONST || opcode == Opcodes.I64_CONST) {
            s.stack.push(imm);
        } else if (opcode == Opcodes.DROP) {
            // `drop` discards its operand.
            // slither-disable-next-line unused-return
            s.stack.pop();
        } else if (opcode == Opcodes.SELECT) {
            executeSelect(s);
        } else if (Opcodes.isUnary(opcode)) {
            s.stack.push(executeUnary(opcode, s.stack.pop()));
        } else {
            uint64 b = s.stack.pop();
            uint64 a = s.stack.pop();
            (uint64 r, bool trap) = (opcode <= 0x4F || (opcode >= 0x6A && opcode <= 0x78))
                ? executeBinary32(opcode, uint32(a), uint32(b))
                : executeBinary64(opcode, a, b);
            if (trap) s.trapped = true;
            else s.stack.push(r);
        }
    }

    /// @notice `select`: pop c, b, a; push c != 0 ? a : b.
    function executeSelect(Step memory s) internal pure {
        uint64 c = s.stack.pop();
        uint64 b = s.stack.pop();
        uint64 a = s.stack.pop();
        s.stack.push(c != 0 ? a : b);
    }

    /// @notice A unary opcode applied to `a`.
    function executeUnary(uint16 op, uint64 a) internal pure returns (uint64) {
        uint32 x = uint32(a);
        if (op == 0x45) return x == 0 ? 1 : 0;
        if (op == 0x50) return a == 0 ? 1 : 0;
        if (op == 0x67) return uint64(clz(x, 32));
        if (op == 0x68) return uint64(ctz(x, 32));
        if (op == 0x69) return uint64(popcnt(x));
        if (op == 0x79) return uint64(clz(a, 64));
        if (op == 0x7A) return uint64(ctz(a, 64));
        if (op == 0x7B) return uint64(popcnt(a));
        if (op == Opcodes.I32_WRAP_I64 || op == Opcodes.I64_EXTEND_I32_U) return x;
        if (op == Opcodes.I64_EXTEND_I32_S) return uint64(int64(int32(x)));
        if (op == 0xC0) return uint32(int32(int8(uint8(x))));
        if (op == 0xC1) return uint32(int32(int16(uint16(x))));
        if (op == 0xC2) return uint64(int64(int8(uint8(a))));
        if (op == 0xC3) return uint64(int64(int16(uint16(a))));
        return uint64(int64(int32(uint32(a)))); // 0xC4 i64.extend32_s
    }

    /// @notice Leading zero bits of `v` as a `width`-bit integer (`width` when v == 0).
    function clz(uint256 v, uint256 width) internal pure returns (uint256 n) {
        n = width;
        while (v != 0) {
            v >>= 1;
            n--;
        }
    }

    /// @notice Trailing zero bits of `v` as a `width`-bit integer (`width` when v == 0).
    function ctz(uint256 v, uint256 width) internal pure returns (uint256 n) {
        if (v == 0) return width;
        while (v & 1 == 0) {
            v >>= 1;
            n++;
        }
    }

    /// @notice Number of one bits of `v`.
    function popcnt(uint256 v) internal pure returns (uint256 n) {
        while (v != 0) {
            v &= v - 1;
            n++;
        }
    }

    /// @notice An i32 binary opcode (compare or arithmetic); returns (result, traps).
    function executeBinary32(uint16 op, uint32 a, uint32 b) internal pure returns (uint64, bool) {
        int32 sa = int32(a);
        int32 sb = int32(b);
        if (op == 0x46) return (a == b ? 1 : 0, false);
        if (op == 0x47) return (a != b ? 1 : 0, false);
        if (op == 0x48) return (sa < sb ? 1 : 0, false);
        if (op == 0x49) return (a < b ? 1 : 0, false);
        if (op == 0x4A) return (sa > sb ? 1 : 0, false);
        if (op == 0x4B) return (a > b ? 1 : 0, false);
        if (op == 0x4C) return (sa <= sb ? 1 : 0, false);
        if (op == 0x4D) return (a <= b ? 1 : 0, false);
        if (op == 0x4E) return (sa >= sb ? 1 : 0, false);
        if (op == 0x4F) return (a >= b ? 1 : 0, false);
        unchecked {
            if (op == 0x6A) return (a + b, false);
            if (op == 0x6B) return (a - b, false);
            if (op == 0x6C) return (a * b, false);
            if (op == 0x6D) {
                if (b == 0 || (sa == type(int32).min && sb == -1)) return (0, true);
                return (uint32(sa / sb), false);
            }
            if (op == 0x6E) return b == 0 ? (uint64(0), true) : (uint64(a / b), false);
            if (op == 0x6F) {
                if (b == 0) return (0, true);
                if (sb == -1) return (0, false); // INT_MIN % -1 == 0
                return (uint32(sa % sb), false);
            }
            if (op == 0x70) return b == 0 ? (uint64(0), true) : (uint64(a % b), false);
            if (op == 0x71) return (a & b, false);
            if (op == 0x72) return (a | b, false);
            if (op == 0x73) return (a ^ b, false);
            uint32 k = b & 31;
            if (op == 0x74) return (a << k, false);
            if (op == 0x75) return (uint32(sa >> k), false);
            if (op == 0x76) return (a >> k, false);
            if (op == 0x77) return ((a << k) | (a >> ((32 - k) & 31)), false);
            return ((a >> k) | (a << ((32 - k) & 31)), false); // 0x78 rotr
        }
    }

    /// @notice An i64 binary opcode (compare or arithmetic); returns (result, traps).
    function executeBinary64(uint16 op, uint64 a, uint64 b) internal pure returns (uint64, bool) {
        int64 sa = int64(a);
        int64 sb = int64(b);
        if (op == 0x51) return (a == b ? 1 : 0, false);
        if (op == 0x52) return (a != b ? 1 : 0, false);
        if (op == 0x53) return (sa < sb ? 1 : 0, false);
        if (op == 0x54) return (a < b ? 1 : 0, false);
        if (op == 0x55) return (sa > sb ? 1 : 0, false);
        if (op == 0x56) return (a > b ? 1 : 0, false);
        if (op == 0x57) return (sa <= sb ? 1 : 0, false);
        if (op == 0x58) return (a <= b ? 1 : 0, false);
        if (op == 0x59) return (sa >= sb ? 1 : 0, false);
        if (op == 0x5A) return (a >= b ? 1 : 0, false);
        unchecked {
            if (op == 0x7C) return (a + b, false);
            if (op == 0x7D) return (a - b, false);
            if (op == 0x7E) return (a * b, false);
            if (op == 0x7F) {
                if (b == 0 || (sa == type(int64).min && sb == -1)) return (0, true);
                return (uint64(sa / sb), false);
            }
            if (op == 0x80) return b == 0 ? (uint64(0), true) : (a / b, false);
            if (op == 0x81) {
                if (b == 0) return (0, true);
                if (sb == -1) return (0, false); // INT_MIN % -1 == 0
                return (uint64(sa % sb), false);
            }
            if (op == 0x82) return b == 0 ? (uint64(0), true) : (a % b, false);
            if (op == 0x83) return (a & b, false);
            if (op == 0x84) return (a | b, false);
            if (op == 0x85) return (a ^ b, false);
            uint64 k = b & 63;
            if (op == 0x86) return (a << k, false);
            if (op == 0x87) return (uint64(sa >> k), false);
            if (op == 0x88) return (a >> k, false);
            if (op == 0x89) return ((a << k) | (a >> ((64 - k) & 63)), false);
            return ((a >> k) | (a << ((64 - k) & 63)), false); // 0x8A rotr
        }
    }
}
