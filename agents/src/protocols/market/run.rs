//! Markets across nodes: the messages a market sends to agents and the
//! answers it expects.

use serde::{Deserialize, Serialize};

/// What a market asks an agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum MarketRequest {}

/// An agent's answer to a [`MarketRequest`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum MarketReply {
    /// The agent does not take part.
    Decline,
}
