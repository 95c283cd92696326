//! Markets run by coordinators and the market service on one node (and
//! one test across two nodes in this process): exact outcomes of the rules,
//! late agents missing, invalid orders rejected and told, fills told.

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actor_cluster::Node;
use actor_cluster::Server;
use agents::protocols::market::{
    CallForCompute, CallForOrders, Compute, ComputeNeed, ComputeOffer, Filled, MarketError, Quote,
    Settled, Settlement, Side, Traded, TIE_RULE,
};
use agents::{
    Agent, AgentError, Agents, CallMarketSpec, ComputeSpec, Families, Market, NewOrder, Trader,
};

/// What a trader was told: market notices and rejections.
type Inbox = Arc<Mutex<Vec<String>>>;

#[derive(Clone, Default)]
struct Desk {
    id: &'static str,
    quotes: Vec<Quote>,
    need: Option<ComputeNeed>,
    offer: Option<ComputeOffer>,
    delay: Duration,
    inbox: Inbox,
}

impl Desk {
    fn new(id: &'static str) -> Self {
        Self {
            id,
            ..Self::default()
        }
    }
    fn quote(mut self, side: Side, price: f64, quantity: u64) -> Self {
        self.quotes.push(Quote {
            side,
            price,
            quantity,
        });
        self
    }
    fn need(mut self, units: u64, max_price: u64, budget: Option<u64>) -> Self {
        self.need = Some(ComputeNeed {
            units,
            max_price,
            budget,
        });
        self
    }
    fn offer(mut self, units: u64, min_price: u64) -> Self {
        self.offer = Some(ComputeOffer { units, min_price });
        self
    }
    fn delay(mut self, ms: u64) -> Self {
        self.delay = Duration::from_millis(ms);
        self
    }
}

impl Server for Desk {}

impl Agent for Desk {
    fn id(&self) -> String {
        self.id.to_owned()
    }
    fn capabilities(&self) -> Vec<String> {
        vec!["trader".into()]
    }
    async fn rejected(&mut self, protocol: &str, reason: &str) {
        self.inbox
            .lock()
            .unwrap()
            .push(format!("{} rejected by {protocol}: {reason}", self.id));
    }

    fn families(families: &mut Families<Self>) {
        families.trader();
    }
}

impl Trader for Desk {
    async fn orders(&mut self, _call: &CallForOrders) -> Vec<Quote> {
        tokio::time::sleep(self.delay).await;
        self.quotes.clone()
    }

    async fn compute(&mut self, _call: &CallForCompute) -> Compute {
        tokio::time::sleep(self.delay).await;
        Compute {
            need: self.need,
            offer: self.offer,
        }
    }

    async fn filled(&mut self, notice: &Filled) {
        let units: u64 = notice.fills.iter().map(|f| f.quantity).sum();
        self.told(format!(
            "{} filled {units} at {}",
            self.id, notice.fills[0].price
        ));
    }

    async fn settled(&mut self, notice: &Settled) {
        let s = &notice.settlement;
        self.told(format!(
            "{} settled bought {} sold {} paid {} received {}",
            self.id, s.units_bought, s.units_sold, s.cash_paid, s.cash_received
        ));
    }

    async fn traded(&mut self, notice: &Traded) {
        self.told(format!(
            "{} traded {} at {}",
            self.id, notice.trade.quantity, notice.trade.price
        ));
    }
}

impl Desk {
    /// Notes a notice in the test's inbox.
    fn told(&self, line: String) {
        self.inbox.lock().unwrap().push(line);
    }
}

async fn node(name: &str) -> Node {
    support::lone_node(name).await
}

/// A node named `name` running `traders`, all writing to one inbox.
async fn setup(name: &str, traders: Vec<Desk>) -> (Node, Agents, Inbox) {
    let node = node(name).await;
    let agents = Agents::start(&node).await.expect("agents");
    let inbox = Inbox::default();
    for t in traders {
        let t = Desk {
            inbox: inbox.clone(),
            ..t
        };
        agents.spawn(move || t.clone()).await.expect("spawn");
    }
    (node, agents, inbox)
}

/// Waits until the inbox holds every line of `want` (deadline 5 s).
async fn told(inbox: &Inbox, want: &[&str]) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let got = inbox.lock().unwrap().clone();
        if want.iter().all(|w| got.iter().any(|g| g.starts_with(w))) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "never told {want:?}; got {got:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn call_market_clears_at_the_midpoint_and_tells_fills_and_rejections() {
    let (node, agents, inbox) = setup(
        "call",
        vec![
            Desk::new("b1").quote(Side::Buy, 10.0, 3),
            Desk::new("b2").quote(Side::Buy, 8.0, 2),
            Desk::new("b3").quote(Side::Buy, 5.0, 4),
            Desk::new("s1").quote(Side::Sell, 4.0, 2),
            Desk::new("s2").quote(Side::Sell, 7.0, 2),
            Desk::new("s3").quote(Side::Sell, 9.0, 3),
            // Invalid orders: rejected, the market still clears.
            Desk::new("bad")
                .quote(Side::Buy, -1.0, 5)
                .quote(Side::Sell, 3.0, 0)
                .quote(Side::Buy, f64::INFINITY, 1),
            // Would buy everything at 20, but answers after the deadline.
            Desk::new("late").quote(Side::Buy, 20.0, 9).delay(1500),
            // Answers without orders.
            Desk::new("idle"),
        ],
    )
    .await;
    let result = agents
        .run(CallMarketSpec::new(
            "gpu",
            "trader",
            Duration::from_millis(500),
        ))
        .await
        .unwrap();
    // Bids b1 10x3, b2 8x2, b3 5x4; asks s1 4x2, s2 7x2, s3 9x3.
    // Matching: b1/s1 2, b1/s2 1, b2/s2 1; then s3 9 > b2 8: volume 4.
    // Accepted bids b1, b2 (partly); rejected bids b2 8, b3 5; accepted asks
    // s1, s2; rejected ask s3 9. Interval [max(7, 8), min(8, 9)] = [8, 8]: price 8.
    assert_eq!((result.price, result.volume), (Some(8.0), 4));
    let interval = result.outcome.interval.unwrap();
    assert_eq!((interval.low, interval.high), (8.0, 8.0));
    let mut fills: Vec<(&str, u64)> = result
        .outcome
        .fills
        .iter()
        .map(|f| (f.agent.as_str(), f.quantity))
        .collect();
    fills.sort();
    assert_eq!(fills, [("b1", 3), ("b2", 1), ("s1", 2), ("s2", 2)]);
    let rejected: Vec<&str> = result
        .outcome
        .rejected
        .iter()
        .map(|r| r.agent.as_str())
        .collect();
    assert_eq!(rejected, ["bad", "bad", "bad"]);
    assert!(result
        .outcome
        .rejected
        .iter()
        .any(|r| matches!(r.error, MarketError::ZeroQuantity { .. })));
    assert_eq!(result.declined, ["idle"]);
    assert_eq!(result.missing.len(), 1);
    assert_eq!(result.missing[0].agent, "late");
    assert_eq!(result.missing[0].reason, "no answer before the deadline");
    assert_eq!(
        result.orders.len(),
        9,
        "6 valid + 3 invalid orders received"
    );
    assert_eq!(result.tie_breaks, [TIE_RULE]);
    told(
        &inbox,
        &[
            "b1 filled 3 at 8",
            "b2 filled 1 at 8",
            "s1 filled 2 at 8",
            "s2 filled 2 at 8",
            "bad rejected by call_market: bad: price -1 is invalid: negative",
            "bad rejected by call_market: bad: quantity must be at least one unit",
            "bad rejected by call_market: bad: price inf is invalid: not a finite number",
        ],
    )
    .await;
    assert!(!inbox
        .lock()
        .unwrap()
        .iter()
        .any(|l| l.starts_with("b3 filled")));
    node.shutdown().await;
}

#[tokio::test]
async fn equally_priced_asks_are_served_by_arrival() {
    // s-slow asks 5 like s-fast but answers 200 ms later: the buyer's 2 units
    // go to s-fast. Interval: low = highest accepted ask 5; high = min(lowest
    // accepted bid 9, lowest rejected ask 5) = 5: price 5.
    let (node, agents, _inbox) = setup(
        "ties",
        vec![
            Desk::new("buyer").quote(Side::Buy, 9.0, 2),
            Desk::new("s-fast").quote(Side::Sell, 5.0, 2),
            Desk::new("s-slow").quote(Side::Sell, 5.0, 2).delay(200),
        ],
    )
    .await;
    let spec = CallMarketSpec::new("cpu", "trader", Duration::from_secs(2));
    let result = agents.run(spec).await.unwrap();
    assert_eq!((result.price, result.volume), (Some(5.0), 2));
    let sold: Vec<&str> = result
        .outcome
        .fills
        .iter()
        .filter(|f| f.side == Side::Sell)
        .map(|f| f.agent.as_str())
        .collect();
    assert_eq!(sold, ["s-fast"]);
    assert_eq!(result.tie_breaks.len(), 2, "{:?}", result.tie_breaks);
    assert!(result.tie_breaks[1].contains("earliest arrival"));
    node.shutdown().await;
}

#[tokio::test]
async fn invalid_specs_are_refused_before_anyone_is_asked() {
    let (node, agents, inbox) = setup("specs", vec![Desk::new("t")]).await;
    let err = agents
        .run(CallMarketSpec::new("gpu", "trader", Duration::ZERO))
        .await;
    assert!(matches!(err, Err(AgentError::InvalidParameters(_))));
    let err = agents
        .run(CallMarketSpec::new(
            "g p u",
            "trader",
            Duration::from_secs(1),
        ))
        .await;
    assert!(matches!(err, Err(AgentError::InvalidParameters(_))));
    let err = agents
        .run(ComputeSpec::new("gpu", "nobody", Duration::from_secs(1)))
        .await;
    assert!(matches!(err, Err(AgentError::NoParticipants(_))));
    assert!(inbox.lock().unwrap().is_empty());
    node.shutdown().await;
}

#[tokio::test]
async fn compute_is_allocated_and_settled_per_agent() {
    let (node, agents, inbox) = setup(
        "compute",
        vec![
            Desk::new("A").need(5, 12, Some(100)),
            Desk::new("B").need(4, 10, Some(30)),
            Desk::new("C").need(2, 6, None),
            Desk::new("X").offer(4, 5),
            Desk::new("Y").offer(3, 9),
            Desk::new("Z").offer(5, 11),
            // A budget of 5 cannot buy one unit at 8: rejected and told.
            Desk::new("poor").need(3, 8, Some(5)),
            Desk::new("late").need(10, 50, None).delay(1500),
        ],
    )
    .await;
    let spec = ComputeSpec::new("gpu-hours", "trader", Duration::from_millis(500));
    let result = agents.run(spec).await.unwrap();
    // Bids: A 5 @ 12 (min(5, 100 / 12 = 8)), B 3 @ 10 (min(4, 30 / 10)), C 2 @ 6.
    // Asks: X 4 @ 5, Y 3 @ 9, Z 5 @ 11.
    // Matching: A/X 4, A/Y 1, B/Y 2; then B 10 < Z 11: volume 7.
    // Interval [max(9, B 10 partly rejected), min(B 10, Z 11)] = [10, 10]: price 10.
    assert_eq!(result.price, Some(10));
    // (agent, units bought, units sold, paid, received), by agent id.
    let settled =
        |(agent, units_bought, units_sold, cash_paid, cash_received): (&str, _, _, _, _)| {
            Settlement {
                agent: agent.into(),
                units_bought,
                units_sold,
                cash_paid,
                cash_received,
            }
        };
    let want: Vec<Settlement> = [
        ("A", 5, 0, 50, 0),
        ("B", 2, 0, 20, 0),
        ("C", 0, 0, 0, 0),
        ("X", 0, 4, 0, 40),
        ("Y", 0, 3, 0, 30),
        ("Z", 0, 0, 0, 0),
        ("poor", 0, 0, 0, 0),
    ]
    .into_iter()
    .map(settled)
    .collect();
    assert_eq!(result.settlements, want);
    assert_eq!(result.outcome.rejected.len(), 1);
    assert!(matches!(
        result.outcome.rejected[0].error,
        MarketError::BudgetTooSmall { .. }
    ));
    assert_eq!(result.missing.len(), 1);
    assert_eq!(result.missing[0].agent, "late");
    told(
        &inbox,
        &[
            "A settled bought 5 sold 0 paid 50 received 0",
            "B settled bought 2 sold 0 paid 20 received 0",
            "X settled bought 0 sold 4 paid 0 received 40",
            "Y settled bought 0 sold 3 paid 0 received 30",
            "poor rejected by compute_allocation: poor: budget 5 cannot pay",
        ],
    )
    .await;
    node.shutdown().await;
}

#[tokio::test]
async fn the_market_service_matches_continuously_and_tells_owners() {
    let (node, _agents, inbox) = setup("cda", vec![Desk::new("seller")]).await;
    let gpu = Market::start(&node, "gpu").await.unwrap();
    assert!(matches!(
        Market::start(&node, "gpu").await,
        Err(AgentError::Cluster(_))
    ));
    assert!(matches!(
        Market::find(&node, "tpu").await,
        Err(AgentError::UnknownMarket(_))
    ));
    // Resting asks: 1: seller 5 @ 101, 2: other 3 @ 101, 3: other 4 @ 103.
    assert_eq!(
        gpu.submit(NewOrder::sell("seller", 101.0, 5))
            .await
            .unwrap()
            .id,
        1
    );
    gpu.submit(NewOrder::sell("other", 101.0, 3)).await.unwrap();
    gpu.submit(NewOrder::sell("other", 103.0, 4)).await.unwrap();
    // Buy 10 @ 102: 5 from order 1 (time priority), 3 from order 2, both at
    // 101 (the resting price); 103 > 102 stops it; 2 rest at 102.
    let done = gpu.submit(NewOrder::buy("buyer", 102.0, 10)).await.unwrap();
    let trades: Vec<(u64, f64, u64)> = done
        .trades
        .iter()
        .map(|t| (t.sell_order, t.price, t.quantity))
        .collect();
    assert_eq!(trades, [(1, 101.0, 5), (2, 101.0, 3)]);
    assert_eq!((done.id, done.resting), (4, 2));
    let book = gpu.book(10).await.unwrap();
    assert_eq!((book.best_bid, book.best_ask), (Some(102.0), Some(103.0)));
    assert_eq!(
        (book.orders, book.trades, book.last_price),
        (2, 2, Some(101.0))
    );
    // Invalid orders are refused; the book is unchanged.
    assert!(matches!(
        gpu.submit(NewOrder::buy("buyer", -3.0, 1)).await,
        Err(AgentError::Market(MarketError::InvalidPrice { .. }))
    ));
    assert!(matches!(
        gpu.submit(NewOrder::buy("buyer", 3.0, 0)).await,
        Err(AgentError::Market(MarketError::ZeroQuantity { .. }))
    ));
    let cancelled = gpu.cancel(4).await.unwrap();
    assert_eq!(cancelled.remaining, 2);
    assert!(matches!(
        gpu.cancel(4).await,
        Err(AgentError::Market(MarketError::UnknownOrder { id: 4 }))
    ));
    assert_eq!(gpu.book(10).await.unwrap().best_bid, None);
    let log = gpu.trades(1).await.unwrap();
    assert_eq!((log.first, log.total, log.trades[0].quantity), (1, 2, 3));
    // The owner that is an agent is told of its trade.
    told(&inbox, &["seller traded 5 at 101"]).await;
    gpu.clone().close().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while Market::find(&node, "gpu").await.is_ok() {
        assert!(Instant::now() < deadline, "the name is never released");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The name is free again.
    Market::start(&node, "gpu").await.unwrap();
    node.shutdown().await;
}

#[tokio::test]
async fn a_market_on_another_node_answers_the_same_calls() {
    let host = node("market-host").await;
    let client = Node::builder()
        .name("market-client")
        .cookie(support::COOKIE)
        .listen("127.0.0.1:0".parse().expect("addr"))
        .no_discovery()
        .seed(host.addr().to_string())
        .start()
        .await
        .unwrap();
    let agents = Agents::start(&client).await.unwrap();
    let inbox = Inbox::default();
    let buyer = Desk {
        inbox: inbox.clone(),
        ..Desk::new("remote-buyer")
    };
    agents.spawn(move || buyer.clone()).await.unwrap();
    Market::start(&host, "gpu").await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let gpu = loop {
        match Market::find(&client, "gpu").await {
            Ok(m) => break m,
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await
            }
            Err(e) => panic!("the market never became visible: {e}"),
        }
    };
    gpu.submit(NewOrder::sell("host-seller", 7.5, 4))
        .await
        .unwrap();
    let done = gpu
        .submit(NewOrder::buy("remote-buyer", 8.0, 6))
        .await
        .unwrap();
    // 4 units at the resting 7.5; 2 rest at 8.
    assert_eq!(
        (done.trades[0].price, done.trades[0].quantity, done.resting),
        (7.5, 4, 2)
    );
    assert_eq!(gpu.book(1).await.unwrap().best_bid, Some(8.0));
    // The market, on the host, tells the agent on the client node.
    told(&inbox, &["remote-buyer traded 4 at 7.5"]).await;
    client.shutdown().await;
    host.shutdown().await;
}
