//! Variables kept on disk ([`VariablesBuilder::data_dir`]): three node
//! processes commit values past a snapshot (and the purge of the log
//! before it), all three are killed (SIGKILL) and started again with the
//! same data dirs, and every value and version reads back linearizably
//! on every node, the next commit getting the next version. A data dir
//! that cannot be used fails `start` with an error naming it. The commit
//! latency on disk and in memory is printed (run with `--release
//! --nocapture --test-threads=1` for figures).
//!
//! Each node is this test binary run again with [`ROLE`] set to its
//! [`Role`] in JSON; the test talks to it with one JSON line per operation
//! on its stdin and reads one JSON line back (prefixed with [`MARK`], to
//! tell it from the test harness's own output).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use actor_cluster::Node;
use agents::variables::{
    Committed, Definition, GroupStatus, Kind, VariableError, Variables, VariablesBuilder,
};
use agents::{AgentError, Value};
use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

/// The environment variable that makes this binary a node: its [`Role`].
const ROLE: &str = "FOUNDATION_VARIABLES_DISK_NODE";
/// The prefix of the lines a node writes for the test.
const MARK: &str = "@@ ";
const COOKIE: &str = "variables-disk-test";
const VOTERS: [&str; 3] = ["n1", "n2", "n3"];
/// Each node's deadline for one operation.
const OP_TIMEOUT: Duration = Duration::from_secs(4);
/// The most the test waits for a node's line.
const LINE_DEADLINE: Duration = Duration::from_secs(30);
/// A snapshot every this many log entries, so that the test passes a few.
const SNAPSHOT_EVERY: u64 = 10;

/// What a node process is.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Role {
    name: String,
    /// The address of a node to join, if any.
    seed: Option<String>,
    /// Where it keeps its data; in memory without one.
    data_dir: Option<PathBuf>,
}

/// What the test asks a node.
#[derive(Debug, Serialize, Deserialize)]
enum Op {
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
    /// each commit's latency in microseconds.
    Bench {
        name: String,
        count: u32,
    },
}

/// A node's answer.
#[derive(Debug, Serialize, Deserialize)]
enum Reply {
    One(Result<Committed, VariableError>),
    Many(Result<Vec<Committed>, VariableError>),
    Status(GroupStatus),
    Micros(Result<Vec<u64>, VariableError>),
}

/// Not a test: the entry point of the node processes, which run this
/// binary with [`ROLE`] set.
#[test]
fn variables_disk_node_process() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    let role: Role = serde_json::from_str(&role).expect("a role");
    tokio::runtime::Runtime::new()
        .expect("runtime")
        .block_on(run_node(role))
        .expect("variables node");
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
    println!("{MARK}listening {}", node.addr());
    let mut variables = Variables::builder(&node, &VOTERS)
        .timeout(OP_TIMEOUT)
        .snapshot_every(SNAPSHOT_EVERY);
    if let Some(dir) = &role.data_dir {
        variables = variables.data_dir(dir);
    }
    let variables = variables.start().await?;
    println!("{MARK}ready");
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Some(line) = lines.next_line().await? {
        let op: Op = serde_json::from_str(&line)?;
        let reply = answer(&variables, op).await;
        println!("{MARK}{}", serde_json::to_string(&reply)?);
    }
    variables.shutdown().await;
    node.shutdown().await;
    Ok(())
}

async fn answer(variables: &Variables, op: Op) -> Reply {
    match op {
        Op::Define(definition) => Reply::One(variables.define(definition).await),
        Op::Commit { name, value } => Reply::One(variables.commit(&name, value, "test").await),
        Op::Get(name) => Reply::One(variables.get(&name).await),
        Op::GetLocal(name) => Reply::One(variables.get_local(&name)),
        Op::History(name) => Reply::Many(variables.history(&name).await),
        Op::Status => Reply::Status(variables.status()),
        Op::Bench { name, count } => {
            let mut micros = Vec::new();
            for i in 0..count {
                let started = Instant::now();
                let value = Value::Float(f64::from(i % 100) / 100.0);
                if let Err(e) = variables.commit(&name, value, "bench").await {
                    return Reply::Micros(Err(e));
                }
                micros.push(u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX));
            }
            Reply::Micros(Ok(micros))
        }
    }
}

/// A node process as the test drives it.
struct NodeProcess {
    name: String,
    /// Its listen address.
    addr: String,
    child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
}

impl NodeProcess {
    /// Starts node `name`, seeded with `seed`, with its data in
    /// `data_dir`; answers once it listens.
    async fn spawn(
        name: &str,
        seed: Option<&str>,
        data_dir: Option<&Path>,
    ) -> anyhow::Result<Self> {
        let role = Role {
            name: name.to_owned(),
            seed: seed.map(str::to_owned),
            data_dir: data_dir.map(Path::to_path_buf),
        };
        let mut child = Command::new(std::env::current_exe()?)
            .args(["variables_disk_node_process", "--exact", "--nocapture"])
            .env(ROLE, serde_json::to_string(&role)?)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .context("starting a node")?;
        let stdin = child.stdin.take().context("stdin")?;
        let stdout = child.stdout.take().context("stdout")?;
        let mut node = Self {
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
    async fn spawn_group(names: &[&str], data_dir: Option<&Path>) -> anyhow::Result<Vec<Self>> {
        let dir = |name: &str| data_dir.map(|d| d.join(name));
        let first = Self::spawn(names[0], None, dir(names[0]).as_deref()).await?;
        let seed = first.addr.clone();
        let mut nodes = vec![first];
        for name in &names[1..] {
            nodes.push(Self::spawn(name, Some(&seed), dir(name).as_deref()).await?);
        }
        for node in &mut nodes {
            node.ready().await?;
        }
        Ok(nodes)
    }

    async fn ready(&mut self) -> anyhow::Result<()> {
        let line = self.line().await?;
        anyhow::ensure!(line == "ready", "{} said `{line}`", self.name);
        Ok(())
    }

    /// The node's next line for the test, within [`LINE_DEADLINE`].
    async fn line(&mut self) -> anyhow::Result<String> {
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
            .with_context(|| format!("{name} said nothing in {LINE_DEADLINE:?}"))?
    }

    async fn ask(&mut self, op: &Op) -> anyhow::Result<Reply> {
        let mut line = serde_json::to_string(op)?;
        line.push('\n');
        self.stdin.write_all(line.as_bytes()).await?;
        self.stdin.flush().await?;
        Ok(serde_json::from_str(&self.line().await?)?)
    }

    async fn one(&mut self, op: &Op) -> Result<Committed, VariableError> {
        match self.ask(op).await.expect("a reply") {
            Reply::One(one) => one,
            other => panic!("{}: {other:?}", self.name),
        }
    }

    async fn commit(&mut self, name: &str, value: Value) -> Result<Committed, VariableError> {
        self.one(&Op::Commit {
            name: name.into(),
            value,
        })
        .await
    }

    async fn history(&mut self, name: &str) -> Result<Vec<Committed>, VariableError> {
        match self.ask(&Op::History(name.into())).await.expect("a reply") {
            Reply::Many(many) => many,
            other => panic!("{}: {other:?}", self.name),
        }
    }

    async fn status(&mut self) -> GroupStatus {
        match self.ask(&Op::Status).await.expect("a reply") {
            Reply::Status(status) => status,
            other => panic!("{}: {other:?}", self.name),
        }
    }

    async fn bench(&mut self, name: &str, count: u32) -> Vec<u64> {
        let op = Op::Bench {
            name: name.into(),
            count,
        };
        match self.ask(&op).await.expect("a reply") {
            Reply::Micros(micros) => micros.expect("bench commits"),
            other => panic!("{}: {other:?}", self.name),
        }
    }

    /// Waits until `done` holds for the node's status, asking every 50 ms
    /// until `deadline`.
    async fn wait_status(
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
    async fn kill(mut self) {
        self.child.kill().await.expect("kill");
    }
}

/// The `q` quantile of `micros`, in milliseconds.
fn quantile_ms(micros: &[u64], q: f64) -> f64 {
    let mut sorted = micros.to_vec();
    sorted.sort_unstable();
    let at = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[at] as f64 / 1000.0
}

/// The variables of the restart test, with a value for each.
fn definitions() -> Vec<(Definition, Vec<Value>)> {
    let floats = |n: u32| {
        (1..=n)
            .map(|i| Value::Float(f64::from(i) / 100.0))
            .collect()
    };
    vec![
        (
            Definition::new("learning_rate", Kind::float(0.0, 2.0), Value::Float(0.1)).history(100),
            floats(25),
        ),
        (
            Definition::new("batch_size", Kind::int(8, 512), Value::Int(32)).history(100),
            (1..=12).map(|i| Value::Int(8 * i)).collect(),
        ),
        (
            Definition::new(
                "optimizer",
                Kind::choice(["adam", "sgd"]),
                Value::Text("adam".into()),
            ),
            vec![Value::Text("sgd".into())],
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_committed_value_survives_a_restart_of_every_node() {
    let data = tempfile::tempdir().expect("a temp dir");
    let mut nodes = NodeProcess::spawn_group(&VOTERS, Some(data.path()))
        .await
        .expect("the group formed");

    // Commits round the nodes, past several snapshots.
    let mut at = 0;
    for (definition, values) in definitions() {
        let name = definition.name.clone();
        let defined = nodes[at % 3].one(&Op::Define(definition)).await;
        assert_eq!(defined.map(|c| c.version), Ok(0));
        for (i, value) in values.into_iter().enumerate() {
            at += 1;
            let committed = nodes[at % 3].commit(&name, value.clone()).await;
            let committed = committed.expect("committed");
            assert_eq!((committed.version, committed.value), (i as u64 + 1, value));
        }
    }
    // Every node has taken a snapshot and dropped the log before it; then
    // a few more commits, which only the log holds.
    for node in &mut nodes {
        node.wait_status("snapshot and purge", Duration::from_secs(10), |s| {
            s.snapshot.is_some() && s.purged.is_some()
        })
        .await;
    }
    for value in [0.5, 0.6, 0.7] {
        nodes[0]
            .commit("learning_rate", Value::Float(value))
            .await
            .expect("committed after the snapshot");
    }
    let mut before = Vec::new();
    for (definition, _) in definitions() {
        let history = nodes[1].history(&definition.name).await.expect("history");
        before.push((definition.name, history));
    }
    for node in &mut nodes {
        let status = node.status().await;
        assert!(
            status.snapshot < status.applied,
            "committed entries after the snapshot: {status:?}"
        );
    }

    // Kill every node, then start them all again on the same data.
    for node in nodes {
        node.kill().await;
    }
    let restarted = Instant::now();
    let mut nodes = NodeProcess::spawn_group(&VOTERS, Some(data.path()))
        .await
        .expect("the group formed again");
    let formed = restarted.elapsed();
    let first = nodes[0].one(&Op::Get("learning_rate".into())).await;
    let served = restarted.elapsed();
    assert_eq!(first.map(|c| c.value), Ok(Value::Float(0.7)));
    eprintln!(
        "full restart of 3 nodes: leader after {formed:?}, first linearizable read after {served:?}"
    );

    for node in &mut nodes {
        assert_kept(node, &before).await;
        let status = node.status().await;
        assert!(status.snapshot.is_some(), "{status:?}");
    }
    let last = before[0].1.last().expect("a value").version;
    let next = nodes[2]
        .commit("learning_rate", Value::Float(1.5))
        .await
        .expect("committed after the restart");
    assert_eq!(next.version, last + 1);
    before[0].1.push(next);

    // Again, the old leader coming back last: the two others elect a
    // leader of a new term from what they kept, and it catches up.
    for node in nodes {
        node.kill().await;
    }
    let restarted = Instant::now();
    let mut nodes = NodeProcess::spawn_group(&VOTERS[1..], Some(data.path()))
        .await
        .expect("a quorum formed again");
    let formed = restarted.elapsed();
    let first = nodes[0].one(&Op::Get("learning_rate".into())).await;
    assert_eq!(first.map(|c| c.version), Ok(last + 1));
    eprintln!(
        "restart of 2 nodes without the old leader: leader after {formed:?}, first \
         linearizable read after {:?}",
        restarted.elapsed()
    );
    for node in &mut nodes {
        assert_kept(node, &before).await;
    }
    let next = nodes[0]
        .commit("learning_rate", Value::Float(1.6))
        .await
        .expect("committed by two of three");
    assert_eq!(next.version, last + 2);
    before[0].1.push(next);
    let seed = nodes[0].addr.clone();
    let mut n1 = NodeProcess::spawn(VOTERS[0], Some(&seed), Some(&data.path().join("n1")))
        .await
        .expect("n1");
    n1.ready().await.expect("n1 rejoined");
    assert_kept(&mut n1, &before).await;
    assert!(n1.status().await.term > 1, "a new term");
}

/// Asserts that `node` reads, linearizably, each variable of `kept` with
/// the history kept there, and has it in its own table then.
async fn assert_kept(node: &mut NodeProcess, kept: &[(String, Vec<Committed>)]) {
    for (name, history) in kept {
        let read = node.one(&Op::Get(name.clone())).await;
        assert_eq!(
            read.as_ref().ok(),
            history.last(),
            "{name} on {}",
            node.name
        );
        let again = node.history(name).await.expect("history");
        assert_eq!(&again, history, "{name} on {}", node.name);
        // Having read linearizably, its own table is that far too.
        let local = node.one(&Op::GetLocal(name.clone())).await;
        assert_eq!(
            local.as_ref().ok(),
            history.last(),
            "{name} on {}",
            node.name
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commit_latency_on_disk_and_in_memory() {
    let data = tempfile::tempdir().expect("a temp dir");
    let mut figures = Vec::new();
    for on_disk in [false, true] {
        let dir = on_disk.then_some(data.path());
        let mut nodes = NodeProcess::spawn_group(&VOTERS, dir)
            .await
            .expect("the group");
        let leader = nodes[0].status().await.leader.expect("a leader");
        let on_leader = nodes.iter().position(|n| n.name == leader).expect("leader");
        let follower = (on_leader + 1) % 3;
        let lr = Definition::new("lr", Kind::float(0.0, 2.0), Value::Float(0.1));
        nodes[0].one(&Op::Define(lr)).await.expect("defined");
        let from_leader = nodes[on_leader].bench("lr", 200).await;
        let from_follower = nodes[follower].bench("lr", 200).await;
        let p = |micros: &[u64]| (quantile_ms(micros, 0.5), quantile_ms(micros, 0.99));
        figures.push(format!(
            "{}: on the leader {:?}, from a follower {:?}",
            if on_disk { "on disk" } else { "in memory" },
            p(&from_leader),
            p(&from_follower),
        ));
        for node in nodes {
            node.kill().await;
        }
    }
    eprintln!(
        "commit latency over 3 processes, p50 / p99 in ms: {}",
        figures.join("; ")
    );
}

/// A node that cannot use its data dir does not start, and says which
/// dir; a node that can keeps its table across a restart in the process.
#[tokio::test]
async fn a_data_dir_is_used_or_refused_by_its_path() {
    let node = Node::builder()
        .name("solo")
        .cookie(COOKIE)
        .listen("127.0.0.1:0".parse().expect("addr"))
        .no_discovery()
        .start()
        .await
        .expect("node");
    let data = tempfile::tempdir().expect("a temp dir");
    let solo = || Variables::builder(&node, &["solo"]);
    let refused = |started: Result<Variables, AgentError>, path: &Path| match started {
        Err(AgentError::Variable(VariableError::Unavailable { reason })) => {
            let path = path.display().to_string();
            assert!(reason.contains(&path), "`{reason}` does not name {path}");
        }
        other => panic!("{other:?}"),
    };

    // A file where the directory should be.
    let file = data.path().join("a-file");
    std::fs::write(&file, "not a directory").expect("a file");
    refused(solo().data_dir(&file).start().await, &file);

    // A database file that is not one.
    let damaged = data.path().join("damaged");
    std::fs::create_dir(&damaged).expect("a dir");
    let db = damaged.join("variables.redb");
    std::fs::write(&db, vec![0x5a; 8192]).expect("garbage");
    refused(solo().data_dir(&damaged).start().await, &db);

    // A dir that works, across a restart of the group in this process.
    let good = data.path().join("solo");
    let started = |builder: VariablesBuilder| builder.data_dir(&good).start();
    let variables = started(solo()).await.expect("started");
    let batch = Definition::new("batch", Kind::int(1, 512), Value::Int(32));
    variables.define(batch).await.expect("defined");
    for size in [64, 128] {
        variables
            .commit("batch", Value::Int(size), "a1")
            .await
            .expect("committed");
    }
    variables.shutdown().await;
    drop(variables);
    let variables = started(solo()).await.expect("started again");
    let read = variables.get("batch").await.expect("read");
    assert_eq!((read.version, read.value), (2, Value::Int(128)));
    let next = variables.commit("batch", Value::Int(256), "a1").await;
    assert_eq!(next.map(|c| c.version), Ok(3));
    variables.shutdown().await;
    node.shutdown().await;
}
