//! A rolling upgrade: a cluster with a node of the previous wire version
//! (`--previous-wire-version` plays the build before this one) meshes,
//! lists every name and answers asks both ways; each pair speaks the newest
//! version both know; after that node is upgraded in place, every pair
//! speaks the new version, and nobody reported anything false about the
//! nodes that stayed up.

mod support;
use serde_json::Value;
use support::{await_mesh, NodeSpec};

/// `peer`'s entry in a `peers` reply.
fn entry<'a>(peers: &'a Value, peer: &str) -> &'a Value {
    peers["peers"]
        .as_array()
        .and_then(|list| list.iter().find(|p| p["node"] == peer))
        .unwrap_or_else(|| panic!("{peer} is not listed: {peers}"))
}

/// The wire version `node` speaks with `peer`, from its `peers` reply.
fn wire_with(peers: &Value, peer: &str) -> u64 {
    entry(peers, peer)["wire"].as_u64().expect("a wire version")
}

/// Whether `node` sends to `peer` on a data link, from its `peers` reply.
fn link_to(peers: &Value, peer: &str) -> bool {
    entry(peers, peer)["link"].as_bool().expect("a link flag")
}

/// Membership events `node` reported about `peer`.
fn about(node: &support::TestNode, peer: &str) -> Vec<String> {
    node.membership()
        .into_iter()
        .filter(|(_, n)| n == peer)
        .map(|(event, _)| event)
        .collect()
}

#[tokio::test]
async fn a_cluster_upgrades_one_node_at_a_time() {
    let old = NodeSpec::new("a")
        .counter("count-a")
        .arg("--previous-wire-version");
    let (seed, a_port) = (old.addr(), old.port);
    let mut a = old.start().await;
    let b = NodeSpec::new("b")
        .counter("count-b")
        .seed(&seed)
        .start()
        .await;
    let c = NodeSpec::new("c")
        .counter("count-c")
        .seed(&seed)
        .start()
        .await;
    let mut nodes = vec![a, b, c];
    await_mesh(&mut nodes).await;
    for node in nodes.iter_mut() {
        node.command_until("names", |r| support::user_names(r).len() == 3)
            .await;
    }
    // Asks both ways between versions.
    assert_eq!(nodes[0].command("ask count-b add 1").await["ok"], 1);
    assert_eq!(nodes[1].command("ask count-a add 2").await["ok"], 2);
    assert_eq!(nodes[2].command("ask count-a add 3").await["ok"], 5);

    // Each pair speaks the newest version both know, once each has told
    // the other which it knows (until then a pair speaks the oldest).
    let b_peers = nodes[1]
        .command_until("peers", |r| wire_with(r, "c") > wire_with(r, "a"))
        .await;
    let a_peers = nodes[0].command("peers").await;
    let (old_v, new_v) = (wire_with(&b_peers, "a"), wire_with(&b_peers, "c"));
    assert_eq!(
        new_v,
        old_v + 1,
        "b speaks {old_v} with a and {new_v} with c"
    );
    assert_eq!(wire_with(&a_peers, "b"), old_v);
    assert_eq!(wire_with(&a_peers, "c"), old_v);
    // New nodes send to each other on data links, and through the
    // session to the old one (which has none).
    // (A link is dialed once the peer's session is up: it may still be
    // on its way.)
    nodes[1].command_until("peers", |r| link_to(r, "c")).await;
    assert!(!link_to(&b_peers, "a"), "{b_peers}");
    assert!(!link_to(&a_peers, "b"), "{a_peers}");

    // a is upgraded in place: same name, same port.
    a = nodes.remove(0);
    a.quit().await;
    let new_a = NodeSpec::new("a").counter("count-a");
    let new_a = NodeSpec {
        port: a_port,
        ..new_a
    }
    .seed(&nodes[0].addr.clone())
    .start()
    .await;
    nodes.insert(0, new_a);
    await_mesh(&mut nodes).await;
    for node in nodes.iter_mut() {
        node.command_until("names", |r| support::user_names(r).len() == 3)
            .await;
    }
    let b_peers = nodes[1]
        .command_until("peers", |r| wire_with(r, "a") >= new_v)
        .await;
    assert_eq!(wire_with(&b_peers, "a"), new_v);
    nodes[1].command_until("peers", |r| link_to(r, "a")).await;
    nodes[0].command_until("peers", |r| link_to(r, "b")).await;
    let a_peers = nodes[0]
        .command_until("peers", |r| wire_with(r, "c") >= new_v)
        .await;
    assert_eq!(wire_with(&a_peers, "c"), new_v);
    assert_eq!(nodes[2].command("ask count-a add 1").await["ok"], 1);
    assert_eq!(nodes[0].command("ask count-c get").await["ok"], 0);

    // b and c saw a leave and come back, and nothing else.
    for (i, node) in nodes.iter().enumerate().skip(1) {
        let other = if i == 1 { "c" } else { "b" };
        assert_eq!(about(node, other), ["joining", "node_up"], "{}", node.name);
        let a_events = about(node, "a");
        assert!(
            a_events
                .iter()
                .filter(|e| !matches!(e.as_str(), "joining" | "node_up" | "node_down"))
                .count()
                == 0,
            "{}: {a_events:?}",
            node.name
        );
    }
    for node in nodes {
        node.quit().await;
    }
}
