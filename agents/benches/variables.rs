//! What committing a variable costs: three voter node processes on
//! 127.0.0.1 (this binary run again as each node), in memory and then
//! with a data dir on disk.
//!
//! * **commit latency**: `Variables::commit` timed inside the committing
//!   node, one commit after another, on the leader and from a follower
//!   (forwarded to the leader);
//! * **propagation**: from the moment a commit is asked to the moment the
//!   last subscriber (`Variables::subscribe`) on another node is told of
//!   it (wall clocks of one machine);
//! * **baseline**, in the same run: a `Ref::ask` round trip from the
//!   leader's process to a follower's, the floor of one replication round.
//!
//! Each figure is the median over rounds of each round's p50 (or p99),
//! with the rounds' min–max. Target: commit p50 ≤ 2 ms in memory.
//!
//! `cargo bench -p agents --bench variables` (`FOUNDATION_VAR_ROUNDS`,
//! `FOUNDATION_VAR_COMMITS` to change the 5 rounds of 200 commits).

#![allow(clippy::print_stdout, missing_docs)]

use std::collections::BTreeMap;

#[path = "../tests/variables_node/mod.rs"]
mod variables_node;

use agents::variables::{Definition, Kind};
use agents::Value;
use variables_node::{quantile_ms, Launcher, NodeProcess, Op, Timed, VOTERS};

/// The environment variable that makes this binary a node.
const ROLE: &str = "FOUNDATION_VARIABLES_BENCH_NODE";
const NODE: Launcher = Launcher {
    role_env: ROLE,
    args: &[],
};
const TARGET_P50_MS: f64 = 2.0;

fn env(name: &str, default: u32) -> u32 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The p50 and p99 of each round, in ms.
#[derive(Default)]
struct Figure {
    p50: Vec<f64>,
    p99: Vec<f64>,
}

impl Figure {
    fn add(&mut self, micros: &[u64]) {
        self.p50.push(quantile_ms(micros, 0.5));
        self.p99.push(quantile_ms(micros, 0.99));
    }

    fn median_p50(&self) -> f64 {
        median(&self.p50)
    }

    fn text(&self) -> String {
        let spread = |v: &[f64]| {
            let min = v.iter().copied().fold(f64::INFINITY, f64::min);
            let max = v.iter().copied().fold(0.0, f64::max);
            format!("{:.3} ({min:.3}–{max:.3})", median(v))
        };
        format!("p50 {} ms, p99 {} ms", spread(&self.p50), spread(&self.p99))
    }
}

fn median(v: &[f64]) -> f64 {
    let mut sorted = v.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[sorted.len() / 2]
}

/// For each commit, µs from its asking to the last other node's
/// subscriber seeing it.
fn propagation(commits: &[Timed], others: &[&BTreeMap<u64, u64>]) -> Vec<u64> {
    commits
        .iter()
        .map(|c| {
            let last = others
                .iter()
                .map(|seen| *seen.get(&c.version).expect("every commit seen everywhere"))
                .max()
                .expect("other nodes");
            last.saturating_sub(c.asked_us)
        })
        .collect()
}

async fn store(on_disk: bool, rounds: u32, commits: u32) {
    let data = tempfile::tempdir().expect("a temp dir");
    let dir = on_disk.then_some(data.path());
    let mut nodes = NODE
        .spawn_group(&VOTERS, dir, None)
        .await
        .expect("the group formed");
    let leader = nodes[0].status().await.leader.expect("a leader");
    let at = |nodes: &[NodeProcess], name: &str| {
        nodes.iter().position(|n| n.name == name).expect("a voter")
    };
    let on_leader = at(&nodes, &leader);
    let follower = (on_leader + 1) % 3;
    let other = (on_leader + 2) % 3;
    let lr = Definition::new("lr", Kind::float(0.0, 2.0), Value::Float(0.1));
    nodes[0].one(&Op::Define(lr)).await.expect("defined");
    // Warm-up: connections, caches, the leader's replication streams.
    nodes[on_leader].bench("lr", commits / 2).await;
    nodes[follower].bench("lr", commits / 2).await;

    let (mut ask, mut leader_commit, mut follower_commit) =
        (Figure::default(), Figure::default(), Figure::default());
    let (mut leader_spread, mut follower_spread) = (Figure::default(), Figure::default());
    let peer = nodes[follower].name.clone();
    for _ in 0..rounds {
        let op = Op::BenchAsk {
            peer: peer.clone(),
            count: commits,
        };
        ask.add(&nodes[on_leader].micros(&op).await);
        let by_leader = nodes[on_leader].bench("lr", commits).await;
        let by_follower = nodes[follower].bench("lr", commits).await;
        leader_commit.add(&by_leader.iter().map(|c| c.took_us).collect::<Vec<_>>());
        follower_commit.add(&by_follower.iter().map(|c| c.took_us).collect::<Vec<_>>());
        let mut seen = Vec::new();
        for node in &mut nodes {
            seen.push(node.seen("lr").await);
        }
        leader_spread.add(&propagation(&by_leader, &[&seen[follower], &seen[other]]));
        follower_spread.add(&propagation(
            &by_follower,
            &[&seen[on_leader], &seen[other]],
        ));
    }
    for node in nodes {
        node.kill().await;
    }

    let base = ask.median_p50();
    let ratio = |f: &Figure| f.median_p50() / base;
    println!(
        "{} ({rounds} rounds of {commits}):",
        if on_disk {
            "on disk (redb, synced)"
        } else {
            "in memory"
        }
    );
    println!("  baseline: remote ask, leader to follower: {}", ask.text());
    let verdict = |f: &Figure| {
        if on_disk {
            String::new()
        } else if f.median_p50() <= TARGET_P50_MS {
            format!(", target p50 ≤ {TARGET_P50_MS} ms: met")
        } else {
            format!(", target p50 ≤ {TARGET_P50_MS} ms: MISSED")
        }
    };
    println!(
        "  commit on the leader: {} ({:.1}x the ask{})",
        leader_commit.text(),
        ratio(&leader_commit),
        verdict(&leader_commit)
    );
    println!(
        "  commit from a follower: {} ({:.1}x the ask{})",
        follower_commit.text(),
        ratio(&follower_commit),
        verdict(&follower_commit)
    );
    println!(
        "  propagation to the last subscriber on another node, committed on the leader: {}",
        leader_spread.text()
    );
    println!(
        "  propagation to the last subscriber on another node, committed on a follower: {}",
        follower_spread.text()
    );
}

fn main() {
    if variables_node::node_main(ROLE) {
        return;
    }
    // `cargo test --benches` runs this too: only a real bench run measures.
    if !std::env::args().any(|a| a == "--bench") {
        println!("variables bench: run with `cargo bench -p agents --bench variables`");
        return;
    }
    let rounds = env("FOUNDATION_VAR_ROUNDS", 5);
    let commits = env("FOUNDATION_VAR_COMMITS", 200);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        store(false, rounds, commits).await;
        store(true, rounds, commits).await;
    });
}
