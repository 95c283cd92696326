//! The coordinators of the negotiations: contract-net, alternating
//! offers and Zeuthen, each a [`Protocol`].

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::wire::{
    Award, CallForProposals, Cancel, Lost, Propose, Respond, Task, Tender, Utilities,
};
use super::{
    alternating_offers, award, rubinstein, zeuthen, CnpResponse, Concession, NegotiationError,
    Refusal, ScoredProposal, Split, UtilityTable, ZeuthenOutcome, ZeuthenStatus,
};
use crate::error::{InvalidParameter, Result};
use crate::protocols::{positive, Invite, Missing, Protocol, Run};

/// Scores a contract-net proposal: higher is better.
pub type Score = Arc<dyn Fn(&Tender) -> f64 + Send + Sync>;

/// Revises a task before it is called again in round `round`.
pub type Revise = Arc<dyn Fn(&Task, u32) -> Task + Send + Sync>;

/// A contract-net: call agents with a capability for proposals, award the
/// best, have it done.
#[derive(Clone)]
#[must_use]
#[non_exhaustive]
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

    /// The same contract-net, scoring proposals with `score` (higher is
    /// better).
    pub fn score(self, score: impl Fn(&Tender) -> f64 + Send + Sync + 'static) -> Self {
        Self {
            score: Arc::new(score),
            ..self
        }
    }

    /// The same contract-net, calling at most `rounds` times while no
    /// acceptable proposal comes.
    pub fn rounds(self, rounds: u32) -> Self {
        Self { rounds, ..self }
    }

    /// The same contract-net, accepting only proposals scoring at least
    /// `min`.
    pub fn min_score(self, min: f64) -> Self {
        Self {
            min_score: Some(min),
            ..self
        }
    }

    /// The same contract-net, revising the task before each re-issued
    /// call.
    pub fn revise(self, revise: impl Fn(&Task, u32) -> Task + Send + Sync + 'static) -> Self {
        Self {
            revise: Some(Arc::new(revise)),
            ..self
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

/// Alternating offers over a unit surplus between two named agents.
#[derive(Debug, Clone)]
#[non_exhaustive]
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

impl BargainSpec {
    /// Alternating offers between `first` (who proposes first) and
    /// `second` with their discount factors, no horizon, at most 100
    /// rounds, each step waiting at most `deadline`.
    pub fn new(
        first: impl Into<String>,
        second: impl Into<String>,
        discounts: (f64, f64),
        deadline: Duration,
    ) -> Self {
        Self {
            first: first.into(),
            second: second.into(),
            discounts,
            horizon: None,
            max_rounds: 100,
            deadline,
        }
    }

    /// The same bargaining, finite: its last round is `horizon`.
    pub fn horizon(self, horizon: u32) -> Self {
        Self {
            horizon: Some(horizon),
            ..self
        }
    }

    /// The same bargaining, stopping after `rounds` without a horizon.
    pub fn max_rounds(self, rounds: u32) -> Self {
        Self {
            max_rounds: rounds,
            ..self
        }
    }
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
#[non_exhaustive]
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

impl ZeuthenSpec {
    /// A Zeuthen negotiation between `first` and `second` over `offers`,
    /// conceding sufficiently ([`Concession::Sufficient`]), at most 100
    /// rounds, each waiting at most `deadline` for utilities.
    pub fn new(
        first: impl Into<String>,
        second: impl Into<String>,
        offers: impl IntoIterator<Item = impl Into<String>>,
        deadline: Duration,
    ) -> Self {
        Self {
            first: first.into(),
            second: second.into(),
            offers: offers.into_iter().map(Into::into).collect(),
            concession: Concession::Sufficient,
            max_rounds: 100,
            deadline,
        }
    }

    /// The same negotiation, conceding `how`.
    pub fn concession(self, how: Concession) -> Self {
        Self {
            concession: how,
            ..self
        }
    }

    /// The same negotiation, stopping after `rounds`.
    pub fn max_rounds(self, rounds: u32) -> Self {
        Self {
            max_rounds: rounds,
            ..self
        }
    }
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

/// The contract-net's protocol: call for proposals, award the best by
/// the spec's score (ties: earliest arrival, then lowest id), tell every
/// other proposer it lost, and wait for the contractor's report. With
/// `rounds > 1`, a call without an acceptable proposal is re-issued
/// (revised by the spec's `revise`). Start it with
/// [`Agents::launch`](crate::Agents::launch) to be able to cancel it.
///
/// Errors: [`AgentError::InvalidParameters`](crate::AgentError::InvalidParameters) for zero rounds or deadlines;
/// [`AgentError::NoParticipants`](crate::AgentError::NoParticipants) if no agent has the capability.
impl Protocol for ContractSpec {
    type Output = ContractResult;
    const NAME: &'static str = "contract_net";

    fn validate(&self) -> Result<()> {
        positive("deadline", self.deadline)?;
        positive("execution deadline", self.execution_deadline)?;
        if self.rounds == 0 {
            return Err(InvalidParameter::NoneOf {
                protocol: "a contract-net",
                what: "round",
            }
            .into());
        }
        Ok(())
    }

    fn invite(&self) -> Invite {
        Invite::Capability(self.capability.clone())
    }

    async fn run(self, run: &Run) -> Result<ContractResult> {
        let mut calls = Vec::new();
        let mut task = self.task.clone();
        let mut winner = None;
        for round in 0..self.rounds {
            if round > 0 {
                if let Some(revise) = &self.revise {
                    task = revise(&task, round);
                }
            }
            let record = tokio::select! {
                record = call(&self, run, &task, round) => record,
                _ = run.cancelled() => {
                    return Ok(finish(calls, None, Vec::new(), ContractStatus::Cancelled, run));
                }
            };
            let best = record
                .ranking
                .first()
                .filter(|p| self.min_score.is_none_or(|min| p.score >= min))
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
                run,
            ));
        };
        let last = calls.last().map(|c| c.ranking.clone()).unwrap_or_default();
        let losers: Vec<String> = last
            .iter()
            .map(|p| p.agent.clone())
            .filter(|a| *a != contractor)
            .collect();
        for loser in &losers {
            run.tell(loser, Lost { task: task.clone() });
        }
        let Some(agent) = run.agent(&contractor).cloned() else {
            return Ok(finish(
                calls,
                Some(contractor),
                losers,
                ContractStatus::NoAward,
                run,
            ));
        };
        let award = Award { task: task.clone() };
        let status = tokio::select! {
            report = agent.ask(award, self.execution_deadline) => match report {
                Ok(Ok(result)) => ContractStatus::Done(result),
                Ok(Err(reason)) => ContractStatus::Failed(reason),
                Err(e) => {
                    run.heard(&contractor, &Err::<(), _>(e));
                    ContractStatus::ContractorLost(run.missing_reason(&contractor).unwrap_or_default())
                }
            },
            _ = run.cancelled() => {
                let _ = agent.tell(Cancel { task: task.clone() });
                ContractStatus::Cancelled
            }
        };
        Ok(finish(calls, Some(contractor), losers, status, run))
    }
}

/// One call for proposals, ranked by `spec.score`.
async fn call(spec: &ContractSpec, run: &Run, task: &Task, round: u32) -> CallRecord {
    let request = CallForProposals {
        task: task.clone(),
        round,
    };
    let got = run.collect(request, spec.deadline).await;
    let responses: Vec<CnpResponse<Tender>> = got
        .answers
        .into_iter()
        .enumerate()
        .map(|(arrival, (agent, reply))| CnpResponse {
            agent,
            arrival: arrival as u64,
            reply,
        })
        .collect();
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
            run.reject(agent, e.to_string());
        }
    }
    CallRecord {
        round,
        task: task.clone(),
        ranking: outcome.ranking,
        refusals: outcome.refusals,
        rejected: outcome.rejected,
        missing: got.missing,
        tie_break: outcome.tie_break,
    }
}

fn finish(
    calls: Vec<CallRecord>,
    contractor: Option<String>,
    rejected_proposers: Vec<String>,
    status: ContractStatus,
    run: &Run,
) -> ContractResult {
    tracing::info!(?contractor, ?status, calls = calls.len(), "contract over");
    let outcome = match &status {
        ContractStatus::Done(_) => "done",
        ContractStatus::Failed(_) => "failed",
        ContractStatus::Cancelled => "cancelled",
        ContractStatus::NoAward => "no_award",
        ContractStatus::ContractorLost(_) => "contractor_lost",
    };
    run.record_outcome(calls.len() as u64, outcome);
    ContractResult {
        calls,
        contractor,
        rejected_proposers,
        status,
        duration_ms: run.elapsed_ms(),
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

/// Alternating offers between two agents over a unit surplus: the
/// proposer names the share it keeps, the other accepts or rejects, and
/// they swap roles each round until agreement, the horizon, or a missing
/// answer.
///
/// Errors: [`AgentError::UnknownAgent`](crate::AgentError::UnknownAgent) if either is not found;
/// [`AgentError::Negotiation`](crate::AgentError::Negotiation) for discounts outside [0, 1);
/// [`AgentError::InvalidParameters`](crate::AgentError::InvalidParameters) for a zero deadline, no rounds, or
/// one agent on both sides.
impl Protocol for BargainSpec {
    type Output = BargainResult;
    const NAME: &'static str = "alternating_offers";

    fn validate(&self) -> Result<()> {
        positive("deadline", self.deadline)?;
        predicted(self)?;
        if self.first == self.second {
            return Err(InvalidParameter::SameAgent {
                agent: self.first.clone(),
                protocol: "a bargaining",
            }
            .into());
        }
        if self.max_rounds == 0 {
            return Err(InvalidParameter::NoneOf {
                protocol: "a bargaining",
                what: "round",
            }
            .into());
        }
        Ok(())
    }

    fn invite(&self) -> Invite {
        Invite::Agents(vec![self.first.clone(), self.second.clone()])
    }

    async fn run(self, run: &Run) -> Result<BargainResult> {
        let predicted = predicted(&self)?;
        let (d1, d2) = self.discounts;
        let last = self.horizon.unwrap_or(self.max_rounds);
        let mut offers = Vec::new();
        let mut breakdown = None;
        let mut agreement = None;
        for round in 0..last {
            let (proposer, responder, discounts) = if round % 2 == 0 {
                (&self.first, &self.second, (d1, d2))
            } else {
                (&self.second, &self.first, (d2, d1))
            };
            let ask = Propose {
                round,
                discounts,
                horizon: self.horizon,
            };
            let keep = match run.ask(proposer, ask, self.deadline).await {
                Ok(Some(x)) if (0.0..=1.0).contains(&x) => x,
                Ok(Some(x)) => {
                    run.reject(proposer, format!("share {x} is not in [0, 1]"));
                    breakdown = Some(format!(
                        "{proposer} offered an invalid share {x} in round {round}"
                    ));
                    break;
                }
                Ok(None) => {
                    breakdown = Some(format!("{proposer} broke off in round {round}"));
                    break;
                }
                Err(_) => {
                    breakdown = Some(absent(run, proposer));
                    break;
                }
            };
            let respond = Respond {
                round,
                share: 1.0 - keep,
                discounts: (discounts.1, discounts.0),
                horizon: self.horizon,
            };
            let accepted = match run.ask(responder, respond, self.deadline).await {
                Ok(accepted) => accepted,
                Err(_) => {
                    breakdown = Some(absent(run, responder));
                    break;
                }
            };
            offers.push((round, proposer.clone(), keep, accepted));
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
        run.record_outcome(
            offers.len() as u64,
            if agreement.is_some() {
                "agreed"
            } else {
                "breakdown"
            },
        );
        Ok(BargainResult {
            agreement: agreement.map(|(_, s)| s),
            round: agreement.map(|(r, _)| r),
            utilities,
            predicted,
            offers,
            breakdown,
            duration_ms: run.elapsed_ms(),
        })
    }
}

/// Why agent `id` gave no answer, as the run recorded it: `id: reason`.
fn absent(run: &Run, id: &str) -> String {
    format!("{id}: {}", run.missing_reason(id).unwrap_or_default())
}

/// Monotonic concession with the Zeuthen rule between two agents: each
/// states its utility of every offer, then the rule plays the rounds (the
/// lower-risk agent concedes, both on a tie) until agreement or until
/// nobody concedes.
///
/// Errors: [`AgentError::UnknownAgent`](crate::AgentError::UnknownAgent) if either is not found;
/// [`AgentError::InvalidParameters`](crate::AgentError::InvalidParameters) for no offers, a zero deadline, or
/// one agent on both sides.
impl Protocol for ZeuthenSpec {
    type Output = ZeuthenResult;
    const NAME: &'static str = "zeuthen";

    fn validate(&self) -> Result<()> {
        positive("deadline", self.deadline)?;
        if self.offers.is_empty() {
            return Err(InvalidParameter::NoneOf {
                protocol: "a Zeuthen negotiation",
                what: "offer",
            }
            .into());
        }
        if self.first == self.second {
            return Err(InvalidParameter::SameAgent {
                agent: self.first.clone(),
                protocol: "a Zeuthen negotiation",
            }
            .into());
        }
        Ok(())
    }

    fn invite(&self) -> Invite {
        Invite::Agents(vec![self.first.clone(), self.second.clone()])
    }

    async fn run(self, run: &Run) -> Result<ZeuthenResult> {
        let request = Utilities {
            offers: self.offers.clone(),
        };
        let got = run.collect(request, self.deadline).await;
        let mut missing = got.missing;
        let utilities = |id: &str, missing: &mut Vec<Missing>| -> Option<Vec<f64>> {
            let reply = got.answers.iter().find(|(a, _)| a == id).map(|(_, r)| r)?;
            if reply.is_none() {
                missing.push(Missing {
                    agent: id.to_owned(),
                    reason: "declined to state its utilities".into(),
                });
            }
            reply.clone()
        };
        let u1 = utilities(&self.first, &mut missing);
        let u2 = utilities(&self.second, &mut missing);
        let outcome = match (u1, u2) {
            (Some(u1), Some(u2)) => match UtilityTable::new(u1, u2) {
                Ok(table) if table.offers() == self.offers.len() => {
                    Some(zeuthen(&table, self.concession, self.max_rounds))
                }
                Ok(_) | Err(_) => {
                    let reason = format!(
                        "utilities must be {} finite numbers each",
                        self.offers.len()
                    );
                    for id in run.ids() {
                        run.reject(&id, reason.clone());
                        missing.push(Missing {
                            agent: id,
                            reason: reason.clone(),
                        });
                    }
                    None
                }
            },
            _ => None,
        };
        let agreed = outcome.as_ref().and_then(|o| match o.state.status {
            ZeuthenStatus::Agreed { offer, .. } => self.offers.get(offer).cloned(),
            _ => None,
        });
        tracing::info!(?agreed, "zeuthen over");
        run.record_outcome(
            outcome.as_ref().map_or(0, |o| o.rounds.len() as u64),
            if agreed.is_some() {
                "agreed"
            } else {
                "conflict"
            },
        );
        Ok(ZeuthenResult {
            offers: self.offers,
            agreed,
            outcome,
            missing,
            duration_ms: run.elapsed_ms(),
        })
    }
}
