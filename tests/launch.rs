//! The README's first command: `foundation launch --nodes 3` forms a
//! cluster of three processes; an agent's proposal for `learning_rate` is
//! voted on and committed, and every node reads it with the same version;
//! an auction runs; the third node is killed and the other two still read
//! the value and commit a new version; it exits 0.

mod support;

use std::process::Stdio;
use std::time::Duration;

#[tokio::test]
async fn launch_runs_the_three_node_demo() {
    let base = support::free_ports(3);
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
        stdout.contains("committed learning_rate = 0.01 at version 1 (by n2-agent1)"),
        "{stdout}"
    );
    for node in ["node1", "node2", "node3"] {
        let read = format!("{node} reads learning_rate = 0.01 (version 1, by n2-agent1)");
        assert!(stdout.contains(&read), "{stdout}");
    }
    // The leader is killed; the two others read and commit.
    assert!(
        stdout.contains("(the Raft leader) killed with SIGKILL; 2 of 3 voters left"),
        "{stdout}"
    );
    assert!(
        stdout.contains("still reads learning_rate = 0.01 (version 1)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("commits learning_rate = 0.005: version 2"),
        "{stdout}"
    );
    let reads = stdout
        .lines()
        .filter(|l| l.contains("reads learning_rate = 0.005 (version 2, by node"))
        .count();
    assert_eq!(reads, 2, "{stdout}");
    assert!(
        stdout.contains("winner n1-agent1 (on node1) pays 27.0"),
        "{stdout}"
    );
}
