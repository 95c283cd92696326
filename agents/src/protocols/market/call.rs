//! Call market: collect bids and asks, clear them all at one price.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

use super::{check_price, MarketError, OrderRejection, Side};
use crate::protocols::auction::{TieBreak, TieRule};

/// A bid or ask as it reached the coordinator.
///
/// [`CallOrder::new`] makes one order (arrival 0); [`CallOrder::in_order`]
/// makes a list whose arrivals are the positions in the list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallOrder {
    /// The agent.
    pub agent: String,
    /// Buy (bid) or sell (ask).
    pub side: Side,
    /// Limit price: the most a buyer pays, the least a seller takes, per unit.
    pub price: f64,
    /// Units wanted or offered.
    pub quantity: u64,
    /// Arrival order at the coordinator (0 = first).
    pub arrival: u64,
}

impl CallOrder {
    /// An order by `agent` to buy or sell `quantity` units at limit
    /// `price`, with arrival 0.
    ///
    /// Orders built this way all arrive together, so equally priced ones
    /// are served lowest agent id first. For orders that arrive one after
    /// another use [`in_order`](Self::in_order); for one arrival of your
    /// own, set the field:
    /// `CallOrder { arrival: 3, ..CallOrder::new("b", Side::Buy, 7.0, 1) }`.
    ///
    /// # Examples
    ///
    /// ```
    /// use agents::protocols::market::{call_market, CallOrder, Side};
    ///
    /// let out = call_market(&[CallOrder::new("b", Side::Buy, 10.0, 2), CallOrder::new("s", Side::Sell, 6.0, 2)]);
    /// assert_eq!((out.price, out.volume), (Some(8.0), 2));
    /// ```
    #[must_use]
    pub fn new(agent: impl Into<String>, side: Side, price: f64, quantity: u64) -> Self {
        CallOrder {
            agent: agent.into(),
            side,
            price,
            quantity,
            arrival: 0,
        }
    }

    /// Orders `(agent, side, price, quantity)` in the order they reached
    /// the coordinator: each one's arrival is its position in the list (0,
    /// 1, 2, ...), so among equally priced orders the one listed first is
    /// served first.
    ///
    /// # Examples
    ///
    /// ```
    /// use agents::protocols::market::{call_market, CallOrder, Side};
    ///
    /// let orders = CallOrder::in_order([
    ///     ("b2", Side::Buy, 9.0, 1),
    ///     ("b1", Side::Buy, 9.0, 1),
    ///     ("s", Side::Sell, 5.0, 1),
    /// ]);
    /// let out = call_market(&orders);
    /// assert_eq!(out.fills[0].agent, "b2"); // arrived before b1
    /// ```
    #[must_use]
    pub fn in_order<I, S>(orders: I) -> Vec<CallOrder>
    where
        I: IntoIterator<Item = (S, Side, f64, u64)>,
        S: Into<String>,
    {
        (0..)
            .zip(orders)
            .map(|(arrival, (agent, side, price, quantity))| CallOrder {
                arrival,
                ..CallOrder::new(agent, side, price, quantity)
            })
            .collect()
    }
}

/// Units an order trades at the clearing price.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fill {
    /// The agent.
    pub agent: String,
    /// Its side.
    pub side: Side,
    /// Units traded (possibly fewer than the order's quantity).
    pub quantity: u64,
    /// The clearing price.
    pub price: f64,
    /// The order's arrival number, to tell an agent's orders apart.
    pub arrival: u64,
}

/// The interval of prices that clear the market (see [`call_market`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ClearingInterval {
    /// max(highest accepted ask, highest rejected bid).
    pub low: f64,
    /// min(lowest accepted bid, lowest rejected ask).
    pub high: f64,
}

/// The result of [`call_market`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallMarketOutcome {
    /// The clearing price, if anything trades.
    pub price: Option<f64>,
    /// Units traded (bought = sold).
    pub volume: u64,
    /// The clearing interval the price is the midpoint of.
    pub interval: Option<ClearingInterval>,
    /// Every order that trades: buys first, then sells, each in priority order.
    pub fills: Vec<Fill>,
    /// Orders set aside as invalid.
    pub rejected: Vec<OrderRejection>,
    /// Where equally priced orders on one side were rationed, how priority
    /// decided (at most one per side).
    pub tie_breaks: Vec<TieBreak>,
}

/// A valid order with what it trades.
struct Book<'a> {
    order: &'a CallOrder,
    price: f64,
    filled: u64,
}

impl Book<'_> {
    fn left(&self) -> u64 {
        self.order.quantity - self.filled
    }
}

/// Clears a call market at a single price.
///
/// **Matching.** Bids are ranked by price, highest first, asks by price,
/// lowest first; equally priced orders by earliest arrival, then lowest
/// agent id. The best remaining bid is matched with the best remaining ask
/// while the bid's price is at least the ask's; each match trades as many
/// units as both have left. This trades the largest possible volume. If no
/// bid reaches an ask (no crossing), nothing trades.
///
/// **Price.** An order is *accepted* if it trades at all and *rejected* if
/// some of it does not trade; a partly filled order is both. The price is
/// the midpoint of `[max(highest accepted ask, highest rejected bid),
/// min(lowest accepted bid, lowest rejected ask)]`, ignoring bounds that do
/// not exist. Every accepted bid is at or above and every accepted ask at or
/// below it. The midpoint is computed as `low + (high - low) / 2` and kept
/// inside the interval.
///
/// **Validation.** A price that is negative or not finite, a quantity of
/// zero, or a quantity that would take its side's total past `u64::MAX`
/// rejects that order only.
///
/// # Examples
///
/// ```
/// use agents::protocols::market::{call_market, CallOrder, Side};
///
/// let out = call_market(&CallOrder::in_order([
///     ("b1", Side::Buy, 10.0, 2),
///     ("s1", Side::Sell, 6.0, 2),
/// ]));
/// // Interval [highest accepted ask 6, lowest accepted bid 10]: price 8.
/// assert_eq!((out.price, out.volume), (Some(8.0), 2));
/// ```
pub fn call_market(orders: &[CallOrder]) -> CallMarketOutcome {
    let mut rejected = Vec::new();
    let (mut bids, mut asks) = (Vec::new(), Vec::new());
    let (mut bid_total, mut ask_total) = (0u64, 0u64);
    for order in orders {
        let (side, total) = match order.side {
            Side::Buy => (&mut bids, &mut bid_total),
            Side::Sell => (&mut asks, &mut ask_total),
        };
        let checked = check_price(&order.agent, order.price).and_then(|price| {
            if order.quantity == 0 {
                return Err(MarketError::ZeroQuantity {
                    agent: order.agent.clone(),
                });
            }
            *total =
                total
                    .checked_add(order.quantity)
                    .ok_or_else(|| MarketError::QuantityOverflow {
                        agent: order.agent.clone(),
                        quantity: order.quantity,
                        side: order.side,
                    })?;
            Ok(price)
        });
        match checked {
            Ok(price) => side.push(Book {
                order,
                price,
                filled: 0,
            }),
            Err(error) => rejected.push(OrderRejection {
                agent: order.agent.clone(),
                error,
            }),
        }
    }
    let priority = |a: &Book<'_>, b: &Book<'_>| {
        a.order
            .arrival
            .cmp(&b.order.arrival)
            .then_with(|| a.order.agent.cmp(&b.order.agent))
    };
    bids.sort_by(|a, b| b.price.total_cmp(&a.price).then_with(|| priority(a, b)));
    asks.sort_by(|a, b| a.price.total_cmp(&b.price).then_with(|| priority(a, b)));

    let (mut i, mut j, mut volume) = (0, 0, 0u64);
    while let (Some(bid), Some(ask)) = (bids.get(i), asks.get(j)) {
        if bid.price < ask.price {
            break;
        }
        let q = bid.left().min(ask.left());
        bids[i].filled += q;
        asks[j].filled += q;
        volume += q;
        if bids[i].left() == 0 {
            i += 1;
        }
        if asks[j].left() == 0 {
            j += 1;
        }
    }

    let mut tie_breaks = Vec::new();
    tie_breaks.extend(rationed(&bids));
    tie_breaks.extend(rationed(&asks));
    let interval = clearing_interval(&bids, &asks);
    let price = interval
        .map(|ClearingInterval { low, high }| (low + (high - low) / 2.0).max(low).min(high));
    let fills = match price {
        None => Vec::new(),
        Some(price) => bids
            .iter()
            .chain(&asks)
            .filter(|b| b.filled > 0)
            .map(|b| Fill {
                agent: b.order.agent.clone(),
                side: b.order.side,
                quantity: b.filled,
                price,
                arrival: b.order.arrival,
            })
            .collect(),
    };
    CallMarketOutcome {
        price,
        volume,
        interval,
        fills,
        rejected,
        tie_breaks,
    }
}

/// The clearing interval, if anything traded.
fn clearing_interval(bids: &[Book<'_>], asks: &[Book<'_>]) -> Option<ClearingInterval> {
    let accepted = |side: &[Book<'_>]| side.iter().rev().find(|b| b.filled > 0).map(|b| b.price);
    let rejected = |side: &[Book<'_>]| side.iter().find(|b| b.left() > 0).map(|b| b.price);
    // Bids run from highest to lowest price and asks from lowest to highest,
    // so the last accepted one is the extreme accepted price and the first
    // rejected one the extreme rejected price.
    let highest_accepted_ask = accepted(asks)?;
    let lowest_accepted_bid = accepted(bids)?;
    let low = rejected(bids).map_or(highest_accepted_ask, |p| p.max(highest_accepted_ask));
    let high = rejected(asks).map_or(lowest_accepted_bid, |p| p.min(lowest_accepted_bid));
    Some(ClearingInterval { low, high })
}

/// How priority decided among equally priced orders on one side (sorted in
/// priority order), if some of them traded and some were left unfilled.
fn rationed(side: &[Book<'_>]) -> Option<TieBreak> {
    let first_short = side.iter().position(|b| b.left() > 0)?;
    let price = side[first_short].price;
    let group: Vec<&Book<'_>> = side.iter().filter(|b| b.price == price).collect();
    let served = group.iter().filter(|b| b.filled > 0).count();
    // The group holds an order not fully filled; if another order of the
    // group traded (fills go to a prefix in priority order), priority decided.
    if group.len() < 2 || served == 0 {
        return None;
    }
    // The decisive comparison: the last order that traded against the first
    // that got nothing, or, if all traded, the partly filled one against the
    // order before it.
    let k = group
        .iter()
        .position(|b| b.filled == 0)
        .or_else(|| group.iter().position(|b| b.left() > 0))?;
    let (before, after) = (group.get(k.checked_sub(1)?)?, group[k]);
    Some(TieBreak {
        value: price,
        ranked: group.iter().map(|b| b.order.agent.clone()).collect(),
        favoured: served,
        decided_by: match before.order.arrival.cmp(&after.order.arrival) {
            Ordering::Equal => TieRule::LowestAgentId,
            _ => TieRule::EarliestArrival,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn order(agent: &str, side: Side, price: f64, quantity: u64, arrival: u64) -> CallOrder {
        CallOrder {
            agent: agent.into(),
            side,
            price,
            quantity,
            arrival,
        }
    }

    fn fill_of<'a>(out: &'a CallMarketOutcome, agent: &str) -> Option<&'a Fill> {
        out.fills.iter().find(|f| f.agent == agent)
    }

    #[test]
    fn worked_example_with_a_partial_fill() {
        // Bids: b1 10 x 3, b2 8 x 2, b3 5 x 4.   Asks: s1 4 x 2, s2 7 x 2, s3 9 x 3.
        // Matching: b1/s1 2 (b1 1 left), b1/s2 1 (s2 1 left), b2 (8) / s2 (7) 1 -> b2 1 left,
        //   next ask s3 9 > b2 8: stop. Volume 4.
        // Accepted bids b1, b2 (b2 partly); rejected bids b2 (8), b3 (5).
        // Accepted asks s1, s2; rejected ask s3 (9).
        // low = max(highest accepted ask 7, highest rejected bid 8) = 8.
        // high = min(lowest accepted bid 8, lowest rejected ask 9) = 8. Price 8.
        let out = call_market(&[
            order("b1", Side::Buy, 10.0, 3, 0),
            order("b2", Side::Buy, 8.0, 2, 1),
            order("b3", Side::Buy, 5.0, 4, 2),
            order("s1", Side::Sell, 4.0, 2, 3),
            order("s2", Side::Sell, 7.0, 2, 4),
            order("s3", Side::Sell, 9.0, 3, 5),
        ]);
        assert_eq!(out.volume, 4);
        assert_eq!(
            out.interval,
            Some(ClearingInterval {
                low: 8.0,
                high: 8.0
            })
        );
        assert_eq!(out.price, Some(8.0));
        assert_eq!(fill_of(&out, "b1").unwrap().quantity, 3);
        assert_eq!(fill_of(&out, "b2").unwrap().quantity, 1);
        assert_eq!(fill_of(&out, "s2").unwrap().quantity, 2);
        assert!(fill_of(&out, "b3").is_none() && fill_of(&out, "s3").is_none());
        assert!(out.tie_breaks.is_empty());
    }

    #[test]
    fn midpoint_of_an_open_interval() {
        // Bid 12 x 1, bid 6 x 1; ask 5 x 1, ask 11 x 1.
        // Match 12/5 (1 unit); next bid 6 < ask 11: stop.
        // low = max(accepted ask 5, rejected bid 6) = 6; high = min(accepted bid 12, rejected ask 11) = 11.
        // Price (6 + 11) / 2 = 8.5.
        let out = call_market(&[
            order("b", Side::Buy, 12.0, 1, 0),
            order("c", Side::Buy, 6.0, 1, 1),
            order("s", Side::Sell, 5.0, 1, 2),
            order("t", Side::Sell, 11.0, 1, 3),
        ]);
        assert_eq!(
            out.interval,
            Some(ClearingInterval {
                low: 6.0,
                high: 11.0
            })
        );
        assert_eq!(out.price, Some(8.5));
        assert_eq!(out.volume, 1);
        // Only one bid and one ask, nothing rejected: the interval is [5, 12], price 8.5 too.
        let out = call_market(&[
            order("b", Side::Buy, 12.0, 1, 0),
            order("s", Side::Sell, 5.0, 1, 1),
        ]);
        assert_eq!(
            out.interval,
            Some(ClearingInterval {
                low: 5.0,
                high: 12.0
            })
        );
        assert_eq!(out.price, Some(8.5));
    }

    #[test]
    fn no_crossing_no_trade() {
        let out = call_market(&[
            order("b", Side::Buy, 4.0, 5, 0),
            order("s", Side::Sell, 4.5, 5, 1),
        ]);
        assert_eq!((out.price, out.volume, out.interval), (None, 0, None));
        assert!(out.fills.is_empty());
        assert_eq!(call_market(&[]).price, None);
        assert_eq!(call_market(&[order("b", Side::Buy, 4.0, 5, 0)]).price, None);
    }

    #[test]
    fn equal_prices_served_by_arrival_then_id() {
        // Ask s 5 x 3. Bids at 7: x (arrival 2) x 2, y (arrival 1) x 2, w (arrival 1) x 2.
        // Priority: w (arrival 1, id w < y), y (arrival 1), x (arrival 2).
        // w gets 2, y gets 1 (partly), x nothing.
        // low = max(accepted ask 5, rejected bid 7) = 7; high = lowest accepted bid 7 -> price 7.
        let out = call_market(&[
            order("x", Side::Buy, 7.0, 2, 2),
            order("y", Side::Buy, 7.0, 2, 1),
            order("w", Side::Buy, 7.0, 2, 1),
            order("s", Side::Sell, 5.0, 3, 0),
        ]);
        assert_eq!(out.price, Some(7.0));
        assert_eq!(fill_of(&out, "w").unwrap().quantity, 2);
        assert_eq!(fill_of(&out, "y").unwrap().quantity, 1);
        assert!(fill_of(&out, "x").is_none());
        let tie = &out.tie_breaks[0];
        assert_eq!(tie.ranked, ["w", "y", "x"]);
        assert_eq!(tie.favoured, 2);
        // y (served) vs x (not served): arrival 1 < 2 decided.
        assert_eq!(tie.decided_by, TieRule::EarliestArrival);
    }

    #[test]
    fn invalid_orders_are_rejected_not_fatal() {
        let out = call_market(&[
            order("nan", Side::Buy, f64::NAN, 1, 0),
            order("neg", Side::Sell, -1.0, 1, 1),
            order("zero", Side::Buy, 5.0, 0, 2),
            order("big1", Side::Sell, 1.0, u64::MAX, 3),
            order("big2", Side::Sell, 1.0, 1, 4),
            order("b", Side::Buy, 3.0, 1, 5),
        ]);
        assert_eq!(out.rejected.len(), 4);
        assert!(matches!(
            out.rejected[3].error,
            MarketError::QuantityOverflow { .. }
        ));
        // b buys 1 of big1's units at the ask 1: big1 is partly filled, so it is both the
        // highest accepted and the lowest rejected ask: interval [1, min(3, 1)] = [1, 1].
        assert_eq!(out.volume, 1);
        assert_eq!(out.price, Some(1.0));
    }

    fn orders() -> impl Strategy<Value = Vec<CallOrder>> {
        let one = (0u8..6, any::<bool>(), 0u32..40, 1u64..6, 0u64..5);
        proptest::collection::vec(one, 0..14).prop_map(|v| {
            v.into_iter()
                .map(|(a, buy, p, q, t)| {
                    let side = if buy { Side::Buy } else { Side::Sell };
                    // Half-unit prices make equal prices (ties) common.
                    order(&format!("a{a}"), side, f64::from(p) / 2.0, q, t)
                })
                .enumerate()
                // Distinct agent ids per order, so that (agent, side) names one order; equal
                // arrivals still leave the tie to the agent id.
                .map(|(i, mut o)| {
                    o.agent.push_str(&format!("-{i}"));
                    o
                })
                .collect()
        })
    }

    proptest! {
        #[test]
        fn clearing_invariants(orders in orders()) {
            let out = call_market(&orders);
            let bought: u64 = out.fills.iter().filter(|f| f.side == Side::Buy).map(|f| f.quantity).sum();
            let sold: u64 = out.fills.iter().filter(|f| f.side == Side::Sell).map(|f| f.quantity).sum();
            prop_assert_eq!(bought, out.volume);
            prop_assert_eq!(sold, out.volume);
            let max_bid = orders.iter().filter(|o| o.side == Side::Buy).map(|o| o.price).fold(f64::NEG_INFINITY, f64::max);
            let min_ask = orders.iter().filter(|o| o.side == Side::Sell).map(|o| o.price).fold(f64::INFINITY, f64::min);
            match (out.price, out.interval) {
                (Some(p), Some(ClearingInterval { low, high })) => {
                    prop_assert!(low <= p && p <= high, "{} outside [{}, {}]", p, low, high);
                    prop_assert!(out.volume > 0);
                    for f in &out.fills {
                        prop_assert_eq!(f.price, p);
                        let o = orders.iter().find(|o| o.agent == f.agent).unwrap();
                        prop_assert!(f.quantity <= o.quantity);
                        match f.side {
                            Side::Buy => prop_assert!(o.price >= p, "bid {} below price {}", o.price, p),
                            Side::Sell => prop_assert!(o.price <= p, "ask {} above price {}", o.price, p),
                        }
                    }
                    // Every order strictly better than the whole interval is fully filled.
                    for o in &orders {
                        let filled: u64 = out.fills.iter().filter(|f| f.agent == o.agent).map(|f| f.quantity).sum();
                        let better = match o.side { Side::Buy => o.price > high, Side::Sell => o.price < low };
                        if better { prop_assert_eq!(filled, o.quantity); }
                    }
                }
                (None, None) => {
                    prop_assert_eq!(out.volume, 0);
                    prop_assert!(out.fills.is_empty());
                    prop_assert!(max_bid < min_ask, "crossing bid {} / ask {} but no trade", max_bid, min_ask);
                }
                _ => prop_assert!(false, "price and interval disagree"),
            }
        }

        #[test]
        fn nothing_panics(raw in proptest::collection::vec((any::<bool>(), any::<f64>(), any::<u64>(), any::<u64>()), 0..12)) {
            let orders: Vec<CallOrder> = raw.into_iter().enumerate()
                .map(|(i, (buy, p, q, t))| order(&format!("a{}", i % 4), if buy { Side::Buy } else { Side::Sell }, p, q, t))
                .collect();
            let out = call_market(&orders);
            if let (Some(p), Some(i)) = (out.price, out.interval) {
                prop_assert!(i.low <= p && p <= i.high);
            }
        }
    }
}
