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
        // mDNS discovery only, each node on a host of its own.
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
    // and nothing about each other. A `suspect` of c before its `node_down`
    // is a fact too (c was dead), though its closed sockets normally tell
    // first; how fast a kill is seen is the scale bench's measure.
    for node in &nodes[..2] {
        let suspect_c = format!("suspect {c_name}");
        let events: Vec<String> = node
            .membership()
            .into_iter()
            .map(|(event, peer)| format!("{event} {peer}"))
            .skip_while(|e| *e == suspect_c)
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

/// Five nodes `a`…`e`, one per host of `lan`, seeded with `a`, with a 1 s
/// failure timeout and `policy`; returned once fully meshed.
async fn five_on(lan: &Lan, policy: &str) -> Vec<TestNode> {
    let first = format!("{}:7400", lan.hosts[0].ip);
    let specs = lan
        .hosts
        .iter()
        .zip(["a", "b", "c", "d", "e"])
        .map(|(host, name)| {
            let mut spec = NodeSpec::new(name)
                .agent(&format!("agent-{name}:vote=yes"))
                .netns(&host.ns)
                .listen(&format!("{}:7400", host.ip))
                .arg("--failure-timeout")
                .arg("1s")
                .arg("--partition-policy")
                .arg(policy);
            if name != "a" {
                spec = spec.seed(&first);
            }
            spec
        });
    let mut nodes = join_all(specs.map(NodeSpec::start)).await;
    formed_truthfully(&mut nodes).await;
    nodes
}

/// Waits until `node` lists exactly `peers` as up.
async fn sees_exactly(node: &mut TestNode, peers: &[&str]) {
    node.command_until("peers", |r| {
        let mut up: Vec<&str> = r["peers"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| p["status"] == "up")
            .filter_map(|p| p["node"].as_str())
            .collect();
        up.sort_unstable();
        up == peers
    })
    .await;
}

#[tokio::test]
async fn the_minority_of_a_split_refuses_and_the_heal_converges() {
    let Some(lan) = Lan::create(5) else { return };
    let mut nodes = five_on(&lan, "keep-majority").await;
    for node in nodes.iter_mut() {
        node.forget();
    }
    lan.split(&[3, 4]);
    // The minority, d and e, loses its quorum and says so.
    for node in &mut nodes[3..] {
        let lost = node.expect(|v| v["event"] == "quorum_lost").await;
        assert_eq!(lost["policy"], "keep-majority", "{lost}");
        assert_eq!(lost["known"], 5, "{lost}");
    }
    sees_exactly(&mut nodes[3], &["e"]).await;
    // It refuses a cluster-unique name, with the typed error naming the
    // policy and what it sees.
    let refused = nodes[3].command("counter svc").await;
    let message = refused["message"].as_str().unwrap_or_default();
    assert!(
        message
            .contains("no quorum under keep-majority: this node sees 2 of 5 known members (d, e)"),
        "{refused}"
    );
    // Nor does it start a protocol.
    let vote = nodes[4].command("vote lr 0.01 500").await;
    assert_eq!(vote["reply"], "error", "{vote}");
    assert!(
        vote["message"]
            .as_str()
            .unwrap_or_default()
            .contains("no quorum under keep-majority"),
        "{vote}"
    );
    // The majority goes on: it registers, serves and decides.
    sees_exactly(&mut nodes[0], &["b", "c"]).await;
    let vote = nodes[0].command("vote lr 0.01 500").await;
    assert_eq!(vote["reply"], "vote", "{vote}");
    assert!(!nodes[0].seen.iter().any(|v| v["event"] == "quorum_lost"));
    assert_eq!(nodes[2].command("counter svc").await["ok"], true);
    // The name reaches a as soon as c's announcement does.
    nodes[0]
        .command_until("ask svc get", |r| r["ok"] == 0)
        .await;
    assert_eq!(nodes[0].command("ask svc add 3").await["ok"], 3);

    let healed_at = std::time::Instant::now();
    lan.heal();
    for node in &mut nodes[3..] {
        node.expect(|v| v["event"] == "quorum_regained").await;
    }
    let peers = ["a", "b", "c", "d", "e"];
    for i in 0..nodes.len() {
        let others: Vec<&str> = peers.iter().copied().filter(|p| *p != peers[i]).collect();
        sees_exactly(&mut nodes[i], &others).await;
    }
    let converged = healed_at.elapsed();
    assert!(
        converged < Duration::from_secs(5),
        "healed in {converged:?}"
    );
    // The minority reaches the majority's name again.
    nodes[4]
        .command_until("ask svc get", |r| r["ok"] == 3)
        .await;
    join_all(nodes.into_iter().map(TestNode::quit)).await;
}

#[tokio::test]
async fn after_a_heal_the_loser_of_a_name_is_told_and_an_old_ref_reaches_the_winner() {
    let Some(lan) = Lan::create(5) else { return };
    // Both sides keep working (two members suffice), so both register.
    let mut nodes = five_on(&lan, "static-quorum:2").await;
    lan.split(&[3, 4]);
    sees_exactly(&mut nodes[2], &["a", "b"]).await;
    sees_exactly(&mut nodes[3], &["e"]).await;
    assert_eq!(nodes[2].command("counter svc").await["ok"], true);
    assert_eq!(nodes[3].command("counter svc").await["ok"], true);
    // Each side's name reaches its other members as soon as the
    // announcement does.
    nodes[0]
        .command_until("ask svc get", |r| r["ok"] == 0)
        .await;
    nodes[4]
        .command_until("ask svc get", |r| r["ok"] == 0)
        .await;
    assert_eq!(nodes[0].command("ask svc add 100").await["ok"], 100);
    assert_eq!(nodes[4].command("ask svc add 7").await["ok"], 7);
    // e holds a reference resolved to d's counter.
    let held = nodes[4].command("hold svc").await;
    assert_eq!(held["node"], "d", "{held}");
    for node in nodes.iter_mut() {
        node.forget();
    }

    lan.heal();
    // c < d: c keeps the name; d is told, and its counter is stopped.
    let conflict = nodes[3].expect(|v| v["event"] == "name_conflict").await;
    assert_eq!(conflict["name"], "svc", "{conflict}");
    assert_eq!(conflict["winner"], "c", "{conflict}");
    assert_eq!(conflict["stopped"], true, "{conflict}");
    for node in &nodes[..3] {
        assert!(!node.seen.iter().any(|v| v["event"] == "name_conflict"));
    }
    // Every node, d included, now reaches c's counter by name; nobody
    // reads d's stale 7.
    for node in nodes.iter_mut() {
        node.command_until("ask svc get", |r| r["ok"] == 100).await;
    }
    // The old reference follows the name to the winner.
    assert_eq!(nodes[4].command("ask-held svc add 1").await["ok"], 101);
    join_all(nodes.into_iter().map(TestNode::quit)).await;
}

#[tokio::test]
async fn the_first_subscriber_sees_every_event_since_start() {
    let (node, _peer) = support::joined_to(NodeSpec::new("early-peer"), "late-subscriber").await;
    // Subscribe only once the peer is up here: its events happened before.
    let deadline = std::time::Instant::now() + support::DEADLINE;
    while !node
        .peers()
        .await
        .expect("peers")
        .iter()
        .any(|p| p.node == "early-peer" && p.status == foundation::cluster::PeerStatus::Up)
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the peer never came up"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut events = node.subscribe();
    let mut seen = Vec::new();
    while let Ok(event) = events.try_recv() {
        seen.push(serde_json::to_value(&event).expect("event as JSON"));
    }
    assert!(
        seen.iter()
            .any(|e| e["event"] == "node_up" && e["node"] == "early-peer"),
        "{seen:?}"
    );
    // A second subscriber starts from now.
    assert!(node.subscribe().try_recv().is_err());
    node.shutdown().await;
}
