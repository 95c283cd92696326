//! Why an auction rejected a parameter, a bid or an action.

use serde::{Deserialize, Serialize};

/// Everything an auction rule can refuse.
///
/// A variant naming a bidder concerns that bidder only: the rule sets its
/// bid aside (see [`Rejection`](super::Rejection)) and carries on with the
/// others. Variants without a bidder concern the auction's own parameters
/// and are returned before anything is decided.
#[derive(Debug, Clone, PartialEq, thiserror::Error, Serialize, Deserialize)]
#[non_exhaustive]
pub enum AuctionError {
    /// A parameter of the auction itself (reserve, increment, number of
    /// units, ...) is unusable.
    #[error("auction parameter `{name}` = {value} is invalid: {reason}")]
    InvalidParameter {
        /// The parameter.
        name: String,
        /// Its value.
        value: f64,
        /// What it must be instead.
        reason: String,
    },
    /// An amount is not a finite number or is negative.
    #[error("{bidder}: amount {amount} is invalid: {reason}")]
    InvalidAmount {
        /// The bidder.
        bidder: String,
        /// The amount offered.
        amount: f64,
        /// What is wrong with it.
        reason: String,
    },
    /// An amount is below the reserve price.
    #[error("{bidder}: amount {amount} is below the reserve price {reserve}")]
    BelowReserve {
        /// The bidder.
        bidder: String,
        /// The amount offered.
        amount: f64,
        /// The reserve price.
        reserve: f64,
    },
    /// A bidder bid more than once where one bid each is allowed; its
    /// earliest bid counts.
    #[error("{bidder} already has a bid in this auction; only its earliest bid counts")]
    DuplicateBidder {
        /// The bidder.
        bidder: String,
    },
    /// A multi-unit bid lists no marginal value (a quantity ≤ 0).
    #[error("{bidder}: no marginal values given; a bid must ask for at least one unit")]
    NoUnitsWanted {
        /// The bidder.
        bidder: String,
    },
    /// A marginal value is higher than the one for the unit before it.
    #[error(
        "{bidder}: marginal value {value} for unit {unit} exceeds {previous} for unit {}; \
         marginal values must not increase",
        unit - 1
    )]
    IncreasingMarginalValues {
        /// The bidder.
        bidder: String,
        /// The unit (1-based) whose value increases.
        unit: usize,
        /// Its marginal value.
        value: f64,
        /// The marginal value of the unit before.
        previous: f64,
    },
    /// A bundle bid names no item.
    #[error("{bidder}: the bundle is empty")]
    EmptyBundle {
        /// The bidder.
        bidder: String,
    },
    /// A bundle bid names an item that is not for sale.
    #[error("{bidder}: item `{item}` is not for sale in this auction")]
    UnknownItem {
        /// The bidder.
        bidder: String,
        /// The unknown item.
        item: String,
    },
    /// A bundle bid names the same item twice.
    #[error("{bidder}: item `{item}` appears twice in the bundle")]
    DuplicateItem {
        /// The bidder.
        bidder: String,
        /// The repeated item.
        item: String,
    },
    /// The list of items for sale names the same item twice.
    #[error("item `{item}` is offered twice")]
    DuplicateOffer {
        /// The repeated item.
        item: String,
    },
    /// The instance is beyond the documented size limit of an exact search.
    #[error("{count} {what} exceed the limit of {limit} for exact winner determination")]
    TooLarge {
        /// What was counted ("valid bids", "items").
        what: String,
        /// How many there are.
        count: usize,
        /// The most the search accepts.
        limit: usize,
    },
    /// An English-auction bid below the minimum acceptable amount.
    #[error("{bidder}: bid {amount} is below the minimum acceptable {minimum}")]
    BidTooLow {
        /// The bidder.
        bidder: String,
        /// The amount offered.
        amount: f64,
        /// The least that would have been accepted.
        minimum: f64,
    },
    /// An English-auction bidder acted out of turn.
    #[error("{bidder} acted out of turn; it is {expected}'s turn")]
    NotYourTurn {
        /// The bidder that acted.
        bidder: String,
        /// The bidder whose turn it is.
        expected: String,
    },
    /// A bidder not admitted to this auction.
    #[error("{bidder} is not a bidder in this auction")]
    UnknownBidder {
        /// The bidder.
        bidder: String,
    },
    /// The auction has already ended.
    #[error("the auction has ended")]
    Closed,
    /// A simulated run did not end within its step limit.
    #[error("the auction did not end within {steps} steps")]
    StepLimit {
        /// The limit that was reached.
        steps: usize,
    },
}
