//! The coordinators of the auctions: a spec per kind, each a
//! [`Protocol`].

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::wire::{Bundles, CallForBids, Clock, MarginalValues, Raise, Units};
use super::{
    combinatorial, multi_unit, sealed_bid, vcg_units, Acceptance, AuctionError, AuctionOutcome,
    AuctionRule, Bid, BundleBid, CombinatorialOutcome, DutchAuction, DutchOutcome, DutchStatus,
    EnglishAuction, EnglishOutcome, MarginalBid, MultiUnitOutcome, MultiUnitPayment, Rejection,
    VcgUnitsOutcome,
};
use crate::error::{AgentError, InvalidParameter, Result};
use crate::protocols::{positive, Invite, Missing, Protocol, Run};
use actor_cluster::Message;

/// A sealed-bid auction: what to sell, how, and to whom.
///
/// Run it with [`Agents::run`](crate::Agents::run): every agent with the
/// capability, wherever it runs, is called for a bid
/// ([`Bidder::bid`](crate::Bidder::bid)); the highest valid bid wins and
/// pays its own bid or the second-highest, per the rule.
///
/// Errors of the run: [`AgentError::NoParticipants`](crate::AgentError::NoParticipants) if no agent has the
/// capability; [`AgentError::InvalidParameters`](crate::AgentError::InvalidParameters) for a negative or
/// non-finite reserve or a zero deadline.
#[derive(Debug, Clone)]
#[non_exhaustive]
#[must_use]
pub struct AuctionSpec {
    /// The item sold.
    pub item: String,
    /// First- or second-price.
    pub rule: AuctionRule,
    /// The lowest acceptable bid.
    pub reserve: f64,
    /// Invite every agent with this capability.
    pub capability: String,
    /// Bids close this long after the call.
    pub deadline: Duration,
}

impl AuctionSpec {
    /// A sealed-bid auction of `item` by `rule` among every agent with
    /// `capability`, no reserve, closing after `deadline`.
    pub fn new(
        item: impl Into<String>,
        rule: AuctionRule,
        capability: impl Into<String>,
        deadline: Duration,
    ) -> Self {
        Self {
            item: item.into(),
            rule,
            reserve: 0.0,
            capability: capability.into(),
            deadline,
        }
    }

    /// The same auction with a reserve price.
    pub fn reserve(self, reserve: f64) -> Self {
        Self { reserve, ..self }
    }
}

/// The record of a sealed-bid auction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuctionResult {
    /// What was sold.
    pub item: String,
    /// The pricing rule.
    pub rule: AuctionRule,
    /// The reserve price.
    pub reserve: f64,
    /// Winner, price, ranking, rejected bids, tie-break.
    pub outcome: AuctionOutcome,
    /// Invited agents that neither bid nor declined in time.
    pub missing: Vec<Missing>,
    /// Agents that declined to bid.
    pub declined: Vec<String>,
    /// How long the auction took.
    pub duration_ms: u64,
}

/// An English auction: bidders with the capability are asked in
/// round-robin order of agent id, the leader skipped.
#[derive(Debug, Clone)]
#[non_exhaustive]
#[must_use]
pub struct EnglishSpec {
    /// What is sold.
    pub item: String,
    /// The lowest first bid.
    pub start: f64,
    /// Each later bid must be at least the standing bid plus this.
    pub increment: f64,
    /// No sale below this price.
    pub reserve: Option<f64>,
    /// Invite every agent with this capability.
    pub capability: String,
    /// How long each bidder has to answer its turn.
    pub turn_deadline: Duration,
}

impl EnglishSpec {
    /// An English auction of `item` opening at `start`, each bid at least
    /// `increment` above the last, among every agent with `capability`,
    /// each turn lasting at most `turn_deadline`; no reserve.
    pub fn new(
        item: impl Into<String>,
        start: f64,
        increment: f64,
        capability: impl Into<String>,
        turn_deadline: Duration,
    ) -> Self {
        Self {
            item: item.into(),
            start,
            increment,
            reserve: None,
            capability: capability.into(),
            turn_deadline,
        }
    }

    /// The same auction with no sale below `reserve`.
    pub fn reserve(self, reserve: f64) -> Self {
        Self {
            reserve: Some(reserve),
            ..self
        }
    }
}

/// The record of an English auction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnglishResult {
    /// What was sold.
    pub item: String,
    /// Winner, price, every bid and pass, how a tie was ruled out.
    pub outcome: EnglishOutcome,
    /// Turns taken (bids and passes, including those of missing bidders).
    pub turns: u64,
    /// Bidders that did not answer a turn in time or whose node went away;
    /// each of their turns is a pass, and a bidder whose node is gone is
    /// not asked again.
    pub missing: Vec<Missing>,
    /// Bids refused (below the minimum, not a number); each counts as a pass.
    pub rejected: Vec<Rejection>,
    /// How long the auction took.
    pub duration_ms: u64,
}

/// A Dutch auction: a clock falling from `start` by `step` a round.
#[derive(Debug, Clone)]
#[non_exhaustive]
#[must_use]
pub struct DutchSpec {
    /// What is sold.
    pub item: String,
    /// The opening clock price.
    pub start: f64,
    /// How much the clock falls each round.
    pub step: f64,
    /// The clock never goes below this; nobody by then, no sale.
    pub reserve: Option<f64>,
    /// Invite every agent with this capability.
    pub capability: String,
    /// How long each round stays open.
    pub round_deadline: Duration,
}

impl DutchSpec {
    /// A Dutch auction of `item` whose clock opens at `start` and falls by
    /// `step` a round, among every agent with `capability`, each round
    /// lasting `round_deadline`; no reserve.
    pub fn new(
        item: impl Into<String>,
        start: f64,
        step: f64,
        capability: impl Into<String>,
        round_deadline: Duration,
    ) -> Self {
        Self {
            item: item.into(),
            start,
            step,
            reserve: None,
            capability: capability.into(),
            round_deadline,
        }
    }

    /// The same auction whose clock stops at `reserve`.
    pub fn reserve(self, reserve: f64) -> Self {
        Self {
            reserve: Some(reserve),
            ..self
        }
    }
}

/// The record of a Dutch auction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DutchResult {
    /// What was sold.
    pub item: String,
    /// Winner, price, the deciding round and how a tie was broken.
    pub outcome: DutchOutcome,
    /// Bidders that missed a round's deadline or whose node went away
    /// (first time only, by id).
    pub missing: Vec<Missing>,
    /// How long the auction took.
    pub duration_ms: u64,
}

/// A sealed-bid auction of `units` identical units, one per bidder.
#[derive(Debug, Clone)]
#[non_exhaustive]
#[must_use]
pub struct MultiUnitSpec {
    /// What is sold.
    pub item: String,
    /// How many units.
    pub units: usize,
    /// Pay-as-bid, uniform (k+1)-th price or uniform k-th price.
    pub payment: MultiUnitPayment,
    /// The lowest acceptable bid.
    pub reserve: f64,
    /// Invite every agent with this capability.
    pub capability: String,
    /// Bids close this long after the call.
    pub deadline: Duration,
}

impl MultiUnitSpec {
    /// A sealed-bid auction of `units` identical units of `item`, priced
    /// by `payment`, among every agent with `capability`, no reserve,
    /// closing after `deadline`.
    pub fn new(
        item: impl Into<String>,
        units: usize,
        payment: MultiUnitPayment,
        capability: impl Into<String>,
        deadline: Duration,
    ) -> Self {
        Self {
            item: item.into(),
            units,
            payment,
            reserve: 0.0,
            capability: capability.into(),
            deadline,
        }
    }

    /// The same auction with a reserve price.
    pub fn reserve(self, reserve: f64) -> Self {
        Self { reserve, ..self }
    }
}

/// A VCG auction of `units` identical units over marginal values.
#[derive(Debug, Clone)]
#[non_exhaustive]
#[must_use]
pub struct VcgSpec {
    /// What is sold.
    pub item: String,
    /// How many units.
    pub units: usize,
    /// Invite every agent with this capability.
    pub capability: String,
    /// Bids close this long after the call.
    pub deadline: Duration,
}

impl VcgSpec {
    /// A VCG auction of `units` identical units of `item` among every
    /// agent with `capability`, closing after `deadline`.
    pub fn new(
        item: impl Into<String>,
        units: usize,
        capability: impl Into<String>,
        deadline: Duration,
    ) -> Self {
        Self {
            item: item.into(),
            units,
            capability: capability.into(),
            deadline,
        }
    }
}

/// A combinatorial auction of distinct items sold in bundles, with VCG
/// payments.
#[derive(Debug, Clone)]
#[non_exhaustive]
#[must_use]
pub struct CombinatorialSpec {
    /// The items for sale.
    pub items: Vec<String>,
    /// Invite every agent with this capability.
    pub capability: String,
    /// Bids close this long after the call.
    pub deadline: Duration,
}

impl CombinatorialSpec {
    /// A combinatorial auction of `items` among every agent with
    /// `capability`, closing after `deadline`.
    pub fn new(
        items: impl IntoIterator<Item = impl Into<String>>,
        capability: impl Into<String>,
        deadline: Duration,
    ) -> Self {
        Self {
            items: items.into_iter().map(Into::into).collect(),
            capability: capability.into(),
            deadline,
        }
    }
}

/// The record of a sealed multi-unit, VCG or combinatorial auction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SealedResult<O> {
    /// The rule's full record: awards, payments, rejected bids, ties.
    pub outcome: O,
    /// Agents that declined.
    pub declined: Vec<String>,
    /// Agents without an answer in time (late, or their node gone).
    pub missing: Vec<Missing>,
    /// How long the auction took.
    pub duration_ms: u64,
}

/// The record of a multi-unit auction.
pub type MultiUnitResult = SealedResult<MultiUnitOutcome>;
/// The record of a VCG auction.
pub type VcgResult = SealedResult<VcgUnitsOutcome>;
/// The record of a combinatorial auction.
pub type CombinatorialResult = SealedResult<CombinatorialOutcome>;

impl Protocol for AuctionSpec {
    type Output = AuctionResult;
    const NAME: &'static str = "sealed_bid_auction";

    fn validate(&self) -> Result<()> {
        if !self.reserve.is_finite() || self.reserve < 0.0 {
            return Err(InvalidParameter::NotAnAmount {
                what: "reserve price",
                value: self.reserve,
            }
            .into());
        }
        positive("deadline", self.deadline)
    }

    fn invite(&self) -> Invite {
        Invite::Capability(self.capability.clone())
    }

    fn summary(result: &AuctionResult) -> Option<String> {
        Some(sale(
            &result.item,
            result.outcome.winner.as_deref(),
            result.outcome.price,
        ))
    }

    async fn run(self, run: &Run) -> Result<AuctionResult> {
        let call = CallForBids {
            item: self.item.clone(),
        };
        let got = run.collect(call, self.deadline).await;
        let mut bids = Vec::new();
        let mut declined = Vec::new();
        for (agent, answer) in got.answers {
            match answer {
                Some(amount) => bids.push(Bid {
                    bidder: agent,
                    amount,
                    arrival: bids.len() as u64,
                }),
                None => declined.push(agent),
            }
        }
        let outcome = sealed_bid(self.rule, self.reserve, &bids);
        for rejected in &outcome.rejected {
            run.reject(&rejected.bidder, rejected.reason.clone());
        }
        tracing::info!(item = %self.item, winner = ?outcome.winner, price = ?outcome.price, bids = bids.len(), "auction closed");
        Ok(AuctionResult {
            item: self.item,
            rule: self.rule,
            reserve: self.reserve,
            outcome,
            missing: got.missing,
            declined,
            duration_ms: run.elapsed_ms(),
        })
    }
}

/// The English auction's protocol: bidders are asked in turn
/// ([`Bidder::raise`](crate::Bidder::raise)); [`EnglishAuction`] decides.
///
/// Errors: [`AgentError::Auction`](crate::AgentError::Auction) for an invalid start, increment or
/// reserve; [`AgentError::InvalidParameters`](crate::AgentError::InvalidParameters) for a zero deadline;
/// [`AgentError::NoParticipants`](crate::AgentError::NoParticipants) if no agent has the capability.
impl Protocol for EnglishSpec {
    type Output = EnglishResult;
    const NAME: &'static str = "english_auction";

    fn validate(&self) -> Result<()> {
        positive("turn deadline", self.turn_deadline)?;
        EnglishAuction::new(
            self.start,
            self.increment,
            self.reserve,
            Vec::<String>::new(),
        )?;
        Ok(())
    }

    fn invite(&self) -> Invite {
        Invite::Capability(self.capability.clone())
    }

    fn summary(result: &EnglishResult) -> Option<String> {
        Some(sale(
            &result.item,
            result.outcome.winner.as_deref(),
            result.outcome.price,
        ))
    }

    async fn run(self, run: &Run) -> Result<EnglishResult> {
        let ids = run.ids();
        let mut auction = EnglishAuction::new(self.start, self.increment, self.reserve, ids)?;
        let mut rejected = Vec::new();
        let mut turns = 0;
        while let Some(bidder) = auction.next_bidder().map(str::to_owned) {
            turns += 1;
            let request = Raise {
                item: self.item.clone(),
                leader: auction
                    .leader()
                    .map(|(who, amount)| (who.to_owned(), amount)),
                minimum: auction.minimum_bid(),
            };
            // A bidder that is late passes; one whose node is gone is not
            // asked again and passes every turn.
            match run.ask(&bidder, request, self.turn_deadline).await {
                Ok(Some(amount)) => {
                    if let Err(e) = auction.bid(&bidder, amount) {
                        run.reject(&bidder, e.to_string());
                        rejected.push(Rejection {
                            bidder: bidder.clone(),
                            error: e,
                        });
                        auction.pass(&bidder)?;
                    }
                }
                _ => auction.pass(&bidder)?,
            }
        }
        let outcome = auction.outcome().ok_or_else(|| AgentError::Internal {
            component: "English auction",
            reason: "it stopped before reaching an outcome".into(),
        })?;
        tracing::info!(item = %self.item, winner = ?outcome.winner, price = ?outcome.price, turns, "english auction closed");
        run.record_outcome(turns, sold(outcome.winner.is_some()));
        Ok(EnglishResult {
            item: self.item,
            outcome,
            turns,
            missing: run.missing(),
            rejected,
            duration_ms: run.elapsed_ms(),
        })
    }
}

/// How an auction ended, for telemetry.
fn sold(sold: bool) -> &'static str {
    if sold {
        "sold"
    } else {
        "no_sale"
    }
}

/// The Dutch auction's protocol: every round all bidders are asked at
/// once ([`Bidder::buy_at`](crate::Bidder::buy_at)); the first acceptance to arrive wins
/// at the clock price ([`DutchAuction`] decides). A bidder whose node is
/// gone is not asked again; a slow one is.
///
/// Errors: [`AgentError::Auction`](crate::AgentError::Auction) for an invalid start, step or reserve;
/// [`AgentError::InvalidParameters`](crate::AgentError::InvalidParameters) for a zero deadline;
/// [`AgentError::NoParticipants`](crate::AgentError::NoParticipants) if no agent has the capability.
impl Protocol for DutchSpec {
    type Output = DutchResult;
    const NAME: &'static str = "dutch_auction";

    fn validate(&self) -> Result<()> {
        positive("round deadline", self.round_deadline)?;
        DutchAuction::new(self.start, self.step, self.reserve)?;
        Ok(())
    }

    fn invite(&self) -> Invite {
        Invite::Capability(self.capability.clone())
    }

    fn summary(result: &DutchResult) -> Option<String> {
        Some(sale(
            &result.item,
            result.outcome.winner.as_deref(),
            result.outcome.price,
        ))
    }

    async fn run(self, run: &Run) -> Result<DutchResult> {
        let mut auction = DutchAuction::new(self.start, self.step, self.reserve)?;
        let outcome = loop {
            let Some(price) = auction.clock() else {
                break auction.outcome().cloned();
            };
            let request = Clock {
                item: self.item.clone(),
                price,
            };
            let got = run.collect(request, self.round_deadline).await;
            let acceptances: Vec<Acceptance> = got
                .answers
                .into_iter()
                .filter(|(_, buys)| *buys)
                .enumerate()
                .map(|(arrival, (bidder, _))| Acceptance {
                    bidder,
                    arrival: arrival as u64,
                })
                .collect();
            if let DutchStatus::Closed(outcome) = auction.close_round(&acceptances)? {
                break Some(outcome);
            }
        };
        let outcome = outcome.ok_or_else(|| AgentError::Internal {
            component: "Dutch auction",
            reason: "it stopped before reaching an outcome".into(),
        })?;
        tracing::info!(item = %self.item, winner = ?outcome.winner, price = ?outcome.price, round = outcome.round, "dutch auction closed");
        run.record_outcome(outcome.round + 1, sold(outcome.winner.is_some()));
        Ok(DutchResult {
            item: self.item,
            outcome,
            missing: run.missing(),
            duration_ms: run.elapsed_ms(),
        })
    }
}

/// The outcome of a sealed auction rule, with the bids it set aside.
trait SetAside {
    fn set_aside(&self) -> &[Rejection];
}

impl SetAside for MultiUnitOutcome {
    fn set_aside(&self) -> &[Rejection] {
        &self.rejected
    }
}

impl SetAside for VcgUnitsOutcome {
    fn set_aside(&self) -> &[Rejection] {
        &self.rejected
    }
}

impl SetAside for CombinatorialOutcome {
    fn set_aside(&self) -> &[Rejection] {
        &self.rejected
    }
}

/// Calls for sealed answers to `request` and decides them with `decide`;
/// tells each bidder whose bid the rule set aside why. An answer of `None`
/// declines.
async fn sealed<M, A, O>(
    run: &Run,
    request: M,
    deadline: Duration,
    decide: impl FnOnce(&[(String, A)]) -> Result<O, AuctionError>,
) -> Result<SealedResult<O>>
where
    M: Message<Reply = Option<A>> + Clone,
    O: SetAside,
{
    let got = run.collect(request, deadline).await;
    let mut answers = Vec::new();
    let mut declined = Vec::new();
    for (agent, reply) in got.answers {
        match reply {
            None => declined.push(agent),
            Some(answer) => answers.push((agent, answer)),
        }
    }
    let outcome = decide(&answers)?;
    let rejected = outcome.set_aside();
    for r in rejected {
        run.reject(&r.bidder, r.error.to_string());
    }
    tracing::info!(
        answers = answers.len(),
        rejected = rejected.len(),
        "auction closed"
    );
    Ok(SealedResult {
        outcome,
        declined,
        missing: got.missing,
        duration_ms: run.elapsed_ms(),
    })
}

/// The multi-unit auction's protocol: one sealed bid per bidder
/// ([`Bidder::bid_units`](crate::Bidder::bid_units)); the highest bids win, priced by the
/// spec's payment rule ([`multi_unit`] decides).
///
/// Errors: [`AgentError::Auction`](crate::AgentError::Auction) for zero units or an invalid reserve;
/// [`AgentError::InvalidParameters`](crate::AgentError::InvalidParameters) for a zero deadline;
/// [`AgentError::NoParticipants`](crate::AgentError::NoParticipants) if no agent has the capability.
impl Protocol for MultiUnitSpec {
    type Output = MultiUnitResult;
    const NAME: &'static str = "multi_unit_auction";

    fn validate(&self) -> Result<()> {
        positive("deadline", self.deadline)?;
        multi_unit(self.units, self.payment, self.reserve, &[])?;
        Ok(())
    }

    fn invite(&self) -> Invite {
        Invite::Capability(self.capability.clone())
    }

    async fn run(self, run: &Run) -> Result<MultiUnitResult> {
        let request = Units {
            item: self.item.clone(),
            units: self.units,
        };
        sealed(run, request, self.deadline, |answers| {
            let bids: Vec<Bid> = answers
                .iter()
                .enumerate()
                .map(|(arrival, (bidder, amount))| Bid {
                    bidder: bidder.clone(),
                    amount: *amount,
                    arrival: arrival as u64,
                })
                .collect();
            multi_unit(self.units, self.payment, self.reserve, &bids)
        })
        .await
    }
}

/// The VCG auction's protocol: each bidder states its marginal values
/// ([`Bidder::marginal_values`](crate::Bidder::marginal_values)); [`vcg_units`] decides.
///
/// Errors: [`AgentError::Auction`](crate::AgentError::Auction) for zero units;
/// [`AgentError::InvalidParameters`](crate::AgentError::InvalidParameters) for a zero deadline;
/// [`AgentError::NoParticipants`](crate::AgentError::NoParticipants) if no agent has the capability.
impl Protocol for VcgSpec {
    type Output = VcgResult;
    const NAME: &'static str = "vcg_auction";

    fn validate(&self) -> Result<()> {
        positive("deadline", self.deadline)?;
        vcg_units(self.units, &[])?;
        Ok(())
    }

    fn invite(&self) -> Invite {
        Invite::Capability(self.capability.clone())
    }

    async fn run(self, run: &Run) -> Result<VcgResult> {
        let request = MarginalValues {
            item: self.item.clone(),
            units: self.units,
        };
        sealed(run, request, self.deadline, |answers| {
            let bids: Vec<MarginalBid> = answers
                .iter()
                .enumerate()
                .map(|(arrival, (bidder, values))| MarginalBid {
                    bidder: bidder.clone(),
                    values: values.clone(),
                    arrival: arrival as u64,
                })
                .collect();
            vcg_units(self.units, &bids)
        })
        .await
    }
}

/// The combinatorial auction's protocol: bidders bid on bundles
/// ([`Bidder::bundles`](crate::Bidder::bundles)); the allocation of disjoint bundles with
/// the most total value wins, and winners pay VCG prices
/// ([`combinatorial`] decides, exactly, within its size limits).
///
/// Errors: [`AgentError::Auction`](crate::AgentError::Auction) for no items or more items than the
/// rule handles; [`AgentError::InvalidParameters`](crate::AgentError::InvalidParameters) for a zero deadline;
/// [`AgentError::NoParticipants`](crate::AgentError::NoParticipants) if no agent has the capability.
impl Protocol for CombinatorialSpec {
    type Output = CombinatorialResult;
    const NAME: &'static str = "combinatorial_auction";

    fn validate(&self) -> Result<()> {
        positive("deadline", self.deadline)?;
        if self.items.is_empty() {
            return Err(InvalidParameter::NoneOf {
                protocol: "a combinatorial auction",
                what: "item",
            }
            .into());
        }
        combinatorial(&self.items, &[])?;
        Ok(())
    }

    fn invite(&self) -> Invite {
        Invite::Capability(self.capability.clone())
    }

    async fn run(self, run: &Run) -> Result<CombinatorialResult> {
        let request = Bundles {
            items: self.items.clone(),
        };
        sealed(run, request, self.deadline, |answers| {
            let mut bids = Vec::new();
            for (bidder, bundles) in answers {
                for (items, value) in bundles {
                    bids.push(BundleBid {
                        bidder: bidder.clone(),
                        items: items.clone(),
                        value: *value,
                        arrival: bids.len() as u64,
                    });
                }
            }
            combinatorial(&self.items, &bids)
        })
        .await
    }
}

/// An auction's result in one line: who bought `item` at what price.
fn sale(item: &str, winner: Option<&str>, price: Option<f64>) -> String {
    match (winner, price) {
        (Some(winner), Some(price)) => format!("{item}: {winner} wins at {price}"),
        (Some(winner), None) => format!("{item}: {winner} wins"),
        _ => format!("{item}: no sale"),
    }
}
