//! A node that holds the cookie cannot pass its envelopes off as another
//! node's: on the data link it authenticated, an envelope naming another
//! sender is refused and counted, and what it sends as itself still
//! arrives, in order.

mod support;
use std::time::Duration;

use actor_cluster::fuzzing::Link;
use actor_cluster::{Message, Ref};
use support::{joined_to, CounterMsg, NodeSpec, DEADLINE};

/// The counter's total, asked from `node`.
async fn total(node: &actor_cluster::Node) -> u64 {
    let counter: Ref = node.lookup("c1").await.expect("c1");
    counter
        .ask(CounterMsg::Add(0), Duration::from_secs(5))
        .await
        .expect("ask")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_envelope_that_names_another_sender_is_refused() {
    let log = tempfile::NamedTempFile::new().unwrap();
    let spec = NodeSpec::new("a").counter("c1").log(log.path());
    let addr = spec.addr();
    let (t, _a) = joined_to(spec, "t").await;

    // "mallory" authenticates its link as itself ...
    let mut link = Link::dial(
        &addr,
        actor_cluster::DEFAULT_CLUSTER,
        "test-cookie",
        "mallory",
        "a",
    )
    .await
    .expect("a link");
    // ... and what it sends as itself arrives,
    link.tell("mallory", "c1", CounterMsg::TAG, &CounterMsg::Add(5))
        .await
        .unwrap();
    // what it sends as "t" (a member) does not,
    link.tell("t", "c1", CounterMsg::TAG, &CounterMsg::Add(100))
        .await
        .unwrap();
    // and the link still carries what comes after.
    link.tell("mallory", "c1", CounterMsg::TAG, &CounterMsg::Add(1))
        .await
        .unwrap();

    let deadline = tokio::time::Instant::now() + DEADLINE;
    let mut seen = total(&t).await;
    while seen < 6 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
        seen = total(&t).await;
    }
    // One link's envelopes are handled in order: the forged one came
    // between the two that arrived.
    assert_eq!(seen, 6, "the forged tell was delivered");

    let log = std::fs::read_to_string(log.path()).unwrap();
    let refusals: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("names another node as its sender"))
        .collect();
    assert_eq!(refusals.len(), 1, "{log}");
    assert!(refusals[0].contains("from=t"), "{}", refusals[0]);
    assert!(refusals[0].contains("link=mallory"), "{}", refusals[0]);
    // The member it tried to pass for is still up at a, and t at it.
    let peers = t.peers().await.expect("peers");
    assert!(peers.iter().any(|p| p.node == "a"), "{peers:?}");
}
