//! The sealed-bid rule, first- or second-price ([`sealed_bid`]), and what
//! every auction rule shares: bids, rejections, the default tie-break.

use std::cmp::Ordering;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::AuctionError;

/// How the winner of a sealed-bid auction pays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum AuctionRule {
    /// The highest bidder pays its own bid.
    FirstPrice,
    /// The highest bidder pays the second-highest valid bid, or the reserve
    /// if that is higher or there is no second bid (Vickrey).
    SecondPrice,
}

/// One sealed bid as it reached the coordinator.
///
/// [`Bid::new`] makes one bid (arrival 0); [`Bid::in_order`] makes a list
/// whose arrivals are the positions in the list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bid {
    /// The bidding agent.
    pub bidder: String,
    /// The amount offered.
    pub amount: f64,
    /// Arrival order at the coordinator (0 = first).
    pub arrival: u64,
}

impl Bid {
    /// A bid of `amount` by `bidder`, with arrival 0.
    ///
    /// Bids built this way all arrive together, so a tie between them goes
    /// to the lowest agent id. For bids that arrive one after another use
    /// [`in_order`](Self::in_order); for one arrival of your own, set the
    /// field: `Bid { arrival: 3, ..Bid::new("a", 7.0) }`.
    ///
    /// # Examples
    ///
    /// ```
    /// use agents::protocols::auction::{sealed_bid, AuctionRule, Bid};
    ///
    /// let out = sealed_bid(AuctionRule::FirstPrice, 0.0, &[Bid::new("b", 5.0), Bid::new("a", 5.0)]);
    /// assert_eq!(out.winner.as_deref(), Some("a")); // same arrival: lowest id
    /// ```
    #[must_use]
    pub fn new(bidder: impl Into<String>, amount: f64) -> Self {
        Bid {
            bidder: bidder.into(),
            amount,
            arrival: 0,
        }
    }

    /// Bids `(bidder, amount)` in the order they reached the coordinator:
    /// each one's arrival is its position in the list (0, 1, 2, ...), so a
    /// tie goes to the one listed first.
    ///
    /// # Examples
    ///
    /// ```
    /// use agents::protocols::auction::{sealed_bid, AuctionRule, Bid};
    ///
    /// let bids = Bid::in_order([("b", 5.0), ("a", 5.0), ("c", 3.0)]);
    /// assert_eq!(bids[2].arrival, 2);
    /// let out = sealed_bid(AuctionRule::SecondPrice, 0.0, &bids);
    /// assert_eq!((out.winner.as_deref(), out.price), (Some("b"), Some(5.0))); // b arrived first
    /// ```
    #[must_use]
    pub fn in_order<I, S>(bids: I) -> Vec<Bid>
    where
        I: IntoIterator<Item = (S, f64)>,
        S: Into<String>,
    {
        (0..)
            .zip(bids)
            .map(|(arrival, (bidder, amount))| Bid {
                arrival,
                ..Bid::new(bidder, amount)
            })
            .collect()
    }
}

/// A bid that did not take part, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RejectedBid {
    /// The bidding agent.
    pub bidder: String,
    /// The amount offered.
    pub amount: f64,
    /// Why it was set aside.
    pub reason: String,
}

/// The result of [`sealed_bid`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuctionOutcome {
    /// The winning agent, if any bid met the reserve.
    pub winner: Option<String>,
    /// What the winner pays.
    pub price: Option<f64>,
    /// The valid bids, best first.
    pub ranking: Vec<Bid>,
    /// Bids set aside (not finite, negative, below the reserve).
    pub rejected: Vec<RejectedBid>,
    /// How a tie for first place was broken, if there was one.
    pub tie_break: Option<String>,
}

/// Decides a sealed-bid auction.
///
/// Valid bids are finite, non-negative and at least `reserve`. The highest
/// amount wins; equal amounts are ordered by earliest arrival, then by
/// lowest agent id. The price follows `rule`: under
/// [`AuctionRule::SecondPrice`] the winner pays
/// `max(second-highest valid bid, reserve)`, so a tie at the top goes to the
/// tie-break winner, who pays the tied amount.
///
/// `reserve` should be finite and non-negative (use `0.0` for none); the
/// rule does not check it, so that its signature stays infallible.
pub fn sealed_bid(rule: AuctionRule, reserve: f64, bids: &[Bid]) -> AuctionOutcome {
    let mut ranking = Vec::new();
    let mut rejected = Vec::new();
    for bid in bids {
        let reason = if !bid.amount.is_finite() {
            Some("the amount is not a finite number".to_owned())
        } else if bid.amount < 0.0 {
            Some("the amount is negative".to_owned())
        } else if bid.amount < reserve {
            Some(format!("below the reserve price {reserve}"))
        } else {
            None
        };
        match reason {
            Some(reason) => rejected.push(RejectedBid {
                bidder: bid.bidder.clone(),
                amount: bid.amount,
                reason,
            }),
            None => ranking.push(bid.clone()),
        }
    }
    ranking.sort_by(|a, b| {
        default_order(
            (a.amount, a.arrival, &a.bidder),
            (b.amount, b.arrival, &b.bidder),
        )
    });
    let tie_break = match ranking.as_slice() {
        [first, second, ..] if first.amount == second.amount => {
            Some(crate::protocols::tie_break_text(
                &first.bidder,
                &second.bidder,
                &format!("bid {}", first.amount),
                first.arrival == second.arrival,
            ))
        }
        _ => None,
    };
    let winner = ranking.first().map(|b| b.bidder.clone());
    let price = ranking.first().map(|first| match rule {
        AuctionRule::FirstPrice => first.amount,
        AuctionRule::SecondPrice => ranking
            .get(1)
            .map_or(reserve, |second| second.amount.max(reserve)),
    });
    AuctionOutcome {
        winner,
        price,
        ranking,
        rejected,
        tie_break,
    }
}

/// Orders two offers `(amount, arrival, agent)` by the default rule: higher
/// amount first, then earlier arrival, then lower agent id. `-0.0` and `0.0`
/// are equal; amounts must not be NaN (callers validate first).
pub(crate) fn default_order(a: (f64, u64, &str), b: (f64, u64, &str)) -> Ordering {
    (b.0 + 0.0)
        .total_cmp(&(a.0 + 0.0))
        .then(a.1.cmp(&b.1))
        .then_with(|| a.2.cmp(b.2))
}

/// Checks that an amount is finite and non-negative, and returns it with
/// `-0.0` turned into `0.0`.
pub(crate) fn check_amount(bidder: &str, amount: f64) -> Result<f64, AuctionError> {
    let reason = if !amount.is_finite() {
        "not a finite number"
    } else if amount < 0.0 {
        "negative"
    } else {
        return Ok(amount + 0.0);
    };
    Err(AuctionError::InvalidAmount {
        bidder: bidder.to_owned(),
        amount,
        reason: reason.to_owned(),
    })
}

/// Checks that an auction parameter is finite and non-negative (and, if
/// `positive`, not zero).
pub(crate) fn check_parameter(name: &str, value: f64, positive: bool) -> Result<f64, AuctionError> {
    let reason = if !value.is_finite() {
        "it must be a finite number"
    } else if value < 0.0 {
        "it must not be negative"
    } else if positive && value == 0.0 {
        "it must be greater than zero"
    } else {
        return Ok(value + 0.0);
    };
    Err(AuctionError::InvalidParameter {
        name: name.to_owned(),
        value,
        reason: reason.to_owned(),
    })
}

/// A bid the rule set aside, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rejection {
    /// The bidder.
    pub bidder: String,
    /// Why its bid (or action) was refused.
    pub error: AuctionError,
}

impl Rejection {
    pub(crate) fn new(error: AuctionError, bidder: &str) -> Self {
        Rejection {
            bidder: bidder.to_owned(),
            error,
        }
    }
}

/// Which key of the default rule separated tied offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum TieRule {
    /// The favoured offer arrived at the coordinator earlier.
    EarliestArrival,
    /// The offers arrived together; the favoured agent has the lower id.
    LowestAgentId,
}

impl fmt::Display for TieRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TieRule::EarliestArrival => "earliest arrival",
            TieRule::LowestAgentId => "lowest agent id (same arrival)",
        })
    }
}

/// A tie the default rule had to break: several offers of the same amount
/// competed for fewer places than there were offers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TieBreak {
    /// The amount (or price) all of them offered.
    pub value: f64,
    /// The tied agents in the order the rule ranks them, favoured first. An
    /// agent appears once per tied offer (a multi-unit bidder may have
    /// several tied units).
    pub ranked: Vec<String>,
    /// How many of `ranked` (from the front) got what was contested.
    pub favoured: usize,
    /// The key that separated the last favoured offer from the first one
    /// left out.
    pub decided_by: TieRule,
}

impl fmt::Display for TieBreak {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} tied at {}; the first {} served, by {}",
            self.ranked.join(", "),
            self.value,
            self.favoured,
            self.decided_by
        )
    }
}

/// One offer in a ranking, as the tie-break sees it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Offer<'a> {
    pub(crate) agent: &'a str,
    pub(crate) arrival: u64,
    pub(crate) value: f64,
}

/// The tie at the boundary of a ranking (sorted by [`default_order`])
/// whose first `cut` offers win: `None` unless the offers just inside and
/// just outside have the same value and involve different agents.
pub(crate) fn boundary_tie(ranked: &[Offer<'_>], cut: usize) -> Option<TieBreak> {
    let (inside, outside) = (ranked.get(cut.checked_sub(1)?)?, ranked.get(cut)?);
    let value = inside.value + 0.0;
    if value != outside.value + 0.0 {
        return None;
    }
    let start = ranked[..cut]
        .iter()
        .rposition(|o| o.value + 0.0 != value)
        .map_or(0, |i| i + 1);
    let end = ranked[cut..]
        .iter()
        .position(|o| o.value + 0.0 != value)
        .map_or(ranked.len(), |i| cut + i);
    let (won, lost) = (&ranked[start..cut], &ranked[cut..end]);
    // The first offer left out that lost to a different agent, and the last
    // favoured offer of such an agent: their comparison decided the tie.
    let (winner, loser) = lost.iter().find_map(|l| {
        won.iter()
            .rev()
            .find(|w| w.agent != l.agent)
            .map(|w| (w, l))
    })?;
    Some(TieBreak {
        value,
        ranked: ranked[start..end]
            .iter()
            .map(|o| o.agent.to_owned())
            .collect(),
        favoured: cut - start,
        decided_by: if winner.arrival != loser.arrival {
            TieRule::EarliestArrival
        } else {
            TieRule::LowestAgentId
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn bid(bidder: &str, amount: f64, arrival: u64) -> Bid {
        Bid {
            bidder: bidder.into(),
            amount,
            arrival,
        }
    }

    #[test]
    fn constructors_number_arrivals_by_position() {
        assert_eq!(Bid::new("a", 1.0), bid("a", 1.0, 0));
        assert_eq!(
            Bid::in_order([("a", 1.0), ("b", 2.0)]),
            [bid("a", 1.0, 0), bid("b", 2.0, 1)]
        );
        assert!(Bid::in_order(Vec::<(String, f64)>::new()).is_empty());
    }

    #[test]
    fn first_price_pays_own_bid() {
        let out = sealed_bid(
            AuctionRule::FirstPrice,
            0.0,
            &[bid("a", 10.0, 0), bid("b", 30.0, 1), bid("c", 20.0, 2)],
        );
        assert_eq!(out.winner.as_deref(), Some("b"));
        assert_eq!(out.price, Some(30.0));
    }

    #[test]
    fn second_price_pays_runner_up() {
        let out = sealed_bid(
            AuctionRule::SecondPrice,
            0.0,
            &[bid("a", 10.0, 0), bid("b", 30.0, 1), bid("c", 20.0, 2)],
        );
        assert_eq!(out.winner.as_deref(), Some("b"));
        assert_eq!(out.price, Some(20.0));
    }

    #[test]
    fn second_price_with_single_bid_pays_reserve() {
        let out = sealed_bid(
            AuctionRule::SecondPrice,
            5.0,
            &[bid("a", 10.0, 0), bid("b", 4.0, 1)],
        );
        assert_eq!(out.winner.as_deref(), Some("a"));
        assert_eq!(out.price, Some(5.0));
        assert_eq!(out.rejected.len(), 1);
    }

    #[test]
    fn no_bid_meets_reserve() {
        let out = sealed_bid(AuctionRule::FirstPrice, 50.0, &[bid("a", 10.0, 0)]);
        assert_eq!(out.winner, None);
        assert_eq!(out.price, None);
    }

    #[test]
    fn ties_go_to_earliest_then_lowest_id() {
        let out = sealed_bid(
            AuctionRule::FirstPrice,
            0.0,
            &[bid("b", 10.0, 1), bid("c", 10.0, 0)],
        );
        assert_eq!(out.winner.as_deref(), Some("c"));
        assert!(out.tie_break.unwrap().contains("arrived first"));
        let out = sealed_bid(
            AuctionRule::SecondPrice,
            0.0,
            &[bid("b", 10.0, 3), bid("a", 10.0, 3)],
        );
        assert_eq!(out.winner.as_deref(), Some("a"));
        assert_eq!(out.price, Some(10.0));
    }

    #[test]
    fn invalid_bids_are_rejected_not_fatal() {
        let out = sealed_bid(
            AuctionRule::FirstPrice,
            0.0,
            &[
                bid("a", f64::NAN, 0),
                bid("b", -1.0, 1),
                bid("c", f64::INFINITY, 2),
                bid("d", 1.0, 3),
            ],
        );
        assert_eq!(out.winner.as_deref(), Some("d"));
        assert_eq!(out.rejected.len(), 3);
    }

    #[test]
    fn vickrey_tie_at_the_top_pays_the_tied_amount() {
        // Bids 7 (x, arrival 2), 7 (y, arrival 1), 5 (z); reserve 6.
        // Ranking: y (7, earlier), x (7), z is below the reserve (rejected).
        // y wins and pays max(second-highest 7, reserve 6) = 7, the tied amount.
        let out = sealed_bid(
            AuctionRule::SecondPrice,
            6.0,
            &[bid("x", 7.0, 2), bid("y", 7.0, 1), bid("z", 5.0, 0)],
        );
        assert_eq!(out.winner.as_deref(), Some("y"));
        assert_eq!(out.price, Some(7.0));
        assert!(out.tie_break.unwrap().contains("y arrived first"));
        assert_eq!(out.rejected.len(), 1);
    }

    #[test]
    fn negative_zero_ties_with_zero() {
        // -0.0 is a valid zero bid; it ties with 0.0, and the earlier arrival wins.
        let out = sealed_bid(
            AuctionRule::FirstPrice,
            0.0,
            &[bid("late", 0.0, 1), bid("early", -0.0, 0)],
        );
        assert_eq!(out.winner.as_deref(), Some("early"));
        assert!(out.tie_break.is_some());
    }

    #[test]
    fn boundary_tie_reports_only_ties_across_agents() {
        let offer = |agent, arrival, value| Offer {
            agent,
            arrival,
            value,
        };
        // One agent's own units straddling the cut: no tie between agents.
        let same = [offer("a", 0, 5.0), offer("a", 0, 5.0), offer("b", 1, 4.0)];
        assert_eq!(boundary_tie(&same, 1), None);
        // a (arrival 0) took the cut over b (arrival 0, id b > a).
        let tied = [offer("a", 0, 5.0), offer("b", 0, 5.0)];
        let tie = boundary_tie(&tied, 1).unwrap();
        assert_eq!((tie.favoured, tie.decided_by), (1, TieRule::LowestAgentId));
        assert_eq!(
            tie.to_string(),
            "a, b tied at 5; the first 1 served, by lowest agent id (same arrival)"
        );
        assert_eq!(boundary_tie(&tied, 0), None);
        assert_eq!(boundary_tie(&tied, 2), None);
    }

    proptest! {
        #[test]
        fn sealed_bid_never_panics(
            amounts in proptest::collection::vec(any::<f64>(), 0..10),
            reserve in any::<f64>(),
            first in any::<bool>(),
        ) {
            let bids: Vec<Bid> = amounts.iter().enumerate().map(|(i, a)| bid(&format!("b{}", i % 4), *a, (i % 3) as u64)).collect();
            let rule = if first { AuctionRule::FirstPrice } else { AuctionRule::SecondPrice };
            let out = sealed_bid(rule, reserve, &bids);
            prop_assert_eq!(out.ranking.len() + out.rejected.len(), bids.len());
        }

        #[test]
        fn winner_holds_the_highest_valid_bid(amounts in proptest::collection::vec(0.0f64..1000.0, 1..20), reserve in 0.0f64..500.0) {
            let bids: Vec<Bid> = amounts.iter().enumerate().map(|(i, a)| bid(&format!("agent{i:02}"), *a, i as u64)).collect();
            let out = sealed_bid(AuctionRule::SecondPrice, reserve, &bids);
            let best = amounts.iter().cloned().filter(|a| *a >= reserve).fold(None, |m: Option<f64>, a| Some(m.map_or(a, |m| m.max(a))));
            match best {
                None => prop_assert!(out.winner.is_none()),
                Some(best) => {
                    let winner = out.ranking.first().unwrap();
                    prop_assert_eq!(winner.amount, best);
                    let price = out.price.unwrap();
                    prop_assert!(price <= best && price >= reserve);
                }
            }
        }
    }
}
