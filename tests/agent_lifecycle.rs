//! Agents' lifecycle across three node processes: kind, metadata, status,
//! restarts and health are visible and queryable from every node; an
//! agent that reports itself unhealthy is restarted by its policy (a
//! temporary one is gone); one that panics is restarted under its name;
//! a slow one shows busy; stop and restart work
//! from another node; a node's agents leave the directory with their node.

mod support;

use serde_json::Value;
use support::{cluster, NodeSpec};

/// The ids in a `query` reply.
fn ids(reply: &Value) -> Vec<String> {
    reply["agents"]
        .as_array()
        .unwrap_or_else(|| panic!("no agents: {reply}"))
        .iter()
        .filter_map(|a| a["id"].as_str().map(str::to_owned))
        .collect()
}

/// The entry of agent `id` in a `query` reply.
fn entry<'a>(reply: &'a Value, id: &str) -> &'a Value {
    reply["agents"]
        .as_array()
        .and_then(|list| list.iter().find(|a| a["id"] == id))
        .unwrap_or(&Value::Null)
}

#[tokio::test]
async fn agents_report_their_life_and_are_found_by_query() {
    let every = "health-every=100";
    let mut nodes = cluster(vec![
        NodeSpec::new("a")
            .agent(&format!("w1:kind=Worker:meta.zone=eu:meta.gpus=4:{every}"))
            .agent(&format!(
                "w2:kind=Worker:meta.zone=us:meta.gpus=1:health=degraded:{every}"
            )),
        NodeSpec::new("b")
            .agent(&format!("f1:kind=Flaky:health=fail-after/2:{every}"))
            .agent(&format!(
                "t1:kind=Once:restart=temporary:health=unhealthy:{every}"
            ))
            .agent(&format!("s1:kind=Slow:health=slow/400:{every}")),
        NodeSpec::new("c").agent("p1:kind=Panicky:panic-on=vote:health-every=100"),
    ])
    .await;
    let c = 2;
    let watching = nodes[c].command("watch-agents").await;
    assert_eq!(watching["ok"], true, "{watching}");

    // From c: w1 ready, w2 degraded, both Workers with their metadata.
    let ready = nodes[c]
        .command_until("query kind=Worker status=ready", |r| ids(r) == ["w1"])
        .await;
    let w1 = entry(&ready, "w1");
    assert_eq!(w1["node"], "a", "{w1}");
    assert_eq!(w1["health"], "healthy", "{w1}");
    assert_eq!(w1["metadata"]["gpus"]["Int"], 4, "{w1}");
    nodes[c]
        .expect(|v| {
            v["event"] == "agent_listed"
                && v["agent"]["id"] == "w1"
                && v["agent"]["status"] == "ready"
        })
        .await;
    let degraded = nodes[c]
        .command_until("query status=degraded", |r| ids(r) == ["w2"])
        .await;
    assert_eq!(entry(&degraded, "w2")["health"], "degraded: scripted");
    let big = nodes[c].command("query meta=gpus:gte:2").await;
    assert_eq!(ids(&big), ["w1"], "{big}");
    let zones = nodes[c]
        .command("query meta=zone:in:eu,us kind=Worker")
        .await;
    assert_eq!(ids(&zones), ["w1", "w2"], "{zones}");
    let invalid = nodes[c].command("query meta=zone:gt:eu").await;
    assert_eq!(invalid["reply"], "error", "{invalid}");
    assert!(
        invalid["message"]
            .as_str()
            .unwrap_or_default()
            .contains("invalid query: meta `zone` gt: compares numbers"),
        "{invalid}"
    );

    // f1 fails its third check of each life and is restarted; t1,
    // temporary, is gone after its first; s1 answers too late: busy.
    nodes[c]
        .command_until("query id=f1", |r| {
            entry(r, "f1")["restarts"].as_u64() >= Some(2)
        })
        .await;
    nodes[c]
        .command_until("query kind=Once", |r| ids(r).is_empty())
        .await;
    nodes[c]
        .command_until("query status=busy", |r| ids(r) == ["s1"])
        .await;

    // p1 panics when asked to vote: the vote goes on without it, and its
    // supervisor restarts it under its name, counted.
    nodes[0]
        .command_until("query id=p1 status=ready", |r| ids(r) == ["p1"])
        .await;
    let vote = nodes[0].command("vote lr 0.01 500").await;
    let missing = vote["result"]["missing"].to_string();
    assert!(missing.contains("p1"), "{vote}");
    let back = nodes[0]
        .command_until("query id=p1 status=ready", |r| {
            entry(r, "p1")["restarts"] == 1
        })
        .await;
    assert_eq!(entry(&back, "p1")["node"], "c", "{back}");

    // Stop and restart from another node.
    let restarted = nodes[c].command("agent-restart w1").await;
    assert_eq!(restarted["ok"], true, "{restarted}");
    let after = nodes[1]
        .command_until("query id=w1 status=ready", |r| {
            entry(r, "w1")["restarts"] == 1
        })
        .await;
    assert_eq!(entry(&after, "w1")["node"], "a", "{after}");
    let stopped = nodes[c].command("agent-stop w2").await;
    assert_eq!(stopped["ok"], true, "{stopped}");
    let told = nodes[c]
        .expect(|v| v["event"] == "agent_unlisted" && v["id"] == "w2")
        .await;
    assert_eq!(
        (&told["node"], &told["last"]),
        (&Value::from("a"), &Value::from("stopping")),
        "{told}"
    );
    nodes[0]
        .command_until("query kind=Worker", |r| ids(r) == ["w1"])
        .await;
    let unknown = nodes[c].command("agent-stop nobody").await;
    assert!(
        unknown["message"]
            .as_str()
            .unwrap_or_default()
            .contains("no agent `nobody`"),
        "{unknown}"
    );

    // b dies: its agents leave every directory.
    let [a, mut b, mut c] = <[_; 3]>::try_from(nodes).ok().expect("three nodes");
    b.kill().await;
    c.command_until("query node=b", |r| ids(r).is_empty()).await;
    // Its node died: told, and not as a stop.
    let gone = c
        .expect(|v| v["event"] == "agent_unlisted" && v["id"] == "s1")
        .await;
    assert_eq!(gone["last"], "busy", "{gone}");
    let left = c.command("query").await;
    assert_eq!(ids(&left), ["p1", "w1"], "{left}");
    a.quit().await;
    c.quit().await;
}
