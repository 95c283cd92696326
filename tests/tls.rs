//! Mutual TLS between node processes: certificates from `foundation certs`
//! form a cluster; a node without TLS, or with a certificate from another
//! CA, never joins.

mod support;
use std::path::Path;
use std::time::Duration;

use support::NodeSpec;

fn certs(dir: &Path, nodes: &[&str]) {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_foundation"));
    cmd.args(["certs", "--out"]).arg(dir);
    for n in nodes {
        cmd.args(["--node", n]);
    }
    assert!(cmd.status().expect("run foundation certs").success());
}

fn tls(spec: NodeSpec, dir: &Path, node: &str) -> NodeSpec {
    let path = |f: String| dir.join(f).to_string_lossy().into_owned();
    spec.arg("--tls-cert")
        .arg(&path(format!("{node}.pem")))
        .arg("--tls-key")
        .arg(&path(format!("{node}-key.pem")))
        .arg("--tls-ca")
        .arg(&path("ca.pem".into()))
}

#[tokio::test]
async fn nodes_with_certificates_from_the_cluster_ca_form_a_cluster() {
    let dir = tempfile::tempdir().unwrap();
    certs(dir.path(), &["a", "b"]);
    let a = tls(NodeSpec::new("a").counter("count-a"), dir.path(), "a");
    let a_addr = a.addr();
    let mut a = a.start().await;
    let mut b = tls(NodeSpec::new("b").seed(&a_addr), dir.path(), "b")
        .start()
        .await;
    a.expect_up(&["b"]).await;
    b.expect_up(&["a"]).await;
    b.command_until("names", |r| support::user_names(r) == ["count-a"])
        .await;
    assert_eq!(b.command("ask count-a add 3").await["ok"], 3);
    // Both send on data links, over TLS too (a link is dialed when the
    // peer's session comes up, and may still be on its way).
    for node in [&mut a, &mut b] {
        node.command_until("peers", |r| r["peers"][0]["link"] == true)
            .await;
    }
}

#[tokio::test]
async fn a_node_without_tls_or_from_another_ca_never_joins() {
    let (ours, theirs) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    certs(ours.path(), &["a"]);
    certs(theirs.path(), &["c"]);
    let a = tls(NodeSpec::new("a"), ours.path(), "a");
    let a_addr = a.addr();
    let mut a = a.start().await;
    let mut plain = NodeSpec::new("plain").seed(&a_addr).start().await;
    let mut stranger = tls(NodeSpec::new("c").seed(&a_addr), theirs.path(), "c")
        .start()
        .await;
    // Both keep dialing and failing; give them a few attempts.
    let window = Duration::from_secs(3);
    let up = |v: &serde_json::Value| v["event"] == "node_up";
    assert!(
        a.try_expect(window, &up).await.is_err(),
        "a accepted an untrusted peer: {:?}",
        a.seen
    );
    assert!(plain
        .try_expect(Duration::from_millis(100), &up)
        .await
        .is_err());
    assert!(stranger
        .try_expect(Duration::from_millis(100), &up)
        .await
        .is_err());
}

#[tokio::test]
async fn a_late_joiner_meshes_with_every_member_through_one_seed() {
    let dir = tempfile::tempdir().unwrap();
    certs(dir.path(), &["a", "b", "c"]);
    let a = tls(NodeSpec::new("a"), dir.path(), "a");
    let a_addr = a.addr();
    let mut a = a.start().await;
    let mut b = tls(NodeSpec::new("b").seed(&a_addr), dir.path(), "b")
        .start()
        .await;
    b.expect_up(&["a"]).await;
    // c knows only a; it learns of b from a and dials it, with TLS too.
    let mut c = tls(
        NodeSpec::new("c").seed(&a_addr).counter("count-c"),
        dir.path(),
        "c",
    )
    .start()
    .await;
    c.expect_up(&["a", "b"]).await;
    b.expect_up(&["c"]).await;
    a.expect_up(&["c"]).await;
    for node in [&a, &b, &c] {
        let wrong: Vec<_> = node.false_events();
        assert!(wrong.is_empty(), "{wrong:?}");
    }
    b.command_until("ask count-c get", |r| r["ok"] == 0).await;
}

#[tokio::test]
async fn a_silent_connection_before_tls_delays_no_join_and_is_closed_by_the_deadline() {
    use tokio::io::AsyncReadExt;
    let dir = tempfile::tempdir().unwrap();
    certs(dir.path(), &["a", "b", "c"]);
    let a = tls(
        NodeSpec::new("a").arg("--handshake-timeout=3s"),
        dir.path(),
        "a",
    );
    let a_addr = a.addr();
    let mut a = a.start().await;
    // Connected, and never a ClientHello.
    let mut silent = tokio::net::TcpStream::connect(&a_addr).await.unwrap();
    let opened = std::time::Instant::now();
    let mut b = tls(NodeSpec::new("b").seed(&a_addr), dir.path(), "b")
        .start()
        .await;
    let mut c = tls(NodeSpec::new("c").seed(&a_addr), dir.path(), "c")
        .start()
        .await;
    b.expect_up(&["a", "c"]).await;
    c.expect_up(&["a", "b"]).await;
    a.expect_up(&["b", "c"]).await;
    let joined = opened.elapsed();
    assert!(
        joined < Duration::from_secs(2),
        "two joins behind a silent connection took {joined:?}"
    );
    // The silent connection is closed by the handshake deadline.
    let mut buf = [0u8; 16];
    let read = tokio::time::timeout(Duration::from_secs(6), silent.read(&mut buf)).await;
    assert!(
        matches!(read, Ok(Ok(0) | Err(_))),
        "the silent connection is still open: {read:?}"
    );
    let closed = opened.elapsed();
    assert!(
        closed >= Duration::from_millis(2900) && closed < Duration::from_secs(5),
        "closed after {closed:?}, not at the 3 s deadline"
    );
    eprintln!("joins behind a silent connection: {joined:?}; it was closed after {closed:?}");
    for node in [&a, &b, &c] {
        let wrong: Vec<_> = node.false_events();
        assert!(wrong.is_empty(), "{wrong:?}");
    }
}
