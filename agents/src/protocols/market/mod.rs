//! Markets across nodes, and their pure decision rules.
//!
//! | Rule | Entry point |
//! |---|---|
//! | call market (one clearing price) | [`call_market`] |
//! | continuous double auction | [`OrderBook`] |
//! | compute units bought with budgets, settled per agent | [`allocate_compute`] |
//!
//! And their runs across nodes: [`CallMarketSpec`] and [`ComputeSpec`], run
//! by [`Agents::run`](crate::Agents::run), ask the agents (through
//! [`Trader`](crate::Trader)) and decide with the rules
//! above; [`Market`] is the continuous double auction as a cluster-wide
//! service.
//!
//! # Common conventions
//!
//! * Prices are `f64`, finite and ≥ 0 (`-0.0` is read as `0.0`) and are
//!   compared exactly; quantities are whole units (`u64`, > 0). The compute
//!   market works in whole credits (`u64`) so that its settlement balances
//!   exactly.
//! * Priority among equally priced orders: earliest arrival, then lowest
//!   agent id (call market); time of submission (order book).
//! * An invalid order is rejected with a [`MarketError`] naming its agent;
//!   the other orders proceed.

mod allocation;
mod book;
mod call;
mod coordinator;
mod service;
mod wire;

use serde::{Deserialize, Serialize};

pub use allocation::{
    allocate_compute, AllocationOutcome, ComputeBuyer, ComputeSeller, Settlement,
};
pub use book::{Level, LimitOrder, OrderBook, OrderId, RestingOrder, Trade};
pub use call::{call_market, CallMarketOutcome, CallOrder, ClearingInterval, Fill};
pub(crate) use coordinator::check_name;
pub use coordinator::{CallMarketResult, CallMarketSpec, ComputeResult, ComputeSpec, TIE_RULE};
pub use service::{
    BookSnapshot, Market, MarketCommand, MarketResponse, NewOrder, Submitted, TradeLog,
    MARKET_PREFIX, TRADE_LOG_LIMIT,
};
pub use wire::{
    CallForCompute, CallForOrders, Compute, ComputeNeed, ComputeOffer, Filled, Quote, Settled,
    Traded,
};

/// Which side of the market an order is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Side {
    /// A bid: the agent wants to buy.
    Buy,
    /// An ask: the agent wants to sell.
    Sell,
}

impl std::fmt::Display for Side {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Side::Buy => "buy",
            Side::Sell => "sell",
        })
    }
}

/// Everything a market rule can refuse.
#[derive(Debug, Clone, PartialEq, thiserror::Error, Serialize, Deserialize)]
#[non_exhaustive]
pub enum MarketError {
    /// A price that is not finite, is negative, or is too large.
    #[error("{agent}: price {price} is invalid: {reason}")]
    InvalidPrice {
        /// The agent.
        agent: String,
        /// The price given.
        price: f64,
        /// What is wrong with it.
        reason: String,
    },
    /// A quantity of zero units (quantities are whole units, so ≤ 0 means 0).
    #[error("{agent}: quantity must be at least one unit")]
    ZeroQuantity {
        /// The agent.
        agent: String,
    },
    /// The order would take the total quantity on its side past `u64::MAX`.
    #[error("{agent}: quantity {quantity} would overflow the total on the {side} side")]
    QuantityOverflow {
        /// The agent.
        agent: String,
        /// Its quantity.
        quantity: u64,
        /// The side.
        side: Side,
    },
    /// An order id already used in this book.
    #[error("{agent}: order id {id} is already in use")]
    DuplicateOrderId {
        /// The agent.
        agent: String,
        /// The id.
        id: u64,
    },
    /// No resting order has this id.
    #[error("no resting order with id {id}")]
    UnknownOrder {
        /// The id.
        id: u64,
    },
    /// An agent sent a second request on the same side where one is allowed;
    /// its earliest counts.
    #[error("{agent} already has a {side} request; only its earliest counts")]
    DuplicateAgent {
        /// The agent.
        agent: String,
        /// The side.
        side: Side,
    },
    /// A budget that cannot pay for one unit at the buyer's own limit price.
    #[error("{agent}: budget {budget} cannot pay for one unit at its limit price {max_price}")]
    BudgetTooSmall {
        /// The agent.
        agent: String,
        /// Its budget.
        budget: u64,
        /// Its limit price per unit.
        max_price: u64,
    },
    /// The budgets of all buyers together would exceed `u64::MAX` credits.
    #[error("{agent}: budget {budget} would take the buyers' total past u64::MAX")]
    BudgetOverflow {
        /// The agent.
        agent: String,
        /// Its budget.
        budget: u64,
    },
}

/// An order the rule set aside, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderRejection {
    /// The agent.
    pub agent: String,
    /// Why.
    pub error: MarketError,
}

/// Checks that a price is finite and non-negative, and returns it with
/// `-0.0` turned into `0.0`.
pub(crate) fn check_price(agent: &str, price: f64) -> Result<f64, MarketError> {
    let reason = if !price.is_finite() {
        "not a finite number"
    } else if price < 0.0 {
        "negative"
    } else {
        return Ok(price + 0.0);
    };
    Err(MarketError::InvalidPrice {
        agent: agent.to_owned(),
        price,
        reason: reason.to_owned(),
    })
}
