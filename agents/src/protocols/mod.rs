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
//! [`bandit`] (UCB1, epsilon-greedy, Thompson sampling).
//!
//! Coordinators run them across nodes, as methods of
//! [`Agents`](crate::Agents): `vote`, `elect` ([`election`]: plurality,
//! Borda, instant-runoff, Condorcet), `agree` ([`consensus`]), `auction`,
//! `english`, `dutch`, `multi_unit`, `vcg`, `combinatorial`
//! ([`auction`]), `contract`, `bargain`, `zeuthen` ([`negotiation`]),
//! `play` ([`games`]), and the markets of [`market`]. Every run records
//! its participants, the missing ones with reasons, rejected input, how
//! ties were broken, and telemetry (runs, duration, participation).

pub mod auction;
pub mod bandit;
pub mod consensus;
pub mod election;
pub mod games;
pub mod market;
pub mod negotiation;
pub mod vote;
pub mod voting;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use tracing::Instrument;

use actor_cluster::ClusterError;
use futures::stream::{FuturesUnordered, StreamExt};
use ractor::{Actor, ActorProcessingErr, ActorRef, Message};
use serde::{Deserialize, Serialize};

use crate::agent::{CallForBids, Election, Proposal, Rejected};
use crate::system::AgentRef;
use auction::{AuctionOutcome, AuctionRule, Bid};
use election::{ElectionMethod, ElectionOutcome};
use vote::{Ballot, VoteTally};
use voting::{RankedBallot, VoteError, Voter, WeightedTally, YesNoRule};

/// Index of the largest value, the lowest index among equals (0 if empty).
pub(crate) fn argmax(values: impl Iterator<Item = f64>) -> usize {
    let mut best = 0;
    let mut best_value = f64::NEG_INFINITY;
    for (i, v) in values.enumerate() {
        if v > best_value {
            best = i;
            best_value = v;
        }
    }
    best
}

/// How a tie for first place between `first` and `second` (both reaching
/// `value`, e.g. "bid 10") was broken by the default rule: earliest
/// arrival, then lowest agent id.
pub(crate) fn tie_break_text(first: &str, second: &str, value: &str, same_arrival: bool) -> String {
    if same_arrival {
        format!("{first} and {second} {value} at the same time; lowest id {first} wins")
    } else {
        format!("{first} and {second} {value}; {first} arrived first")
    }
}

/// A participant that gave no usable answer, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Missing {
    /// The agent.
    pub agent: String,
    /// Why its answer is missing (deadline passed, node gone, ...).
    pub reason: String,
}

/// What to put to a vote, how to decide it, and to whom.
///
/// [`VoteSpec::new`] gives the defaults: simple majority of the eligible
/// weight, no quorum, weight 1 for every invited agent.
#[derive(Debug, Clone)]
#[must_use]
pub struct VoteSpec {
    /// The proposal.
    pub proposal: Proposal,
    /// Invite every agent with this capability.
    pub capability: String,
    /// The vote closes this long after it opens.
    pub deadline: Duration,
    /// The threshold and quorum, decided by [`voting::yes_no_vote`].
    pub rule: YesNoRule,
    /// Weights by agent id; an invited agent not listed weighs 1. An
    /// invalid weight (not a finite number ≥ 0) leaves that agent out of
    /// the electorate and is reported in [`WeightedTally::rejected`]; it
    /// does not stop the vote. Weights of agents that are not invited are
    /// ignored.
    pub weights: BTreeMap<String, f64>,
}

impl VoteSpec {
    /// A simple-majority vote on `proposal` among every agent with
    /// `capability`, one agent one vote, no quorum, closing after
    /// `deadline`.
    pub fn new(proposal: Proposal, capability: impl Into<String>, deadline: Duration) -> Self {
        Self {
            proposal,
            capability: capability.into(),
            deadline,
            rule: YesNoRule::simple_majority(),
            weights: BTreeMap::new(),
        }
    }

    /// The same vote decided by `rule`.
    pub fn rule(self, rule: YesNoRule) -> Self {
        Self { rule, ..self }
    }

    /// The same vote with agent `id` weighing `weight`.
    pub fn weight(mut self, id: impl Into<String>, weight: f64) -> Self {
        self.weights.insert(id.into(), weight);
        self
    }

    /// The eligible voters: every invited agent with its weight.
    fn voters(&self, invited: &[String]) -> Vec<Voter> {
        invited
            .iter()
            .map(|id| Voter::new(id.clone(), self.weights.get(id).copied().unwrap_or(1.0)))
            .collect()
    }
}

/// The record of a vote.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VoteResult {
    /// What was voted on.
    pub proposal: Proposal,
    /// The head count (one agent one vote). Its `passed` is the decision
    /// of the spec's rule, the same as [`WeightedTally::passed`]; with the
    /// default rule and weights that is a simple majority of heads.
    pub tally: VoteTally,
    /// The weighted count under the spec's rule: eligible, yes, no,
    /// abstaining and absent weight, quorum, decision and its reason, and
    /// input the rule set aside (invalid weights).
    pub weighted: WeightedTally,
    /// Every ballot received in time, in arrival order.
    pub ballots: Vec<Ballot>,
    /// Invited agents without a ballot.
    pub missing: Vec<Missing>,
    /// How long the vote took.
    pub duration_ms: u64,
}

/// A ranked-ballot election: the candidates, the counting rule, and whom
/// to ask.
#[derive(Debug, Clone)]
#[must_use]
pub struct ElectionSpec {
    /// The candidates; at least one, no name twice.
    pub candidates: Vec<String>,
    /// How the ballots are counted.
    pub method: ElectionMethod,
    /// Invite every agent with this capability.
    pub capability: String,
    /// Ballots close this long after the election opens.
    pub deadline: Duration,
}

/// The record of an election.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ElectionResult {
    /// The counting rule.
    pub method: ElectionMethod,
    /// The candidates, as listed.
    pub candidates: Vec<String>,
    /// The winner, if the rule found one (the same as in `outcome`).
    pub winner: Option<String>,
    /// How ties were broken ([`ElectionOutcome::tie_breaks`]); empty when
    /// none arose.
    pub tie_breaks: Vec<String>,
    /// Ballots the rule set aside, and why (the same as in `outcome`).
    pub rejected: Vec<VoteError>,
    /// The rule's full record: scores, rounds or the pairwise matrix.
    pub outcome: ElectionOutcome,
    /// Every ranking received in time, in arrival order.
    pub ballots: Vec<RankedBallot>,
    /// Agents that answered in time but declined to rank.
    pub abstained: Vec<String>,
    /// Invited agents without an answer (late, or their node gone).
    pub missing: Vec<Missing>,
    /// How long the election took.
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

/// The invited agents: id and reference, sorted by id.
pub(crate) type Participants = Vec<(String, AgentRef)>;

/// A protocol run: the coordinator's whole job, reporting its result
/// through a channel of its own.
pub(crate) type Run = futures::future::BoxFuture<'static, ()>;

/// The coordinator of one protocol run. It is spawned linked to the agent
/// supervisor, runs once and stops.
pub(crate) struct Coordinator;

pub(crate) enum CoordinatorMsg {
    Start,
}

impl Message for CoordinatorMsg {}

/// Answers in arrival order, and who did not answer.
pub(crate) struct Collected<R> {
    /// Answers received before the deadline, in arrival order.
    pub(crate) answers: Vec<(String, R)>,
    /// Invited agents without an answer, sorted by id.
    pub(crate) missing: Vec<Missing>,
    /// Those of `missing` that are gone rather than late.
    pub(crate) gone: Vec<String>,
}

/// Sends `request` to every participant at once; the answers (or the
/// errors: deadline passed, node gone) come out in arrival order.
pub(crate) fn ask_all<'a, M: actor_cluster::Message + Clone>(
    participants: &'a Participants,
    request: M,
    deadline: Duration,
) -> impl futures::Stream<Item = (String, Result<M::Reply, ClusterError>)> + 'a {
    let opened = Instant::now();
    participants
        .iter()
        .map(move |(id, agent)| {
            let request = request.clone();
            async move {
                let remaining = deadline.saturating_sub(opened.elapsed());
                (id.clone(), agent.ask(request, remaining).await)
            }
        })
        .collect::<FuturesUnordered<_>>()
}

/// Sends `request` to every participant at once and gathers the answers
/// that arrive before `deadline`; the others are [`Missing`] with the
/// reason (deadline passed, node gone, unknown name).
pub(crate) async fn collect<M: actor_cluster::Message + Clone>(
    participants: &Participants,
    request: M,
    deadline: Duration,
) -> Collected<M::Reply> {
    let mut pending = std::pin::pin!(ask_all(participants, request, deadline));
    let mut collected = Collected {
        answers: Vec::new(),
        missing: Vec::new(),
        gone: Vec::new(),
    };
    while let Some((id, result)) = pending.next().await {
        match result {
            Ok(reply) => collected.answers.push((id, reply)),
            Err(e) => {
                if is_gone(&e) {
                    collected.gone.push(id.clone());
                }
                collected.missing.push(missing(id, &e));
            }
        }
    }
    collected.missing.sort_by(|a, b| a.agent.cmp(&b.agent));
    collected
}

/// Refuses a zero `what` (a deadline) with a clear error.
pub(crate) fn positive(what: &str, d: Duration) -> crate::error::Result<()> {
    if d.is_zero() {
        return Err(crate::error::AgentError::InvalidParameters(format!(
            "the {what} must be positive"
        )));
    }
    Ok(())
}

/// Whether `error` means the agent is gone (its node down, its name
/// unknown) rather than late.
pub(crate) fn is_gone(error: &ClusterError) -> bool {
    !matches!(error, ClusterError::Timeout { .. })
}

/// The reason given for a participant that did not answer in time.
const LATE: &str = "no answer before the deadline";

/// A participant that gave no answer because of `error`.
pub(crate) fn missing(agent: String, error: &ClusterError) -> Missing {
    let reason = match error {
        ClusterError::Timeout { .. } => LATE.to_owned(),
        other => other.to_string(),
    };
    Missing { agent, reason }
}

/// Tells `agent` that its answer to `protocol` was set aside and why.
/// Fire and forget: a participant that is gone by now is not waited for.
pub(crate) fn notify_rejected(agent: &AgentRef, protocol: &str, reason: impl Into<String>) {
    let _ = agent.tell(Rejected {
        protocol: protocol.to_owned(),
        reason: reason.into(),
    });
}

/// The reference of invited agent `id`.
pub(crate) fn participant<'a>(participants: &'a Participants, id: &str) -> Option<&'a AgentRef> {
    participants
        .iter()
        .find(|(agent, _)| agent == id)
        .map(|(_, agent)| agent)
}

/// Tells invited agent `id` that its answer to `protocol` was set aside
/// ([`notify_rejected`]); nothing if `id` was not invited.
pub(crate) fn reject_answer(
    participants: &Participants,
    id: &str,
    protocol: &str,
    reason: impl Into<String>,
) {
    if let Some(agent) = participant(participants, id) {
        notify_rejected(agent, protocol, reason);
    }
}

/// Protocol analytics through the metrics facade: runs, duration and
/// participation per protocol.
pub(crate) fn record_run(
    protocol: &'static str,
    invited: usize,
    answered: usize,
    started: Instant,
) {
    metrics::counter!("foundation_protocol_runs_total", "protocol" => protocol).increment(1);
    metrics::histogram!("foundation_protocol_duration_seconds", "protocol" => protocol)
        .record(started.elapsed().as_secs_f64());
    if invited > 0 {
        metrics::histogram!("foundation_protocol_participation_ratio", "protocol" => protocol)
            .record(answered as f64 / invited as f64);
    }
}

/// Protocol analytics of a run with rounds and an outcome: how many rounds
/// it took, and a count per outcome (`decided`, `no_sale`, `cancelled`, ...).
pub(crate) fn record_outcome(protocol: &'static str, rounds: u64, outcome: &'static str) {
    metrics::histogram!("foundation_protocol_rounds", "protocol" => protocol).record(rounds as f64);
    metrics::counter!("foundation_protocol_outcomes_total", "protocol" => protocol, "outcome" => outcome)
        .increment(1);
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
        if let Some(run) = state.take() {
            run.await;
        }
        myself.stop(None);
        Ok(())
    }
}

/// Puts a proposal to the participants and decides it with the spec's rule.
pub(crate) async fn run_vote(
    spec: VoteSpec,
    participants: &Participants,
) -> Result<VoteResult, VoteError> {
    let started = Instant::now();
    let span =
        tracing::info_span!("vote", subject = %spec.proposal.subject, invited = participants.len());
    async move {
        let got = collect(participants, spec.proposal.clone(), spec.deadline).await;
        let missing = got.missing;
        let ballots: Vec<Ballot> = got
            .answers
            .into_iter()
            .map(|(voter, choice)| Ballot { voter, choice })
            .collect();
        let invited: Vec<String> = participants.iter().map(|(id, _)| id.clone()).collect();
        let weighted = voting::yes_no_vote(&spec.rule, &spec.voters(&invited), &ballots)?;
        let tally = VoteTally {
            passed: weighted.passed,
            ..vote::majority(&invited, &ballots)
        };
        tracing::info!(
            passed = tally.passed,
            yes = tally.yes,
            no = tally.no,
            absent = tally.absent,
            yes_weight = weighted.yes_weight,
            eligible_weight = weighted.eligible_weight,
            reason = %weighted.reason,
            "vote closed"
        );
        record_run("vote", participants.len(), ballots.len(), started);
        Ok(VoteResult {
            proposal: spec.proposal,
            tally,
            weighted,
            ballots,
            missing,
            duration_ms: started.elapsed().as_millis() as u64,
        })
    }
    .instrument(span)
    .await
}

/// Asks the participants to rank the candidates and counts the rankings
/// with the spec's method.
pub(crate) async fn run_election(
    spec: ElectionSpec,
    participants: &Participants,
) -> Result<ElectionResult, VoteError> {
    let started = Instant::now();
    let span = tracing::info_span!("election", method = %spec.method, invited = participants.len());
    async move {
        let request = Election {
            candidates: spec.candidates.clone(),
            method: spec.method,
        };
        let got = collect(participants, request, spec.deadline).await;
        let mut ballots = Vec::new();
        let mut abstained = Vec::new();
        let missing = got.missing;
        for (agent, answer) in got.answers {
            match answer {
                Some(ranking) => ballots.push(RankedBallot {
                    voter: agent,
                    ranking,
                }),
                None => abstained.push(agent),
            }
        }
        let outcome = election::count(spec.method, &spec.candidates, &ballots)?;
        let winner = outcome.winner().map(str::to_owned);
        let tie_breaks = outcome.tie_breaks();
        let rejected = outcome.rejected().to_vec();
        tracing::info!(
            winner = ?winner,
            ballots = ballots.len(),
            rejected = rejected.len(),
            missing = missing.len(),
            "election closed"
        );
        record_run(
            "election",
            participants.len(),
            ballots.len() + abstained.len(),
            started,
        );
        Ok(ElectionResult {
            method: spec.method,
            candidates: spec.candidates,
            winner,
            tie_breaks,
            rejected,
            outcome,
            ballots,
            abstained,
            missing,
            duration_ms: started.elapsed().as_millis() as u64,
        })
    }
    .instrument(span)
    .await
}

/// Calls for sealed bids and prices the item with the spec's rule.
pub(crate) async fn run_auction(spec: AuctionSpec, participants: &Participants) -> AuctionResult {
    let started = Instant::now();
    let span = tracing::info_span!("auction", item = %spec.item, invited = participants.len());
    async move {
        let call = CallForBids {
            item: spec.item.clone(),
        };
        let got = collect(participants, call, spec.deadline).await;
        let mut bids = Vec::new();
        let mut declined = Vec::new();
        let missing = got.missing;
        for (agent, answer) in got.answers {
            match answer {
                Some(amount) => bids.push(Bid {
                    bidder: agent,
                    amount,
                    arrival: bids.len() as u64,
                }),
                None => declined.push(agent),
            }
        }
        let outcome = auction::sealed_bid(spec.rule, spec.reserve, &bids);
        for rejected in &outcome.rejected {
            reject_answer(
                participants,
                &rejected.bidder,
                "sealed_bid_auction",
                rejected.reason.clone(),
            );
        }
        tracing::info!(winner = ?outcome.winner, price = ?outcome.price, bids = bids.len(), "auction closed");
        record_run(
            "sealed_bid_auction",
            participants.len(),
            bids.len() + declined.len(),
            started,
        );
        AuctionResult {
            item: spec.item,
            rule: spec.rule,
            reserve: spec.reserve,
            outcome,
            missing,
            declined,
            duration_ms: started.elapsed().as_millis() as u64,
        }
    }
    .instrument(span)
    .await
}
