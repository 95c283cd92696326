//! The README's first command: `foundation launch --nodes 3` forms a
//! cluster of three processes, runs a vote and an auction, and exits 0.

use std::process::Stdio;
use std::time::Duration;

#[tokio::test]
async fn launch_runs_the_three_node_demo() {
    // Three consecutive ports starting at a free one.
    let base = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = base.min(u16::MAX - 3);
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_foundation"))
        .args(["launch", "--nodes", "3", "--base-port", &base.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("launch finishes within a minute")
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "launch failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("Cluster formed: 3 nodes"), "{stdout}");
    assert!(
        stdout.contains("yes 6  no 3  abstained 0  absent 0  -> PASSED"),
        "{stdout}"
    );
    assert!(
        stdout.contains("winner n1-agent1 (on node1) pays 27.0"),
        "{stdout}"
    );
}
