//! English (ascending) auction as a pure state machine.

use serde::{Deserialize, Serialize};

use super::{check_amount, check_parameter, AuctionError};

/// What happened in an English auction, in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum EnglishEvent {
    /// A bidder raised to `amount` and now leads.
    Bid {
        /// The bidder.
        bidder: String,
        /// Its bid.
        amount: f64,
    },
    /// A bidder was asked and did not raise.
    Pass {
        /// The bidder.
        bidder: String,
    },
}

/// The end of an English auction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnglishOutcome {
    /// Who buys: the last leader, if its bid meets the reserve.
    pub winner: Option<String>,
    /// What the winner pays: its last bid.
    pub price: Option<f64>,
    /// The highest bid and who made it, even when it missed the reserve.
    pub high_bid: Option<(String, f64)>,
    /// Why nothing was sold, if nothing was.
    pub no_sale: Option<String>,
    /// Every accepted bid and pass, in order.
    pub history: Vec<EnglishEvent>,
    /// How ties were broken: an English auction has none to break, because
    /// bidders act one at a time and every accepted bid is strictly higher
    /// than the one before; this field states that.
    pub tie_break: String,
}

/// An English auction: bidders are asked one at a time, in round-robin order
/// of agent id, skipping the current leader.
///
/// * The first bid must be at least the starting price; each later bid at
///   least the current bid plus the increment (and strictly above the
///   current bid, in case the increment is lost to rounding).
/// * The auction ends after a full round with no new bid: once every bidder
///   other than the leader (every bidder, before the first bid) has passed
///   since the last bid.
/// * The leader pays its last bid; if that is below the reserve, nothing is
///   sold.
///
/// A refused action ([`bid`](Self::bid) or [`pass`](Self::pass) returning
/// `Err`) changes nothing: the same bidder still has the turn, and the
/// coordinator decides what to do (typically record the error and call
/// [`pass`](Self::pass) for it).
///
/// # Examples
///
/// ```
/// use agents::protocols::auction::EnglishAuction;
///
/// let mut a = EnglishAuction::new(10.0, 1.0, None, ["bob", "alice"])?;
/// assert_eq!(a.next_bidder(), Some("alice"));
/// a.bid("alice", 10.0)?;
/// assert_eq!(a.next_bidder(), Some("bob"));
/// a.bid("bob", 11.0)?;
/// a.pass("alice")?; // a full round (alice is the only other bidder) without a bid
/// let out = a.outcome().expect("ended");
/// assert_eq!((out.winner.as_deref(), out.price), (Some("bob"), Some(11.0)));
/// # Ok::<(), agents::protocols::auction::AuctionError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnglishAuction {
    starting_price: f64,
    increment: f64,
    reserve: Option<f64>,
    /// Sorted by id, without duplicates.
    bidders: Vec<String>,
    /// The current leader and its bid.
    leader: Option<(String, f64)>,
    /// Index into `bidders` of the bidder whose turn it is.
    turn: usize,
    /// Consecutive passes since the last bid (or since the start).
    passes: usize,
    closed: bool,
    history: Vec<EnglishEvent>,
}

impl EnglishAuction {
    /// Opens an English auction among `bidders` (duplicates ignored; asked
    /// in order of agent id). With no bidders it is closed at once.
    ///
    /// # Errors
    ///
    /// [`AuctionError::InvalidParameter`] if the starting price or the
    /// reserve is negative or not finite, or the increment is not a finite
    /// number greater than zero.
    pub fn new<I, S>(
        starting_price: f64,
        increment: f64,
        reserve: Option<f64>,
        bidders: I,
    ) -> Result<Self, AuctionError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let starting_price = check_parameter("starting_price", starting_price, false)?;
        let increment = check_parameter("increment", increment, true)?;
        let reserve = reserve
            .map(|r| check_parameter("reserve", r, false))
            .transpose()?;
        let mut bidders: Vec<String> = bidders.into_iter().map(Into::into).collect();
        bidders.sort();
        bidders.dedup();
        let closed = bidders.is_empty();
        Ok(EnglishAuction {
            starting_price,
            increment,
            reserve,
            bidders,
            leader: None,
            turn: 0,
            passes: 0,
            closed,
            history: Vec::new(),
        })
    }

    /// The bidder whose turn it is, or `None` once the auction has ended.
    pub fn next_bidder(&self) -> Option<&str> {
        if self.closed {
            return None;
        }
        self.bidders.get(self.turn).map(String::as_str)
    }

    /// The least amount the next bid must reach: the starting price before
    /// the first bid, then the current bid plus the increment.
    pub fn minimum_bid(&self) -> f64 {
        match &self.leader {
            None => self.starting_price,
            Some((_, amount)) => amount + self.increment,
        }
    }

    /// The current leader and its bid.
    pub fn leader(&self) -> Option<(&str, f64)> {
        self.leader.as_ref().map(|(b, a)| (b.as_str(), *a))
    }

    /// Whether the auction has ended.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// The bidders, in the order they are asked.
    pub fn bidders(&self) -> &[String] {
        &self.bidders
    }

    /// Every accepted bid and pass so far.
    pub fn history(&self) -> &[EnglishEvent] {
        &self.history
    }

    /// The bidder whose turn it is raises to `amount`.
    ///
    /// # Errors
    ///
    /// [`AuctionError::Closed`], [`AuctionError::UnknownBidder`],
    /// [`AuctionError::NotYourTurn`], [`AuctionError::InvalidAmount`] (not
    /// finite, negative) or [`AuctionError::BidTooLow`] (below
    /// [`minimum_bid`](Self::minimum_bid), or not above the current bid).
    /// The state is unchanged on error.
    pub fn bid(&mut self, bidder: &str, amount: f64) -> Result<(), AuctionError> {
        let at = self.check_turn(bidder)?;
        let amount = check_amount(bidder, amount)?;
        let minimum = self.minimum_bid();
        let above_current = self.leader.as_ref().is_none_or(|(_, a)| amount > *a);
        if amount < minimum || !above_current {
            return Err(AuctionError::BidTooLow {
                bidder: bidder.to_owned(),
                amount,
                minimum,
            });
        }
        self.leader = Some((bidder.to_owned(), amount));
        self.passes = 0;
        self.history.push(EnglishEvent::Bid {
            bidder: bidder.to_owned(),
            amount,
        });
        self.advance(at);
        Ok(())
    }

    /// The bidder whose turn it is declines to raise.
    ///
    /// # Errors
    ///
    /// [`AuctionError::Closed`], [`AuctionError::UnknownBidder`] or
    /// [`AuctionError::NotYourTurn`]; the state is unchanged on error.
    pub fn pass(&mut self, bidder: &str) -> Result<(), AuctionError> {
        let at = self.check_turn(bidder)?;
        self.passes = self.passes.saturating_add(1);
        self.history.push(EnglishEvent::Pass {
            bidder: bidder.to_owned(),
        });
        self.advance(at);
        Ok(())
    }

    /// The result, once the auction has ended (`None` while it runs).
    pub fn outcome(&self) -> Option<EnglishOutcome> {
        if !self.closed {
            return None;
        }
        let (winner, price, no_sale) = match (&self.leader, self.reserve) {
            (None, _) => (None, None, Some("nobody bid".to_owned())),
            (Some((b, a)), Some(r)) if *a < r => (
                None,
                None,
                Some(format!(
                    "the highest bid {a} by {b} is below the reserve {r}"
                )),
            ),
            (Some((b, a)), _) => (Some(b.clone()), Some(*a), None),
        };
        Some(EnglishOutcome {
            winner,
            price,
            high_bid: self.leader.clone(),
            no_sale,
            history: self.history.clone(),
            tie_break: "no tie possible: bidders act one at a time and each accepted bid is \
                        strictly higher than the last"
                .to_owned(),
        })
    }

    /// The amount a bidder valuing the item at `value` bids under the
    /// strategy "bid the minimum acceptable amount while it is ≤ my value":
    /// `Some(minimum_bid())` if that is at most `value` (and strictly above
    /// the current bid), else `None` (pass).
    pub fn straightforward_bid(&self, value: f64) -> Option<f64> {
        let minimum = self.minimum_bid();
        let above_current = self.leader.as_ref().is_none_or(|(_, a)| minimum > *a);
        (minimum <= value && above_current).then_some(minimum)
    }

    /// Runs the auction to the end with every bidder following
    /// [`straightforward_bid`](Self::straightforward_bid) with its value in
    /// `values` (a bidder without a value always passes; a bidder listed
    /// twice bids with its first value).
    ///
    /// # Errors
    ///
    /// [`AuctionError::StepLimit`] if it has not ended after `max_steps`
    /// bids and passes (a tiny increment against large values can take many
    /// steps).
    ///
    /// # Examples
    ///
    /// ```
    /// use agents::protocols::auction::EnglishAuction;
    ///
    /// let auction = EnglishAuction::new(5.0, 1.0, None, ["a", "b"])?;
    /// let out = auction.run_straightforward(&[("a", 10.0), ("b", 7.0)], 100)?;
    /// // a 5, b 6, a 7; b passes, as the next minimum 8 is above its value.
    /// assert_eq!((out.winner.as_deref(), out.price), (Some("a"), Some(7.0)));
    /// # Ok::<(), agents::protocols::auction::AuctionError>(())
    /// ```
    pub fn run_straightforward<S: AsRef<str>>(
        mut self,
        values: &[(S, f64)],
        max_steps: usize,
    ) -> Result<EnglishOutcome, AuctionError> {
        for _ in 0..max_steps {
            let Some(bidder) = self.next_bidder().map(str::to_owned) else {
                break;
            };
            let value = values
                .iter()
                .find(|(b, _)| b.as_ref() == bidder)
                .map(|(_, v)| *v);
            let accepted = match value.and_then(|v| self.straightforward_bid(v)) {
                Some(amount) => self.bid(&bidder, amount).is_ok(),
                None => false,
            };
            if !accepted {
                self.pass(&bidder)?;
            }
        }
        self.outcome()
            .ok_or(AuctionError::StepLimit { steps: max_steps })
    }

    fn check_turn(&self, bidder: &str) -> Result<usize, AuctionError> {
        if self.closed {
            return Err(AuctionError::Closed);
        }
        let Ok(at) = self.bidders.binary_search_by(|b| b.as_str().cmp(bidder)) else {
            return Err(AuctionError::UnknownBidder {
                bidder: bidder.to_owned(),
            });
        };
        if at != self.turn {
            return Err(AuctionError::NotYourTurn {
                bidder: bidder.to_owned(),
                expected: self.bidders.get(self.turn).cloned().unwrap_or_default(),
            });
        }
        Ok(at)
    }

    /// Moves the turn past `at`, skipping the leader, and closes the auction
    /// once a full round has passed without a bid.
    fn advance(&mut self, at: usize) {
        let n = self.bidders.len();
        let askable = if self.leader.is_some() {
            n.saturating_sub(1)
        } else {
            n
        };
        if self.passes >= askable {
            self.closed = true;
            return;
        }
        let leader = self.leader.as_ref().map(|(b, _)| b.as_str());
        self.turn = (1..=n)
            .map(|k| (at + k) % n)
            .find(|&i| self.bidders.get(i).map(String::as_str) != leader)
            .unwrap_or(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn values(v: &[(&str, f64)]) -> Vec<(String, f64)> {
        v.iter().map(|(b, x)| (b.to_string(), *x)).collect()
    }

    #[test]
    fn round_robin_by_id_skips_the_leader() {
        // Bidders sorted: a, b, c. a opens at 5 (the starting price), then it
        // is b's turn, then c's; after c bids, a is asked, then b (c leads).
        let mut e = EnglishAuction::new(5.0, 2.0, None, ["c", "a", "b", "a"]).unwrap();
        assert_eq!(e.bidders(), ["a", "b", "c"]);
        assert_eq!(e.next_bidder(), Some("a"));
        e.bid("a", 5.0).unwrap();
        assert_eq!(e.next_bidder(), Some("b"));
        e.pass("b").unwrap();
        assert_eq!(e.next_bidder(), Some("c"));
        // minimum = 5 + 2 = 7
        assert_eq!(e.minimum_bid(), 7.0);
        e.bid("c", 7.0).unwrap();
        assert_eq!(e.next_bidder(), Some("a"));
        e.pass("a").unwrap();
        assert_eq!(e.next_bidder(), Some("b"));
        assert!(!e.is_closed());
        // b passes: a and b (everyone but the leader c) passed since c's bid.
        e.pass("b").unwrap();
        assert!(e.is_closed());
        let out = e.outcome().unwrap();
        assert_eq!(out.winner.as_deref(), Some("c"));
        assert_eq!(out.price, Some(7.0));
        assert_eq!(out.history.len(), 5);
    }

    #[test]
    fn bids_are_validated() {
        let mut e = EnglishAuction::new(10.0, 1.0, None, ["a", "b"]).unwrap();
        // First bid must reach the starting price 10.
        assert!(matches!(
            e.bid("a", 9.5),
            Err(AuctionError::BidTooLow { minimum, .. }) if minimum == 10.0
        ));
        assert!(
            matches!(e.bid("b", 10.0), Err(AuctionError::NotYourTurn { expected, .. }) if expected == "a")
        );
        assert!(matches!(
            e.bid("z", 10.0),
            Err(AuctionError::UnknownBidder { .. })
        ));
        assert!(matches!(
            e.bid("a", f64::NAN),
            Err(AuctionError::InvalidAmount { .. })
        ));
        assert!(matches!(
            e.bid("a", -1.0),
            Err(AuctionError::InvalidAmount { .. })
        ));
        // Nothing changed: still a's turn, no leader.
        assert_eq!((e.next_bidder(), e.leader()), (Some("a"), None));
        e.bid("a", 10.0).unwrap();
        // Next bid must be >= 10 + 1 = 11.
        assert!(
            matches!(e.bid("b", 10.5), Err(AuctionError::BidTooLow { minimum, .. }) if minimum == 11.0)
        );
        e.bid("b", 12.0).unwrap();
        e.pass("a").unwrap();
        assert!(matches!(e.pass("b"), Err(AuctionError::Closed)));
    }

    #[test]
    fn reserve_not_met_means_no_sale() {
        // a bids 10, b passes: a leads at 10 < reserve 15, so no sale.
        let mut e = EnglishAuction::new(10.0, 1.0, Some(15.0), ["a", "b"]).unwrap();
        e.bid("a", 10.0).unwrap();
        e.pass("b").unwrap();
        let out = e.outcome().unwrap();
        assert_eq!(out.winner, None);
        assert_eq!(out.high_bid, Some(("a".into(), 10.0)));
        assert!(out.no_sale.unwrap().contains("reserve"));
    }

    #[test]
    fn a_full_round_of_passes_without_bids_ends_it() {
        let mut e = EnglishAuction::new(1.0, 1.0, None, ["a", "b", "c"]).unwrap();
        for b in ["a", "b", "c"] {
            assert!(e.outcome().is_none());
            e.pass(b).unwrap();
        }
        let out = e.outcome().unwrap();
        assert_eq!(out.winner, None);
        assert_eq!(out.no_sale.as_deref(), Some("nobody bid"));
    }

    #[test]
    fn lone_bidder_wins_at_the_starting_price() {
        let mut e = EnglishAuction::new(3.0, 1.0, None, ["solo"]).unwrap();
        e.bid("solo", 3.0).unwrap();
        // Nobody else to ask: the round after the bid is empty.
        assert_eq!(e.outcome().unwrap().price, Some(3.0));
        assert!(EnglishAuction::new(3.0, 1.0, None, Vec::<String>::new())
            .unwrap()
            .is_closed());
    }

    #[test]
    fn invalid_parameters_are_refused() {
        assert!(EnglishAuction::new(-1.0, 1.0, None, ["a"]).is_err());
        assert!(EnglishAuction::new(1.0, 0.0, None, ["a"]).is_err());
        assert!(EnglishAuction::new(1.0, f64::INFINITY, None, ["a"]).is_err());
        assert!(EnglishAuction::new(1.0, 1.0, Some(f64::NAN), ["a"]).is_err());
    }

    #[test]
    fn straightforward_bidders() {
        // Values a = 10, b = 7, c = 4; start 1, increment 2.
        // a 1, b 3, c 5? no: c's minimum would be 5 > 4, c passes.
        // Sequence: a bids 1; b bids 3; c: min 5 > 4 pass; a bids 5; b: min 7 <= 7 bids 7;
        // c: min 9 > 4 pass; a: 9 <= 10 bids 9; b: min 11 > 7 pass; c pass -> ends.
        // a wins at 9.
        let e = EnglishAuction::new(1.0, 2.0, None, ["a", "b", "c"]).unwrap();
        let out = e
            .run_straightforward(&values(&[("a", 10.0), ("b", 7.0), ("c", 4.0)]), 100)
            .unwrap();
        assert_eq!(out.winner.as_deref(), Some("a"));
        assert_eq!(out.price, Some(9.0));
        // With a coarse increment the highest value need not win: values a = 58, b = 57,
        // start 3, increment 2. a bids 3, 7, ..., 55 and b 5, 9, ..., 57; then a's minimum
        // 59 > 58, so a passes and b wins at 57.
        let e = EnglishAuction::new(3.0, 2.0, None, ["a", "b"]).unwrap();
        let out = e
            .run_straightforward(&values(&[("a", 58.0), ("b", 57.0)]), 1000)
            .unwrap();
        assert_eq!((out.winner.as_deref(), out.price), (Some("b"), Some(57.0)));
        let e = EnglishAuction::new(1.0, 1e-6, None, ["a", "b"]).unwrap();
        assert!(matches!(
            e.run_straightforward(&values(&[("a", 100.0), ("b", 100.0)]), 50),
            Err(AuctionError::StepLimit { steps: 50 })
        ));
    }

    #[derive(Debug, Clone)]
    enum Action {
        Bid(usize, f64),
        Pass(usize),
    }

    fn action() -> impl Strategy<Value = Action> {
        prop_oneof![
            (
                0usize..5,
                prop_oneof![-10.0f64..200.0, Just(f64::NAN), Just(f64::INFINITY)]
            )
                .prop_map(|(b, a)| Action::Bid(b, a)),
            (0usize..5).prop_map(Action::Pass),
        ]
    }

    proptest! {
        #[test]
        fn arbitrary_actions_keep_the_rules(
            start in -5.0f64..50.0,
            inc in -1.0f64..10.0,
            reserve in proptest::option::of(0.0f64..100.0),
            n in 0usize..5,
            actions in proptest::collection::vec(action(), 0..60),
        ) {
            let names: Vec<String> = (0..n).map(|i| format!("b{i}")).collect();
            let Ok(mut e) = EnglishAuction::new(start, inc, reserve, names.clone()) else {
                prop_assert!(start < 0.0 || inc <= 0.0);
                return Ok(());
            };
            let mut last: Option<f64> = None;
            for act in actions {
                let before = e.clone();
                let (who, result) = match act {
                    Action::Bid(b, a) => (b, e.bid(&format!("b{b}"), a)),
                    Action::Pass(b) => (b, e.pass(&format!("b{b}"))),
                };
                if result.is_err() {
                    prop_assert_eq!(&e, &before);
                    continue;
                }
                let actor = format!("b{who}");
                prop_assert_eq!(before.next_bidder(), Some(actor.as_str()));
                if let Action::Bid(_, a) = act {
                    match last {
                        None => prop_assert!(a >= start),
                        Some(l) => prop_assert!(a >= l + inc && a > l),
                    }
                    last = Some(a);
                }
                if let (Some(next), Some((leader, _))) = (e.next_bidder(), e.leader()) {
                    prop_assert_ne!(next, leader);
                }
            }
            if let Some(out) = e.outcome() {
                if let (Some(p), Some(r)) = (out.price, reserve) {
                    prop_assert!(p >= r);
                }
                prop_assert_eq!(out.price, out.winner.as_ref().and(last));
            }
        }

        #[test]
        fn straightforward_bidding_ends_within_one_increment(
            vals in proptest::collection::vec(0u32..60, 1..5),
            start in 0u32..10,
            inc in 1u32..4,
        ) {
            // Integer-valued amounts keep every sum exact.
            let values: Vec<(String, f64)> = vals.iter().enumerate()
                .map(|(i, v)| (format!("b{i}"), f64::from(*v))).collect();
            let e = EnglishAuction::new(f64::from(start), f64::from(inc), None,
                values.iter().map(|(b, _)| b.clone())).unwrap();
            let out = e.run_straightforward(&values, 10_000).unwrap();
            let mut sorted: Vec<f64> = values.iter().map(|(_, v)| *v).collect();
            sorted.sort_by(|a, b| b.total_cmp(a));
            match (&out.winner, out.price) {
                (Some(w), Some(p)) => {
                    let wv = values.iter().find(|(b, _)| b == w).unwrap().1;
                    prop_assert!(p <= wv && p >= f64::from(start));
                    // Every other bidder was asked after the last bid and passed because
                    // the next minimum p + inc exceeded its value. So the winner need not
                    // hold the highest value, but comes within one increment of it.
                    for (b, v) in &values {
                        if b != w {
                            prop_assert!(*v < p + f64::from(inc), "{} valued {} but passed at {}", b, v, p);
                        }
                    }
                    prop_assert!(wv > sorted[0] - f64::from(inc));
                }
                _ => prop_assert!(sorted[0] < f64::from(start)),
            }
        }
    }
}
