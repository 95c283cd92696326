//! Protocol runs at scale, with real node processes on 127.0.0.1:
//!
//! * a second-price sealed-bid auction among 1,000 agents spread over 3
//!   nodes (target ≤ 50 ms p50);
//! * a simple-majority vote among 100 agents over 3 nodes (target ≤ 20 ms
//!   p50).
//!
//! Each is timed from the command to the result, as a user of
//! `foundation node --commands` sees it, and compared with two baselines
//! measured in the same run: the same protocol with every agent on one node
//! (this process, nothing crosses a socket), and a bare ractor fan-out (as
//! many plain ractor actors, each asked with `call` at once and awaited).
//!
//! `cargo bench --bench protocols`. Medians are printed; the machine is
//! shared and noisy.

#![allow(clippy::print_stdout, missing_docs)]

use std::time::{Duration, Instant};

use actor_cluster::Server;
use agents::{
    Agent, Agents, AuctionRule, AuctionSpec, Bidder, CallForBids, Families, Proposal, Value,
    VoteSpec, Voter,
};
use futures::future::join_all;
use ractor::{Actor, ActorProcessingErr, ActorRef, Message, RpcReplyPort};

#[path = "../tests/support/mod.rs"]
mod support;

use support::{agent_count, cluster, NodeSpec};

const ROUNDS: usize = 21;
const WARMUP: usize = 3;

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs[xs.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// An in-process agent for the one-node baseline.
struct Local(usize);

impl Server for Local {}

impl Agent for Local {
    fn id(&self) -> String {
        format!("local-{}", self.0)
    }
    fn capabilities(&self) -> Vec<String> {
        vec!["bidder".into(), "voter".into()]
    }

    fn families(families: &mut Families<Self>) {
        families.voter().bidder();
    }
}

impl Voter for Local {
    async fn vote(&mut self, _: &Proposal) -> Option<bool> {
        Some(true)
    }
}

impl Bidder for Local {
    async fn bid(&mut self, _: &CallForBids) -> Option<f64> {
        Some(self.0 as f64)
    }
}

/// Asks a [`Bare`] actor for its number.
struct Ask(RpcReplyPort<u64>);

impl Message for Ask {}

/// A plain ractor actor answering one number, for the bare fan-out.
struct Bare;

impl Actor for Bare {
    type Msg = Ask;
    type State = u64;
    type Arguments = u64;
    async fn pre_start(&self, _: ActorRef<Self::Msg>, n: u64) -> Result<u64, ActorProcessingErr> {
        Ok(n)
    }
    async fn handle(
        &self,
        _: ActorRef<Self::Msg>,
        Ask(reply): Ask,
        n: &mut u64,
    ) -> Result<(), ActorProcessingErr> {
        let _ = reply.send(*n);
        Ok(())
    }
}

async fn bare_fanout(n: usize) -> Duration {
    let mut actors = Vec::new();
    for i in 0..n {
        actors.push(Actor::spawn(None, Bare, i as u64).await.expect("bare").0);
    }
    let mut samples = Vec::new();
    for round in 0..WARMUP + ROUNDS {
        let started = Instant::now();
        let answers = join_all(actors.iter().map(|a| a.call(Ask, None))).await;
        if round >= WARMUP {
            samples.push(started.elapsed());
        }
        assert!(answers.iter().all(Result::is_ok));
    }
    for a in actors {
        a.stop(None);
    }
    median(samples)
}

/// The auction (`auction = true`) or the vote among `n` agents on one node.
async fn one_node(n: usize, auction: bool) -> Duration {
    let node = actor_cluster::Node::builder()
        .name(if auction {
            "bench-auction"
        } else {
            "bench-vote"
        })
        .cookie("bench")
        .listen("127.0.0.1:0".parse().expect("addr"))
        .no_discovery()
        .start()
        .await
        .expect("node");
    let agents = Agents::start(&node).await.expect("agents");
    for i in 1..=n {
        agents.spawn(move || Local(i)).await.expect("agent");
    }
    let mut samples = Vec::new();
    for round in 0..WARMUP + ROUNDS {
        let started = Instant::now();
        if auction {
            let result = agents
                .run(AuctionSpec::new(
                    "gpu",
                    AuctionRule::SecondPrice,
                    "bidder",
                    Duration::from_secs(5),
                ))
                .await
                .expect("auction");
            assert_eq!(result.outcome.price, Some((n - 1) as f64));
        } else {
            let proposal = Proposal {
                subject: "x".into(),
                value: Value::Int(1),
            };
            let result = agents
                .run(VoteSpec::new(proposal, "voter", Duration::from_secs(5)))
                .await
                .expect("vote");
            assert!(result.tally.passed);
        }
        if round >= WARMUP {
            samples.push(started.elapsed());
        }
    }
    node.shutdown().await;
    median(samples)
}

/// The auction or the vote among `per_node` × 3 agents on three node
/// processes, commanded on the first; returns the median command-to-result
/// time and the median duration the coordinator reported.
async fn three_nodes(per_node: [usize; 3], auction: bool) -> (Duration, Duration) {
    let total: usize = per_node.iter().sum();
    let specs = ["p1", "p2", "p3"]
        .iter()
        .zip(per_node)
        .map(|(name, count)| {
            // Bids 1..count on every node: the top bid is tied across nodes.
            NodeSpec::new(name)
                .arg("--agents")
                .arg(&format!("{count}:{name}-:bid={{i}}:vote=yes"))
        })
        .collect();
    let mut nodes = cluster(specs).await;
    nodes[0]
        .command_until("agents", |r| agent_count(r) == total)
        .await;
    let line = if auction {
        "auction gpu second 0 5000"
    } else {
        "vote batch_size 64 5000"
    };
    let mut round_trips = Vec::new();
    let mut reported = Vec::new();
    for round in 0..WARMUP + ROUNDS {
        let started = Instant::now();
        let reply = nodes[0].command(line).await;
        let took = started.elapsed();
        let result = &reply["result"];
        assert!(
            result["missing"].as_array().is_some_and(Vec::is_empty),
            "{reply}"
        );
        if auction {
            // p1 alone bids 334; p1, p2 and p3 each bid 333.
            assert_eq!(result["outcome"]["winner"], "p1-334", "{reply}");
            assert_eq!(result["outcome"]["price"], 333.0, "{reply}");
        } else {
            assert_eq!(result["tally"]["yes"], total, "{reply}");
        }
        if round >= WARMUP {
            round_trips.push(took);
            reported.push(Duration::from_millis(
                result["duration_ms"].as_u64().unwrap_or_default(),
            ));
        }
    }
    for node in nodes {
        node.quit().await;
    }
    (median(round_trips), median(reported))
}

async fn case(name: &str, per_node: [usize; 3], auction: bool, target: Duration) {
    let n: usize = per_node.iter().sum();
    let (round_trip, reported) = three_nodes(per_node, auction).await;
    let local = one_node(n, auction).await;
    let bare = bare_fanout(n).await;
    let verdict = if round_trip <= target {
        "within"
    } else {
        "OVER"
    };
    println!(
        "{name}, {n} agents on 3 nodes: median {:.2} ms command to result \
         (coordinator {:.0} ms), target {:.0} ms: {verdict}",
        ms(round_trip),
        ms(reported),
        ms(target)
    );
    println!(
        "  vs the same on one node {:.2} ms ({:.1}x), vs bare ractor fan-out of {n} calls {:.2} ms ({:.1}x)",
        ms(local),
        round_trip.as_secs_f64() / local.as_secs_f64(),
        ms(bare),
        round_trip.as_secs_f64() / bare.as_secs_f64(),
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
    case(
        "sealed-bid second-price auction",
        [334, 333, 333],
        true,
        Duration::from_millis(50),
    )
    .await;
    case(
        "simple-majority vote",
        [34, 33, 33],
        false,
        Duration::from_millis(20),
    )
    .await;
}
