//! The moves of the dispute game at all three levels (trace bisection, dissection inside the
//! disputed step, the one-step proof), decided from a party's own view of the run: pure logic,
//! the chain glue lives in `veritrace-node`. Mirrors the phases of `solidity/src/DisputeGame.sol`.

use crate::{
    Hash,
    dissection::{dissection_points, pick_interval, pick_trace_child, reveal_levels},
    trace::{LayerTrace, TraceError},
};

/// Which side of a game a party plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Role {
    /// Defends an answer.
    Executor,
    /// Attacks an answer.
    Challenger,
}

/// What one party knows about its own run of a request.
pub trait TraceSource {
    /// The layer trace this party committed to (executor) or computed (challenger).
    fn layer_trace(&self) -> &LayerTrace;
    /// Instructions executed by layer step `step` (1-based: from leaf `step-1` to leaf `step`).
    fn instruction_count(&self, step: u64) -> Result<u64, SourceError>;
    /// Machine hash after `instruction` instructions of layer step `step`.
    fn machine_hash(&self, step: u64, instruction: u64) -> Result<Hash, SourceError>;
    /// The one-step proof of instruction `instruction` of layer step `step`.
    fn one_step_proof(&self, step: u64, instruction: u64) -> Result<Vec<u8>, SourceError>;
}

impl<T: TraceSource + ?Sized> TraceSource for std::sync::Arc<T> {
    fn layer_trace(&self) -> &LayerTrace {
        (**self).layer_trace()
    }

    fn instruction_count(&self, step: u64) -> Result<u64, SourceError> {
        (**self).instruction_count(step)
    }

    fn machine_hash(&self, step: u64, instruction: u64) -> Result<Hash, SourceError> {
        (**self).machine_hash(step, instruction)
    }

    fn one_step_proof(&self, step: u64, instruction: u64) -> Result<Vec<u8>, SourceError> {
        (**self).one_step_proof(step, instruction)
    }
}

/// Why a trace source cannot answer.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The layer trace has no such leaf or node.
    #[error(transparent)]
    Trace(#[from] TraceError),
    /// The step is not one of `1..=N`.
    #[error("step {step} is outside the trace's steps 1..={step_count}")]
    StepOutOfRange {
        /// The step asked for.
        step: u64,
        /// N, the trace's number of steps.
        step_count: u64,
    },
    /// Re-executing the step failed.
    #[error("cannot re-execute step {step}: {reason}")]
    Execution {
        /// The layer step.
        step: u64,
        /// What went wrong.
        reason: String,
    },
}

/// The phase of a game, as `DisputeGame.Phase` numbers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Executor reveals the children of the current trace node.
    TraceReveal,
    /// Challenger picks a revealed child.
    TracePick,
    /// Executor opens the start of the disputed step.
    StepOpen,
    /// Executor posts interior hashes.
    Dissect,
    /// Challenger picks a sub-interval.
    DissectPick,
    /// Anyone proves the single disputed instruction.
    OneStepProof,
    /// Waiting behind the other games over the same answer: no clock runs, nobody moves.
    Queued,
    /// The game is over (resolved or cancelled).
    Over,
}

impl Phase {
    /// The phase for the contract's enum value.
    pub fn from_abi(value: u8) -> Option<Self> {
        Some(match value {
            1 => Self::TraceReveal,
            2 => Self::TracePick,
            3 => Self::StepOpen,
            4 => Self::Dissect,
            5 => Self::DissectPick,
            6 => Self::OneStepProof,
            7 | 8 => Self::Over,
            9 => Self::Queued,
            _ => return None,
        })
    }
}

/// The fields of an on-chain game that the moves depend on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GameView {
    /// Current phase.
    pub phase: Phase,
    /// N of the disputed answer.
    pub step_count: u64,
    /// Level 1: index of the current node at its height (at height 0: the disputed leaf j).
    pub node_index: u64,
    /// Level 1: height of the current node.
    pub node_height: u8,
    /// Level 2: the interval of instruction positions.
    pub lo: u64,
    /// Level 2: end of the interval.
    pub hi: u64,
    /// Level 2: the agreed machine hash at `lo`.
    pub lo_hash: Hash,
    /// Level 2: the executor's machine hash at `hi`.
    pub hi_hash: Hash,
    /// Level 3: the program the one-step proof is checked against.
    pub program_root: Hash,
    /// Level 3: memory size of the machine, log2 bytes.
    pub memory_log2: u8,
}

impl GameView {
    /// Whether the game is over.
    pub fn is_over(&self) -> bool {
        self.phase == Phase::Over
    }

    /// Whether the game waits behind other games over the same answer (no clock runs).
    pub fn is_queued(&self) -> bool {
        self.phase == Phase::Queued
    }

    /// Whether the executor is to move (the challenger otherwise, including the proof phase).
    pub fn executor_to_move(&self) -> bool {
        matches!(
            self.phase,
            Phase::TraceReveal | Phase::StepOpen | Phase::Dissect
        )
    }

    /// Whether `role` is to move (nobody is, in a game that is over or queued).
    pub fn is_turn_of(&self, role: Role) -> bool {
        !self.is_over() && !self.is_queued() && self.executor_to_move() == (role == Role::Executor)
    }
}

/// A transaction one party sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Move {
    /// `revealTrace(nodes)`.
    RevealTrace(Vec<Hash>),
    /// `pickTrace(nodes, index)`.
    PickTrace(Vec<Hash>, usize),
    /// `openStep(startLeaf, siblings, instructionCount, hashes)`.
    OpenStep {
        /// Leaf j-1.
        start_leaf: Hash,
        /// Its path in the trace tree.
        siblings: Vec<Hash>,
        /// Instructions of step j.
        instruction_count: u64,
        /// Hashes at the first dissection's points.
        hashes: Vec<Hash>,
    },
    /// `dissect(hashes)`.
    Dissect(Vec<Hash>),
    /// `pickInterval(hashes, index)`.
    PickInterval(Vec<Hash>, usize),
    /// `proveStep(proof)`.
    ProveStep(Vec<u8>),
}

/// Why no move can be made.
#[derive(Debug, thiserror::Error)]
pub enum MoveError {
    /// The source could not answer.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// The challenger's view agrees with every revealed child: it should not have challenged.
    #[error("no revealed child differs from our trace at node {node_index} (height {height})")]
    NothingToDispute {
        /// The node.
        node_index: u64,
        /// Its height.
        height: u8,
    },
    /// The party's own one-step proof does not verify (its machine and the prover disagree).
    #[error("our own one-step proof does not verify: {0}")]
    OwnProofInvalid(veritrace_machine::ProofError),
}

/// The move `role` makes now in `game`, from its `source` (`theirs`: the executor's last posted
/// hashes, for the challenger's picks): one decision for all three levels. At the one-step
/// proof either party may prove, but only when the proof makes it win: a losing party lets its
/// clock run out rather than pay for its loss.
pub fn decide(
    role: Role,
    game: &GameView,
    theirs: &[Hash],
    source: &(impl TraceSource + ?Sized),
) -> Result<Option<Move>, MoveError> {
    if game.phase == Phase::OneStepProof {
        return prove_if_winning(role, game, source);
    }
    if !game.is_turn_of(role) {
        return Ok(None);
    }
    match role {
        Role::Executor => executor_move(game, source),
        Role::Challenger => challenger_move(game, theirs, source),
    }
}

/// Level 3: the one-step proof from the agreed state at `lo`, sent only if its post-state makes
/// `role` win (the executor's hash at `hi` for the executor, any other for the challenger).
fn prove_if_winning(
    role: Role,
    game: &GameView,
    source: &(impl TraceSource + ?Sized),
) -> Result<Option<Move>, MoveError> {
    let proof = source.one_step_proof(game.node_index, game.lo)?;
    let (pre, post) = veritrace_machine::verify_step(game.program_root, game.memory_log2, &proof)
        .map_err(MoveError::OwnProofInvalid)?;
    if pre != game.lo_hash {
        // Our state at `lo` is not the agreed one (we lied about it): nothing to prove.
        tracing::warn!(
            ours = %hex::encode(pre),
            agreed = %hex::encode(game.lo_hash),
            "our one-step proof does not start from the agreed state"
        );
        return Ok(None);
    }
    let executor_wins = post == game.hi_hash;
    Ok((executor_wins == (role == Role::Executor)).then_some(Move::ProveStep(proof)))
}

/// The executor's move in `game`, or `None` when it is not the executor's turn.
pub fn executor_move(
    game: &GameView,
    source: &(impl TraceSource + ?Sized),
) -> Result<Option<Move>, MoveError> {
    let trace = source.layer_trace();
    Ok(Some(match game.phase {
        Phase::TraceReveal => Move::RevealTrace(
            trace
                .descendants(
                    game.node_index,
                    game.node_height,
                    reveal_levels(game.node_height),
                )
                .map_err(SourceError::from)?,
        ),
        Phase::StepOpen => {
            let step = game.node_index;
            let count = source.instruction_count(step)?;
            Move::OpenStep {
                start_leaf: trace.leaf(step - 1).map_err(SourceError::from)?,
                siblings: trace.path(step - 1).map_err(SourceError::from)?,
                instruction_count: count,
                hashes: hashes_at(source, step, &dissection_points(0, count))?,
            }
        }
        Phase::Dissect => Move::Dissect(hashes_at(
            source,
            game.node_index,
            &dissection_points(game.lo, game.hi),
        )?),
        _ => return Ok(None),
    }))
}

/// The challenger's move in `game` given what the executor revealed or posted last
/// (`theirs`), or `None` when it is not the challenger's turn.
pub fn challenger_move(
    game: &GameView,
    theirs: &[Hash],
    source: &(impl TraceSource + ?Sized),
) -> Result<Option<Move>, MoveError> {
    Ok(Some(match game.phase {
        Phase::TracePick => {
            let levels = reveal_levels(game.node_height);
            let expected = source
                .layer_trace()
                .expectation(game.step_count)
                .descendants(game.node_index, game.node_height, levels)
                .map_err(SourceError::from)?;
            let pick = pick_trace_child(
                theirs,
                &expected,
                game.node_index,
                game.node_height,
                game.step_count,
            )
            .ok_or(MoveError::NothingToDispute {
                node_index: game.node_index,
                height: game.node_height,
            })?;
            Move::PickTrace(theirs.to_vec(), pick)
        }
        Phase::DissectPick => {
            let mine = hashes_at(
                source,
                game.node_index,
                &dissection_points(game.lo, game.hi),
            )?;
            Move::PickInterval(theirs.to_vec(), pick_interval(theirs, &mine))
        }
        Phase::OneStepProof => Move::ProveStep(source.one_step_proof(game.node_index, game.lo)?),
        _ => return Ok(None),
    }))
}

fn hashes_at(
    source: &(impl TraceSource + ?Sized),
    step: u64,
    points: &[u64],
) -> Result<Vec<Hash>, SourceError> {
    points
        .iter()
        .map(|&p| source.machine_hash(step, p))
        .collect()
}
