//! Dutch (descending clock) auction as a pure state machine.

use serde::{Deserialize, Serialize};

use super::{
    boundary_tie, check_parameter, default_order, AuctionError, Offer, Rejection, TieBreak,
};

/// A bidder accepting the clock price of the current round.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acceptance {
    /// The accepting agent.
    pub bidder: String,
    /// Arrival order at the coordinator within the round (lower = earlier).
    pub arrival: u64,
}

/// The end of a Dutch auction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DutchOutcome {
    /// Who buys, if anyone accepted before the clock would pass the reserve.
    pub winner: Option<String>,
    /// The clock price in the round the winner accepted.
    pub price: Option<f64>,
    /// The round (0 = opening price) in which the auction ended.
    pub round: u64,
    /// Everyone who accepted in the deciding round, in tie-break order.
    pub accepted: Vec<String>,
    /// How a tie among several acceptances in that round was broken.
    pub tie_break: Option<TieBreak>,
    /// Acceptances set aside (a bidder accepting twice in one round).
    pub rejected: Vec<Rejection>,
}

/// Where a [`DutchAuction`] stands after a round.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum DutchStatus {
    /// Nobody accepted; the clock moved on to `price` in round `round`.
    Open {
        /// The new round.
        round: u64,
        /// Its clock price.
        price: f64,
    },
    /// The auction has ended (sold, or the clock would pass the reserve).
    Closed(DutchOutcome),
}

/// A Dutch auction: the clock starts at `start` and falls by `step` each
/// round while it stays at or above the reserve; the first agent to accept
/// pays the clock price. Several acceptances in the same round are ranked by
/// the default rule (earliest arrival, then lowest agent id). If nobody has
/// accepted when the next price would fall below the reserve, nothing is
/// sold.
///
/// The clock price of round `r` is computed as `start - r * step` (one
/// rounding, no drift from repeated subtraction).
///
/// # Examples
///
/// ```
/// use agents::protocols::auction::{Acceptance, DutchAuction, DutchStatus};
///
/// let mut d = DutchAuction::new(10.0, 2.0, Some(5.0))?;
/// assert_eq!(d.clock(), Some(10.0));
/// d.close_round(&[])?; // clock 8
/// let status = d.close_round(&[Acceptance { bidder: "bob".into(), arrival: 0 }])?;
/// let DutchStatus::Closed(out) = status else { unreachable!() };
/// assert_eq!((out.winner.as_deref(), out.price), (Some("bob"), Some(8.0)));
/// # Ok::<(), agents::protocols::auction::AuctionError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DutchAuction {
    start: f64,
    step: f64,
    reserve: f64,
    round: u64,
    rejected: Vec<Rejection>,
    outcome: Option<DutchOutcome>,
}

impl DutchAuction {
    /// Opens a Dutch auction. No reserve means a reserve of `0.0`.
    ///
    /// # Errors
    ///
    /// [`AuctionError::InvalidParameter`] if a price is negative or not
    /// finite, the step is not a finite number greater than zero, or the
    /// starting price is below the reserve.
    pub fn new(start: f64, step: f64, reserve: Option<f64>) -> Result<Self, AuctionError> {
        let start = check_parameter("start", start, false)?;
        let step = check_parameter("step", step, true)?;
        let reserve = check_parameter("reserve", reserve.unwrap_or(0.0), false)?;
        if start < reserve {
            return Err(AuctionError::InvalidParameter {
                name: "start".into(),
                value: start,
                reason: format!("the clock must start at or above the reserve {reserve}"),
            });
        }
        Ok(DutchAuction {
            start,
            step,
            reserve,
            round: 0,
            rejected: Vec::new(),
            outcome: None,
        })
    }

    /// The clock price of the current round, or `None` once ended.
    pub fn clock(&self) -> Option<f64> {
        self.outcome.is_none().then(|| self.price_at(self.round))
    }

    /// The current round (0 = the opening price).
    pub fn round(&self) -> u64 {
        self.round
    }

    /// The result, once the auction has ended.
    pub fn outcome(&self) -> Option<&DutchOutcome> {
        self.outcome.as_ref()
    }

    /// Closes the current round with the acceptances that reached the
    /// coordinator during it. Any valid acceptance ends the auction; a
    /// second acceptance by the same bidder in the round is set aside.
    /// Otherwise the clock falls by one step, or the auction ends without a
    /// sale if the new price would be below the reserve.
    ///
    /// # Errors
    ///
    /// [`AuctionError::Closed`] if the auction has already ended.
    pub fn close_round(&mut self, acceptances: &[Acceptance]) -> Result<DutchStatus, AuctionError> {
        if self.outcome.is_some() {
            return Err(AuctionError::Closed);
        }
        let mut valid: Vec<&Acceptance> = Vec::new();
        let mut sorted: Vec<&Acceptance> = acceptances.iter().collect();
        sorted.sort_by(|a, b| {
            default_order((0.0, a.arrival, &a.bidder), (0.0, b.arrival, &b.bidder))
        });
        for a in sorted {
            if valid.iter().any(|v| v.bidder == a.bidder) {
                self.rejected.push(Rejection::new(
                    AuctionError::DuplicateBidder {
                        bidder: a.bidder.clone(),
                    },
                    &a.bidder,
                ));
            } else {
                valid.push(a);
            }
        }
        let price = self.price_at(self.round);
        if !valid.is_empty() {
            let offers: Vec<Offer<'_>> = valid
                .iter()
                .map(|a| Offer {
                    agent: &a.bidder,
                    arrival: a.arrival,
                    value: price,
                })
                .collect();
            return Ok(self.close(
                Some(price),
                valid.iter().map(|a| a.bidder.clone()).collect(),
                boundary_tie(&offers, 1),
            ));
        }
        let next = self.price_at(self.round.saturating_add(1));
        if next < self.reserve {
            return Ok(self.close(None, Vec::new(), None));
        }
        self.round = self.round.saturating_add(1);
        Ok(DutchStatus::Open {
            round: self.round,
            price: next,
        })
    }

    /// Runs the auction to the end with every bidder accepting as soon as
    /// the clock is at or below its value in `values` (a value that is not
    /// a number never accepts; a bidder listed twice accepts with its first
    /// value). The acceptances of a round all arrive together, so when
    /// several bidders accept in the deciding round the rule's tie-break
    /// gives the item to the lowest agent id. An auction that has already
    /// ended returns its outcome.
    ///
    /// # Errors
    ///
    /// [`AuctionError::StepLimit`] if it has not ended after `max_rounds`
    /// rounds (it ends within about `(start - reserve) / step + 1`, which a
    /// tiny step can make many).
    ///
    /// # Examples
    ///
    /// ```
    /// use agents::protocols::auction::DutchAuction;
    ///
    /// let auction = DutchAuction::new(10.0, 2.0, Some(3.0))?;
    /// let out = auction.run_straightforward(&[("a", 7.0), ("b", 5.0)], 100)?;
    /// // The clock shows 10, 8, then 6: the first price at or below a's value.
    /// assert_eq!((out.winner.as_deref(), out.price), (Some("a"), Some(6.0)));
    /// # Ok::<(), agents::protocols::auction::AuctionError>(())
    /// ```
    pub fn run_straightforward<S: AsRef<str>>(
        mut self,
        values: &[(S, f64)],
        max_rounds: usize,
    ) -> Result<DutchOutcome, AuctionError> {
        for _ in 0..max_rounds {
            let Some(clock) = self.clock() else {
                break;
            };
            let acceptances: Vec<Acceptance> = values
                .iter()
                .enumerate()
                .filter(|&(i, (bidder, value))| {
                    let first = !values[..i]
                        .iter()
                        .any(|(b, _)| b.as_ref() == bidder.as_ref());
                    first && *value >= clock
                })
                .map(|(_, (bidder, _))| Acceptance {
                    bidder: bidder.as_ref().to_owned(),
                    arrival: 0,
                })
                .collect();
            self.close_round(&acceptances)?;
        }
        self.outcome
            .ok_or(AuctionError::StepLimit { steps: max_rounds })
    }

    fn price_at(&self, round: u64) -> f64 {
        self.start - round as f64 * self.step
    }

    fn close(
        &mut self,
        price: Option<f64>,
        accepted: Vec<String>,
        tie_break: Option<TieBreak>,
    ) -> DutchStatus {
        let outcome = DutchOutcome {
            winner: price.and(accepted.first().cloned()),
            price,
            round: self.round,
            accepted,
            tie_break,
            rejected: std::mem::take(&mut self.rejected),
        };
        self.outcome = Some(outcome.clone());
        DutchStatus::Closed(outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn acc(bidder: &str, arrival: u64) -> Acceptance {
        Acceptance {
            bidder: bidder.into(),
            arrival,
        }
    }

    #[test]
    fn first_acceptance_pays_the_clock() {
        // Clock: round 0 = 100, round 1 = 100 - 15 = 85, round 2 = 70.
        let mut d = DutchAuction::new(100.0, 15.0, Some(50.0)).unwrap();
        assert_eq!(
            d.close_round(&[]).unwrap(),
            DutchStatus::Open {
                round: 1,
                price: 85.0
            }
        );
        assert_eq!(
            d.close_round(&[]).unwrap(),
            DutchStatus::Open {
                round: 2,
                price: 70.0
            }
        );
        let DutchStatus::Closed(out) = d.close_round(&[acc("x", 3)]).unwrap() else {
            panic!("should close");
        };
        assert_eq!(out.winner.as_deref(), Some("x"));
        assert_eq!(out.price, Some(70.0));
        assert_eq!(out.round, 2);
        assert_eq!(out.tie_break, None);
        assert_eq!(d.clock(), None);
        assert_eq!(d.close_round(&[]), Err(AuctionError::Closed));
    }

    #[test]
    fn simultaneous_acceptances_use_the_tie_break() {
        let mut d = DutchAuction::new(10.0, 1.0, None).unwrap();
        // c arrived first (arrival 1 < 2): c wins at 10.
        let DutchStatus::Closed(out) = d
            .close_round(&[acc("b", 2), acc("c", 1), acc("b", 5)])
            .unwrap()
        else {
            panic!("should close");
        };
        assert_eq!(out.winner.as_deref(), Some("c"));
        assert_eq!(out.accepted, ["c", "b"]);
        let tie = out.tie_break.unwrap();
        assert_eq!(tie.decided_by, super::super::TieRule::EarliestArrival);
        assert_eq!(out.rejected.len(), 1, "b's second acceptance");
        // Same arrival: lowest id a wins.
        let mut d = DutchAuction::new(10.0, 1.0, None).unwrap();
        let DutchStatus::Closed(out) = d.close_round(&[acc("b", 0), acc("a", 0)]).unwrap() else {
            panic!("should close");
        };
        assert_eq!(out.winner.as_deref(), Some("a"));
        assert_eq!(
            out.tie_break.unwrap().decided_by,
            super::super::TieRule::LowestAgentId
        );
    }

    #[test]
    fn no_sale_when_the_clock_would_pass_the_reserve() {
        // 10, 7, 4; the next price 1 < reserve 3: no sale after round 2.
        let mut d = DutchAuction::new(10.0, 3.0, Some(3.0)).unwrap();
        assert!(
            matches!(d.close_round(&[]).unwrap(), DutchStatus::Open { price, .. } if price == 7.0)
        );
        assert!(
            matches!(d.close_round(&[]).unwrap(), DutchStatus::Open { price, .. } if price == 4.0)
        );
        let DutchStatus::Closed(out) = d.close_round(&[]).unwrap() else {
            panic!("should close");
        };
        assert_eq!((out.winner, out.price, out.round), (None, None, 2));
        // The reserve itself is a valid clock price: 10, 7, 4, 1 with reserve 1.
        let mut d = DutchAuction::new(10.0, 3.0, Some(1.0)).unwrap();
        for _ in 0..3 {
            d.close_round(&[]).unwrap();
        }
        assert_eq!(d.clock(), Some(1.0));
    }

    #[test]
    fn straightforward_bidders_accept_at_their_value() {
        // Clock 10, 8, 6: a and b both value the item at 6 and accept together;
        // same arrival, so the lowest id a wins. c's later value 9 does not count.
        let d = DutchAuction::new(10.0, 2.0, None).unwrap();
        let out = d
            .run_straightforward(&[("b", 6.0), ("c", 1.0), ("a", 6.0), ("c", 9.0)], 10)
            .unwrap();
        assert_eq!((out.winner.as_deref(), out.price), (Some("a"), Some(6.0)));
        assert_eq!(out.round, 2);
        assert_eq!(out.accepted, ["a", "b"]);
        assert_eq!(
            out.tie_break.map(|t| t.decided_by),
            Some(super::super::TieRule::LowestAgentId)
        );
        assert!(out.rejected.is_empty());
        // Every value below the reserve: 10, 8, 6, then 4 < 5 ends it unsold.
        let d = DutchAuction::new(10.0, 2.0, Some(5.0)).unwrap();
        let out = d
            .run_straightforward(&[("a", 4.0), ("b", f64::NAN)], 10)
            .unwrap();
        assert_eq!((out.winner, out.price, out.round), (None, None, 2));
        // Too few rounds allowed.
        let d = DutchAuction::new(10.0, 1.0, None).unwrap();
        assert_eq!(
            d.run_straightforward(&[("a", 1.0)], 3),
            Err(AuctionError::StepLimit { steps: 3 })
        );
        // An auction already over keeps its outcome.
        let mut d = DutchAuction::new(10.0, 1.0, None).unwrap();
        d.close_round(&[acc("z", 0)]).unwrap();
        let out = d.run_straightforward(&[("a", 10.0)], 0).unwrap();
        assert_eq!(out.winner.as_deref(), Some("z"));
    }

    #[test]
    fn invalid_parameters_are_refused() {
        assert!(DutchAuction::new(5.0, 1.0, Some(6.0)).is_err());
        assert!(DutchAuction::new(5.0, 0.0, None).is_err());
        assert!(DutchAuction::new(f64::NAN, 1.0, None).is_err());
        assert!(DutchAuction::new(5.0, 1.0, Some(-1.0)).is_err());
    }

    proptest! {
        #[test]
        fn nothing_panics(
            start in any::<f64>(),
            step in any::<f64>(),
            reserve in proptest::option::of(any::<f64>()),
            rounds in proptest::collection::vec(proptest::collection::vec((0u8..3, 0u64..3), 0..3), 0..20),
        ) {
            if let Ok(mut d) = DutchAuction::new(start, step, reserve) {
                for round in rounds {
                    let accepts: Vec<Acceptance> = round.iter().map(|(b, t)| acc(&format!("b{b}"), *t)).collect();
                    let open = d.clock().is_some();
                    prop_assert_eq!(d.close_round(&accepts).is_ok(), open);
                }
            }
        }

        #[test]
        fn the_bidder_with_the_highest_value_buys_at_a_clock_price(
            vals in proptest::collection::vec(0.0f64..100.0, 0..6),
            start in 0.0f64..120.0,
            step in 0.5f64..20.0,
            reserve in 0.0f64..50.0,
        ) {
            let Ok(mut d) = DutchAuction::new(start, step, Some(reserve)) else {
                prop_assert!(start < reserve);
                return Ok(());
            };
            // Every bidder accepts as soon as the clock is at or below its value.
            let out = loop {
                let clock = d.clock().unwrap();
                prop_assert!(clock >= reserve && clock <= start);
                let accepts: Vec<Acceptance> = vals.iter().enumerate()
                    .filter(|(_, v)| **v >= clock)
                    .map(|(i, _)| acc(&format!("b{i}"), 0)).collect();
                if let DutchStatus::Closed(out) = d.close_round(&accepts).unwrap() {
                    break out;
                }
            };
            let best = vals.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            match out.price {
                Some(p) => {
                    prop_assert!(p >= reserve && p <= best);
                    // Nobody accepted one round earlier, at a price above the best value.
                    prop_assert!(out.round == 0 || best < start - (out.round - 1) as f64 * step);
                }
                // Nobody accepted even the last clock price.
                None => prop_assert!(best < start - out.round as f64 * step),
            }
        }
    }
}
