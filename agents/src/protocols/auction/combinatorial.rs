//! Combinatorial auction: bids on bundles, exact winner determination, VCG
//! payments.

use serde::{Deserialize, Serialize};

use super::{check_amount, AuctionError, Rejection};

/// The most valid bundle bids [`combinatorial`] searches exactly. The search
/// visits at most 2^n complete allocations for n bids, once for the
/// allocation and once more per winning bidder for its VCG payment. The
/// worst case at the limit (20 disjoint bids all worth 0, so nothing can be
/// pruned) takes about 0.15 s in a release build.
pub const MAX_BUNDLE_BIDS: usize = 20;

/// The most items a [`combinatorial`] auction may offer.
pub const MAX_ITEMS: usize = 64;

/// A bid for a bundle of items, all or nothing.
///
/// [`BundleBid::new`] makes one bid (arrival 0); [`BundleBid::in_order`]
/// makes a list whose arrivals are the positions in the list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BundleBid {
    /// The bidding agent.
    pub bidder: String,
    /// The items wanted together.
    pub items: Vec<String>,
    /// What the whole bundle is worth to the bidder.
    pub value: f64,
    /// Arrival order at the coordinator (0 = first).
    pub arrival: u64,
}

impl BundleBid {
    /// A bid by `bidder` of `value` for `items` together, with arrival 0.
    ///
    /// Bids built this way all arrive together, so they are ranked by
    /// bidder id, then by their order in the list passed to
    /// [`combinatorial`]. For bids that arrive one after another use
    /// [`in_order`](Self::in_order); for one arrival of your own, set the
    /// field: `BundleBid { arrival: 3, ..BundleBid::new("a", ["cpu"], 7.0) }`.
    ///
    /// # Examples
    ///
    /// ```
    /// use agents::protocols::auction::{combinatorial, BundleBid};
    ///
    /// let out = combinatorial(&["cpu", "gpu"], &[BundleBid::new("a", ["cpu", "gpu"], 10.0)])?;
    /// assert_eq!(out.welfare, 10.0);
    /// # Ok::<(), agents::protocols::auction::AuctionError>(())
    /// ```
    #[must_use]
    pub fn new<B, T>(bidder: impl Into<String>, items: B, value: f64) -> Self
    where
        B: IntoIterator<Item = T>,
        T: Into<String>,
    {
        BundleBid {
            bidder: bidder.into(),
            items: items.into_iter().map(Into::into).collect(),
            value,
            arrival: 0,
        }
    }

    /// Bids `(bidder, items, value)` in the order they reached the
    /// coordinator: each one's arrival is its position in the list (0, 1,
    /// 2, ...), so among allocations of equal welfare the one accepting the
    /// bids listed first is chosen. Bundles of different sizes need a common
    /// type, such as `Vec<&str>` or `&[&str]`.
    ///
    /// # Examples
    ///
    /// ```
    /// use agents::protocols::auction::{combinatorial, BundleBid};
    ///
    /// let bids = BundleBid::in_order([("a", vec!["cpu"], 5.0), ("b", vec!["cpu"], 5.0)]);
    /// let out = combinatorial(&["cpu"], &bids)?;
    /// assert!(out.award_of("a").is_some()); // a arrived first
    /// # Ok::<(), agents::protocols::auction::AuctionError>(())
    /// ```
    #[must_use]
    pub fn in_order<I, S, B, T>(bids: I) -> Vec<BundleBid>
    where
        I: IntoIterator<Item = (S, B, f64)>,
        S: Into<String>,
        B: IntoIterator<Item = T>,
        T: Into<String>,
    {
        (0..)
            .zip(bids)
            .map(|(arrival, (bidder, items, value))| BundleBid {
                arrival,
                ..BundleBid::new(bidder, items, value)
            })
            .collect()
    }
}

/// An accepted bundle bid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BundleAward {
    /// The winner.
    pub bidder: String,
    /// The items it gets, as listed in its bid.
    pub items: Vec<String>,
    /// Its reported value for them.
    pub value: f64,
    /// Its VCG payment.
    pub payment: f64,
}

/// The result of [`combinatorial`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CombinatorialOutcome {
    /// Accepted bids (pairwise disjoint, at most one per bidder), in the
    /// order bids are ranked: arrival, then bidder id, then submission order.
    pub awards: Vec<BundleAward>,
    /// Total value of the accepted bids.
    pub welfare: f64,
    /// Items nobody gets, in the order they were offered.
    pub unsold: Vec<String>,
    /// Bids set aside.
    pub rejected: Vec<Rejection>,
    /// If other allocations reach the same welfare, how many and how the
    /// choice was made.
    pub tie_break: Option<String>,
}

impl CombinatorialOutcome {
    /// The bundle `bidder` won, if any (a bidder wins at most one).
    ///
    /// # Examples
    ///
    /// ```
    /// use agents::protocols::auction::{combinatorial, BundleBid};
    ///
    /// let bids = BundleBid::in_order([("a", vec!["cpu", "gpu"], 10.0), ("b", vec!["cpu"], 6.0)]);
    /// let out = combinatorial(&["cpu", "gpu"], &bids)?;
    /// assert_eq!(out.award_of("a").map(|a| a.payment), Some(6.0));
    /// assert_eq!(out.award_of("b"), None);
    /// # Ok::<(), agents::protocols::auction::AuctionError>(())
    /// ```
    #[must_use]
    pub fn award_of(&self, bidder: &str) -> Option<&BundleAward> {
        self.awards.iter().find(|a| a.bidder == bidder)
    }

    /// What the winners pay together: their VCG payments added in the
    /// order of [`awards`](Self::awards) (rank order); `0.0` with no winner.
    ///
    /// # Examples
    ///
    /// ```
    /// use agents::protocols::auction::{combinatorial, BundleBid};
    ///
    /// let bids = BundleBid::in_order([("b", vec!["cpu"], 6.0), ("c", vec!["gpu"], 6.0), ("a", vec!["cpu", "gpu"], 10.0)]);
    /// let out = combinatorial(&["cpu", "gpu"], &bids)?;
    /// assert_eq!(out.revenue(), 8.0); // b and c pay 4 each
    /// # Ok::<(), agents::protocols::auction::AuctionError>(())
    /// ```
    #[must_use]
    pub fn revenue(&self) -> f64 {
        self.awards.iter().fold(0.0, |sum, a| sum + a.payment)
    }
}

/// A validated bid, ranked.
struct Prepared {
    source: usize,
    bidder: usize,
    mask: u64,
    value: f64,
}

/// Decides a combinatorial auction of `items` by exact search.
///
/// **Bids** are all-or-nothing bundles; a bidder may submit several, of
/// which at most one is accepted (XOR bids, so that a bidder never gets two
/// bundles whose combined worth it did not state). A bid is rejected if its
/// value is negative or not finite, its bundle is empty, or it names an
/// unknown item or an item twice.
///
/// **Winner determination** maximises the total value of accepted bids
/// over all sets of pairwise-disjoint bids (at most one per bidder), by
/// depth-first search over the bids in rank order (arrival, bidder id,
/// submission order), trying "accept" before "skip", pruning conflicts and
/// branches that cannot beat the best total found. Totals are summed in rank
/// order and compared exactly; among allocations with the same total, the
/// first found wins, i.e. the one that accepts the earliest-ranked bids.
///
/// **VCG payment** of each winner i: others' best welfare without any bid of
/// i, minus the others' welfare in the chosen allocation, clamped into
/// `[0, value of i's bundle]` (in exact arithmetic it always lies there; the
/// clamp only absorbs f64 rounding when totals are summed in different
/// orders).
///
/// # Errors
///
/// [`AuctionError::TooLarge`] beyond [`MAX_ITEMS`] items or
/// [`MAX_BUNDLE_BIDS`] valid bids; [`AuctionError::DuplicateOffer`] if an
/// item is offered twice.
///
/// # Examples
///
/// ```
/// use agents::protocols::auction::{combinatorial, BundleBid};
///
/// let out = combinatorial(&["cpu", "gpu"], &BundleBid::in_order([
///     ("a", vec!["cpu", "gpu"], 10.0),
///     ("b", vec!["cpu"], 6.0),
///     ("c", vec!["gpu"], 6.0),
/// ]))?;
/// // b and c together (12) beat a (10). b pays 10 - 6 = 4, c pays 10 - 6 = 4.
/// assert_eq!(out.welfare, 12.0);
/// assert_eq!(out.awards.iter().map(|a| a.payment).collect::<Vec<_>>(), [4.0, 4.0]);
/// assert_eq!(out.revenue(), 8.0);
/// # Ok::<(), agents::protocols::auction::AuctionError>(())
/// ```
pub fn combinatorial<S: AsRef<str>>(
    items: &[S],
    bids: &[BundleBid],
) -> Result<CombinatorialOutcome, AuctionError> {
    if items.len() > MAX_ITEMS {
        return Err(AuctionError::TooLarge {
            what: "items".into(),
            count: items.len(),
            limit: MAX_ITEMS,
        });
    }
    let items: Vec<&str> = items.iter().map(AsRef::as_ref).collect();
    for (i, item) in items.iter().enumerate() {
        if items[..i].contains(item) {
            return Err(AuctionError::DuplicateOffer {
                item: (*item).to_owned(),
            });
        }
    }

    let mut order: Vec<usize> = (0..bids.len()).collect();
    order.sort_by(|&a, &b| {
        (bids[a].arrival, &bids[a].bidder, a).cmp(&(bids[b].arrival, &bids[b].bidder, b))
    });
    let mut bidders: Vec<&str> = Vec::new();
    let mut prepared: Vec<Prepared> = Vec::new();
    let mut rejected = Vec::new();
    for source in order {
        let bid = &bids[source];
        match validate(&items, bid) {
            Ok((mask, value)) => {
                let bidder = bidders
                    .iter()
                    .position(|b| *b == bid.bidder)
                    .unwrap_or_else(|| {
                        bidders.push(&bid.bidder);
                        bidders.len() - 1
                    });
                prepared.push(Prepared {
                    source,
                    bidder,
                    mask,
                    value,
                });
            }
            Err(e) => rejected.push(Rejection::new(e, &bid.bidder)),
        }
    }
    if prepared.len() > MAX_BUNDLE_BIDS {
        return Err(AuctionError::TooLarge {
            what: "valid bundle bids".into(),
            count: prepared.len(),
            limit: MAX_BUNDLE_BIDS,
        });
    }

    let best = search(&prepared, None);
    let chosen: Vec<&Prepared> = prepared
        .iter()
        .enumerate()
        .filter(|(k, _)| best.chosen & (1 << k) != 0)
        .map(|(_, p)| p)
        .collect();
    let mut awards = Vec::new();
    for winner in &chosen {
        let without = search(&prepared, Some(winner.bidder)).welfare;
        let others = chosen
            .iter()
            .filter(|p| p.bidder != winner.bidder)
            .fold(0.0, |s, p| s + p.value);
        let bid = &bids[winner.source];
        awards.push(BundleAward {
            bidder: bid.bidder.clone(),
            items: bid.items.clone(),
            value: winner.value,
            payment: (without - others).max(0.0).min(winner.value),
        });
    }
    let sold = chosen.iter().fold(0u64, |m, p| m | p.mask);
    let unsold = items
        .iter()
        .enumerate()
        .filter(|(i, _)| sold & (1 << i) == 0)
        .map(|(_, item)| (*item).to_owned())
        .collect();
    let tie_break = (best.ties > 0).then(|| {
        format!(
            "{} other allocation(s) also reach welfare {}; chose the one accepting the \
             earliest-ranked bids (by arrival, then bidder id, then submission order)",
            best.ties, best.welfare
        )
    });
    Ok(CombinatorialOutcome {
        awards,
        welfare: best.welfare,
        unsold,
        rejected,
        tie_break,
    })
}

fn validate(items: &[&str], bid: &BundleBid) -> Result<(u64, f64), AuctionError> {
    let value = check_amount(&bid.bidder, bid.value)?;
    if bid.items.is_empty() {
        return Err(AuctionError::EmptyBundle {
            bidder: bid.bidder.clone(),
        });
    }
    let mut mask = 0u64;
    for item in &bid.items {
        let Some(i) = items.iter().position(|it| it == item) else {
            return Err(AuctionError::UnknownItem {
                bidder: bid.bidder.clone(),
                item: item.clone(),
            });
        };
        if mask & (1 << i) != 0 {
            return Err(AuctionError::DuplicateItem {
                bidder: bid.bidder.clone(),
                item: item.clone(),
            });
        }
        mask |= 1 << i;
    }
    Ok((mask, value))
}

/// The best allocation found: welfare, accepted bids (bit k = `bids[k]`),
/// and how many other complete allocations tied with it.
struct Best {
    welfare: f64,
    chosen: u32,
    ties: usize,
}

/// Exact winner determination over `bids` (at most [`MAX_BUNDLE_BIDS`]),
/// ignoring the bids of bidder `without`.
fn search(bids: &[Prepared], without: Option<usize>) -> Best {
    struct Dfs<'a> {
        bids: &'a [Prepared],
        without: Option<usize>,
        /// `suffix[k]` = sum of the values of `bids[k..]`: an upper bound on
        /// what the bids from k on can add.
        suffix: Vec<f64>,
        best: Option<Best>,
    }
    impl Dfs<'_> {
        fn go(&mut self, k: usize, items: u64, bidders: u64, chosen: u32, welfare: f64) {
            let Some(bid) = self.bids.get(k) else {
                match &mut self.best {
                    Some(best) if welfare == best.welfare => best.ties += 1,
                    Some(best) if welfare <= best.welfare => {}
                    _ => {
                        self.best = Some(Best {
                            welfare,
                            chosen,
                            ties: 0,
                        })
                    }
                }
                return;
            };
            if let Some(best) = &self.best {
                // The margin keeps any branch that could tie or win despite
                // rounding in the bound (far above the ~n ulps of error).
                if (welfare + self.suffix[k]) * (1.0 + 1e-9) < best.welfare {
                    return;
                }
            }
            let bit = 1u64 << bid.bidder;
            if Some(bid.bidder) != self.without && bid.mask & items == 0 && bidders & bit == 0 {
                self.go(
                    k + 1,
                    items | bid.mask,
                    bidders | bit,
                    chosen | (1 << k),
                    welfare + bid.value,
                );
            }
            self.go(k + 1, items, bidders, chosen, welfare);
        }
    }
    let mut suffix = vec![0.0; bids.len() + 1];
    for k in (0..bids.len()).rev() {
        suffix[k] = suffix[k + 1] + bids[k].value;
    }
    let mut dfs = Dfs {
        bids,
        without,
        suffix,
        best: None,
    };
    dfs.go(0, 0, 0, 0, 0.0);
    dfs.best.unwrap_or(Best {
        welfare: 0.0,
        chosen: 0,
        ties: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn bid(bidder: &str, items: &[&str], value: f64, arrival: u64) -> BundleBid {
        BundleBid {
            bidder: bidder.into(),
            items: items.iter().map(|s| s.to_string()).collect(),
            value,
            arrival,
        }
    }

    fn winners(out: &CombinatorialOutcome) -> Vec<(&str, f64)> {
        out.awards
            .iter()
            .map(|a| (a.bidder.as_str(), a.payment))
            .collect()
    }

    #[test]
    fn worked_example() {
        // Items A, B, C.
        // x: {A, B} 8;  y: {B, C} 7;  z: {C} 4;  w: {A} 3.
        // Disjoint sets: {x, z} = 12, {y, w} = 10, {w, z} = 7, {x} = 8 ...: best {x, z} = 12.
        // x pays: without x, best of others = max({y, w} 10, {w, z} 7) = 10; others now: z = 4 -> 6.
        // z pays: without z, best = max({x} 8, {y, w} 10) = 10; others now: x = 8 -> 2.
        let out = combinatorial(
            &["A", "B", "C"],
            &[
                bid("x", &["A", "B"], 8.0, 0),
                bid("y", &["B", "C"], 7.0, 1),
                bid("z", &["C"], 4.0, 2),
                bid("w", &["A"], 3.0, 3),
            ],
        )
        .unwrap();
        assert_eq!(out.welfare, 12.0);
        assert_eq!(winners(&out), [("x", 6.0), ("z", 2.0)]);
        assert!(out.unsold.is_empty());
        assert_eq!(out.tie_break, None);
    }

    #[test]
    fn xor_bids_and_unsold_items() {
        // a bids {A} 5 and {B} 5 (XOR): it gets one, b's {B} 4 takes B. Welfare 9, C unsold.
        // Alternatives: a{A} + b{B} = 9, a{B} alone = 5, b{B} alone = 4: unique.
        // a pays: without a, b gets B: 4; others now 4 -> 0. b pays: without b, a gets 5; a has 5 -> 0.
        let out = combinatorial(
            &["A", "B", "C"],
            &[
                bid("a", &["A"], 5.0, 0),
                bid("a", &["B"], 5.0, 1),
                bid("b", &["B"], 4.0, 2),
            ],
        )
        .unwrap();
        assert_eq!(out.welfare, 9.0);
        assert_eq!(winners(&out), [("a", 0.0), ("b", 0.0)]);
        assert_eq!(out.awards[0].items, ["A"]);
        assert_eq!(out.unsold, ["C"]);
    }

    #[test]
    fn ties_prefer_the_earliest_bids() {
        // {A,B} by p (arrival 0) = 6 and q{A} 3 + r{B} 3 = 6: tie; p arrived first and is accepted.
        // p pays: without p, q + r = 6; others now 0 -> 6.
        let out = combinatorial(
            &["A", "B"],
            &[
                bid("r", &["B"], 3.0, 2),
                bid("q", &["A"], 3.0, 1),
                bid("p", &["A", "B"], 6.0, 0),
            ],
        )
        .unwrap();
        assert_eq!(winners(&out), [("p", 6.0)]);
        assert!(out.tie_break.unwrap().starts_with("1 other allocation"));
    }

    #[test]
    fn invalid_bids_are_rejected_and_limits_enforced() {
        let out = combinatorial(
            &["A"],
            &[
                bid("e", &[], 1.0, 0),
                bid("u", &["Z"], 1.0, 1),
                bid("d", &["A", "A"], 1.0, 2),
                bid("n", &["A"], -2.0, 3),
                bid("ok", &["A"], 1.0, 4),
            ],
        )
        .unwrap();
        let errors: Vec<&AuctionError> = out.rejected.iter().map(|r| &r.error).collect();
        assert!(matches!(errors[0], AuctionError::EmptyBundle { .. }));
        assert!(matches!(errors[1], AuctionError::UnknownItem { item, .. } if item == "Z"));
        assert!(matches!(errors[2], AuctionError::DuplicateItem { .. }));
        assert!(matches!(errors[3], AuctionError::InvalidAmount { .. }));
        assert_eq!(winners(&out), [("ok", 0.0)]);

        let many: Vec<BundleBid> = (0..=MAX_BUNDLE_BIDS as u64)
            .map(|i| bid(&format!("b{i}"), &["A"], 1.0, i))
            .collect();
        assert!(matches!(
            combinatorial(&["A"], &many),
            Err(AuctionError::TooLarge {
                count: 21,
                limit: 20,
                ..
            })
        ));
        // Exactly at the limit it still decides (all 20 bids disjoint: 2^20 leaves at most).
        let items: Vec<String> = (0..20).map(|i| format!("i{i}")).collect();
        let at_limit: Vec<BundleBid> = (0..20)
            .map(|i| bid(&format!("b{i:02}"), &[items[i].as_str()], 1.0, i as u64))
            .collect();
        let out = combinatorial(&items, &at_limit).unwrap();
        assert_eq!(out.welfare, 20.0);
        let too_many_items: Vec<String> = (0..65).map(|i| format!("i{i}")).collect();
        assert!(combinatorial(&too_many_items, &[]).is_err());
        assert!(matches!(
            combinatorial(&["A", "A"], &[]),
            Err(AuctionError::DuplicateOffer { .. })
        ));
    }

    /// Brute force over every subset of bids: the best total of a feasible
    /// (disjoint, one per bidder) subset, skipping bidder `without`.
    fn brute(items: &[&str], bids: &[BundleBid], without: Option<&str>) -> f64 {
        let mut best = 0.0f64;
        for set in 0u32..(1 << bids.len()) {
            let chosen: Vec<&BundleBid> = (0..bids.len())
                .filter(|k| set & (1 << k) != 0)
                .map(|k| &bids[k])
                .collect();
            if chosen.iter().any(|b| Some(b.bidder.as_str()) == without) {
                continue;
            }
            let mut used: Vec<&str> = Vec::new();
            let mut who: Vec<&str> = Vec::new();
            let mut ok = true;
            for b in &chosen {
                if who.contains(&b.bidder.as_str()) {
                    ok = false;
                }
                who.push(&b.bidder);
                for it in &b.items {
                    if used.contains(&it.as_str()) || !items.contains(&it.as_str()) {
                        ok = false;
                    }
                    used.push(it);
                }
            }
            if ok {
                best = best.max(chosen.iter().map(|b| b.value).sum());
            }
        }
        best
    }

    fn bundle_bids() -> impl Strategy<Value = Vec<BundleBid>> {
        let one = (
            0usize..4,
            proptest::sample::subsequence(vec!["A", "B", "C", "D"], 1..4),
            0u8..20,
            0u64..4,
        );
        proptest::collection::vec(one, 0..8).prop_map(|v| {
            v.into_iter()
                .map(|(b, items, value, arrival)| {
                    bid(&format!("b{b}"), &items, f64::from(value), arrival)
                })
                .collect()
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        #[test]
        fn optimal_disjoint_and_individually_rational(bids in bundle_bids()) {
            // Integer values: sums are exact, so compare with brute force exactly.
            let items = ["A", "B", "C", "D"];
            let out = combinatorial(&items, &bids).unwrap();
            prop_assert_eq!(out.welfare, brute(&items, &bids, None));
            let mut used: Vec<&str> = Vec::new();
            for (k, a) in out.awards.iter().enumerate() {
                prop_assert!(out.awards[..k].iter().all(|o| o.bidder != a.bidder), "two bundles for {}", a.bidder);
                for it in &a.items {
                    prop_assert!(!used.contains(&it.as_str()), "item {} sold twice", it);
                    used.push(it);
                }
                prop_assert!(a.payment >= 0.0 && a.payment <= a.value);
                let without = brute(&items, &bids, Some(&a.bidder));
                prop_assert_eq!(a.payment, without - (out.welfare - a.value));
            }
            prop_assert_eq!(out.awards.iter().map(|a| a.value).sum::<f64>(), out.welfare);
            prop_assert_eq!(used.len() + out.unsold.len(), items.len());
        }

        #[test]
        fn nothing_panics(
            raw in proptest::collection::vec((0usize..5, proptest::collection::vec("[A-F]", 0..4), any::<f64>(), any::<u64>()), 0..10),
        ) {
            let bids: Vec<BundleBid> = raw.into_iter()
                .map(|(b, items, value, arrival)| BundleBid { bidder: format!("b{b}"), items, value, arrival })
                .collect();
            if let Ok(out) = combinatorial(&["A", "B", "C", "D"], &bids) {
                for a in &out.awards {
                    prop_assert!(a.payment >= 0.0 && a.payment <= a.value);
                }
            }
        }
    }
}
