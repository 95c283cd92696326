//! How a cluster of real `foundation node` processes on 127.0.0.1 behaves as
//! it grows. For each cluster size N (5, 10, 20, 40 and 100 nodes):
//!
//! 1. **mesh time**: N processes are started (node 0 first, then the others
//!    at once, each seeded with node 0 only); the time from the moment all of
//!    them are listening until every node has reported `node_up` for all N-1
//!    others (deadline 60 s; otherwise "not meshed" and how many links were
//!    up);
//! 2. **false events** over formation and a 10 s idle window: the sum of
//!    `false_events()` over all nodes (membership events other than one
//!    `joining` and one `node_up` per peer);
//! 3. **RSS per node** right after formation (`VmRSS` of `/proc/<pid>/status`),
//!    median and max;
//! 4. **idle CPU** over that 10 s window: the utime + stime deltas of
//!    `/proc/<pid>/stat`, all nodes together and per node, as % of one core;
//! 5. **kill detection**: one node (the last) is SIGKILLed; the time until
//!    each other node reports it `node_down` (median, max over observers);
//! 6. **freeze detection**: another node (the last but one) is SIGSTOPped;
//!    the time until each other node reports it `node_down`; then it is
//!    SIGCONTed and the membership events of the next 5 s are reported:
//!    events about healthy peers count as false, and whether the resumed node
//!    came back.
//!
//! Each node's stdout is drained while it runs. At the end a table compares
//! the figures with the targets: 40 nodes mesh ≤ 2 s and idle ≤ 5 % of one
//! core, 100 nodes mesh ≤ 5 s, no false events at any N, kill detected
//! ≤ 100 ms and a frozen node ≤ 3 s (both judged on the slowest observer).
//!
//! `cargo bench --bench scale`. Environment:
//!
//! * `FOUNDATION_SCALE_NS=5,10,20`: the cluster sizes to run (default
//!   `5,10,20,40,100`);
//! * `FOUNDATION_SCALE_JSON=path`: also write the results there as JSON.
//!
//! `cargo test --benches` runs it with `--test`: 5 nodes only.
//!
//! The report goes to stdout; the nodes log to stderr (`2>/dev/null` leaves
//! the report alone).
//!
//! The figures depend on the machine: all N nodes share its cores, so
//! anything else running at the same time slows formation and detection.

#![allow(clippy::print_stdout, missing_docs)]

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use futures::future::join_all;
use serde_json::{json, Value};

#[path = "../tests/support/mod.rs"]
mod nodes;

use nodes::{NodeSpec, TestNode};

const DEFAULT_NS: &[usize] = &[5, 10, 20, 40, 100];
const MESH_DEADLINE: Duration = Duration::from_secs(60);
const IDLE_WINDOW: Duration = Duration::from_secs(10);
const KILL_DEADLINE: Duration = Duration::from_secs(10);
/// After every observer has reported the killed node down: late stragglers.
const AFTER_KILL: Duration = Duration::from_secs(1);
const FREEZE_DEADLINE: Duration = Duration::from_secs(15);
const AFTER_RESUME: Duration = Duration::from_secs(5);
/// How many false events a block lists, and the JSON file.
const SHOWN: usize = 5;
const JSON_SHOWN: usize = 50;

/// One observation per observer: how long it took, or `None` past the deadline.
type Detections = Vec<Option<Duration>>;

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn median<T: Copy + Ord>(xs: &[T]) -> Option<T> {
    let mut xs = xs.to_vec();
    xs.sort();
    xs.get(xs.len() / 2).copied()
}

/// `utime + stime` of a process, in seconds.
fn cpu_time(pid: u32, tick: f64) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The command name (field 2) is in parentheses and may hold spaces.
    let rest = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state); utime and stime are fields 14 and 15.
    let field = |i: usize| fields.get(i - 3).and_then(|f| f.parse::<f64>().ok());
    (field(14).unwrap_or(0.0) + field(15).unwrap_or(0.0)) / tick
}

/// Clock ticks per second of `/proc/<pid>/stat`.
fn clock_tick() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// Resident set size of a process, in KiB.
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Reads `node`'s lines until it has seen `node_up` for each of `peers`;
/// returns when, or `None` at `until`.
async fn meshed(node: &mut TestNode, peers: &[String], until: Instant) -> Option<Instant> {
    for peer in peers {
        let up = |v: &Value| v["event"] == "node_up" && v["node"] == peer.as_str();
        let left = until.saturating_duration_since(Instant::now());
        node.try_expect(left, &up).await.ok()?;
    }
    Some(Instant::now())
}

/// Reads `node`'s lines until it reports `peer` down; how long after `since`.
async fn saw_down(
    node: &mut TestNode,
    peer: &str,
    since: Instant,
    within: Duration,
) -> Option<Duration> {
    let down = |v: &Value| v["event"] == "node_down" && v["node"] == peer;
    node.try_expect(within, &down).await.ok()?;
    Some(since.elapsed())
}

/// Drains every node in `nodes` for `window`, all at once.
async fn watch_all<'a>(nodes: impl Iterator<Item = &'a mut TestNode>, window: Duration) {
    join_all(nodes.map(|n| n.watch(window))).await;
}

/// The membership events `node` reported (since its last `forget`) about
/// peers other than `expected`, as readable lines.
fn about_others(node: &TestNode, expected: &[&str]) -> Vec<String> {
    node.membership()
        .into_iter()
        .filter(|(_, peer)| !expected.contains(&peer.as_str()))
        .map(|(event, peer)| format!("{}: {event} for {peer}", node.name))
        .collect()
}

/// How many of each kind of membership event `node` reported about `peer`.
fn kinds_about(node: &TestNode, peer: &str) -> BTreeMap<String, usize> {
    let mut kinds = BTreeMap::new();
    for (event, about) in node.membership() {
        if about == peer {
            *kinds.entry(event).or_default() += 1;
        }
    }
    kinds
}

fn summed(maps: impl Iterator<Item = BTreeMap<String, usize>>) -> BTreeMap<String, usize> {
    let mut total = BTreeMap::new();
    for map in maps {
        for (k, v) in map {
            *total.entry(k).or_default() += v;
        }
    }
    total
}

fn kinds_text(kinds: &BTreeMap<String, usize>) -> String {
    if kinds.is_empty() {
        return "none".into();
    }
    kinds
        .iter()
        .map(|(k, v)| format!("{v} {k}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// "median M ms, max X ms (k/n observers)" and the max, if every observer saw it.
fn detection_text(samples: &Detections) -> (String, Option<Duration>) {
    let seen: Vec<Duration> = samples.iter().flatten().copied().collect();
    let (Some(med), Some(max)) = (median(&seen), seen.iter().max().copied()) else {
        return ("not detected by any observer".into(), None);
    };
    let text = format!(
        "median {:.0} ms, max {:.0} ms ({}/{} observers)",
        ms(med),
        ms(max),
        seen.len(),
        samples.len()
    );
    let all = seen.len() == samples.len();
    (text, all.then_some(max))
}

fn detection_json(samples: &Detections) -> Value {
    let seen: Vec<f64> = samples.iter().flatten().map(|d| ms(*d)).collect();
    let mut sorted = seen.clone();
    sorted.sort_by(f64::total_cmp);
    json!({
        "observers": samples.len(),
        "detected": seen.len(),
        "median_ms": sorted.get(sorted.len() / 2),
        "max_ms": sorted.last(),
    })
}

/// What one cluster size gave.
struct Outcome {
    n: usize,
    /// From all listening to full mesh; `None`: not meshed by the deadline.
    mesh: Option<Duration>,
    idle_cpu_percent: f64,
    false_formation: usize,
    kill_max: Option<Duration>,
    freeze_max: Option<Duration>,
    false_after_resume: usize,
    json: Value,
}

async fn run(n: usize, tick: f64) -> Outcome {
    println!("== {n} nodes ==");
    let names: Vec<String> = (0..n).map(|i| format!("n{i}")).collect();
    let spawned = Instant::now();
    let first = NodeSpec::new(&names[0]).listen("127.0.0.1:0").start().await;
    let seed = first.addr.clone();
    let rest = join_all(names[1..].iter().map(|name| {
        NodeSpec::new(name)
            .listen("127.0.0.1:0")
            .seed(&seed)
            .start()
    }))
    .await;
    let mut nodes: Vec<TestNode> = std::iter::once(first).chain(rest).collect();
    let listening = Instant::now();
    println!(
        "started: all {n} listening {:.0} ms after the first spawn (each seeded with n0)",
        ms(listening - spawned)
    );

    // 1. Mesh.
    let until = listening + MESH_DEADLINE;
    let done = join_all(nodes.iter_mut().map(|node| {
        let peers: Vec<String> = names.iter().filter(|p| **p != node.name).cloned().collect();
        async move { meshed(node, &peers, until).await }
    }))
    .await;
    let mesh = done
        .iter()
        .copied()
        .collect::<Option<Vec<Instant>>>()
        .and_then(|t| t.into_iter().max())
        .map(|last| last.saturating_duration_since(listening));
    let links: usize = nodes
        .iter()
        .map(|node| {
            let ups: BTreeSet<String> = node
                .membership()
                .into_iter()
                .filter(|(event, _)| event == "node_up")
                .map(|(_, peer)| peer)
                .collect();
            ups.len()
        })
        .sum();
    let all_links = n * (n - 1);
    match mesh {
        Some(d) => println!(
            "mesh: {:.0} ms from all listening ({:.0} ms from the first spawn)",
            ms(d),
            ms(d + (listening - spawned))
        ),
        None => println!(
            "mesh: not meshed within {} s: {links}/{all_links} links ever reported up",
            MESH_DEADLINE.as_secs()
        ),
    }

    // 3. RSS right after formation.
    let rss: Vec<u64> = nodes.iter().map(|node| rss_kib(node.pid())).collect();
    let (rss_median, rss_max) = (
        median(&rss).unwrap_or(0),
        rss.iter().max().copied().unwrap_or(0),
    );
    println!(
        "rss per node: median {:.1} MiB, max {:.1} MiB",
        rss_median as f64 / 1024.0,
        rss_max as f64 / 1024.0
    );

    // 4. Idle CPU, while draining every node; 2. false events over formation + idle.
    let pids: Vec<u32> = nodes.iter().map(TestNode::pid).collect();
    let before: Vec<f64> = pids.iter().map(|p| cpu_time(*p, tick)).collect();
    let idle_started = Instant::now();
    watch_all(nodes.iter_mut(), IDLE_WINDOW).await;
    let idle = idle_started.elapsed().as_secs_f64();
    let per_node: Vec<f64> = pids
        .iter()
        .zip(&before)
        .map(|(p, b)| (cpu_time(*p, tick) - b) / idle * 100.0)
        .collect();
    let idle_cpu_percent: f64 = per_node.iter().sum();
    let mut sorted = per_node.clone();
    sorted.sort_by(f64::total_cmp);
    let (cpu_median, cpu_max) = (sorted[sorted.len() / 2], sorted[sorted.len() - 1]);
    println!(
        "idle cpu over {:.0} s: all nodes {idle_cpu_percent:.1} % of one core; \
         per node median {cpu_median:.2} %, max {cpu_max:.2} %",
        idle
    );
    let false_formation: Vec<String> = nodes.iter().flat_map(TestNode::false_events).collect();
    println!(
        "false events (formation + idle): {}{}",
        false_formation.len(),
        listed(&false_formation)
    );

    // 5. Kill detection.
    let killed = n - 1;
    let killed_name = names[killed].clone();
    for node in nodes.iter_mut() {
        node.forget();
    }
    let t = Instant::now();
    nodes[killed].kill().await;
    let kill: Detections = join_all(
        observers(&mut nodes, &[killed]).map(|node| saw_down(node, &killed_name, t, KILL_DEADLINE)),
    )
    .await;
    watch_all(observers(&mut nodes, &[killed]), AFTER_KILL).await;
    let (kill_text, kill_max) = detection_text(&kill);
    println!("kill ({killed_name}, SIGKILL) detected: {kill_text}");
    let false_kill: Vec<String> = observers(&mut nodes, &[killed])
        .flat_map(|node| about_others(node, &[&killed_name]))
        .collect();
    let kill_kinds = summed(observers(&mut nodes, &[killed]).map(|n| kinds_about(n, &killed_name)));
    println!(
        "  events about {killed_name}: {}; false events about healthy peers: {}{}",
        kinds_text(&kill_kinds),
        false_kill.len(),
        listed(&false_kill)
    );

    // 6. Freeze detection, then resume.
    let frozen = n - 2;
    let frozen_name = names[frozen].clone();
    for node in nodes.iter_mut() {
        node.forget();
    }
    let t = Instant::now();
    nodes[frozen].signal("STOP");
    let freeze: Detections = join_all(
        observers(&mut nodes, &[killed, frozen])
            .map(|node| saw_down(node, &frozen_name, t, FREEZE_DEADLINE)),
    )
    .await;
    let (freeze_text, freeze_max) = detection_text(&freeze);
    println!("freeze ({frozen_name}, SIGSTOP) detected: {freeze_text}");
    nodes[frozen].signal("CONT");
    watch_all(observers(&mut nodes, &[killed]), AFTER_RESUME).await;
    let expected = [killed_name.as_str(), frozen_name.as_str()];
    let false_resume: Vec<String> = observers(&mut nodes, &[killed, frozen])
        .flat_map(|node| about_others(node, &expected))
        .collect();
    let frozen_kinds =
        summed(observers(&mut nodes, &[killed, frozen]).map(|n| kinds_about(n, &frozen_name)));
    let back = observers(&mut nodes, &[killed, frozen])
        .filter(|node| {
            node.membership()
                .iter()
                .any(|(e, p)| e == "node_up" && *p == frozen_name)
        })
        .count();
    let resumed_kinds = {
        let mut kinds = BTreeMap::new();
        for (event, _) in nodes[frozen].membership() {
            *kinds.entry(event).or_default() += 1;
        }
        kinds
    };
    println!(
        "  after SIGCONT ({} s): false events of the others about healthy peers: {}{}",
        AFTER_RESUME.as_secs(),
        false_resume.len(),
        listed(&false_resume)
    );
    println!(
        "  the others' events about {frozen_name} (freeze + resume): {}; {back}/{} saw it up again",
        kinds_text(&frozen_kinds),
        n - 2
    );
    println!(
        "  {frozen_name}'s own membership events after resuming: {}",
        kinds_text(&resumed_kinds)
    );

    // 7. Shut down.
    join_all(
        nodes
            .iter_mut()
            .enumerate()
            .filter(|(i, _)| *i != killed)
            .map(|(_, node)| node.kill()),
    )
    .await;
    println!();

    let json = json!({
        "n": n,
        "seeds": "every node seeded with n0",
        "listening_ms": ms(listening - spawned),
        "mesh_ms": mesh.map(ms),
        "links_up": links,
        "links": all_links,
        "false_events_formation": events_json(&false_formation),
        "rss_kib": { "median": rss_median, "max": rss_max },
        "idle_cpu_percent": {
            "window_s": idle,
            "all": idle_cpu_percent,
            "per_node_median": cpu_median,
            "per_node_max": cpu_max,
        },
        "kill": {
            "node": killed_name,
            "detection": detection_json(&kill),
            "events_about_killed": kill_kinds,
            "false_events": events_json(&false_kill),
        },
        "freeze": {
            "node": frozen_name,
            "detection": detection_json(&freeze),
            "events_about_frozen": frozen_kinds,
            "observers_saw_it_up_again": back,
            "false_events_after_resume": events_json(&false_resume),
            "resumed_node_events": resumed_kinds,
        },
    });
    Outcome {
        n,
        mesh,
        idle_cpu_percent,
        false_formation: false_formation.len() + false_kill.len(),
        kill_max,
        freeze_max,
        false_after_resume: false_resume.len(),
        json,
    }
}

/// The nodes whose index is not in `skip`.
fn observers<'a>(
    nodes: &'a mut [TestNode],
    skip: &'a [usize],
) -> impl Iterator<Item = &'a mut TestNode> + 'a {
    nodes
        .iter_mut()
        .enumerate()
        .filter(move |(i, _)| !skip.contains(i))
        .map(|(_, node)| node)
}

/// How many of `events` (lines like `n3: suspect for n7`) are of each kind.
fn event_kinds(events: &[String]) -> BTreeMap<String, usize> {
    let mut kinds = BTreeMap::new();
    for e in events {
        let what = e.split_once(": ").map_or(e.as_str(), |(_, what)| what);
        let kind = what.rsplit_once(" for ").map_or(what, |(kind, _)| kind);
        *kinds.entry(kind.to_owned()).or_default() += 1;
    }
    kinds
}

/// The kinds and the first few of `events`, for a report line.
fn listed(events: &[String]) -> String {
    if events.is_empty() {
        return String::new();
    }
    let more = events.len().saturating_sub(SHOWN);
    let mut text = format!(
        " ({}): {}",
        kinds_text(&event_kinds(events)),
        events[..events.len().min(SHOWN)].join("; ")
    );
    if more > 0 {
        text.push_str(&format!("; … and {more} more"));
    }
    text
}

/// `events` for the JSON file: the count, the kinds and the first ones.
fn events_json(events: &[String]) -> Value {
    json!({
        "count": events.len(),
        "kinds": event_kinds(events),
        "first": &events[..events.len().min(JSON_SHOWN)],
    })
}

/// One row of the summary: a target, what was measured, met or not.
struct Row {
    target: String,
    measured: String,
    met: Option<bool>,
}

fn summary(outcomes: &[Outcome]) -> Vec<Row> {
    let at = |n: usize| outcomes.iter().find(|o| o.n == n);
    let mesh_row = |n: usize, limit: Duration| match at(n) {
        None => Row {
            target: format!("{n} nodes mesh ≤ {} s", limit.as_secs()),
            measured: "not run".into(),
            met: None,
        },
        Some(o) => Row {
            target: format!("{n} nodes mesh ≤ {} s", limit.as_secs()),
            measured: o
                .mesh
                .map_or("not meshed".into(), |d| format!("{:.0} ms", ms(d))),
            met: Some(o.mesh.is_some_and(|d| d <= limit)),
        },
    };
    let mut rows = vec![mesh_row(40, Duration::from_secs(2))];
    rows.push(match at(40) {
        None => Row {
            target: "40 nodes idle ≤ 5 % of one core".into(),
            measured: "not run".into(),
            met: None,
        },
        Some(o) => Row {
            target: "40 nodes idle ≤ 5 % of one core".into(),
            measured: format!("{:.1} %", o.idle_cpu_percent),
            met: Some(o.idle_cpu_percent <= 5.0),
        },
    });
    rows.push(mesh_row(100, Duration::from_secs(5)));
    let detection =
        |d: Option<Duration>| d.map_or("not seen by all".into(), |d| format!("{:.0} ms", ms(d)));
    for o in outcomes {
        rows.push(Row {
            target: format!("{} nodes: 0 false events (formation, idle, kill)", o.n),
            measured: o.false_formation.to_string(),
            met: Some(o.false_formation == 0),
        });
        rows.push(Row {
            target: format!("{} nodes: 0 false events after a resume", o.n),
            measured: o.false_after_resume.to_string(),
            met: Some(o.false_after_resume == 0),
        });
        rows.push(Row {
            target: format!("{} nodes: kill detected ≤ 100 ms (max)", o.n),
            measured: detection(o.kill_max),
            met: Some(o.kill_max.is_some_and(|d| d <= Duration::from_millis(100))),
        });
        rows.push(Row {
            target: format!("{} nodes: frozen detected ≤ 3 s (max)", o.n),
            measured: detection(o.freeze_max),
            met: Some(o.freeze_max.is_some_and(|d| d <= Duration::from_secs(3))),
        });
    }
    rows
}

fn sizes() -> Vec<usize> {
    // `cargo test --benches` runs this with `--test`: the smallest size only.
    if std::env::args().any(|a| a == "--test") {
        return vec![DEFAULT_NS[0]];
    }
    match std::env::var("FOUNDATION_SCALE_NS") {
        Ok(list) => list
            .split(',')
            .map(|s| {
                s.trim()
                    .parse()
                    .expect("FOUNDATION_SCALE_NS: sizes like 5,10,20")
            })
            .inspect(|n| assert!(*n >= 3, "FOUNDATION_SCALE_NS: at least 3 nodes per cluster"))
            .collect(),
        Err(_) => DEFAULT_NS.to_vec(),
    }
}

#[tokio::main]
async fn main() {
    let tick = clock_tick();
    let mut outcomes = Vec::new();
    for n in sizes() {
        outcomes.push(run(n, tick).await);
    }
    let rows = summary(&outcomes);
    let width = rows
        .iter()
        .map(|r| r.target.chars().count())
        .max()
        .unwrap_or(0);
    println!("== summary ==");
    for row in &rows {
        let verdict = match row.met {
            Some(true) => "met",
            Some(false) => "MISSED",
            None => "-",
        };
        let pad = width - row.target.chars().count();
        println!(
            "{}{} {:>16}  {verdict}",
            row.target,
            " ".repeat(pad),
            row.measured
        );
    }
    if let Ok(path) = std::env::var("FOUNDATION_SCALE_JSON") {
        let targets: Vec<Value> = rows
            .iter()
            .map(|r| json!({ "target": r.target, "measured": r.measured, "met": r.met }))
            .collect();
        let results: Vec<&Value> = outcomes.iter().map(|o| &o.json).collect();
        let doc = json!({ "sizes": results, "targets": targets });
        std::fs::write(&path, serde_json::to_string_pretty(&doc).expect("json"))
            .unwrap_or_else(|e| panic!("write {path}: {e}"));
        println!("results written to {path}");
    }
}
