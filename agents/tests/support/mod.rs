//! Set-up shared by the agents crate's tests.

#![allow(dead_code)]

use actor_cluster::Node;

/// The cookie of every node these tests start.
pub(crate) const COOKIE: &str = "agents-test";

/// A node on its own, named `name`: listening on a free loopback port,
/// looking for no peer.
pub(crate) async fn lone_node(name: &str) -> Node {
    Node::builder()
        .name(name)
        .cookie(COOKIE)
        .listen("127.0.0.1:0".parse().expect("a loopback address"))
        .no_discovery()
        .start()
        .await
        .expect("a lone node starts")
}
