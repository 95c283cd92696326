//! Byzantine-tolerant agreement across nodes: every invited agent proposes
//! a value, and a value is decided as soon as `q = ⌈(n+f+1)/2⌉` matching
//! proposals have arrived ([`byzantine_agreement`] decides).
//!
//! Values are compared exactly: `Float(0.1)` and `Float(0.10)` match, as
//! do two texts with the same characters; `Int(1)` and `Float(1.0)` do
//! not. A proposal that is not a finite number is rejected and told so.

use std::time::{Duration, Instant};
use tracing::Instrument;

use futures::StreamExt;
use serde::{Deserialize, Serialize};

use super::voting::{byzantine_agreement, max_faulty, ByzantineOutcome, ByzantineVote};
use super::{
    ask_all, missing, positive, record_outcome, record_run, reject_answer, Missing, Participants,
};
use crate::agent::Value;
use crate::error::Result;
use crate::system::Agents;

/// A question put to agents in Byzantine-tolerant agreement: each answers
/// with the value it proposes for `subject`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Agreement {
    /// What is being agreed, e.g. a variable name.
    pub subject: String,
    /// How many faulty agents the agreement tolerates.
    pub f: usize,
    /// Matching proposals needed to decide.
    pub quorum: usize,
}

/// What to agree on, among whom, tolerating how many faulty agents.
#[derive(Debug, Clone)]
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

impl Agents {
    /// Byzantine-tolerant agreement among every agent with the spec's
    /// capability, wherever they run: each proposes a value
    /// ([`Agent::agree`](crate::Voter::agree)); the first value with
    /// `q = ⌈(n+f+1)/2⌉` matching proposals is decided at once, without
    /// waiting for the rest. Absent, late and dead agents count as not
    /// voting; with fewer than `q` matching proposals by the deadline
    /// nothing is decided.
    ///
    /// # Errors
    /// [`AgentError::Voting`](crate::AgentError::Voting) (`TooFewAgents`, naming 3f+1 and n) when
    /// fewer than 3f+1 agents have the capability;
    /// [`AgentError::InvalidParameters`](crate::AgentError::InvalidParameters) for a zero deadline;
    /// [`AgentError::NoParticipants`](crate::AgentError::NoParticipants) if no agent has the capability.
    pub async fn agree(&self, spec: AgreementSpec) -> Result<AgreementResult> {
        positive("deadline", spec.deadline)?;
        let participants = self.participants(&spec.capability).await?;
        let n = participants.len();
        let f = spec.faulty.unwrap_or_else(|| max_faulty(n));
        byzantine_agreement::<String>(n, f, &[])?;
        self.coordinate(async move { run_agreement(spec, f, &participants).await })
            .await?
    }
}

async fn run_agreement(
    spec: AgreementSpec,
    f: usize,
    participants: &Participants,
) -> Result<AgreementResult> {
    let started = Instant::now();
    let n = participants.len();
    let span = tracing::info_span!("agreement", subject = %spec.subject, n, f);
    async move {
        let question = Agreement {
            subject: spec.subject.clone(),
            f,
            quorum: super::voting::byzantine_quorum(n, f),
        };
        let mut answers = std::pin::pin!(ask_all(
            participants,
            question,
            spec.deadline
        ));
        let mut proposals = Vec::new();
        let mut votes: Vec<ByzantineVote<String>> = Vec::new();
        let mut abstained = Vec::new();
        let mut rejected = Vec::new();
        let mut absent = Vec::new();
        let mut heard = Vec::new();
        let mut outcome = byzantine_agreement::<String>(n, f, &[])?;
        while let Some((agent, reply)) = answers.next().await {
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
                        reject_answer(participants, &agent, "agreement", reason.clone());
                        rejected.push(Missing { agent, reason });
                    }
                },
                Ok(None) => abstained.push(agent),
                Err(e) => absent.push(missing(agent, &e)),
            }
        }
        let not_needed: Vec<String> = participants
            .iter()
            .map(|(id, _)| id.clone())
            .filter(|id| !heard.contains(id))
            .collect();
        absent.sort_by(|a, b| a.agent.cmp(&b.agent));
        let decided = outcome.decided.as_ref().and_then(|key| {
            proposals
                .iter()
                .find(|p| canonical(&p.value).as_ref() == Some(key))
                .map(|p| p.value.clone())
        });
        tracing::info!(decided = ?decided, quorum = outcome.quorum, proposals = proposals.len(), "agreement closed");
        record_outcome(
            "agreement",
            1,
            if decided.is_some() {
                "decided"
            } else {
                "undecided"
            },
        );
        record_run("agreement", n, heard.len() - absent.len(), started);
        Ok(AgreementResult {
            subject: spec.subject,
            decided,
            outcome,
            proposals,
            abstained,
            rejected,
            not_needed,
            missing: absent,
            duration_ms: started.elapsed().as_millis() as u64,
        })
    }
    .instrument(span)
    .await
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
