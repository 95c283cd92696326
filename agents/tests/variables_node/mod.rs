//! A variables node process, driven by a test or a bench: the calling
//! binary runs itself again with an environment variable holding the
//! node's [`Role`] in JSON; the node answers one JSON [`Op`] per line on
//! its stdin with one JSON [`Reply`] line (prefixed with [`MARK`], to tell
//! it from a test harness's own output).
//!
//! Used by `tests/variables_raft.rs`, `tests/variables_disk.rs` and
//! `benches/variables.rs`; each uses part of it.

#![allow(dead_code, clippy::print_stdout)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use actor_cluster::{Accepts, Handler, Message, Node, Server};
use agents::variables::{Change, Committed, Definition, GroupStatus, VariableError, Variables};
use agents::Value;
use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

/// The prefix of the lines a node writes for its driver.
pub(crate) const MARK: &str = "@@ ";
const COOKIE: &str = "variables-node";
/// The voters of every group these nodes form.
pub(crate) const VOTERS: [&str; 3] = ["n1", "n2", "n3"];
/// Each node's deadline for one operation.
pub(crate) const OP_TIMEOUT: Duration = Duration::from_secs(4);
/// The most a driver waits for a node's line.
const LINE_DEADLINE: Duration = Duration::from_secs(30);
/// The name each node serves its [`Echo`] under: `echo@<node>`.
const ECHO: &str = "echo";

/// What a node process is.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Role {
    /// Its node name, one of [`VOTERS`].
    pub(crate) name: String,
    /// The address of a node to join, if any.
    pub(crate) seed: Option<String>,
    /// Where it keeps its data; in memory without one.
    pub(crate) data_dir: Option<PathBuf>,
    /// A snapshot every this many log entries (openraft's default without).
    pub(crate) snapshot_every: Option<u64>,
}

/// What a driver asks a node.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Op {
    Define(Definition),
    Commit {
        name: String,
        value: Value,
    },
    Get(String),
    GetLocal(String),
    History(String),
    Status,
    /// Commits `count` values to `name` one after another and answers
    /// each commit: its version, when it was asked (µs since the epoch)
    /// and how long it took (µs).
    Bench {
        name: String,
        count: u32,
    },
    /// Reads `name` linearizably `count` times and answers each read's
    /// latency in microseconds.
    BenchGet {
        name: String,
        count: u32,
    },
    /// Asks `echo@<peer>` `count` times, one after another, and answers
    /// each round trip in microseconds: the floor of one replication
    /// round between two node processes.
    BenchAsk {
        peer: String,
        count: u32,
    },
    /// Commits `count` distinct values to `name` one after another, says
    /// `streaming` after the first `signal_after`, and answers what each
    /// commit was acknowledged with.
    Stream {
        name: String,
        count: u32,
        signal_after: u32,
    },
    /// When this node's subscription saw each commit of `name` (µs since
    /// the epoch, by version).
    Seen(String),
}

/// One commit of a [`Op::Bench`].
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub(crate) struct Timed {
    pub(crate) version: u64,
    /// When the commit was asked, µs since the epoch.
    pub(crate) asked_us: u64,
    /// How long until it was acknowledged, µs.
    pub(crate) took_us: u64,
}

/// A node's answer.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Reply {
    One(Result<Committed, VariableError>),
    Many(Result<Vec<Committed>, VariableError>),
    Status(GroupStatus),
    Micros(Result<Vec<u64>, String>),
    Timed(Result<Vec<Timed>, VariableError>),
    Acks(Result<Vec<Committed>, VariableError>),
    Seen(BTreeMap<u64, u64>),
}

/// The bench's round trip between node processes.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Ping(u64);

impl Message for Ping {
    type Reply = u64;
    const TAG: &'static str = "test.variables_node.ping/1";
}

/// Answers a [`Ping`] with its number.
struct Echo;

impl Server for Echo {
    fn accepts(accepts: &mut Accepts<Self>) {
        accepts.add::<Ping>();
    }
}

impl Handler<Ping> for Echo {
    async fn handle(&mut self, Ping(n): Ping) -> u64 {
        n
    }
}

/// Microseconds since the epoch: comparable between processes of one
/// machine.
fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

fn micros(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_micros()).unwrap_or(u64::MAX)
}

/// Runs the node process if `role_env` is set (and answers `true` once it
/// has ended); answers `false` at once otherwise.
pub(crate) fn node_main(role_env: &str) -> bool {
    let Ok(role) = std::env::var(role_env) else {
        return false;
    };
    let role: Role = serde_json::from_str(&role).expect("a role");
    tokio::runtime::Runtime::new()
        .expect("runtime")
        .block_on(run_node(role))
        .expect("variables node");
    true
}

async fn run_node(role: Role) -> anyhow::Result<()> {
    let mut builder = Node::builder()
        .name(&role.name)
        .cookie(COOKIE)
        .listen("127.0.0.1:0".parse()?)
        .no_discovery();
    if let Some(seed) = &role.seed {
        builder = builder.seed(seed);
    }
    let node = builder.start().await?;
    node.serve(&format!("{ECHO}@{}", role.name), || Echo)
        .await?;
    println!("{MARK}listening {}", node.addr());
    let mut variables = Variables::builder(&node, &VOTERS).timeout(OP_TIMEOUT);
    if let Some(entries) = role.snapshot_every {
        variables = variables.snapshot_every(entries);
    }
    if let Some(dir) = &role.data_dir {
        variables = variables.data_dir(dir);
    }
    let variables = variables.start().await?;
    let seen = Seen::default();
    let mut changes = variables.subscribe();
    let recorder = {
        let seen = seen.clone();
        tokio::spawn(async move {
            while let Ok(change) = changes.recv().await {
                if let Change::Committed(c) = change {
                    let at = now_us();
                    seen.lock()
                        .expect("seen")
                        .entry(c.name.clone())
                        .or_default()
                        .insert(c.version, at);
                }
            }
        })
    };
    println!("{MARK}ready");
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Some(line) = lines.next_line().await? {
        let op: Op = serde_json::from_str(&line)?;
        let reply = answer(&node, &variables, &seen, op).await;
        println!("{MARK}{}", serde_json::to_string(&reply)?);
    }
    recorder.abort();
    variables.shutdown().await;
    node.shutdown().await;
    Ok(())
}

/// When this node saw each commit, by variable and version.
type Seen = std::sync::Arc<std::sync::Mutex<BTreeMap<String, BTreeMap<u64, u64>>>>;

async fn answer(node: &Node, variables: &Variables, seen: &Seen, op: Op) -> Reply {
    match op {
        Op::Define(definition) => Reply::One(variables.define(definition).await),
        Op::Commit { name, value } => Reply::One(variables.commit(&name, value, "test").await),
        Op::Get(name) => Reply::One(variables.get(&name).await),
        Op::GetLocal(name) => Reply::One(variables.get_local(&name)),
        Op::History(name) => Reply::Many(variables.history(&name).await),
        Op::Status => Reply::Status(variables.status()),
        Op::Bench { name, count } => {
            let mut timed = Vec::new();
            for i in 0..count {
                let (asked_us, started) = (now_us(), Instant::now());
                let value = Value::Float(f64::from(i % 100) / 100.0);
                match variables.commit(&name, value, "bench").await {
                    Ok(c) => timed.push(Timed {
                        version: c.version,
                        asked_us,
                        took_us: micros(started),
                    }),
                    Err(e) => return Reply::Timed(Err(e)),
                }
            }
            Reply::Timed(Ok(timed))
        }
        Op::BenchGet { name, count } => {
            let mut took = Vec::new();
            for _ in 0..count {
                let started = Instant::now();
                if let Err(e) = variables.get(&name).await {
                    return Reply::Micros(Err(e.to_string()));
                }
                took.push(micros(started));
            }
            Reply::Micros(Ok(took))
        }
        Op::BenchAsk { peer, count } => {
            let echo = match node.lookup(&format!("{ECHO}@{peer}")).await {
                Ok(echo) => echo,
                Err(e) => return Reply::Micros(Err(e.to_string())),
            };
            let mut took = Vec::new();
            for i in 0..u64::from(count) {
                let started = Instant::now();
                if let Err(e) = echo.ask(Ping(i), OP_TIMEOUT).await {
                    return Reply::Micros(Err(e.to_string()));
                }
                took.push(micros(started));
            }
            Reply::Micros(Ok(took))
        }
        Op::Stream {
            name,
            count,
            signal_after,
        } => {
            let mut acks = Vec::new();
            for i in 0..count {
                if i == signal_after {
                    println!("{MARK}streaming");
                }
                let value = Value::Float(f64::from(i) / 1000.0);
                match variables.commit(&name, value, "stream").await {
                    Ok(committed) => acks.push(committed),
                    Err(e) => return Reply::Acks(Err(e)),
                }
            }
            Reply::Acks(Ok(acks))
        }
        Op::Seen(name) => {
            let seen = seen.lock().expect("seen");
            Reply::Seen(seen.get(&name).cloned().unwrap_or_default())
        }
    }
}

/// A node process as its driver sees it.
pub(crate) struct NodeProcess {
    pub(crate) name: String,
    /// Its listen address.
    pub(crate) addr: String,
    child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
}

/// How a driver runs a node: the environment variable [`node_main`]
/// reads, and the arguments that make the driver's binary call it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Launcher {
    pub(crate) role_env: &'static str,
    pub(crate) args: &'static [&'static str],
}

impl Launcher {
    /// Starts node `name`, seeded with `seed`, with its data in `data_dir`
    /// and a snapshot every `snapshot_every` entries; answers once it
    /// listens.
    pub(crate) async fn spawn(
        self,
        name: &str,
        seed: Option<&str>,
        data_dir: Option<&Path>,
        snapshot_every: Option<u64>,
    ) -> anyhow::Result<NodeProcess> {
        let role = Role {
            name: name.to_owned(),
            seed: seed.map(str::to_owned),
            data_dir: data_dir.map(Path::to_path_buf),
            snapshot_every,
        };
        let mut child = Command::new(std::env::current_exe()?)
            .args(self.args)
            .env(self.role_env, serde_json::to_string(&role)?)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .context("starting a node")?;
        let stdin = child.stdin.take().context("stdin")?;
        let stdout = child.stdout.take().context("stdout")?;
        let mut node = NodeProcess {
            name: name.to_owned(),
            addr: String::new(),
            child,
            stdin,
            lines: BufReader::new(stdout).lines(),
        };
        let line = node.line().await?;
        line.strip_prefix("listening ")
            .with_context(|| format!("{name} said `{line}`"))?
            .clone_into(&mut node.addr);
        Ok(node)
    }

    /// Starts the voters `names`, the first one as the seed of the
    /// others, each with its data in `data_dir/<name>` if there is a
    /// `data_dir`; answers once each says it knows a leader.
    pub(crate) async fn spawn_group(
        self,
        names: &[&str],
        data_dir: Option<&Path>,
        snapshot_every: Option<u64>,
    ) -> anyhow::Result<Vec<NodeProcess>> {
        let dir = |name: &str| data_dir.map(|d| d.join(name));
        let first = self
            .spawn(names[0], None, dir(names[0]).as_deref(), snapshot_every)
            .await?;
        let seed = first.addr.clone();
        let mut nodes = vec![first];
        for name in &names[1..] {
            let node = self
                .spawn(name, Some(&seed), dir(name).as_deref(), snapshot_every)
                .await?;
            nodes.push(node);
        }
        for node in &mut nodes {
            node.ready().await?;
        }
        Ok(nodes)
    }
}

impl NodeProcess {
    /// The node's next line for its driver, within [`LINE_DEADLINE`].
    pub(crate) async fn line(&mut self) -> anyhow::Result<String> {
        let name = &self.name;
        let next = async {
            while let Some(line) = self.lines.next_line().await? {
                if let Some(line) = line.strip_prefix(MARK) {
                    return Ok(line.to_owned());
                }
            }
            anyhow::bail!("{name} exited")
        };
        tokio::time::timeout(LINE_DEADLINE, next)
            .await
            .with_context(|| format!("{} said nothing in {LINE_DEADLINE:?}", self.name))?
    }

    /// Waits for the node to say it knows a leader.
    pub(crate) async fn ready(&mut self) -> anyhow::Result<()> {
        let line = self.line().await?;
        anyhow::ensure!(line == "ready", "{} said `{line}`", self.name);
        Ok(())
    }

    /// Sends `op` without waiting for its reply.
    pub(crate) async fn send(&mut self, op: &Op) -> anyhow::Result<()> {
        let mut line = serde_json::to_string(op)?;
        line.push('\n');
        self.stdin.write_all(line.as_bytes()).await?;
        self.stdin.flush().await?;
        Ok(())
    }

    /// The node's next reply.
    pub(crate) async fn reply(&mut self) -> anyhow::Result<Reply> {
        Ok(serde_json::from_str(&self.line().await?)?)
    }

    pub(crate) async fn ask(&mut self, op: &Op) -> anyhow::Result<Reply> {
        self.send(op).await?;
        self.reply().await
    }

    pub(crate) async fn one(&mut self, op: &Op) -> Result<Committed, VariableError> {
        match self.ask(op).await.expect("a reply") {
            Reply::One(one) => one,
            other => panic!("{}: {other:?}", self.name),
        }
    }

    pub(crate) async fn commit(
        &mut self,
        name: &str,
        value: Value,
    ) -> Result<Committed, VariableError> {
        self.one(&Op::Commit {
            name: name.into(),
            value,
        })
        .await
    }

    pub(crate) async fn get(&mut self, name: &str) -> Result<Committed, VariableError> {
        self.one(&Op::Get(name.into())).await
    }

    pub(crate) async fn history(&mut self, name: &str) -> Result<Vec<Committed>, VariableError> {
        match self.ask(&Op::History(name.into())).await.expect("a reply") {
            Reply::Many(many) => many,
            other => panic!("{}: {other:?}", self.name),
        }
    }

    pub(crate) async fn status(&mut self) -> GroupStatus {
        match self.ask(&Op::Status).await.expect("a reply") {
            Reply::Status(status) => status,
            other => panic!("{}: {other:?}", self.name),
        }
    }

    /// The round trips (or reads) of a [`Op::BenchGet`] or [`Op::BenchAsk`].
    pub(crate) async fn micros(&mut self, op: &Op) -> Vec<u64> {
        match self.ask(op).await.expect("a reply") {
            Reply::Micros(micros) => micros.expect("bench round trips"),
            other => panic!("{}: {other:?}", self.name),
        }
    }

    /// The commits of an [`Op::Bench`].
    pub(crate) async fn bench(&mut self, name: &str, count: u32) -> Vec<Timed> {
        let op = Op::Bench {
            name: name.into(),
            count,
        };
        match self.ask(&op).await.expect("a reply") {
            Reply::Timed(timed) => timed.expect("bench commits"),
            other => panic!("{}: {other:?}", self.name),
        }
    }

    /// When this node's subscription saw each commit of `name`.
    pub(crate) async fn seen(&mut self, name: &str) -> BTreeMap<u64, u64> {
        match self.ask(&Op::Seen(name.into())).await.expect("a reply") {
            Reply::Seen(seen) => seen,
            other => panic!("{}: {other:?}", self.name),
        }
    }

    /// Waits until `done` holds for the node's status, asking every 50 ms
    /// until `deadline`.
    pub(crate) async fn wait_status(
        &mut self,
        what: &str,
        deadline: Duration,
        done: impl Fn(&GroupStatus) -> bool,
    ) -> GroupStatus {
        let until = Instant::now() + deadline;
        loop {
            let status = self.status().await;
            if done(&status) {
                return status;
            }
            assert!(
                Instant::now() < until,
                "{}: no {what} within {deadline:?}: {status:?}",
                self.name
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Kills the node with SIGKILL and waits for it to be gone.
    pub(crate) async fn kill(mut self) {
        self.child.kill().await.expect("kill");
    }
}

/// The `q` quantile of `micros`, in milliseconds.
pub(crate) fn quantile_ms(micros: &[u64], q: f64) -> f64 {
    let mut sorted = micros.to_vec();
    sorted.sort_unstable();
    let at = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[at] as f64 / 1000.0
}
