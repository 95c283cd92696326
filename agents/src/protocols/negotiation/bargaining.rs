//! Alternating offers over a unit surplus, the pure rules
//! ([`rubinstein`], [`alternating_offers`]): the subgame-perfect split,
//! infinite horizon in closed form, finite horizon by backward induction.
//! Shares are computed, not compared; tests check them to within 1e-12.

use serde::{Deserialize, Serialize};

use super::NegotiationError;

/// The subgame-perfect agreement of an alternating-offers game over a unit
/// surplus. Agent 1 proposes first; the agents agree at once, in round 1.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Split {
    /// Agent 1's (the first proposer's) share.
    pub first: f64,
    /// Agent 2's share, `1 − first`.
    pub second: f64,
    /// The number of rounds, `None` for the infinite horizon.
    pub horizon: Option<u32>,
}

fn check_discount(agent: u8, delta: f64) -> Result<(), NegotiationError> {
    if delta.is_finite() && (0.0..1.0).contains(&delta) {
        Ok(())
    } else {
        Err(NegotiationError::InvalidDiscount { agent, delta })
    }
}

/// Rubinstein's infinite-horizon alternating-offers game: the first
/// proposer gets `x* = (1−δ2)/(1−δ1·δ2)` and the responder accepts at once.
///
/// # Errors
///
/// [`NegotiationError::InvalidDiscount`] unless `0 ≤ δ < 1` for both.
pub fn rubinstein(delta1: f64, delta2: f64) -> Result<Split, NegotiationError> {
    check_discount(1, delta1)?;
    check_discount(2, delta2)?;
    let first = (1.0 - delta2) / (1.0 - delta1 * delta2);
    Ok(Split {
        first,
        second: 1.0 - first,
        horizon: None,
    })
}

/// The finite-horizon alternating-offers game over `rounds` rounds, solved
/// by backward induction.
///
/// Agent 1 proposes in odd rounds, agent 2 in even ones; an agent's payoff
/// for share `s` agreed in round `t` is `δ^(t−1)·s`; after a rejection in
/// the last round both get 0. A responder accepts when the offer is at
/// least what it would get by rejecting. So the proposer of the last round
/// keeps everything, and the proposer of round `t` keeps
/// `x_t = 1 − δ_r·x_{t+1}`, where `r` is the next round's proposer (the
/// responder now). The answer is `x_1`; the agreement is immediate. The
/// induction stops early once it reaches a fixed point (`x_t = x_{t+2}`
/// exactly), so a long horizon costs little.
///
/// # Errors
///
/// [`NegotiationError::InvalidDiscount`] unless `0 ≤ δ < 1` for both;
/// [`NegotiationError::NoRounds`] for `rounds = 0`.
pub fn alternating_offers(
    delta1: f64,
    delta2: f64,
    rounds: u32,
) -> Result<Split, NegotiationError> {
    check_discount(1, delta1)?;
    check_discount(2, delta2)?;
    if rounds == 0 {
        return Err(NegotiationError::NoRounds);
    }
    // next = x_{t+1}, after_next = x_{t+2}.
    let mut next = 1.0;
    let mut after_next: Option<f64> = None;
    let mut first = next;
    for t in (1..rounds).rev() {
        // The responder in round t proposes in round t+1: agent 1 if t+1 is odd.
        let responder_delta = if (t + 1) % 2 == 1 { delta1 } else { delta2 };
        let x = 1.0 - responder_delta * next;
        if after_next == Some(x) {
            // Fixed point: x_s = x_t for s ≡ t (mod 2), x_s = x_{t+1} otherwise.
            first = if (t - 1) % 2 == 0 { x } else { next };
            return Ok(Split {
                first,
                second: 1.0 - first,
                horizon: Some(rounds),
            });
        }
        after_next = Some(next);
        next = x;
        first = x;
    }
    Ok(Split {
        first,
        second: 1.0 - first,
        horizon: Some(rounds),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // ----- alternating offers -----

    #[test]
    fn rubinstein_symmetric_split() {
        // δ1 = δ2 = 0.9: x* = (1 − 0.9)/(1 − 0.81) = 0.1/0.19 = 1/1.9 ≈ 0.526316.
        let s = rubinstein(0.9, 0.9).unwrap();
        assert!((s.first - 1.0 / 1.9).abs() < 1e-12);
        assert!((s.first + s.second - 1.0).abs() < 1e-12);
        // δ2 = 0: the responder is impatient, the proposer takes all.
        assert_eq!(rubinstein(0.5, 0.0).unwrap().first, 1.0);
        // δ1 = 0.5, δ2 = 0.8: (0.2)/(1 − 0.4) = 1/3.
        assert!((rubinstein(0.5, 0.8).unwrap().first - 1.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn finite_horizon_by_backward_induction() {
        // δ1 = δ2 = 0.9.
        // T = 1: the proposer keeps everything: 1.
        // T = 2: agent 2 would keep 1 in round 2, worth 0.9 now: x = 0.1.
        // T = 3: x_3 = 1, x_2 = 1 − 0.9·1 = 0.1, x_1 = 1 − 0.9·0.1 = 0.91.
        // T = 4: x_4 = 1, x_3 = 0.1, x_2 = 0.91, x_1 = 1 − 0.9·0.91 = 0.181.
        for (t, want) in [(1, 1.0), (2, 0.1), (3, 0.91), (4, 0.181)] {
            let s = alternating_offers(0.9, 0.9, t).unwrap();
            assert!((s.first - want).abs() < 1e-12, "T = {t}: {}", s.first);
            assert_eq!(s.horizon, Some(t));
        }
        // A long horizon converges to Rubinstein's split.
        let long = alternating_offers(0.9, 0.9, 10_000).unwrap();
        assert!((long.first - 1.0 / 1.9).abs() < 1e-12);
        let huge = alternating_offers(0.9, 0.8, u32::MAX).unwrap();
        assert!((huge.first - rubinstein(0.9, 0.8).unwrap().first).abs() < 1e-12);
    }

    #[test]
    fn bad_discounts_are_refused() {
        for d in [1.0, -0.1, f64::NAN, f64::INFINITY] {
            assert!(matches!(
                rubinstein(d, 0.5),
                Err(NegotiationError::InvalidDiscount { agent: 1, .. })
            ));
            assert!(matches!(
                alternating_offers(0.5, d, 3),
                Err(NegotiationError::InvalidDiscount { agent: 2, .. })
            ));
        }
        assert_eq!(
            alternating_offers(0.5, 0.5, 0),
            Err(NegotiationError::NoRounds)
        );
    }

    proptest! {
        #[test]
        fn finite_horizon_matches_closed_form(d1 in 0.0f64..0.999, d2 in 0.0f64..0.999, t in 1u32..400) {
            // T = 2k: (1−δ2)(1−D^k)/(1−D); T = 2k+1: that + D^k, with D = δ1δ2.
            let s = alternating_offers(d1, d2, t).unwrap();
            let d = d1 * d2;
            let k = (t / 2) as i32;
            let geometric = (1.0 - d2) * (1.0 - d.powi(k)) / (1.0 - d);
            let want = if t % 2 == 0 { geometric } else { geometric + d.powi(k) };
            prop_assert!((s.first - want).abs() < 1e-9, "{} vs {}", s.first, want);
            prop_assert!((0.0..=1.0).contains(&s.first));
            let r = rubinstein(d1, d2).unwrap();
            prop_assert!((0.0..=1.0).contains(&r.first));
        }

        #[test]
        fn bargaining_never_panics(d1 in any::<f64>(), d2 in any::<f64>(), t in 0u32..50) {
            let _ = rubinstein(d1, d2);
            let _ = alternating_offers(d1, d2, t);
        }
    }
}
