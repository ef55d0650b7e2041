// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

/// @notice The proof ends before a field it must contain.
error ProofTooShort();
/// @notice `remaining` bytes are left after the last field of the proof.
error TrailingProofBytes(uint256 remaining);
/// @notice The pre-state's status byte is none of 0 (running), 1 (trapped), 2 (step ended).
error BadStatus(uint8 status);
/// @notice `memoryLog2` is outside 16..32.
error BadMemorySize(uint8 memoryLog2);
/// @notice The instruction (or the selected table entry) is not at its pc under the program root.
error BadCodeProof();
/// @notice The entry selected by a `BranchTable` is not a `TableEntry`.
error NotATableEntry();
/// @notice The listed operands and rest hash do not hash to the pre-state's value stack.
error BadValueStack();
/// @notice The local's value or path does not match the locals root.
error BadLocalsProof();
/// @notice The listed globals do not hash to the globals hash, or the index is out of range.
error BadGlobals();
/// @notice A memory leaf or its path does not match the memory root.
error BadMemoryProof();
/// @notice The saved frame does not hash to the frames chain.
error BadFrameProof();
/// @notice The opcode is not one the machine implements.
error UnsupportedOpcode(uint16 opcode);
/// @notice An immediate the flattener never produces (local index, locals depth, parameters).
error BadImmediate(uint16 opcode);
