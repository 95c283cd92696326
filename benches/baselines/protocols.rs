//! Protocol runs at scale, for `benches/report.rs` and `benches/protocols.rs`:
//! a second-price sealed-bid auction and a simple-majority vote among
//! agents on three `foundation node` processes, each against two
//! baselines: the same protocol with every agent on one node (this process,
//! nothing crosses a socket), and a bare ractor fan-out (as many plain
//! ractor actors, each asked with `call` at once and awaited).
//!
//! Every function answers one sample (ms) per round after `WARMUP` rounds.
//! The including bench names `tests/support/mod.rs` as `support`.

#![allow(dead_code, unreachable_pub, missing_docs)]

use std::time::{Duration, Instant};

use actor_cluster::Server;
use agents::{
    Agent, Agents, AuctionRule, AuctionSpec, Bidder, CallForBids, Families, Proposal, Value,
    VoteSpec, Voter,
};
use futures::future::join_all;
use ractor::{Actor, ActorProcessingErr, ActorRef, Message, RpcReplyPort};

use crate::support::{agent_count, cluster, NodeSpec};

/// Rounds run and thrown away before the timed ones.
pub const WARMUP: usize = 3;

/// The auction's agents per node: 1,000 in all.
pub const AUCTION: [usize; 3] = [334, 333, 333];
/// The vote's agents per node: 100 in all.
pub const VOTE: [usize; 3] = [34, 33, 33];

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

/// Asks a [`Number`] actor for its number.
struct Ask(RpcReplyPort<u64>);

impl Message for Ask {}

/// A plain ractor actor answering one number, for the bare fan-out.
struct Number;

impl Actor for Number {
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

/// `n` plain ractor actors, each asked with `call` at once; ms per round.
pub async fn bare_fanout(n: usize, rounds: usize) -> Vec<f64> {
    let mut actors = Vec::new();
    for i in 0..n {
        actors.push(Actor::spawn(None, Number, i as u64).await.expect("bare").0);
    }
    let mut samples = Vec::new();
    for round in 0..WARMUP + rounds {
        let started = Instant::now();
        let answers = join_all(actors.iter().map(|a| a.call(Ask, None))).await;
        if round >= WARMUP {
            samples.push(ms(started.elapsed()));
        }
        assert!(answers.iter().all(Result::is_ok));
    }
    for a in actors {
        a.stop(None);
    }
    samples
}

/// The auction (`auction = true`) or the vote among `n` agents on one node
/// in this process; ms per round.
pub async fn one_node(n: usize, auction: bool, rounds: usize) -> Vec<f64> {
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
    for round in 0..WARMUP + rounds {
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
            samples.push(ms(started.elapsed()));
        }
    }
    node.shutdown().await;
    samples
}

/// What [`three_nodes`] measured, ms per round.
pub struct ThreeNodes {
    /// From the command written to the first node to its result read back.
    pub round_trips: Vec<f64>,
    /// The duration the coordinator reported (whole ms).
    pub reported: Vec<f64>,
}

/// The auction or the vote among `per_node` agents on each of three node
/// processes, commanded on the first.
pub async fn three_nodes(per_node: [usize; 3], auction: bool, rounds: usize) -> ThreeNodes {
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
    let (mut round_trips, mut reported) = (Vec::new(), Vec::new());
    for round in 0..WARMUP + rounds {
        let started = Instant::now();
        let reply = nodes[0].command(line).await;
        let took = started.elapsed();
        let result = &reply["result"];
        assert!(
            result["missing"].as_array().is_some_and(Vec::is_empty),
            "{reply}"
        );
        if auction {
            // p1 bids the most (its count); the second price is one less.
            assert_eq!(
                result["outcome"]["winner"],
                format!("p1-{}", per_node[0]),
                "{reply}"
            );
            assert_eq!(
                result["outcome"]["price"],
                (per_node[0] - 1) as f64,
                "{reply}"
            );
        } else {
            assert_eq!(result["tally"]["yes"], total, "{reply}");
        }
        if round >= WARMUP {
            round_trips.push(ms(took));
            reported.push(result["duration_ms"].as_u64().unwrap_or_default() as f64);
        }
    }
    for node in nodes {
        node.quit().await;
    }
    ThreeNodes {
        round_trips,
        reported,
    }
}
