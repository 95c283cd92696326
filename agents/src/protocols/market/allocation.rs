//! Resource allocation through the call market: agents with budgets buy
//! compute units from sellers, and every agent gets a settlement record.

use serde::{Deserialize, Serialize};

use super::{call_market, CallMarketOutcome, CallOrder, MarketError, OrderRejection, Side};

/// The largest price in credits the compute market accepts: 2^53, the
/// largest range in which `f64` (used by the call market) holds every whole
/// number exactly.
const MAX_CREDITS: u64 = 1 << 53;

/// An agent that wants compute units.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComputeBuyer {
    /// The agent.
    pub agent: String,
    /// Credits it may spend in total.
    pub budget: u64,
    /// Units it wants at most.
    pub units: u64,
    /// The most it pays per unit, in credits.
    pub max_price: u64,
    /// Arrival order at the coordinator (0 = first).
    pub arrival: u64,
}

/// An agent that offers compute units.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComputeSeller {
    /// The agent.
    pub agent: String,
    /// Units offered.
    pub units: u64,
    /// The least it takes per unit, in credits.
    pub min_price: u64,
    /// Arrival order at the coordinator (0 = first).
    pub arrival: u64,
}

/// What one agent bought, sold, paid and received.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settlement {
    /// The agent.
    pub agent: String,
    /// Units bought.
    pub units_bought: u64,
    /// Units sold.
    pub units_sold: u64,
    /// Credits paid: units bought × the settlement price.
    pub cash_paid: u64,
    /// Credits received: units sold × the settlement price.
    pub cash_received: u64,
}

/// The result of [`allocate_compute`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AllocationOutcome {
    /// The price per unit every trade settles at, in whole credits.
    pub price: Option<u64>,
    /// The call market run that decided who trades (its price may be a half
    /// credit above `price`).
    pub market: CallMarketOutcome,
    /// One record per agent named in the input, in order of agent id.
    pub settlements: Vec<Settlement>,
    /// Requests set aside (invalid, duplicate, or priced out by the budget),
    /// including the market's own rejections.
    pub rejected: Vec<OrderRejection>,
}

/// Allocates compute units among agents through one [`call_market`] round.
///
/// * Each buyer bids `max_price` for `min(units, budget / max_price)`
///   units (all `units` if `max_price` is 0), so that it can never be
///   charged more than its budget; each seller asks `min_price` for `units`.
/// * The call market decides who trades how much. Its price is the midpoint
///   of a clearing interval whose ends are whole credits, so it is a whole
///   or a half credit; the settlement price is that rounded down to a whole
///   credit, which stays inside the interval. So every buyer pays at most
///   its `max_price`, every seller gets at least its `min_price`.
/// * Settlement per agent: cash paid = units bought × price, cash received
///   = units sold × price, all in whole credits, so the records balance
///   exactly: total paid = total received, units bought = units sold.
///
/// A request is rejected (and the agent's record stays at zero) if its
/// units are 0, a price exceeds 2^53 credits, the agent already has a
/// request on that side, the budget cannot buy one unit at `max_price`, or
/// the budgets together would exceed `u64::MAX` credits.
///
/// # Examples
///
/// ```
/// use agents::protocols::market::{allocate_compute, ComputeBuyer, ComputeSeller};
///
/// let out = allocate_compute(
///     &[ComputeBuyer { agent: "trainer".into(), budget: 100, units: 4, max_price: 11, arrival: 0 }],
///     &[ComputeSeller { agent: "gpu-node".into(), units: 4, min_price: 8, arrival: 1 }],
/// );
/// // Both orders fill completely: interval [8, 11], midpoint 9.5, settled at 9 per unit.
/// // (Had the seller offered more, its partly filled ask would pin the price at 8.)
/// assert_eq!(out.price, Some(9));
/// assert_eq!(out.settlements[1].cash_paid, 36); // trainer: 4 units
/// assert_eq!(out.settlements[0].cash_received, 36); // gpu-node
/// ```
pub fn allocate_compute(buyers: &[ComputeBuyer], sellers: &[ComputeSeller]) -> AllocationOutcome {
    let mut rejected = Vec::new();
    let mut orders: Vec<CallOrder> = Vec::new();
    let mut budgets = 0u64;
    let mut by_arrival: Vec<&ComputeBuyer> = buyers.iter().collect();
    by_arrival.sort_by_key(|b| b.arrival);
    for b in by_arrival {
        let checked = check(&b.agent, b.units, b.max_price, Side::Buy, &orders).and_then(|()| {
            let quantity = b
                .units
                .min(b.budget.checked_div(b.max_price).unwrap_or(u64::MAX));
            if quantity == 0 {
                return Err(MarketError::BudgetTooSmall {
                    agent: b.agent.clone(),
                    budget: b.budget,
                    max_price: b.max_price,
                });
            }
            budgets = budgets
                .checked_add(b.budget)
                .ok_or_else(|| MarketError::BudgetOverflow {
                    agent: b.agent.clone(),
                    budget: b.budget,
                })?;
            Ok(quantity)
        });
        match checked {
            Ok(quantity) => orders.push(CallOrder {
                agent: b.agent.clone(),
                side: Side::Buy,
                price: b.max_price as f64,
                quantity,
                arrival: b.arrival,
            }),
            Err(error) => rejected.push(OrderRejection {
                agent: b.agent.clone(),
                error,
            }),
        }
    }
    let mut by_arrival: Vec<&ComputeSeller> = sellers.iter().collect();
    by_arrival.sort_by_key(|s| s.arrival);
    for s in by_arrival {
        match check(&s.agent, s.units, s.min_price, Side::Sell, &orders) {
            Ok(()) => orders.push(CallOrder {
                agent: s.agent.clone(),
                side: Side::Sell,
                price: s.min_price as f64,
                quantity: s.units,
                arrival: s.arrival,
            }),
            Err(error) => rejected.push(OrderRejection {
                agent: s.agent.clone(),
                error,
            }),
        }
    }

    let market = call_market(&orders);
    rejected.extend(market.rejected.iter().cloned());
    // The price is at most 2^53 and not negative, so the cast is exact.
    let price = market.price.map(|p| p.floor() as u64);
    let mut settlements: Vec<Settlement> = buyers
        .iter()
        .map(|b| &b.agent)
        .chain(sellers.iter().map(|s| &s.agent))
        .map(|agent| Settlement {
            agent: agent.clone(),
            units_bought: 0,
            units_sold: 0,
            cash_paid: 0,
            cash_received: 0,
        })
        .collect();
    settlements.sort_by(|a, b| a.agent.cmp(&b.agent));
    settlements.dedup_by(|a, b| a.agent == b.agent);
    let unit_price = price.unwrap_or(0);
    for fill in &market.fills {
        let Ok(at) = settlements.binary_search_by(|s| s.agent.cmp(&fill.agent)) else {
            continue;
        };
        let record = &mut settlements[at];
        // No overflow: a buyer pays at most its budget, and all sellers
        // together receive what all buyers pay, at most the sum of budgets.
        let cash = fill.quantity.saturating_mul(unit_price);
        match fill.side {
            Side::Buy => {
                record.units_bought = record.units_bought.saturating_add(fill.quantity);
                record.cash_paid = record.cash_paid.saturating_add(cash);
            }
            Side::Sell => {
                record.units_sold = record.units_sold.saturating_add(fill.quantity);
                record.cash_received = record.cash_received.saturating_add(cash);
            }
        }
    }
    AllocationOutcome {
        price,
        market,
        settlements,
        rejected,
    }
}

/// Checks one request: units > 0, a price the call market holds exactly,
/// and no earlier accepted request by the same agent on the same side.
fn check(
    agent: &str,
    units: u64,
    price: u64,
    side: Side,
    orders: &[CallOrder],
) -> Result<(), MarketError> {
    if units == 0 {
        return Err(MarketError::ZeroQuantity {
            agent: agent.to_owned(),
        });
    }
    if price > MAX_CREDITS {
        return Err(MarketError::InvalidPrice {
            agent: agent.to_owned(),
            price: price as f64,
            reason: format!("above {MAX_CREDITS} credits, the largest exactly representable"),
        });
    }
    if orders.iter().any(|o| o.side == side && o.agent == agent) {
        return Err(MarketError::DuplicateAgent {
            agent: agent.to_owned(),
            side,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn buyer(agent: &str, budget: u64, units: u64, max_price: u64, arrival: u64) -> ComputeBuyer {
        ComputeBuyer {
            agent: agent.into(),
            budget,
            units,
            max_price,
            arrival,
        }
    }

    fn seller(agent: &str, units: u64, min_price: u64, arrival: u64) -> ComputeSeller {
        ComputeSeller {
            agent: agent.into(),
            units,
            min_price,
            arrival,
        }
    }

    fn record<'a>(out: &'a AllocationOutcome, agent: &str) -> &'a Settlement {
        out.settlements.iter().find(|s| s.agent == agent).unwrap()
    }

    #[test]
    fn worked_example() {
        // Buyers (bid quantity = min(units, budget / max_price)):
        //   A: budget 100, wants 5 at <= 12 -> min(5, 8) = 5 @ 12
        //   B: budget 30,  wants 4 at <= 10 -> min(4, 3) = 3 @ 10
        //   C: budget 50,  wants 2 at <= 6  -> 2 @ 6
        // Sellers: X 4 @ 5, Y 3 @ 9, Z 5 @ 11.
        // Matching: A/X 4, A/Y 1, B/Y 2, then B (10) < Z (11): volume 7.
        // low = max(highest accepted ask 9, highest rejected bid 10 (B, partly)) = 10,
        // high = min(lowest accepted bid 10, lowest rejected ask 11) = 10: price 10.
        // A 5 x 10 = 50, B 2 x 10 = 20; X 4 x 10 = 40, Y 3 x 10 = 30. 70 paid = 70 received.
        let out = allocate_compute(
            &[
                buyer("A", 100, 5, 12, 0),
                buyer("B", 30, 4, 10, 1),
                buyer("C", 50, 2, 6, 2),
            ],
            &[
                seller("X", 4, 5, 3),
                seller("Y", 3, 9, 4),
                seller("Z", 5, 11, 5),
            ],
        );
        assert_eq!(out.price, Some(10));
        let got: Vec<(&str, u64, u64, u64, u64)> = out
            .settlements
            .iter()
            .map(|s| {
                (
                    s.agent.as_str(),
                    s.units_bought,
                    s.units_sold,
                    s.cash_paid,
                    s.cash_received,
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("A", 5, 0, 50, 0),
                ("B", 2, 0, 20, 0),
                ("C", 0, 0, 0, 0),
                ("X", 0, 4, 0, 40),
                ("Y", 0, 3, 0, 30),
                ("Z", 0, 0, 0, 0)
            ]
        );
        assert!(out.rejected.is_empty());
    }

    #[test]
    fn half_credit_midpoint_rounds_down_and_agent_on_both_sides() {
        // m buys 2 at <= 11 (budget 40 -> min(2, 3) = 2) and sells 1 at >= 8; n sells 5 at >= 8.
        // Asks: m 8 (arrival 1) before n 8 (arrival 2). Match: m's bid 2 with m's ask 1, then n 1.
        // Interval: low = max(accepted ask 8, no rejected bid) = 8; high = min(accepted bid 11,
        // rejected ask n 8 (partly filled)) = 8. Price 8.
        let out = allocate_compute(
            &[buyer("m", 40, 2, 11, 0)],
            &[seller("m", 1, 8, 1), seller("n", 5, 8, 2)],
        );
        assert_eq!(out.price, Some(8));
        let m = record(&out, "m");
        assert_eq!(
            (m.units_bought, m.units_sold, m.cash_paid, m.cash_received),
            (2, 1, 16, 8)
        );
        // Buyer 4 @ <= 11, seller exactly 4 @ >= 8, nothing rejected: interval [8, 11],
        // midpoint 9.5, settled at 9: 4 x 9 = 36.
        let out = allocate_compute(&[buyer("b", 100, 4, 11, 0)], &[seller("s", 4, 8, 1)]);
        assert_eq!(out.market.price, Some(9.5));
        assert_eq!(out.price, Some(9));
        assert_eq!(record(&out, "b").cash_paid, 36);
    }

    #[test]
    fn rejected_requests() {
        let out = allocate_compute(
            &[
                buyer("poor", 5, 3, 8, 0),
                buyer("none", 50, 0, 8, 1),
                buyer("twice", 50, 1, 8, 2),
                buyer("twice", 50, 1, 9, 3),
                buyer("huge", 1, 1, u64::MAX, 4),
            ],
            &[seller("s", 0, 1, 5)],
        );
        let errors: Vec<&MarketError> = out.rejected.iter().map(|r| &r.error).collect();
        assert!(matches!(errors[0], MarketError::BudgetTooSmall { .. }));
        assert!(matches!(errors[1], MarketError::ZeroQuantity { .. }));
        assert!(matches!(errors[2], MarketError::DuplicateAgent { .. }));
        assert!(matches!(errors[3], MarketError::InvalidPrice { .. }));
        assert!(matches!(errors[4], MarketError::ZeroQuantity { .. }));
        assert_eq!(out.price, None);
        assert_eq!(out.settlements.len(), 5);
    }

    proptest! {
        #[test]
        fn settlement_balances(
            buyers in proptest::collection::vec((0u8..5, 0u64..200, 0u64..8, 0u64..30, 0u64..6), 0..6),
            sellers in proptest::collection::vec((0u8..5, 0u64..8, 0u64..30, 0u64..6), 0..6),
        ) {
            let buyers: Vec<ComputeBuyer> = buyers.into_iter().map(|(a, b, u, p, t)| buyer(&format!("a{a}"), b, u, p, t)).collect();
            let sellers: Vec<ComputeSeller> = sellers.into_iter().map(|(a, u, p, t)| seller(&format!("a{a}"), u, p, t)).collect();
            let out = allocate_compute(&buyers, &sellers);
            let paid: u128 = out.settlements.iter().map(|s| u128::from(s.cash_paid)).sum();
            let received: u128 = out.settlements.iter().map(|s| u128::from(s.cash_received)).sum();
            let bought: u64 = out.settlements.iter().map(|s| s.units_bought).sum();
            let sold: u64 = out.settlements.iter().map(|s| s.units_sold).sum();
            prop_assert_eq!(paid, received);
            prop_assert_eq!(bought, sold);
            prop_assert_eq!(bought, out.market.volume);
            let price = out.price.unwrap_or(0);
            if let Some(i) = out.market.interval {
                prop_assert!(i.low <= price as f64 && price as f64 <= i.high);
            }
            for s in &out.settlements {
                prop_assert_eq!(s.cash_paid, s.units_bought * price);
                prop_assert_eq!(s.cash_received, s.units_sold * price);
                // Within the budget and limits of the agent's request that counted.
                if s.units_bought > 0 {
                    prop_assert!(buyers.iter().any(|b| b.agent == s.agent && s.cash_paid <= b.budget
                        && s.units_bought <= b.units && price <= b.max_price));
                }
                if s.units_sold > 0 {
                    prop_assert!(sellers.iter().any(|x| x.agent == s.agent
                        && s.units_sold <= x.units && price >= x.min_price));
                }
            }
        }

        #[test]
        fn nothing_panics(
            buyers in proptest::collection::vec((0u8..3, any::<u64>(), any::<u64>(), any::<u64>(), any::<u64>()), 0..5),
            sellers in proptest::collection::vec((0u8..3, any::<u64>(), any::<u64>(), any::<u64>()), 0..5),
        ) {
            let buyers: Vec<ComputeBuyer> = buyers.into_iter().map(|(a, b, u, p, t)| buyer(&format!("a{a}"), b, u, p, t)).collect();
            let sellers: Vec<ComputeSeller> = sellers.into_iter().map(|(a, u, p, t)| seller(&format!("a{a}"), u, p, t)).collect();
            let out = allocate_compute(&buyers, &sellers);
            let paid: u128 = out.settlements.iter().map(|s| u128::from(s.cash_paid)).sum();
            let received: u128 = out.settlements.iter().map(|s| u128::from(s.cash_received)).sum();
            prop_assert_eq!(paid, received);
        }
    }
}
