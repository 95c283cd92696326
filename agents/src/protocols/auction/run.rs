//! Interactive auctions across nodes: English (ascending, one bidder at a
//! time), Dutch (descending clock), multi-unit sealed bids, VCG over
//! marginal values and combinatorial bundles. Each runs in a coordinator
//! actor and decides with the pure rules of this module's parent.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};
use tracing::Instrument;

use serde::{Deserialize, Serialize};

use super::{
    combinatorial, multi_unit, vcg_units, Acceptance, AuctionError, Bid, BundleBid,
    CombinatorialOutcome, DutchAuction, DutchOutcome, DutchStatus, EnglishAuction, EnglishOutcome,
    MarginalBid, MultiUnitOutcome, MultiUnitPayment, Rejection, VcgUnitsOutcome,
};
use crate::error::{AgentError, Result};
use crate::protocols::{
    collect, is_gone, missing as absent, notify_rejected, participant, positive, record_outcome,
    record_run, reject_answer, Missing, Participants,
};
use crate::system::Agents;

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

/// An English auction: bidders with the capability are asked in
/// round-robin order of agent id, the leader skipped.
#[derive(Debug, Clone)]
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

/// A VCG auction of `units` identical units over marginal values.
#[derive(Debug, Clone)]
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

/// A combinatorial auction of distinct items sold in bundles, with VCG
/// payments.
#[derive(Debug, Clone)]
#[must_use]
pub struct CombinatorialSpec {
    /// The items for sale.
    pub items: Vec<String>,
    /// Invite every agent with this capability.
    pub capability: String,
    /// Bids close this long after the call.
    pub deadline: Duration,
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

impl Agents {
    /// Runs an English auction among every agent with the spec's
    /// capability, wherever they run ([`EnglishAuction`] decides).
    ///
    /// # Errors
    /// [`AgentError::Auction`] for an invalid start, increment or reserve;
    /// [`AgentError::InvalidParameters`] for a zero deadline;
    /// [`AgentError::NoParticipants`] if no agent has the capability.
    pub async fn english(&self, spec: EnglishSpec) -> Result<EnglishResult> {
        positive("turn deadline", spec.turn_deadline)?;
        EnglishAuction::new(
            spec.start,
            spec.increment,
            spec.reserve,
            Vec::<String>::new(),
        )?;
        let participants = self.participants(&spec.capability).await?;
        self.coordinate(async move { run_english(spec, &participants).await })
            .await?
    }

    /// Runs a Dutch auction among every agent with the spec's capability
    /// ([`DutchAuction`] decides): every round all are asked at once, the
    /// first acceptance to arrive wins at the clock price.
    ///
    /// # Errors
    /// [`AgentError::Auction`] for an invalid start, step or reserve;
    /// [`AgentError::InvalidParameters`] for a zero deadline;
    /// [`AgentError::NoParticipants`] if no agent has the capability.
    pub async fn dutch(&self, spec: DutchSpec) -> Result<DutchResult> {
        positive("round deadline", spec.round_deadline)?;
        DutchAuction::new(spec.start, spec.step, spec.reserve)?;
        let participants = self.participants(&spec.capability).await?;
        self.coordinate(async move { run_dutch(spec, &participants).await })
            .await?
    }

    /// Runs a sealed-bid auction of identical units ([`multi_unit`]
    /// decides): the highest bids win, priced by the spec's payment rule.
    ///
    /// # Errors
    /// [`AgentError::Auction`] for zero units or an invalid reserve;
    /// [`AgentError::InvalidParameters`] for a zero deadline;
    /// [`AgentError::NoParticipants`] if no agent has the capability.
    pub async fn multi_unit(&self, spec: MultiUnitSpec) -> Result<MultiUnitResult> {
        positive("deadline", spec.deadline)?;
        multi_unit(spec.units, spec.payment, spec.reserve, &[])?;
        let participants = self.participants(&spec.capability).await?;
        let request = AuctionRequest::Units {
            item: spec.item.clone(),
            units: spec.units,
        };
        self.coordinate(async move {
            run_sealed(
                &participants,
                request,
                spec.deadline,
                "multi_unit_auction",
                |answers| {
                    let bids: Vec<Bid> = answers
                        .iter()
                        .enumerate()
                        .filter_map(|(arrival, (bidder, reply))| match reply {
                            AuctionReply::Bid(amount) => Some(Bid {
                                bidder: bidder.clone(),
                                amount: *amount,
                                arrival: arrival as u64,
                            }),
                            _ => None,
                        })
                        .collect();
                    let outcome = multi_unit(spec.units, spec.payment, spec.reserve, &bids)?;
                    let rejected = outcome.rejected.clone();
                    Ok((outcome, rejected))
                },
            )
            .await
        })
        .await?
    }

    /// Runs a VCG auction of identical units over the bidders' marginal
    /// values ([`vcg_units`] decides).
    ///
    /// # Errors
    /// [`AgentError::InvalidParameters`] for zero units or a zero deadline;
    /// [`AgentError::NoParticipants`] if no agent has the capability.
    pub async fn vcg(&self, spec: VcgSpec) -> Result<VcgResult> {
        positive("deadline", spec.deadline)?;
        vcg_units(spec.units, &[])?;
        let participants = self.participants(&spec.capability).await?;
        let request = AuctionRequest::MarginalValues {
            item: spec.item.clone(),
            units: spec.units,
        };
        self.coordinate(async move {
            run_sealed(
                &participants,
                request,
                spec.deadline,
                "vcg_auction",
                |answers| {
                    let bids: Vec<MarginalBid> = answers
                        .iter()
                        .enumerate()
                        .filter_map(|(arrival, (bidder, reply))| match reply {
                            AuctionReply::Values(values) => Some(MarginalBid {
                                bidder: bidder.clone(),
                                values: values.clone(),
                                arrival: arrival as u64,
                            }),
                            _ => None,
                        })
                        .collect();
                    let outcome = vcg_units(spec.units, &bids)?;
                    let rejected = outcome.rejected.clone();
                    Ok((outcome, rejected))
                },
            )
            .await
        })
        .await?
    }

    /// Runs a combinatorial auction: bidders bid on bundles, the allocation
    /// of disjoint bundles with the most total value wins, and winners pay
    /// VCG prices ([`combinatorial`] decides, exactly, within its size
    /// limits).
    ///
    /// # Errors
    /// [`AgentError::Auction`] for more items than the rule handles;
    /// [`AgentError::InvalidParameters`] for a zero deadline or no items;
    /// [`AgentError::NoParticipants`] if no agent has the capability.
    pub async fn combinatorial(&self, spec: CombinatorialSpec) -> Result<CombinatorialResult> {
        positive("deadline", spec.deadline)?;
        if spec.items.is_empty() {
            return Err(AgentError::InvalidParameters(
                "a combinatorial auction needs at least one item".into(),
            ));
        }
        combinatorial(&spec.items, &[])?;
        let participants = self.participants(&spec.capability).await?;
        let request = AuctionRequest::Bundles {
            items: spec.items.clone(),
        };
        self.coordinate(async move {
            run_sealed(
                &participants,
                request,
                spec.deadline,
                "combinatorial_auction",
                |answers| {
                    let mut bids = Vec::new();
                    for (bidder, reply) in answers {
                        if let AuctionReply::Bundles(bundles) = reply {
                            for (items, value) in bundles {
                                bids.push(BundleBid {
                                    bidder: bidder.clone(),
                                    items: items.clone(),
                                    value: *value,
                                    arrival: bids.len() as u64,
                                });
                            }
                        }
                    }
                    let outcome = combinatorial(&spec.items, &bids)?;
                    let rejected = outcome.rejected.clone();
                    Ok((outcome, rejected))
                },
            )
            .await
        })
        .await?
    }
}

/// Tells each rejected bidder why.
fn notify_all(participants: &Participants, protocol: &str, rejected: &[Rejection]) {
    for r in rejected {
        reject_answer(participants, &r.bidder, protocol, r.error.to_string());
    }
}

/// Calls for sealed answers to `request` and decides them with `decide`,
/// which returns the outcome and the bids it set aside.
async fn run_sealed<O>(
    participants: &Participants,
    request: AuctionRequest,
    deadline: Duration,
    protocol: &'static str,
    decide: impl FnOnce(&[(String, AuctionReply)]) -> Result<(O, Vec<Rejection>), AuctionError>,
) -> Result<SealedResult<O>> {
    let started = Instant::now();
    let span = tracing::info_span!("auction", protocol, invited = participants.len());
    async move {
        let got = collect(participants, request, deadline).await;
        let mut answers = Vec::new();
        let mut declined = Vec::new();
        let missing = got.missing;
        for (agent, reply) in got.answers {
            match reply {
                AuctionReply::Decline => declined.push(agent),
                answer => answers.push((agent, answer)),
            }
        }
        let (outcome, rejected) = decide(&answers)?;
        notify_all(participants, protocol, &rejected);
        record_run(
            protocol,
            participants.len(),
            answers.len() + declined.len(),
            started,
        );
        tracing::info!(
            answers = answers.len(),
            rejected = rejected.len(),
            "auction closed"
        );
        Ok(SealedResult {
            outcome,
            declined,
            missing,
            duration_ms: started.elapsed().as_millis() as u64,
        })
    }
    .instrument(span)
    .await
}

async fn run_english(spec: EnglishSpec, participants: &Participants) -> Result<EnglishResult> {
    let started = Instant::now();
    let span =
        tracing::info_span!("english_auction", item = %spec.item, invited = participants.len());
    async move {
        let ids: Vec<&str> = participants.iter().map(|(id, _)| id.as_str()).collect();
        let mut auction = EnglishAuction::new(spec.start, spec.increment, spec.reserve, ids)?;
        let mut missing: Vec<Missing> = Vec::new();
        let mut gone: BTreeSet<String> = BTreeSet::new();
        let mut rejected = Vec::new();
        let mut answered = BTreeSet::new();
        let mut turns = 0;
        while let Some(bidder) = auction.next_bidder().map(str::to_owned) {
            turns += 1;
            let agent = participant(participants, &bidder);
            let answer = match agent {
                Some(agent) if !gone.contains(&bidder) => {
                    let request = AuctionRequest::Raise {
                        item: spec.item.clone(),
                        leader: auction
                            .leader()
                            .map(|(who, amount)| (who.to_owned(), amount)),
                        minimum: auction.minimum_bid(),
                    };
                    match agent.ask(request, spec.turn_deadline).await {
                        Ok(reply) => {
                            answered.insert(bidder.clone());
                            Some(reply)
                        }
                        Err(e) => {
                            let m = absent(bidder.clone(), &e);
                            if is_gone(&e) {
                                gone.insert(bidder.clone());
                            }
                            if !missing.iter().any(|x| x.agent == bidder) {
                                missing.push(m);
                            }
                            None
                        }
                    }
                }
                _ => None,
            };
            match answer {
                Some(AuctionReply::Bid(amount)) => {
                    if let Err(e) = auction.bid(&bidder, amount) {
                        if let Some(agent) = agent {
                            notify_rejected(agent, "english_auction", e.to_string());
                        }
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
        let outcome = auction
            .outcome()
            .ok_or_else(|| AgentError::InvalidParameters("the auction did not close".into()))?;
        missing.sort_by(|a, b| a.agent.cmp(&b.agent));
        tracing::info!(winner = ?outcome.winner, price = ?outcome.price, turns, "english auction closed");
        record_outcome(
            "english_auction",
            turns,
            if outcome.winner.is_some() {
                "sold"
            } else {
                "no_sale"
            },
        );
        record_run(
            "english_auction",
            participants.len(),
            answered.len(),
            started,
        );
        Ok(EnglishResult {
            item: spec.item,
            outcome,
            turns,
            missing,
            rejected,
            duration_ms: started.elapsed().as_millis() as u64,
        })
    }
    .instrument(span)
    .await
}

async fn run_dutch(spec: DutchSpec, participants: &Participants) -> Result<DutchResult> {
    let started = Instant::now();
    let span =
        tracing::info_span!("dutch_auction", item = %spec.item, invited = participants.len());
    async move {
        let mut auction = DutchAuction::new(spec.start, spec.step, spec.reserve)?;
        let mut missing: Vec<Missing> = Vec::new();
        let mut answered = BTreeSet::new();
        let mut active: Participants = participants.clone();
        let outcome = loop {
            let Some(price) = auction.clock() else {
                break auction.outcome().cloned();
            };
            let request = AuctionRequest::Clock {
                item: spec.item.clone(),
                price,
            };
            let got = collect(&active, request, spec.round_deadline).await;
            let mut acceptances = Vec::new();
            for (agent, reply) in got.answers {
                answered.insert(agent.clone());
                if reply == AuctionReply::Accept {
                    acceptances.push(Acceptance {
                        bidder: agent,
                        arrival: acceptances.len() as u64,
                    });
                }
            }
            // A bidder whose node is gone is not asked again; a slow one is.
            active.retain(|(id, _)| !got.gone.contains(id));
            for m in got.missing {
                if !missing.iter().any(|x| x.agent == m.agent) {
                    missing.push(m);
                }
            }
            match auction.close_round(&acceptances)? {
                DutchStatus::Closed(outcome) => break Some(outcome),
                _ => continue,
            }
        };
        let outcome =
            outcome.ok_or_else(|| AgentError::InvalidParameters("the auction did not close".into()))?;
        missing.sort_by(|a, b| a.agent.cmp(&b.agent));
        tracing::info!(winner = ?outcome.winner, price = ?outcome.price, round = outcome.round, "dutch auction closed");
        record_outcome(
            "dutch_auction",
            outcome.round + 1,
            if outcome.winner.is_some() {
                "sold"
            } else {
                "no_sale"
            },
        );
        record_run("dutch_auction", participants.len(), answered.len(), started);
        Ok(DutchResult {
            item: spec.item,
            outcome,
            missing,
            duration_ms: started.elapsed().as_millis() as u64,
        })
    }
    .instrument(span)
    .await
}
