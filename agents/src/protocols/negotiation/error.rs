//! The error of the negotiation rules.

use serde::{Deserialize, Serialize};

/// Why a participant's input was set aside, or why a run was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error, Serialize, Deserialize)]
#[non_exhaustive]
pub enum NegotiationError {
    /// The score function rejected a proposal.
    #[error("the proposal of `{agent}` is invalid: {reason}")]
    InvalidProposal {
        /// The proposing agent.
        agent: String,
        /// Why the score function rejected it.
        reason: String,
    },
    /// The score function gave a proposal a score that is NaN or infinite.
    #[error("the proposal of `{agent}` scored {score}, which is not a finite number")]
    NonFiniteScore {
        /// The proposing agent.
        agent: String,
        /// The score.
        score: f64,
    },
    /// An agent answered a call for proposals twice; its earliest answer
    /// counts.
    #[error("`{agent}` answered more than once; its earliest answer counts")]
    DuplicateReply {
        /// The agent.
        agent: String,
    },
    /// A discount factor is not in [0, 1).
    #[error("discount factor of agent {agent} is {delta}: it must satisfy 0 <= delta < 1")]
    InvalidDiscount {
        /// Which agent (1 or 2).
        agent: u8,
        /// The factor given.
        delta: f64,
    },
    /// A finite-horizon bargaining game with no rounds.
    #[error("a finite-horizon bargaining game needs at least one round")]
    NoRounds,
    /// The offer space is empty.
    #[error("the offer space is empty")]
    NoOffers,
    /// The two agents' utility tables cover different numbers of offers.
    #[error("agent 1 has utilities for {agent1} offers but agent 2 for {agent2}")]
    TableMismatch {
        /// Offers in agent 1's table.
        agent1: usize,
        /// Offers in agent 2's table.
        agent2: usize,
    },
    /// A utility is NaN or infinite.
    #[error("agent {agent} values offer {offer} at {utility}, which is not a finite number")]
    InvalidUtility {
        /// Which agent (1 or 2).
        agent: u8,
        /// The offer index.
        offer: usize,
        /// The utility given.
        utility: f64,
    },
    /// A state names an offer outside the offer space.
    #[error("agent {agent}'s offer {offer} is outside the offer space of {offers} offers")]
    OfferOutOfRange {
        /// Which agent (1 or 2).
        agent: u8,
        /// The offer index.
        offer: usize,
        /// The size of the offer space.
        offers: usize,
    },
}
