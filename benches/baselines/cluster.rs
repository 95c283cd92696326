//! Cluster figures with real `foundation node` processes on 127.0.0.1,
//! for `benches/cluster.rs` and `benches/report.rs`: formation of a full
//! mesh (and its floor, the same processes started alone), detection of a
//! killed or frozen node, and the commit latency of a replicated variable
//! (against a remote ask between the same processes, through the same
//! command pipe).
//!
//! The including bench names `tests/support/mod.rs` as `support`.

#![allow(dead_code, unreachable_pub, missing_docs)]

use std::time::{Duration, Instant};

use crate::support::{self, NodeSpec, TestNode};

/// Starts `n` nodes one after another, each seeded with the first, and
/// answers the time until every one has seen every other up.
pub async fn mesh_with_seeds(n: usize) -> Duration {
    let specs: Vec<NodeSpec> = (1..=n).map(|i| NodeSpec::new(&format!("s{i}"))).collect();
    let first = specs[0].addr();
    let started = Instant::now();
    let mut nodes = Vec::new();
    for (i, spec) in specs.into_iter().enumerate() {
        nodes.push(if i == 0 {
            spec.start().await
        } else {
            spec.seed(&first).start().await
        });
    }
    support::await_mesh(&mut nodes).await;
    started.elapsed()
}

/// The floor of [`mesh_with_seeds`]: `n` nodes started the same way but
/// alone (no seeds), timed until the last is listening.
pub async fn started_alone(n: usize) -> Duration {
    let started = Instant::now();
    let mut nodes = Vec::new();
    for i in 1..=n {
        nodes.push(NodeSpec::new(&format!("a{i}")).start().await);
    }
    let took = started.elapsed();
    drop(nodes);
    took
}

/// Three nodes; `signal` (`KILL`, `STOP`) the third; the time until the
/// first reports it down.
pub async fn detection(signal: &str) -> Duration {
    let specs: Vec<NodeSpec> = (1..=3).map(|i| NodeSpec::new(&format!("d{i}"))).collect();
    let mut nodes = support::cluster(specs).await;
    nodes[0].forget();
    let t = Instant::now();
    nodes[2].signal(signal);
    nodes[0]
        .expect(|v| v["event"] == "node_down" && v["node"] == "d3")
        .await;
    let took = t.elapsed();
    if signal == "STOP" {
        nodes[2].signal("CONT");
    }
    took
}

/// The failure timeout the nodes run with (`NodeBuilder::failure_timeout`'s
/// default).
pub const FAILURE_TIMEOUT: Duration = Duration::from_secs(2);

/// What [`commits`] measured: the p50 (ms) of each round.
#[derive(Default)]
pub struct Commits {
    /// `var set` on the leader.
    pub on_leader: Vec<f64>,
    /// `var set` on a follower (forwarded to the leader).
    pub from_follower: Vec<f64>,
    /// `ask` from the leader to a counter on the follower: one remote
    /// round trip through the same command pipe.
    pub ask: Vec<f64>,
}

/// The p50 of `xs`.
fn p50(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

/// Runs `line` on `node` `count` times, one after another; ms each, from
/// the command written to its reply read back.
async fn timed(node: &mut TestNode, count: usize, line: impl Fn(usize) -> String) -> Vec<f64> {
    let mut took = Vec::with_capacity(count);
    for i in 0..count {
        let line = line(i);
        let t = Instant::now();
        let reply = node.command(&line).await;
        took.push(t.elapsed().as_secs_f64() * 1e3);
        assert!(
            reply.get("error").is_none() && reply.get("refused").is_none(),
            "{line}: {reply}"
        );
    }
    took
}

/// Three voters of a variables group, in memory, each serving a counter;
/// `rounds` rounds of `count` commits on the leader, `count` from a
/// follower and `count` asks from the leader to the follower's counter.
pub async fn commits(rounds: usize, count: usize) -> Commits {
    const VOTERS: &str = "v1,v2,v3";
    let specs = ["v1", "v2", "v3"]
        .iter()
        .map(|name| {
            NodeSpec::new(name)
                .arg("--variables")
                .arg(VOTERS)
                .counter(&format!("c-{name}"))
        })
        .collect();
    let mut nodes = support::cluster(specs).await;
    let status = nodes[0]
        .command_until("var status", |r| r["status"]["leader"].is_string())
        .await;
    let leader = status["status"]["leader"]
        .as_str()
        .expect("leader")
        .to_owned();
    let on_leader = nodes.iter().position(|n| n.name == leader).expect("voter");
    let follower = (on_leader + 1) % nodes.len();
    let defined = nodes[on_leader]
        .command("var define lr float:0:2 0.1")
        .await;
    assert!(defined.get("variable").is_some(), "{defined}");
    let set = |i: usize| format!("var set lr {}", 0.5 + (i % 2) as f64 / 10.0);
    let ask = format!("ask c-{} add 1", nodes[follower].name);
    nodes[on_leader]
        .command_until(&ask, |r| r["ok"].is_u64())
        .await;
    // Warm-up: connections, the leader's replication streams.
    timed(&mut nodes[on_leader], count / 2, set).await;
    timed(&mut nodes[follower], count / 2, set).await;
    timed(&mut nodes[on_leader], count / 2, |_| ask.clone()).await;
    let mut figures = Commits::default();
    for _ in 0..rounds {
        figures
            .on_leader
            .push(p50(timed(&mut nodes[on_leader], count, set).await));
        figures
            .from_follower
            .push(p50(timed(&mut nodes[follower], count, set).await));
        figures.ask.push(p50(
            timed(&mut nodes[on_leader], count, |_| ask.clone()).await
        ));
    }
    drop(nodes);
    figures
}
