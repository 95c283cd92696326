//! Games across nodes: the messages a game coordinator sends to agents
//! and the answers it expects.

use serde::{Deserialize, Serialize};

/// What a game coordinator asks an agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum GameRequest {}

/// An agent's answer to a [`GameRequest`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum GameReply {
    /// The agent does not take part.
    Decline,
}
