//! Interactive auctions across nodes: the messages an auctioneer sends to
//! agents and the answers it expects.

use serde::{Deserialize, Serialize};

/// What an auctioneer asks an agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum AuctionRequest {}

/// An agent's answer to an [`AuctionRequest`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum AuctionReply {
    /// The agent does not take part.
    Decline,
}
