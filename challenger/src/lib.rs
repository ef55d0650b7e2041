//! The watchtower of veritrace: follows submitted answers for the models it serves, re-runs
//! each with a fast backend, and on a mismatch confirms its own run with the canonical wasm
//! program before it bonds a challenge; then plays the game to the end on its own. Answers are
//! verified earliest deadline first (every answer has the same window, so: in the order they
//! were submitted), by `verifiers` parallel workers, through a bounded queue; a clear warning is
//! logged when the queue is full or an answer's challenge window would close before its turn
//! comes. A verification's result is recorded only if the request still waits for that very
//! answer (compare-and-set), so a late result never hides a newer answer.

pub mod device_check;
pub mod verify;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use alloy::primitives::{Address, B256, U256};
use alloy::rpc::types::Log;
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use veritrace_contracts::InferenceOracle;
use veritrace_node::chain::driver::{self, Progress, Role};
use veritrace_node::chain::{BlockRef, Chain};
use veritrace_node::config::CommonConfig;
use veritrace_node::events::{decode, sync_events};
use veritrace_node::games::{self, GameOutcome, GameRecord};
use veritrace_node::metrics::Metrics;
use veritrace_node::models::Models;
use veritrace_node::runs::{HeldRuns, SharedSource};
use veritrace_node::service::{self, Round, Shutdown};
use veritrace_node::store::{Batch, Store};
use veritrace_tracer::run_source::BoundaryEdit;
use veritrace_vm::io::input_region;

use verify::{BackendKind, Claim, DeviceKind, own_run};

/// The challenger's configuration file.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ChallengerConfig {
    /// Connection, state, key, models.
    #[serde(flatten)]
    pub common: CommonConfig,
    /// Backend of the re-runs.
    #[serde(default)]
    pub backend: BackendKind,
    /// Device of the candle backend.
    #[serde(default)]
    pub device: DeviceKind,
    /// Confirm a mismatch with the canonical wasm program before challenging.
    #[serde(default = "yes")]
    pub confirm_with_wasm: bool,
    /// Answers that may wait for verification before the challenger reports falling behind.
    #[serde(default = "default_queue")]
    pub queue: usize,
    /// Answers verified at once (each re-run uses the engine's threads; raise it on machines
    /// with cores to spare).
    #[serde(default = "default_verifiers")]
    pub verifiers: usize,
}

fn yes() -> bool {
    true
}

fn default_queue() -> usize {
    16
}

fn default_verifiers() -> usize {
    1
}

/// Where one request's current answer stands for the challenger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Watch {
    /// Requested, not answered yet.
    Requested,
    /// An answer waits for verification.
    Queued {
        /// The answer.
        answer_index: u32,
        /// Its claim: trace root, N, final memory root.
        claim: (B256, u64, B256),
        /// Block of its submission: with one window for all, the earliest block is the
        /// earliest deadline.
        #[serde(default)]
        submitted_block: u64,
    },
    /// Our run agrees with the answer.
    Agreed {
        /// The answer.
        answer_index: u32,
    },
    /// We challenged it.
    Challenged {
        /// The answer.
        answer_index: u32,
        /// Our game.
        game_id: u64,
    },
    /// Our fast run disagreed but the wasm program did not confirm it: no bond risked.
    NotConfirmed {
        /// The answer.
        answer_index: u32,
    },
    /// The answer's window closed (or it was settled) before we could act.
    Missed {
        /// The answer.
        answer_index: u32,
    },
    /// Final or cancelled.
    Done,
}

/// The challenger's record of a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestRecord {
    /// Registered model.
    pub model_id: B256,
    /// The input region the oracle derived.
    pub input: Vec<u8>,
    /// Where its current answer stands.
    pub watch: Watch,
}

#[derive(Debug, Clone)]
struct Job {
    request_id: B256,
    answer_index: u32,
    claim: Claim,
}

type Sources = Arc<Mutex<HeldRuns>>;

/// Everything the verifier task and the game loop share.
#[derive(Clone)]
struct Shared {
    chain: Chain,
    store: Arc<Store>,
    models: Models,
    config: ChallengerConfig,
    /// The edit a lying challenger makes to its own runs (none: an honest one).
    edit: Option<Arc<dyn BoundaryEdit>>,
    sources: Sources,
    in_flight: Arc<Mutex<HashSet<B256>>>,
    bond: U256,
    window: u64,
    /// Seconds the last verification took (own run plus confirmation): the estimate of the next.
    last_verify_secs: Arc<Mutex<f64>>,
}

/// A running challenger.
pub struct Challenger {
    shared: Shared,
    jobs: mpsc::Sender<Job>,
    receiver: Option<mpsc::Receiver<Job>>,
    /// Games whose clock we let run out, reported once.
    out_of_time: HashSet<u64>,
}

impl std::fmt::Debug for Challenger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Challenger")
            .field("me", &self.shared.chain.me)
            .field("backend", &self.shared.config.backend)
            .finish()
    }
}

impl Challenger {
    /// A challenger on `chain` watching `models` with state in `store`.
    pub async fn new(
        chain: Chain,
        store: Store,
        models: Models,
        config: ChallengerConfig,
    ) -> Result<Self> {
        Self::with_edit(chain, store, models, config, None).await
    }

    /// A challenger whose own runs are edited by `edit` at their step boundaries (the lying
    /// challengers of attack tests; a daemon uses [`Challenger::new`]). A lying challenger
    /// never confirms with the wasm program: its lie would not confirm.
    pub async fn with_edit(
        chain: Chain,
        store: Store,
        models: Models,
        config: ChallengerConfig,
        edit: Option<Arc<dyn BoundaryEdit>>,
    ) -> Result<Self> {
        let oracle = chain.oracle();
        let bond = chain
            .read("reading the challenger bond", || async {
                Ok(oracle.challengerBond().call().await?)
            })
            .await?;
        let window = chain
            .read("reading the challenge window", || async {
                Ok(oracle.challengeWindow().call().await?)
            })
            .await?;
        let (jobs, receiver) = mpsc::channel(config.queue.max(1));
        let sources = HeldRuns::new(config.common.held_runs, chain.metrics.runs_held.clone());
        Ok(Self {
            shared: Shared {
                chain,
                store: Arc::new(store),
                models,
                config,
                edit,
                sources: Arc::new(Mutex::new(sources)),
                in_flight: Arc::default(),
                bond,
                window,
                last_verify_secs: Arc::default(),
            },
            jobs,
            receiver: Some(receiver),
            out_of_time: HashSet::new(),
        })
    }

    /// Runs until `shutdown`: the verifier tasks and the event/game loop.
    pub async fn run(mut self, shutdown: Shutdown) {
        let receiver = Arc::new(tokio::sync::Mutex::new(
            self.receiver.take().expect("run once"),
        ));
        // Dropping `run` (a shutdown, or the task being aborted) stops the verifiers too, so
        // that nothing outlives the daemon (the database lock included).
        let verifiers: Vec<_> = (0..self.shared.config.verifiers.max(1))
            .map(|_| {
                AbortOnDrop(tokio::spawn(verifier(
                    self.shared.clone(),
                    receiver.clone(),
                )))
            })
            .collect();
        let (interval, retry) = (
            self.shared.config.common.poll_interval(),
            self.shared.chain.retry,
        );
        service::poll_loop("challenger", interval, retry, shutdown, &mut self).await;
        drop(verifiers);
    }

    /// One round: read new events, queue answers to verify, play open games.
    pub async fn tick(&mut self) -> Result<()> {
        let s = &self.shared;
        let me = s.chain.me;
        let metrics = s.chain.metrics.clone();
        let synced = sync_events(
            &s.chain,
            &s.store,
            s.config.common.start_block,
            s.config.common.confirmations,
            |batch, log| apply_event(batch, log, me, &s.models, &metrics),
        )
        .await?;
        if synced.rewound.is_some() {
            // Answers and games of the lost blocks may differ on the new chain.
            s.sources.lock().expect("lock").retain(|_| false);
            self.out_of_time.clear();
        }
        s.chain.check_own_transactions().await?;
        self.queue_answers()?;
        self.play_games().await?;
        self.let_go_of_finished_runs()
    }

    /// Lets go of the runs of requests with no open game of ours (the challenger holds a run
    /// only for the games it plays: whoever ended them, and however it learned of it).
    fn let_go_of_finished_runs(&self) -> Result<()> {
        let s = &self.shared;
        let disputed = games::disputed_requests(&s.store)?;
        s.sources
            .lock()
            .expect("lock")
            .retain(|id| disputed.contains(id));
        Ok(())
    }

    fn queue_answers(&mut self) -> Result<()> {
        let s = &self.shared;
        let mut in_flight = s.in_flight.lock().expect("lock");
        let mut waiting: Vec<_> = s
            .store
            .requests::<RequestRecord>()?
            .into_iter()
            .filter_map(|(request_id, record)| match record.watch {
                Watch::Queued {
                    answer_index,
                    claim,
                    submitted_block,
                } if !in_flight.contains(&request_id) => {
                    Some((submitted_block, request_id, answer_index, claim))
                }
                _ => None,
            })
            .collect();
        waiting.sort_unstable_by_key(|&(block, request_id, ..)| (block, request_id));
        for (_, request_id, answer_index, claim) in waiting {
            let job = Job {
                request_id,
                answer_index,
                claim: Claim {
                    trace_root: claim.0.0,
                    step_count: claim.1,
                    final_memory_root: claim.2.0,
                },
            };
            match self.jobs.try_send(job) {
                Ok(()) => {
                    in_flight.insert(request_id);
                }
                Err(mpsc::error::TrySendError::Full(_)) => {
                    tracing::warn!(
                        queued = in_flight.len(),
                        "FALLING BEHIND: the verification queue is full; answers wait for a free slot"
                    );
                    break;
                }
                Err(mpsc::error::TrySendError::Closed(_)) => anyhow::bail!("the verifier stopped"),
            }
        }
        s.chain.metrics.queue_depth.set(in_flight.len() as i64);
        Ok(())
    }

    async fn play_games(&mut self) -> Result<()> {
        let s = &self.shared;
        let games = s.store.games::<GameRecord>()?;
        let open = games
            .iter()
            .filter(|(_, g)| g.outcome == GameOutcome::Open)
            .count();
        s.chain.metrics.disputes_open.set(open as i64);
        for (game_id, record) in games {
            if record.outcome != GameOutcome::Open {
                continue;
            }
            let source = s.source_for(record.request_id).await;
            let Some(progress) = driver::advance_or_log(
                &s.chain,
                Role::Challenger,
                game_id,
                record.opened_block,
                source,
            )
            .await
            else {
                continue;
            };
            match progress {
                Progress::Moved { action, gas } => {
                    tracing::info!(game = game_id, %action, gas, "move");
                }
                Progress::Waiting => {}
                Progress::OutOfTime => {
                    if self.out_of_time.insert(game_id) {
                        tracing::error!(game = game_id, request = %record.request_id,
                        "our clock in this game RAN OUT: no move is possible; the other party wins it on time");
                    }
                }
                Progress::Over { won, cancelled } => {
                    let outcome = GameOutcome::of(cancelled, won);
                    tracing::info!(game = game_id, ?outcome, "dispute over");
                    let metrics = &s.chain.metrics;
                    let seen = s.chain.head().await?.block();
                    s.store
                        .write_seen(seen, |b| games::close_game(b, game_id, outcome, metrics))?;
                }
            }
        }
        Ok(())
    }
}

impl Shared {
    /// Our view of a request's run: cached from verification, or recomputed (after a restart).
    async fn source_for(&self, request_id: B256) -> Result<SharedSource> {
        if let Some(source) = self.sources.lock().expect("lock").get(&request_id) {
            return Ok(source);
        }
        let record: RequestRecord = self
            .store
            .request(&request_id)?
            .context("a game over a request we have no record of")?;
        tracing::info!(request = %request_id, "re-running a disputed request (after a restart)");
        let served = self
            .models
            .get(&record.model_id)
            .context("model not served")?
            .clone();
        let (backend, device, edit) = (self.config.backend, self.config.device, self.edit.clone());
        let run = tokio::task::spawn_blocking(move || {
            own_run(served, &record.input, backend, device, edit)
        })
        .await??;
        self.sources
            .lock()
            .expect("lock")
            .insert(request_id, run.source.clone());
        Ok(run.source)
    }

    /// Records the result of verifying `job`, as of the current head: only if the request
    /// still waits for that very answer (a newer answer that arrived meanwhile, or another
    /// answer after a reorg, stays queued).
    async fn set_watch(&self, job: &Job, watch: Watch) -> Result<()> {
        let seen = self.chain.head().await?.block();
        self.store.write_seen(seen, |b| settle_watch(b, job, watch))
    }

    /// Verifies one answer and challenges it if it is wrong.
    async fn verify(&self, job: &Job) -> Result<()> {
        let record: RequestRecord = self
            .store
            .request(&job.request_id)?
            .context("a queued answer without its request")?;
        let answer = self.chain.answer(job.request_id, job.answer_index).await?;
        let closes_at = answer.submittedAt + self.window;
        let now = self.chain.head().await?.timestamp;
        if now >= closes_at || answer.rejected {
            tracing::error!(request = %job.request_id, "MISSED: the answer's challenge window closed (or it was settled) before verification");
            self.chain.metrics.missed.inc();
            return self
                .set_watch(
                    job,
                    Watch::Missed {
                        answer_index: job.answer_index,
                    },
                )
                .await;
        }
        let estimate = *self.last_verify_secs.lock().expect("lock");
        if ((closes_at - now) as f64) < estimate * 1.5 {
            tracing::warn!(request = %job.request_id, window_left = closes_at - now, estimate,
                "FALLING BEHIND its challenge windows: this answer's window may close before its verification ends");
        }
        let started = std::time::Instant::now();
        let served = self
            .models
            .get(&record.model_id)
            .context("model not served")?
            .clone();
        let (backend, device, edit) = (self.config.backend, self.config.device, self.edit.clone());
        let input = record.input.clone();
        let run = {
            let served = served.clone();
            tokio::task::spawn_blocking(move || own_run(served, &input, backend, device, edit))
                .await??
        };
        self.chain.metrics.inference_seconds.observe(run.secs);
        self.chain.metrics.processed.inc();
        let left = closes_at.saturating_sub(self.chain.head().await?.timestamp);
        *self.last_verify_secs.lock().expect("lock") = started.elapsed().as_secs_f64();
        if run.agrees_with(&job.claim) {
            tracing::info!(request = %job.request_id, secs = run.secs, "answer verified: it matches our run");
            return self
                .set_watch(
                    job,
                    Watch::Agreed {
                        answer_index: job.answer_index,
                    },
                )
                .await;
        }
        if !run.can_win(&job.claim) {
            tracing::error!(request = %job.request_id, "the answer differs from our run but has no leaf we could dispute: not bonding a challenge");
            return self
                .set_watch(
                    job,
                    Watch::NotConfirmed {
                        answer_index: job.answer_index,
                    },
                )
                .await;
        }
        self.chain.metrics.mismatches.inc();
        tracing::warn!(request = %job.request_id, detect_secs = run.secs, window_left = left,
            ours = %B256::from(run.submission.trace.root()), claimed = %B256::from(job.claim.trace_root),
            "answer DIFFERS from our run");
        if self.config.confirm_with_wasm && self.edit.is_none() {
            let input = record.input.clone();
            let expected = run.submission.trace.root();
            let (confirmed, secs) = tokio::task::spawn_blocking(move || {
                verify::confirm_with_wasm(&served, &input, &expected)
            })
            .await??;
            self.chain.metrics.confirm_seconds.observe(secs);
            *self.last_verify_secs.lock().expect("lock") = started.elapsed().as_secs_f64();
            if !confirmed {
                tracing::error!(request = %job.request_id, "our fast backend DISAGREES with the canonical wasm program: not challenging");
                return self
                    .set_watch(
                        job,
                        Watch::NotConfirmed {
                            answer_index: job.answer_index,
                        },
                    )
                    .await;
            }
            tracing::info!(request = %job.request_id, secs, "the canonical wasm program confirms our run");
        }
        let oracle = self.chain.oracle();
        let receipt = match self
            .chain
            .send(
                "challenge",
                oracle
                    .challenge(job.request_id, job.answer_index)
                    .value(self.bond)
                    .send(),
            )
            .await
        {
            Ok(receipt) => receipt,
            Err(error) => {
                let answer = self.chain.answer(job.request_id, job.answer_index).await?;
                if answer.rejected || self.chain.head().await?.timestamp >= closes_at {
                    tracing::warn!(request = %job.request_id, "too late to challenge: already rejected or the window closed");
                    return self
                        .set_watch(
                            job,
                            Watch::Missed {
                                answer_index: job.answer_index,
                            },
                        )
                        .await;
                }
                return Err(error);
            }
        };
        let challenged =
            veritrace_node::chain::event::<InferenceOracle::AnswerChallenged>(&receipt)?;
        let mined = BlockRef {
            number: receipt
                .block_number
                .context("a receipt without its block")?,
            hash: receipt.block_hash.context("a receipt without its block")?,
        };
        let game_id = u64::try_from(challenged.gameId).context("game id past u64")?;
        tracing::warn!(request = %job.request_id, game = game_id, gas = receipt.gas_used, "CHALLENGED");
        self.sources
            .lock()
            .expect("lock")
            .insert(job.request_id, run.source);
        self.store.write_seen(mined, |b| {
            settle_watch(
                b,
                job,
                Watch::Challenged {
                    answer_index: job.answer_index,
                    game_id,
                },
            )?;
            b.put_game(
                game_id,
                &GameRecord {
                    request_id: job.request_id,
                    answer_index: job.answer_index,
                    outcome: GameOutcome::Open,
                    opened_block: mined.number,
                },
            )
        })
    }
}

/// Sets the watch of `job`'s request to `watch` if it is still `Queued` for `job`'s answer.
fn settle_watch(batch: &mut Batch<'_>, job: &Job, watch: Watch) -> Result<()> {
    let Some(mut record) = batch.request::<RequestRecord>(&job.request_id)? else {
        return Ok(());
    };
    let verified = (
        B256::from(job.claim.trace_root),
        job.claim.step_count,
        B256::from(job.claim.final_memory_root),
    );
    match record.watch {
        Watch::Queued {
            answer_index,
            claim,
            ..
        } if answer_index == job.answer_index && claim == verified => {
            record.watch = watch;
            batch.put_request(&job.request_id, &record)
        }
        _ => {
            tracing::info!(request = %job.request_id, answer = job.answer_index,
                "the answer verified is no longer the one waiting (a newer answer, or another after a reorg): keeping that one");
            Ok(())
        }
    }
}

/// Aborts its task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Verifies queued answers, one at a time per worker (the CPU is the bottleneck).
async fn verifier(shared: Shared, jobs: Arc<tokio::sync::Mutex<mpsc::Receiver<Job>>>) {
    loop {
        let Some(job) = jobs.lock().await.recv().await else {
            break;
        };
        if let Err(error) = shared.verify(&job).await {
            tracing::warn!(request = %job.request_id, "verification failed, will retry: {error:#}");
        }
        shared
            .in_flight
            .lock()
            .expect("lock")
            .remove(&job.request_id);
    }
}

/// Applies one chain event to the challenger's records.
fn apply_event(
    batch: &mut Batch<'_>,
    log: &Log,
    me: Address,
    models: &Models,
    metrics: &Metrics,
) -> Result<()> {
    use InferenceOracle as O;
    if let Some(e) = decode::<O::InferenceRequested>(log) {
        if !models.contains_key(&e.modelId)
            || batch.request::<RequestRecord>(&e.requestId)?.is_some()
        {
            return Ok(());
        }
        if let Some(input) = input_region(&e.seed, &e.body) {
            batch.put_request(
                &e.requestId,
                &RequestRecord {
                    model_id: e.modelId,
                    input,
                    watch: Watch::Requested,
                },
            )?;
        }
    } else if let Some(e) = decode::<O::AnswerSubmitted>(log) {
        if let Some(mut record) = batch.request::<RequestRecord>(&e.requestId)? {
            metrics.seen.inc();
            record.watch = Watch::Queued {
                answer_index: e.answerIndex,
                claim: (
                    e.claim.traceRoot,
                    e.claim.stepCount,
                    e.claim.finalMemoryRoot,
                ),
                submitted_block: log.block_number.unwrap_or_default(),
            };
            batch.put_request(&e.requestId, &record)?;
        }
    } else if let Some(e) = decode::<O::AnswerChallenged>(log) {
        if e.challenger == me {
            let game_id = games::open_game(batch, &e, log)?;
            // Our own challenge, also when the daemon stopped before it wrote that down: the
            // answer waits for verification no more (verifying it again after a restart would
            // bond a second challenge).
            if let Some(mut record) = batch.request::<RequestRecord>(&e.requestId)?
                && matches!(record.watch, Watch::Queued { answer_index, .. } if answer_index == e.answerIndex)
            {
                record.watch = Watch::Challenged {
                    answer_index: e.answerIndex,
                    game_id,
                };
                batch.put_request(&e.requestId, &record)?;
            }
        }
    } else if let Some(e) = decode::<O::DisputeResolved>(log) {
        games::record_resolution(batch, &e, Role::Challenger, metrics)?;
    } else if let Some(e) = decode::<O::RequestFinalized>(log)
        .map(|e| e.requestId)
        .or_else(|| decode::<O::RequestCancelled>(log).map(|e| e.requestId))
        && let Some(mut record) = batch.request::<RequestRecord>(&e)?
    {
        record.watch = Watch::Done;
        batch.put_request(&e, &record)?;
    }
    Ok(())
}

impl Round for Challenger {
    async fn round(&mut self) -> Result<()> {
        self.tick().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queued(answer_index: u32) -> Watch {
        Watch::Queued {
            answer_index,
            claim: (B256::repeat_byte(answer_index as u8), 3, B256::ZERO),
            submitted_block: 10 + u64::from(answer_index),
        }
    }

    fn job(request_id: B256, answer_index: u32) -> Job {
        Job {
            request_id,
            answer_index,
            claim: Claim {
                trace_root: [answer_index as u8; 32],
                step_count: 3,
                final_memory_root: [0; 32],
            },
        }
    }

    /// Answer 0 is verified while it is rejected and answer 1 arrives: the late result for 0
    /// must not overwrite the queued 1 (which would then never be checked); nor may a result
    /// for another claim under index 1 (the answer a reorg replaced); the result for 1 is
    /// recorded.
    #[test]
    fn a_late_result_never_hides_a_newer_answer() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db.redb")).unwrap();
        let id = B256::repeat_byte(7);
        let record = |watch| RequestRecord {
            model_id: B256::ZERO,
            input: vec![1, 2, 3],
            watch,
        };
        store
            .write(|b| b.put_request(&id, &record(queued(1))))
            .unwrap();
        let missed = Watch::Missed { answer_index: 0 };
        store
            .write(|b| settle_watch(b, &job(id, 0), missed))
            .unwrap();
        let now: RequestRecord = store.request(&id).unwrap().unwrap();
        assert_eq!(now.watch, queued(1), "the newer answer stays queued");

        // After a reorg, answer 1 may be another answer (another claim) under the same index.
        let mut before_the_reorg = job(id, 1);
        before_the_reorg.claim.step_count = 4;
        store
            .write(|b| settle_watch(b, &before_the_reorg, Watch::Agreed { answer_index: 1 }))
            .unwrap();
        let now: RequestRecord = store.request(&id).unwrap().unwrap();
        assert_eq!(now.watch, queued(1), "a result for another claim stays out");

        let agreed = Watch::Agreed { answer_index: 1 };
        store
            .write(|b| settle_watch(b, &job(id, 1), agreed.clone()))
            .unwrap();
        let now: RequestRecord = store.request(&id).unwrap().unwrap();
        assert_eq!(now.watch, agreed);
    }

    /// The challenger bonded a challenge and stopped before it recorded it: the chain's
    /// `AnswerChallenged` event (ours) must take the answer out of the verification queue, or
    /// the restarted challenger verifies it again and bonds a second challenge.
    #[test]
    fn our_own_challenge_event_takes_the_answer_out_of_the_queue() {
        use alloy::sol_types::SolEvent;
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db.redb")).unwrap();
        let (me, other) = (Address::repeat_byte(1), Address::repeat_byte(2));
        let challenge = |request: B256, challenger: Address, game: u64| {
            let event = InferenceOracle::AnswerChallenged {
                requestId: request,
                answerIndex: 1,
                gameId: U256::from(game),
                challenger,
            };
            Log {
                inner: alloy::primitives::Log {
                    address: Address::repeat_byte(9),
                    data: event.encode_log_data(),
                },
                block_number: Some(77),
                ..Log::default()
            }
        };
        let (ours, theirs) = (B256::repeat_byte(7), B256::repeat_byte(8));
        store
            .write(|b| {
                for id in [ours, theirs] {
                    b.put_request(
                        &id,
                        &RequestRecord {
                            model_id: B256::ZERO,
                            input: vec![1],
                            watch: queued(1),
                        },
                    )?;
                }
                Ok(())
            })
            .unwrap();
        let models = Models::default();
        let metrics = Metrics::new("test");
        store
            .write(|b| {
                apply_event(b, &challenge(ours, me, 5), me, &models, &metrics)?;
                apply_event(b, &challenge(theirs, other, 6), me, &models, &metrics)
            })
            .unwrap();
        let watch = |id| store.request::<RequestRecord>(&id).unwrap().unwrap().watch;
        assert_eq!(
            watch(ours),
            Watch::Challenged {
                answer_index: 1,
                game_id: 5
            }
        );
        assert_eq!(
            watch(theirs),
            queued(1),
            "another's challenge leaves ours to decide"
        );
        let game: GameRecord = store.game(5).unwrap().unwrap();
        assert_eq!((game.outcome, game.opened_block), (GameOutcome::Open, 77));
        assert!(store.game::<GameRecord>(6).unwrap().is_none());
    }

    /// Records written before `submitted_block` existed still load (as block 0: first in line).
    #[test]
    fn queued_watches_of_older_databases_still_load() {
        let old = r#"{"Queued":{"answer_index":2,"claim":["0x0000000000000000000000000000000000000000000000000000000000000001",5,"0x0000000000000000000000000000000000000000000000000000000000000002"]}}"#;
        let watch: Watch = serde_json::from_str(old).unwrap();
        assert!(matches!(
            watch,
            Watch::Queued {
                answer_index: 2,
                submitted_block: 0,
                ..
            }
        ));
    }
}
