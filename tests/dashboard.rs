//! The dashboard in a real browser: three `foundation node` processes with
//! agents and variables, and headless Chromium, driven through
//! chromedriver with fantoccini, on node a's page. The page shows the
//! three nodes up and the agents of every node, and a variable's history
//! as a plot; an auction started from the test appears on the same page
//! without a reload; node c killed turns red (`data-status="down"`) on it
//! too. A screenshot is kept as `target/test-artifacts/dashboard.png`.
//! The page also works by polling, and the token is asked for where it
//! should be (`?token=` on the page and its event stream only). Apart from
//! the browser: event streams are bounded, and one ends with its client.
//!
//! Needs `chromium` and `chromedriver`: Debian's `apt-get install -y
//! --no-install-recommends chromium chromium-driver` (`.ci/run` installs
//! them). Without them the test fails and says so.

mod support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder};
use serde_json::{json, Value};
use support::{agent_count, cluster, free_port, NodeSpec, DEADLINE};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

const TOKEN: &str = "dash-token";

/// What the page shows, read from its DOM in one go: node circles by
/// name with their status, agent rows, run rows, the number of points
/// plotted per variable, how it gets its data, and the mark the test
/// left on the document (gone if it was reloaded).
const PAGE_STATE: &str = r#"
    const nodes = {};
    for (const c of document.querySelectorAll("circle[data-node]")) nodes[c.dataset.node] = c.dataset.status;
    const plots = {};
    for (const r of document.querySelectorAll("tr[data-variable]")) {
        plots[r.dataset.variable] = Number(r.querySelector("svg.spark").dataset.points);
    }
    return {
        nodes,
        agents: [...document.querySelectorAll("tr[data-agent]")].map((r) => r.dataset.agent).sort(),
        runs: [...document.querySelectorAll("tr[data-run]")].map((r) => r.textContent),
        plots,
        transport: document.getElementById("transport").dataset.transport,
        mark: window.testMark || null,
    };
"#;

fn spec(name: &str, agent: &str) -> NodeSpec {
    NodeSpec::new(name)
        .arg("--variables=a,b,c")
        .http(TOKEN)
        .agent(agent)
}

/// `name` in a directory of `PATH`.
fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|file| file.is_file())
}

/// chromedriver and the browser, or the test fails saying what to install.
fn browser_tools() -> (PathBuf, PathBuf) {
    let driver = on_path("chromedriver");
    let browser = on_path("chromium").or_else(|| on_path("chromium-browser"));
    match (driver, browser) {
        (Some(driver), Some(browser)) => (driver, browser),
        _ => panic!(
            "tests/dashboard.rs needs chromium and chromedriver: apt-get install -y \
             --no-install-recommends chromium chromium-driver (.ci/run installs them)"
        ),
    }
}

/// chromedriver on a free loopback port, in a process group of its own:
/// dropping it kills the group, the browser it started included.
struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    async fn start(driver: &Path) -> Self {
        let port = free_port();
        let child = Command::new(driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", driver.display()));
        let deadline = Instant::now() + DEADLINE;
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            assert!(
                Instant::now() < deadline,
                "chromedriver did not listen on port {port}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }

    /// A headless browser session, its profile in `profile`. Without the
    /// background-networking flags Chromium dials out at start, which a
    /// closed network refuses.
    async fn session(&self, browser: &Path, profile: &Path) -> Client {
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1280,1000",
            &format!("--user-data-dir={}", profile.display()),
        ];
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("browserName".into(), json!("chrome"));
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({ "binary": browser, "args": args }),
        );
        ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&self.url)
            .await
            .unwrap_or_else(|e| panic!("no browser session from chromedriver: {e}"))
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        if let Some(pid) = self.child.id() {
            // The whole group: chromedriver and the browser it started.
            let _ = std::process::Command::new("kill")
                .args(["-KILL", "--", &format!("-{pid}")])
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// Where the test keeps its screenshots.
fn artifacts() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-artifacts");
    std::fs::create_dir_all(&dir).expect("create target/test-artifacts");
    dir
}

async fn screenshot(browser: &Client, file: &str) -> PathBuf {
    let png = browser.screenshot().await.expect("screenshot");
    assert!(png.starts_with(b"\x89PNG"), "the screenshot is not a PNG");
    let path = artifacts().join(file);
    std::fs::write(&path, png).expect("write the screenshot");
    path
}

/// Reads the page until `pred` holds of what it shows, within the
/// deadline; on time out keeps a screenshot and fails with what the page
/// showed last.
async fn until(browser: &Client, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let state = browser
            .execute(PAGE_STATE, Vec::new())
            .await
            .expect("read the page");
        if pred(&state) {
            return state;
        }
        if Instant::now() >= deadline {
            let shot = screenshot(browser, "dashboard-failed.png").await;
            let text = browser
                .execute("return document.body.innerText", Vec::new())
                .await
                .unwrap_or_default();
            panic!(
                "the page never showed {what} within {DEADLINE:?}; it showed {state:#}\n\
                 its text: {text}\nscreenshot: {}",
                shot.display()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn nodes_are(state: &Value, expected: &[(&str, &str)]) -> bool {
    let shown = state["nodes"].as_object().map_or(0, |nodes| nodes.len());
    shown == expected.len()
        && expected
            .iter()
            .all(|(node, status)| state["nodes"][node] == *status)
}

fn shows_run(state: &Value, parts: &[&str]) -> bool {
    state["runs"].as_array().is_some_and(|runs| {
        runs.iter()
            .any(|run| parts.iter().all(|p| run.as_str().unwrap_or("").contains(p)))
    })
}

/// `GET http://addr/path` with no header: status, content type, and the
/// body (of an event stream, its first event only).
async fn get(addr: &str, path: &str) -> (u16, String, String) {
    let url = format!("http://{addr}{path}");
    tokio::task::spawn_blocking(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(15)))
            .build()
            .into();
        let mut response = agent
            .get(&url)
            .call()
            .unwrap_or_else(|e| panic!("GET {url}: {e}"));
        let status = response.status().as_u16();
        let kind = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let mut body = String::new();
        let mut reader = BufReader::new(response.body_mut().as_reader());
        // An event stream never ends: read up to its first blank line.
        while reader.read_line(&mut body).expect("read the body") > 0 {
            if kind.starts_with("text/event-stream") && body.ends_with("\n\n") {
                break;
            }
        }
        (status, kind, body)
    })
    .await
    .expect("request task")
}

#[tokio::test]
async fn the_dashboard_shows_the_cluster_live_in_a_browser() {
    let (driver, browser) = browser_tools();
    let mut nodes = cluster(vec![
        spec("a", "a1:vote=yes:bid=5"),
        spec("b", "b1:vote=yes:bid=7"),
        spec("c", "c1:vote=no:bid=3"),
    ])
    .await;
    let a = nodes[0].http_addr().await;
    nodes[0]
        .command_until("agents", |r| agent_count(r) == 3)
        .await;

    // The page and its stream take the token in the query; no other
    // route does, and nothing is served without it.
    for path in [
        "/",
        "/?token=wrong",
        "/api/events",
        "/api/node?token=dash-token",
    ] {
        let (status, _, body) = get(&a, path).await;
        assert_eq!(status, 401, "GET {path}: {body}");
    }
    let (status, kind, page) = get(&a, &format!("/?token={TOKEN}")).await;
    assert_eq!((status, kind.as_str()), (200, "text/html; charset=utf-8"));
    assert!(page.contains("<svg id=\"cluster\""), "{page}");
    let (status, kind, event) = get(&a, &format!("/api/events?token={TOKEN}")).await;
    assert_eq!(
        (status, kind.as_str()),
        (200, "text/event-stream"),
        "{event}"
    );
    let data = event
        .lines()
        .find_map(|line| line.strip_prefix("data: "))
        .unwrap_or_else(|| panic!("no data in the first event: {event}"));
    let snapshot: Value = serde_json::from_str(data).expect("a JSON snapshot");
    assert!(event.starts_with("event: snapshot\n"), "{event}");
    assert_eq!(
        (
            &snapshot["node"]["node"],
            snapshot["peers"].as_array().map(Vec::len)
        ),
        (&json!("a"), Some(2)),
        "{snapshot}"
    );

    let chromedriver = Driver::start(&driver).await;
    let profile = tempfile::tempdir().expect("a browser profile dir");
    let page = chromedriver.session(&browser, profile.path()).await;
    page.goto(&format!("http://{a}/?token={TOKEN}"))
        .await
        .expect("open the dashboard");

    // Three nodes up, and the agents of every node.
    let all_up = [("a", "up"), ("b", "up"), ("c", "up")];
    until(&page, "three nodes up, three agents, live", |s| {
        nodes_are(s, &all_up)
            && s["agents"] == json!(["a1", "b1", "c1"])
            && s["transport"] == "live"
    })
    .await;
    // From here on the page must not be reloaded: the mark stays.
    page.execute("window.testMark = 'kept'; return null", Vec::new())
        .await
        .expect("mark the page");

    // A variable committed three times is plotted with three points.
    nodes[1].command("var define lr float:0:1 0.1").await;
    nodes[1].command("var set lr 0.05").await;
    let set = nodes[1].command("var set lr 0.08").await;
    assert_eq!(set["variable"]["version"], 2, "{set}");
    until(&page, "lr's history plotted", |s| s["plots"]["lr"] == 3).await;

    // An auction from a shows up, live.
    let auction = nodes[0].command("auction gpu second 0 2000").await;
    assert_eq!(auction["result"]["outcome"]["winner"], "b1", "{auction}");
    until(&page, "the auction in the recent runs", |s| {
        shows_run(s, &["sealed_bid_auction", "gpu: b1 wins at 5"]) && s["mark"] == "kept"
    })
    .await;

    // c killed: its circle turns red, on the same page.
    nodes[2].kill().await;
    until(&page, "c down, a and b up", |s| {
        nodes_are(s, &[("a", "up"), ("b", "up"), ("c", "down")]) && s["mark"] == "kept"
    })
    .await;
    let shot = screenshot(&page, "dashboard.png").await;
    eprintln!("dashboard screenshot: {}", shot.display());

    // Without an event stream the page polls the JSON routes: a fresh
    // page never saw c, and lists a and b.
    page.goto(&format!("http://{a}/?token={TOKEN}&transport=poll"))
        .await
        .expect("open the polling dashboard");
    until(&page, "a and b, the auction, by polling", |s| {
        s["transport"] == "polling"
            && nodes_are(s, &[("a", "up"), ("b", "up")])
            && shows_run(s, &["sealed_bid_auction"])
            && s["plots"]["lr"] == 3
    })
    .await;

    page.close().await.expect("close the browser session");
}

/// `GET /api/events` on a connection of its own: the connection once the
/// first snapshot came, or the status it was refused with.
async fn open_stream(addr: &str) -> Result<tokio::io::BufReader<TcpStream>, u16> {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let request = format!("GET /api/events HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .await
        .expect("send the request");
    let mut stream = tokio::io::BufReader::new(stream);
    let mut status = String::new();
    stream.read_line(&mut status).await.expect("a status line");
    let code = status
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status in {status:?}"));
    if code != 200 {
        return Err(code);
    }
    let mut line = String::new();
    while line.trim_end() != "event: snapshot" {
        line.clear();
        let read = stream.read_line(&mut line).await.expect("read the stream");
        assert!(read > 0, "the stream ended before its first snapshot");
    }
    Ok(stream)
}

#[tokio::test]
async fn event_streams_are_bounded_and_end_with_their_clients() {
    let mut node = NodeSpec::new("s").arg("--http=127.0.0.1:0").start().await;
    let addr = node.http_addr().await;
    let mut open = Vec::new();
    for _ in 0..32 {
        open.push(
            open_stream(&addr)
                .await
                .expect("one of the first 32 streams"),
        );
    }
    assert_eq!(open_stream(&addr).await.err(), Some(503), "a 33rd stream");
    // A client gone: the server finds out at its next snapshot and gives
    // its place to the next.
    drop(open.pop());
    let deadline = Instant::now() + DEADLINE;
    loop {
        match open_stream(&addr).await {
            Ok(stream) => break open.push(stream),
            Err(503) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(status) => panic!("no stream after a client left: {status}"),
        }
    }
}
