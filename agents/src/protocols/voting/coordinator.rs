//! The coordinator of a yes/no vote.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::rules::{head_count, yes_no_vote, Ballot, VoteTally, Voter, WeightedTally, YesNoRule};
use super::wire::Proposal;
use crate::error::Result;
use crate::protocols::{positive, Invite, Missing, Protocol, Run};

/// What to put to a vote, how to decide it, and to whom.
///
/// [`VoteSpec::new`] gives the defaults: simple majority of the eligible
/// weight, no quorum, weight 1 for every invited agent. Run it with
/// [`Agents::run`](crate::Agents::run): every agent with the capability,
/// wherever it runs, is asked ([`Voter::vote`](crate::Voter::vote)); agents
/// that do not answer before the deadline count as absent, never as yes.
/// An invalid weight is reported in the result and does not stop the vote.
///
/// Errors of the run: [`AgentError::NoParticipants`](crate::AgentError::NoParticipants)
/// if no agent has the capability; [`AgentError::InvalidParameters`](crate::AgentError::InvalidParameters)
/// for a zero deadline; [`AgentError::Voting`](crate::AgentError::Voting)
/// for a supermajority fraction outside (1/2, 1] or a quorum that is not a
/// finite number ≥ 0.
#[derive(Debug, Clone)]
#[must_use]
#[non_exhaustive]
pub struct VoteSpec {
    /// The proposal.
    pub proposal: Proposal,
    /// Invite every agent with this capability.
    pub capability: String,
    /// The vote closes this long after it opens.
    pub deadline: Duration,
    /// The threshold and quorum, decided by [`yes_no_vote`].
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

impl Protocol for VoteSpec {
    type Output = VoteResult;
    const NAME: &'static str = "vote";

    fn validate(&self) -> Result<()> {
        positive("deadline", self.deadline)?;
        self.rule.validate()?;
        Ok(())
    }

    fn invite(&self) -> Invite {
        Invite::Capability(self.capability.clone())
    }

    fn summary(result: &VoteResult) -> Option<String> {
        let t = &result.tally;
        let decision = if result.weighted.passed {
            "passed"
        } else {
            "failed"
        };
        Some(format!(
            "{} = {}: {decision} ({} yes, {} no, {} abstained, {} absent)",
            result.proposal.subject, result.proposal.value, t.yes, t.no, t.abstained, t.absent
        ))
    }

    async fn run(self, run: &Run) -> Result<VoteResult> {
        let got = run.collect(self.proposal.clone(), self.deadline).await;
        let ballots: Vec<Ballot> = got
            .answers
            .into_iter()
            .map(|(voter, choice)| Ballot { voter, choice })
            .collect();
        let invited = run.ids();
        let weighted = yes_no_vote(&self.rule, &self.voters(&invited), &ballots)?;
        let tally = VoteTally {
            passed: weighted.passed,
            ..head_count(&invited, &ballots)
        };
        tracing::info!(
            subject = %self.proposal.subject,
            passed = tally.passed,
            yes = tally.yes,
            no = tally.no,
            absent = tally.absent,
            yes_weight = weighted.yes_weight,
            eligible_weight = weighted.eligible_weight,
            reason = %weighted.reason,
            "vote closed"
        );
        Ok(VoteResult {
            proposal: self.proposal,
            tally,
            weighted,
            ballots,
            missing: got.missing,
            duration_ms: run.elapsed_ms(),
        })
    }
}
