//! Memory of an agent against a bare ractor actor.
//!
//! Spawns 10,000 bare ractor actors and measures how much the process's
//! resident memory grows, then does the same with 10,000 agents under an
//! agent supervisor (each registered cluster-wide with its capabilities),
//! and prints bytes per actor and the ratio. Resident memory is read from
//! `/proc/self/statm`, so this runs on Linux only; medians of 3 rounds.
//!
//! `cargo bench --bench agent_memory`.

#![allow(clippy::print_stdout, missing_docs)]

use actor_cluster::Server;
use agents::{Agent, Agents, Bidder, CallForBids, Families};
use ractor::{Actor, ActorProcessingErr, ActorRef};

const N: usize = 10_000;
const ROUNDS: usize = 3;

/// Resident memory of this process in bytes.
fn resident() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("/proc/self/statm");
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .expect("resident pages");
    pages * 4096
}

/// A bare ractor actor holding as much state as the agent below.
struct Bare;

impl Actor for Bare {
    type Msg = ();
    type State = (String, f64);
    type Arguments = usize;
    async fn pre_start(
        &self,
        _: ActorRef<()>,
        i: usize,
    ) -> Result<(String, f64), ActorProcessingErr> {
        Ok((format!("agent-{i}"), i as f64))
    }
}

/// An agent with an id and a value: it bids its value.
struct Buyer {
    id: String,
    value: f64,
}

impl Server for Buyer {}

impl Agent for Buyer {
    fn id(&self) -> String {
        self.id.clone()
    }
    fn capabilities(&self) -> Vec<String> {
        vec!["bidder".into()]
    }

    fn families(families: &mut Families<Self>) {
        families.bidder();
    }
}

impl Bidder for Buyer {
    async fn bid(&mut self, _: &CallForBids) -> Option<f64> {
        Some(self.value)
    }
}

async fn bare_round() -> f64 {
    let before = resident();
    let mut actors = Vec::with_capacity(N);
    for i in 0..N {
        actors.push(Actor::spawn(None, Bare, i).await.expect("bare"));
    }
    resident().saturating_sub(before) as f64 / N as f64
}

async fn agent_round(round: usize) -> f64 {
    let node = actor_cluster::Node::builder()
        .name(format!("memory-{round}"))
        .cookie("bench")
        .listen("127.0.0.1:0".parse().expect("addr"))
        .no_discovery()
        .start()
        .await
        .expect("node");
    let agents = Agents::start(&node).await.expect("agents");
    let before = resident();
    for i in 0..N {
        agents
            .spawn(move || Buyer {
                id: format!("agent-{i}"),
                value: i as f64,
            })
            .await
            .expect("agent");
    }
    let per_agent = resident().saturating_sub(before) as f64 / N as f64;
    node.shutdown().await;
    per_agent
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

/// Measures one kind in a fresh process (freed memory is not returned to
/// the system, so rounds in one process would reuse it).
fn measure_in_child(kind: &str, round: usize) -> f64 {
    let out = std::process::Command::new(std::env::current_exe().expect("exe"))
        .args(["--bench", "--measure", kind, &round.to_string()])
        .output()
        .expect("child");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("bytes per actor")
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    // `cargo test --benches` runs this too: only a real bench run measures.
    if !args.iter().any(|a| a == "--bench") {
        println!("agent_memory bench: run with `cargo bench --bench agent_memory`");
        return;
    }
    if let Some(i) = args.iter().position(|a| a == "--measure") {
        let round = args.get(i + 2).and_then(|r| r.parse().ok()).unwrap_or(0);
        let bytes = match args.get(i + 1).map(String::as_str) {
            Some("bare") => bare_round().await,
            _ => agent_round(round).await,
        };
        println!("{bytes}");
        return;
    }
    let mut bare = Vec::new();
    let mut agent = Vec::new();
    for round in 0..ROUNDS {
        bare.push(measure_in_child("bare", round));
        agent.push(measure_in_child("agent", round));
    }
    let (bare, agent) = (median(bare), median(agent));
    println!(
        "resident memory per actor, {N} actors, median of {ROUNDS} rounds: \
         agent {:.0} B vs bare ractor actor {:.0} B ({:.1}x)",
        agent,
        bare,
        agent / bare
    );
}
