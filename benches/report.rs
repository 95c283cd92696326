//! The performance report: each figure next to its baseline measured in
//! the same run, the ratio, the target and whether it is met, printed as a
//! table and, with `--json FILE`, written as JSON.
//!
//! `cargo bench --bench report [-- --quick] [-- --json report.json]`
//!
//! Method. Every timing loop runs inside a task spawned on the
//! multi-thread runtime (never a `block_on` per operation, which would
//! time a thread hand-off). Each figure is measured `repeats` times after
//! a warm-up (the memory, formation and detection figures in fewer
//! rounds of fresh processes: `memory_rounds`, `cluster_rounds`); the
//! report gives the median with min-max. Remote figures go
//! to a `foundation node` in a second OS process, against a raw TCP echo
//! in another process with a frame the size of an encoded ask.
//!
//! The protocol figures start three `foundation node` processes with
//! the agents; the memory figures run this executable again
//! (`--measure KIND N ROUND`), one fresh process per kind and round, since
//! freed memory stays resident; formation, detection and commit start
//! `foundation node` processes of their own. The shared work is in
//! `baselines/` (`protocols.rs`, `memory.rs`, `cluster.rs`), which the
//! `protocols`, `agent_memory` and `cluster` benches print more of.
//!
//! Figures (the targets of issue 15 and of the benches they come from;
//! `docs/performance.md` has the latest run and what limits each):
//!
//! | figure | baseline | target |
//! |---|---|---|
//! | local ask, µs | bare ractor `call`; ractor `call_t` (with a timeout, as every ask has); kameo `ask` | ≤ 1.05x ractor `call` |
//! | local tell, msg/s | bare ractor `cast`; kameo `tell` | ≥ kameo |
//! | remote ask p50 / p99, µs | two-process raw TCP round trip p50 / p99 | ≤ 1.2x / ≤ 2x |
//! | remote ask, 64 callers, asks/s | — | ≥ 100,000 |
//! | remote tell, msg/s | — | ≥ 500,000 |
//! | second-price auction, 1,000 agents on 3 nodes, ms | all on one node; bare ractor fan-out of 1,000 `call`s | ≤ 10 ms |
//! | simple-majority vote, 100 agents on 3 nodes, ms | all on one node; bare ractor fan-out of 100 `call`s | ≤ 2 ms |
//! | resident bytes per running agent (100,000) | per bare ractor actor | ≤ 1.1x bare |
//! | resident bytes per asleep agent (100,000) | per bare ractor actor | ≤ 1,024 B |
//! | spawn of 100,000 running / asleep agents, ms | 100,000 bare ractor actors | ≤ 345 ms |
//! | full mesh of 5 node processes, ms | the 5 processes started alone | ≤ 1 s |
//! | killed (SIGKILL) / frozen (SIGSTOP) node detected, ms | the failure timeout (2 s) | ≤ 3 s |
//! | variable commit p50 on the leader / from a follower, 3 voter processes, ms | a remote ask between the same processes through the same command pipe | ≤ 2 ms |
//!
//! The protocol and commit figures are timed from the command written to
//! a node's stdin to its reply read back, so they include that pipe (the
//! commit's baseline includes it too).

#![allow(clippy::print_stdout, missing_docs)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use foundation::prelude::*;
use kameo::message::{Context, Message as KameoMessage};

use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[path = "baselines/mod.rs"]
mod baselines;
#[path = "baselines/cluster.rs"]
mod cluster;
#[path = "baselines/memory.rs"]
mod memory;
#[path = "baselines/protocols.rs"]
mod protocols;
#[path = "../tests/support/mod.rs"]
mod support;

use baselines::{start_tcp_echo, tcp_echo, Bare, BareMsg, FRAME};
use support::CounterMsg;

const ASK: Duration = Duration::from_secs(5);

/// A local Foundation server with the counter's messages.
#[derive(Default)]
struct Count(u64);

impl Server for Count {
    fn accepts(accepts: &mut Accepts<Self>) {
        accepts.add::<CounterMsg>();
    }
}

impl Handler<CounterMsg> for Count {
    async fn handle(&mut self, msg: CounterMsg) -> u64 {
        if let CounterMsg::Add(k) = msg {
            self.0 += k;
        }
        self.0
    }
}

/// A kameo actor doing the same.
#[derive(kameo::Actor, Default)]
struct KameoCount(u64);

struct KAdd(u64);

impl KameoMessage<KAdd> for KameoCount {
    type Reply = u64;
    async fn handle(&mut self, KAdd(k): KAdd, _: &mut Context<Self, Self::Reply>) -> u64 {
        self.0 += k;
        self.0
    }
}

/// One figure of the report.
#[derive(Debug, Serialize)]
struct Figure {
    name: &'static str,
    unit: &'static str,
    /// Median over the repeats.
    value: f64,
    min: f64,
    max: f64,
    baseline: Option<&'static str>,
    baseline_value: Option<f64>,
    /// value / baseline_value.
    ratio: Option<f64>,
    /// What is aimed at, in words.
    target: &'static str,
    met: Option<bool>,
}

/// Median, min and max.
fn spread(mut xs: Vec<f64>) -> (f64, f64, f64) {
    xs.sort_by(f64::total_cmp);
    (xs[xs.len() / 2], xs[0], xs[xs.len() - 1])
}

/// The `q` quantile of `xs` (sorted here).
fn quantile(xs: &mut [f64], q: f64) -> f64 {
    xs.sort_by(f64::total_cmp);
    let i = ((xs.len() as f64 - 1.0) * q).round() as usize;
    xs[i]
}

/// How long to measure.
#[derive(Clone, Copy)]
struct Plan {
    repeats: usize,
    /// Operations per repeat of a local figure.
    local_ops: u64,
    /// Operations per repeat of a remote figure.
    remote_ops: u64,
    /// Fresh processes per kind of the memory figures (100,000 actors each).
    memory_rounds: usize,
    /// Rounds of the formation and detection figures (new processes each).
    cluster_rounds: usize,
    /// Commits per round of the commit figures.
    commits: usize,
}

/// Runs `timing` to its end in a task on the runtime; answers what it measured.
async fn in_task<T: Send + 'static>(
    timing: impl std::future::Future<Output = T> + Send + 'static,
) -> T {
    tokio::spawn(timing).await.expect("timing task")
}

/// Repeats a measurement (after one warm-up run), answers its values.
async fn repeat<F, Fut>(plan: Plan, mut measure: F) -> Vec<f64>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = f64> + Send + 'static,
{
    let _ = in_task(measure()).await;
    let mut values = Vec::with_capacity(plan.repeats);
    for _ in 0..plan.repeats {
        values.push(in_task(measure()).await);
    }
    values
}

fn figure(
    name: &'static str,
    unit: &'static str,
    values: Vec<f64>,
    baseline: Option<(&'static str, &[f64])>,
    target: &'static str,
    met: impl Fn(f64, Option<f64>) -> Option<bool>,
) -> Figure {
    let (value, min, max) = spread(values);
    let baseline_value = baseline.map(|(_, b)| spread(b.to_vec()).0);
    let ratio = baseline_value.map(|b| value / b);
    Figure {
        name,
        unit,
        value,
        min,
        max,
        baseline: baseline.map(|(n, _)| n),
        baseline_value,
        ratio,
        target,
        met: met(value, ratio),
    }
}

/// Per-operation latencies (µs) of `ops` round trips over `tcp`.
async fn tcp_latencies(tcp: Arc<tokio::sync::Mutex<tokio::net::TcpStream>>, ops: u64) -> Vec<f64> {
    let mut s = tcp.lock().await;
    let (frame, mut back) = ([7u8; FRAME], [0u8; FRAME]);
    let mut lat = Vec::with_capacity(ops as usize);
    for _ in 0..ops {
        let t = Instant::now();
        s.write_all(&frame).await.expect("write");
        s.read_exact(&mut back).await.expect("read");
        lat.push(t.elapsed().as_secs_f64() * 1e6);
    }
    lat
}

/// Per-operation latencies (µs) of `ops` asks of `r`.
async fn ask_latencies(r: Ref, ops: u64) -> Vec<f64> {
    let mut lat = Vec::with_capacity(ops as usize);
    for _ in 0..ops {
        let t = Instant::now();
        r.ask(CounterMsg::Add(1), ASK).await.expect("remote ask");
        lat.push(t.elapsed().as_secs_f64() * 1e6);
    }
    lat
}

fn print(figures: &[Figure]) {
    println!(
        "\n{:<34} {:>12} {:>22} {:<28} {:>7}  {:<22} met",
        "figure", "median", "min-max", "baseline", "ratio", "target"
    );
    for f in figures {
        let baseline = match (f.baseline, f.baseline_value) {
            (Some(n), Some(v)) => format!("{n} {}", short(v)),
            _ => "-".into(),
        };
        let ratio = f.ratio.map_or("-".into(), |r| {
            if r < 0.1 {
                format!("{r:.4}x")
            } else {
                format!("{r:.2}x")
            }
        });
        let met = match f.met {
            Some(true) => "yes",
            Some(false) => "MISSED",
            None => "-",
        };
        println!(
            "{:<34} {:>12} {:>22} {:<28} {:>7}  {:<22} {met}",
            format!("{} ({})", f.name, f.unit),
            short(f.value),
            format!("{}-{}", short(f.min), short(f.max)),
            baseline,
            ratio,
            f.target,
        );
    }
}

/// A figure with three significant digits.
fn short(v: f64) -> String {
    if v >= 1000.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.3}")
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--tcp-echo") {
        tcp_echo().await;
        return;
    }
    // `cargo test --benches` runs this too: only a real bench run measures.
    if !args.iter().any(|a| a == "--bench") {
        println!("report bench: run with `cargo bench --bench report`");
        return;
    }
    // A memory figure's fresh process (no counting allocator here: the
    // report gives resident memory, and the messaging figures are timed
    // on the system allocator).
    if memory::child(&args, || 0).await {
        return;
    }
    let quick = args.iter().any(|a| a == "--quick");
    let json = args
        .iter()
        .position(|a| a == "--json")
        .and_then(|i| args.get(i + 1).cloned());
    let plan = if quick {
        Plan {
            repeats: 5,
            local_ops: 20_000,
            remote_ops: 1_000,
            memory_rounds: 1,
            cluster_rounds: 3,
            commits: 100,
        }
    } else {
        Plan {
            repeats: 11,
            local_ops: 100_000,
            remote_ops: 5_000,
            memory_rounds: 3,
            cluster_rounds: 5,
            commits: 200,
        }
    };
    let started = Instant::now();
    let mut figures = Vec::new();

    // Local: one node, a Foundation server, a bare ractor actor, a kameo actor.
    let (mut echo, echo_port) = start_tcp_echo();
    let peer = support::NodeSpec::new("report-peer").counter("remote-counter");
    let (node, _peer) = support::joined_to(peer, "report").await;
    node.serve("local-counter", Count::default)
        .await
        .expect("serve");
    let local = node.lookup("local-counter").await.expect("lookup");
    let (bare, _) = Actor::spawn(None, Bare, ()).await.expect("bare");
    let kameo_ref = <KameoCount as kameo::actor::Spawn>::spawn(KameoCount::default());

    let ops = plan.local_ops;
    let per_op = move |t: Duration| t.as_secs_f64() * 1e6 / ops as f64;
    let ours = repeat(plan, || {
        let local = local.clone();
        async move {
            let t = Instant::now();
            for _ in 0..ops {
                local.ask(CounterMsg::Add(1), ASK).await.expect("ask");
            }
            per_op(t.elapsed())
        }
    })
    .await;
    let ractor_call = repeat(plan, || {
        let bare = bare.clone();
        async move {
            let t = Instant::now();
            for _ in 0..ops {
                ractor::call!(bare, BareMsg::Add, 1).expect("call");
            }
            per_op(t.elapsed())
        }
    })
    .await;
    // An ask always has a deadline; ractor's call with one arms a timer too.
    let ractor_call_t = repeat(plan, || {
        let bare = bare.clone();
        async move {
            let t = Instant::now();
            for _ in 0..ops {
                ractor::call_t!(bare, BareMsg::Add, 5_000, 1).expect("call");
            }
            per_op(t.elapsed())
        }
    })
    .await;
    let kameo_ask = repeat(plan, || {
        let k = kameo_ref.clone();
        async move {
            let t = Instant::now();
            for _ in 0..ops {
                k.ask(KAdd(1)).await.expect("kameo ask");
            }
            per_op(t.elapsed())
        }
    })
    .await;
    figures.push(figure(
        "local ask",
        "us",
        ours.clone(),
        Some(("ractor call", &ractor_call)),
        "<= 1.05x ractor call",
        |_, r| r.map(|r| r <= 1.05),
    ));
    figures.push(figure(
        "local ask vs timed call",
        "us",
        ours.clone(),
        Some(("ractor call_t", &ractor_call_t)),
        "(comparison)",
        |_, _| None,
    ));
    figures.push(figure(
        "local ask vs kameo",
        "us",
        ours,
        Some(("kameo ask", &kameo_ask)),
        "(comparison)",
        |_, _| None,
    ));

    // Tell throughput: `ops` tells, then one ask that queues behind them.
    let rate = move |t: Duration| ops as f64 / t.as_secs_f64();
    let ours = repeat(plan, || {
        let local = local.clone();
        async move {
            let t = Instant::now();
            for _ in 0..ops {
                local.tell(CounterMsg::Add(1)).expect("tell");
            }
            local.ask(CounterMsg::Get, ASK).await.expect("drained");
            rate(t.elapsed())
        }
    })
    .await;
    let ractor_cast = repeat(plan, || {
        let bare = bare.clone();
        async move {
            let t = Instant::now();
            for _ in 0..ops {
                bare.send_message(BareMsg::Inc(1)).expect("cast");
            }
            ractor::call!(bare, BareMsg::Add, 0).expect("drained");
            rate(t.elapsed())
        }
    })
    .await;
    let kameo_tell = repeat(plan, || {
        let k = kameo_ref.clone();
        async move {
            let t = Instant::now();
            for _ in 0..ops {
                k.tell(KAdd(1)).await.expect("kameo tell");
            }
            k.ask(KAdd(0)).await.expect("drained");
            rate(t.elapsed())
        }
    })
    .await;
    let kameo_rate = spread(kameo_tell.clone()).0;
    figures.push(figure(
        "local tell",
        "msg/s",
        ours.clone(),
        Some(("kameo tell", &kameo_tell)),
        ">= kameo tell",
        move |v, _| Some(v >= kameo_rate),
    ));
    figures.push(figure(
        "local tell vs ractor",
        "msg/s",
        ours,
        Some(("ractor cast", &ractor_cast)),
        "(comparison)",
        |_, _| None,
    ));

    // Remote: a node in another process, against raw TCP between two processes.
    let remote = loop {
        match node.lookup("remote-counter").await {
            Ok(r) => break r,
            Err(ClusterError::UnknownName(_)) => {
                tokio::time::sleep(Duration::from_millis(10)).await
            }
            Err(e) => panic!("remote counter: {e}"),
        }
    };
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", echo_port))
        .await
        .expect("connect");
    tcp.set_nodelay(true).expect("nodelay");
    let tcp = Arc::new(tokio::sync::Mutex::new(tcp));
    let remote_ops = plan.remote_ops;
    let (mut p50s, mut p99s, mut tcp50s, mut tcp99s) = (vec![], vec![], vec![], vec![]);
    let _ = in_task(ask_latencies(remote.clone(), remote_ops)).await;
    let _ = in_task(tcp_latencies(Arc::clone(&tcp), remote_ops)).await;
    for _ in 0..plan.repeats {
        let mut lat = in_task(ask_latencies(remote.clone(), remote_ops)).await;
        p50s.push(quantile(&mut lat, 0.5));
        p99s.push(quantile(&mut lat, 0.99));
        let mut lat = in_task(tcp_latencies(Arc::clone(&tcp), remote_ops)).await;
        tcp50s.push(quantile(&mut lat, 0.5));
        tcp99s.push(quantile(&mut lat, 0.99));
    }
    figures.push(figure(
        "remote ask p50",
        "us",
        p50s,
        Some(("2-process TCP p50", &tcp50s)),
        "<= 1.2x TCP",
        |_, r| r.map(|r| r <= 1.2),
    ));
    figures.push(figure(
        "remote ask p99",
        "us",
        p99s,
        Some(("2-process TCP p99", &tcp99s)),
        "<= 2x TCP",
        |_, r| r.map(|r| r <= 2.0),
    ));

    // 64 callers at once, each asking in a loop.
    const CALLERS: u64 = 64;
    let each = (remote_ops / 4).max(50);
    let callers = repeat(plan, || {
        let remote = remote.clone();
        async move {
            let t = Instant::now();
            let tasks: Vec<_> = (0..CALLERS)
                .map(|_| {
                    let r = remote.clone();
                    tokio::spawn(async move {
                        for _ in 0..each {
                            r.ask(CounterMsg::Add(1), ASK).await.expect("ask");
                        }
                    })
                })
                .collect();
            for task in tasks {
                task.await.expect("caller");
            }
            (CALLERS * each) as f64 / t.elapsed().as_secs_f64()
        }
    })
    .await;
    figures.push(figure(
        "remote ask, 64 callers",
        "asks/s",
        callers,
        None,
        ">= 100,000 asks/s",
        |v, _| Some(v >= 100_000.0),
    ));

    // Remote tells, then one ask that the peer answers after them (one
    // sender's messages arrive in order).
    let tells = remote_ops * 4;
    let remote_tell = repeat(plan, || {
        let remote = remote.clone();
        async move {
            let t = Instant::now();
            for _ in 0..tells {
                remote.tell(CounterMsg::Add(1)).expect("tell");
            }
            remote.ask(CounterMsg::Get, ASK).await.expect("drained");
            tells as f64 / t.elapsed().as_secs_f64()
        }
    })
    .await;
    figures.push(figure(
        "remote tell",
        "msg/s",
        remote_tell,
        None,
        ">= 500,000 msg/s",
        |v, _| Some(v >= 500_000.0),
    ));

    node.shutdown().await;
    let _ = echo.kill();
    let _ = echo.wait();

    protocol_figures(&mut figures, plan).await;
    memory_figures(&mut figures, plan);
    cluster_figures(&mut figures, plan).await;

    print(&figures);
    println!(
        "\n{} repeats per figure after a warm-up, {:.0} s in all; medians with min-max.",
        plan.repeats,
        started.elapsed().as_secs_f64()
    );
    if let Some(path) = json {
        let report = serde_json::json!({
            "machine": machine(),
            "unix_time": std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            "seconds": started.elapsed().as_secs_f64().round(),
            "quick": quick,
            "repeats": plan.repeats,
            "figures": figures,
        });
        std::fs::write(&path, serde_json::to_string_pretty(&report).expect("json"))
            .expect("write the report");
        println!("written to {path}");
    }
}

/// One protocol of the report.
struct Protocol {
    name: &'static str,
    /// The name of the same figure against the bare fan-out.
    versus_bare: &'static str,
    per_node: [usize; 3],
    auction: bool,
    target_ms: f64,
    target: &'static str,
}

/// The auction and the vote on three node processes, each against the
/// same protocol on one node and against a bare ractor fan-out.
async fn protocol_figures(figures: &mut Vec<Figure>, plan: Plan) {
    let cases = [
        Protocol {
            name: "auction, 1,000 agents, 3 nodes",
            versus_bare: "auction vs bare fan-out",
            per_node: protocols::AUCTION,
            auction: true,
            target_ms: 10.0,
            target: "<= 10 ms",
        },
        Protocol {
            name: "vote, 100 agents, 3 nodes",
            versus_bare: "vote vs bare fan-out",
            per_node: protocols::VOTE,
            auction: false,
            target_ms: 2.0,
            target: "<= 2 ms",
        },
    ];
    for case in cases {
        let (n, rounds) = (case.per_node.iter().sum(), plan.repeats);
        let three = in_task(protocols::three_nodes(case.per_node, case.auction, rounds)).await;
        let one = in_task(protocols::one_node(n, case.auction, rounds)).await;
        let bare = in_task(protocols::bare_fanout(n, rounds)).await;
        let target = case.target_ms;
        figures.push(figure(
            case.name,
            "ms",
            three.round_trips.clone(),
            Some(("all on one node", &one)),
            case.target,
            move |v, _| Some(v <= target),
        ));
        figures.push(figure(
            case.versus_bare,
            "ms",
            three.round_trips,
            Some(("bare ractor fan-out", &bare)),
            "(comparison)",
            |_, _| None,
        ));
    }
}

/// Resident memory and spawn time of 100,000 bare ractor actors, running
/// agents and asleep agents, each kind in fresh processes.
fn memory_figures(figures: &mut Vec<Figure>, plan: Plan) {
    const N: usize = 100_000;
    let measure = |kind: &str| -> Vec<memory::Figures> {
        (0..plan.memory_rounds)
            .map(|round| memory::measure_in_child(kind, N, round, false))
            .collect()
    };
    let (bare, agent, asleep) = (measure("bare"), measure("agent"), measure("asleep"));
    let resident = |fs: &[memory::Figures]| fs.iter().map(|f| f.resident).collect::<Vec<_>>();
    let spawn_ms = |fs: &[memory::Figures]| {
        fs.iter()
            .map(|f| f.spawn.as_secs_f64() * 1e3)
            .collect::<Vec<_>>()
    };
    figures.push(figure(
        "running agent, resident",
        "B/actor",
        resident(&agent),
        Some(("bare ractor actor", &resident(&bare))),
        "<= 1.1x bare",
        |_, r| r.map(|r| r <= 1.1),
    ));
    figures.push(figure(
        "asleep agent, resident",
        "B/agent",
        resident(&asleep),
        Some(("bare ractor actor", &resident(&bare))),
        "<= 1,024 B/agent",
        |v, _| Some(v <= 1024.0),
    ));
    figures.push(figure(
        "spawn 100k running agents",
        "ms",
        spawn_ms(&agent),
        Some(("100k bare ractor", &spawn_ms(&bare))),
        "<= 345 ms",
        |v, _| Some(v <= 345.0),
    ));
    figures.push(figure(
        "spawn 100k asleep agents",
        "ms",
        spawn_ms(&asleep),
        Some(("100k bare ractor", &spawn_ms(&bare))),
        "<= 345 ms",
        |v, _| Some(v <= 345.0),
    ));
}

/// Formation of a 5-node mesh, detection of a killed and of a frozen node,
/// and the commit latency of a replicated variable.
async fn cluster_figures(figures: &mut Vec<Figure>, plan: Plan) {
    const NODES: usize = 5;
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let (mut mesh, mut alone, mut killed, mut frozen) = (vec![], vec![], vec![], vec![]);
    for _ in 0..plan.cluster_rounds {
        alone.push(ms(in_task(cluster::started_alone(NODES)).await));
        mesh.push(ms(in_task(cluster::mesh_with_seeds(NODES)).await));
        killed.push(ms(in_task(cluster::detection("KILL")).await));
        frozen.push(ms(in_task(cluster::detection("STOP")).await));
    }
    figures.push(figure(
        "full mesh, 5 node processes",
        "ms",
        mesh,
        Some(("5 started alone", &alone)),
        "<= 1 s",
        |v, _| Some(v <= 1000.0),
    ));
    let timeout = [ms(cluster::FAILURE_TIMEOUT)];
    figures.push(figure(
        "killed node detected",
        "ms",
        killed,
        Some(("failure timeout", &timeout)),
        "<= 3 s",
        |v, _| Some(v <= 3000.0),
    ));
    figures.push(figure(
        "frozen node detected",
        "ms",
        frozen,
        Some(("failure timeout", &timeout)),
        "<= 3 s",
        |v, _| Some(v <= 3000.0),
    ));
    let commits = in_task(cluster::commits(plan.repeats, plan.commits)).await;
    figures.push(figure(
        "variable commit p50, on leader",
        "ms",
        commits.on_leader,
        Some(("remote ask, same pipe", &commits.ask)),
        "<= 2 ms",
        |v, _| Some(v <= 2.0),
    ));
    figures.push(figure(
        "variable commit p50, follower",
        "ms",
        commits.from_follower,
        Some(("remote ask, same pipe", &commits.ask)),
        "<= 2 ms",
        |v, _| Some(v <= 2.0),
    ));
}

/// This machine, as the report names it.
fn machine() -> serde_json::Value {
    let cpus = std::thread::available_parallelism().map_or(0, usize::from);
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_default();
    serde_json::json!({ "cpus": cpus, "model": model })
}
