//! [`Variables::propose`]: a value proposed by an agent becomes the
//! committed one by the variable's [`Coordination`] rule.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{Committed, Coordination, VariableError, Variables};
use crate::agent::Value;
use crate::error::AgentError;
use crate::protocols::consensus::{AgreementResult, AgreementSpec};
use crate::protocols::voting::{Proposal, VoteResult, VoteSpec};
use crate::protocols::Protocol;
use crate::system::Agents;

/// What a proposal came to ([`Variables::propose`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Decision {
    /// Committed as proposed (the last writer wins).
    Committed(Committed),
    /// Voted on by the agents: committed if the vote passed.
    Voted {
        /// The vote's record: tally, ballots, who was missing.
        vote: VoteResult,
        /// The committed value, `None` if the vote failed.
        committed: Option<Committed>,
    },
    /// Agreed by the agents: the value Byzantine agreement decided is
    /// committed.
    Agreed {
        /// The agreement's record.
        agreement: AgreementResult,
        /// The committed value, `None` if nothing was decided.
        committed: Option<Committed>,
    },
}

impl Decision {
    /// The committed value, if the proposal (or the value the agents
    /// agreed on instead) was committed.
    pub fn committed(&self) -> Option<&Committed> {
        match self {
            Decision::Committed(c) => Some(c),
            Decision::Voted { committed, .. } | Decision::Agreed { committed, .. } => {
                committed.as_ref()
            }
        }
    }
}

impl Variables {
    /// Agent `by` proposes `value` for variable `name`; the variable's
    /// [`Coordination`] rule decides whether it is committed:
    ///
    /// * [`LastWriterWins`](Coordination::LastWriterWins): committed as
    ///   it comes.
    /// * [`Vote`](Coordination::Vote): the agents with the capability vote
    ///   on it (a [`VoteSpec`] run through `agents`, coordinated on this
    ///   node) and it is committed if the vote passes.
    /// * [`Byzantine`](Coordination::Byzantine): the agents with the
    ///   capability each propose a value ([`AgreementSpec`]); the value
    ///   decided, if any, is committed.
    ///
    /// The value is checked against the variable's kind and constraints
    /// before anybody is asked, and the commit is made against the
    /// version read then: a variable whose conflict rule is
    /// [`Refuse`](crate::variables::Conflict::Refuse) refuses it with
    /// [`VariableError::Stale`] if another commit came first (while the
    /// agents voted, say).
    ///
    /// A vote that fails or an agreement that decides nothing is an
    /// answer, not an error: the [`Decision`] says so and carries the
    /// record, and nothing is committed.
    ///
    /// # Errors
    /// The refusals of [`commit`](Self::commit) and [`get`](Self::get);
    /// [`VariableError::Coordination`] if the vote or agreement could not
    /// run (an invalid rule, no quorum of agents to ask); nothing is
    /// committed then.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use actor_cluster::Node;
    /// use agents::variables::{Coordination, Definition, Kind, Variables};
    /// use actor_cluster::Server;
    /// use agents::{Agent, Agents, Families, Proposal, Value, Voter, YesNoRule};
    ///
    /// /// A trainer that accepts any learning rate below 0.05.
    /// struct Trainer;
    /// impl Server for Trainer {}
    /// impl Agent for Trainer {
    ///     fn id(&self) -> String { "trainer-1".into() }
    ///     fn capabilities(&self) -> Vec<String> { vec!["trainer".into()] }
    ///     fn families(families: &mut Families<Self>) { families.voter(); }
    /// }
    /// impl Voter for Trainer {
    ///     async fn vote(&mut self, proposal: &Proposal) -> Option<bool> {
    ///         Some(matches!(proposal.value, Value::Float(v) if v < 0.05))
    ///     }
    /// }
    ///
    /// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let node = Node::builder()
    ///     .name("solo").cookie("secret").listen("127.0.0.1:0".parse()?).no_discovery()
    ///     .start().await?;
    /// let agents = Agents::start(&node).await?;
    /// agents.spawn(|| Trainer).await?;
    /// let variables = Variables::start(&node, &["solo"]).await?;
    /// let vote = Coordination::vote("trainer", YesNoRule::simple_majority(), Duration::from_secs(1));
    /// let lr = Definition::new("learning_rate", Kind::float(0.0, 1.0), Value::Float(0.1))
    ///     .coordination(vote);
    /// variables.define(lr).await?;
    ///
    /// let accepted = variables.propose(&agents, "learning_rate", Value::Float(0.01), "trainer-1").await?;
    /// assert_eq!(accepted.committed().map(|c| c.version), Some(1));
    /// let refused = variables.propose(&agents, "learning_rate", Value::Float(0.5), "trainer-1").await?;
    /// assert!(refused.committed().is_none());
    /// assert_eq!(variables.get("learning_rate").await?.value, Value::Float(0.01));
    /// variables.shutdown().await;
    /// node.shutdown().await;
    /// # Ok(()) }
    /// ```
    pub async fn propose(
        &self,
        agents: &Agents,
        name: &str,
        value: Value,
        by: &str,
    ) -> Result<Decision, VariableError> {
        let decided = self.decide(agents, name, value, by).await;
        let (rule, outcome) = match &decided {
            Ok(decision) => (
                match decision {
                    Decision::Committed(_) => "last_writer_wins",
                    Decision::Voted { .. } => "vote",
                    Decision::Agreed { .. } => "byzantine",
                },
                if decision.committed().is_some() {
                    "committed"
                } else {
                    "not_agreed"
                },
            ),
            Err(VariableError::NoQuorum { .. }) => ("unknown", "no_quorum"),
            Err(_) => ("unknown", "refused"),
        };
        metrics::counter!("foundation_variables_proposals_total", "rule" => rule, "outcome" => outcome)
            .increment(1);
        tracing::info!(
            variable = name,
            by,
            rule,
            outcome,
            version = decided
                .as_ref()
                .ok()
                .and_then(Decision::committed)
                .map(|c| c.version),
            "proposal decided"
        );
        decided
    }

    /// [`propose`](Self::propose) without its telemetry.
    async fn decide(
        &self,
        agents: &Agents,
        name: &str,
        value: Value,
        by: &str,
    ) -> Result<Decision, VariableError> {
        let (coordination, value, seen) = self
            .read(|table| {
                let definition = table
                    .definition(name)
                    .ok_or_else(|| VariableError::Unknown(name.to_owned()))?;
                let value = table.check(name, &value)?;
                let seen = table.get(name).map_or(0, |c| c.version);
                Ok::<_, VariableError>((definition.coordination.clone(), value, seen))
            })
            .await??;
        let not_run = |e: AgentError| VariableError::Coordination {
            name: name.to_owned(),
            reason: e.to_string(),
        };
        Ok(match coordination {
            Coordination::Custom { name: rule } => {
                return Err(VariableError::Coordination {
                    name: name.to_owned(),
                    reason: format!(
                        "it is decided by the custom rule `{rule}`: propose with propose_with"
                    ),
                })
            }
            Coordination::LastWriterWins => {
                Decision::Committed(self.commit_seen(name, value, Some(seen), by).await?)
            }
            Coordination::Vote {
                capability,
                rule,
                deadline_ms,
            } => {
                let proposal = Proposal {
                    subject: name.to_owned(),
                    value: value.clone(),
                };
                let spec = VoteSpec::new(proposal, capability, Duration::from_millis(deadline_ms))
                    .rule(rule);
                let vote = agents.run(spec).await.map_err(not_run)?;
                let committed = if vote.weighted.passed {
                    Some(self.commit_seen(name, value, Some(seen), by).await?)
                } else {
                    None
                };
                Decision::Voted { vote, committed }
            }
            Coordination::Byzantine {
                capability,
                faulty,
                deadline_ms,
            } => {
                let mut spec =
                    AgreementSpec::new(name, capability, Duration::from_millis(deadline_ms));
                if let Some(f) = faulty {
                    spec = spec.faulty(f);
                }
                let agreement = agents.run(spec).await.map_err(not_run)?;
                let committed = match &agreement.decided {
                    Some(decided) => Some(
                        self.commit_seen(name, decided.clone(), Some(seen), by)
                            .await?,
                    ),
                    None => None,
                };
                Decision::Agreed {
                    agreement,
                    committed,
                }
            }
        })
    }

    /// Runs `spec`, a protocol of the application's own (the rule of a
    /// variable whose coordination is
    /// [`Custom`](Coordination::Custom), or any other), and commits the
    /// value `decide` draws from its output, on behalf of `by`, against
    /// the version read before the run (so the conflict rule holds).
    /// Answers the output and the commit, `None` if `decide` drew no
    /// value.
    ///
    /// # Errors
    /// As [`propose`](Self::propose): the variable unknown, the decided
    /// value refused by its kind or constraints, the protocol failing
    /// ([`VariableError::Coordination`]), no quorum.
    ///
    /// # Examples
    ///
    /// A value drawn from an auction's price (`agents/tests/custom_protocol.rs`
    /// shows a protocol defined outside the crate):
    ///
    /// ```no_run
    /// # use std::time::Duration;
    /// # use agents::variables::Variables;
    /// # use agents::{Agents, AuctionRule, AuctionSpec, Value};
    /// # async fn price(variables: &Variables, agents: &Agents) -> Result<(), Box<dyn std::error::Error>> {
    /// let auction = AuctionSpec::new("gpu-hour", AuctionRule::SecondPrice, "bidder", Duration::from_secs(1));
    /// let (result, committed) = variables
    ///     .propose_with(agents, "gpu_price", auction, |r| r.outcome.price.map(Value::Float), "pricer")
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn propose_with<P: Protocol>(
        &self,
        agents: &Agents,
        name: &str,
        spec: P,
        decide: impl FnOnce(&P::Output) -> Option<Value>,
        by: &str,
    ) -> Result<(P::Output, Option<Committed>), VariableError> {
        let seen = self
            .read(|table| table.get(name).map(|c| c.version))
            .await?
            .ok_or_else(|| VariableError::Unknown(name.to_owned()))?;
        let output = agents
            .run(spec)
            .await
            .map_err(|e| VariableError::Coordination {
                name: name.to_owned(),
                reason: e.to_string(),
            })?;
        let committed = match decide(&output) {
            Some(value) => Some(self.commit_seen(name, value, Some(seen), by).await?),
            None => None,
        };
        Ok((output, committed))
    }
}
