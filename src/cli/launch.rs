//! `foundation launch`: the local multi-node demo.
//!
//! Starts N `foundation node` processes on 127.0.0.1, follows their JSON
//! event lines until they form a full mesh and every agent is visible, then
//! drives them through their command channels: a variable defined,
//! proposed by an agent, voted on by every agent and committed through the
//! Raft group of the nodes, read back on every node; an auction; and, with
//! three nodes or more, the last node killed while the others still read
//! the value and commit a new one. It prints a summary as it goes.

use std::collections::BTreeSet;
use std::process::Stdio;
use std::time::{Duration, Instant};

use agents::variables::Committed;
use anyhow::{bail, Context};
use serde_json::Value as Json;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

/// Arguments of `foundation launch`.
#[derive(Debug, clap::Args)]
pub(crate) struct LaunchArgs {
    /// How many node processes to start.
    #[arg(long, default_value_t = 3)]
    pub(crate) nodes: usize,
    /// Agents started on each node.
    #[arg(long, default_value_t = 3)]
    pub(crate) agents_per_node: usize,
    /// The first node listens here, the next on the following ports.
    #[arg(long, default_value_t = 7101)]
    pub(crate) base_port: u16,
    /// The cluster's cookie.
    #[arg(
        long,
        env = "FOUNDATION_COOKIE",
        default_value = "foundation-demo",
        hide_env_values = true
    )]
    pub(crate) cookie: String,
    /// Which demo to run: `default` (a variable voted on and committed, an
    /// auction, a failover) or `study` (an optimisation study whose agents
    /// evaluate trials on every node, with a live progress line).
    #[arg(long, value_enum, default_value_t = Example::Default)]
    pub(crate) example: Example,
}

/// The demos `foundation launch` runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Example {
    /// A variable voted on and committed, an auction, a failover.
    Default,
    /// An optimisation study across the nodes (see `study_launch.rs`).
    Study,
}

/// How long one `var` command may take (its own deadline is 3 s).
const OP: Duration = Duration::from_secs(10);

/// One node process and its command/event pipes.
pub(crate) struct NodeProc {
    pub(crate) name: String,
    pub(crate) child: Child,
    pub(crate) stdin: ChildStdin,
    pub(crate) lines: Lines<BufReader<ChildStdout>>,
}

impl NodeProc {
    /// Reads lines until one satisfies `pred`, at most until `deadline`.
    pub(crate) async fn expect(
        &mut self,
        deadline: Instant,
        mut pred: impl FnMut(&Json) -> bool,
    ) -> anyhow::Result<Json> {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = tokio::time::timeout(left, self.lines.next_line())
                .await
                .with_context(|| format!("{} did not answer in time", self.name))??
                .with_context(|| format!("{} exited", self.name))?;
            let Ok(value) = serde_json::from_str::<Json>(&line) else {
                continue;
            };
            if pred(&value) {
                return Ok(value);
            }
        }
    }

    pub(crate) async fn command(&mut self, line: &str, within: Duration) -> anyhow::Result<Json> {
        self.stdin.write_all(format!("{line}\n").as_bytes()).await?;
        self.stdin.flush().await?;
        let reply = self
            .expect(Instant::now() + within, |v| v.get("reply").is_some())
            .await?;
        if reply["reply"] == "error" {
            bail!("{} refused `{line}`: {}", self.name, reply["message"]);
        }
        Ok(reply)
    }
}

fn demo_agents(node: usize, count: usize) -> Vec<String> {
    (1..=count)
        .map(|k| {
            let vote = if (node + k) % 4 == 0 { "no" } else { "yes" };
            let bid = 10 + (node * 7 + k * 13) % 23;
            format!("n{node}-agent{k}:vote={vote}:bid={bid}")
        })
        .collect()
}

pub(crate) async fn run(args: LaunchArgs) -> anyhow::Result<()> {
    if args.nodes == 0 {
        bail!("--nodes must be at least 1");
    }
    if args.example == Example::Study {
        return super::study_launch::run(&args).await;
    }
    let started = Instant::now();
    println!(
        "Starting {} nodes on 127.0.0.1:{}..",
        args.nodes, args.base_port
    );
    let mut procs = start_nodes(&args, |i| demo_agents(i, args.agents_per_node))?;
    let result = drive(&mut procs, &args, started).await;
    stop_nodes(&mut procs).await;
    result?;
    println!(
        "All nodes stopped. Done in {:.1} s.",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Starts `args.nodes` node processes on consecutive ports from
/// `args.base_port`, seeded with the first, keeping the cluster's
/// variables together; node `i` (from 1) runs the scripted agents
/// `agents(i)`.
pub(crate) fn start_nodes(
    args: &LaunchArgs,
    agents: impl Fn(usize) -> Vec<String>,
) -> anyhow::Result<Vec<NodeProc>> {
    let exe = std::env::current_exe().context("locating the foundation binary")?;
    let first = format!("127.0.0.1:{}", args.base_port);
    let voters: Vec<String> = (1..=args.nodes).map(|i| format!("node{i}")).collect();
    let voters = voters.join(",");
    let mut procs = Vec::with_capacity(args.nodes);
    for i in 1..=args.nodes {
        let name = format!("node{i}");
        let port = args.base_port + (i - 1) as u16;
        let mut cmd = Command::new(&exe);
        cmd.args([
            "node",
            "--name",
            &name,
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--events",
            "json",
            "--commands",
            "--variables",
            &voters,
        ])
        .env("FOUNDATION_COOKIE", &args.cookie)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
        if std::env::var_os("RUST_LOG").is_none() {
            // The demo kills a node: the survivors' logs of the lost
            // connection would drown the summary.
            cmd.env(
                "RUST_LOG",
                "warn,ractor_cluster=error,actor_cluster::connector=error,openraft=off",
            );
        }
        if i > 1 {
            cmd.args(["--seed", &first]);
        } else {
            cmd.args(["--discovery", "none"]);
        }
        for agent in agents(i) {
            cmd.args(["--agent", &agent]);
        }
        let mut child = cmd.spawn().context("starting a node process")?;
        let stdin = child.stdin.take().context("node stdin")?;
        let stdout = child.stdout.take().context("node stdout")?;
        procs.push(NodeProc {
            name,
            child,
            stdin,
            lines: BufReader::new(stdout).lines(),
        });
    }
    Ok(procs)
}

/// Asks every node to quit, and kills any that has not within 10 s.
pub(crate) async fn stop_nodes(procs: &mut [NodeProc]) {
    for p in procs.iter_mut() {
        let _ = p.stdin.write_all(b"quit\n").await;
    }
    for p in procs.iter_mut() {
        if tokio::time::timeout(Duration::from_secs(10), p.child.wait())
            .await
            .is_err()
        {
            let _ = p.child.kill().await;
        }
    }
}

async fn drive(procs: &mut [NodeProc], args: &LaunchArgs, started: Instant) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    for p in procs.iter_mut() {
        let ev = p.expect(deadline, |v| v["event"] == "listening").await?;
        println!(
            "  {} listening on {}",
            p.name,
            ev["addr"].as_str().unwrap_or("?")
        );
    }
    let n = procs.len();
    for p in procs.iter_mut() {
        let mut seen = BTreeSet::new();
        while seen.len() < n - 1 {
            let ev = p.expect(deadline, |v| v["event"] == "node_up").await?;
            seen.insert(ev["node"].as_str().unwrap_or("?").to_owned());
        }
        if n > 1 {
            println!(
                "  {} sees {}",
                p.name,
                seen.into_iter().collect::<Vec<_>>().join(", ")
            );
        }
    }
    println!(
        "Cluster formed: {n} nodes, full mesh, in {} ms.",
        started.elapsed().as_millis()
    );

    let total = n * args.agents_per_node;
    let agents = loop {
        let reply = procs[0].command("agents", Duration::from_secs(5)).await?;
        let list = reply["agents"].as_array().cloned().unwrap_or_default();
        if list.len() >= total {
            break list;
        }
        if Instant::now() > deadline {
            bail!("only {} of {total} agents became visible", list.len());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    println!("\nAgents ({total}), as node1's directory sees them:");
    for p in procs.iter() {
        let ids: Vec<&str> = agents
            .iter()
            .filter(|a| a["node"] == p.name.as_str())
            .filter_map(|a| a["id"].as_str())
            .collect();
        println!("  {:<8} {}", p.name, ids.join(", "));
    }

    variables(procs).await?;

    let coordinator = procs.len().min(2) - 1;
    let auction = procs[coordinator]
        .command("auction gpu-hour second 5 2000", Duration::from_secs(10))
        .await?;
    let r = &auction["result"];
    let o = &r["outcome"];
    println!(
        "\nSealed-bid second-price auction for gpu-hour (reserve 5, coordinated on {}):",
        procs[coordinator].name
    );
    if let Some(ranking) = o["ranking"].as_array() {
        let top: Vec<String> = ranking
            .iter()
            .take(4)
            .map(|b| format!("{} {}", b["bidder"].as_str().unwrap_or("?"), b["amount"]))
            .collect();
        println!("  top bids: {}", top.join(", "));
    }
    match o["winner"].as_str() {
        Some(w) => {
            let node = agents
                .iter()
                .find(|a| a["id"] == w)
                .and_then(|a| a["node"].as_str())
                .unwrap_or("?");
            println!("  winner {w} (on {node}) pays {}", o["price"]);
        }
        None => println!("  no bid met the reserve"),
    }
    if let Some(tb) = o["tie_break"].as_str() {
        println!("  tie broken: {tb}");
    }
    println!("  closed in {} ms", r["duration_ms"]);
    failover(procs).await?;
    println!();
    Ok(())
}

/// Defines `learning_rate`, decided by a majority vote of the agents; an
/// agent on the second node proposes 0.01; every node then reads the
/// committed value and version from the replicated table.
async fn variables(procs: &mut [NodeProc]) -> anyhow::Result<()> {
    let voters: Vec<&str> = procs.iter().map(|p| p.name.as_str()).collect();
    println!(
        "\nVariables, replicated by Raft among {}:",
        voters.join(", ")
    );
    let define = "var define learning_rate float:0:1 0.1 vote=voter:majority:2000";
    let defined = committed(&procs[0].command(define, OP).await?, "define")?;
    println!(
        "  {} defined learning_rate: a float in [0, 1], default {} (version {}), \
         set by a majority vote of the agents",
        procs[0].name, defined.value, defined.version
    );
    let proposer = procs.len().min(2) - 1;
    let agent = format!("n{}-agent1", proposer + 1);
    let line = format!("var propose learning_rate 0.01 {agent}");
    let reply = procs[proposer]
        .command(&line, Duration::from_secs(10))
        .await?;
    let t = &reply["tally"];
    println!(
        "  {agent} proposes learning_rate = 0.01 (vote coordinated on {}):",
        procs[proposer].name
    );
    let passed = !reply["variable"].is_null();
    println!(
        "  yes {}  no {}  abstained {}  absent {}  -> {}",
        t["yes"],
        t["no"],
        t["abstained"],
        t["absent"],
        if passed { "PASSED" } else { "REJECTED" }
    );
    if passed {
        let c = committed(&reply, "propose")?;
        println!(
            "  committed learning_rate = {} at version {} (by {})",
            c.value, c.version, c.by
        );
    } else {
        println!("  not committed: {}", reply["reason"]);
    }
    read_everywhere(procs.iter_mut()).await
}

/// Kills the Raft leader (SIGKILL) when at least three nodes run, then
/// shows the committed value still readable and a new commit made by the
/// others, under the leader they elect.
async fn failover(procs: &mut [NodeProc]) -> anyhow::Result<()> {
    if procs.len() < 3 {
        println!("\n(With fewer than 3 nodes, no node can be lost without losing the quorum: no failover shown.)");
        return Ok(());
    }
    let status = procs[0].command("var status", OP).await?;
    let leader = status["status"]["leader"].as_str().unwrap_or_default();
    let victim = procs
        .iter()
        .position(|p| p.name == leader)
        .unwrap_or(procs.len() - 1);
    let n = procs.len();
    let dead = &mut procs[victim];
    dead.child.kill().await.context("killing a node")?;
    println!(
        "\nFailover: {} (the Raft leader) killed with SIGKILL; {} of {n} voters left, a quorum:",
        dead.name,
        n - 1,
    );
    let mut live: Vec<&mut NodeProc> = procs
        .iter_mut()
        .enumerate()
        .filter(|(i, _)| *i != victim)
        .map(|(_, p)| p)
        .collect();
    let started = Instant::now();
    let first = committed(&live[0].command("var get learning_rate", OP).await?, "get")?;
    println!(
        "  {} still reads learning_rate = {} (version {}) after {} ms",
        live[0].name,
        first.value,
        first.version,
        started.elapsed().as_millis()
    );
    let setter = live.len() - 1;
    let set = committed(
        &live[setter]
            .command("var set learning_rate 0.005", OP)
            .await?,
        "set",
    )?;
    println!(
        "  {} commits learning_rate = {}: version {}",
        live[setter].name, set.value, set.version
    );
    let status = live[0].command("var status", OP).await?;
    println!(
        "  new leader: {}",
        status["status"]["leader"].as_str().unwrap_or("none")
    );
    read_everywhere(live.iter_mut().map(|p| &mut **p)).await
}

/// Each node's linearizable read of `learning_rate`, and whether they agree.
async fn read_everywhere<'a>(procs: impl Iterator<Item = &'a mut NodeProc>) -> anyhow::Result<()> {
    let mut seen = BTreeSet::new();
    for p in procs {
        let c = committed(&p.command("var get learning_rate", OP).await?, "get")?;
        println!(
            "  {} reads learning_rate = {} (version {}, by {})",
            p.name, c.value, c.version, c.by
        );
        seen.insert((c.value.to_string(), c.version));
    }
    if seen.len() == 1 {
        println!("  every node reads the same value and version");
    } else {
        bail!("the nodes read different values: {seen:?}");
    }
    Ok(())
}

/// The variable in a `var` reply, or the refusal as an error.
fn committed(reply: &Json, op: &str) -> anyhow::Result<Committed> {
    if let Some(refused) = reply["refused"].as_str() {
        bail!("var {op} refused: {refused}");
    }
    serde_json::from_value(reply["variable"].clone())
        .with_context(|| format!("var {op} answered no variable: {reply}"))
}
