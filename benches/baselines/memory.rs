//! Memory and spawn time of agents against bare ractor actors, for
//! `benches/agent_memory.rs` and `benches/report.rs`: each kind is
//! measured in a fresh process (freed memory is not returned to the
//! system, so rounds in one process would reuse it), the bench's own
//! executable run again with `--measure KIND N ROUND` (see [`child`]).
//!
//! * `bare`: ractor actors holding an id and a value, spawned one after
//!   another from one task.
//! * `agent`: agents with the same state, each registered cluster-wide
//!   with its capability, under an agent supervisor, all started by one
//!   call to [`Agents::spawn_many`](agents::Agents::spawn_many) from one
//!   task (running agents start one after another in it; asleep ones are
//!   registered 256 at a time).
//! * `passivated`: the same agents with
//!   [`AgentSpec::passivate_after`](agents::AgentSpec::passivate_after):
//!   measured once every one of them has passivated.
//! * `asleep`: the same agents started asleep
//!   ([`AgentSpec::asleep`](agents::AgentSpec::asleep)): registered and
//!   listed, no actor ever started.
//!
//! An agents' node is measured [`SETTLE`] after the last spawn returned
//! (and, for the passivated and asleep kinds, once every agent is listed
//! so), its lifecycle manager done following them. For each: resident
//! memory growth per actor (`/proc/self/statm`, so
//! Linux only), live heap growth per actor (from the including bench's
//! counting allocator, if it has one), the time to spawn all of them,
//! timed inside a spawned task, and, if asked, the CPU the process burns
//! once they are all idle (`/proc/self/stat`, over [`IDLE_WINDOW`]).

#![allow(dead_code, unreachable_pub, missing_docs)]

use std::time::{Duration, Instant};

use actor_cluster::Server;
use agents::{Agent, AgentSpec, Agents, Bidder, CallForBids, Families, Query, Status};
use ractor::{Actor, ActorProcessingErr, ActorRef};

/// How long an idle agent runs before it passivates, in the `passivated`
/// and `asleep` kinds.
const IDLE: Duration = Duration::from_millis(200);

/// How long the idle CPU is measured.
const IDLE_WINDOW: Duration = Duration::from_secs(3);

/// How long the agents' node is left to settle before it is measured:
/// its lifecycle manager follows the agents spawned (and publishes their
/// first status) after their spawns returned.
const SETTLE: Duration = Duration::from_secs(2);

/// Bytes of live heap, from a counting allocator (`|| 0` without one).
pub type Heap = fn() -> usize;

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

/// CPU time this process has used (user and system), from
/// `/proc/self/stat` (in clock ticks of 10 ms).
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    // The fields after the command name, which is in parentheses.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let ticks: u64 = after
        .split_whitespace()
        .skip(11)
        .take(2)
        .map(|t| t.parse::<u64>().expect("cpu ticks"))
        .sum();
    Duration::from_millis(ticks * 10)
}

/// Milliseconds of CPU per second the process burns over [`IDLE_WINDOW`].
async fn idle_cpu() -> f64 {
    let before = cpu_time();
    tokio::time::sleep(IDLE_WINDOW).await;
    (cpu_time() - before).as_secs_f64() * 1e3 / IDLE_WINDOW.as_secs_f64()
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

/// Waits until the `n` agents are all listed passivated.
async fn all_passivated(agents: &Agents, n: usize) {
    let asleep = Query::new().status(Status::Passivated);
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let count = agents.query(&asleep).await.map_or(0, |a| a.len());
        if count == n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{count} of {n} agents passivated"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// What one round measured, per actor.
pub struct Figures {
    /// Resident bytes grown, per actor.
    pub resident: f64,
    /// Live heap bytes grown, per actor (0 without a counting allocator).
    pub heap: f64,
    /// The time to spawn all of them.
    pub spawn: Duration,
    /// Milliseconds of CPU per second once they are all idle (0 unless
    /// asked for).
    pub idle: f64,
}

/// Memory grown since `before` (resident, heap), per actor.
fn grown(n: usize, heap: Heap, before: (u64, usize)) -> (f64, f64) {
    let resident = resident().saturating_sub(before.0) as f64 / n as f64;
    let heap = heap().saturating_sub(before.1) as f64 / n as f64;
    (resident, heap)
}

async fn bare_round(n: usize, heap: Heap, idle: bool) -> Figures {
    let before = (resident(), heap());
    let (spawn, actors) = tokio::spawn(async move {
        let started = Instant::now();
        let mut actors = Vec::with_capacity(n);
        for i in 0..n {
            actors.push(Actor::spawn(None, Bare, i).await.expect("bare").0);
        }
        (started.elapsed(), actors)
    })
    .await
    .expect("spawning task");
    let (resident, heap) = grown(n, heap, before);
    let idle = if idle { idle_cpu().await } else { 0.0 };
    drop(actors);
    Figures {
        resident,
        heap,
        spawn,
        idle,
    }
}

/// How the agents of a round start and end up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Running.
    Active,
    /// Started running, then passivated when idle.
    Passivated,
    /// Started asleep (`AgentSpec::asleep`): never ran.
    Asleep,
}

async fn agent_round(n: usize, round: usize, mode: Mode, heap: Heap, idle: bool) -> Figures {
    let node = actor_cluster::Node::builder()
        .name(format!("memory-{round}"))
        .cookie("bench")
        .listen("127.0.0.1:0".parse().expect("addr"))
        .no_discovery()
        .start()
        .await
        .expect("node");
    let agents = Agents::start(&node).await.expect("agents");
    let before = (resident(), heap());
    let spawning = agents.clone();
    let spawn = tokio::spawn(async move {
        let started = Instant::now();
        let specs = (0..n).map(|i| {
            let spec = AgentSpec::new(move || Buyer {
                id: format!("agent-{i}"),
                value: i as f64,
            });
            match mode {
                Mode::Active => spec,
                Mode::Passivated => spec.passivate_after(IDLE),
                Mode::Asleep => spec.asleep(IDLE),
            }
        });
        for spawned in spawning.spawn_many(specs).await {
            spawned.expect("agent");
        }
        started.elapsed()
    })
    .await
    .expect("spawning task");
    // Agents started asleep are checked after they are measured: the
    // listing of all of them is the bench's, not theirs (its memory, once
    // freed, stays resident). Those that passivate are waited for.
    if mode == Mode::Passivated {
        all_passivated(&agents, n).await;
    }
    tokio::time::sleep(SETTLE).await;
    let (resident, heap) = grown(n, heap, before);
    let idle = if idle { idle_cpu().await } else { 0.0 };
    if mode == Mode::Asleep {
        all_passivated(&agents, n).await;
    }
    node.shutdown().await;
    Figures {
        resident,
        heap,
        spawn,
        idle,
    }
}

/// In a process run by [`measure_in_child`] (`--measure KIND N ROUND` among
/// `args`, and `--idle` to measure the idle CPU too): measures, prints the
/// figures for the parent and answers `true`. Elsewhere answers `false`
/// at once.
pub async fn child(args: &[String], heap: Heap) -> bool {
    let Some(i) = args.iter().position(|a| a == "--measure") else {
        return false;
    };
    let n = args
        .get(i + 2)
        .and_then(|r| r.parse().ok())
        .unwrap_or(100_000);
    let round = args.get(i + 3).and_then(|r| r.parse().ok()).unwrap_or(0);
    let idle = args.iter().any(|a| a == "--idle");
    let figures = match args.get(i + 1).map(String::as_str) {
        Some("bare") => bare_round(n, heap, idle).await,
        Some("passivated") => agent_round(n, round, Mode::Passivated, heap, idle).await,
        Some("asleep") => agent_round(n, round, Mode::Asleep, heap, idle).await,
        _ => agent_round(n, round, Mode::Active, heap, idle).await,
    };
    println!(
        "{} {} {} {}",
        figures.resident,
        figures.heap,
        figures.spawn.as_secs_f64(),
        figures.idle
    );
    true
}

/// Measures `kind` (`bare`, `agent`, `passivated`, `asleep`) with `n`
/// actors in a fresh run of this executable, and the idle CPU if `idle`.
pub fn measure_in_child(kind: &str, n: usize, round: usize, idle: bool) -> Figures {
    let (n, round) = (n.to_string(), round.to_string());
    let mut args = vec!["--bench", "--measure", kind, &n, &round];
    if idle {
        args.push("--idle");
    }
    let out = std::process::Command::new(std::env::current_exe().expect("exe"))
        .args(args)
        .output()
        .expect("child");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let nums: Vec<f64> = text
        .split_whitespace()
        .map(|w| w.parse().expect("a figure"))
        .collect();
    Figures {
        resident: nums[0],
        heap: nums[1],
        spawn: Duration::from_secs_f64(nums[2]),
        idle: nums[3],
    }
}
