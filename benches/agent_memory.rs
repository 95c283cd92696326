//! Memory and spawn time of agents against bare ractor actors, in the same
//! run: 100,000 of each kind (`bare`, `agent`, `passivated`, `asleep`),
//! every kind measured in a fresh process; the kinds and the method are
//! described in `baselines/memory.rs`, shared with the performance report
//! (`benches/report.rs`, which gives the resident and spawn figures).
//! This bench adds the live heap per actor, from a counting allocator:
//! freed memory stays resident, so for passivated agents the heap is the
//! figure that shows what they keep; and the CPU the process burns once
//! they are all idle (a node holding 100,000 asleep agents should not
//! spend a core walking them). Medians of 3 rounds, with min-max.
//!
//! `cargo bench --bench agent_memory [-- --n 10000]`.

#![allow(clippy::print_stdout, missing_docs)]

use std::alloc::System;

use cap::Cap;

#[path = "baselines/memory.rs"]
mod memory;

use memory::{measure_in_child, Figures};

#[global_allocator]
static HEAP: Cap<System> = Cap::new(System, usize::MAX);

const ROUNDS: usize = 3;

/// Median, min and max.
fn spread(mut xs: Vec<f64>) -> (f64, f64, f64) {
    xs.sort_by(f64::total_cmp);
    (xs[xs.len() / 2], xs[0], xs[xs.len() - 1])
}

fn report(name: &str, rounds: &[Figures], bare: &[Figures]) {
    let (rss, rss_lo, rss_hi) = spread(rounds.iter().map(|f| f.resident).collect());
    let (heap, heap_lo, heap_hi) = spread(rounds.iter().map(|f| f.heap).collect());
    let (ms, ms_lo, ms_hi) = spread(rounds.iter().map(|f| f.spawn.as_secs_f64() * 1e3).collect());
    let (bare_rss, _, _) = spread(bare.iter().map(|f| f.resident).collect());
    let (bare_ms, _, _) = spread(bare.iter().map(|f| f.spawn.as_secs_f64() * 1e3).collect());
    let (idle, idle_lo, idle_hi) = spread(rounds.iter().map(|f| f.idle).collect());
    println!(
        "{name:<11} resident {rss:>7.0} B/actor ({rss_lo:.0}-{rss_hi:.0}, {:.2}x bare)  \
         heap {heap:>7.0} B/actor ({heap_lo:.0}-{heap_hi:.0})  \
         spawn {ms:>7.0} ms ({ms_lo:.0}-{ms_hi:.0}, {:.2}x bare)  \
         idle CPU {idle:>5.1} ms/s ({idle_lo:.1}-{idle_hi:.1})",
        rss / bare_rss,
        ms / bare_ms,
    );
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    // `cargo test --benches` runs this too: only a real bench run measures.
    if !args.iter().any(|a| a == "--bench") {
        println!("agent_memory bench: run with `cargo bench --bench agent_memory`");
        return;
    }
    if memory::child(&args, || HEAP.allocated()).await {
        return;
    }
    let n = args
        .iter()
        .position(|a| a == "--n")
        .and_then(|i| args.get(i + 1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(100_000);
    let kinds = ["bare", "agent", "passivated", "asleep"];
    let mut figures: Vec<Vec<Figures>> = kinds.iter().map(|_| Vec::new()).collect();
    for round in 0..ROUNDS {
        for (k, kind) in kinds.iter().enumerate() {
            figures[k].push(measure_in_child(kind, n, round, true));
        }
    }
    println!("{n} actors of each kind, median of {ROUNDS} rounds (min-max):");
    for (k, kind) in kinds.iter().enumerate() {
        report(kind, &figures[k], &figures[0]);
    }
    println!(
        "targets: passivated (or asleep) <= 1024 B/agent, active agent <= 1.1x bare, \
         {n} agents spawned in <= {:.0} ms",
        345.0 * n as f64 / 100_000.0
    );
}
