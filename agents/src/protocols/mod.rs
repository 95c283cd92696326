//! Coordination protocols: a coordinator actor per run that invites agents
//! anywhere in the cluster, collects their answers until a deadline, and
//! decides with a pure rule.
//!
//! The rules are plain functions, unit- and property-tested on their own:
//! [`vote`] and [`voting`] (thresholds, weights, quorum, ranked ballots,
//! Byzantine quorums), [`auction`] (sealed-bid, English, Dutch, multi-unit,
//! VCG, combinatorial), [`market`] (call market, order book, compute
//! allocation), [`negotiation`] (contract-net award, alternating offers,
//! Zeuthen), [`games`] (Nash equilibria, best response, fictitious play) and
//! [`bandit`] (UCB1, epsilon-greedy, Thompson sampling). Coordinators run the
//! majority vote and the sealed-bid auctions across nodes today.

pub mod auction;
pub mod bandit;
pub mod games;
pub mod market;
pub mod negotiation;
pub mod vote;
pub mod voting;

use std::time::{Duration, Instant};

use actor_cluster::{ClusterError, Ref};
use futures::stream::{FuturesUnordered, StreamExt};
use ractor::{Actor, ActorProcessingErr, ActorRef, Message};
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

use crate::agent::{AgentReply, AgentRequest, CallForBids, Proposal};
use auction::{AuctionOutcome, AuctionRule, Bid};
use vote::{Ballot, VoteTally};

/// A participant that gave no usable answer, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Missing {
    /// The agent.
    pub agent: String,
    /// Why its answer is missing (deadline passed, node gone, ...).
    pub reason: String,
}

/// What to put to a vote, and to whom.
#[derive(Debug, Clone)]
#[must_use]
pub struct VoteSpec {
    /// The proposal.
    pub proposal: Proposal,
    /// Invite every agent with this capability.
    pub capability: String,
    /// The vote closes this long after it opens.
    pub deadline: Duration,
}

/// The record of a vote.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VoteResult {
    /// What was voted on.
    pub proposal: Proposal,
    /// The count and the decision.
    pub tally: VoteTally,
    /// Every ballot received in time, in arrival order.
    pub ballots: Vec<Ballot>,
    /// Invited agents without a ballot.
    pub missing: Vec<Missing>,
    /// How long the vote took.
    pub duration_ms: u64,
}

/// What to auction, how, and to whom.
#[derive(Debug, Clone)]
#[must_use]
pub struct AuctionSpec {
    /// The item sold.
    pub item: String,
    /// First- or second-price.
    pub rule: AuctionRule,
    /// The lowest acceptable bid.
    pub reserve: f64,
    /// Invite every agent with this capability.
    pub capability: String,
    /// Bids close this long after the call.
    pub deadline: Duration,
}

/// The record of a sealed-bid auction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuctionResult {
    /// What was sold.
    pub item: String,
    /// The pricing rule.
    pub rule: AuctionRule,
    /// The reserve price.
    pub reserve: f64,
    /// Winner, price, ranking, rejected bids, tie-break.
    pub outcome: AuctionOutcome,
    /// Invited agents that neither bid nor declined in time.
    pub missing: Vec<Missing>,
    /// Agents that declined to bid.
    pub declined: Vec<String>,
    /// How long the auction took.
    pub duration_ms: u64,
}

pub(crate) type Participants = Vec<(String, Ref<AgentRequest, AgentReply>)>;

pub(crate) enum Run {
    Vote(VoteSpec, Participants, oneshot::Sender<VoteResult>),
    Auction(AuctionSpec, Participants, oneshot::Sender<AuctionResult>),
}

/// The coordinator of one protocol run. It is spawned linked to the agent
/// supervisor, runs once and stops.
pub(crate) struct Coordinator;

pub(crate) enum CoordinatorMsg {
    Start,
}

impl Message for CoordinatorMsg {}

/// Answers in arrival order, and who did not answer.
struct Collected {
    answers: Vec<(String, AgentReply)>,
    missing: Vec<Missing>,
}

async fn collect(
    participants: &Participants,
    request: AgentRequest,
    deadline: Duration,
) -> Collected {
    let opened = Instant::now();
    let mut pending: FuturesUnordered<_> = participants
        .iter()
        .map(|(id, agent)| {
            let request = request.clone();
            async move {
                let remaining = deadline.saturating_sub(opened.elapsed());
                (id.clone(), agent.ask(request, remaining).await)
            }
        })
        .collect();
    let mut collected = Collected {
        answers: Vec::new(),
        missing: Vec::new(),
    };
    while let Some((id, result)) = pending.next().await {
        match result {
            Ok(reply) => collected.answers.push((id, reply)),
            Err(e) => {
                let reason = match e {
                    ClusterError::Timeout { .. } => "no answer before the deadline".to_owned(),
                    other => other.to_string(),
                };
                collected.missing.push(Missing { agent: id, reason });
            }
        }
    }
    collected.missing.sort_by(|a, b| a.agent.cmp(&b.agent));
    collected
}

/// Protocol analytics through the metrics facade: runs, duration and
/// participation per protocol.
fn record_run(protocol: &'static str, invited: usize, answered: usize, started: Instant) {
    metrics::counter!("foundation_protocol_runs_total", "protocol" => protocol).increment(1);
    metrics::histogram!("foundation_protocol_duration_seconds", "protocol" => protocol)
        .record(started.elapsed().as_secs_f64());
    if invited > 0 {
        metrics::histogram!("foundation_protocol_participation_ratio", "protocol" => protocol)
            .record(answered as f64 / invited as f64);
    }
}

impl Actor for Coordinator {
    type Msg = CoordinatorMsg;
    type State = Option<Run>;
    type Arguments = Run;

    async fn pre_start(
        &self,
        myself: ActorRef<CoordinatorMsg>,
        run: Run,
    ) -> Result<Option<Run>, ActorProcessingErr> {
        myself.send_message(CoordinatorMsg::Start)?;
        Ok(Some(run))
    }

    async fn handle(
        &self,
        myself: ActorRef<CoordinatorMsg>,
        _msg: CoordinatorMsg,
        state: &mut Option<Run>,
    ) -> Result<(), ActorProcessingErr> {
        let started = Instant::now();
        match state.take() {
            Some(Run::Vote(spec, participants, reply)) => {
                let span = tracing::info_span!("vote", subject = %spec.proposal.subject, invited = participants.len());
                let _guard = span.enter();
                let got = collect(
                    &participants,
                    AgentRequest::Vote(spec.proposal.clone()),
                    spec.deadline,
                )
                .await;
                let mut ballots = Vec::new();
                let mut missing = got.missing;
                for (agent, answer) in got.answers {
                    match answer {
                        AgentReply::Vote(choice) => ballots.push(Ballot {
                            voter: agent,
                            choice,
                        }),
                        other => missing.push(Missing {
                            agent,
                            reason: format!("answered {other:?} to a vote"),
                        }),
                    }
                }
                let eligible: Vec<String> = participants.iter().map(|(id, _)| id.clone()).collect();
                let tally = vote::majority(&eligible, &ballots);
                tracing::info!(
                    passed = tally.passed,
                    yes = tally.yes,
                    no = tally.no,
                    absent = tally.absent,
                    "vote closed"
                );
                record_run("vote", participants.len(), ballots.len(), started);
                let _ = reply.send(VoteResult {
                    proposal: spec.proposal,
                    tally,
                    ballots,
                    missing,
                    duration_ms: started.elapsed().as_millis() as u64,
                });
            }
            Some(Run::Auction(spec, participants, reply)) => {
                let span =
                    tracing::info_span!("auction", item = %spec.item, invited = participants.len());
                let _guard = span.enter();
                let call = AgentRequest::Bid(CallForBids {
                    item: spec.item.clone(),
                });
                let got = collect(&participants, call, spec.deadline).await;
                let mut bids = Vec::new();
                let mut declined = Vec::new();
                let mut missing = got.missing;
                for (agent, answer) in got.answers {
                    match answer {
                        AgentReply::Bid(Some(amount)) => bids.push(Bid {
                            bidder: agent,
                            amount,
                            arrival: bids.len() as u64,
                        }),
                        AgentReply::Bid(None) => declined.push(agent),
                        other => missing.push(Missing {
                            agent,
                            reason: format!("answered {other:?} to a call for bids"),
                        }),
                    }
                }
                let outcome = auction::sealed_bid(spec.rule, spec.reserve, &bids);
                tracing::info!(winner = ?outcome.winner, price = ?outcome.price, bids = bids.len(), "auction closed");
                record_run(
                    "sealed_bid_auction",
                    participants.len(),
                    bids.len() + declined.len(),
                    started,
                );
                let _ = reply.send(AuctionResult {
                    item: spec.item,
                    rule: spec.rule,
                    reserve: spec.reserve,
                    outcome,
                    missing,
                    declined,
                    duration_ms: started.elapsed().as_millis() as u64,
                });
            }
            None => {}
        }
        myself.stop(None);
        Ok(())
    }
}
