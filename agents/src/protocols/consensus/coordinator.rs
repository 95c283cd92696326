//! The coordinator of Byzantine agreement.

use std::time::Duration;

use futures::StreamExt;
use serde::{Deserialize, Serialize};

use super::rules::{
    byzantine_agreement, byzantine_quorum, max_faulty, ByzantineOutcome, ByzantineVote,
};
use super::wire::Agreement;
use crate::agent::Value;
use crate::error::Result;
use crate::protocols::{positive, Invite, Missing, Protocol, Run};

/// What to agree on, among whom, tolerating how many faulty agents.
///
/// Run it with [`Agents::run`](crate::Agents::run): each invited agent
/// proposes a value ([`Voter::agree`](crate::Voter::agree)); the first
/// value with `q = ⌈(n+f+1)/2⌉` matching proposals is decided at once,
/// without waiting for the rest. Absent, late and dead agents count as not
/// voting; with fewer than `q` matching proposals by the deadline nothing
/// is decided.
///
/// Errors of the run: [`AgentError::Voting`](crate::AgentError::Voting)
/// (`TooFewAgents`, naming 3f+1 and n) when fewer than 3f+1 agents have
/// the capability; [`AgentError::InvalidParameters`](crate::AgentError::InvalidParameters)
/// for a zero deadline; [`AgentError::NoParticipants`](crate::AgentError::NoParticipants)
/// if no agent has the capability.
#[derive(Debug, Clone)]
#[non_exhaustive]
#[must_use]
pub struct AgreementSpec {
    /// What is being agreed.
    pub subject: String,
    /// Invite every agent with this capability (n = how many there are).
    pub capability: String,
    /// Faulty agents to tolerate; `None` for the most n allows,
    /// `⌊(n−1)/3⌋`. With n < 3f+1 the agreement is refused.
    pub faulty: Option<usize>,
    /// Proposals close this long after the question.
    pub deadline: Duration,
}

impl AgreementSpec {
    /// Agreement on `subject` among every agent with `capability`,
    /// tolerating the most faulty agents n allows, closing after
    /// `deadline`.
    pub fn new(
        subject: impl Into<String>,
        capability: impl Into<String>,
        deadline: Duration,
    ) -> Self {
        Self {
            subject: subject.into(),
            capability: capability.into(),
            faulty: None,
            deadline,
        }
    }

    /// The same agreement tolerating `f` faulty agents.
    pub fn faulty(self, f: usize) -> Self {
        Self {
            faulty: Some(f),
            ..self
        }
    }
}

/// One agent's proposal, as it arrived.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Proposed {
    /// The agent.
    pub agent: String,
    /// Its value.
    pub value: Value,
}

/// The record of an agreement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgreementResult {
    /// What was agreed.
    pub subject: String,
    /// The decided value, once `quorum` matching proposals arrived.
    pub decided: Option<Value>,
    /// The rule's record: n, f, quorum, counts per value (by the value's
    /// canonical text), whether a decision was still possible.
    pub outcome: ByzantineOutcome<String>,
    /// Proposals in arrival order (up to the decision).
    pub proposals: Vec<Proposed>,
    /// Agents that answered without a value.
    pub abstained: Vec<String>,
    /// Proposals set aside (not a finite number), with the reason.
    pub rejected: Vec<Missing>,
    /// Agents still to answer when the decision was reached: not needed.
    pub not_needed: Vec<String>,
    /// Agents without an answer before the deadline, or whose node died.
    pub missing: Vec<Missing>,
    /// How long the agreement took.
    pub duration_ms: u64,
}

/// The canonical text of a value, by which proposals are matched; `None`
/// for a number that is not finite.
fn canonical(value: &Value) -> Option<String> {
    match value {
        Value::Float(v) if !v.is_finite() => None,
        Value::Float(v) => Some(format!("float:{}", v + 0.0)),
        Value::Int(v) => Some(format!("int:{v}")),
        Value::Bool(v) => Some(format!("bool:{v}")),
        Value::Text(v) => Some(format!("text:{v}")),
    }
}

impl Protocol for AgreementSpec {
    type Output = AgreementResult;
    const NAME: &'static str = "agreement";

    fn validate(&self) -> Result<()> {
        positive("deadline", self.deadline)
    }

    fn invite(&self) -> Invite {
        Invite::Capability(self.capability.clone())
    }

    fn summary(result: &AgreementResult) -> Option<String> {
        Some(match &result.decided {
            Some(value) => format!("{} = {value} agreed", result.subject),
            None => format!("{}: no agreement", result.subject),
        })
    }

    async fn run(self, run: &Run) -> Result<AgreementResult> {
        let n = run.participants().len();
        let f = self.faulty.unwrap_or_else(|| max_faulty(n));
        let mut outcome = byzantine_agreement::<String>(n, f, &[])?;
        let question = Agreement {
            subject: self.subject.clone(),
            f,
            quorum: byzantine_quorum(n, f),
        };
        let mut answers = std::pin::pin!(run.ask_each(question, self.deadline));
        let mut proposals = Vec::new();
        let mut votes: Vec<ByzantineVote<String>> = Vec::new();
        let mut abstained = Vec::new();
        let mut rejected = Vec::new();
        let mut heard = Vec::new();
        while let Some((agent, reply)) = answers.next().await {
            run.heard(&agent, &reply);
            heard.push(agent.clone());
            match reply {
                Ok(Some(value)) => match canonical(&value) {
                    Some(key) => {
                        votes.push(ByzantineVote {
                            voter: agent.clone(),
                            value: key,
                        });
                        proposals.push(Proposed { agent, value });
                        outcome = byzantine_agreement(n, f, &votes)?;
                        if outcome.decided.is_some() {
                            break;
                        }
                    }
                    None => {
                        let reason = format!("{value} is not a finite number");
                        run.reject(&agent, reason.clone());
                        rejected.push(Missing { agent, reason });
                    }
                },
                Ok(None) => abstained.push(agent),
                Err(_) => {}
            }
        }
        let not_needed: Vec<String> = run
            .ids()
            .into_iter()
            .filter(|id| !heard.contains(id))
            .collect();
        let decided = outcome.decided.as_ref().and_then(|key| {
            proposals
                .iter()
                .find(|p| canonical(&p.value).as_ref() == Some(key))
                .map(|p| p.value.clone())
        });
        tracing::info!(subject = %self.subject, decided = ?decided, quorum = outcome.quorum, proposals = proposals.len(), "agreement closed");
        run.record_outcome(
            1,
            if decided.is_some() {
                "decided"
            } else {
                "undecided"
            },
        );
        Ok(AgreementResult {
            subject: self.subject,
            decided,
            outcome,
            proposals,
            abstained,
            rejected,
            not_needed,
            missing: run.missing(),
            duration_ms: run.elapsed_ms(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_match_by_their_canonical_text() {
        assert_eq!(
            canonical(&Value::Float(0.1)),
            canonical(&Value::Float(0.10))
        );
        assert_eq!(
            canonical(&Value::Float(-0.0)),
            canonical(&Value::Float(0.0))
        );
        assert_ne!(canonical(&Value::Int(1)), canonical(&Value::Float(1.0)));
        assert_eq!(canonical(&Value::Float(f64::NAN)), None);
        assert_eq!(
            canonical(&Value::Text("x".into())).as_deref(),
            Some("text:x")
        );
    }
}
