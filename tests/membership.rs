//! Truthful membership: formations where every node dials every other at
//! once (seeds and mDNS), and a node that restarts, report exactly one
//! `node_up` per peer and no `node_down`, `suspect`, `reconnecting` or
//! `auth_failed` for a peer that never stopped. False events are counted,
//! and must be zero. Each node is its own process.

mod support;

use std::time::Duration;

use futures::future::join_all;
use support::netns::Lan;
use support::{NodeSpec, TestNode};

/// How long a formed cluster is watched for late false events: longer than
/// the gateway's grace periods (1 s to settle a closed duplicate, 1.5 s
/// before a closed handshake counts as a refused cookie).
const WATCH: Duration = Duration::from_millis(2500);

/// Waits until every node has every other up, watches them for [`WATCH`],
/// and returns every false event any of them reported.
async fn formed_truthfully(nodes: &mut [TestNode]) -> Vec<String> {
    let names: Vec<String> = nodes.iter().map(|n| n.name.clone()).collect();
    for node in nodes.iter_mut() {
        let peers: Vec<&str> = names
            .iter()
            .filter(|n| **n != node.name)
            .map(String::as_str)
            .collect();
        node.expect_up(&peers).await;
    }
    join_all(nodes.iter_mut().map(|n| n.watch(WATCH))).await;
    nodes.iter().flat_map(TestNode::false_events).collect()
}

/// Three nodes on loopback, each seeded with both others: every pair dials
/// each other at the same moment.
async fn seed_formation(round: usize) -> Vec<TestNode> {
    let specs: Vec<NodeSpec> = ["a", "b", "c"]
        .iter()
        .map(|n| NodeSpec::new(&format!("{n}{round}")))
        .collect();
    let addrs: Vec<String> = specs.iter().map(NodeSpec::addr).collect();
    let specs = specs.into_iter().enumerate().map(|(i, mut spec)| {
        for (j, addr) in addrs.iter().enumerate() {
            if i != j {
                spec = spec.seed(addr);
            }
        }
        spec
    });
    join_all(specs.map(NodeSpec::start)).await
}

#[tokio::test]
async fn twenty_formations_with_crossed_seeds_report_no_false_event() {
    let mut false_events = Vec::new();
    // Four rounds of five formations at once: fifteen processes forming
    // five clusters side by side load the machine as a test run does.
    for round in 0..4 {
        let mut clusters = join_all((0..5).map(|i| seed_formation(round * 5 + i))).await;
        let found = join_all(clusters.iter_mut().map(|c| formed_truthfully(c))).await;
        false_events.extend(found.into_iter().flatten());
        for cluster in clusters {
            join_all(cluster.into_iter().map(TestNode::quit)).await;
        }
    }
    assert!(
        false_events.is_empty(),
        "false membership events in 20 formations: {false_events:#?}"
    );
}

#[tokio::test]
async fn twenty_mdns_formations_in_namespaces_report_no_false_event() {
    let Some(lan) = Lan::create(3) else { return };
    let mut false_events = Vec::new();
    for round in 0..20 {
        // Zero-config nodes: mDNS on all interfaces, each in its own host.
        let specs = lan.hosts.iter().enumerate().map(|(i, host)| {
            NodeSpec::new(&format!("m{round}n{i}"))
                .netns(&host.ns)
                .listen(&format!("{}:7400", host.ip))
                .arg("--discovery")
                .arg("mdns")
        });
        let mut nodes = join_all(specs.map(NodeSpec::start)).await;
        false_events.extend(formed_truthfully(&mut nodes).await);
        join_all(nodes.into_iter().map(TestNode::quit)).await;
    }
    assert!(
        false_events.is_empty(),
        "false membership events in 20 mDNS formations: {false_events:#?}"
    );
}

#[tokio::test]
async fn a_restarted_node_rejoins_without_a_flap_for_the_others() {
    let mut nodes = seed_formation(99).await;
    assert!(formed_truthfully(&mut nodes).await.is_empty());
    let c = nodes.pop().expect("three nodes");
    let (c_name, c_addr) = (c.name.clone(), c.addr.clone());
    let mut c = c;
    c.kill().await;
    for node in nodes.iter_mut() {
        node.forget();
        node.expect(|v| v["event"] == "node_down" && v["node"] == c_name.as_str())
            .await;
    }
    // The same name and address, seeded with the other two: it dials them
    // while they redial it.
    let mut spec = NodeSpec::new(&c_name).listen(&c_addr);
    for node in &nodes {
        spec = spec.seed(&node.addr);
    }
    let mut c = spec.start().await;
    c.expect_up(&[&nodes[0].name, &nodes[1].name]).await;
    for node in nodes.iter_mut() {
        node.expect_up(&[&c_name]).await;
    }
    nodes.push(c);
    join_all(nodes.iter_mut().map(|n| n.watch(WATCH))).await;
    let restarted = nodes[2].false_events();
    assert!(restarted.is_empty(), "the restarted node: {restarted:#?}");
    // The survivors saw c go down, be redialed and come back, once each,
    // and nothing about each other.
    for node in &nodes[..2] {
        let events: Vec<String> = node
            .membership()
            .into_iter()
            .map(|(event, peer)| format!("{event} {peer}"))
            .collect();
        assert_eq!(
            events,
            [
                format!("node_down {c_name}"),
                format!("reconnecting {c_name}"),
                format!("joining {c_name}"),
                format!("node_up {c_name}"),
            ],
            "{}",
            node.name
        );
    }
    join_all(nodes.into_iter().map(TestNode::quit)).await;
}
