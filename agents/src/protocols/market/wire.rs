//! What a market asks an agent, or tells it, and what the agent answers.

use serde::{Deserialize, Serialize};

use super::{Fill, Settlement, Side, Trade};

/// A call market opens ([`Trader::orders`](crate::Trader::orders)):
/// answer with your bids and asks (none: you decline).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallForOrders {
    /// The market's name (what is traded).
    pub market: String,
}

/// A compute allocation opens ([`Trader::compute`](crate::Trader::compute)):
/// answer with what you need and what you offer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallForCompute {
    /// The resource allocated, e.g. `gpu-hours`.
    pub resource: String,
}

/// Notice: your orders in a call market traded
/// ([`Trader::filled`](crate::Trader::filled)).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Filled {
    /// The market.
    pub market: String,
    /// Your fills, all at the clearing price.
    pub fills: Vec<Fill>,
}

/// Notice: what you bought and sold in a compute allocation
/// ([`Trader::settled`](crate::Trader::settled)).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Settled {
    /// The resource.
    pub resource: String,
    /// The price per unit every trade settled at.
    pub price: Option<u64>,
    /// Your record.
    pub settlement: Settlement,
}

/// Notice: an order you own traded in a continuous double auction
/// ([`Trader::traded`](crate::Trader::traded)).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Traded {
    /// The market.
    pub market: String,
    /// The trade (you are its buyer, its seller, or both).
    pub trade: Trade,
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

/// An agent's answer to a [`CallForCompute`]: what it needs and what it
/// offers (both `None`: it declines).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Compute {
    /// Units it wants to buy.
    pub need: Option<ComputeNeed>,
    /// Units it offers.
    pub offer: Option<ComputeOffer>,
}

crate::protocol_messages! {
    CallForOrders => Vec<Quote>, "foundation.market.orders/1";
    CallForCompute => Compute, "foundation.market.compute/1";
    Filled => (), "foundation.market.filled/1";
    Settled => (), "foundation.market.settled/1";
    Traded => (), "foundation.market.traded/1";
}
