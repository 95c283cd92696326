//! What a negotiation asks an agent: one message per step, each with the
//! answer it expects.

use serde::{Deserialize, Serialize};

use super::CnpReply;

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

/// Contract-net calls for proposals
/// ([`Negotiator::tender`](crate::Negotiator::tender)): propose a
/// [`Tender`] or refuse with a reason.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallForProposals {
    /// The task.
    pub task: Task,
    /// The call's round (0 for the first; later rounds re-issue it).
    pub round: u32,
}

/// Your proposal won ([`Negotiator::perform`](crate::Negotiator::perform)):
/// do the task and answer `Ok(result)` or `Err(reason)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Award {
    /// The task.
    pub task: Task,
}

/// Notice: your proposal did not win
/// ([`Negotiator::lost`](crate::Negotiator::lost)).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lost {
    /// The task.
    pub task: Task,
}

/// Notice: the initiator cancelled the task you were awarded
/// ([`Negotiator::cancelled`](crate::Negotiator::cancelled)).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cancel {
    /// The task.
    pub task: Task,
}

/// Alternating offers, your turn to propose
/// ([`Negotiator::offer`](crate::Negotiator::offer)): the share of the
/// unit surplus you keep, or `None` to break off.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Propose {
    /// The round, from 0.
    pub round: u32,
    /// Your discount factor and the other agent's.
    pub discounts: (f64, f64),
    /// The last round, if the bargaining is finite.
    pub horizon: Option<u32>,
}

/// Alternating offers: the other agent offers you `share`
/// ([`Negotiator::respond`](crate::Negotiator::respond)); `true` accepts.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Respond {
    /// The round, from 0.
    pub round: u32,
    /// The share offered to you.
    pub share: f64,
    /// Your discount factor and the other agent's.
    pub discounts: (f64, f64),
    /// The last round, if the bargaining is finite.
    pub horizon: Option<u32>,
}

/// Zeuthen negotiation ([`Negotiator::utilities`](crate::Negotiator::utilities)):
/// your utility of each offer, by index, or `None` to decline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Utilities {
    /// The offers, by index.
    pub offers: Vec<String>,
}

crate::protocol_messages! {
    CallForProposals => CnpReply<Tender>, "foundation.cnp.call/1";
    Award => Result<String, String>, "foundation.cnp.award/1";
    Lost => (), "foundation.cnp.lost/1";
    Cancel => (), "foundation.cnp.cancel/1";
    Propose => Option<f64>, "foundation.bargain.propose/1";
    Respond => bool, "foundation.bargain.respond/1";
    Utilities => Option<Vec<f64>>, "foundation.zeuthen.utilities/1";
}
