// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {ModelRegistry} from "./ModelRegistry.sol";
import {DisputeClaim, IDisputeGame} from "./interfaces/IDisputeGame.sol";
import {IInferenceConsumer} from "./interfaces/IInferenceConsumer.sol";
import {MachineIO} from "./lib/MachineIO.sol";
import {Merkle} from "./lib/Merkle.sol";

/// @title InferenceOracle
/// @notice Requests, bonded answers, challenges and finality for verifiable inference.
/// @dev Submission: the layer trace's leaves are memory roots (leaf j = the memory after j calls
///      of `step()`); the oracle checks leaf 0 against the image with this request's input,
///      leaf N against the final memory (which must hold the finished output), and that every
///      leaf past N is zero (`NonZeroPadding`), so that an honest executor's trace is unique.
///
///      Copycats: an answer is committed before it is revealed. `commitAnswer` records a hash
///      of the answer bound to the sender (`answerCommitment`), and `submit` takes only an
///      answer committed by the same address in an earlier block. Someone who copies a revealed
///      answer from the mempool can commit it only in the block of the original reveal or later,
///      too late to reveal first; and the earliest committer of a round keeps priority for
///      `REVEAL_PRIORITY_BLOCKS` blocks (`RevealReserved`), so even a delayed reveal is not
///      overtaken by a later commitment. Copying a commitment is useless: it binds its sender.
///
///      Money flow: the requester pays a fee; the executor posts `executorBond` with an answer;
///      each challenger posts `challengerBond` with a challenge naming the answer it disputes.
///      Games over one answer are played one at a time, in challenge order: the first starts at
///      once, each later one is queued and starts when the one before it ends with the executor
///      winning. So an honest executor's clock runs in one game at a time however many
///      challenge it, and every challenger it beats pays its bond. A queue of the liar's own
///      challengers ahead of an honest one can only delay the honest game (each by at most two
///      clock budgets, at the burn of one challenger bond), never skip it: an answer with an
///      open dispute, queued or playing, never finalizes.
///      - A challenger that loses forfeits its bond to the executor, minus `BURN_BPS` burned.
///      - An answer that loses a dispute is rejected; its executor's bond is forfeited: `BURN_BPS`
///        of it is burned, and the rest is split equally among all the disputes open against
///        the answer at that moment, the winning one included (the rounding remainder is burned
///        too). The winner is credited its share and its bond at once; every other dispute open
///        at that moment is still queued (its game never starts) and gets its share and its bond
///        when anyone cancels it as moot (`cancelMootDispute`). A challenger's own second
///        address thus cannot take the whole reward from an honest challenger, and an executor
///        disputing itself pays the burn each time.
///      - An executor address that lost an answer on a request can never answer it again
///        (`ExecutorLostRequest`), and the requester may cancel a request at once after one of
///        its answers was rejected (a request nobody answered: after `requestTimeout`).
///      The burn stays locked here forever. All payouts are credits withdrawn with `withdraw`
///      (pull payments); the only outgoing calls are `withdraw`'s transfer and the gas-capped
///      consumer callback in `finalize`, both after every state change
///      (checks-effects-interactions) and behind a reentrancy guard.
///      Invariant: `address(this).balance == totalOwed + totalBurned`.
contract InferenceOracle is ReentrancyGuard {
    /// @notice Life cycle of a request.
    enum RequestStatus {
        None,
        Open, // waiting for an answer
        Answered, // an answer is in its challenge window or under dispute
        Finalized, // the answer is final and was delivered
        Cancelled // the requester took the fee back
    }

    /// @notice A request for one inference.
    struct Request {
        address requester;
        uint96 fee;
        bytes32 modelId;
        /// Gas the consumer callback gets; `finalize` must provide it.
        uint32 callbackGasLimit;
        /// Root of the input region (seed ‖ body) as the machine sees it.
        bytes32 inputRoot;
        uint64 createdAt;
        RequestStatus status;
        /// Number of answers submitted so far (a rejected answer re-opens the request).
        uint32 answerCount;
    }

    /// @notice The current answer of a request.
    struct Answer {
        address executor;
        uint64 submittedAt;
        uint32 openDisputes;
        bool rejected;
        bytes32 traceRoot;
        uint64 stepCount;
        bytes32 finalMemoryRoot;
        bytes32 outputHash;
        /// Set on rejection: what each dispute open against the answer at that moment gets of
        /// the forfeited executor bond, besides its own bond back.
        uint256 rejectionShare;
        /// The game whose clocks run (zero when none does); the others wait behind it.
        uint256 activeGame;
        /// The game of the latest challenge: the tail of the queue.
        uint256 lastGame;
    }

    /// @notice An executor's commitment to an answer it will reveal with `submit`.
    struct Commitment {
        bytes32 hash;
        uint64 blockNumber;
    }

    /// @notice The earliest commitment of a request's current answering round, which reveals
    ///         before any later one for `REVEAL_PRIORITY_BLOCKS` blocks.
    struct RevealPriority {
        address executor;
        uint64 blockNumber;
    }

    /// @notice A challenge against an answer.
    struct Dispute {
        bytes32 requestId;
        uint32 answerIndex;
        address challenger;
        bool open;
        /// The game queued right after this one over the same answer (zero: none yet).
        uint256 nextGame;
    }

    /// @notice The model registry the requests refer to.
    ModelRegistry public immutable registry;
    /// @notice The dispute game that plays every challenge.
    IDisputeGame public immutable game;
    /// @notice Bond an executor posts with an answer.
    uint256 public immutable executorBond;
    /// @notice Bond a challenger posts with a challenge.
    uint256 public immutable challengerBond;
    /// @notice Seconds after submission during which an answer can be challenged.
    uint64 public immutable challengeWindow;
    /// @notice Seconds after which the requester of an unanswered request may cancel it.
    uint64 public immutable requestTimeout;
    /// @notice Share of a forfeited bond that is burned, in basis points.
    uint16 public constant BURN_BPS = 2000;
    /// @notice Largest callback gas a request may ask for.
    uint32 public constant MAX_CALLBACK_GAS = 5_000_000;
    /// @notice Gas `finalize` keeps for itself after the callback (events, bookkeeping).
    uint256 public constant FINALIZE_RESERVE_GAS = 30_000;
    /// @notice Blocks for which a round's earliest commitment reveals before any later one.
    uint64 public constant REVEAL_PRIORITY_BLOCKS = 64;

    /// @notice Requests by id.
    mapping(bytes32 => Request) public requests;
    /// @dev Answers by (request id, answer index); read them with `getAnswer`.
    mapping(bytes32 => mapping(uint32 => Answer)) private answers;
    /// @notice Disputes by game id.
    mapping(uint256 => Dispute) public disputes;
    /// @notice Withdrawable balances.
    mapping(address => uint256) public credits;
    /// @notice Whether an executor address lost an answer on a request (it may not answer it
    ///         again), by request id and executor.
    mapping(bytes32 => mapping(address => bool)) public lostRequest;
    /// @notice Answer commitments by request id and executor.
    mapping(bytes32 => mapping(address => Commitment)) public commitments;
    /// @notice The earliest commitment of each request's current answering round.
    mapping(bytes32 => RevealPriority) public revealPriority;
    /// @notice Everything the contract owes: fees, bonds and credits.
    uint256 public totalOwed;
    /// @notice Burned value, locked here forever.
    uint256 public totalBurned;
    /// @notice Nonce that makes request ids unique.
    uint256 public requestNonce;

    /// @notice A request was made; `body` is the client-encoded part of the input region.
    event InferenceRequested(
        bytes32 indexed requestId,
        bytes32 indexed modelId,
        address indexed requester,
        uint256 fee,
        bytes32 seed,
        bytes body
    );
    /// @notice `executor` committed to an answer to `requestId`.
    event AnswerCommitted(bytes32 indexed requestId, address indexed executor, bytes32 commitment);
    /// @notice An answer was submitted; `output` is the output region's used prefix.
    event AnswerSubmitted(
        bytes32 indexed requestId,
        uint32 indexed answerIndex,
        address indexed executor,
        AnswerClaim claim,
        bytes output
    );
    /// @notice An answer was challenged; `gameId` is the game in `game` (started at once when no
    ///         other game over the answer is playing, else queued behind the others).
    event AnswerChallenged(
        bytes32 indexed requestId,
        uint32 indexed answerIndex,
        uint256 indexed gameId,
        address challenger
    );
    /// @notice A dispute ended (or was cancelled because its answer was already rejected).
    event DisputeResolved(
        uint256 indexed gameId, bytes32 indexed requestId, bool executorWon, bool moot
    );
    /// @notice An answer lost a dispute; the request is open again.
    event AnswerRejected(bytes32 indexed requestId, uint32 indexed answerIndex);
    /// @notice An answer became final; `delivered` says whether the consumer callback succeeded.
    event RequestFinalized(bytes32 indexed requestId, uint32 answerIndex, bool delivered);
    /// @notice The requester cancelled a request that had no live answer.
    event RequestCancelled(bytes32 indexed requestId);
    /// @notice `account` withdrew `amount`.
    event Withdrawn(address indexed account, uint256 amount);

    /// @notice The model id is not registered.
    error UnknownModel(bytes32 modelId);
    /// @notice The request's input does not fit the model's input region.
    error InputTooLarge(uint256 length, uint256 capacity);
    /// @notice The fee is zero or does not fit 96 bits.
    error BadFee(uint256 fee);
    /// @notice The requested callback gas is above `MAX_CALLBACK_GAS`.
    error CallbackGasTooHigh(uint32 requested, uint32 max);
    /// @notice `finalize` was called with too little gas to give the callback what it asked for.
    error InsufficientGasForCallback(uint256 available, uint256 required);
    /// @notice No request has this id.
    error UnknownRequest(bytes32 requestId);
    /// @notice The request is not in the state the call needs.
    error WrongRequestStatus(bytes32 requestId, RequestStatus status);
    /// @notice The value sent is not the required bond.
    error WrongBond(uint256 sent, uint256 required);
    /// @notice The trace claims more steps than the model allows, or none.
    error BadStepCount(uint64 stepCount, uint64 maxSteps);
    /// @notice An opened trace leaf does not match the trace root.
    error BadTraceProof();
    /// @notice The trace has a non-zero leaf past N: the sibling at `level` of leaf N's path
    ///         covers only leaves past N but is not the root of a tree of zero leaves.
    error NonZeroPadding(uint256 level);
    /// @notice The sender has not committed to an answer to this request.
    error NoCommitment();
    /// @notice The commitment was made in this block: reveal it in a later one.
    error CommitmentTooRecent(uint64 committedAt);
    /// @notice The answer is not the one the sender committed to.
    error WrongCommitment(bytes32 committed, bytes32 revealed);
    /// @notice An earlier commitment by `executor` may reveal first, until block `untilBlock`.
    error RevealReserved(address executor, uint64 untilBlock);
    /// @notice A challenge names answer `requested`, but the current answer is `current`.
    error NotCurrentAnswer(uint32 requested, uint32 current);
    /// @notice `executor` lost an answer on this request and may not answer it again.
    error ExecutorLostRequest(address executor);
    /// @notice The first trace leaf is not the request's initial state.
    error WrongInitialState(bytes32 expected, bytes32 opened);
    /// @notice The input-region path does not lead to the model's image root.
    error BadInputRegionProof();
    /// @notice The output-region path does not lead to the claimed final memory root.
    error BadOutputProof();
    /// @notice The challenge window has closed.
    error ChallengeWindowClosed(uint64 closedAt);
    /// @notice The challenge window is still open, or a dispute is still open.
    error NotFinalizable(bytes32 requestId);
    /// @notice The output bytes do not match the accepted answer.
    error WrongOutput();
    /// @notice Only the dispute game may report results.
    error NotGame(address caller);
    /// @notice No open dispute has this id.
    error UnknownDispute(uint256 gameId);
    /// @notice The dispute's answer is still live: it cannot be cancelled.
    error DisputeNotMoot(uint256 gameId);
    /// @notice Only the requester may cancel an open request, and only after `requestTimeout`
    ///         unless an answer of it was rejected.
    error CannotCancel(bytes32 requestId);
    /// @notice Nothing to withdraw.
    error NothingToWithdraw();
    /// @notice The transfer of a withdrawal failed.
    error TransferFailed();

    constructor(
        ModelRegistry registry_,
        IDisputeGame game_,
        uint256 executorBond_,
        uint256 challengerBond_,
        uint64 challengeWindow_,
        uint64 requestTimeout_
    ) {
        registry = registry_;
        game = game_;
        executorBond = executorBond_;
        challengerBond = challengerBond_;
        challengeWindow = challengeWindow_;
        requestTimeout = requestTimeout_;
    }

    // ---------------------------------------------------------------- requests

    /// @notice Asks model `modelId` for an inference on `body` (sampling params and token ids,
    ///         docs/machine.md), paying `msg.value` as the fee. The machine's seed is derived
    ///         from the request id and `userSeed`. A contract requester is called back with
    ///         `callbackGasLimit` gas (the fee should cover it: whoever finalizes pays it).
    ///         Returns the request id.
    function request(
        bytes32 modelId,
        bytes calldata body,
        bytes32 userSeed,
        uint32 callbackGasLimit
    ) external payable returns (bytes32 requestId) {
        if (msg.value == 0 || msg.value > type(uint96).max) {
            revert BadFee(msg.value);
        }
        if (callbackGasLimit > MAX_CALLBACK_GAS) {
            revert CallbackGasTooHigh(callbackGasLimit, MAX_CALLBACK_GAS);
        }
        if (!registry.isRegistered(modelId)) revert UnknownModel(modelId);
        ModelRegistry.Layout memory layout = registry.getModel(modelId).spec.layout;

        requestId = keccak256(abi.encode(block.chainid, address(this), ++requestNonce));
        bytes32 seed = MachineIO.deriveSeed(requestId, userSeed);
        bytes memory input = MachineIO.encodeInput(seed, body);
        uint256 capacity = uint256(1) << layout.inputLog2;
        if (input.length > capacity) revert InputTooLarge(input.length, capacity);

        requests[requestId] = Request({
            requester: msg.sender,
            fee: uint96(msg.value),
            modelId: modelId,
            callbackGasLimit: callbackGasLimit,
            inputRoot: Merkle.regionRoot(input, layout.inputLog2),
            createdAt: uint64(block.timestamp),
            status: RequestStatus.Open,
            answerCount: 0
        });
        totalOwed += msg.value;
        emit InferenceRequested(requestId, modelId, msg.sender, msg.value, seed, body);
    }

    /// @notice Lets the requester of an open request take the fee back: at once when an answer
    ///         of it was rejected, else when nobody answered within `requestTimeout`.
    function cancel(bytes32 requestId) external {
        Request storage req = _request(requestId);
        if (req.requester != msg.sender || req.status != RequestStatus.Open) {
            revert CannotCancel(requestId);
        }
        // An open request with answers has had its last answer rejected.
        if (req.answerCount == 0 && block.timestamp < req.createdAt + requestTimeout) {
            revert CannotCancel(requestId);
        }
        req.status = RequestStatus.Cancelled;
        _credit(msg.sender, req.fee);
        emit RequestCancelled(requestId);
    }

    // ---------------------------------------------------------------- answers

    /// @notice Proofs that bind a submission to the request and to its output.
    struct SubmissionProofs {
        /// Siblings of the input region inside the image root (bottom-up).
        bytes32[] inputRegionSiblings;
        /// Path of trace leaf 0 (the initial memory root) in the trace tree.
        bytes32[] firstLeafSiblings;
        /// Path of trace leaf N (the final memory root) in the trace tree; its siblings on the
        /// right of the path must be roots of zero leaves (nothing past N).
        bytes32[] lastLeafSiblings;
        /// Siblings of the output region inside the final memory root (bottom-up).
        bytes32[] outputRegionSiblings;
    }

    /// @notice What an executor claims about its run of a request.
    struct AnswerClaim {
        /// Root of the layer trace M_0..M_N (memory roots, zero leaves up to a power of two).
        bytes32 traceRoot;
        /// N, the number of layer steps.
        uint64 stepCount;
        /// Memory root of the final state: trace leaf N.
        bytes32 finalMemoryRoot;
    }

    /// @notice The hash `executor` commits to before it submits `claim` and `output` for
    ///         `requestId`: `keccak256(abi.encode(executor, requestId, traceRoot, stepCount,
    ///         finalMemoryRoot, keccak256(output)))`.
    function answerCommitment(
        address executor,
        bytes32 requestId,
        AnswerClaim calldata claim,
        bytes calldata output
    ) public pure returns (bytes32) {
        return keccak256(
            abi.encode(
                executor,
                requestId,
                claim.traceRoot,
                claim.stepCount,
                claim.finalMemoryRoot,
                keccak256(output)
            )
        );
    }

    /// @notice Commits the caller to an answer to open request `requestId` (`commitment`: see
    ///         `answerCommitment`), to be revealed with `submit` in a later block. A new
    ///         commitment replaces the caller's previous one. The round's earliest commitment
    ///         gets reveal priority for `REVEAL_PRIORITY_BLOCKS` blocks.
    function commitAnswer(bytes32 requestId, bytes32 commitment) external {
        Request storage req = _request(requestId);
        if (req.status != RequestStatus.Open) revert WrongRequestStatus(requestId, req.status);
        if (lostRequest[requestId][msg.sender]) revert ExecutorLostRequest(msg.sender);
        uint64 now_ = uint64(block.number);
        commitments[requestId][msg.sender] = Commitment({hash: commitment, blockNumber: now_});
        RevealPriority storage priority = revealPriority[requestId];
        if (priority.executor == address(0) || now_ > priority.blockNumber + REVEAL_PRIORITY_BLOCKS)
        {
            priority.executor = msg.sender;
            priority.blockNumber = now_;
        }
        emit AnswerCommitted(requestId, msg.sender, commitment);
    }

    /// @notice Answers an open request with a bond of `executorBond`, revealing the answer the
    ///         caller committed to in an earlier block (`commitAnswer`). `output` is the used
    ///         prefix of the output region (header, token ids, text); `proofs` bind the trace's
    ///         first leaf to the request and the output to the trace's last leaf, and show that
    ///         the trace has no leaf past N. An executor that lost an answer on this request
    ///         may not answer it again.
    function submit(
        bytes32 requestId,
        AnswerClaim calldata claim,
        bytes calldata output,
        SubmissionProofs calldata proofs
    ) external payable {
        Request storage req = _request(requestId);
        if (req.status != RequestStatus.Open) revert WrongRequestStatus(requestId, req.status);
        if (msg.value != executorBond) revert WrongBond(msg.value, executorBond);
        if (lostRequest[requestId][msg.sender]) revert ExecutorLostRequest(msg.sender);
        _checkCommitment(requestId, claim, output);
        ModelRegistry.ModelSpec memory spec = registry.getModel(req.modelId).spec;
        if (claim.stepCount == 0 || claim.stepCount > spec.limits.maxLayerSteps) {
            revert BadStepCount(claim.stepCount, spec.limits.maxLayerSteps);
        }
        _checkInitialLeaf(req, spec, claim, proofs);
        _checkFinalLeaf(spec, claim, output, proofs);

        uint32 index = req.answerCount++;
        // A fresh entry: its zero fields (openDisputes, rejected, rejectionShare) are not written.
        Answer storage answer = answers[requestId][index];
        answer.executor = msg.sender;
        answer.submittedAt = uint64(block.timestamp);
        answer.traceRoot = claim.traceRoot;
        answer.stepCount = claim.stepCount;
        answer.finalMemoryRoot = claim.finalMemoryRoot;
        answer.outputHash = keccak256(output);
        req.status = RequestStatus.Answered;
        totalOwed += msg.value;
        emit AnswerSubmitted(requestId, index, msg.sender, claim, output);
    }

    /// @dev The sender committed to this very answer in an earlier block, and no earlier
    ///      commitment of another address still has reveal priority. Consumes the commitment
    ///      and ends the round's priority (a rejection starts a new round).
    function _checkCommitment(bytes32 requestId, AnswerClaim calldata claim, bytes calldata output)
        private
    {
        Commitment memory c = commitments[requestId][msg.sender];
        if (c.blockNumber == 0) revert NoCommitment();
        if (c.blockNumber >= block.number) revert CommitmentTooRecent(c.blockNumber);
        bytes32 revealed = answerCommitment(msg.sender, requestId, claim, output);
        if (c.hash != revealed) revert WrongCommitment(c.hash, revealed);
        RevealPriority memory priority = revealPriority[requestId];
        uint64 until = priority.blockNumber + REVEAL_PRIORITY_BLOCKS;
        if (
            priority.executor != msg.sender && priority.blockNumber < c.blockNumber
                && block.number <= until
        ) revert RevealReserved(priority.executor, until);
        delete commitments[requestId][msg.sender];
        delete revealPriority[requestId];
    }

    /// @dev Leaf N must be the final memory root, which must hold `output`; no leaf past N.
    function _checkFinalLeaf(
        ModelRegistry.ModelSpec memory spec,
        AnswerClaim calldata claim,
        bytes calldata output,
        SubmissionProofs calldata proofs
    ) private pure {
        if (proofs.lastLeafSiblings.length != _traceDepth(claim.stepCount)) revert BadTraceProof();
        _checkZeroPadding(claim.stepCount, proofs.lastLeafSiblings);
        if (
            Merkle.rootFromPath(claim.finalMemoryRoot, claim.stepCount, proofs.lastLeafSiblings)
                != claim.traceRoot
        ) revert BadTraceProof();
        // Called for its checks (a complete, finished output); the values are not needed here.
        // slither-disable-next-line unused-return
        MachineIO.decodeOutput(output);
        bytes32 outputRoot = Merkle.regionRoot(output, spec.layout.outputLog2);
        if (
            Merkle.rootFromRegion(
                    outputRoot,
                    spec.layout.outputOffset,
                    spec.layout.outputLog2,
                    spec.layout.memoryLog2,
                    proofs.outputRegionSiblings
                ) != claim.finalMemoryRoot
        ) revert BadOutputProof();
    }

    /// @dev Every leaf past N is zero, given leaf N's bottom-up path `siblings` (checked against
    ///      the root by the caller): where bit k of N is 0, the sibling at level k is the
    ///      subtree right of the path, which covers only leaves past N, so it must be the root of
    ///      a height-k tree of zero leaves (height 0: `bytes32(0)`).
    function _checkZeroPadding(uint64 lastIndex, bytes32[] calldata siblings) private pure {
        bytes32 zero = bytes32(0); // root of a height-k tree of zero leaves
        for (uint256 k = 0; k < siblings.length; k++) {
            if ((lastIndex >> k) & 1 == 0 && siblings[k] != zero) revert NonZeroPadding(k);
            zero = Merkle.node(zero, zero);
        }
    }

    /// @dev Leaf 0 of the trace must be the memory root of the image with this request's input.
    function _checkInitialLeaf(
        Request storage req,
        ModelRegistry.ModelSpec memory spec,
        AnswerClaim calldata claim,
        SubmissionProofs calldata proofs
    ) private view {
        ModelRegistry.Layout memory layout = spec.layout;
        bytes32 emptyInput = Merkle.zeroRoot(layout.inputLog2 - 5);
        bytes32 image = Merkle.rootFromRegion(
            emptyInput,
            layout.inputOffset,
            layout.inputLog2,
            layout.memoryLog2,
            proofs.inputRegionSiblings
        );
        if (image != spec.imageRoot) revert BadInputRegionProof();
        bytes32 initialMemory = Merkle.rootFromRegion(
            req.inputRoot,
            layout.inputOffset,
            layout.inputLog2,
            layout.memoryLog2,
            proofs.inputRegionSiblings
        );
        if (
            proofs.firstLeafSiblings.length != _traceDepth(claim.stepCount)
                || Merkle.rootFromPath(initialMemory, 0, proofs.firstLeafSiblings)
                    != claim.traceRoot
        ) revert WrongInitialState(initialMemory, claim.traceRoot);
    }

    // ---------------------------------------------------------------- disputes

    /// @notice Challenges answer `answerIndex` of `requestId`, which must be its current answer,
    ///         with a bond of `challengerBond`; creates a game in `game` between the executor and
    ///         the caller. Any number of challengers may each have their own game; they are
    ///         played one at a time, in challenge order (this one starts at once if no other game
    ///         over the answer is playing). Naming the answer keeps a challenge meant for a
    ///         rejected answer off its successor.
    function challenge(bytes32 requestId, uint32 answerIndex)
        external
        payable
        returns (uint256 gameId)
    {
        Request storage req = _request(requestId);
        if (req.status != RequestStatus.Answered) revert WrongRequestStatus(requestId, req.status);
        uint32 index = req.answerCount - 1;
        if (answerIndex != index) revert NotCurrentAnswer(answerIndex, index);
        if (msg.value != challengerBond) revert WrongBond(msg.value, challengerBond);
        Answer storage answer = answers[requestId][index];
        uint64 closesAt = answer.submittedAt + challengeWindow;
        if (block.timestamp >= closesAt) revert ChallengeWindowClosed(closesAt);
        answer.openDisputes++;
        totalOwed += msg.value;
        // `game` is the immutable DisputeGame deployed with this oracle: `createGame` only
        // writes its own storage and calls nothing, so nothing can re-enter before the queue
        // bookkeeping below, which needs the id it returns.
        // slither-disable-next-line reentrancy-no-eth
        gameId = game.createGame(answer.executor, msg.sender, _claimOf(req.modelId, answer));
        disputes[gameId] = Dispute({
            requestId: requestId,
            answerIndex: index,
            challenger: msg.sender,
            open: true,
            nextGame: 0
        });
        bool startNow = answer.activeGame == 0;
        if (startNow) answer.activeGame = gameId;
        else disputes[answer.lastGame].nextGame = gameId;
        answer.lastGame = gameId;
        emit AnswerChallenged(requestId, index, gameId, msg.sender);
        if (startNow) game.startGame(gameId);
    }

    /// @dev The facts a dispute game needs about an answer and its model.
    function _claimOf(bytes32 modelId, Answer storage answer)
        private
        view
        returns (DisputeClaim memory)
    {
        ModelRegistry.ModelSpec memory spec = registry.getModel(modelId).spec;
        return DisputeClaim({
            traceRoot: answer.traceRoot,
            stepCount: answer.stepCount,
            traceDepth: _traceDepth(answer.stepCount),
            programRoot: spec.programRoot,
            memoryLog2: spec.layout.memoryLog2,
            initialGlobalsHash: spec.initialGlobalsHash,
            maxStepInstructions: spec.limits.maxStepInstructions
        });
    }

    /// @notice Called by the game when game `gameId` (its answer's active game: only an active
    ///         game has running clocks, so only it can end) ends. If the executor won, the
    ///         challenger's bond goes to it, minus the burn, and the next queued game over the
    ///         answer starts. If the challenger won, the answer is rejected and its request
    ///         re-opened; the forfeited executor bond, minus the burn, is shared equally by all
    ///         disputes open against the answer (this one included, credited at once; the queued
    ///         ones when they are cancelled as moot, see `cancelMootDispute`).
    function onGameResolved(uint256 gameId, bool executorWon) external {
        if (msg.sender != address(game)) revert NotGame(msg.sender);
        Dispute storage dispute = disputes[gameId];
        if (!dispute.open) revert UnknownDispute(gameId);
        Answer storage answer = answers[dispute.requestId][dispute.answerIndex];
        dispute.open = false;
        if (executorWon) {
            answer.openDisputes--;
            _forfeit(challengerBond, answer.executor);
            uint256 next = dispute.nextGame;
            answer.activeGame = next;
            emit DisputeResolved(gameId, dispute.requestId, true, false);
            if (next != 0) game.startGame(next);
        } else {
            answer.activeGame = 0;
            _reject(dispute, answer);
            _credit(dispute.challenger, answer.rejectionShare + challengerBond);
            emit DisputeResolved(gameId, dispute.requestId, false, false);
        }
    }

    /// @notice Ends a queued game whose answer was rejected by the game before it, paying the
    ///         challenger its share of the forfeited executor bond and its own bond back.
    ///         Anyone may call it.
    function cancelMootDispute(uint256 gameId) external {
        Dispute storage dispute = disputes[gameId];
        if (!dispute.open) revert UnknownDispute(gameId);
        Answer storage answer = answers[dispute.requestId][dispute.answerIndex];
        if (!answer.rejected) revert DisputeNotMoot(gameId);
        dispute.open = false;
        answer.openDisputes--;
        _credit(dispute.challenger, answer.rejectionShare + challengerBond);
        emit DisputeResolved(gameId, dispute.requestId, false, true);
        game.cancelGame(gameId);
    }

    /// @dev Rejects the answer `dispute` won against: re-opens the request, bars its executor
    ///      from the request, and splits the forfeited executor bond (after the burn) among the
    ///      disputes open against it, this one included; the remainder of the division is
    ///      burned. Leaves every share but the winner's owed until its dispute closes.
    function _reject(Dispute storage dispute, Answer storage answer) private {
        uint256 open = answer.openDisputes; // the winner included
        answer.openDisputes = uint32(open - 1);
        answer.rejected = true;
        uint256 pot = executorBond - _burn(executorBond * BURN_BPS / 10_000);
        uint256 share = pot / open;
        // The division's remainder is burned, so the shares and the burn add up to the bond.
        // slither-disable-next-line divide-before-multiply
        _burn(pot - share * open);
        answer.rejectionShare = share;
        lostRequest[dispute.requestId][answer.executor] = true;
        Request storage req = requests[dispute.requestId];
        req.status = RequestStatus.Open;
        req.createdAt = uint64(block.timestamp); // when it re-opened
        emit AnswerRejected(dispute.requestId, dispute.answerIndex);
    }

    // ---------------------------------------------------------------- finality

    /// @notice Makes the current answer of `requestId` final once its window has closed with no
    ///         open dispute: pays the executor its fee and bond and delivers `output`'s text to
    ///         the requester if it is a contract (with the request's `callbackGasLimit`, which
    ///         the caller must provide in full, so that nobody can make the callback fail by
    ///         finalizing with too little gas; a callback that fails anyway does
    ///         not block finality). Anyone may call it with the output from `AnswerSubmitted`.
    function finalize(bytes32 requestId, bytes calldata output) external nonReentrant {
        Request storage req = _request(requestId);
        if (req.status != RequestStatus.Answered) revert WrongRequestStatus(requestId, req.status);
        uint32 index = req.answerCount - 1;
        Answer storage answer = answers[requestId][index];
        if (answer.openDisputes != 0 || block.timestamp < answer.submittedAt + challengeWindow) {
            revert NotFinalizable(requestId);
        }
        if (keccak256(output) != answer.outputHash) revert WrongOutput();
        // The status was checked (finished) by decodeOutput; only the text is delivered.
        // slither-disable-next-line unused-return
        (, uint256 textStart, uint256 textLength) = MachineIO.decodeOutput(output);

        req.status = RequestStatus.Finalized;
        _credit(answer.executor, uint256(req.fee) + executorBond);

        bool delivered = false;
        address consumer = req.requester;
        if (consumer.code.length != 0) {
            uint256 limit = req.callbackGasLimit;
            // EIP-150 forwards at most 63/64 of the remaining gas: demand enough that the
            // callee really gets `limit`.
            uint256 required = limit + limit / 63 + FINALIZE_RESERVE_GAS;
            if (gasleft() < required) revert InsufficientGasForCallback(gasleft(), required);
            try IInferenceConsumer(consumer).onInferenceResult{gas: limit}(
                requestId, output[textStart:textStart + textLength]
            ) {
                delivered = true;
            } catch {}
        }
        emit RequestFinalized(requestId, index, delivered);
    }

    /// @notice Withdraws the caller's credits.
    function withdraw() external nonReentrant {
        uint256 amount = credits[msg.sender];
        if (amount == 0) revert NothingToWithdraw();
        credits[msg.sender] = 0;
        totalOwed -= amount;
        emit Withdrawn(msg.sender, amount);
        (bool ok,) = msg.sender.call{value: amount}("");
        if (!ok) revert TransferFailed();
    }

    // ---------------------------------------------------------------- views and helpers

    /// @notice Request `requestId` (all zero when unknown).
    function getRequest(bytes32 requestId) external view returns (Request memory) {
        return requests[requestId];
    }

    /// @notice Answer `index` of request `requestId`.
    function getAnswer(bytes32 requestId, uint32 index) external view returns (Answer memory) {
        return answers[requestId][index];
    }

    /// @notice The current (latest) answer of a request.
    function currentAnswer(bytes32 requestId) external view returns (Answer memory) {
        Request storage req = _request(requestId);
        if (req.answerCount == 0) revert WrongRequestStatus(requestId, req.status);
        return answers[requestId][req.answerCount - 1];
    }

    /// @notice Depth of the trace tree over N + 1 leaves (at least 1).
    function traceDepth(uint64 stepCount) external pure returns (uint8) {
        return _traceDepth(stepCount);
    }

    function _traceDepth(uint64 stepCount) private pure returns (uint8 depth) {
        depth = 1;
        while ((uint256(1) << depth) < uint256(stepCount) + 1) depth++;
    }

    function _request(bytes32 requestId) private view returns (Request storage req) {
        req = requests[requestId];
        if (req.status == RequestStatus.None) revert UnknownRequest(requestId);
    }

    /// @dev Moves `amount` of already-owed value into `account`'s credits.
    function _credit(address account, uint256 amount) private {
        credits[account] += amount;
    }

    /// @dev A forfeited challenger bond: the executor gets it minus the burn.
    function _forfeit(uint256 bond, address winner) private {
        _credit(winner, bond - _burn(bond * BURN_BPS / 10_000));
    }

    /// @dev Moves `amount` of owed value to the burned, locked value; returns `amount`.
    function _burn(uint256 amount) private returns (uint256) {
        totalBurned += amount;
        totalOwed -= amount;
        return amount;
    }
}
