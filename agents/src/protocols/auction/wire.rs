//! What an auction asks an agent, and what the agent answers.

use serde::{Deserialize, Serialize};

/// An invitation to bid in a sealed-bid auction
/// ([`Bidder::bid`](crate::Bidder::bid)).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallForBids {
    /// What is sold.
    pub item: String,
}

/// What an auctioneer asks an agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum AuctionRequest {
    /// English auction, your turn: bid at least `minimum`
    /// ([`AuctionReply::Bid`]) or pass ([`AuctionReply::Decline`]).
    Raise {
        /// What is sold.
        item: String,
        /// The standing high bid and who holds it, if any.
        leader: Option<(String, f64)>,
        /// The lowest acceptable bid now.
        minimum: f64,
    },
    /// Dutch auction: do you buy at `price`? ([`AuctionReply::Accept`] or
    /// [`AuctionReply::Decline`]).
    Clock {
        /// What is sold.
        item: String,
        /// The clock price this round.
        price: f64,
    },
    /// Multi-unit sealed bid: your bid for one of `units` identical units
    /// ([`AuctionReply::Bid`]).
    Units {
        /// What is sold.
        item: String,
        /// How many units are for sale.
        units: usize,
    },
    /// VCG: your marginal values for the 1st, 2nd, ... of up to `units`
    /// units ([`AuctionReply::Values`]).
    MarginalValues {
        /// What is sold.
        item: String,
        /// How many units are for sale.
        units: usize,
    },
    /// Combinatorial auction: your bids on bundles of `items`
    /// ([`AuctionReply::Bundles`]).
    Bundles {
        /// Every item for sale.
        items: Vec<String>,
    },
}

/// An agent's answer to an [`AuctionRequest`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum AuctionReply {
    /// The agent passes, does not accept, or does not take part.
    Decline,
    /// A bid (English raise, multi-unit bid).
    Bid(f64),
    /// The agent buys at the clock price (Dutch).
    Accept,
    /// Marginal values, first unit first (VCG).
    Values(Vec<f64>),
    /// Bids on bundles: the items and the value of each bundle.
    Bundles(Vec<(Vec<String>, f64)>),
}
