//! What a market asks an agent, or tells it, and what the agent answers.

use serde::{Deserialize, Serialize};

use super::{Fill, Settlement, Side, Trade};

/// What a market asks an agent, or tells it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum MarketRequest {
    /// A call market opens: answer with your bids and asks
    /// ([`MarketReply::Orders`]).
    Quote {
        /// The market's name (what is traded).
        market: String,
    },
    /// A compute allocation opens: answer with what you need and what you
    /// offer ([`MarketReply::Compute`]).
    Demand {
        /// The resource allocated, e.g. `gpu-hours`.
        resource: String,
    },
    /// Notice: your orders in a call market traded.
    Filled {
        /// The market.
        market: String,
        /// Your fills, all at the clearing price.
        fills: Vec<Fill>,
    },
    /// Notice: what you bought and sold in a compute allocation.
    Settled {
        /// The resource.
        resource: String,
        /// The price per unit every trade settled at.
        price: Option<u64>,
        /// Your record.
        settlement: Settlement,
    },
    /// Notice: an order you own traded in a continuous double auction.
    Traded {
        /// The market.
        market: String,
        /// The trade (you are its buyer, its seller, or both).
        trade: Trade,
    },
}

/// One bid or ask an agent sends to a call market.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Quote {
    /// Buy or sell.
    pub side: Side,
    /// The most a buyer pays or the least a seller takes, per unit.
    pub price: f64,
    /// Units.
    pub quantity: u64,
}

/// Compute an agent wants to buy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComputeNeed {
    /// Units wanted at most.
    pub units: u64,
    /// What one unit is worth to the agent: the most it pays, in credits.
    pub max_price: u64,
    /// Credits it may spend in total; `None` is enough for all `units` at
    /// `max_price`.
    pub budget: Option<u64>,
}

/// Compute an agent offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComputeOffer {
    /// Units available.
    pub units: u64,
    /// What one unit costs the agent: the least it takes, in credits.
    pub min_price: u64,
}

/// An agent's answer to a [`MarketRequest`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum MarketReply {
    /// The agent does not take part.
    Decline,
    /// Its bids and asks for a call market (empty: it declines).
    Orders(Vec<Quote>),
    /// What it needs and offers in a compute allocation (both `None`: it
    /// declines).
    Compute {
        /// Units it wants to buy.
        need: Option<ComputeNeed>,
        /// Units it offers.
        offer: Option<ComputeOffer>,
    },
    /// Acknowledges a notice.
    Noted,
}
