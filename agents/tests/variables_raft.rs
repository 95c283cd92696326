//! Variables replicated by Raft across three node processes: a value
//! committed on a follower is read, linearizably, with the same version on
//! every node; an invalid value is refused with the model's message and
//! nothing is committed; with the leader killed the two others keep
//! committing; with two of three killed the survivor refuses with
//! `NoQuorum` within its deadline.
//!
//! Each node is this test binary run again with [`ROLE`] set; the test
//! talks to it with one JSON line per operation on its stdin and reads
//! one JSON line back (prefixed with [`MARK`], to tell it from the test
//! harness's own output).

use std::process::Stdio;
use std::time::{Duration, Instant};

use actor_cluster::Node;
use agents::variables::{Committed, Definition, GroupStatus, Kind, VariableError, Variables};
use agents::{AgentError, Value};
use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

/// The environment variable that makes this binary a node: `<name> <seed>`
/// (`-` for no seed).
const ROLE: &str = "FOUNDATION_VARIABLES_NODE";
/// The prefix of the lines a node writes for the test.
const MARK: &str = "@@ ";
const COOKIE: &str = "variables-raft-test";
const VOTERS: [&str; 3] = ["n1", "n2", "n3"];
/// Each node's deadline for one operation.
const OP_TIMEOUT: Duration = Duration::from_secs(4);
/// The most the test waits for a node's line.
const LINE_DEADLINE: Duration = Duration::from_secs(30);

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
    /// Reads `name` linearizably `count` times and answers each read's
    /// latency in microseconds.
    BenchGet {
        name: String,
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
}

/// A node's answer.
#[derive(Debug, Serialize, Deserialize)]
enum Reply {
    One(Result<Committed, VariableError>),
    Many(Result<Vec<Committed>, VariableError>),
    Status(GroupStatus),
    Micros(Result<Vec<u64>, VariableError>),
    Acks(Result<Vec<Committed>, VariableError>),
}

/// Not a test: the entry point of the node processes, which run this
/// binary with [`ROLE`] set.
#[test]
fn variables_node_process() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    let (name, seed) = role.split_once(' ').expect("name and seed");
    tokio::runtime::Runtime::new()
        .expect("runtime")
        .block_on(run_node(name, seed))
        .expect("variables node");
}

async fn run_node(name: &str, seed: &str) -> anyhow::Result<()> {
    let mut builder = Node::builder()
        .name(name)
        .cookie(COOKIE)
        .listen("127.0.0.1:0".parse()?)
        .no_discovery();
    if seed != "-" {
        builder = builder.seed(seed);
    }
    let node = builder.start().await?;
    println!("{MARK}listening {}", node.addr());
    let variables = Variables::builder(&node, &VOTERS)
        .timeout(OP_TIMEOUT)
        .start()
        .await?;
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
        Op::BenchGet { name, count } => {
            let mut micros = Vec::new();
            for _ in 0..count {
                let started = Instant::now();
                if let Err(e) = variables.get(&name).await {
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
    name: &'static str,
    /// Its listen address.
    addr: String,
    child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
}

impl NodeProcess {
    /// Starts node `name` (seeded with `seed`) and returns it with its
    /// listen address.
    async fn spawn(name: &'static str, seed: Option<&str>) -> anyhow::Result<(Self, String)> {
        let mut child = Command::new(std::env::current_exe()?)
            .args(["variables_node_process", "--exact", "--nocapture"])
            .env(ROLE, format!("{name} {}", seed.unwrap_or("-")))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .context("starting a node")?;
        let stdin = child.stdin.take().context("stdin")?;
        let stdout = child.stdout.take().context("stdout")?;
        let mut node = Self {
            name,
            addr: String::new(),
            child,
            stdin,
            lines: BufReader::new(stdout).lines(),
        };
        let line = node.line().await?;
        line.strip_prefix("listening ")
            .with_context(|| format!("{name} said `{line}`"))?
            .clone_into(&mut node.addr);
        let addr = node.addr.clone();
        Ok((node, addr))
    }

    /// The node's next line for the test, within [`LINE_DEADLINE`].
    async fn line(&mut self) -> anyhow::Result<String> {
        let name = self.name;
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

    async fn ready(&mut self) -> anyhow::Result<()> {
        let line = self.line().await?;
        anyhow::ensure!(line == "ready", "{} said `{line}`", self.name);
        Ok(())
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

    async fn commit(&mut self, name: &str, value: f64) -> Result<Committed, VariableError> {
        self.one(&Op::Commit {
            name: name.into(),
            value: Value::Float(value),
        })
        .await
    }

    async fn get(&mut self, name: &str) -> Result<Committed, VariableError> {
        self.one(&Op::Get(name.into())).await
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

    async fn bench(&mut self, op: Op) -> Vec<u64> {
        match self.ask(&op).await.expect("a reply") {
            Reply::Micros(micros) => micros.expect("bench commits"),
            other => panic!("{}: {other:?}", self.name),
        }
    }

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn variables_replicate_survive_a_minority_and_refuse_without_quorum() {
    let (n1, seed) = NodeProcess::spawn("n1", None).await.expect("n1");
    let (n2, _) = NodeProcess::spawn("n2", Some(&seed)).await.expect("n2");
    let (n3, _) = NodeProcess::spawn("n3", Some(&seed)).await.expect("n3");
    let mut nodes = vec![n1, n2, n3];
    for node in &mut nodes {
        node.ready().await.expect("the group formed");
    }

    // Every node knows the same leader; write through a follower.
    let mut leaders = Vec::new();
    for node in &mut nodes {
        leaders.push(node.status().await.leader.expect("a leader"));
    }
    let leader = leaders[0].clone();
    assert!(leaders.iter().all(|l| *l == leader), "{leaders:?}");
    let follower = nodes
        .iter()
        .position(|n| n.name != leader)
        .expect("a follower");

    let lr = Definition::new("learning_rate", Kind::float(0.0, 2.0), Value::Float(0.1));
    let defined = nodes[follower].one(&Op::Define(lr)).await.expect("defined");
    assert_eq!(defined.version, 0);
    let committed = nodes[follower]
        .commit("learning_rate", 0.5)
        .await
        .expect("committed from a follower");
    assert_eq!(
        (committed.version, &committed.value),
        (1, &Value::Float(0.5))
    );
    for node in &mut nodes {
        let read = node.get("learning_rate").await.expect("linearizable read");
        assert_eq!(
            (read.version, &read.value),
            (1, &Value::Float(0.5)),
            "{}",
            node.name
        );
        // Having read linearizably, its own table is that far too.
        let local = node.one(&Op::GetLocal("learning_rate".into())).await;
        assert_eq!(local.map(|c| c.version), Ok(1), "{}", node.name);
    }

    // Outside the range: refused with the model's message, nothing committed.
    let refused = nodes[follower]
        .commit("learning_rate", 3.0)
        .await
        .expect_err("out of range");
    assert!(
        matches!(refused, VariableError::InvalidValue { .. }),
        "{refused:?}"
    );
    assert_eq!(
        refused.to_string(),
        "value 3 refused: outside range [0.0, 2.0]"
    );
    for node in &mut nodes {
        let history = node.history("learning_rate").await.expect("history");
        let versions: Vec<u64> = history.iter().map(|c| c.version).collect();
        assert_eq!(versions, [0, 1], "{}", node.name);
    }

    // Commit latency over three processes, from a follower and the leader.
    let on_leader = nodes.iter().position(|n| n.name == leader).expect("leader");
    let commits = |count| Op::Bench {
        name: "learning_rate".into(),
        count,
    };
    let reads = |count| Op::BenchGet {
        name: "learning_rate".into(),
        count,
    };
    let from_follower = nodes[follower].bench(commits(50)).await;
    let from_leader = nodes[on_leader].bench(commits(50)).await;
    let read_follower = nodes[follower].bench(reads(50)).await;
    let read_leader = nodes[on_leader].bench(reads(50)).await;
    let p = |micros: &[u64]| (quantile_ms(micros, 0.5), quantile_ms(micros, 0.99));
    eprintln!(
        "over 3 processes, p50 / p99 in ms: commit from a follower {:?}, on the leader {:?}; \
         linearizable get on a follower {:?}, on the leader {:?}",
        p(&from_follower),
        p(&from_leader),
        p(&read_follower),
        p(&read_leader),
    );
    let mut version = 101;

    // Kill the leader in the middle of a stream of commits from a
    // follower: the two others elect another leader, the stream goes on,
    // and no acknowledged commit is lost.
    let stream = Definition::new("stream", Kind::float(0.0, 2.0), Value::Float(0.0)).history(1000);
    nodes[follower]
        .one(&Op::Define(stream))
        .await
        .expect("defined");
    let op = Op::Stream {
        name: "stream".into(),
        count: 300,
        signal_after: 20,
    };
    let mut line = serde_json::to_string(&op).expect("op");
    line.push('\n');
    let streamer = &mut nodes[follower];
    streamer
        .stdin
        .write_all(line.as_bytes())
        .await
        .expect("sent");
    assert_eq!(streamer.line().await.expect("streaming"), "streaming");
    let streamer = streamer.name;
    let killed = nodes.remove(on_leader);
    assert_eq!(killed.name, leader);
    killed.kill().await;
    let streamer = nodes
        .iter_mut()
        .find(|n| n.name == streamer)
        .expect("the streaming node");
    let reply: Reply = serde_json::from_str(&streamer.line().await.expect("acks")).expect("reply");
    let Reply::Acks(acks) = reply else {
        panic!("{reply:?}")
    };
    let acks = acks.expect("every commit of the stream acknowledged");
    assert_eq!(acks.len(), 300);
    assert!(
        acks.windows(2).all(|w| w[1].version == w[0].version + 1),
        "one writer: versions one by one"
    );
    let pause = acks.windows(2).map(|w| w[1].at_ms - w[0].at_ms).max();
    eprintln!("stream of 300 commits, leader killed after 20: longest pause {pause:?} ms");
    for node in &mut nodes {
        let history = node.history("stream").await.expect("history");
        for ack in &acks {
            let kept = usize::try_from(ack.version)
                .ok()
                .and_then(|v| history.get(v));
            assert_eq!(kept, Some(ack), "acknowledged commit lost on {}", node.name);
        }
    }
    for node in &mut nodes {
        let committed = node
            .commit("learning_rate", 0.25)
            .await
            .expect("committed without the old leader");
        version += 1;
        assert_eq!(committed.version, version, "{}", node.name);
    }
    for node in &mut nodes {
        let read = node.get("learning_rate").await.expect("read");
        assert_eq!(read.version, version, "{}", node.name);
        let history = node.history("learning_rate").await.expect("history");
        assert!(
            history.windows(2).all(|w| w[1].version == w[0].version + 1),
            "versions grow one by one on {}",
            node.name
        );
    }

    // Kill one more: the survivor is a minority and refuses in time.
    let killed = nodes.remove(0);
    let killed_name = killed.name;
    killed.kill().await;
    let survivor = &mut nodes[0];
    let started = Instant::now();
    let refused = survivor
        .commit("learning_rate", 0.75)
        .await
        .expect_err("no quorum");
    let took = started.elapsed();
    assert!(
        matches!(refused, VariableError::NoQuorum { .. }),
        "{refused:?}"
    );
    assert!(
        took < OP_TIMEOUT + Duration::from_secs(3),
        "refused after {took:?}"
    );
    // A linearizable read is refused too; the stale local read is not.
    let read = survivor.get("learning_rate").await;
    assert!(
        matches!(read, Err(VariableError::NoQuorum { .. })),
        "{read:?}"
    );
    let local = survivor.one(&Op::GetLocal("learning_rate".into())).await;
    assert_eq!(local.map(|c| c.version), Ok(version));
    eprintln!("minority commit refused after {took:?}: {refused}");

    // Restart the node killed last, empty (the log is in memory): it finds
    // the group initialized, catches up from the survivor, and the two are
    // a quorum again. The refused write may be applied now if it had
    // entered the survivor's log before the quorum was seen lost (the
    // documented case); either way versions go on one by one.
    let seed = survivor.addr.clone();
    let (mut back, _) = NodeProcess::spawn(killed_name, Some(&seed))
        .await
        .expect("restarted");
    back.ready().await.expect("rejoined");
    let committed = nodes[0]
        .commit("learning_rate", 1.0)
        .await
        .expect("a quorum again");
    assert!(
        committed.version == version + 1 || committed.version == version + 2,
        "{committed:?} after version {version}"
    );
    if committed.version == version + 2 {
        assert!(
            refused.to_string().contains("may still be applied"),
            "applied after a refusal that did not say it might be: {refused}"
        );
    }
    let read = back
        .get("learning_rate")
        .await
        .expect("read on the rejoined node");
    assert_eq!(read, committed);
    let history = back.history("stream").await.expect("caught up");
    assert_eq!(history.len(), 301, "the default and 300 commits");
    eprintln!(
        "{killed_name} restarted and caught up; the refused write {} applied later",
        if committed.version == version + 2 {
            "was"
        } else {
            "was not"
        }
    );
}

#[tokio::test]
async fn a_group_of_one_serves_and_bad_voters_are_refused() {
    let node = Node::builder()
        .name("solo")
        .cookie(COOKIE)
        .listen("127.0.0.1:0".parse().expect("addr"))
        .no_discovery()
        .start()
        .await
        .expect("node");
    let refused = Variables::start(&node, &["n1", "n2"]).await;
    assert!(
        matches!(
            refused,
            Err(AgentError::Variable(VariableError::InvalidVoters { .. }))
        ),
        "{refused:?}"
    );

    let variables = Variables::start(&node, &["solo"])
        .await
        .expect("a group of one");
    let status = variables.status();
    assert_eq!(status.leader.as_deref(), Some("solo"));
    assert!(status.leading);
    let batch = Definition::new("batch", Kind::int(1, 512), Value::Int(32));
    assert_eq!(
        variables.define(batch.clone()).await.map(|c| c.version),
        Ok(0)
    );
    assert_eq!(
        variables.define(batch).await,
        Err(VariableError::Exists("batch".into()))
    );
    for (i, size) in [64, 128].into_iter().enumerate() {
        let committed = variables.commit("batch", Value::Int(size), "a1").await;
        assert_eq!(committed.map(|c| c.version), Ok(i as u64 + 1));
    }
    let history = variables.history("batch").await.expect("history");
    let values: Vec<&Value> = history.iter().map(|c| &c.value).collect();
    assert_eq!(values, [&Value::Int(32), &Value::Int(64), &Value::Int(128)]);
    assert_eq!(variables.delete("batch").await.map(|c| c.version), Ok(2));
    assert_eq!(
        variables.get("batch").await,
        Err(VariableError::Unknown("batch".into()))
    );
    // One group per node.
    assert!(Variables::start(&node, &["solo"]).await.is_err());
    variables.shutdown().await;
    node.shutdown().await;
}
