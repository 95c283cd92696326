//! Auctions across nodes: sealed-bid, English, Dutch, multi-unit, VCG and
//! combinatorial, each a spec that [`Agents::run`](crate::Agents::run)
//! starts ([`AuctionSpec`], [`EnglishSpec`], [`DutchSpec`],
//! [`MultiUnitSpec`], [`VcgSpec`], [`CombinatorialSpec`]); agents take part
//! as [`Bidder`](crate::Bidder)s.
//!
//! Every rule is a plain function or a plain state machine: no actors, no
//! clocks, no randomness. The coordinator feeds them what reached it and
//! acts on what they decide.
//!
//! | Rule | Entry point |
//! |---|---|
//! | sealed bid, first- or second-price (Vickrey) | [`sealed_bid`] |
//! | English (ascending, increments, round-robin) | [`EnglishAuction`] |
//! | Dutch (descending clock) | [`DutchAuction`] |
//! | k identical units, one per bidder | [`multi_unit`] |
//! | VCG for units with marginal values | [`vcg_units`] |
//! | combinatorial bundles with VCG payments | [`combinatorial`] |
//!
//! # Common conventions
//!
//! * **Default tie-break**: among equal amounts, the earliest arrival at the
//!   coordinator comes first, then the lowest agent id (byte-wise string
//!   order). Every outcome reports a tie the rule had to break, as a
//!   [`TieBreak`] (or a sentence where the tie is between allocations).
//! * **Invalid input** from one bidder (an amount that is negative or not
//!   finite, a quantity ≤ 0, increasing marginal values, an empty bundle, an
//!   unknown item) sets that bid aside with an [`AuctionError`] naming the
//!   bidder, recorded as a [`Rejection`] in the outcome; the others proceed.
//!   Invalid parameters of the auction itself are returned as `Err`.
//! * **Floating point**: the rules are exact, so amounts are compared
//!   exactly as `f64` (with `-0.0` treated as `0.0`); sums are accumulated in
//!   a stated order so that the same set of values always gives the same
//!   total. Where rounding could push a VCG payment a few ulps outside
//!   `[0, value]`, it is clamped into that range (documented on the rule).

mod combinatorial;
mod coordinator;
mod dutch;
mod english;
mod error;
mod multi_unit;
mod rules;
mod vcg;
mod wire;

pub use combinatorial::{
    combinatorial, BundleAward, BundleBid, CombinatorialOutcome, MAX_BUNDLE_BIDS, MAX_ITEMS,
};
pub use coordinator::{
    AuctionResult, AuctionSpec, CombinatorialResult, CombinatorialSpec, DutchResult, DutchSpec,
    EnglishResult, EnglishSpec, MultiUnitResult, MultiUnitSpec, SealedResult, VcgResult, VcgSpec,
};
pub use dutch::{Acceptance, DutchAuction, DutchOutcome, DutchStatus};
pub use english::{EnglishAuction, EnglishEvent, EnglishOutcome};
pub use error::AuctionError;
pub use multi_unit::{multi_unit, MultiUnitOutcome, MultiUnitPayment, UnitAward};
pub(crate) use rules::{boundary_tie, check_amount, check_parameter, default_order, Offer};
pub use rules::{
    sealed_bid, AuctionOutcome, AuctionRule, Bid, RejectedBid, Rejection, TieBreak, TieRule,
};
pub use vcg::{vcg_units, MarginalBid, VcgAward, VcgUnitsOutcome};
pub use wire::{Bundles, CallForBids, Clock, MarginalValues, Raise, Units};
