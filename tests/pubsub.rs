//! Groups and topics across three node processes: names (and actors
//! without one) join and leave
//! groups at run time and watchers are told; a message published on a
//! topic reaches every subscriber on every node, in the order published,
//! in one envelope per node however many subscribers it has; an
//! unsubscribed or dead subscriber no longer counts.

mod support;

use serde_json::Value;
use support::{cluster, NodeSpec};

fn members(reply: &Value) -> Vec<String> {
    let mut names: Vec<String> = reply["members"]
        .as_array()
        .unwrap_or_else(|| panic!("no members: {reply}"))
        .iter()
        .filter_map(|m| m["name"].as_str().map(str::to_owned))
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn topics_reach_every_subscriber_on_every_node() {
    let mut nodes = cluster(vec![
        NodeSpec::new("a").counter("ca"),
        NodeSpec::new("b").counter("cb1").counter("cb2"),
        NodeSpec::new("c").counter("cc"),
    ])
    .await;
    nodes[2].command("watch-names").await;
    for (i, name) in [(0, "ca"), (1, "cb1"), (1, "cb2")] {
        let subscribed = nodes[i].command(&format!("subscribe jobs {name}")).await;
        assert_eq!(subscribed["ok"], true, "{subscribed}");
    }
    // The watcher on c was told each subscription (a group joined).
    for name in ["ca", "cb1", "cb2"] {
        nodes[2]
            .expect(|v| {
                v["event"] == "name_registered"
                    && v["name"] == name
                    && v["groups"]
                        .as_array()
                        .is_some_and(|g| g.iter().any(|g| g == "topic/jobs"))
            })
            .await;
    }
    let listed = nodes[2].command("members topic/jobs").await;
    assert_eq!(members(&listed), ["ca", "cb1", "cb2"], "{listed}");

    // Published from c, which has no subscriber: all three get every
    // message.
    for n in 1..=50 {
        let published = nodes[2].command(&format!("publish jobs add {n}")).await;
        assert_eq!(published["subscribers"], 3, "{published}");
    }
    for name in ["ca", "cb1", "cb2"] {
        nodes[0]
            .command_until(&format!("ask {name} get"), |r| r["ok"] == 1275)
            .await;
    }
    // One message per node, not one per subscriber: b, with two
    // subscribers, received 50, as a did with one; c sent 50 to each.
    for (node, direction, count) in [(0, "in", 50), (1, "in", 50), (2, "out", 100)] {
        let metrics = nodes[node]
            .command("metrics foundation_gateway_envelopes_total")
            .await;
        let publishes: Vec<&Value> = metrics["counters"]
            .as_array()
            .unwrap_or_else(|| panic!("no counters: {metrics}"))
            .iter()
            .filter(|c| c["labels"]["direction"] == direction && c["labels"]["kind"] == "publish")
            .collect();
        assert_eq!(publishes.len(), 1, "{metrics}");
        assert_eq!(publishes[0]["value"], count, "{metrics}");
    }

    // Per-publisher order: 500 numbers published back to back from c
    // reach every subscriber in order (a gap, a double or a swap would
    // poison the count).
    for name in ["ca", "cb1", "cb2"] {
        let i = usize::from(name != "ca");
        nodes[i].command(&format!("subscribe seq {name}")).await;
    }
    nodes[2]
        .command_until("members topic/seq", |r| members(r).len() == 3)
        .await;
    // The counters are at 1275: the sequence continues from there.
    let seq = nodes[2].command("publish-seq seq 1276 1775").await;
    assert_eq!(seq["subscribers"], 3, "{seq}");
    for name in ["ca", "cb1", "cb2"] {
        nodes[0]
            .command_until(&format!("ask {name} get"), |r| r["ok"] == 1775)
            .await;
    }
    for name in ["ca", "cb1", "cb2"] {
        let i = usize::from(name != "ca");
        nodes[i].command(&format!("unsubscribe seq {name}")).await;
    }

    // cb2 leaves the topic; b's node then gets one subscriber's worth.
    nodes[1].command("unsubscribe jobs cb2").await;
    nodes[2]
        .command_until("members topic/jobs", |r| members(r) == ["ca", "cb1"])
        .await;
    let published = nodes[2].command("publish jobs add 5").await;
    assert_eq!(published["subscribers"], 2, "{published}");
    nodes[0]
        .command_until("ask cb1 get", |r| r["ok"] == 1780)
        .await;
    let cb2 = nodes[0].command("ask cb2 get").await;
    assert_eq!(cb2["ok"], 1775, "{cb2}");

    // A group of names, joined and left at run time.
    nodes[0].command("join-group ca workers").await;
    nodes[2].command("join-group cc workers").await;
    nodes[1]
        .command_until("members workers", |r| members(r) == ["ca", "cc"])
        .await;
    nodes[0].command("leave-group ca workers").await;
    nodes[1]
        .command_until("members workers", |r| members(r) == ["cc"])
        .await;
    let refused = nodes[0].command("join-group cc workers").await;
    assert_eq!(
        refused["reply"], "error",
        "only the holder moves a name: {refused}"
    );

    // An actor without a name joins groups too, under one name made for
    // it, which every node lists and reaches.
    let joined = nodes[1].command("join-unnamed workers").await;
    let unnamed = joined["name"].as_str().unwrap_or_default().to_owned();
    assert!(unnamed.starts_with("~b/"), "{joined}");
    nodes[0]
        .command_until("members workers", |r| {
            members(r) == ["cc".to_owned(), unnamed.clone()]
        })
        .await;
    let added = nodes[0].command(&format!("ask {unnamed} add 2")).await;
    assert_eq!(added["ok"], 2, "{added}");
    let again = nodes[1]
        .command(&format!("join-unnamed jobs {unnamed}"))
        .await;
    assert_eq!(
        again["name"],
        unnamed.as_str(),
        "one name for one actor: {again}"
    );
    nodes[2]
        .command_until("members jobs", |r| members(r) == [unnamed.clone()])
        .await;
    // Leaving one group leaves it in the other.
    nodes[1]
        .command(&format!("leave-unnamed {unnamed} jobs"))
        .await;
    nodes[2]
        .command_until("members jobs", |r| members(r).is_empty())
        .await;
    let workers = nodes[2].command("members workers").await;
    assert!(members(&workers).contains(&unnamed), "{workers}");
    // A group name over the limit is refused, and nothing joins.
    let long = nodes[1]
        .command(&format!("join-unnamed {}", "g".repeat(2000)))
        .await;
    assert!(
        long["message"]
            .as_str()
            .unwrap_or_default()
            .contains("invalid name"),
        "{long}"
    );
    let after = nodes[1].command("join-unnamed jobs").await;
    assert_eq!(
        after["ok"], true,
        "the refused join left nothing behind: {after}"
    );
    // Stopped, it is in no group.
    nodes[1].command(&format!("stop-unnamed {unnamed}")).await;
    nodes[0]
        .command_until("members workers", |r| members(r) == ["cc"])
        .await;

    // b dies: its subscriber goes with it.
    let [a, mut b, mut c] = <[_; 3]>::try_from(nodes).ok().expect("three nodes");
    b.kill().await;
    c.command_until("members topic/jobs", |r| members(r) == ["ca"])
        .await;
    let published = c.command("publish jobs add 1").await;
    assert_eq!(published["subscribers"], 1, "{published}");
    a.quit().await;
    c.quit().await;
}
