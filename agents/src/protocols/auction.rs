//! Sealed-bid auctions: the pure decision rule.

use serde::{Deserialize, Serialize};

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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bid {
    /// The bidding agent.
    pub bidder: String,
    /// The amount offered.
    pub amount: f64,
    /// Arrival order at the coordinator (0 = first).
    pub arrival: u64,
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
/// lowest agent id. The price follows `rule`.
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
        b.amount
            .total_cmp(&a.amount)
            .then(a.arrival.cmp(&b.arrival))
            .then_with(|| a.bidder.cmp(&b.bidder))
    });
    let tie_break = match ranking.as_slice() {
        [first, second, ..] if first.amount == second.amount => {
            Some(if first.arrival != second.arrival {
                format!(
                    "{} and {} bid {}; {} arrived first",
                    first.bidder, second.bidder, first.amount, first.bidder
                )
            } else {
                format!(
                    "{} and {} bid {} at the same time; lowest id {} wins",
                    first.bidder, second.bidder, first.amount, first.bidder
                )
            })
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

    proptest! {
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
