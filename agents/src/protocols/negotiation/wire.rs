//! What a negotiation asks an agent, and what the agent answers.

use serde::{Deserialize, Serialize};

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
