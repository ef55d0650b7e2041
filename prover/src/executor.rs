//! The executor daemon: follows requests for the models it serves, runs them on the fast
//! native engine with the layer trace recorded, submits with a bond, defends every dispute to
//! the end (dissection answers, one-step proofs, timeouts), and finalizes its answers when their
//! window closes. Its state lives in the database; the runs behind open disputes are recomputed
//! after a restart (the engine is deterministic), so nothing is lost by a crash.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use alloy::primitives::{B256, Bytes, U256};
use alloy::providers::Provider;
use alloy::rpc::types::Log;
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
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
use veritrace_protocol::answer;
use veritrace_tracer::submission::Submission;
use veritrace_vm::io::input_region;

use crate::runner::{HonestRun, Runner};

/// The executor's configuration file.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ExecutorConfig {
    /// Connection, state, key, models.
    #[serde(flatten)]
    pub common: CommonConfig,
    /// Finalize own answers once their window closes (collects fee and bond).
    #[serde(default = "yes")]
    pub finalize: bool,
    /// Requests paying a smaller fee (wei) are left to others: a flood of 1-wei requests costs
    /// this executor nothing.
    #[serde(default)]
    pub min_fee_wei: u128,
    /// Gas kept in the wallet for every open game and for the answer about to be given, priced
    /// at the current gas price: a request is answered only while the balance covers the bond
    /// plus this reserve for each game the executor may have to play, so that new answers
    /// never leave it without the gas to defend the old ones.
    #[serde(default = "default_game_gas_reserve")]
    pub game_gas_reserve: u64,
    /// Withdraw the oracle's credits (fees and bonds) into the wallet once they reach
    /// `withdraw_at_wei`, so that the wallet paying for gas and bonds is refilled by what it
    /// earns (false: they stay at the oracle).
    #[serde(default = "yes")]
    pub withdraw: bool,
    /// Credits (wei) worth a withdrawal's gas. Default 0.01 ETH.
    #[serde(default = "default_withdraw_at_wei")]
    pub withdraw_at_wei: u128,
}

fn yes() -> bool {
    true
}

/// A full defence, measured at about 1.45 M gas with the submission (docs/architecture.md, "Bond
/// and clock sizing"), with margin.
fn default_game_gas_reserve() -> u64 {
    4_000_000
}

fn default_withdraw_at_wei() -> u128 {
    10_000_000_000_000_000
}

/// Where one request stands for this executor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RequestState {
    /// Ours to answer.
    Pending,
    /// We answered; `output` is what we submitted (finalize needs it).
    Submitted {
        /// Index of our answer.
        answer_index: u32,
        /// The output bytes submitted.
        output: Vec<u8>,
    },
    /// Another executor answered first.
    AnsweredByOther,
    /// Its fee is below our `min_fee_wei`: left to others.
    FeeTooLow,
    /// Our answer lost a dispute.
    Rejected,
    /// Final (by us or by anyone).
    Finalized,
    /// The requester cancelled it.
    Cancelled,
}

/// The executor's record of a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestRecord {
    /// Registered model.
    pub model_id: B256,
    /// The input region the oracle derived.
    pub input: Vec<u8>,
    /// Where it stands.
    pub state: RequestState,
}

/// A running executor.
pub struct Executor {
    chain: Chain,
    store: Store,
    models: Models,
    config: ExecutorConfig,
    runner: Arc<dyn Runner>,
    sources: HeldRuns,
    bond: U256,
    /// Games whose clock we let run out, reported once.
    out_of_time: HashSet<u64>,
}

impl std::fmt::Debug for Executor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Executor")
            .field("me", &self.chain.me)
            .field("models", &self.models.keys().collect::<Vec<_>>())
            .field("runner", &self.runner)
            .finish()
    }
}

impl Executor {
    /// An executor on `chain` serving `models` with state in `store`, running every request
    /// honestly on the fast native engine.
    pub async fn new(
        chain: Chain,
        store: Store,
        models: Models,
        config: ExecutorConfig,
    ) -> Result<Self> {
        Self::with_runner(chain, store, models, config, Arc::new(HonestRun)).await
    }

    /// An executor whose runs are made by `runner` (the dishonest executors of attack tests and
    /// the demo; a daemon uses [`Executor::new`]).
    pub async fn with_runner(
        chain: Chain,
        store: Store,
        models: Models,
        config: ExecutorConfig,
        runner: Arc<dyn Runner>,
    ) -> Result<Self> {
        let bond = chain
            .read("reading the executor bond", || async {
                Ok(chain.oracle().executorBond().call().await?)
            })
            .await?;
        let sources = HeldRuns::new(config.common.held_runs, chain.metrics.runs_held.clone());
        Ok(Self {
            chain,
            store,
            models,
            config,
            runner,
            sources,
            bond,
            out_of_time: HashSet::new(),
        })
    }

    /// Runs until `shutdown`.
    pub async fn run(mut self, shutdown: Shutdown) {
        let (interval, retry) = (self.config.common.poll_interval(), self.chain.retry);
        service::poll_loop("executor", interval, retry, shutdown, &mut self).await;
    }

    /// One round: read new events, play open games, answer at most one pending request (so a
    /// flood of requests never keeps the daemon from its games for more than one inference),
    /// finalize. A failure in one game or one request is logged and retried next round; it
    /// never stops the others.
    pub async fn tick(&mut self) -> Result<()> {
        let me = self.chain.me;
        let models = &self.models;
        let metrics = self.chain.metrics.clone();
        let min_fee = self.config.min_fee_wei;
        let synced = sync_events(
            &self.chain,
            &self.store,
            self.config.common.start_block,
            self.config.common.confirmations,
            |batch, log| apply_event(batch, log, me, models, min_fee, &metrics),
        )
        .await?;
        if synced.rewound.is_some() {
            // Requests and games of the lost blocks may differ on the new chain.
            self.sources.retain(|_| false);
            self.out_of_time.clear();
        }
        self.chain.check_own_transactions().await?;
        let open = self
            .store
            .games::<GameRecord>()?
            .iter()
            .filter(|(_, g)| g.outcome == GameOutcome::Open)
            .count();
        self.chain.metrics.disputes_open.set(open as i64);
        self.let_go_of_finished_runs()?;
        self.play_games().await?;
        if let Err(error) = self.answer_pending(open).await {
            tracing::error!("answering a request failed (retrying next round): {error:#}");
        }
        if self.config.finalize {
            self.finalize_due().await?;
        }
        if self.config.withdraw {
            self.withdraw_credits(U256::from(self.config.withdraw_at_wei))
                .await?;
        }
        Ok(())
    }

    /// Withdraws the oracle's credits to the wallet once they reach `at_least` wei.
    async fn withdraw_credits(&self, at_least: U256) -> Result<()> {
        let oracle = self.chain.oracle();
        let me = self.chain.me;
        let credits = self
            .chain
            .read("reading our credits", || async {
                Ok(oracle.credits(me).call().await?)
            })
            .await?;
        if credits.is_zero() || credits < at_least {
            return Ok(());
        }
        let receipt = self
            .chain
            .send("withdraw", oracle.withdraw().send())
            .await?;
        tracing::info!(%credits, gas = receipt.gas_used, "credits withdrawn to the wallet");
        Ok(())
    }

    /// Lets go of the runs no game and no answer in its window needs any more: the request
    /// was finalized, rejected, cancelled or answered by another, and no game over it is open
    /// (whoever settled it: us, another party, or a game resolved on chain).
    fn let_go_of_finished_runs(&mut self) -> Result<()> {
        let disputed = games::disputed_requests(&self.store)?;
        let answered: HashSet<B256> = self
            .store
            .requests::<RequestRecord>()?
            .into_iter()
            .filter(|(_, r)| matches!(r.state, RequestState::Submitted { .. }))
            .map(|(id, _)| id)
            .collect();
        self.sources
            .retain(|id| disputed.contains(id) || answered.contains(id));
        Ok(())
    }

    /// Answers the first pending request, if any, unless the wallet could then no longer pay
    /// the gas of `open_games` + 1 defences.
    async fn answer_pending(&mut self, open_games: usize) -> Result<()> {
        let pending = self
            .store
            .requests::<RequestRecord>()?
            .into_iter()
            .find(|(_, record)| record.state == RequestState::Pending);
        if let Some((id, record)) = pending {
            if !self.can_afford_another_answer(open_games).await? {
                return Ok(());
            }
            let started = Instant::now();
            let (submission, source) = self.run_request(id, &record).await?;
            self.chain
                .metrics
                .inference_seconds
                .observe(started.elapsed().as_secs_f64());
            tracing::info!(request = %id, steps = submission.trace.step_count(),
                text = %submission.run.text, secs = started.elapsed().as_secs_f64(), "executed");
            match self.submit(id, &submission).await {
                Ok(gas) => {
                    tracing::info!(request = %id, gas, "answer submitted");
                    self.chain.metrics.processed.inc();
                    self.sources.insert(id, source);
                    // The AnswerSubmitted event records the answer index on the next sync.
                }
                Err(error) => {
                    let status = self.request_status(id).await?;
                    let seen = self.chain.head().await?.block();
                    if status != 1 {
                        tracing::info!(request = %id, status, "request no longer open; not ours");
                        self.store.write_seen(seen, |b| {
                            b.put_request(
                                &id,
                                &RequestRecord {
                                    state: RequestState::AnsweredByOther,
                                    ..record.clone()
                                },
                            )
                        })?;
                    } else {
                        return Err(error.context(format!("submitting an answer to {id}")));
                    }
                }
            }
        }
        Ok(())
    }

    /// Whether the balance covers one more bond plus the gas reserve of `open_games` + 1 games.
    async fn can_afford_another_answer(&self, open_games: usize) -> Result<bool> {
        let provider = &self.chain.provider;
        let me = self.chain.me;
        let balance = self
            .chain
            .read("reading our balance", || async {
                Ok(provider.get_balance(me).await?)
            })
            .await?;
        let gas_price = self
            .chain
            .read("reading the gas price", || async {
                Ok(provider.get_gas_price().await?)
            })
            .await?;
        let reserve = U256::from(open_games as u64 + 1)
            * U256::from(self.config.game_gas_reserve)
            * U256::from(gas_price);
        let needed = self.bond + reserve;
        if balance < needed {
            tracing::warn!(%balance, %needed, open_games,
                "BALANCE RESERVE: not answering new requests until the wallet covers a bond plus the gas of every game it may have to play");
            return Ok(false);
        }
        Ok(true)
    }

    async fn request_status(&self, id: B256) -> Result<u8> {
        let r = self
            .chain
            .read("reading a request", || async {
                Ok(self.chain.oracle().requests(id).call().await?)
            })
            .await?;
        Ok(r.status)
    }

    /// Runs `record`'s input with this executor's runner.
    async fn run_request(
        &self,
        id: B256,
        record: &RequestRecord,
    ) -> Result<(Submission, SharedSource)> {
        let served = self
            .models
            .get(&record.model_id)
            .with_context(|| format!("request {id} is for a model we do not serve"))?
            .clone();
        let input = record.input.clone();
        let runner = self.runner.clone();
        tokio::task::spawn_blocking(move || runner.run(served, &input)).await?
    }

    /// Commits to the answer, then reveals it with the bond (in a later block: the commit's
    /// receipt comes first); returns the gas of both.
    async fn submit(&self, id: B256, s: &Submission) -> Result<u64> {
        let (claim, proofs) = answer::claim_and_proofs(
            &s.trace,
            s.final_memory_root,
            &s.input_siblings,
            &s.output_siblings,
        )?;
        let commitment = answer::answer_commitment(self.chain.me, id, &claim, &s.output);
        let oracle = self.chain.oracle();
        let committed = self
            .chain
            .send("commitAnswer", oracle.commitAnswer(id, commitment).send())
            .await?;
        let receipt = self
            .chain
            .send(
                "submit",
                oracle
                    .submit(id, claim, Bytes::from(s.output.clone()), proofs)
                    .value(self.bond)
                    .send(),
            )
            .await?;
        Ok(committed.gas_used + receipt.gas_used)
    }

    async fn play_games(&mut self) -> Result<()> {
        for (game_id, record) in self.store.games::<GameRecord>()? {
            if record.outcome != GameOutcome::Open {
                continue;
            }
            if !self.runner.defends() {
                continue;
            }
            let source = self.source_for(game_id, &record).await;
            let Some(progress) = driver::advance_or_log(
                &self.chain,
                Role::Executor,
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
                    let seen = self.chain.head().await?.block();
                    self.close_game(game_id, &record, won, cancelled, seen)?;
                }
            }
        }
        Ok(())
    }

    /// Our run of a disputed request: kept from its answer, or recomputed (after a restart).
    async fn source_for(&mut self, game_id: u64, record: &GameRecord) -> Result<SharedSource> {
        if let Some(source) = self.sources.get(&record.request_id) {
            return Ok(source);
        }
        let request: RequestRecord = self
            .store
            .request(&record.request_id)?
            .context("a game over a request we have no record of")?;
        tracing::info!(game = game_id, request = %record.request_id,
            "re-running the disputed request to defend it");
        let (_, source) = self.run_request(record.request_id, &request).await?;
        self.sources.insert(record.request_id, source.clone());
        Ok(source)
    }

    fn close_game(
        &mut self,
        id: u64,
        record: &GameRecord,
        won: bool,
        cancelled: bool,
        seen: BlockRef,
    ) -> Result<()> {
        let outcome = GameOutcome::of(cancelled, won);
        if outcome == GameOutcome::Lost {
            tracing::error!(game = id, request = %record.request_id, "we LOST a dispute over our answer");
        } else {
            tracing::info!(game = id, ?outcome, "dispute over");
        }
        let metrics = &self.chain.metrics;
        self.store
            .write_seen(seen, |b| games::close_game(b, id, outcome, metrics))?;
        self.let_go_of_finished_runs()
    }

    async fn finalize_due(&mut self) -> Result<()> {
        let now = self.chain.head().await?.timestamp;
        let window = self
            .chain
            .read("reading the challenge window", || async {
                Ok(self.chain.oracle().challengeWindow().call().await?)
            })
            .await?;
        for (id, record) in self.store.requests::<RequestRecord>()? {
            let RequestState::Submitted {
                answer_index,
                output,
            } = &record.state
            else {
                continue;
            };
            let answer = self.chain.answer(id, *answer_index).await?;
            if answer.openDisputes != 0 || answer.rejected || now < answer.submittedAt + window {
                continue;
            }
            let receipt = self
                .chain
                .send(
                    "finalize",
                    self.chain
                        .oracle()
                        .finalize(id, Bytes::from(output.clone()))
                        .send(),
                )
                .await?;
            tracing::info!(request = %id, gas = receipt.gas_used, "finalized: fee and bond credited");
            self.sources.remove(&id);
        }
        Ok(())
    }
}

/// Applies one chain event to the executor's records.
fn apply_event(
    batch: &mut Batch<'_>,
    log: &Log,
    me: alloy::primitives::Address,
    models: &Models,
    min_fee: u128,
    metrics: &Metrics,
) -> Result<()> {
    use InferenceOracle as O;
    let set = |batch: &mut Batch<'_>, id: &B256, state: RequestState| -> Result<()> {
        if let Some(mut record) = batch.request::<RequestRecord>(id)? {
            record.state = state;
            batch.put_request(id, &record)?;
        }
        Ok(())
    };
    if let Some(e) = decode::<O::InferenceRequested>(log) {
        if !models.contains_key(&e.modelId)
            || batch.request::<RequestRecord>(&e.requestId)?.is_some()
        {
            return Ok(());
        }
        metrics.seen.inc();
        let state = if e.fee < U256::from(min_fee) {
            tracing::info!(request = %e.requestId, fee = %e.fee, min_fee, "fee below our minimum: left to others");
            RequestState::FeeTooLow
        } else {
            RequestState::Pending
        };
        match input_region(&e.seed, &e.body) {
            Some(input) => batch.put_request(
                &e.requestId,
                &RequestRecord {
                    model_id: e.modelId,
                    input,
                    state,
                },
            )?,
            None => tracing::warn!(request = %e.requestId, body_bytes = e.body.len(),
                "malformed request ignored: its body is shorter than the input header"),
        }
    } else if let Some(e) = decode::<O::AnswerSubmitted>(log) {
        let state = if e.executor == me {
            RequestState::Submitted {
                answer_index: e.answerIndex,
                output: e.output.to_vec(),
            }
        } else {
            RequestState::AnsweredByOther
        };
        set(batch, &e.requestId, state)?;
    } else if let Some(e) = decode::<O::AnswerChallenged>(log) {
        let ours = matches!(
            batch.request::<RequestRecord>(&e.requestId)?.map(|r| r.state),
            Some(RequestState::Submitted { answer_index, .. }) if answer_index == e.answerIndex
        );
        if ours {
            let id = games::open_game(batch, &e, log)?;
            tracing::warn!(game = id, request = %e.requestId, challenger = %e.challenger, "our answer is challenged");
        }
    } else if let Some(e) = decode::<O::DisputeResolved>(log) {
        games::record_resolution(batch, &e, Role::Executor, metrics)?;
    } else if let Some(e) = decode::<O::AnswerRejected>(log) {
        if let Some(record) = batch.request::<RequestRecord>(&e.requestId)? {
            let state = match record.state {
                RequestState::Submitted { answer_index, .. } if answer_index == e.answerIndex => {
                    RequestState::Rejected
                }
                // Someone else's answer lost: the request is open for us again.
                RequestState::AnsweredByOther => RequestState::Pending,
                other => other,
            };
            set(batch, &e.requestId, state)?;
        }
    } else if let Some(e) = decode::<O::RequestFinalized>(log) {
        set(batch, &e.requestId, RequestState::Finalized)?;
    } else if let Some(e) = decode::<O::RequestCancelled>(log) {
        set(batch, &e.requestId, RequestState::Cancelled)?;
    }
    Ok(())
}

impl Round for Executor {
    async fn round(&mut self) -> Result<()> {
        self.tick().await
    }
}
