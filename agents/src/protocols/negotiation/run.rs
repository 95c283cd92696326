//! Negotiation across nodes: contract-net (optionally iterated, with
//! cancellation), alternating offers between two agents, and monotonic
//! concession with the Zeuthen rule. Each runs in a coordinator actor and
//! decides with the pure rules of this module's parent.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::Instrument;

use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

use super::{
    alternating_offers, award, rubinstein, zeuthen, CnpReply, CnpResponse, Concession,
    NegotiationError, Refusal, ScoredProposal, Split, UtilityTable, ZeuthenOutcome, ZeuthenStatus,
};
use crate::error::{AgentError, Result};
use crate::protocols::{
    collect, missing, notify_rejected, participant, positive, record_outcome, record_run,
    reject_answer, Missing, Participants,
};
use crate::system::{coordinator_lost, AgentRef, Agents};

/// A task put out to tender in contract-net.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Task {
    /// A short name.
    pub name: String,
    /// What is to be done; a re-issued call may revise it.
    pub description: String,
}

/// A contractor's proposal in contract-net.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tender {
    /// What the contractor asks for the task.
    pub price: f64,
}

/// What a negotiation coordinator asks an agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum NegotiationRequest {
    /// Contract-net call for proposals: [`NegotiationReply::Propose`] or
    /// [`NegotiationReply::Refuse`].
    CallForProposals {
        /// The task.
        task: Task,
        /// The call's round (0 for the first; later rounds re-issue it).
        round: u32,
    },
    /// Your proposal won: do the task and answer
    /// [`NegotiationReply::Done`] or [`NegotiationReply::Failed`].
    Award {
        /// The task.
        task: Task,
    },
    /// Your proposal did not win (a notice).
    Reject {
        /// The task.
        task: Task,
    },
    /// The initiator cancelled the task you were awarded (a notice).
    Cancel {
        /// The task.
        task: Task,
    },
    /// Alternating offers, your turn to propose: answer
    /// [`NegotiationReply::Offer`] with the share of the unit surplus you
    /// keep.
    Propose {
        /// The round, from 0.
        round: u32,
        /// Your discount factor and the other agent's.
        discounts: (f64, f64),
        /// The last round, if the bargaining is finite.
        horizon: Option<u32>,
    },
    /// Alternating offers: the other agent offers you `share`;
    /// [`NegotiationReply::Accept`] or [`NegotiationReply::Reject`].
    Respond {
        /// The round, from 0.
        round: u32,
        /// The share offered to you.
        share: f64,
        /// Your discount factor and the other agent's.
        discounts: (f64, f64),
        /// The last round, if the bargaining is finite.
        horizon: Option<u32>,
    },
    /// Zeuthen negotiation: your utility of each offer
    /// ([`NegotiationReply::Utilities`]).
    Utilities {
        /// The offers, by index.
        offers: Vec<String>,
    },
}

impl NegotiationRequest {
    /// A short name of the step, for logs and events.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::CallForProposals { .. } => "call",
            Self::Award { .. } => "award",
            Self::Reject { .. } => "reject",
            Self::Cancel { .. } => "cancel",
            Self::Propose { .. } => "propose",
            Self::Respond { .. } => "respond",
            Self::Utilities { .. } => "utilities",
        }
    }
}

/// An agent's answer to a [`NegotiationRequest`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum NegotiationReply {
    /// The agent does not take part (or acknowledges a notice).
    Decline,
    /// A contract-net proposal.
    Propose(Tender),
    /// A contract-net refusal, with the reason.
    Refuse(String),
    /// The awarded task is done, with its result.
    Done(String),
    /// The awarded task failed, with the reason.
    Failed(String),
    /// An alternating-offers proposal: the share the proposer keeps.
    Offer(f64),
    /// The offer is accepted.
    Accept,
    /// The offer is rejected.
    Reject,
    /// Zeuthen: the agent's utility of each offer.
    Utilities(Vec<f64>),
}

/// Scores a contract-net proposal: higher is better.
pub type Score = Arc<dyn Fn(&Tender) -> f64 + Send + Sync>;

/// Revises a task before it is called again in round `round`.
pub type Revise = Arc<dyn Fn(&Task, u32) -> Task + Send + Sync>;

/// A contract-net: call agents with a capability for proposals, award the
/// best, have it done.
#[derive(Clone)]
#[must_use]
pub struct ContractSpec {
    /// The task.
    pub task: Task,
    /// Call every agent with this capability.
    pub capability: String,
    /// Proposals close this long after each call.
    pub deadline: Duration,
    /// The contractor must report done or failed within this.
    pub execution_deadline: Duration,
    /// Scores proposals (default: the lower the price, the better).
    pub score: Score,
    /// Calls at most this many times (1: plain contract-net; more:
    /// iterated, re-issuing while no acceptable proposal comes).
    pub rounds: u32,
    /// A proposal scoring below this is not acceptable (default: any).
    pub min_score: Option<f64>,
    /// How a re-issued call is revised (default: unchanged).
    pub revise: Option<Revise>,
}

impl fmt::Debug for ContractSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ContractSpec")
            .field("task", &self.task)
            .field("capability", &self.capability)
            .field("deadline", &self.deadline)
            .field("execution_deadline", &self.execution_deadline)
            .field("rounds", &self.rounds)
            .field("min_score", &self.min_score)
            .finish_non_exhaustive()
    }
}

impl ContractSpec {
    /// A single call for `task` to agents with `capability`, the cheapest
    /// proposal winning.
    pub fn new(
        task: Task,
        capability: impl Into<String>,
        deadline: Duration,
        execution_deadline: Duration,
    ) -> Self {
        Self {
            task,
            capability: capability.into(),
            deadline,
            execution_deadline,
            score: Arc::new(|t: &Tender| -t.price),
            rounds: 1,
            min_score: None,
            revise: None,
        }
    }
}

/// One call of a contract-net and its answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallRecord {
    /// The round, from 0.
    pub round: u32,
    /// The task as called.
    pub task: Task,
    /// Valid proposals, best first (score, then arrival, then id).
    pub ranking: Vec<ScoredProposal<Tender>>,
    /// Agents that refused, and why.
    pub refusals: Vec<Refusal>,
    /// Proposals set aside (not a finite price or score).
    pub rejected: Vec<NegotiationError>,
    /// Agents without an answer in time (late, or their node gone).
    pub missing: Vec<Missing>,
    /// How a tie for the best score was broken.
    pub tie_break: Option<String>,
}

/// How a contract ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ContractStatus {
    /// The contractor did the task; its result.
    Done(String),
    /// The contractor reported failure; its reason.
    Failed(String),
    /// The initiator cancelled it.
    Cancelled,
    /// No acceptable proposal in any round.
    NoAward,
    /// The contractor did not report in time, or its node went away.
    ContractorLost(String),
}

/// The record of a contract-net.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContractResult {
    /// Every call, in order.
    pub calls: Vec<CallRecord>,
    /// The agent awarded the task.
    pub contractor: Option<String>,
    /// Agents told their proposal did not win.
    pub rejected_proposers: Vec<String>,
    /// How it ended.
    pub status: ContractStatus,
    /// How long it took.
    pub duration_ms: u64,
}

/// A running contract-net: cancel it, or wait for its outcome.
#[derive(Debug)]
pub struct Contract {
    cancel: Option<oneshot::Sender<()>>,
    outcome: oneshot::Receiver<Result<ContractResult>>,
}

impl Contract {
    /// Cancels the contract: no award is made, or the contractor is told
    /// to stop. A contract already over is not affected.
    pub fn cancel(&mut self) {
        if let Some(cancel) = self.cancel.take() {
            let _ = cancel.send(());
        }
    }

    /// Waits for the contract's end.
    ///
    /// # Errors
    /// [`AgentError::Core`] if the coordinator stopped without a result.
    pub async fn outcome(self) -> Result<ContractResult> {
        self.outcome.await.map_err(|_| coordinator_lost())?
    }
}

/// Alternating offers over a unit surplus between two named agents.
#[derive(Debug, Clone)]
#[must_use]
pub struct BargainSpec {
    /// The agent that proposes first.
    pub first: String,
    /// The other agent.
    pub second: String,
    /// Their discount factors, each in [0, 1).
    pub discounts: (f64, f64),
    /// The last round (counted from 1), or `None` for no limit but
    /// `max_rounds`.
    pub horizon: Option<u32>,
    /// With no horizon, stop after this many rounds.
    pub max_rounds: u32,
    /// How long each step waits for an answer.
    pub deadline: Duration,
}

/// The record of a bargaining.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BargainResult {
    /// The agreed shares of the first and second agent, if they agreed.
    pub agreement: Option<(f64, f64)>,
    /// The round of agreement (from 0).
    pub round: Option<u32>,
    /// The shares discounted to round 0: δ_i^round × share_i.
    pub utilities: (f64, f64),
    /// The subgame-perfect prediction for these discounts and horizon.
    pub predicted: Split,
    /// Every offer made: round, proposer, share it kept, accepted.
    pub offers: Vec<(u32, String, f64, bool)>,
    /// Why the bargaining ended without agreement.
    pub breakdown: Option<String>,
    /// How long it took.
    pub duration_ms: u64,
}

/// Zeuthen negotiation between two named agents over a list of offers.
#[derive(Debug, Clone)]
#[must_use]
pub struct ZeuthenSpec {
    /// One negotiator.
    pub first: String,
    /// The other.
    pub second: String,
    /// The possible deals.
    pub offers: Vec<String>,
    /// How a conceder concedes.
    pub concession: Concession,
    /// Stop after this many rounds.
    pub max_rounds: u32,
    /// How long each agent has to state its utilities.
    pub deadline: Duration,
}

/// The record of a Zeuthen negotiation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ZeuthenResult {
    /// The possible deals.
    pub offers: Vec<String>,
    /// The agreed deal, if any.
    pub agreed: Option<String>,
    /// The rule's record: every round's offers, risks and concessions.
    pub outcome: Option<ZeuthenOutcome>,
    /// Agents that did not state usable utilities, and why.
    pub missing: Vec<Missing>,
    /// How long it took.
    pub duration_ms: u64,
}

impl Agents {
    /// Starts a contract-net among every agent with the spec's capability:
    /// call for proposals, award the best by the spec's score (ties:
    /// earliest arrival, then lowest id), tell every other proposer it
    /// lost, and wait for the contractor's report. With `rounds > 1`, a
    /// call without an acceptable proposal is re-issued (revised by the
    /// spec's `revise`). Returns at once with a handle to cancel or await.
    ///
    /// # Errors
    /// [`AgentError::InvalidParameters`] for zero rounds or deadlines;
    /// [`AgentError::NoParticipants`] if no agent has the capability.
    pub async fn contract(&self, spec: ContractSpec) -> Result<Contract> {
        positive("deadline", spec.deadline)?;
        positive("execution deadline", spec.execution_deadline)?;
        if spec.rounds == 0 {
            return Err(AgentError::InvalidParameters(
                "a contract-net needs at least one round".into(),
            ));
        }
        let participants = self.participants(&spec.capability).await?;
        let (cancel, cancelled) = oneshot::channel();
        let outcome = self
            .start_coordinator(async move { run_contract(spec, &participants, cancelled).await })
            .await?;
        Ok(Contract {
            cancel: Some(cancel),
            outcome,
        })
    }

    /// Alternating offers between two agents over a unit surplus: the
    /// proposer names the share it keeps, the other accepts or rejects,
    /// and they swap roles each round until agreement, the horizon, or a
    /// missing answer.
    ///
    /// # Errors
    /// [`AgentError::UnknownAgent`] if either is not found;
    /// [`AgentError::Negotiation`] for discounts outside [0, 1);
    /// [`AgentError::InvalidParameters`] for a zero deadline, no rounds,
    /// or one agent on both sides.
    pub async fn bargain(&self, spec: BargainSpec) -> Result<BargainResult> {
        positive("deadline", spec.deadline)?;
        predicted(&spec)?;
        if spec.first == spec.second || spec.max_rounds == 0 {
            return Err(AgentError::InvalidParameters(
                "bargaining needs two different agents and at least one round".into(),
            ));
        }
        let first = self.find(&spec.first).await?;
        let second = self.find(&spec.second).await?;
        self.coordinate(async move { run_bargain(spec, first, second).await })
            .await?
    }

    /// Monotonic concession with the Zeuthen rule between two agents: each
    /// states its utility of every offer, then the rule plays the rounds
    /// (the lower-risk agent concedes, both on a tie) until agreement or
    /// until nobody concedes.
    ///
    /// # Errors
    /// [`AgentError::UnknownAgent`] if either is not found;
    /// [`AgentError::InvalidParameters`] for no offers, a zero deadline,
    /// or one agent on both sides.
    pub async fn zeuthen(&self, spec: ZeuthenSpec) -> Result<ZeuthenResult> {
        positive("deadline", spec.deadline)?;
        if spec.offers.is_empty() || spec.first == spec.second {
            return Err(AgentError::InvalidParameters(
                "a Zeuthen negotiation needs offers and two different agents".into(),
            ));
        }
        let participants: Participants = vec![
            (spec.first.clone(), self.find(&spec.first).await?),
            (spec.second.clone(), self.find(&spec.second).await?),
        ];
        self.coordinate(async move { run_zeuthen(spec, &participants).await })
            .await
    }
}

/// One call for proposals, ranked by `spec.score`.
async fn call(
    spec: &ContractSpec,
    participants: &Participants,
    task: &Task,
    round: u32,
) -> CallRecord {
    let request = NegotiationRequest::CallForProposals {
        task: task.clone(),
        round,
    };
    let got = collect(participants, request, spec.deadline).await;
    let mut responses = Vec::new();
    let mut missing = got.missing;
    for (agent, reply) in got.answers {
        let reply = match reply {
            NegotiationReply::Propose(t) => CnpReply::Propose(t),
            NegotiationReply::Refuse(reason) => CnpReply::Refuse { reason },
            NegotiationReply::Decline => CnpReply::Refuse {
                reason: "declined".into(),
            },
            other => {
                missing.push(Missing {
                    agent,
                    reason: format!("answered {other:?} to a call for proposals"),
                });
                continue;
            }
        };
        responses.push(CnpResponse {
            agent,
            arrival: responses.len() as u64,
            reply,
        });
    }
    let outcome = award(&responses, |t: &Tender| {
        if !t.price.is_finite() {
            return Err(format!("price {} is not a finite number", t.price));
        }
        Ok((spec.score)(t))
    });
    for e in &outcome.rejected {
        if let NegotiationError::InvalidProposal { agent, .. }
        | NegotiationError::NonFiniteScore { agent, .. } = e
        {
            reject_answer(participants, agent, "contract_net", e.to_string());
        }
    }
    CallRecord {
        round,
        task: task.clone(),
        ranking: outcome.ranking,
        refusals: outcome.refusals,
        rejected: outcome.rejected,
        missing,
        tie_break: outcome.tie_break,
    }
}

async fn run_contract(
    spec: ContractSpec,
    participants: &Participants,
    mut cancelled: oneshot::Receiver<()>,
) -> Result<ContractResult> {
    let started = Instant::now();
    let span =
        tracing::info_span!("contract_net", task = %spec.task.name, invited = participants.len());
    async move {
        let mut calls = Vec::new();
        let mut task = spec.task.clone();
        let mut winner = None;
        for round in 0..spec.rounds {
            if round > 0 {
                if let Some(revise) = &spec.revise {
                    task = revise(&task, round);
                }
            }
            let record = tokio::select! {
                record = call(&spec, participants, &task, round) => record,
                _ = &mut cancelled => {
                    return Ok(finish(calls, None, Vec::new(), ContractStatus::Cancelled, participants, started));
                }
            };
            let best = record
                .ranking
                .first()
                .filter(|p| spec.min_score.is_none_or(|min| p.score >= min))
                .map(|p| p.agent.clone());
            calls.push(record);
            if best.is_some() {
                winner = best;
                break;
            }
        }
        let Some(contractor) = winner else {
            return Ok(finish(
                calls,
                None,
                Vec::new(),
                ContractStatus::NoAward,
                participants,
                started,
            ));
        };
        let last = calls.last().map(|c| c.ranking.clone()).unwrap_or_default();
        let losers: Vec<String> = last
            .iter()
            .map(|p| p.agent.clone())
            .filter(|a| *a != contractor)
            .collect();
        for loser in &losers {
            if let Some(agent) = participant(participants, loser) {
                let _ = agent.tell(NegotiationRequest::Reject {
                    task: task.clone(),
                });
            }
        }
        let Some(agent) = participant(participants, &contractor) else {
            return Ok(finish(
                calls,
                Some(contractor),
                losers,
                ContractStatus::NoAward,
                participants,
                started,
            ));
        };
        let award = NegotiationRequest::Award { task: task.clone() };
        let status = tokio::select! {
            report = agent.ask(award, spec.execution_deadline) => match report {
                Ok(NegotiationReply::Done(result)) => ContractStatus::Done(result),
                Ok(NegotiationReply::Failed(reason)) => ContractStatus::Failed(reason),
                Ok(other) => ContractStatus::Failed(format!("answered {other:?} to the award")),
                Err(e) => ContractStatus::ContractorLost(missing(contractor.clone(), &e).reason),
            },
            _ = &mut cancelled => {
                let _ = agent.tell(NegotiationRequest::Cancel { task: task.clone() });
                ContractStatus::Cancelled
            }
        };
        Ok(finish(
            calls,
            Some(contractor),
            losers,
            status,
            participants,
            started,
        ))
    }
    .instrument(span)
    .await
}

fn finish(
    calls: Vec<CallRecord>,
    contractor: Option<String>,
    rejected_proposers: Vec<String>,
    status: ContractStatus,
    participants: &Participants,
    started: Instant,
) -> ContractResult {
    let answered = calls
        .last()
        .map_or(0, |c| c.ranking.len() + c.refusals.len());
    tracing::info!(?contractor, ?status, calls = calls.len(), "contract over");
    let outcome = match &status {
        ContractStatus::Done(_) => "done",
        ContractStatus::Failed(_) => "failed",
        ContractStatus::Cancelled => "cancelled",
        ContractStatus::NoAward => "no_award",
        ContractStatus::ContractorLost(_) => "contractor_lost",
    };
    record_outcome("contract_net", calls.len() as u64, outcome);
    record_run("contract_net", participants.len(), answered, started);
    ContractResult {
        calls,
        contractor,
        rejected_proposers,
        status,
        duration_ms: started.elapsed().as_millis() as u64,
    }
}

/// The subgame-perfect split for the spec's discounts and horizon.
fn predicted(spec: &BargainSpec) -> Result<Split, NegotiationError> {
    let (d1, d2) = spec.discounts;
    match spec.horizon {
        Some(t) => alternating_offers(d1, d2, t),
        None => rubinstein(d1, d2),
    }
}

async fn run_bargain(
    spec: BargainSpec,
    first: AgentRef,
    second: AgentRef,
) -> Result<BargainResult> {
    let started = Instant::now();
    let span = tracing::info_span!("bargain", first = %spec.first, second = %spec.second);
    async move {
        let predicted = predicted(&spec)?;
        let (d1, d2) = spec.discounts;
        let last = spec.horizon.unwrap_or(spec.max_rounds);
        let mut offers = Vec::new();
        let mut breakdown = None;
        let mut agreement = None;
        for round in 0..last {
            let (proposer, responder, p_id, r_id, discounts) = if round % 2 == 0 {
                (&first, &second, &spec.first, &spec.second, (d1, d2))
            } else {
                (&second, &first, &spec.second, &spec.first, (d2, d1))
            };
            let ask = NegotiationRequest::Propose {
                round,
                discounts,
                horizon: spec.horizon,
            };
            let keep = match proposer.ask(ask, spec.deadline).await {
                Ok(NegotiationReply::Offer(x)) if (0.0..=1.0).contains(&x) => x,
                Ok(NegotiationReply::Offer(x)) => {
                    notify_rejected(proposer, "bargain", format!("share {x} is not in [0, 1]"));
                    breakdown = Some(format!(
                        "{p_id} offered an invalid share {x} in round {round}"
                    ));
                    break;
                }
                Ok(other) => {
                    breakdown = Some(format!("{p_id} answered {other:?} in round {round}"));
                    break;
                }
                Err(e) => {
                    breakdown = Some(format!("{p_id}: {}", missing(p_id.clone(), &e).reason));
                    break;
                }
            };
            let respond = NegotiationRequest::Respond {
                round,
                share: 1.0 - keep,
                discounts: (discounts.1, discounts.0),
                horizon: spec.horizon,
            };
            let accepted = match responder.ask(respond, spec.deadline).await {
                Ok(NegotiationReply::Accept) => true,
                Ok(_) => false,
                Err(e) => {
                    breakdown = Some(format!("{r_id}: {}", missing(r_id.clone(), &e).reason));
                    break;
                }
            };
            offers.push((round, p_id.clone(), keep, accepted));
            if accepted {
                let shares = if round % 2 == 0 {
                    (keep, 1.0 - keep)
                } else {
                    (1.0 - keep, keep)
                };
                agreement = Some((round, shares));
                break;
            }
        }
        if agreement.is_none() && breakdown.is_none() {
            breakdown = Some(format!("no agreement within {last} rounds"));
        }
        let utilities = agreement.map_or((0.0, 0.0), |(round, (s1, s2))| {
            (d1.powi(round as i32) * s1, d2.powi(round as i32) * s2)
        });
        tracing::info!(?agreement, ?breakdown, "bargaining over");
        let rounds = offers.len() as u64;
        record_outcome(
            "alternating_offers",
            rounds,
            if agreement.is_some() {
                "agreed"
            } else {
                "breakdown"
            },
        );
        record_run(
            "alternating_offers",
            2,
            usize::from(breakdown.is_none()) * 2,
            started,
        );
        Ok(BargainResult {
            agreement: agreement.map(|(_, s)| s),
            round: agreement.map(|(r, _)| r),
            utilities,
            predicted,
            offers,
            breakdown,
            duration_ms: started.elapsed().as_millis() as u64,
        })
    }
    .instrument(span)
    .await
}

async fn run_zeuthen(spec: ZeuthenSpec, participants: &Participants) -> ZeuthenResult {
    let started = Instant::now();
    let span = tracing::info_span!("zeuthen", first = %spec.first, second = %spec.second);
    async move {
        let request = NegotiationRequest::Utilities {
            offers: spec.offers.clone(),
        };
        let got = collect(participants, request, spec.deadline).await;
        let mut missing = got.missing;
        let utilities = |id: &str, missing: &mut Vec<Missing>| -> Option<Vec<f64>> {
            let reply = got.answers.iter().find(|(a, _)| a == id).map(|(_, r)| r)?;
            match reply {
                NegotiationReply::Utilities(u) => Some(u.clone()),
                other => {
                    missing.push(Missing {
                        agent: id.to_owned(),
                        reason: format!("answered {other:?} to a Zeuthen negotiation"),
                    });
                    None
                }
            }
        };
        let u1 = utilities(&spec.first, &mut missing);
        let u2 = utilities(&spec.second, &mut missing);
        let outcome = match (u1, u2) {
            (Some(u1), Some(u2)) => match UtilityTable::new(u1, u2) {
                Ok(table) if table.offers() == spec.offers.len() => {
                    Some(zeuthen(&table, spec.concession, spec.max_rounds))
                }
                Ok(_) | Err(_) => {
                    let reason = format!(
                        "utilities must be {} finite numbers each",
                        spec.offers.len()
                    );
                    for (id, agent) in participants {
                        notify_rejected(agent, "zeuthen", reason.clone());
                        missing.push(Missing {
                            agent: id.clone(),
                            reason: reason.clone(),
                        });
                    }
                    None
                }
            },
            _ => None,
        };
        let agreed = outcome.as_ref().and_then(|o| match o.state.status {
            ZeuthenStatus::Agreed { offer, .. } => spec.offers.get(offer).cloned(),
            _ => None,
        });
        tracing::info!(?agreed, "zeuthen over");
        record_outcome(
            "zeuthen",
            outcome.as_ref().map_or(0, |o| o.rounds.len() as u64),
            if agreed.is_some() {
                "agreed"
            } else {
                "conflict"
            },
        );
        record_run("zeuthen", 2, 2 - missing.len().min(2), started);
        ZeuthenResult {
            offers: spec.offers,
            agreed,
            outcome,
            missing,
            duration_ms: started.elapsed().as_millis() as u64,
        }
    }
    .instrument(span)
    .await
}
