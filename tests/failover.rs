//! Failover with state, across node processes: when a node is killed
//! (SIGKILL), its agents that copy their state run again on a survivor
//! with their last copied state, exactly once, found by id and reached
//! through a reference taken before; a temporary agent does not move. When
//! a partition heals, the instance that moved keeps the id and the one
//! left behind on the minority side stops: still exactly one. An agent
//! placed by a key keeps to its placement when it moves, and waits for a
//! node that meets it when no survivor does.

mod support;

use serde_json::Value;
use support::netns::Lan;
use support::{cluster, NodeSpec, TestNode};

/// The directory entries of agent `id` as `reply` (to `query id=ID`) lists
/// them.
fn entries(reply: &Value) -> Vec<Value> {
    reply["agents"].as_array().cloned().unwrap_or_default()
}

/// Waits until `node` lists agent `id` once, with its state copied at
/// `version` or later, and answers the entry.
async fn copied(node: &mut TestNode, id: &str, version: u64) -> Value {
    let reply = node
        .command_until(&format!("query id={id}"), |r| {
            let found = entries(r);
            found.len() == 1 && found[0]["state_version"].as_u64() >= Some(version)
        })
        .await;
    entries(&reply)[0].clone()
}

/// Waits until `node` lists agent `id` on a node other than `from` at
/// epoch 1 (the epoch is a label its new manager publishes at its next
/// look, just after the name moves), and answers its entry, checked to be
/// the only one.
async fn moved_from(node: &mut TestNode, id: &str, from: &str) -> Value {
    let reply = node
        .command_until(&format!("query id={id}"), |r| {
            entries(r)
                .first()
                .is_some_and(|e| e["node"] != from && e["epoch"] == 1)
        })
        .await;
    let moved = entries(&reply);
    assert_eq!(moved.len(), 1, "{reply}");
    moved[0].clone()
}

/// The `name_conflict` events `node` reported.
fn conflicts(node: &TestNode) -> Vec<Value> {
    node.seen_events("name_conflict")
}

#[tokio::test]
async fn a_killed_node_s_agents_run_again_on_a_survivor_with_their_state() {
    let mut nodes = cluster(vec![
        NodeSpec::new("a"),
        NodeSpec::new("b"),
        NodeSpec::new("c"),
    ])
    .await;
    // On c, started from a: two tallies copying each change (to one and to
    // two other nodes), and a temporary one, which never moves.
    for spec in ["t1:copies=1", "t2:copies=2", "t3:restart=temporary"] {
        let started = nodes[0].command(&format!("spawn-on c tally {spec}")).await;
        assert_eq!(started["node"], "c", "{started}");
    }
    let old = nodes[0].command("hold agent/t1").await;
    assert_eq!(old["node"], "c", "{old}");
    assert_eq!(nodes[0].command("ask agent/t1 add 5").await["ok"], 5);
    assert_eq!(nodes[1].command("ask agent/t1 add 2").await["ok"], 7);
    assert_eq!(nodes[0].command("ask agent/t2 add 10").await["ok"], 10);
    assert_eq!(nodes[0].command("ask agent/t3 add 1").await["ok"], 1);
    // Every copy has the last state: c lists it so only after telling
    // the holders, and a and b between them hold every copy.
    for node in &mut nodes[..2] {
        let t1 = copied(node, "t1", 2).await;
        assert_eq!(t1["copies"].as_array().map(Vec::len), Some(1), "{t1}");
        let t2 = copied(node, "t2", 1).await;
        assert_eq!(t2["copies"].as_array().map(Vec::len), Some(2), "{t2}");
    }
    let t3 = nodes[0].command("query id=t3").await;
    assert_eq!(entries(&t3)[0]["copies"], serde_json::json!([]), "{t3}");

    let mut c = nodes.pop().expect("three nodes");
    c.kill().await;
    let mut homes = Vec::new();
    for node in &mut nodes {
        node.expect(|v| v["event"] == "node_down" && v["node"] == "c")
            .await;
        for id in ["t1", "t2"] {
            let moved = moved_from(node, id, "c").await;
            homes.push((id, moved["node"].clone()));
        }
    }
    // Both survivors agree where each agent went.
    assert_eq!(homes[0], homes[2], "{homes:?}");
    assert_eq!(homes[1], homes[3], "{homes:?}");
    // The reference taken before reaches the new instance, with the
    // count it had.
    let held = nodes[0].command("ask-held agent/t1 get").await;
    assert_eq!(held["ok"], 7, "{held}");
    assert_eq!(nodes[1].command("ask agent/t2 get").await["ok"], 10);
    assert_eq!(nodes[1].command("ask agent/t1 add 1").await["ok"], 8);
    // The temporary one is gone with its node.
    let t3 = nodes[1]
        .command_until("query id=t3", |r| entries(r).is_empty())
        .await;
    assert!(entries(&t3).is_empty(), "{t3}");
    // Exactly once: no node saw two claims on an agent's id.
    for node in &nodes {
        assert!(conflicts(node).is_empty(), "{:?}", conflicts(node));
    }
    // The moved agent copies its state again, to the other survivor.
    let t1 = copied(&mut nodes[0], "t1", 3).await;
    assert_eq!(t1["copies"].as_array().map(Vec::len), Some(1), "{t1}");
    for node in nodes {
        node.quit().await;
    }
}

#[tokio::test]
async fn a_placed_agent_moves_only_to_a_node_that_meets_its_placement() {
    let mut nodes = cluster(vec![
        NodeSpec::new("a").arg("--attribute=zone=eu"),
        NodeSpec::new("b").arg("--attribute=zone=us"),
        NodeSpec::new("c")
            .arg("--attribute=zone=eu")
            .arg("--attribute=disk=ssd"),
    ])
    .await;
    for node in &mut nodes {
        node.command_until("owner any require=disk=ssd", |r| r["node"] == "c")
            .await;
    }
    // Tallies kept in zone eu (a or c), each copied to both other nodes,
    // and one that needs an ssd (only c has one).
    let mut on_c = Vec::new();
    for i in 8..16 {
        let id = format!("e{i}");
        let started = nodes[1]
            .command(&format!(
                "spawn-for-key {id} tally {id}:copies=2 require=zone=eu"
            ))
            .await;
        assert!(
            started["node"] == "a" || started["node"] == "c",
            "{started}"
        );
        if started["node"] == "c" {
            on_c.push(id);
        }
    }
    // The ring puts e8 on c among a and c, and on b among a and b: were
    // its move placed by its id, it would go to b.
    assert!(on_c.contains(&"e8".to_owned()), "{on_c:?}");
    let ssd = nodes[1]
        .command("spawn-for-key s1 tally s1:copies=2 require=disk=ssd")
        .await;
    assert_eq!(ssd["node"], "c", "{ssd}");
    let moving: Vec<String> = on_c.iter().cloned().chain(["s1".to_owned()]).collect();
    for id in &moving {
        assert_eq!(
            nodes[0].command(&format!("ask agent/{id} add 3")).await["ok"],
            3
        );
    }
    for node in &mut nodes[..2] {
        for id in &moving {
            copied(node, id, 1).await;
        }
    }

    let mut c = nodes.pop().expect("three nodes");
    c.kill().await;
    for node in &mut nodes {
        node.expect(|v| v["event"] == "node_down" && v["node"] == "c")
            .await;
        // Only a is in zone eu: whatever the ring says of their ids.
        for id in &on_c {
            let moved = moved_from(node, id, "c").await;
            assert_eq!(moved["node"], "a", "{moved}");
        }
        // No survivor has an ssd: s1 runs nowhere.
        let s1 = node.command("query id=s1").await;
        assert!(entries(&s1).is_empty(), "{s1}");
    }
    for id in &on_c {
        assert_eq!(
            nodes[1].command(&format!("ask agent/{id} get")).await["ok"],
            3
        );
    }

    // A node with an ssd joins: s1 runs there, with its count.
    let mut d = NodeSpec::new("d")
        .arg("--attribute=zone=eu")
        .arg("--attribute=disk=ssd")
        .seed(&nodes[0].addr)
        .start()
        .await;
    d.expect_up(&["a", "b"]).await;
    for node in nodes.iter_mut().chain([&mut d]) {
        let reply = node
            .command_until("query id=s1", |r| {
                entries(r)
                    .first()
                    .is_some_and(|e| e["node"] == "d" && e["epoch"] == 1)
            })
            .await;
        assert_eq!(entries(&reply).len(), 1, "{reply}");
    }
    assert_eq!(nodes[0].command("ask agent/s1 get").await["ok"], 3);
    // Exactly once: no node saw two claims on an agent's id.
    for node in nodes.iter().chain([&d]) {
        assert!(conflicts(node).is_empty(), "{:?}", conflicts(node));
    }
    for node in nodes.into_iter().chain([d]) {
        node.quit().await;
    }
}

#[tokio::test]
async fn after_a_partition_heals_the_agent_that_moved_is_the_only_one() {
    let Some(lan) = Lan::create(3) else { return };
    let first = format!("{}:7400", lan.hosts[0].ip);
    let specs = lan.hosts.iter().zip(["a", "b", "c"]).map(|(host, name)| {
        let mut spec = NodeSpec::new(name)
            .netns(&host.ns)
            .listen(&format!("{}:7400", host.ip))
            .arg("--failure-timeout")
            .arg("1s");
        if name != "a" {
            spec = spec.seed(&first);
        }
        spec
    });
    let mut nodes = futures::future::join_all(specs.map(NodeSpec::start)).await;
    for (i, node) in nodes.iter_mut().enumerate() {
        let peers: Vec<&str> = ["a", "b", "c"]
            .into_iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, n)| n)
            .collect();
        node.expect_up(&peers).await;
    }
    // On c, which the split leaves alone.
    let started = nodes[0].command("spawn-on c tally p1:copies=2").await;
    assert_eq!(started["node"], "c", "{started}");
    assert_eq!(nodes[0].command("ask agent/p1 add 4").await["ok"], 4);
    copied(&mut nodes[0], "p1", 1).await;
    copied(&mut nodes[1], "p1", 1).await;

    lan.split(&[2]);
    // The majority moves it, with its state; the minority cannot.
    let moved = nodes[0]
        .command_until("query id=p1", |r| {
            entries(r).first().is_some_and(|e| e["node"] != "c")
        })
        .await;
    let home = entries(&moved)[0]["node"].clone();
    assert_eq!(nodes[0].command("ask agent/p1 add 1").await["ok"], 5);
    // c's own instance still runs there, cut off.
    assert_eq!(nodes[2].command("ask agent/p1 get").await["ok"], 4);

    lan.heal();
    // c hears of the moved instance: it loses the id and stops its own.
    let lost = nodes[2]
        .expect(|v| v["event"] == "name_conflict" && v["name"] == "agent/p1")
        .await;
    assert_eq!(lost["winner"], home, "{lost}");
    for node in &mut nodes {
        let reply = node
            .command_until("query id=p1", |r| {
                let found = entries(r);
                found.len() == 1 && found[0]["node"] == home
            })
            .await;
        assert_eq!(entries(&reply)[0]["epoch"], 1, "{reply}");
        assert_eq!(node.command("ask agent/p1 get").await["ok"], 5);
    }
    // It is not started again on c: the agent list of c's own agents
    // stays empty.
    let local = nodes[2].command("query node=c").await;
    assert!(entries(&local).is_empty(), "{local}");
    for node in nodes {
        node.quit().await;
    }
}
