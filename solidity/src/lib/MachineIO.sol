// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

/// @title MachineIO
/// @notice The byte formats of the machine's input and output regions as the chain sees them
///         (docs/machine.md is the full description).
/// @dev Input region: `seed (32 bytes) ‖ body`, where the oracle derives the seed as
///      `keccak256(abi.encode(requestId, userSeed))` and the body (sampling params and token ids)
///      is encoded by the client and validated by the machine itself.
///      Output region: `uint32le status ‖ uint32le tokenCount ‖ uint32le textLength ‖
///      uint32le reserved ‖ tokenCount × uint32le token id ‖ textLength bytes of UTF-8`; status
///      1 = finished, 2 = refused (invalid input; the text is empty), 0 = still running.
library MachineIO {
    /// @notice Output status of a finished generation.
    uint32 internal constant STATUS_FINISHED = 1;
    /// @notice Output status of a request the machine refused (invalid input).
    uint32 internal constant STATUS_REFUSED = 2;
    /// @notice Size of the output header in bytes.
    uint256 internal constant OUTPUT_HEADER_BYTES = 16;

    /// @notice The output bytes are shorter than their header says, or have trailing bytes.
    error MalformedOutput(uint256 length, uint256 expected);
    /// @notice The output's status says the machine has not finished.
    error OutputNotFinished(uint32 status);

    /// @notice The input region's bytes for a request.
    function encodeInput(bytes32 seed, bytes memory body) internal pure returns (bytes memory) {
        return abi.encodePacked(seed, body);
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
        if (status != STATUS_FINISHED && status != STATUS_REFUSED) {
            revert OutputNotFinished(status);
        }
        uint256 tokenCount = _u32le(output, 4);
        textLength = _u32le(output, 8);
        textStart = OUTPUT_HEADER_BYTES + 4 * tokenCount;
        uint256 expected = textStart + textLength;
        if (output.length != expected) revert MalformedOutput(output.length, expected);
    }

    /// @dev Little-endian uint32 at `offset` (the caller checked the bounds).
    function _u32le(bytes calldata data, uint256 offset) private pure returns (uint32) {
        return uint32(uint8(data[offset])) | (uint32(uint8(data[offset + 1])) << 8)
            | (uint32(uint8(data[offset + 2])) << 16) | (uint32(uint8(data[offset + 3])) << 24);
    }
}
