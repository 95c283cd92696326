//! Failure detection beyond a closed socket: a frozen node (SIGSTOP) is
//! declared down by heartbeat deadline and comes back after SIGCONT; an
//! idle unauthenticated connection is closed; a seed that is not there yet
//! is dialed until it answers.

mod support;
use std::time::{Duration, Instant};

use support::{cluster, free_port, NodeSpec};
use tokio::io::AsyncReadExt;

#[tokio::test]
async fn a_frozen_node_goes_down_by_deadline_and_rejoins_when_thawed() {
    let spec = |name: &str, counter: &str| {
        NodeSpec::new(name)
            .counter(counter)
            .arg("--failure-timeout")
            .arg("1s")
    };
    let mut nodes = cluster(vec![
        spec("a", "count-a"),
        spec("b", "count-b"),
        spec("c", "count-c"),
    ])
    .await;
    nodes[0]
        .command_until("names", |r| support::user_names(r).len() == 3)
        .await;
    assert_eq!(nodes[0].command("ask count-c add 1").await["ok"], 1);

    for node in nodes.iter_mut() {
        node.forget();
    }
    let frozen_at = Instant::now();
    nodes[2].signal("STOP");
    for node in nodes[..2].iter_mut() {
        let ev = node
            .expect(|v| v["event"] == "node_down" && v["node"] == "c")
            .await;
        assert!(ev["reason"].as_str().unwrap().contains("heartbeat"), "{ev}");
    }
    let detected = frozen_at.elapsed();
    // Before going down, c was suspect; after, it is being redialed.
    let events: Vec<&str> = nodes[0]
        .seen
        .iter()
        .filter(|v| v["node"] == "c")
        .filter_map(|v| v["event"].as_str())
        .collect();
    assert_eq!(events[..2], ["suspect", "node_down"], "{events:?}");
    nodes[0]
        .expect(|v| v["event"] == "reconnecting" && v["node"] == "c")
        .await;
    // 1 s of silence, heartbeats every 250 ms: down within ~1.25 s; allow for a busy machine.
    assert!(
        detected < Duration::from_secs(3),
        "detection took {detected:?}"
    );
    let r = nodes[0].command("ask count-c get").await;
    assert_eq!(r["error"]["kind"], "unknown_name", "{r}");

    nodes[2].signal("CONT");
    for node in nodes[..2].iter_mut() {
        node.expect(|v| v["event"] == "node_up" && v["node"] == "c")
            .await;
    }
    // The resumed node finds its connections closed by the others (they
    // declared it down); it knows it was paused, waits for them to come
    // back, and reports no peer down: a and b never stopped.
    nodes[2]
        .command_until("peers", |r| {
            r["peers"]
                .as_array()
                .is_some_and(|p| p.len() == 2 && p.iter().all(|p| p["status"] == "up"))
        })
        .await;
    let wrong = nodes[2].false_events();
    assert!(wrong.is_empty(), "the resumed node: {wrong:?}");
    nodes[0]
        .command_until("names", |r| support::user_names(r).len() == 3)
        .await;
    // c kept its state while frozen: the same counter answers again.
    assert_eq!(nodes[0].command("ask count-c add 1").await["ok"], 2);
}

#[tokio::test]
async fn an_idle_unauthenticated_connection_is_closed() {
    let node = NodeSpec::new("a")
        .arg("--handshake-timeout")
        .arg("1s")
        .start()
        .await;
    let mut socket = tokio::net::TcpStream::connect(&node.addr).await.unwrap();
    let opened = Instant::now();
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(Duration::from_secs(10), socket.read(&mut buf))
        .await
        .expect("the node closes the idle connection");
    assert!(matches!(read, Ok(0) | Err(_)), "expected EOF, got {read:?}");
    assert!(
        opened.elapsed() >= Duration::from_millis(900),
        "closed too early: {:?}",
        opened.elapsed()
    );
}

#[tokio::test]
async fn a_seed_that_is_not_there_yet_is_dialed_until_it_answers() {
    let late_port = free_port();
    let late_addr = format!("127.0.0.1:{late_port}");
    let mut early = NodeSpec::new("early").seed(&late_addr).start().await;
    // The early node runs without its seed...
    assert_eq!(early.command("peers").await["peers"], serde_json::json!([]));
    // ...and joins it once it appears.
    let mut late = NodeSpec {
        port: late_port,
        ..NodeSpec::new("late")
    }
    .start()
    .await;
    early.expect_up(&["late"]).await;
    late.expect_up(&["early"]).await;
}
