//! Protocol runs at scale, with real node processes on 127.0.0.1:
//!
//! * a second-price sealed-bid auction among 1,000 agents spread over 3
//!   nodes (target ≤ 10 ms);
//! * a simple-majority vote among 100 agents over 3 nodes (target ≤ 2 ms).
//!
//! Each is timed from the command to the result, as a user of
//! `foundation node --commands` sees it, and compared with two baselines
//! measured in the same run: the same protocol with every agent on one node
//! (this process, nothing crosses a socket), and a bare ractor fan-out (as
//! many plain ractor actors, each asked with `call` at once and awaited).
//! The work is in `baselines/protocols.rs`, shared with the performance
//! report (`benches/report.rs`, which gives these figures with min-max);
//! this bench adds the duration each coordinator reported.
//!
//! `cargo bench --bench protocols`. Medians are printed; the machine is
//! shared and noisy.

#![allow(clippy::print_stdout, missing_docs)]

#[path = "baselines/protocols.rs"]
mod protocols;
#[path = "../tests/support/mod.rs"]
mod support;

use protocols::{bare_fanout, one_node, three_nodes, AUCTION, VOTE, WARMUP};

const ROUNDS: usize = 21;

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

async fn case(name: &str, per_node: [usize; 3], auction: bool, target_ms: f64) {
    let n: usize = per_node.iter().sum();
    let three = three_nodes(per_node, auction, ROUNDS).await;
    let round_trip = median(three.round_trips);
    let reported = median(three.reported);
    let local = median(one_node(n, auction, ROUNDS).await);
    let bare = median(bare_fanout(n, ROUNDS).await);
    let verdict = if round_trip <= target_ms {
        "within"
    } else {
        "OVER"
    };
    println!(
        "{name}, {n} agents on 3 nodes: median {round_trip:.2} ms command to result \
         (coordinator {reported:.0} ms), target {target_ms:.0} ms: {verdict}"
    );
    println!(
        "  vs the same on one node {local:.2} ms ({:.1}x), vs bare ractor fan-out of {n} calls {bare:.2} ms ({:.1}x)",
        round_trip / local,
        round_trip / bare,
    );
}

#[tokio::main]
async fn main() {
    // `cargo test --benches` runs this too: only a real bench run measures.
    if !std::env::args().any(|a| a == "--bench") {
        println!("protocols bench: run with `cargo bench --bench protocols`");
        return;
    }
    println!("medians of {ROUNDS} rounds after {WARMUP} warm-up rounds");
    case("sealed-bid second-price auction", AUCTION, true, 10.0).await;
    case("simple-majority vote", VOTE, false, 2.0).await;
}
