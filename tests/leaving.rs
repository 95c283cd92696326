//! A node that shuts down cleanly has left the cluster: its peers report it
//! down as such and do not redial it.

mod support;

use std::time::Duration;

use futures::future::join_all;
use support::{NodeSpec, TestNode};

#[tokio::test]
async fn a_node_that_quits_has_left_and_is_not_redialed() {
    let a = NodeSpec::new("a");
    let seed = a.addr();
    let mut nodes = join_all([
        a.start(),
        NodeSpec::new("b").seed(&seed).start(),
        NodeSpec::new("c").seed(&seed).start(),
    ])
    .await;
    nodes[0].expect_up(&["b", "c"]).await;
    nodes[1].expect_up(&["a", "c"]).await;
    nodes[2].expect_up(&["a", "b"]).await;
    let c = nodes.pop().expect("three nodes");
    c.quit().await;
    for node in nodes.iter_mut() {
        let down = node
            .expect(|v| v["event"] == "node_down" && v["node"] == "c")
            .await;
        assert_eq!(down["reason"], "left the cluster", "{down}");
    }
    join_all(
        nodes
            .iter_mut()
            .map(|n| n.watch(Duration::from_millis(500))),
    )
    .await;
    for node in &nodes {
        assert!(
            !node.seen.iter().any(|v| v["event"] == "reconnecting"),
            "{}: a node that left is redialed",
            node.name
        );
    }
    join_all(nodes.into_iter().map(TestNode::quit)).await;
}
