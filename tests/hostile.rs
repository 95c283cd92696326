//! What arrives on a node's port before anyone authenticates: a flood of
//! idle, slow and oversized connections costs bounded memory, is closed by
//! the handshake deadline, and disturbs neither the mesh nor an ask; a node
//! out of file descriptors backs off instead of spinning, and accepts again
//! once descriptors are free.

mod support;
use std::time::{Duration, Instant};

use support::{cluster, NodeSpec, DEADLINE};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinSet;

/// The handshake timeout of the nodes under attack.
const HANDSHAKE: Duration = Duration::from_secs(3);

/// A process's resident memory, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

/// A process's CPU time so far, user and system, in clock ticks (1/100 s).
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    // Fields after the command name (which may hold spaces): utime is the
    // 12th, stime the 13th.
    let rest = &stat[stat.rfind(')').expect("comm") + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

/// Lets this test process open as many files as its hard limit allows
/// (1,000 connections and more).
fn raise_own_nofile() {
    let limits = std::fs::read_to_string("/proc/self/limits").expect("limits");
    let hard = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(4))
        .expect("Max open files")
        .to_owned();
    let status = std::process::Command::new("prlimit")
        .args(["--pid", &std::process::id().to_string()])
        .arg(format!("--nofile={hard}:"))
        .status()
        .expect("run prlimit");
    assert!(status.success());
}

/// Reads until the node closes the connection; when it did, or `None` if
/// it was still open at `until`.
async fn closed_by(mut conn: TcpStream, until: Instant) -> Option<Instant> {
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout_at(until.into(), conn.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => return Some(Instant::now()),
            Ok(Ok(_)) => {}
            Err(_) => return None,
        }
    }
}

#[tokio::test]
async fn a_thousand_unauthenticated_connections_cost_bounded_memory_and_are_closed() {
    raise_own_nofile();
    let handshake = format!("--handshake-timeout={}s", HANDSHAKE.as_secs());
    let mut nodes = cluster(vec![
        NodeSpec::new("a").counter("count-a").arg(&handshake),
        NodeSpec::new("b").arg(&handshake),
        NodeSpec::new("c").arg(&handshake),
    ])
    .await;
    nodes[1]
        .command_until("names", |r| support::user_names(r) == ["count-a"])
        .await;
    assert_eq!(nodes[1].command("ask count-a add 1").await["ok"], 1);
    let (pid, addr) = (nodes[0].pid(), nodes[0].addr.clone());
    let before = rss_kib(pid);

    // 600 connections that say nothing, 200 that send a small frame one
    // byte every 300 ms, 200 that declare a 16 MiB frame and send 64 KiB.
    let started = Instant::now();
    let until = started + HANDSHAKE + Duration::from_secs(3);
    let mut attack = JoinSet::new();
    for i in 0..1000 {
        let mut conn = TcpStream::connect(&addr).await.expect("connect");
        attack.spawn(async move {
            match i % 5 {
                0 => {
                    let _ = conn.write_all(&64u64.to_be_bytes()).await;
                    let mut closed = None;
                    while closed.is_none() && Instant::now() < until {
                        if conn.write_all(&[0x0a]).await.is_err() {
                            break;
                        }
                        let wait = Instant::now() + Duration::from_millis(300);
                        closed = closed_by_peek(&mut conn, wait).await;
                    }
                    closed.or(closed_by(conn, until).await)
                }
                1 => {
                    let _ = conn.write_all(&(16u64 << 20).to_be_bytes()).await;
                    let _ = conn.write_all(&[0x0a; 64 * 1024]).await;
                    closed_by(conn, until).await
                }
                _ => closed_by(conn, until).await,
            }
        });
    }

    // Meanwhile: asks across the cluster go on, and a's memory stays low.
    let mut peak = rss_kib(pid);
    for n in 2..=21 {
        let reply = nodes[1].command("ask count-a add 1").await;
        assert_eq!(reply["ok"], n, "an ask during the flood: {reply}");
        peak = peak.max(rss_kib(pid));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut closed = Vec::new();
    while let Some(done) = attack.join_next().await {
        peak = peak.max(rss_kib(pid));
        closed.push(done.expect("attacker task"));
    }
    let open = closed.iter().filter(|c| c.is_none()).count();
    assert_eq!(
        open, 0,
        "{open} of 1,000 connections still open at {until:?}"
    );
    let slowest = closed
        .iter()
        .flatten()
        .max()
        .unwrap()
        .duration_since(started);
    let extra_mib = peak.saturating_sub(before) / 1024;
    eprintln!(
        "1,000 unauthenticated connections: a's RSS {} MiB before, peak {} MiB (+{extra_mib} MiB); all closed within {slowest:?}",
        before / 1024,
        peak / 1024
    );
    assert!(extra_mib <= 64, "the flood cost {extra_mib} MiB");

    // The mesh never noticed.
    for node in nodes.iter_mut() {
        node.watch(Duration::from_millis(200)).await;
        assert_eq!(node.false_events(), Vec::<String>::new());
    }
    assert_eq!(nodes[2].command("ask count-a get").await["ok"], 21);
    // And a newcomer joins at once.
    let mut d = NodeSpec::new("d").seed(&addr).start().await;
    d.expect_up(&["a", "b", "c"]).await;
    for node in nodes {
        node.quit().await;
    }
    d.quit().await;
}

/// Waits for the node to close the connection until `until`, without
/// consuming what it may send.
async fn closed_by_peek(conn: &mut TcpStream, until: Instant) -> Option<Instant> {
    let mut buf = [0u8; 1];
    match tokio::time::timeout_at(until.into(), conn.peek(&mut buf)).await {
        Ok(Ok(0) | Err(_)) => Some(Instant::now()),
        _ => None,
    }
}

#[tokio::test]
async fn a_node_out_of_descriptors_backs_off_and_accepts_again() {
    raise_own_nofile();
    let log = tempfile::NamedTempFile::new().unwrap();
    let handshake = format!("--handshake-timeout={}s", HANDSHAKE.as_secs());
    let a = NodeSpec::new("a")
        .arg(&handshake)
        .nofile(64)
        .log(log.path());
    let addr = a.addr();
    let mut a = a.start().await;
    let pid = a.pid();

    // Far more connections than a has descriptors for.
    let mut conns = Vec::new();
    for _ in 0..300 {
        conns.push(TcpStream::connect(&addr).await.expect("connect"));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (ticks, at) = (cpu_ticks(pid), Instant::now());
    tokio::time::sleep(Duration::from_secs(2)).await;
    let used = (cpu_ticks(pid) - ticks) as f64 / 100.0 / at.elapsed().as_secs_f64();
    let log_text = std::fs::read_to_string(log.path()).unwrap();
    let reports = log_text.matches("cannot accept connections").count();
    eprintln!(
        "out of descriptors: {:.1}% of a core, {reports} log lines, {} bytes of log",
        used * 100.0,
        log_text.len()
    );
    assert!(
        reports >= 1,
        "the accept errors were not reported:\n{log_text}"
    );
    assert!(reports <= 2, "{reports} reports of accept errors");
    assert!(
        used < 0.2,
        "the node spun at {:.0}% of a core",
        used * 100.0
    );

    // Descriptors free again: the node accepts a peer.
    drop(conns);
    let mut b = NodeSpec::new("b").seed(&addr).start().await;
    tokio::time::timeout(DEADLINE, b.expect_up(&["a"]))
        .await
        .expect("b joins a");
    a.expect_up(&["b"]).await;
    a.quit().await;
    b.quit().await;
}
