//! Labels on registered names and the name-table watch, across three node
//! processes: labels set on one node are listed with the name everywhere
//! and reach every watcher; a name whose node is killed is reported gone;
//! oversized labels and names this node does not hold are refused.

mod support;

use serde_json::Value;
use support::{cluster, NodeSpec};

/// The labels `names` lists for `name`.
fn labels_of(reply: &Value, name: &str) -> Value {
    reply["names"]
        .as_array()
        .and_then(|names| names.iter().find(|n| n["name"] == name))
        .map_or(Value::Null, |n| n["labels"].clone())
}

#[tokio::test]
async fn labels_travel_with_names_and_watchers_see_every_change() {
    let mut nodes = cluster(vec![
        NodeSpec::new("a").counter("svc"),
        NodeSpec::new("b"),
        NodeSpec::new("c"),
    ])
    .await;
    let watch = nodes[2].command("watch-names").await;
    assert_eq!(watch["ok"], true, "{watch}");
    nodes[1]
        .command_until("names", |r| labels_of(r, "svc") == serde_json::json!({}))
        .await;

    let labelled = nodes[0].command("label svc role=primary zone=eu").await;
    assert_eq!(labelled["ok"], true, "{labelled}");
    let seen = nodes[2]
        .expect(|v| {
            v["event"] == "name_registered" && v["name"] == "svc" && v["labels"]["zone"] == "eu"
        })
        .await;
    assert_eq!(seen["node"], "a", "{seen}");
    assert_eq!(seen["labels"]["role"], "primary", "{seen}");
    let listed = nodes[1]
        .command_until("names", |r| labels_of(r, "svc")["role"] == "primary")
        .await;
    assert_eq!(labels_of(&listed, "svc")["zone"], "eu", "{listed}");

    // Only the holder labels a name; labels are bounded.
    let refused = nodes[1].command("label svc role=thief").await;
    assert_eq!(refused["error"]["kind"], "unknown_name", "{refused}");
    let big = format!("label svc blob={}", "x".repeat(5000));
    let refused = nodes[0].command(&big).await;
    assert_eq!(refused["error"]["kind"], "invalid_name", "{refused}");
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("at most 4096 bytes"),
        "{refused}"
    );

    // A new name, then its node killed: the watcher is told both.
    nodes[1].command("counter jobs").await;
    nodes[2]
        .expect(|v| v["event"] == "name_registered" && v["name"] == "jobs")
        .await;
    let [a, b, mut c] = <[_; 3]>::try_from(nodes).ok().expect("three nodes");
    let mut a = a;
    a.kill().await;
    let gone = c
        .expect(|v| v["event"] == "name_unregistered" && v["name"] == "svc")
        .await;
    assert_eq!(gone["node"], "a", "{gone}");
    assert!(
        !c.seen
            .iter()
            .any(|v| v["event"] == "name_unregistered" && v["name"] == "jobs"),
        "a name of a live node was reported gone"
    );
    b.quit().await;
    c.quit().await;
}
