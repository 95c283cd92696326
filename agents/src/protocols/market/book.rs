//! Continuous double auction: a limit order book with price-time priority.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use serde::{Deserialize, Serialize};

use super::{check_price, MarketError, Side};

/// The caller-chosen id of an order, unique within a book.
pub type OrderId = u64;

/// A limit order submitted to an [`OrderBook`].
///
/// [`LimitOrder::new`] makes one order; [`LimitOrder::in_order`] makes a
/// list whose ids are the positions in the list. A limit order has no
/// arrival field: the book's time priority is the order of
/// [`submit`](OrderBook::submit) calls.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LimitOrder {
    /// Unique within the book (never reused, even after the order is gone).
    pub id: OrderId,
    /// The agent.
    pub agent: String,
    /// Buy or sell.
    pub side: Side,
    /// The limit: the most a buyer pays, the least a seller takes, per unit.
    pub price: f64,
    /// Units.
    pub quantity: u64,
}

impl LimitOrder {
    /// Order `id` by `agent` to buy or sell `quantity` units at limit
    /// `price`. The id is the caller's name for the order (to
    /// [`cancel`](OrderBook::cancel) it or ask what
    /// [`remains`](OrderBook::remaining)), so it is given, not defaulted.
    ///
    /// # Examples
    ///
    /// ```
    /// use agents::protocols::market::{LimitOrder, OrderBook, Side};
    ///
    /// let mut book = OrderBook::new();
    /// book.submit(LimitOrder::new(7, "s", Side::Sell, 10.0, 5))?;
    /// assert_eq!(book.remaining(7), Some(5));
    /// # Ok::<(), agents::protocols::market::MarketError>(())
    /// ```
    #[must_use]
    pub fn new(
        id: OrderId,
        agent: impl Into<String>,
        side: Side,
        price: f64,
        quantity: u64,
    ) -> Self {
        LimitOrder {
            id,
            agent: agent.into(),
            side,
            price,
            quantity,
        }
    }

    /// Orders `(agent, side, price, quantity)` to submit in list order:
    /// each one's id is its position in the list (0, 1, 2, ...). Ids are
    /// never reused in a book, so a second list for the same book needs ids
    /// of its own.
    ///
    /// # Examples
    ///
    /// ```
    /// use agents::protocols::market::{LimitOrder, OrderBook, Side};
    ///
    /// let mut book = OrderBook::new();
    /// for order in LimitOrder::in_order([("s", Side::Sell, 10.0, 5), ("b", Side::Buy, 12.0, 3)]) {
    ///     book.submit(order)?;
    /// }
    /// assert_eq!(book.remaining(0), Some(2)); // the sell, id 0, sold 3 of 5
    /// # Ok::<(), agents::protocols::market::MarketError>(())
    /// ```
    #[must_use]
    pub fn in_order<I, S>(orders: I) -> Vec<LimitOrder>
    where
        I: IntoIterator<Item = (S, Side, f64, u64)>,
        S: Into<String>,
    {
        (0..)
            .zip(orders)
            .map(|(id, (agent, side, price, quantity))| {
                LimitOrder::new(id, agent, side, price, quantity)
            })
            .collect()
    }
}

/// A trade between an incoming order and a resting one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trade {
    /// The buy order.
    pub buy_order: OrderId,
    /// The sell order.
    pub sell_order: OrderId,
    /// The buying agent.
    pub buyer: String,
    /// The selling agent.
    pub seller: String,
    /// The resting order's price.
    pub price: f64,
    /// Units traded.
    pub quantity: u64,
    /// The side of the incoming order that caused the trade.
    pub aggressor: Side,
}

/// An order waiting in the book.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RestingOrder {
    /// Its id.
    pub id: OrderId,
    /// The agent.
    pub agent: String,
    /// Its side.
    pub side: Side,
    /// Its limit price.
    pub price: f64,
    /// Units still open.
    pub remaining: u64,
    /// Units originally submitted.
    pub quantity: u64,
    /// Submission number within the book (time priority: lower first).
    pub sequence: u64,
}

/// The orders at one price.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Level {
    /// The price.
    pub price: f64,
    /// Units open at this price.
    pub quantity: u64,
    /// Number of orders at this price.
    pub orders: usize,
}

/// A finite, non-negative price with `-0.0` read as `0.0`, ordered totally.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Price(f64);

impl Eq for Price {}

impl PartialOrd for Price {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Price {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// A limit order book for a continuous double auction.
///
/// * **Price-time priority**: the best price first (highest bid, lowest
///   ask), and at one price the earliest submitted first.
/// * **Matching** on [`submit`](Self::submit): an incoming buy trades with
///   resting asks priced at or below its limit, an incoming sell with
///   resting bids at or above it, best first, each trade at the *resting*
///   order's price; partial fills leave the rest of the resting order in
///   place; whatever the incoming order has left rests at its limit.
///   Afterwards the book is never crossed (best bid < best ask).
/// * An agent's orders may trade with each other (no self-trade prevention).
///
/// # Examples
///
/// ```
/// use agents::protocols::market::{LimitOrder, OrderBook, Side};
///
/// let mut book = OrderBook::new();
/// book.submit(LimitOrder::new(1, "s", Side::Sell, 10.0, 5))?;
/// let trades = book.submit(LimitOrder::new(2, "b", Side::Buy, 12.0, 3))?;
/// assert_eq!((trades[0].price, trades[0].quantity), (10.0, 3)); // at the resting price
/// assert_eq!(book.remaining(1), Some(2));
/// assert_eq!(book.best_ask(), Some(10.0));
/// # Ok::<(), agents::protocols::market::MarketError>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct OrderBook {
    bids: BTreeMap<Price, VecDeque<RestingOrder>>,
    asks: BTreeMap<Price, VecDeque<RestingOrder>>,
    /// Where each resting order sits.
    index: HashMap<OrderId, (Side, Price)>,
    /// Every id ever submitted.
    used: HashSet<OrderId>,
    /// Units resting on the buy and the sell side.
    open_bids: u64,
    open_asks: u64,
    next_sequence: u64,
}

impl OrderBook {
    /// An empty book.
    pub fn new() -> Self {
        Self::default()
    }

    /// Submits a limit order: it trades at once against the opposite side as
    /// far as its limit allows, and the rest rests in the book.
    ///
    /// # Errors
    ///
    /// The order is refused (and the book unchanged) if its price is
    /// negative or not finite ([`MarketError::InvalidPrice`]), its quantity
    /// is zero ([`MarketError::ZeroQuantity`]), its id was used before
    /// ([`MarketError::DuplicateOrderId`]), or it could take the units open
    /// on its side past `u64::MAX` ([`MarketError::QuantityOverflow`]).
    pub fn submit(&mut self, order: LimitOrder) -> Result<Vec<Trade>, MarketError> {
        let price = check_price(&order.agent, order.price)?;
        if order.quantity == 0 {
            return Err(MarketError::ZeroQuantity { agent: order.agent });
        }
        if self.used.contains(&order.id) {
            return Err(MarketError::DuplicateOrderId {
                agent: order.agent,
                id: order.id,
            });
        }
        let open = match order.side {
            Side::Buy => self.open_bids,
            Side::Sell => self.open_asks,
        };
        if open.checked_add(order.quantity).is_none() {
            return Err(MarketError::QuantityOverflow {
                agent: order.agent,
                quantity: order.quantity,
                side: order.side,
            });
        }
        self.used.insert(order.id);
        let mut left = order.quantity;
        let mut trades = Vec::new();
        while left > 0 {
            let (opposite, open_opposite) = match order.side {
                Side::Buy => (&mut self.asks, &mut self.open_asks),
                Side::Sell => (&mut self.bids, &mut self.open_bids),
            };
            let best = match order.side {
                Side::Buy => opposite.first_entry(),
                Side::Sell => opposite.last_entry(),
            };
            let Some(mut level) = best else { break };
            let level_price = level.key().0;
            let crosses = match order.side {
                Side::Buy => level_price <= price,
                Side::Sell => level_price >= price,
            };
            if !crosses {
                break;
            }
            let queue = level.get_mut();
            let Some(resting) = queue.front_mut() else {
                level.remove();
                continue;
            };
            let quantity = left.min(resting.remaining);
            left -= quantity;
            resting.remaining -= quantity;
            *open_opposite -= quantity;
            let (buy, sell) = match order.side {
                Side::Buy => ((order.id, &order.agent), (resting.id, &resting.agent)),
                Side::Sell => ((resting.id, &resting.agent), (order.id, &order.agent)),
            };
            trades.push(Trade {
                buy_order: buy.0,
                sell_order: sell.0,
                buyer: buy.1.clone(),
                seller: sell.1.clone(),
                price: level_price,
                quantity,
                aggressor: order.side,
            });
            if resting.remaining == 0 {
                let id = resting.id;
                queue.pop_front();
                self.index.remove(&id);
                if queue.is_empty() {
                    level.remove();
                }
            }
        }
        if left > 0 {
            let resting = RestingOrder {
                id: order.id,
                agent: order.agent,
                side: order.side,
                price,
                remaining: left,
                quantity: order.quantity,
                sequence: self.next_sequence,
            };
            let own = match order.side {
                Side::Buy => {
                    self.open_bids += left;
                    &mut self.bids
                }
                Side::Sell => {
                    self.open_asks += left;
                    &mut self.asks
                }
            };
            own.entry(Price(price)).or_default().push_back(resting);
            self.index.insert(order.id, (order.side, Price(price)));
        }
        self.next_sequence = self.next_sequence.wrapping_add(1);
        Ok(trades)
    }

    /// Removes a resting order and returns it with its open quantity.
    ///
    /// # Errors
    ///
    /// [`MarketError::UnknownOrder`] if no resting order has this id (never
    /// submitted, fully filled, or already cancelled).
    pub fn cancel(&mut self, id: OrderId) -> Result<RestingOrder, MarketError> {
        let unknown = MarketError::UnknownOrder { id };
        let (side, price) = self.index.get(&id).copied().ok_or(unknown.clone())?;
        let levels = match side {
            Side::Buy => &mut self.bids,
            Side::Sell => &mut self.asks,
        };
        let queue = levels.get_mut(&price).ok_or(unknown.clone())?;
        let at = queue
            .iter()
            .position(|o| o.id == id)
            .ok_or(unknown.clone())?;
        let order = queue.remove(at).ok_or(unknown)?;
        if queue.is_empty() {
            levels.remove(&price);
        }
        self.index.remove(&id);
        match side {
            Side::Buy => self.open_bids -= order.remaining,
            Side::Sell => self.open_asks -= order.remaining,
        }
        Ok(order)
    }

    /// The highest resting bid price.
    pub fn best_bid(&self) -> Option<f64> {
        self.bids.keys().next_back().map(|p| p.0)
    }

    /// The lowest resting ask price.
    pub fn best_ask(&self) -> Option<f64> {
        self.asks.keys().next().map(|p| p.0)
    }

    /// The levels of one side, best price first.
    pub fn depth(&self, side: Side) -> Vec<Level> {
        let level = |(price, queue): (&Price, &VecDeque<RestingOrder>)| Level {
            price: price.0,
            quantity: queue.iter().map(|o| o.remaining).sum(),
            orders: queue.len(),
        };
        match side {
            Side::Buy => self.bids.iter().rev().map(level).collect(),
            Side::Sell => self.asks.iter().map(level).collect(),
        }
    }

    /// A resting order by id.
    pub fn order(&self, id: OrderId) -> Option<&RestingOrder> {
        let (side, price) = self.index.get(&id)?;
        let levels = match side {
            Side::Buy => &self.bids,
            Side::Sell => &self.asks,
        };
        levels.get(price)?.iter().find(|o| o.id == id)
    }

    /// The open quantity of a resting order (`None` once filled or
    /// cancelled, or if never submitted).
    pub fn remaining(&self, id: OrderId) -> Option<u64> {
        self.order(id).map(|o| o.remaining)
    }

    /// The units open on one side.
    pub fn open_quantity(&self, side: Side) -> u64 {
        match side {
            Side::Buy => self.open_bids,
            Side::Sell => self.open_asks,
        }
    }

    /// The number of resting orders.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Whether no order rests in the book.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn order(id: OrderId, agent: &str, side: Side, price: f64, quantity: u64) -> LimitOrder {
        LimitOrder {
            id,
            agent: agent.into(),
            side,
            price,
            quantity,
        }
    }

    #[test]
    fn worked_example() {
        // Resting asks: 1: 5 @ 101 (first), 2: 3 @ 101, 3: 4 @ 103.
        let mut book = OrderBook::new();
        assert!(book
            .submit(order(1, "s1", Side::Sell, 101.0, 5))
            .unwrap()
            .is_empty());
        book.submit(order(2, "s2", Side::Sell, 101.0, 3)).unwrap();
        book.submit(order(3, "s3", Side::Sell, 103.0, 4)).unwrap();
        assert_eq!(
            book.depth(Side::Sell),
            [
                Level {
                    price: 101.0,
                    quantity: 8,
                    orders: 2
                },
                Level {
                    price: 103.0,
                    quantity: 4,
                    orders: 1
                }
            ]
        );
        // Buy 10 @ 102: takes 5 from order 1 (time priority), then 3 from order 2, both at 101;
        // 103 > 102 stops it; 2 units rest as a bid at 102.
        let trades = book.submit(order(4, "b", Side::Buy, 102.0, 10)).unwrap();
        let summary: Vec<(OrderId, f64, u64)> = trades
            .iter()
            .map(|t| (t.sell_order, t.price, t.quantity))
            .collect();
        assert_eq!(summary, [(1, 101.0, 5), (2, 101.0, 3)]);
        assert!(trades
            .iter()
            .all(|t| t.buy_order == 4 && t.aggressor == Side::Buy));
        assert_eq!(
            (book.best_bid(), book.best_ask()),
            (Some(102.0), Some(103.0))
        );
        assert_eq!(book.remaining(4), Some(2));
        assert_eq!(book.remaining(1), None);
        // Sell 3 @ 100: trades 2 with the bid at 102 (its resting price); no bid is left,
        // so the last unit rests as an ask at 100, below the ask at 103.
        let trades = book.submit(order(5, "s4", Side::Sell, 100.0, 3)).unwrap();
        assert_eq!(
            (trades.len(), trades[0].price, trades[0].quantity),
            (1, 102.0, 2)
        );
        assert_eq!((book.best_bid(), book.best_ask()), (None, Some(100.0)));
        assert_eq!(book.len(), 2);
    }

    #[test]
    fn cancel_and_errors() {
        let mut book = OrderBook::new();
        book.submit(order(1, "a", Side::Buy, 10.0, 2)).unwrap();
        book.submit(order(2, "b", Side::Buy, 10.0, 3)).unwrap();
        let gone = book.cancel(1).unwrap();
        assert_eq!((gone.remaining, gone.agent.as_str()), (2, "a"));
        assert_eq!(book.cancel(1), Err(MarketError::UnknownOrder { id: 1 }));
        assert_eq!(
            book.depth(Side::Buy),
            [Level {
                price: 10.0,
                quantity: 3,
                orders: 1
            }]
        );
        assert!(matches!(
            book.submit(order(1, "a", Side::Buy, 9.0, 1)),
            Err(MarketError::DuplicateOrderId { id: 1, .. })
        ));
        assert!(matches!(
            book.submit(order(7, "a", Side::Buy, f64::NAN, 1)),
            Err(MarketError::InvalidPrice { .. })
        ));
        assert!(matches!(
            book.submit(order(8, "a", Side::Sell, -2.0, 1)),
            Err(MarketError::InvalidPrice { .. })
        ));
        assert!(matches!(
            book.submit(order(9, "a", Side::Sell, 2.0, 0)),
            Err(MarketError::ZeroQuantity { .. })
        ));
        assert!(matches!(
            book.submit(order(10, "a", Side::Buy, 1.0, u64::MAX)),
            Err(MarketError::QuantityOverflow { .. })
        ));
        assert_eq!(book.open_quantity(Side::Buy), 3);
        // A rejected id is not consumed.
        book.submit(order(7, "a", Side::Sell, 10.0, 3)).unwrap();
        assert!(book.is_empty());
    }

    #[derive(Debug, Clone)]
    enum Op {
        Submit(bool, u8, u64),
        Cancel(u64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => (any::<bool>(), 0u8..20, 1u64..10).prop_map(|(b, p, q)| Op::Submit(b, p, q)),
            1 => (0u64..40).prop_map(Op::Cancel),
        ]
    }

    proptest! {
        #[test]
        fn never_crossed_and_quantities_conserved(ops in proptest::collection::vec(op(), 0..80)) {
            let mut book = OrderBook::new();
            // Per order: submitted, traded, cancelled.
            let mut submitted: HashMap<OrderId, (Side, f64, u64)> = HashMap::new();
            let mut traded: HashMap<OrderId, u64> = HashMap::new();
            let mut cancelled: HashMap<OrderId, u64> = HashMap::new();
            for (n, op) in ops.into_iter().enumerate() {
                let id = n as u64;
                match op {
                    Op::Submit(buy, p, q) => {
                        let side = if buy { Side::Buy } else { Side::Sell };
                        let price = f64::from(p) / 2.0 + 90.0;
                        let before = book.clone();
                        let trades = book.submit(order(id, &format!("a{}", p % 3), side, price, q)).unwrap();
                        submitted.insert(id, (side, price, q));
                        for t in &trades {
                            prop_assert_eq!(t.aggressor, side);
                            let (incoming, resting) = match side {
                                Side::Buy => (t.buy_order, t.sell_order),
                                Side::Sell => (t.sell_order, t.buy_order),
                            };
                            prop_assert_eq!(incoming, id);
                            // Trades at the resting order's price, within the incoming limit.
                            let rest = before.order(resting).unwrap();
                            prop_assert_eq!(t.price, rest.price);
                            match side {
                                Side::Buy => prop_assert!(t.price <= price),
                                Side::Sell => prop_assert!(t.price >= price),
                            }
                            *traded.entry(t.buy_order).or_default() += t.quantity;
                            *traded.entry(t.sell_order).or_default() += t.quantity;
                        }
                    }
                    Op::Cancel(target) => {
                        if let Ok(o) = book.cancel(target) {
                            cancelled.insert(target, o.remaining);
                        }
                    }
                }
                if let (Some(b), Some(a)) = (book.best_bid(), book.best_ask()) {
                    prop_assert!(b < a, "crossed: bid {} >= ask {}", b, a);
                }
                // Conservation: submitted = traded + resting + cancelled, for every order.
                for (oid, (_, _, q)) in &submitted {
                    let t = traded.get(oid).copied().unwrap_or(0);
                    let r = book.remaining(*oid).unwrap_or(0);
                    let c = cancelled.get(oid).copied().unwrap_or(0);
                    prop_assert_eq!(*q, t + r + c, "order {}", oid);
                }
                for side in [Side::Buy, Side::Sell] {
                    let depth: u64 = book.depth(side).iter().map(|l| l.quantity).sum();
                    prop_assert_eq!(depth, book.open_quantity(side));
                }
            }
            // Bought = sold is built into trades; check units traded per side agree.
            let buys: u64 = submitted.iter().filter(|(_, (s, _, _))| *s == Side::Buy).map(|(id, _)| traded.get(id).copied().unwrap_or(0)).sum();
            let sells: u64 = submitted.iter().filter(|(_, (s, _, _))| *s == Side::Sell).map(|(id, _)| traded.get(id).copied().unwrap_or(0)).sum();
            prop_assert_eq!(buys, sells);
        }

        #[test]
        fn nothing_panics(raw in proptest::collection::vec((any::<bool>(), any::<u64>(), any::<f64>(), any::<u64>(), any::<bool>()), 0..40)) {
            let mut book = OrderBook::new();
            for (buy, id, price, quantity, cancel) in raw {
                let id = id % 16;
                if cancel {
                    let _ = book.cancel(id);
                } else {
                    let side = if buy { Side::Buy } else { Side::Sell };
                    let _ = book.submit(order(id, "x", side, price, quantity));
                }
                if let (Some(b), Some(a)) = (book.best_bid(), book.best_ask()) {
                    prop_assert!(b < a);
                }
            }
        }
    }
}
