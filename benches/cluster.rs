//! Cluster formation and failure detection with real node processes.
//!
//! * time from start to full mesh for 3 and 5 local nodes, with static
//!   seeds on loopback and with zero-config mDNS in network namespaces
//!   (root only; skipped with a message elsewhere) — target ≤ 1 s;
//! * detection time of a killed node (SIGKILL) and of a frozen one
//!   (SIGSTOP, default 2 s failure timeout) — target ≤ 3 s.
//!
//! The seeded mesh and the detection are in `baselines/cluster.rs`, shared
//! with the performance report (`benches/report.rs`).
//!
//! `cargo bench --bench cluster`. Medians over several rounds are printed
//! next to their targets.

#![allow(clippy::print_stdout, missing_docs)]

use std::time::{Duration, Instant};

#[path = "baselines/cluster.rs"]
mod cluster;
#[path = "../tests/support/mod.rs"]
mod support;

use cluster::{detection, mesh_with_seeds};
use support::netns::Lan;
use support::NodeSpec;

const ROUNDS: usize = 5;

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs[xs.len() / 2]
}

fn report(what: &str, samples: Vec<Duration>, target: Duration) {
    let m = median(samples.clone());
    let verdict = if m <= target { "within" } else { "OVER" };
    println!(
        "{what}: median {:.0} ms over {} rounds (min {:.0}, max {:.0}); target {:.0} ms: {verdict}",
        m.as_secs_f64() * 1e3,
        samples.len(),
        samples.iter().min().unwrap().as_secs_f64() * 1e3,
        samples.iter().max().unwrap().as_secs_f64() * 1e3,
        target.as_secs_f64() * 1e3
    );
}

async fn mesh_with_mdns(lan: &Lan, round: usize) -> Duration {
    let started = Instant::now();
    let mut nodes = Vec::new();
    for (i, host) in lan.hosts.iter().enumerate() {
        let spec = NodeSpec::new(&format!("m{i}"))
            .netns(&host.ns)
            .listen("")
            .arg("--cluster")
            .arg(&format!("bench-{round}"));
        nodes.push(spec.start().await);
    }
    support::await_mesh(&mut nodes).await;
    started.elapsed()
}

#[tokio::main]
async fn main() {
    // `cargo test --benches` runs this with `--test`: one quick round only.
    let rounds = if std::env::args().any(|a| a == "--test") {
        1
    } else {
        ROUNDS
    };
    let mesh_target = Duration::from_secs(1);
    for n in [3, 5] {
        let mut samples = Vec::new();
        for _ in 0..rounds {
            samples.push(mesh_with_seeds(n).await);
        }
        report(
            &format!("full mesh, {n} nodes, static seeds"),
            samples,
            mesh_target,
        );
    }
    for n in [3, 5] {
        let Some(lan) = Lan::create(n) else {
            println!("full mesh, {n} nodes, mDNS: skipped (no network namespaces here)");
            continue;
        };
        let mut samples = Vec::new();
        for round in 0..rounds {
            samples.push(mesh_with_mdns(&lan, round).await);
        }
        report(&format!("full mesh, {n} nodes, mDNS"), samples, mesh_target);
    }
    let detect_target = Duration::from_secs(3);
    for (what, signal) in [
        ("killed node (SIGKILL) detected", "KILL"),
        ("frozen node (SIGSTOP) detected", "STOP"),
    ] {
        let mut samples = Vec::new();
        for _ in 0..rounds {
            samples.push(detection(signal).await);
        }
        report(what, samples, detect_target);
    }
}
