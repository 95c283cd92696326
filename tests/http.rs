//! The management HTTP API of three `foundation node` processes: every
//! route answers with what the cluster holds (peers, names, agents on
//! every node, variables, a protocol run, Prometheus metrics that
//! `promtool check metrics` accepts); a missing or wrong token is
//! refused; an unknown route or agent is a JSON error with its status;
//! and with two nodes killed the survivor, a minority, is not ready.

mod support;

use std::time::{Duration, Instant};

use serde_json::Value;
use support::{agent_count, cluster, NodeSpec, DEADLINE};

const TOKEN: &str = "s3cret-token";

/// What one request answered: status and body.
struct Answer {
    status: u16,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// `GET http://addr/path`, with `token` as a bearer token if given.
async fn get(addr: &str, path: &str, token: Option<&str>) -> Answer {
    let url = format!("http://{addr}{path}");
    let token = token.map(|t| format!("Bearer {t}"));
    tokio::task::spawn_blocking(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(15)))
            .build()
            .into();
        let mut request = agent.get(&url);
        if let Some(token) = &token {
            request = request.header("Authorization", token);
        }
        let mut response = request.call().unwrap_or_else(|e| panic!("GET {url}: {e}"));
        Answer {
            status: response.status().as_u16(),
            body: response.body_mut().read_to_string().expect("a text body"),
        }
    })
    .await
    .expect("request task")
}

/// `GET` with the token, expecting 200 and JSON.
async fn get_json(addr: &str, path: &str) -> Value {
    let answer = get(addr, path, Some(TOKEN)).await;
    assert_eq!(answer.status, 200, "GET {path}: {}", answer.body);
    answer.json()
}

fn spec(name: &str, agent: &str) -> NodeSpec {
    NodeSpec::new(name)
        .arg("--variables=a,b,c")
        .http(TOKEN)
        .agent(agent)
}

/// Polls `path` until `pred` holds of the answer, within the deadline.
async fn until(addr: &str, path: &str, pred: impl Fn(&Answer) -> bool) -> Answer {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let answer = get(addr, path, Some(TOKEN)).await;
        if pred(&answer) {
            return answer;
        }
        assert!(
            Instant::now() < deadline,
            "GET {path} never as expected; last: {} {}",
            answer.status,
            answer.body
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Runs `promtool check metrics` on `text`, if promtool is installed
/// (`.ci/run` installs Debian's prometheus package, which has it).
fn promtool_check(text: &str) {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let Ok(mut child) = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    else {
        eprintln!("promtool is not installed: /metrics not linted here (CI installs it)");
        return;
    };
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write metrics");
    let out = child.wait_with_output().expect("promtool");
    assert!(
        out.status.success(),
        "promtool check metrics: {}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs `foundation ARGS` to the end (backtraces asked for, to show that
/// none is printed).
async fn foundation(args: &[&str]) -> std::process::Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_foundation"))
        .args(args)
        .env("RUST_BACKTRACE", "1")
        .env_remove("FOUNDATION_HTTP_TOKEN")
        .output()
        .await
        .expect("foundation runs")
}

/// The command failed with one line on stderr, containing `says`.
fn assert_one_line_error(out: &std::process::Output, says: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{out:?}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(
        stderr.starts_with("error: ") && stderr.contains(says),
        "{stderr}"
    );
}

#[tokio::test]
async fn the_command_line_says_what_is_wrong_in_one_line() {
    let port = support::free_port();
    let addr = format!("127.0.0.1:{port}");
    let unreachable = foundation(&["status", "--node", &addr]).await;
    assert_one_line_error(&unreachable, &format!("cannot reach {addr}"));
    assert_eq!(unreachable.status.code(), Some(1));
    let bad_flag = foundation(&["agents", "--bogus"]).await;
    assert_one_line_error(&bad_flag, "--bogus");
    assert_eq!(bad_flag.status.code(), Some(2));
    let no_port = foundation(&["names", "--node", "localhost"]).await;
    assert_one_line_error(&no_port, "not HOST:PORT");
    let bad_policy = foundation(&[
        "node",
        "--name",
        "x",
        "--cookie",
        "c",
        "--partition-policy",
        "most",
    ])
    .await;
    assert_one_line_error(&bad_policy, "keep-majority");
}

#[tokio::test]
async fn the_management_api_shows_the_cluster_and_refuses_what_it_should() {
    let mut nodes = cluster(vec![
        spec("a", "a1:vote=yes:bid=5"),
        spec("b", "b1:vote=yes:bid=7"),
        spec("c", "c1:vote=no:bid=3"),
    ])
    .await;
    let mut apis = Vec::new();
    for node in &mut nodes {
        apis.push(node.http_addr().await);
    }
    let a = apis[0].clone();
    nodes[0]
        .command_until("agents", |r| agent_count(r) == 3)
        .await;

    // The probes need no token; everything else does.
    let health = get(&a, "/health", None).await;
    assert_eq!(
        (health.status, &health.json()["status"]),
        (200, &"up".into())
    );
    let ready = get(&a, "/ready", None).await;
    assert_eq!((ready.status, &ready.json()["ready"]), (200, &true.into()));
    for token in [None, Some("wrong-token")] {
        let refused = get(&a, "/api/node", token).await;
        assert_eq!(refused.status, 401, "{token:?}: {}", refused.body);
        assert_eq!(refused.json()["status"], 401);
    }
    let metrics_refused = get(&a, "/metrics", None).await;
    assert_eq!(metrics_refused.status, 401);

    // The node and its view of the cluster.
    let node = get_json(&a, "/api/node").await;
    assert_eq!(
        (&node["node"], &node["peers_up"]),
        (&"a".into(), &2.into()),
        "{node}"
    );
    let peers = get_json(&a, "/api/peers").await;
    let mut listed: Vec<(String, String)> = peers["peers"]
        .as_array()
        .expect("peers")
        .iter()
        .map(|p| {
            (
                p["node"].as_str().unwrap_or_default().to_owned(),
                p["status"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    listed.sort();
    assert_eq!(
        listed,
        [
            ("b".to_owned(), "up".to_owned()),
            ("c".to_owned(), "up".to_owned())
        ]
    );
    let names = get_json(&a, "/api/names").await;
    assert!(
        names["names"]
            .as_array()
            .expect("names")
            .iter()
            .any(|n| n["name"] == "agent/b1" && n["node"] == "b"),
        "{names}"
    );
    let group = get_json(&a, "/api/names?group=capability/bidder").await;
    assert_eq!(group["names"].as_array().map(Vec::len), Some(3), "{group}");

    // Agents on every node, filtered, one by id, one unknown, a bad filter.
    let agents = get_json(&a, "/api/agents").await;
    assert_eq!(agent_count(&agents), 3, "{agents}");
    let on_b = get_json(&a, "/api/agents?node=b").await;
    assert_eq!(on_b["agents"][0]["id"], "b1", "{on_b}");
    assert_eq!(agent_count(&on_b), 1, "{on_b}");
    let c1 = get_json(&a, "/api/agents/c1").await;
    assert_eq!(
        (&c1["node"], &c1["capabilities"][0]),
        (&"c".into(), &"voter".into()),
        "{c1}"
    );
    let unknown = get(&a, "/api/agents/nobody", Some(TOKEN)).await;
    assert_eq!(
        (unknown.status, unknown.json()["status"].as_u64()),
        (404, Some(404))
    );
    let bad = get(&a, "/api/agents?status=asleep", Some(TOKEN)).await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert!(
        bad.json()["error"]
            .as_str()
            .unwrap_or_default()
            .contains("ready"),
        "{}",
        bad.body
    );
    let nowhere = get(&a, "/api/nowhere", Some(TOKEN)).await;
    assert_eq!(nowhere.status, 404, "{}", nowhere.body);

    // Variables: defined on b, committed twice, read from a.
    let defined = nodes[1].command("var define lr float:0:1 0.1").await;
    assert_eq!(defined["variable"]["version"], 0, "{defined}");
    let set = nodes[1].command("var set lr 0.05").await;
    assert_eq!(set["variable"]["version"], 1, "{set}");
    let listed = until(&a, "/api/variables", |v| {
        v.status == 200 && v.json()["variables"][0]["version"] == 1
    })
    .await
    .json();
    assert_eq!(listed["variables"][0]["name"], "lr", "{listed}");
    assert_eq!(
        listed["group"]["voters"].as_array().map(Vec::len),
        Some(3),
        "{listed}"
    );
    let lr = get_json(&a, "/api/variables/lr").await;
    assert_eq!(lr["current"]["value"]["Float"], 0.05, "{lr}");
    assert_eq!(lr["history"].as_array().map(Vec::len), Some(2), "{lr}");
    let missing = get(&a, "/api/variables/nope", Some(TOKEN)).await;
    assert_eq!(missing.status, 404, "{}", missing.body);

    // A protocol run coordinated by a, with its result.
    let auction = nodes[0].command("auction gpu second 0 2000").await;
    assert_eq!(auction["result"]["outcome"]["winner"], "b1", "{auction}");
    let runs = get_json(&a, "/api/runs?protocol=sealed_bid_auction").await;
    let run = &runs["runs"][0];
    assert_eq!(
        (&run["invited"], &run["answered"], &run["ok"]),
        (&3.into(), &3.into(), &true.into()),
        "{runs}"
    );
    assert_eq!(run["summary"], "gpu: b1 wins at 5", "{runs}");

    // The journal: the run's two events by its correlation id, membership
    // and agent lifecycle by kind.
    let correlation = run["correlation"].as_str().expect("correlation");
    let trail = get_json(&a, &format!("/api/journal?correlation={correlation}")).await;
    let kinds: Vec<&str> = trail["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e["kind"].as_str())
        .collect();
    assert_eq!(kinds, ["protocol.finished", "protocol.started"], "{trail}");
    let ups = get_json(&a, "/api/journal?kind=membership.node_up").await;
    let mut up: Vec<&str> = ups["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e["payload"]["node"].as_str())
        .collect();
    up.sort_unstable();
    up.dedup();
    assert_eq!(up, ["b", "c"], "{ups}");
    until(&a, "/api/agents/a1", |r| {
        r.status == 200 && r.json()["status"] == "ready"
    })
    .await;
    let lifecycle = until(&a, "/api/journal?kind=agent.*&limit=500", |r| {
        r.status == 200 && r.body.contains("\"status\":\"ready\"")
    })
    .await
    .json();
    assert!(
        lifecycle["events"]
            .as_array()
            .expect("events")
            .iter()
            .any(|e| e["kind"] == "agent.status"
                && e["payload"]["id"] == "a1"
                && e["payload"]["status"] == "ready"),
        "{lifecycle}"
    );

    // Prometheus text, accepted by promtool.
    let metrics = get(&a, "/metrics", Some(TOKEN)).await;
    assert_eq!(metrics.status, 200);
    assert!(
        metrics
            .body
            .contains("foundation_protocol_runs_total{protocol=\"sealed_bid_auction\"} 1"),
        "{}",
        metrics.body
    );
    assert!(
        metrics
            .body
            .contains("foundation_cluster_peers{status=\"up\"} 2"),
        "{}",
        metrics.body
    );
    // Agents' messages counted by kind (a1 was asked for a bid), and the
    // agents of this node by status.
    let agent_messages = "foundation_server_messages_total{kind=\"ScriptedAgent\"}";
    assert!(metrics.body.contains(agent_messages), "{}", metrics.body);
    assert!(
        metrics
            .body
            .contains("foundation_server_handle_seconds_count{kind=\"ScriptedAgent\"}"),
        "{}",
        metrics.body
    );
    until(&a, "/metrics", |m| {
        m.body.contains("foundation_agents{status=\"ready\"} 1")
    })
    .await;
    promtool_check(&metrics.body);

    // The same through the command line, as tables and as JSON.
    let table = foundation(&["agents", "--node", &a, "--token", TOKEN]).await;
    assert!(table.status.success(), "{table:?}");
    let lines: Vec<&str> = std::str::from_utf8(&table.stdout)
        .expect("utf-8")
        .lines()
        .collect();
    assert!(
        lines[0].starts_with("ID") && lines[0].contains("STATUS"),
        "{lines:?}"
    );
    for (id, node) in [("a1", "a"), ("b1", "b"), ("c1", "c")] {
        assert!(
            lines
                .iter()
                .any(|l| l.split_whitespace().take(2).eq([id, node])),
            "{id} on {node}: {lines:?}"
        );
    }
    let json = foundation(&["peers", "--node", &a, "--token", TOKEN, "--json"]).await;
    let peers: Value = serde_json::from_slice(&json.stdout).expect("peers as JSON");
    assert_eq!(peers["peers"].as_array().map(Vec::len), Some(2), "{peers}");
    let refused = foundation(&["status", "--node", &a, "--token", "wrong"]).await;
    assert_one_line_error(&refused, "refused the token");

    // b and c killed: a alone is a minority under keep-majority.
    let mut survivor = nodes.remove(0);
    for mut node in nodes {
        node.kill().await;
    }
    let not_ready = until(&a, "/ready", |r| r.status == 503).await.json();
    assert_eq!(not_ready["ready"], false, "{not_ready}");
    assert!(
        not_ready["reason"].as_str().is_some_and(|r| !r.is_empty()),
        "{not_ready}"
    );
    let health = get(&a, "/health", None).await;
    assert_eq!(health.status, 200, "{}", health.body);
    let downs = get_json(&a, "/api/journal?kind=membership.*").await;
    let events = downs["events"].as_array().expect("events");
    assert!(
        events.iter().any(|e| e["kind"] == "membership.quorum_lost"),
        "{downs}"
    );
    assert!(
        events
            .iter()
            .any(|e| e["kind"] == "membership.node_down" && e["payload"]["node"] == "b"),
        "{downs}"
    );
    let no_quorum = get(&a, "/api/variables/lr", Some(TOKEN)).await;
    assert_eq!(no_quorum.status, 503, "{}", no_quorum.body);
    // Its own copy is still listed.
    let local = get_json(&a, "/api/variables").await;
    assert_eq!(local["variables"][0]["version"], 1, "{local}");
    survivor.forget();
}
