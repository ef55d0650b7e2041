// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

/// @title MachineIO
/// @notice The byte formats of the machine's input and output regions as the chain sees them
///         (docs/machine.md describes every field).
/// @dev Input region: the client's body (magic, prompt length, sampling params, token ids) with
///      bytes [32, 64) replaced by the seed, which the oracle derives as
///      `keccak256(abi.encode(requestId, userSeed))`; the machine validates everything else.
///      Output region, once the machine has finished: `uint32le status ‖ uint32le tokenCount ‖
///      uint32le textLength ‖ 20 zero bytes ‖ textLength bytes of UTF-8`, zeros after (the
///      token ids are in the machine's Tokens region); status 0 = still running, 1-3 = finished
///      (end of sequence, max_tokens, context full), 16 and above = input refused (no text).
library MachineIO {
    /// @notice Size of the output header in bytes.
    uint256 internal constant OUTPUT_HEADER_BYTES = 32;
    /// @notice Where the seed goes in the input region.
    uint256 internal constant SEED_OFFSET = 32;
    /// @notice Smallest body: the 32-byte header and the seed slot.
    uint256 internal constant MIN_BODY_BYTES = 64;

    /// @notice The output bytes are shorter than their header says, or have trailing bytes.
    error MalformedOutput(uint256 length, uint256 expected);
    /// @notice The output's status says the machine has not finished.
    error OutputNotFinished(uint32 status);
    /// @notice The request body is shorter than its header and seed slot.
    error BodyTooShort(uint256 length, uint256 minLength);

    /// @notice The input region's bytes for a request: `body` with the seed in its seed slot.
    function encodeInput(bytes32 seed, bytes calldata body) internal pure returns (bytes memory) {
        if (body.length < MIN_BODY_BYTES) revert BodyTooShort(body.length, MIN_BODY_BYTES);
        return abi.encodePacked(body[:SEED_OFFSET], seed, body[SEED_OFFSET + 32:]);
    }

    /// @notice The derived seed of a request: the requester cannot choose it after seeing the id.
    function deriveSeed(bytes32 requestId, bytes32 userSeed) internal pure returns (bytes32) {
        return keccak256(abi.encode(requestId, userSeed));
    }

    /// @notice Checks that `output` is a complete, finished output region prefix and returns
    ///         its status and the byte range of the text inside it.
    function decodeOutput(bytes calldata output)
        internal
        pure
        returns (uint32 status, uint256 textStart, uint256 textLength)
    {
        if (output.length < OUTPUT_HEADER_BYTES) {
            revert MalformedOutput(output.length, OUTPUT_HEADER_BYTES);
        }
        status = _u32le(output, 0);
        if (status == 0) revert OutputNotFinished(status);
        textLength = _u32le(output, 8);
        textStart = OUTPUT_HEADER_BYTES;
        uint256 expected = textStart + textLength;
        if (output.length != expected) revert MalformedOutput(output.length, expected);
    }

    /// @dev Little-endian uint32 at `offset` (the caller checked the bounds).
    function _u32le(bytes calldata data, uint256 offset) private pure returns (uint32) {
        return uint32(uint8(data[offset])) | (uint32(uint8(data[offset + 1])) << 8)
            | (uint32(uint8(data[offset + 2])) << 16) | (uint32(uint8(data[offset + 3])) << 24);
    }
}
