//! A node killed with SIGKILL is detected by its peers, its names vanish,
//! and asks to it fail fast instead of hanging.

mod support;
use std::time::{Duration, Instant};
use support::{cluster, NodeSpec};

#[tokio::test]
async fn a_killed_node_goes_down_and_its_names_vanish() {
    let mut nodes = cluster(vec![
        NodeSpec::new("a").counter("count-a"),
        NodeSpec::new("b").counter("count-b"),
        NodeSpec::new("c").counter("count-c"),
    ])
    .await;
    nodes[0]
        .command_until("names", |r| support::user_names(r).len() == 3)
        .await;

    let killed_at = Instant::now();
    nodes[2].kill().await;
    for node in nodes[..2].iter_mut() {
        let ev = node
            .expect(|v| v["event"] == "node_down" && v["node"] == "c")
            .await;
        assert!(ev["reason"].is_string());
    }
    let detected = killed_at.elapsed();
    assert!(
        detected < Duration::from_secs(5),
        "detection took {detected:?}"
    );

    for node in nodes[..2].iter_mut() {
        let names = support::user_names(&node.command("names").await);
        assert_eq!(names, ["count-a", "count-b"]);
        let r = node.command("ask count-c get 5000").await;
        assert_eq!(r["error"]["kind"], "unknown_name", "{r}");
    }
    // The survivors still talk to each other.
    assert_eq!(nodes[0].command("ask count-b add 1").await["ok"], 1);
}

#[tokio::test]
async fn asks_in_flight_to_a_dying_node_fail_with_node_gone() {
    let mut nodes = cluster(vec![
        NodeSpec::new("a").agent("a1:vote=yes"),
        NodeSpec::new("c").agent("c-slow:vote=yes:delay=60000"),
    ])
    .await;
    nodes[0]
        .command_until("agents", |r| {
            r["agents"].as_array().is_some_and(|a| a.len() == 2)
        })
        .await;

    // The vote would stay open for 30 s; c's agent would answer after 60 s.
    nodes[0].send("vote x 1 30000").await;
    // Kill c only once its agent holds the request.
    nodes[1]
        .expect(|v| v["event"] == "agent_asked" && v["agent"] == "c-slow")
        .await;
    let started = Instant::now();
    nodes[1].kill().await;
    let reply = nodes[0].reply().await;
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "vote hung for {:?}",
        started.elapsed()
    );
    let result = &reply["result"];
    assert_eq!(result["tally"]["eligible"], 2);
    assert_eq!(result["tally"]["yes"], 1);
    assert_eq!(result["tally"]["absent"], 1);
    assert_eq!(result["tally"]["passed"], false);
    assert_eq!(result["missing"][0]["agent"], "c-slow");
    let reason = result["missing"][0]["reason"].as_str().unwrap();
    assert!(reason.contains("gone"), "{reason}");
}
