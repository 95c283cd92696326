//! Placement across three node processes: a scripted agent started on a
//! node named from another; the ring names the same owner for a key on
//! every node; spawn_for_key starts an agent once and answers it after;
//! node attributes, capacity and anti-affinity constrain where; refusals
//! say why. Plain actors of a registered kind are started the same ways.

mod support;

use serde_json::Value;
use support::{cluster, NodeSpec};

fn message(reply: &Value) -> &str {
    reply["message"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn agents_are_placed_by_node_by_key_and_by_constraint() {
    let mut nodes = cluster(vec![
        NodeSpec::new("a").arg("--attribute=zone=eu"),
        NodeSpec::new("b").arg("--attribute=zone=us"),
        NodeSpec::new("c").arg("--attribute=zone=eu"),
    ])
    .await;
    // Every node sees the three ring members and their attributes.
    for node in &mut nodes {
        node.command_until("owner any require=zone=us", |r| r["node"] == "b")
            .await;
    }

    // Started on b from a, found from c.
    let started = nodes[0].command("spawn-on b x1:vote=yes").await;
    assert_eq!(started["node"], "b", "{started}");
    // Listed at once; its kind and status follow with its manager's
    // next look.
    let found = nodes[2]
        .command_until("query id=x1", |r| r["agents"][0]["kind"] == "ScriptedAgent")
        .await;
    assert_eq!(found["agents"][0]["node"], "b", "{found}");
    let bad = nodes[0].command("spawn-on b x2:vote=maybe").await;
    assert!(
        message(&bad).contains("vote must be yes, no or abstain"),
        "{bad}"
    );
    assert!(
        message(&bad).contains("cannot start kind `scripted` on `b`"),
        "{bad}"
    );
    let nowhere = nodes[0].command("spawn-on mars x3").await;
    assert_eq!(nowhere["reply"], "error", "{nowhere}");

    // The ring: one owner for a key, whoever asks.
    let mut owners = Vec::new();
    for node in &mut nodes {
        owners.push(node.command("owner k1").await["node"].clone());
    }
    assert!(owners.iter().all(|o| *o == owners[0]), "{owners:?}");
    let placed = nodes[1].command("spawn-for-key k1 k1").await;
    assert_eq!(placed["node"], owners[0], "{placed}");
    // Asked again from elsewhere: the same agent, not a second one.
    let again = nodes[2].command("spawn-for-key k1 k1").await;
    assert_eq!(again["node"], owners[0], "{again}");
    let k1 = nodes[0]
        .command_until("query id=k1", |r| {
            r["agents"].as_array().map(Vec::len) == Some(1)
        })
        .await;
    assert_eq!(k1["agents"][0]["node"], owners[0], "{k1}");

    // Constraints: the zone, apart from k1, capacity.
    let us = nodes[0]
        .command("spawn-for-key k2 k2 require=zone=us")
        .await;
    assert_eq!(us["node"], "b", "{us}");
    let apart = nodes[0]
        .command("spawn-for-key k3 k3 require=zone=eu apart=k1")
        .await;
    assert_ne!(apart["node"], owners[0], "{apart}");
    assert!(apart["node"] == "a" || apart["node"] == "c", "{apart}");
    let mars = nodes[0].command("owner k4 require=zone=mars").await;
    assert!(message(&mars).contains("no node can take it"), "{mars}");
    // b runs x1 and k2: full at a capacity of 2.
    nodes[0]
        .command_until("query node=b", |r| {
            r["agents"].as_array().map(Vec::len) == Some(2)
        })
        .await;
    let full = nodes[0]
        .command("spawn-for-key k5 k5 require=zone=us capacity=2")
        .await;
    assert!(message(&full).contains("no node can take it"), "{full}");

    // Plain actors have kinds too: started on c from a, asked from b.
    let counter = nodes[0].command("spawn-actor-on c counter hits").await;
    assert_eq!(
        (&counter["name"], &counter["node"]),
        (&Value::from("hits"), &Value::from("c")),
        "{counter}"
    );
    let added = nodes[1].command("ask hits add 5").await;
    assert_eq!(added["ok"], 5, "{added}");
    let taken = nodes[1].command("spawn-actor-on a counter hits").await;
    assert!(message(&taken).contains("hits"), "{taken}");
    let counted = nodes[2].command("ask hits get").await;
    assert_eq!(
        counted["ok"], 5,
        "a second start refused, the first kept: {counted}"
    );
    // An agent kind is not an actor kind.
    let wrong = nodes[0].command("spawn-actor-on c tally t9").await;
    assert!(
        message(&wrong).contains("`tally` is an agent kind: start it with spawn_on"),
        "{wrong}"
    );
    // By key: on the ring's owner, once.
    let owner = nodes[0].command("owner page-7").await["node"].clone();
    let placed = nodes[1]
        .command("spawn-actor-for-key page-7 counter page-7")
        .await;
    assert_eq!(placed["node"], owner, "{placed}");
    let again = nodes[2]
        .command("spawn-actor-for-key page-7 counter page-7")
        .await;
    assert_eq!(again["node"], owner, "{again}");
    for node in nodes {
        node.quit().await;
    }
}
