//! Negotiation across nodes: the messages a negotiation coordinator sends
//! to agents and the answers it expects.

use serde::{Deserialize, Serialize};

/// What a negotiation coordinator asks an agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum NegotiationRequest {}

/// An agent's answer to a [`NegotiationRequest`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum NegotiationReply {
    /// The agent does not take part.
    Decline,
}
