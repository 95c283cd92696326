//! A continuous double auction of 10,000 limit orders, against a baseline
//! measured in the same run:
//!
//! * through the market actor on this node (a [`Market`] handle, one `ask`
//!   per order) vs the bare [`OrderBook`] the actor holds;
//! * through a [`Market`] handle to a market in another process (a
//!   `foundation node`), the same 10,000 orders one round trip each.
//!
//! Every iteration starts from an empty book. Criterion prints the
//! throughput in orders (elements) per second; the ratios of medians follow.
//!
//! `cargo bench --bench market` (add `-- --quick` for a shorter run).

#![allow(clippy::print_stdout, missing_docs)]

use std::time::{Duration, Instant};

use agents::protocols::market::{LimitOrder, OrderBook, Side};
use agents::{Market, NewOrder};
use criterion::Throughput;

#[path = "../tests/support/mod.rs"]
mod nodes;
#[path = "../actor-core/benches/support/mod.rs"]
mod support;

const ORDERS: usize = 10_000;

/// The same 10,000 orders every run: random sides, prices 95..=105, 1..=10
/// units, owners t0..t49 (none is an agent, so nobody is told).
fn orders() -> Vec<NewOrder> {
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    (0..ORDERS)
        .map(|i| {
            // xorshift64
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let side = if x & 1 == 0 { Side::Buy } else { Side::Sell };
            NewOrder {
                agent: format!("t{}", i % 50),
                side,
                price: 95.0 + ((x >> 8) % 11) as f64,
                quantity: 1 + (x >> 16) % 10,
            }
        })
        .collect()
}

/// Submits every order to `market` and returns the trades made.
async fn through(market: &Market, orders: &[NewOrder]) -> usize {
    let mut trades = 0;
    for order in orders {
        trades += market
            .submit(order.clone())
            .await
            .expect("submit")
            .trades
            .len();
    }
    trades
}

fn main() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let mut c = support::criterion("market");
    let orders = orders();
    let (node, peer) = rt.block_on(async {
        let (node, peer) =
            nodes::joined_to(nodes::NodeSpec::new("market-peer"), "market-bench").await;
        (node, tokio::sync::Mutex::new(peer))
    });

    let mut group = c.benchmark_group("market");
    group.throughput(Throughput::Elements(ORDERS as u64));
    group.sample_size(10);
    group.bench_function("order_book", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let mut book = OrderBook::new();
                let started = Instant::now();
                for (id, o) in orders.iter().enumerate() {
                    book.submit(LimitOrder {
                        id: id as u64,
                        agent: o.agent.clone(),
                        side: o.side,
                        price: o.price,
                        quantity: o.quantity,
                    })
                    .expect("submit");
                }
                total += started.elapsed();
            }
            total
        })
    });
    let mut opened = 0;
    group.bench_function("market_actor_local", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let (node, orders) = (&node, &orders);
            opened += 1;
            let round = opened;
            async move {
                let mut total = Duration::ZERO;
                for i in 0..iters {
                    let market = Market::start(node, &format!("local-{round}-{i}"))
                        .await
                        .expect("open");
                    let started = Instant::now();
                    through(&market, orders).await;
                    total += started.elapsed();
                    market.close().await.expect("close");
                }
                total
            }
        })
    });
    group.bench_function("market_actor_remote", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let (node, orders, peer) = (&node, &orders, &peer);
            opened += 1;
            let round = opened;
            async move {
                let mut total = Duration::ZERO;
                for i in 0..iters {
                    let name = format!("remote-{round}-{i}");
                    let reply = peer
                        .lock()
                        .await
                        .command(&format!("market-open {name}"))
                        .await;
                    assert_eq!(reply["reply"], "market-open", "{reply}");
                    let market = loop {
                        match Market::find(node, &name).await {
                            Ok(m) => break m,
                            Err(_) => tokio::task::yield_now().await,
                        }
                    };
                    let started = Instant::now();
                    through(&market, orders).await;
                    total += started.elapsed();
                    market.close().await.expect("close");
                }
                total
            }
        })
    });
    group.finish();
    c.final_summary();
    rt.block_on(node.shutdown());
    support::print_ratios(
        "market",
        &[
            (
                "10,000 orders through the local market actor vs the bare order book",
                "market_actor_local",
                "order_book",
            ),
            (
                "10,000 orders through a market in another process vs the local market actor",
                "market_actor_remote",
                "market_actor_local",
            ),
        ],
    );
}
