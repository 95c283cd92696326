//! Shared helpers for the multi-node tests: each node is a `foundation node`
//! process on 127.0.0.1, driven through its stdin commands and followed
//! through its JSON event lines. Every wait has a deadline.

#![allow(dead_code, unreachable_pub, missing_docs)]

pub mod netns;

use std::net::TcpListener;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

/// The counter of `foundation node --counter`: the same wire type, for
/// tests that ask one from a node of their own process.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub enum CounterMsg {
    Add(u64),
    Get,
}

impl actor_cluster::Message for CounterMsg {
    type Reply = u64;
    const TAG: &'static str = "foundation.counter/1";
}

/// How long any single expectation may take before the test fails.
pub const DEADLINE: Duration = Duration::from_secs(20);

/// A free port on 127.0.0.1 (see [`free_ports`]).
pub fn free_port() -> u16 {
    free_ports(1)
}

/// The first of `n` consecutive free ports on 127.0.0.1, below the kernel's
/// ephemeral range (32768 and up here): a port bound and released in that
/// range can be handed out at once as the source port of any outgoing
/// connection, and the node then cannot listen on it. Each test process
/// walks its own stretch of 20000-32767 (from its pid) and skips ports in
/// use.
pub fn free_ports(n: u16) -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    const LOW: u32 = 20_000;
    const SPAN: u32 = 12_700;
    static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);
    let _ = NEXT.compare_exchange(
        u32::MAX,
        std::process::id().wrapping_mul(7919) % SPAN,
        Ordering::SeqCst,
        Ordering::SeqCst,
    );
    for _ in 0..SPAN {
        let first = LOW + NEXT.fetch_add(u32::from(n), Ordering::SeqCst) % SPAN;
        let ports = first..first + u32::from(n);
        if ports
            .map(|p| TcpListener::bind(("127.0.0.1", p as u16)))
            .all(|bound| bound.is_ok())
        {
            return first as u16;
        }
    }
    panic!("no {n} free ports in {LOW}..{}", LOW + SPAN)
}

pub struct TestNode {
    pub name: String,
    pub addr: String,
    child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
    /// Every JSON line seen so far (events and replies).
    pub seen: Vec<Value>,
}

pub struct NodeSpec {
    pub name: String,
    pub port: u16,
    pub cookie: String,
    pub seeds: Vec<String>,
    pub agents: Vec<String>,
    pub counters: Vec<String>,
    pub extra: Vec<String>,
    /// Run inside this network namespace (see `netns.rs`).
    pub netns: Option<String>,
    /// Listen on this address instead of 127.0.0.1:`port`; `Some("")`
    /// passes no `--listen` at all (the node picks its default).
    pub listen: Option<String>,
    /// The node's limit of open files (through `prlimit`).
    pub nofile: Option<u32>,
    /// Where its log goes (else the test's stderr).
    pub log: Option<std::path::PathBuf>,
}

impl NodeSpec {
    pub fn new(name: &str) -> Self {
        Self {
            name: name.into(),
            port: free_port(),
            cookie: "test-cookie".into(),
            seeds: Vec::new(),
            agents: Vec::new(),
            counters: Vec::new(),
            extra: Vec::new(),
            netns: None,
            listen: None,
            nofile: None,
            log: None,
        }
    }
    /// Runs the node with at most `n` open files.
    pub fn nofile(mut self, n: u32) -> Self {
        self.nofile = Some(n);
        self
    }
    /// Writes the node's log to `path`.
    pub fn log(mut self, path: &std::path::Path) -> Self {
        self.log = Some(path.to_owned());
        self
    }
    /// Runs the node inside network namespace `ns`.
    pub fn netns(mut self, ns: &str) -> Self {
        self.netns = Some(ns.into());
        self
    }
    /// Listens on `addr` (`""`: no `--listen`, the node's default).
    pub fn listen(mut self, addr: &str) -> Self {
        self.listen = Some(addr.into());
        self
    }
    /// Any other `foundation node` argument.
    pub fn arg(mut self, arg: &str) -> Self {
        self.extra.push(arg.into());
        self
    }
    pub fn seed(mut self, addr: &str) -> Self {
        self.seeds.push(addr.into());
        self
    }
    pub fn cookie(mut self, cookie: &str) -> Self {
        self.cookie = cookie.into();
        self
    }
    pub fn agent(mut self, spec: &str) -> Self {
        self.agents.push(spec.into());
        self
    }
    /// Serves the management API on a port of its own, asking for `token`
    /// (see [`TestNode::http_addr`]).
    pub fn http(self, token: &str) -> Self {
        self.arg("--http=127.0.0.1:0")
            .arg(&format!("--http-token={token}"))
    }
    pub fn counter(mut self, name: &str) -> Self {
        self.counters.push(name.into());
        self
    }
    pub fn addr(&self) -> String {
        match &self.listen {
            Some(addr) => addr.clone(),
            None => format!("127.0.0.1:{}", self.port),
        }
    }

    pub async fn start(self) -> TestNode {
        let addr = self.addr();
        let bin = env!("CARGO_BIN_EXE_foundation");
        let mut cmd = match &self.netns {
            Some(ns) => {
                let mut cmd = Command::new("ip");
                cmd.args(["netns", "exec", ns, bin]);
                cmd
            }
            None => match self.nofile {
                Some(n) => {
                    let mut cmd = Command::new("prlimit");
                    cmd.arg(format!("--nofile={n}:{n}")).args(["--", bin]);
                    cmd
                }
                None => Command::new(bin),
            },
        };
        cmd.args([
            "node",
            "--name",
            &self.name,
            "--events",
            "json",
            "--commands",
        ]);
        if !addr.is_empty() {
            cmd.args(["--listen", &addr]);
        }
        cmd.env("FOUNDATION_COOKIE", &self.cookie)
            .env(
                "RUST_LOG",
                // FOUNDATION_TEST_LOG sets the nodes' log filter when a test
                // needs a closer look.
                std::env::var("FOUNDATION_TEST_LOG")
                    .unwrap_or_else(|_| "info,ractor_cluster=warn,openraft=warn".into()),
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(match &self.log {
                Some(path) => std::fs::File::create(path)
                    .expect("create the node's log")
                    .into(),
                None => Stdio::inherit(),
            })
            .kill_on_drop(true);
        for s in &self.seeds {
            cmd.args(["--seed", s]);
        }
        let chooses = |flag: &str| self.extra.iter().any(|a| a == flag);
        // A node on all its defaults (`listen("")`) is left to choose its own discovery.
        let defaults = addr.is_empty();
        if self.seeds.is_empty() && !chooses("--discovery") && !chooses("--dns-name") && !defaults {
            // No multicast from tests unless asked for.
            cmd.args(["--discovery", "none"]);
        }
        for a in &self.agents {
            cmd.args(["--agent", a]);
        }
        for c in &self.counters {
            cmd.args(["--counter", c]);
        }
        cmd.args(&self.extra);
        let mut child = cmd.spawn().expect("spawn foundation node");
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut node = TestNode {
            name: self.name,
            addr,
            child,
            stdin,
            lines: BufReader::new(stdout).lines(),
            seen: Vec::new(),
        };
        let listening = node.expect(|v| v["event"] == "listening").await;
        node.addr = listening["addr"].as_str().unwrap_or_default().to_owned();
        node
    }
}

impl TestNode {
    /// The management API's address, from the node's `http_listening`
    /// event (a node started with [`NodeSpec::http`]).
    pub async fn http_addr(&mut self) -> String {
        let event = self.expect(|v| v["event"] == "http_listening").await;
        event["addr"].as_str().expect("addr").to_owned()
    }

    /// Waits for a line matching `pred` (lines seen earlier count too).
    pub async fn expect(&mut self, pred: impl Fn(&Value) -> bool) -> Value {
        self.try_expect(DEADLINE, &pred)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}; seen so far: {:#?}", self.name, self.seen))
    }

    pub async fn try_expect(
        &mut self,
        within: Duration,
        pred: &impl Fn(&Value) -> bool,
    ) -> Result<Value, String> {
        if let Some(v) = self.seen.iter().find(|v| pred(v)) {
            return Ok(v.clone());
        }
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = match tokio::time::timeout(left, self.lines.next_line()).await {
                Err(_) => return Err(format!("no matching line within {within:?}")),
                Ok(Ok(Some(line))) => line,
                Ok(_) => return Err("the process closed its output".into()),
            };
            let Ok(v) = serde_json::from_str::<Value>(&line) else {
                continue;
            };
            self.seen.push(v.clone());
            if pred(&v) {
                return Ok(v);
            }
        }
    }

    /// Waits until this node has seen `node_up` for each of `peers`.
    pub async fn expect_up(&mut self, peers: &[&str]) {
        for peer in peers {
            let peer = peer.to_string();
            self.expect(|v| v["event"] == "node_up" && v["node"] == peer.as_str())
                .await;
        }
    }

    /// Sends a command and returns its reply line.
    pub async fn command(&mut self, line: &str) -> Value {
        // Replies are matched by order: `send` forgets earlier replies first.
        self.send(line).await;
        self.reply().await
    }

    /// Sends a command without waiting for its reply (see [`TestNode::reply`]).
    pub async fn send(&mut self, line: &str) {
        self.seen.retain(|v| v.get("reply").is_none());
        self.stdin
            .write_all(format!("{line}\n").as_bytes())
            .await
            .expect("write command");
        self.stdin.flush().await.expect("flush command");
    }

    /// Waits for the reply to a command sent with [`TestNode::send`].
    pub async fn reply(&mut self) -> Value {
        self.expect(|v| v.get("reply").is_some()).await
    }

    /// Repeats `line` until its reply satisfies `pred`, within the deadline.
    pub async fn command_until(&mut self, line: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let reply = self.command(line).await;
            if pred(&reply) {
                return reply;
            }
            assert!(
                Instant::now() < deadline,
                "{}: `{line}` never satisfied the condition; last reply {reply}",
                self.name
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Forgets the lines seen so far, so that the next `expect` waits for a new one.
    pub fn forget(&mut self) {
        self.seen.clear();
    }

    /// Sends a signal (`STOP`, `CONT`, ...) with kill(1).
    pub fn signal(&self, signal: &str) {
        let status = std::process::Command::new("kill")
            .args([&format!("-{signal}"), &self.pid().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{signal} failed");
    }

    /// SIGKILL, as `kill -9`.
    pub async fn kill(&mut self) {
        self.child.kill().await.expect("kill node");
    }

    pub fn pid(&self) -> u32 {
        self.child.id().expect("running")
    }

    /// Asks the node to quit and waits for it to exit cleanly.
    pub async fn quit(mut self) {
        let _ = self.stdin.write_all(b"quit\n").await;
        let status = tokio::time::timeout(DEADLINE, self.child.wait())
            .await
            .expect("node exits after quit")
            .expect("wait");
        assert!(status.success(), "{} exited with {status}", self.name);
    }
}

/// Sends `line` to `nodes[by]`, kills `nodes[victim]` (SIGKILL) as soon as
/// its agent `agent` has been asked something whose kind starts with
/// `request` (`""` for anything), and returns the reply to `line`.
pub async fn command_killing(
    nodes: &mut [TestNode],
    by: usize,
    line: &str,
    victim: usize,
    agent: &str,
    request: &str,
) -> Value {
    nodes[victim].forget();
    nodes[by].send(line).await;
    nodes[victim]
        .expect(|v| {
            v["event"] == "agent_asked"
                && v["agent"] == agent
                && v["request"]
                    .as_str()
                    .is_some_and(|r| r.starts_with(request))
        })
        .await;
    nodes[victim].kill().await;
    nodes[by].reply().await
}

/// Starts `spec` as a node process and a node named `name` in this
/// process seeded with it; returns both once the process sees this one up.
pub async fn joined_to(spec: NodeSpec, name: &str) -> (actor_cluster::Node, TestNode) {
    let (seed, cookie) = (spec.addr(), spec.cookie.clone());
    let mut peer = spec.start().await;
    let node = actor_cluster::Node::builder()
        .name(name)
        .cookie(cookie)
        .listen("127.0.0.1:0".parse().expect("addr"))
        .seed(seed)
        .start()
        .await
        .expect("node");
    peer.expect_up(&[name]).await;
    // And this node has the peer's hello (its names) too.
    let deadline = Instant::now() + DEADLINE;
    loop {
        let peers = node.peers().await.expect("peers");
        if peers
            .iter()
            .any(|p| p.node == peer.name && p.status == actor_cluster::PeerStatus::Up)
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{name} never saw {} up",
            peer.name
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    (node, peer)
}

/// How many agents an `agents` reply lists.
pub fn agent_count(reply: &Value) -> usize {
    reply["agents"].as_array().map_or(0, Vec::len)
}

/// Starts `names.len()` nodes, every one seeded with the first, and waits
/// for the full mesh.
pub async fn cluster(specs: Vec<NodeSpec>) -> Vec<TestNode> {
    // The first node of a test cluster seeds the others.
    let first = specs[0].addr();
    let mut nodes = Vec::new();
    for (i, spec) in specs.into_iter().enumerate() {
        let spec = if i == 0 { spec } else { spec.seed(&first) };
        nodes.push(spec.start().await);
    }
    await_mesh(&mut nodes).await;
    nodes
}

/// Waits until every node has seen every other one up.
pub async fn await_mesh(nodes: &mut [TestNode]) {
    let names: Vec<String> = nodes.iter().map(|n| n.name.clone()).collect();
    for node in nodes.iter_mut() {
        let others: Vec<&str> = names
            .iter()
            .filter(|n| **n != node.name)
            .map(String::as_str)
            .collect();
        node.expect_up(&others).await;
    }
}

impl TestNode {
    /// Reads this node's lines for `window`, keeping them in `seen`: for
    /// counting what a node reported over a stretch of time (an absence has
    /// no event to wait for).
    pub async fn watch(&mut self, window: Duration) {
        let deadline = Instant::now() + window;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, self.lines.next_line()).await {
                Ok(Ok(Some(line))) => {
                    if let Ok(v) = serde_json::from_str::<Value>(&line) {
                        self.seen.push(v);
                    }
                }
                Err(_) | Ok(_) => return,
            }
        }
    }

    /// The lines seen so far that report `event`.
    pub fn seen_events(&self, event: &str) -> Vec<Value> {
        self.seen
            .iter()
            .filter(|v| v["event"] == event)
            .cloned()
            .collect()
    }

    /// The membership events seen so far, as `(event, node)` pairs.
    pub fn membership(&self) -> Vec<(String, String)> {
        self.seen
            .iter()
            .filter_map(|v| {
                let event = v["event"].as_str()?;
                let node = v["node"].as_str().or(v["peer"].as_str()).unwrap_or("?");
                [
                    "joining",
                    "node_up",
                    "node_down",
                    "suspect",
                    "reconnecting",
                    "auth_failed",
                ]
                .contains(&event)
                .then(|| (event.to_owned(), node.to_owned()))
            })
            .collect()
    }

    /// Membership events other than one `joining` and one `node_up` per
    /// peer: reports about peers that never stopped. Empty when all is well.
    pub fn false_events(&self) -> Vec<String> {
        let mut ups: std::collections::HashMap<String, usize> = Default::default();
        let mut wrong = Vec::new();
        for (event, node) in self.membership() {
            match event.as_str() {
                "joining" => {}
                "node_up" => {
                    let n = ups.entry(node.clone()).or_default();
                    *n += 1;
                    if *n > 1 {
                        wrong.push(format!("{}: a second node_up for {node}", self.name));
                    }
                }
                _ => wrong.push(format!("{}: {event} for {node}", self.name)),
            }
        }
        wrong
    }
}

/// The names a `names` reply lists that the test registered: without the
/// framework's own (each node's agent lifecycle manager `agents@<node>`,
/// the variables servers).
pub fn user_names(reply: &Value) -> Vec<String> {
    reply["names"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|n| n["name"].as_str())
        .filter(|n| {
            !["agents@", "variables@", "variables-raft@"]
                .iter()
                .any(|p| n.starts_with(p))
        })
        .map(str::to_owned)
        .collect()
}
