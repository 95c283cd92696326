//! k identical units, one unit per bidder.

use serde::{Deserialize, Serialize};

use super::{
    boundary_tie, check_amount, check_parameter, default_order, AuctionError, Bid, Offer,
    Rejection, TieBreak,
};

/// What the winners of a [`multi_unit`] auction pay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum MultiUnitPayment {
    /// Each winner pays its own bid.
    PayAsBid,
    /// Every winner pays the (k+1)-th highest valid bid, the highest losing
    /// bid, or the reserve if there are k valid bids or fewer.
    UniformHighestLosing,
    /// Every winner pays the k-th highest valid bid, the lowest winning bid,
    /// or the reserve if there are fewer than k valid bids (missing bids are
    /// taken to sit at the reserve, as for the (k+1)-th price rule).
    UniformLowestWinning,
}

/// One unit won.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnitAward {
    /// The winner.
    pub bidder: String,
    /// Its bid.
    pub bid: f64,
    /// What it pays.
    pub price: f64,
}

/// The result of [`multi_unit`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MultiUnitOutcome {
    /// Units for sale (k).
    pub units: usize,
    /// The payment rule.
    pub payment: MultiUnitPayment,
    /// The winners, best bid first (at most `units`).
    pub awards: Vec<UnitAward>,
    /// The price every winner pays under a uniform rule (with at least one
    /// winner); `None` under pay-as-bid.
    pub uniform_price: Option<f64>,
    /// Every valid bid, best first.
    pub ranking: Vec<Bid>,
    /// Bids set aside (not finite, negative, below the reserve, a second bid
    /// from the same bidder).
    pub rejected: Vec<Rejection>,
    /// How a tie between the last winning and the first losing bid was broken.
    pub tie_break: Option<TieBreak>,
}

impl MultiUnitOutcome {
    /// The unit `bidder` won, if it won one (a bidder wins at most one).
    ///
    /// # Examples
    ///
    /// ```
    /// use agents::protocols::auction::{multi_unit, Bid, MultiUnitPayment};
    ///
    /// let bids = Bid::in_order([("a", 9.0), ("b", 7.0), ("c", 5.0)]);
    /// let out = multi_unit(2, MultiUnitPayment::PayAsBid, 0.0, &bids)?;
    /// assert_eq!(out.award_of("b").map(|a| a.price), Some(7.0));
    /// assert_eq!(out.award_of("c"), None);
    /// # Ok::<(), agents::protocols::auction::AuctionError>(())
    /// ```
    #[must_use]
    pub fn award_of(&self, bidder: &str) -> Option<&UnitAward> {
        self.awards.iter().find(|a| a.bidder == bidder)
    }

    /// What the winners pay together: their prices added in the order of
    /// [`awards`](Self::awards) (best bid first); `0.0` with no winner.
    ///
    /// # Examples
    ///
    /// ```
    /// use agents::protocols::auction::{multi_unit, Bid, MultiUnitPayment};
    ///
    /// let bids = Bid::in_order([("a", 9.0), ("b", 7.0), ("c", 5.0)]);
    /// let out = multi_unit(2, MultiUnitPayment::UniformHighestLosing, 0.0, &bids)?;
    /// assert_eq!(out.revenue(), 10.0); // a and b pay c's 5 each
    /// # Ok::<(), agents::protocols::auction::AuctionError>(())
    /// ```
    #[must_use]
    pub fn revenue(&self) -> f64 {
        self.awards.iter().fold(0.0, |sum, a| sum + a.price)
    }
}

/// Sells `units` identical units, at most one per bidder.
///
/// Valid bids are finite, non-negative and at least `reserve`; a bidder's
/// earliest valid bid counts and later ones are rejected. The winners are
/// the `units` highest valid bids, ties ranked by the default rule (earliest
/// arrival, then lowest id). Prices follow `payment`.
///
/// # Errors
///
/// [`AuctionError::InvalidParameter`] if `units` is zero or `reserve` is
/// negative or not finite.
///
/// # Examples
///
/// ```
/// use agents::protocols::auction::{multi_unit, Bid, MultiUnitPayment};
///
/// let bids = Bid::in_order([("a", 9.0), ("b", 7.0), ("c", 5.0)]);
/// let out = multi_unit(2, MultiUnitPayment::UniformHighestLosing, 0.0, &bids)?;
/// assert_eq!(out.uniform_price, Some(5.0)); // a and b win and pay c's losing bid
/// # Ok::<(), agents::protocols::auction::AuctionError>(())
/// ```
pub fn multi_unit(
    units: usize,
    payment: MultiUnitPayment,
    reserve: f64,
    bids: &[Bid],
) -> Result<MultiUnitOutcome, AuctionError> {
    if units == 0 {
        return Err(AuctionError::InvalidParameter {
            name: "units".into(),
            value: 0.0,
            reason: "at least one unit must be for sale".into(),
        });
    }
    let reserve = check_parameter("reserve", reserve, false)?;
    let mut by_arrival: Vec<&Bid> = bids.iter().collect();
    by_arrival.sort_by_key(|b| b.arrival);
    let mut ranking: Vec<Bid> = Vec::new();
    let mut rejected = Vec::new();
    for bid in by_arrival {
        let checked = check_amount(&bid.bidder, bid.amount).and_then(|amount| {
            if amount < reserve {
                Err(AuctionError::BelowReserve {
                    bidder: bid.bidder.clone(),
                    amount,
                    reserve,
                })
            } else if ranking.iter().any(|b| b.bidder == bid.bidder) {
                Err(AuctionError::DuplicateBidder {
                    bidder: bid.bidder.clone(),
                })
            } else {
                Ok(amount)
            }
        });
        match checked {
            Ok(amount) => ranking.push(Bid {
                amount,
                ..bid.clone()
            }),
            Err(e) => rejected.push(Rejection::new(e, &bid.bidder)),
        }
    }
    ranking.sort_by(|a, b| {
        default_order(
            (a.amount, a.arrival, &a.bidder),
            (b.amount, b.arrival, &b.bidder),
        )
    });
    let winners = units.min(ranking.len());
    let uniform_price = match payment {
        MultiUnitPayment::PayAsBid => None,
        MultiUnitPayment::UniformHighestLosing => {
            Some(ranking.get(units).map_or(reserve, |b| b.amount))
        }
        MultiUnitPayment::UniformLowestWinning => {
            Some(ranking.get(units - 1).map_or(reserve, |b| b.amount))
        }
    }
    .filter(|_| winners > 0);
    let awards = ranking[..winners]
        .iter()
        .map(|b| UnitAward {
            bidder: b.bidder.clone(),
            bid: b.amount,
            price: uniform_price.unwrap_or(b.amount),
        })
        .collect();
    let offers: Vec<Offer<'_>> = ranking
        .iter()
        .map(|b| Offer {
            agent: &b.bidder,
            arrival: b.arrival,
            value: b.amount,
        })
        .collect();
    let tie_break = boundary_tie(&offers, winners);
    Ok(MultiUnitOutcome {
        units,
        payment,
        awards,
        uniform_price,
        ranking,
        rejected,
        tie_break,
    })
}

#[cfg(test)]
mod tests {
    use super::super::TieRule;
    use super::*;
    use proptest::prelude::*;

    fn bid(bidder: &str, amount: f64, arrival: u64) -> Bid {
        Bid {
            bidder: bidder.into(),
            amount,
            arrival,
        }
    }

    fn example() -> Vec<Bid> {
        vec![
            bid("a", 10.0, 0),
            bid("b", 8.0, 1),
            bid("c", 6.0, 2),
            bid("d", 4.0, 3),
            bid("e", 2.0, 4),
        ]
    }

    fn winners(out: &MultiUnitOutcome) -> Vec<&str> {
        out.awards.iter().map(|a| a.bidder.as_str()).collect()
    }

    #[test]
    fn three_payment_rules() {
        // k = 3 of bids 10, 8, 6, 4, 2: winners a, b, c.
        // pay-as-bid: 10, 8, 6. (k+1)-th price: 4. k-th price: 6.
        let out = multi_unit(3, MultiUnitPayment::PayAsBid, 0.0, &example()).unwrap();
        assert_eq!(winners(&out), ["a", "b", "c"]);
        let prices: Vec<f64> = out.awards.iter().map(|a| a.price).collect();
        assert_eq!(prices, [10.0, 8.0, 6.0]);
        assert_eq!(out.uniform_price, None);
        let out = multi_unit(3, MultiUnitPayment::UniformHighestLosing, 0.0, &example()).unwrap();
        assert_eq!(out.uniform_price, Some(4.0));
        assert!(out.awards.iter().all(|a| a.price == 4.0));
        let out = multi_unit(3, MultiUnitPayment::UniformLowestWinning, 0.0, &example()).unwrap();
        assert_eq!(out.uniform_price, Some(6.0));
    }

    #[test]
    fn lookup_and_revenue() {
        // k = 3 pay-as-bid of 10, 8, 6, 4, 2: a, b, c win and pay 10 + 8 + 6 = 24.
        let out = multi_unit(3, MultiUnitPayment::PayAsBid, 0.0, &example()).unwrap();
        assert_eq!(out.revenue(), 24.0);
        assert_eq!(out.award_of("c").map(|a| a.bid), Some(6.0));
        assert_eq!(out.award_of("d"), None);
        // Nobody meets the reserve: no award, no revenue.
        let out = multi_unit(3, MultiUnitPayment::PayAsBid, 50.0, &example()).unwrap();
        assert_eq!((out.awards.len(), out.revenue()), (0, 0.0));
    }

    #[test]
    fn fewer_bids_than_units_price_at_the_reserve() {
        // k = 4, reserve 3: valid bids 10, 8, 6, 4 (2 is below the reserve) -> all four win;
        // (k+1)-th bid missing -> reserve 3; k-th bid is 4.
        let out = multi_unit(4, MultiUnitPayment::UniformHighestLosing, 3.0, &example()).unwrap();
        assert_eq!(winners(&out), ["a", "b", "c", "d"]);
        assert_eq!(out.uniform_price, Some(3.0));
        assert_eq!(out.rejected.len(), 1);
        // k = 6: only 4 valid bids, the 6th price is missing -> reserve 3.
        let out = multi_unit(6, MultiUnitPayment::UniformLowestWinning, 3.0, &example()).unwrap();
        assert_eq!(out.uniform_price, Some(3.0));
        assert_eq!(out.awards.len(), 4);
    }

    #[test]
    fn tie_at_the_cut_goes_to_the_earliest() {
        // k = 2 of 9 (x), 5 (y, arrival 3), 5 (z, arrival 1): z arrived first, z wins.
        // (k+1)-th price = y's 5, so z pays its tied amount.
        let bids = [bid("x", 9.0, 0), bid("y", 5.0, 3), bid("z", 5.0, 1)];
        let out = multi_unit(2, MultiUnitPayment::UniformHighestLosing, 0.0, &bids).unwrap();
        assert_eq!(winners(&out), ["x", "z"]);
        assert_eq!(out.uniform_price, Some(5.0));
        let tie = out.tie_break.unwrap();
        assert_eq!(tie.ranked, ["z", "y"]);
        assert_eq!(
            (tie.favoured, tie.decided_by),
            (1, TieRule::EarliestArrival)
        );
    }

    #[test]
    fn invalid_and_duplicate_bids_are_rejected() {
        let bids = [
            bid("a", -1.0, 0),
            bid("a", 3.0, 1),
            bid("a", 4.0, 2),
            bid("b", f64::NAN, 3),
        ];
        let out = multi_unit(2, MultiUnitPayment::PayAsBid, 0.0, &bids).unwrap();
        assert_eq!(winners(&out), ["a"]);
        assert_eq!(out.awards[0].bid, 3.0, "a's earliest valid bid counts");
        assert_eq!(out.rejected.len(), 3);
        assert!(matches!(
            out.rejected[1].error,
            AuctionError::DuplicateBidder { .. }
        ));
        assert!(multi_unit(0, MultiUnitPayment::PayAsBid, 0.0, &bids).is_err());
        assert!(multi_unit(1, MultiUnitPayment::PayAsBid, f64::NAN, &bids).is_err());
    }

    fn payment() -> impl Strategy<Value = MultiUnitPayment> {
        prop_oneof![
            Just(MultiUnitPayment::PayAsBid),
            Just(MultiUnitPayment::UniformHighestLosing),
            Just(MultiUnitPayment::UniformLowestWinning),
        ]
    }

    proptest! {
        #[test]
        fn winners_are_the_k_highest_and_pay_at_most_their_bid(
            amounts in proptest::collection::vec(prop_oneof![0.0f64..100.0, Just(50.0), Just(-1.0), Just(f64::NAN)], 0..15),
            units in 1usize..6,
            reserve in 0.0f64..40.0,
            payment in payment(),
        ) {
            let bids: Vec<Bid> = amounts.iter().enumerate()
                .map(|(i, a)| bid(&format!("b{}", i % 7), *a, (i * 7 % 5) as u64)).collect();
            let out = multi_unit(units, payment, reserve, &bids).unwrap();
            prop_assert!(out.awards.len() <= units);
            prop_assert_eq!(out.awards.len(), units.min(out.ranking.len()));
            prop_assert_eq!(out.ranking.len() + out.rejected.len(), bids.len());
            // Every winner's bid is at least every loser's bid.
            let lowest_winner = out.awards.iter().map(|a| a.bid).fold(f64::INFINITY, f64::min);
            for loser in &out.ranking[out.awards.len()..] {
                prop_assert!(loser.amount <= lowest_winner);
            }
            for a in &out.awards {
                prop_assert!(a.price <= a.bid, "price {} above bid {}", a.price, a.bid);
                prop_assert!(a.price >= reserve);
            }
        }

        #[test]
        fn nothing_panics(
            amounts in proptest::collection::vec(any::<f64>(), 0..10),
            units in any::<usize>(),
            reserve in any::<f64>(),
            payment in payment(),
        ) {
            let bids: Vec<Bid> = amounts.iter().enumerate()
                .map(|(i, a)| bid(&format!("b{}", i % 3), *a, (i % 4) as u64)).collect();
            let _ = multi_unit(units, payment, reserve, &bids);
        }
    }
}
