//! Location transparency: the same tell/ask by name reaches actors on any
//! of three real node processes.

mod support;
use support::{cluster, NodeSpec};

fn name_count(reply: &serde_json::Value) -> usize {
    support::user_names(reply).len()
}

#[tokio::test]
async fn tell_and_ask_by_name_across_three_nodes() {
    let mut nodes = cluster(vec![
        NodeSpec::new("a").counter("count-a"),
        NodeSpec::new("b").counter("count-b"),
        NodeSpec::new("c").counter("count-c"),
    ])
    .await;
    for node in nodes.iter_mut() {
        node.command_until("names", |r| name_count(r) == 3).await;
    }

    // a and b reach c's counter remotely; c reaches it locally: one count.
    assert_eq!(nodes[0].command("ask count-c add 5").await["ok"], 5);
    assert_eq!(nodes[1].command("ask count-c add 2").await["ok"], 7);
    assert_eq!(nodes[2].command("ask count-c get").await["ok"], 7);

    // Tells are fire-and-forget; an ask behind them on the same path sees them.
    assert_eq!(nodes[0].command("tell count-b add 40").await["ok"], true);
    assert_eq!(nodes[0].command("ask count-b add 2").await["ok"], 42);
    assert_eq!(nodes[2].command("ask count-a get").await["ok"], 0);

    let r = nodes[1].command("ask nobody get").await;
    assert_eq!(r["error"]["kind"], "unknown_name", "{r}");

    for node in nodes {
        node.quit().await;
    }
}

#[tokio::test]
async fn a_name_is_unique_across_the_cluster() {
    let mut nodes = cluster(vec![
        NodeSpec::new("a").counter("shared"),
        NodeSpec::new("b"),
    ])
    .await;
    nodes[1]
        .command_until("names", |r| name_count(r) == 1)
        .await;
    let names = nodes[1].command("names").await;
    assert_eq!(names["names"][0]["node"], "a");
    for node in nodes {
        node.quit().await;
    }
}
