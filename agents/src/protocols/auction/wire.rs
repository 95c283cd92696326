//! What an auction asks an agent: one message per step, each with the
//! answer it expects.

use serde::{Deserialize, Serialize};

/// A sealed-bid auction calls for bids
/// ([`Bidder::bid`](crate::Bidder::bid)): answer an amount, or `None` to
/// decline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallForBids {
    /// What is sold.
    pub item: String,
}

/// An English auction, your turn ([`Bidder::raise`](crate::Bidder::raise)):
/// bid at least `minimum`, or `None` to pass.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Raise {
    /// What is sold.
    pub item: String,
    /// The standing high bid and who holds it, if any.
    pub leader: Option<(String, f64)>,
    /// The lowest acceptable bid now.
    pub minimum: f64,
}

/// A Dutch auction's clock ([`Bidder::buy_at`](crate::Bidder::buy_at)):
/// `true` buys at `price`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Clock {
    /// What is sold.
    pub item: String,
    /// The clock price this round.
    pub price: f64,
}

/// A multi-unit sealed-bid auction
/// ([`Bidder::bid_units`](crate::Bidder::bid_units)): your bid for one of
/// `units` identical units, or `None` to decline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Units {
    /// What is sold.
    pub item: String,
    /// How many units are for sale.
    pub units: usize,
}

/// A VCG auction ([`Bidder::marginal_values`](crate::Bidder::marginal_values)):
/// your marginal values for the 1st, 2nd, ... of up to `units` units,
/// first unit first, or `None` to decline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MarginalValues {
    /// What is sold.
    pub item: String,
    /// How many units are for sale.
    pub units: usize,
}

/// A combinatorial auction ([`Bidder::bundles`](crate::Bidder::bundles)):
/// your bids on bundles of `items` (the items of each bundle and its
/// value), or `None` to decline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bundles {
    /// Every item for sale.
    pub items: Vec<String>,
}

crate::protocol_messages! {
    CallForBids => Option<f64>, "foundation.bid/1";
    Raise => Option<f64>, "foundation.auction.raise/1";
    Clock => bool, "foundation.auction.clock/1";
    Units => Option<f64>, "foundation.auction.units/1";
    MarginalValues => Option<Vec<f64>>, "foundation.auction.values/1";
    Bundles => Option<Vec<(Vec<String>, f64)>>, "foundation.auction.bundles/1";
}
