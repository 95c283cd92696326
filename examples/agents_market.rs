//! Agents trade: a call market, a compute allocation with settlement per
//! agent, and a continuous double auction, on one node.
//!
//! `cargo run --example agents_market`
//!
//! The same calls work unchanged when the agents (or the market) live on
//! other nodes: see `tests/markets.rs`, which runs them across three
//! processes.

use std::time::Duration;

use agents::protocols::market::{
    CallForCompute, CallForOrders, Compute, ComputeNeed, ComputeOffer, Quote, Side,
};
use agents::{CallMarketSpec, ComputeSpec, Market, NewOrder};
use foundation::prelude::*;

/// An agent with fixed orders, and a fixed need or offer of compute.
#[derive(Clone)]
struct Desk {
    id: &'static str,
    quote: Option<Quote>,
    need: Option<ComputeNeed>,
    offer: Option<ComputeOffer>,
}

impl Server for Desk {}

impl Agent for Desk {
    fn id(&self) -> String {
        self.id.to_owned()
    }
    fn capabilities(&self) -> Vec<String> {
        vec!["trader".into()]
    }

    fn families(families: &mut Families<Self>) {
        families.trader();
    }
}

impl Trader for Desk {
    async fn orders(&mut self, _call: &CallForOrders) -> Vec<Quote> {
        self.quote.into_iter().collect()
    }

    async fn compute(&mut self, _call: &CallForCompute) -> Compute {
        Compute {
            need: self.need,
            offer: self.offer,
        }
    }
    // Notices (call market fills, compute settlements, trades in the
    // continuous double auction) are ignored by default.
}

fn trader(id: &'static str, side: Side, price: f64, quantity: u64) -> Desk {
    Desk {
        id,
        quote: Some(Quote {
            side,
            price,
            quantity,
        }),
        need: None,
        offer: None,
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let node = Node::builder()
        .name("market-demo")
        .cookie("demo")
        .listen("127.0.0.1:7213".parse()?)
        .no_discovery()
        .start()
        .await?;
    let agents = Agents::start(&node).await?;
    // Call market orders, and what each needs (units x value, budget) or
    // offers (units x cost) of compute.
    let traders = [
        Desk {
            need: Some(ComputeNeed {
                units: 5,
                max_price: 12,
                budget: Some(100),
            }),
            ..trader("ana", Side::Buy, 10.0, 3)
        },
        Desk {
            need: Some(ComputeNeed {
                units: 4,
                max_price: 10,
                budget: Some(30),
            }),
            ..trader("ben", Side::Buy, 8.0, 2)
        },
        trader("cai", Side::Buy, 5.0, 4),
        Desk {
            offer: Some(ComputeOffer {
                units: 4,
                min_price: 5,
            }),
            ..trader("dee", Side::Sell, 4.0, 2)
        },
        Desk {
            offer: Some(ComputeOffer {
                units: 3,
                min_price: 9,
            }),
            ..trader("eli", Side::Sell, 7.0, 2)
        },
        Desk {
            offer: Some(ComputeOffer {
                units: 5,
                min_price: 11,
            }),
            ..trader("fay", Side::Sell, 9.0, 3)
        },
    ];
    for t in traders {
        agents.spawn(move || t.clone()).await?;
    }

    // Call market. Bids ana 10x3, ben 8x2, cai 5x4; asks dee 4x2, eli 7x2, fay 9x3.
    // Matching: ana/dee 2, ana/eli 1, ben/eli 1; then fay 9 > ben 8: volume 4.
    // Clearing interval [max(highest accepted ask 7, highest rejected bid 8),
    // min(lowest accepted bid 8, lowest rejected ask 9)] = [8, 8]: price 8.
    println!("call market:");
    let spec = CallMarketSpec::new("gpu", "trader", Duration::from_secs(1));
    let call = agents.run(spec).await?;
    println!("  price {:?}, volume {}", call.price, call.volume);
    for fill in &call.outcome.fills {
        println!(
            "  {} {} {} at {}",
            fill.agent, fill.side, fill.quantity, fill.price
        );
    }
    assert_eq!((call.price, call.volume), (Some(8.0), 4));

    // Compute. Buyers bid min(units, budget / value): ana 5 @ 12, ben 3 @ 10.
    // Sellers: dee 4 @ 5, eli 3 @ 9, fay 5 @ 11.
    // Matching: ana/dee 4, ana/eli 1, ben/eli 2; ben 10 < fay 11: volume 7.
    // Interval [max(9, ben 10 partly rejected), min(10, fay 11)]: price 10.
    // ana pays 50, ben 20; dee receives 40, eli 30.
    println!("compute allocation:");
    let spec = ComputeSpec::new("gpu-hours", "trader", Duration::from_secs(1));
    let compute = agents.run(spec).await?;
    println!("  price {:?} per unit", compute.price);
    for s in &compute.settlements {
        println!(
            "  {}: bought {} sold {} paid {} received {}",
            s.agent, s.units_bought, s.units_sold, s.cash_paid, s.cash_received
        );
    }
    assert_eq!(compute.price, Some(10));

    // Continuous double auction. Asks: 1: dee 5 @ 101, 2: eli 3 @ 101, 3: fay 4 @ 103.
    // ana buys 10 @ 102: 5 from dee then 3 from eli (time priority), both at 101
    // (the resting price); 103 is above her limit, so 2 rest as a bid at 102.
    println!("continuous double auction:");
    let gpu = Market::start(&node, "gpu").await?;
    gpu.submit(NewOrder::sell("dee", 101.0, 5)).await?;
    gpu.submit(NewOrder::sell("eli", 101.0, 3)).await?;
    gpu.submit(NewOrder::sell("fay", 103.0, 4)).await?;
    let done = gpu.submit(NewOrder::buy("ana", 102.0, 10)).await?;
    for t in &done.trades {
        println!(
            "  {} buys {} from {} at {}",
            t.buyer, t.quantity, t.seller, t.price
        );
    }
    let book = gpu.book(5).await?;
    println!(
        "  best bid {:?}, best ask {:?}",
        book.best_bid, book.best_ask
    );
    assert_eq!((book.best_bid, book.best_ask), (Some(102.0), Some(103.0)));
    let log = gpu.trades(0).await?;
    println!("  {} trades in the log", log.total);
    gpu.close().await?;
    node.shutdown().await;
    Ok(())
}
