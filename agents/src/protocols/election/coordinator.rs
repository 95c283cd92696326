//! The coordinator of a ranked-ballot election.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::rules::{count, ElectionMethod, ElectionOutcome, RankedBallot};
use super::wire::Election;
use crate::error::Result;
use crate::protocols::voting::VoteError;
use crate::protocols::{positive, Invite, Missing, Protocol, Run};

/// A ranked-ballot election: the candidates, the counting rule, and whom
/// to ask.
///
/// Run it with [`Agents::run`](crate::Agents::run): every agent with the
/// capability, wherever it runs, is asked to
/// [`rank`](crate::Voter::rank) the candidates before the deadline, and
/// the rankings are counted with the method. Late agents and agents whose
/// node dies are listed as missing; a ballot naming an unknown candidate
/// or one candidate twice is rejected and reported, and the others are
/// still counted.
///
/// Errors of the run: [`AgentError::NoParticipants`](crate::AgentError::NoParticipants)
/// if no agent has the capability; [`AgentError::InvalidParameters`](crate::AgentError::InvalidParameters)
/// for a zero deadline; [`AgentError::Voting`](crate::AgentError::Voting)
/// for an empty candidate list or one that names a candidate twice.
#[derive(Debug, Clone)]
#[non_exhaustive]
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

impl ElectionSpec {
    /// An election among `candidates`, counted by `method`, of every agent
    /// with `capability`, closing after `deadline`.
    pub fn new(
        candidates: impl IntoIterator<Item = impl Into<String>>,
        method: ElectionMethod,
        capability: impl Into<String>,
        deadline: Duration,
    ) -> Self {
        Self {
            candidates: candidates.into_iter().map(Into::into).collect(),
            method,
            capability: capability.into(),
            deadline,
        }
    }
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

impl Protocol for ElectionSpec {
    type Output = ElectionResult;
    const NAME: &'static str = "election";

    fn validate(&self) -> Result<()> {
        positive("deadline", self.deadline)?;
        count(self.method, &self.candidates, &[])?;
        Ok(())
    }

    fn invite(&self) -> Invite {
        Invite::Capability(self.capability.clone())
    }

    fn summary(result: &ElectionResult) -> Option<String> {
        Some(match &result.winner {
            Some(winner) => format!("{winner} elected ({} ballots)", result.ballots.len()),
            None => format!("no winner ({} ballots)", result.ballots.len()),
        })
    }

    async fn run(self, run: &Run) -> Result<ElectionResult> {
        let request = Election {
            candidates: self.candidates.clone(),
            method: self.method,
        };
        let got = run.collect(request, self.deadline).await;
        let mut ballots = Vec::new();
        let mut abstained = Vec::new();
        for (agent, answer) in got.answers {
            match answer {
                Some(ranking) => ballots.push(RankedBallot {
                    voter: agent,
                    ranking,
                }),
                None => abstained.push(agent),
            }
        }
        let outcome = count(self.method, &self.candidates, &ballots)?;
        let winner = outcome.winner().map(str::to_owned);
        let tie_breaks = outcome.tie_breaks();
        let rejected = outcome.rejected().to_vec();
        tracing::info!(
            method = %self.method,
            winner = ?winner,
            ballots = ballots.len(),
            rejected = rejected.len(),
            missing = got.missing.len(),
            "election closed"
        );
        Ok(ElectionResult {
            method: self.method,
            candidates: self.candidates,
            winner,
            tie_breaks,
            rejected,
            outcome,
            ballots,
            abstained,
            missing: got.missing,
            duration_ms: run.elapsed_ms(),
        })
    }
}
