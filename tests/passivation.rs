//! Passivation across node processes: an idle agent's actor stops while
//! the agent, with its state, waits on its node; its name stays
//! registered; the next message, from any node, wakes it with that state.
//! An agent started asleep is listed passivated before it ever ran.

mod support;

use serde_json::Value;
use support::{cluster, NodeSpec, TestNode};

/// The one directory entry of agent `id` on `node`, once `ready` says so.
async fn entry_when(node: &mut TestNode, id: &str, ready: impl Fn(&Value) -> bool) -> Value {
    let reply = node
        .command_until(&format!("query id={id}"), |r| {
            r["agents"]
                .as_array()
                .is_some_and(|a| a.len() == 1 && ready(&a[0]))
        })
        .await;
    reply["agents"][0].clone()
}

#[tokio::test]
async fn an_idle_agent_passivates_and_its_next_message_wakes_it_with_its_state() {
    let mut nodes = cluster(vec![NodeSpec::new("a"), NodeSpec::new("b")]).await;
    let started = nodes[0].command("spawn-on b tally p1:passivate=300").await;
    assert_eq!(started["node"], "b", "{started}");
    // A reference taken while it runs.
    let held = nodes[0].command("hold agent/p1").await;
    assert_eq!(held["node"], "b", "{held}");
    assert_eq!(nodes[0].command("ask agent/p1 add 5").await["ok"], 5);

    // Idle for 300 ms: passivated, as both nodes' directories say, and
    // still registered.
    for node in &mut nodes {
        entry_when(node, "p1", |e| e["status"] == "passivated").await;
    }
    let names = nodes[0].command("names").await;
    assert!(
        support::user_names(&names).contains(&"agent/p1".to_owned()),
        "{names}"
    );

    // A message from another node wakes it, with its count.
    assert_eq!(nodes[0].command("ask agent/p1 add 2").await["ok"], 7);
    let awake = entry_when(&mut nodes[1], "p1", |e| e["status"] == "ready").await;
    // Waking is not a restart.
    assert_eq!(awake["restarts"], 0, "{awake}");

    // Asleep again, then woken from its own node, and through the
    // reference taken before it first slept.
    entry_when(&mut nodes[1], "p1", |e| e["status"] == "passivated").await;
    assert_eq!(nodes[1].command("ask agent/p1 add 1").await["ok"], 8);
    entry_when(&mut nodes[0], "p1", |e| e["status"] == "passivated").await;
    let through_held = nodes[0].command("ask-held agent/p1 get").await;
    assert_eq!(through_held["ok"], 8, "{through_held}");

    // Health checks do not keep it awake: it passivates again though its
    // node keeps checking it.
    entry_when(&mut nodes[0], "p1", |e| e["status"] == "passivated").await;

    // Restarted while asleep: woken, then restarted (a tally restores its
    // last copied count on a restart).
    let restarted = nodes[0].command("agent-restart p1").await;
    assert!(restarted.get("error").is_none(), "{restarted}");
    let entry = entry_when(&mut nodes[0], "p1", |e| e["restarts"] == 1).await;
    assert_eq!(entry["node"], "b", "{entry}");
    assert_eq!(nodes[0].command("ask agent/p1 get").await["ok"], 8);
    entry_when(&mut nodes[0], "p1", |e| e["status"] == "passivated").await;

    // Stopped while asleep, its name goes.
    let stopped = nodes[0].command("agent-stop p1").await;
    assert!(stopped.get("error").is_none(), "{stopped}");
    for node in &mut nodes {
        node.command_until("query id=p1", |r| {
            r["agents"].as_array().is_some_and(Vec::is_empty)
        })
        .await;
    }
    let gone = nodes[1].command("ask agent/p1 get").await;
    assert_eq!(gone["error"]["kind"], "unknown_name", "{gone}");

    // Started asleep: registered and listed, passivated before it ever
    // ran; its first message, from another node, wakes it.
    let started = nodes[0].command("spawn-on b tally p2:asleep=300").await;
    assert_eq!(started["node"], "b", "{started}");
    let asleep = entry_when(&mut nodes[0], "p2", |e| e["status"] == "passivated").await;
    assert_eq!(asleep["restarts"], 0, "{asleep}");
    assert_eq!(nodes[0].command("ask agent/p2 add 3").await["ok"], 3);
    let awake = entry_when(&mut nodes[1], "p2", |e| e["status"] == "ready").await;
    assert_eq!(awake["restarts"], 0, "{awake}");
    entry_when(&mut nodes[1], "p2", |e| e["status"] == "passivated").await;
    assert_eq!(nodes[1].command("ask agent/p2 get").await["ok"], 3);
    // Its id is taken while it sleeps: a second start is refused and the
    // first keeps its name.
    let twice = nodes[0].command("spawn-on b tally p2:asleep=300").await;
    assert_eq!(twice["reply"], "error", "{twice}");
    assert_eq!(nodes[0].command("ask agent/p2 get").await["ok"], 3);
    for node in nodes {
        node.quit().await;
    }
}
