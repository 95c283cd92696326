//! VCG for identical units with marginal values.

use serde::{Deserialize, Serialize};

use super::{boundary_tie, check_amount, default_order, AuctionError, Offer, Rejection, TieBreak};

/// A bid for identical units: the value of the 1st, 2nd, ... unit.
///
/// [`MarginalBid::new`] makes one bid (arrival 0); [`MarginalBid::in_order`]
/// makes a list whose arrivals are the positions in the list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MarginalBid {
    /// The bidding agent.
    pub bidder: String,
    /// Marginal values, non-increasing: `values[j]` is what the (j+1)-th
    /// unit adds. Its length is the most units the bidder wants.
    pub values: Vec<f64>,
    /// Arrival order at the coordinator (0 = first).
    pub arrival: u64,
}

impl MarginalBid {
    /// A bid by `bidder` with marginal `values` (1st unit first), with
    /// arrival 0.
    ///
    /// Bids built this way all arrive together, so a tie between them goes
    /// to the lowest agent id. For bids that arrive one after another use
    /// [`in_order`](Self::in_order); for one arrival of your own, set the
    /// field: `MarginalBid { arrival: 3, ..MarginalBid::new("a", [7.0]) }`.
    ///
    /// # Examples
    ///
    /// ```
    /// use agents::protocols::auction::{vcg_units, MarginalBid};
    ///
    /// let out = vcg_units(2, &[MarginalBid::new("a", [10.0, 4.0]), MarginalBid::new("b", [6.0])])?;
    /// assert_eq!(out.welfare, 16.0);
    /// # Ok::<(), agents::protocols::auction::AuctionError>(())
    /// ```
    #[must_use]
    pub fn new(bidder: impl Into<String>, values: impl Into<Vec<f64>>) -> Self {
        MarginalBid {
            bidder: bidder.into(),
            values: values.into(),
            arrival: 0,
        }
    }

    /// Bids `(bidder, values)` in the order they reached the coordinator:
    /// each one's arrival is its position in the list (0, 1, 2, ...), so a
    /// tie goes to the one listed first. Lists of different lengths need a
    /// common type, such as `Vec<f64>` or `&[f64]`.
    ///
    /// # Examples
    ///
    /// ```
    /// use agents::protocols::auction::{vcg_units, MarginalBid};
    ///
    /// let bids = MarginalBid::in_order([("x", vec![7.0]), ("y", vec![7.0, 1.0])]);
    /// let out = vcg_units(1, &bids)?;
    /// assert_eq!(out.award_of("x").map(|a| a.payment), Some(7.0)); // x arrived first
    /// # Ok::<(), agents::protocols::auction::AuctionError>(())
    /// ```
    #[must_use]
    pub fn in_order<I, S, V>(bids: I) -> Vec<MarginalBid>
    where
        I: IntoIterator<Item = (S, V)>,
        S: Into<String>,
        V: Into<Vec<f64>>,
    {
        (0..)
            .zip(bids)
            .map(|(arrival, (bidder, values))| MarginalBid {
                arrival,
                ..MarginalBid::new(bidder, values)
            })
            .collect()
    }
}

/// What one bidder gets in [`vcg_units`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VcgAward {
    /// The bidder.
    pub bidder: String,
    /// Units allocated.
    pub units: usize,
    /// Its reported value for them (the sum of its first `units` marginal
    /// values, added in unit order).
    pub value: f64,
    /// Its VCG payment.
    pub payment: f64,
}

/// The result of [`vcg_units`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VcgUnitsOutcome {
    /// Units for sale.
    pub units: usize,
    /// Units allocated (fewer than `units` when demand is smaller).
    pub allocated: usize,
    /// Bidders that get at least one unit, in order of agent id.
    pub awards: Vec<VcgAward>,
    /// Total reported value of the allocation.
    pub welfare: f64,
    /// Bids set aside.
    pub rejected: Vec<Rejection>,
    /// How a tie between the last allocated and the first unallocated unit
    /// was broken (only between different bidders).
    pub tie_break: Option<TieBreak>,
}

impl VcgUnitsOutcome {
    /// What `bidder` gets, if it gets at least one unit (one award per
    /// bidder).
    ///
    /// # Examples
    ///
    /// ```
    /// use agents::protocols::auction::{vcg_units, MarginalBid};
    ///
    /// let out = vcg_units(2, &MarginalBid::in_order([("a", vec![10.0, 4.0]), ("b", vec![6.0])]))?;
    /// assert_eq!(out.award_of("b").map(|a| (a.units, a.payment)), Some((1, 4.0)));
    /// assert_eq!(out.award_of("c"), None);
    /// # Ok::<(), agents::protocols::auction::AuctionError>(())
    /// ```
    #[must_use]
    pub fn award_of(&self, bidder: &str) -> Option<&VcgAward> {
        self.awards.iter().find(|a| a.bidder == bidder)
    }

    /// What the winners pay together: their VCG payments added in the
    /// order of [`awards`](Self::awards) (agent id); `0.0` with no winner.
    ///
    /// # Examples
    ///
    /// ```
    /// use agents::protocols::auction::{vcg_units, MarginalBid};
    ///
    /// let out = vcg_units(2, &MarginalBid::in_order([("a", vec![10.0, 4.0]), ("b", vec![6.0])]))?;
    /// assert_eq!(out.revenue(), 4.0); // a pays 0, b pays 4
    /// # Ok::<(), agents::protocols::auction::AuctionError>(())
    /// ```
    #[must_use]
    pub fn revenue(&self) -> f64 {
        self.awards.iter().fold(0.0, |sum, a| sum + a.payment)
    }
}

/// Allocates `units` identical units to maximise the total reported value,
/// and charges VCG payments.
///
/// **Validation** (per bid): every marginal value finite and ≥ 0, the list
/// non-empty and non-increasing; one bid per bidder (the earliest valid one
/// counts).
///
/// **Allocation**: with non-increasing marginal values the optimum takes the
/// `units` highest marginal values over all bidders (units worth `0.0` are
/// allocated too while units remain). Equal marginal values are ranked by
/// the default rule: earliest arrival, then lowest agent id, then a
/// bidder's own units in order.
///
/// **Payment** of bidder i: others' best welfare without i minus others'
/// welfare in the chosen allocation. Removing i frees its `x_i` units, and
/// the others' best use of them is the `x_i` highest marginal values of
/// others left unallocated, so the payment is computed as exactly that sum
/// (added from the highest). It is therefore ≥ 0 and, as each of those
/// values is at most each of i's allocated marginal values, at most i's
/// value, without rounding slack.
///
/// # Errors
///
/// [`AuctionError::InvalidParameter`] if `units` is zero.
///
/// # Examples
///
/// ```
/// use agents::protocols::auction::{vcg_units, MarginalBid};
///
/// // Two units; a values them 10 then 4, b values one at 6.
/// let bids = MarginalBid::in_order([("a", vec![10.0, 4.0]), ("b", vec![6.0])]);
/// let out = vcg_units(2, &bids)?;
/// // a gets 1 unit (10) and b 1 unit (6): welfare 16. Without b, a would take
/// // 10 + 4 = 14, so b pays 14 - 10 = 4; without a, b gets 6 as now, so a pays 0.
/// assert_eq!(out.welfare, 16.0);
/// assert_eq!(out.award_of("a").map(|a| a.payment), Some(0.0));
/// assert_eq!(out.award_of("b").map(|b| b.payment), Some(4.0));
/// # Ok::<(), agents::protocols::auction::AuctionError>(())
/// ```
pub fn vcg_units(units: usize, bids: &[MarginalBid]) -> Result<VcgUnitsOutcome, AuctionError> {
    if units == 0 {
        return Err(AuctionError::InvalidParameter {
            name: "units".into(),
            value: 0.0,
            reason: "at least one unit must be for sale".into(),
        });
    }
    let mut by_arrival: Vec<&MarginalBid> = bids.iter().collect();
    by_arrival.sort_by_key(|b| b.arrival);
    let mut valid: Vec<MarginalBid> = Vec::new();
    let mut rejected = Vec::new();
    for bid in by_arrival {
        let checked = validate(bid).and_then(|values| {
            if valid.iter().any(|v| v.bidder == bid.bidder) {
                Err(AuctionError::DuplicateBidder {
                    bidder: bid.bidder.clone(),
                })
            } else {
                Ok(values)
            }
        });
        match checked {
            Ok(values) => valid.push(MarginalBid {
                values,
                ..bid.clone()
            }),
            Err(e) => rejected.push(Rejection::new(e, &bid.bidder)),
        }
    }

    // Every unit any bidder could use, as (bidder index, unit index); only
    // the first `units` of each bidder can ever be allocated.
    let mut ranked: Vec<(usize, usize)> = valid
        .iter()
        .enumerate()
        .flat_map(|(i, b)| (0..b.values.len().min(units)).map(move |j| (i, j)))
        .collect();
    ranked.sort_by(|&(i, j), &(k, l)| {
        let (a, b) = (&valid[i], &valid[k]);
        default_order(
            (a.values[j], a.arrival, &a.bidder),
            (b.values[l], b.arrival, &b.bidder),
        )
        .then(j.cmp(&l))
    });
    let allocated = units.min(ranked.len());
    let (taken, left) = ranked.split_at(allocated);
    let mut counts = vec![0usize; valid.len()];
    for &(i, _) in taken {
        counts[i] += 1;
    }

    let mut awards: Vec<VcgAward> = Vec::new();
    let mut welfare = 0.0;
    for &(i, j) in taken {
        welfare += valid[i].values[j];
    }
    for (i, bid) in valid.iter().enumerate() {
        let x = counts[i];
        if x == 0 {
            continue;
        }
        let value = bid.values[..x].iter().fold(0.0, |s, v| s + v);
        let payment = left
            .iter()
            .filter(|&&(k, _)| k != i)
            .take(x)
            .fold(0.0, |s, &(k, l)| s + valid[k].values[l]);
        awards.push(VcgAward {
            bidder: bid.bidder.clone(),
            units: x,
            value,
            payment,
        });
    }
    awards.sort_by(|a, b| a.bidder.cmp(&b.bidder));

    let offers: Vec<Offer<'_>> = ranked
        .iter()
        .map(|&(i, j)| Offer {
            agent: &valid[i].bidder,
            arrival: valid[i].arrival,
            value: valid[i].values[j],
        })
        .collect();
    let tie_break = boundary_tie(&offers, allocated);
    Ok(VcgUnitsOutcome {
        units,
        allocated,
        awards,
        welfare,
        rejected,
        tie_break,
    })
}

fn validate(bid: &MarginalBid) -> Result<Vec<f64>, AuctionError> {
    if bid.values.is_empty() {
        return Err(AuctionError::NoUnitsWanted {
            bidder: bid.bidder.clone(),
        });
    }
    let mut values = Vec::with_capacity(bid.values.len());
    for (j, v) in bid.values.iter().enumerate() {
        let v = check_amount(&bid.bidder, *v)?;
        if let Some(&previous) = values.last() {
            if v > previous {
                return Err(AuctionError::IncreasingMarginalValues {
                    bidder: bid.bidder.clone(),
                    unit: j + 1,
                    value: v,
                    previous,
                });
            }
        }
        values.push(v);
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn bid(bidder: &str, values: &[f64], arrival: u64) -> MarginalBid {
        MarginalBid {
            bidder: bidder.into(),
            values: values.to_vec(),
            arrival,
        }
    }

    fn award<'a>(out: &'a VcgUnitsOutcome, bidder: &str) -> Option<&'a VcgAward> {
        out.awards.iter().find(|a| a.bidder == bidder)
    }

    #[test]
    fn worked_example() {
        // 3 units. a: [10, 8, 2], b: [9, 3], c: [5].
        // Marginals ranked: 10(a) 9(b) 8(a) | 5(c) 3(b) 2(a).
        // Allocation: a 2 units (10+8 = 18), b 1 unit (9); welfare 27.
        // a's payment: without a, others take 9(b) 5(c) 3(b) = 17; others now have 9 -> 17 - 9 = 8.
        //   (= the 2 highest unallocated marginals of others: 5 + 3 = 8.)
        // b's payment: without b, a and c take 10 8 5 = 23; others now have 18 -> 5.
        //   (= the highest unallocated marginal of others: c's 5.)
        let out = vcg_units(
            3,
            &[
                bid("a", &[10.0, 8.0, 2.0], 0),
                bid("b", &[9.0, 3.0], 1),
                bid("c", &[5.0], 2),
            ],
        )
        .unwrap();
        assert_eq!(out.welfare, 27.0);
        assert_eq!(out.allocated, 3);
        let a = award(&out, "a").unwrap();
        assert_eq!((a.units, a.value, a.payment), (2, 18.0, 8.0));
        let b = award(&out, "b").unwrap();
        assert_eq!((b.units, b.value, b.payment), (1, 9.0, 5.0));
        assert!(award(&out, "c").is_none());
        assert_eq!(out.tie_break, None);
    }

    #[test]
    fn plentiful_units_are_free() {
        // 5 units, demand 3: everyone gets all it wants; nobody displaces anyone -> payments 0.
        let out = vcg_units(5, &[bid("a", &[4.0, 1.0], 0), bid("b", &[2.0], 1)]).unwrap();
        assert_eq!(out.allocated, 3);
        assert!(out.awards.iter().all(|a| a.payment == 0.0));
    }

    #[test]
    fn doc_example_and_tie() {
        // 2 units; a [10, 4], b [6]: a 1 unit (10), b 1 unit (6), welfare 16.
        // a pays the unallocated marginal of others: none (b's only unit is allocated) -> 0.
        // b pays a's unallocated 4 (without b, a takes 10 + 4 = 14; a has 10 now -> 4).
        let out = vcg_units(2, &[bid("a", &[10.0, 4.0], 0), bid("b", &[6.0], 1)]).unwrap();
        assert_eq!(award(&out, "a").unwrap().payment, 0.0);
        assert_eq!(award(&out, "b").unwrap().payment, 4.0);
        // 1 unit; x and y both value it 7, y arrived first -> y wins, pays x's 7.
        let out = vcg_units(1, &[bid("x", &[7.0], 2), bid("y", &[7.0], 1)]).unwrap();
        assert_eq!(award(&out, "y").unwrap().payment, 7.0);
        let tie = out.tie_break.unwrap();
        assert_eq!(tie.ranked, ["y", "x"]);
    }

    #[test]
    fn invalid_bids_are_rejected() {
        let out = vcg_units(
            2,
            &[
                bid("up", &[1.0, 2.0], 0),
                bid("none", &[], 1),
                bid("neg", &[-1.0], 2),
                bid("ok", &[3.0], 3),
                bid("ok", &[9.0], 4),
            ],
        )
        .unwrap();
        assert_eq!(out.rejected.len(), 4);
        assert!(matches!(
            out.rejected[0].error,
            AuctionError::IncreasingMarginalValues { unit: 2, .. }
        ));
        assert!(matches!(
            out.rejected[1].error,
            AuctionError::NoUnitsWanted { .. }
        ));
        assert_eq!(award(&out, "ok").unwrap().value, 3.0);
        assert!(vcg_units(0, &[]).is_err());
    }

    /// Brute force: the best welfare over every split of at most `units`
    /// units among `bids` (skipping bidder `without`), and that split.
    fn best(units: usize, bids: &[MarginalBid], without: Option<usize>) -> f64 {
        fn go(i: usize, left: usize, bids: &[MarginalBid], without: Option<usize>) -> f64 {
            if i == bids.len() {
                return 0.0;
            }
            let max = if Some(i) == without {
                0
            } else {
                bids[i].values.len().min(left)
            };
            (0..=max)
                .map(|x| {
                    bids[i].values[..x].iter().sum::<f64>() + go(i + 1, left - x, bids, without)
                })
                .fold(f64::NEG_INFINITY, f64::max)
        }
        go(0, units, bids, without)
    }

    fn marginal_bid() -> impl Strategy<Value = Vec<f64>> {
        proptest::collection::vec(0u8..20, 1..4).prop_map(|mut v| {
            v.sort_unstable_by(|a, b| b.cmp(a));
            v.into_iter().map(f64::from).collect()
        })
    }

    proptest! {
        #[test]
        fn matches_brute_force_vcg(
            values in proptest::collection::vec(marginal_bid(), 1..5),
            units in 1usize..6,
        ) {
            // Integer values: every sum is exact, so compare exactly.
            let bids: Vec<MarginalBid> = values.iter().enumerate()
                .map(|(i, v)| bid(&format!("b{i}"), v, i as u64)).collect();
            let out = vcg_units(units, &bids).unwrap();
            prop_assert_eq!(out.welfare, best(units, &bids, None));
            for a in &out.awards {
                let i: usize = a.bidder[1..].parse().unwrap();
                prop_assert!(a.payment >= 0.0, "payment {} < 0", a.payment);
                prop_assert!(a.payment <= a.value, "payment {} > value {}", a.payment, a.value);
                let without = best(units, &bids, Some(i));
                prop_assert_eq!(a.payment, without - (out.welfare - a.value));
            }
        }

        #[test]
        fn payments_are_individually_rational(
            values in proptest::collection::vec(proptest::collection::vec(0.0f64..1e6, 1..5), 0..6),
            units in 1usize..8,
        ) {
            let bids: Vec<MarginalBid> = values.into_iter().enumerate().map(|(i, mut v)| {
                v.sort_by(|a, b| b.total_cmp(a));
                bid(&format!("b{i}"), &v, (i % 3) as u64)
            }).collect();
            let out = vcg_units(units, &bids).unwrap();
            for a in &out.awards {
                prop_assert!(a.payment >= 0.0 && a.payment <= a.value);
            }
            prop_assert!(out.awards.iter().map(|a| a.units).sum::<usize>() == out.allocated);
        }

        #[test]
        fn nothing_panics(
            values in proptest::collection::vec(proptest::collection::vec(any::<f64>(), 0..4), 0..5),
            units in any::<usize>(),
        ) {
            let bids: Vec<MarginalBid> = values.iter().enumerate()
                .map(|(i, v)| bid(&format!("b{}", i % 3), v, 0)).collect();
            let _ = vcg_units(units, &bids);
        }
    }
}
