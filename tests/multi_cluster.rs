//! One process, two clusters: this test process is node `p` of cluster
//! `red` and node `p` of cluster `blue`, each with its own cookie, seeds
//! and names; a `foundation node` process is its peer in each. Membership,
//! names and asks stay inside their cluster, and a peer that dies in one
//! cluster does not touch the other.
//!
//! One test in this file: ractor's process groups are process-wide, and
//! this process must be the only one holding these two memberships.

mod support;

use std::time::Duration;

use actor_cluster::{ClusterError, Node, NodeEvent};
use ractor::{Actor, ActorProcessingErr, ActorRef};
use support::{CounterMsg, NodeSpec, DEADLINE};
use tokio::sync::broadcast;

/// Asks a `Whoami` which cluster it serves.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Which;

impl actor_cluster::Message for Which {
    type Reply = String;
    const TAG: &'static str = "test.whoami/1";
}

/// A local service that answers with its cluster's name.
struct Whoami;

impl Actor for Whoami {
    type Msg = actor_cluster::Request<Which>;
    type State = String;
    type Arguments = String;
    async fn pre_start(
        &self,
        _: ActorRef<Self::Msg>,
        cluster: String,
    ) -> Result<String, ActorProcessingErr> {
        Ok(cluster)
    }
    async fn handle(
        &self,
        _: ActorRef<Self::Msg>,
        req: Self::Msg,
        cluster: &mut String,
    ) -> Result<(), ActorProcessingErr> {
        req.into_parts().1.send(cluster.clone());
        Ok(())
    }
}

async fn member(cluster: &str) -> Node {
    Node::builder()
        .name("p")
        .cluster(cluster)
        .cookie(format!("{cluster}-cookie"))
        .listen("127.0.0.1:0".parse().expect("addr"))
        .no_discovery()
        .start()
        .await
        .unwrap()
}

/// Waits for an event matching `pred`.
async fn expect(events: &mut broadcast::Receiver<NodeEvent>, pred: impl Fn(&NodeEvent) -> bool) {
    tokio::time::timeout(DEADLINE, async {
        loop {
            match events.recv().await {
                Ok(e) if pred(&e) => return,
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(e) => panic!("events ended: {e}"),
            }
        }
    })
    .await
    .expect("event before the deadline");
}

fn up(name: &str) -> impl Fn(&NodeEvent) -> bool + '_ {
    move |e| matches!(e, NodeEvent::NodeUp { node, .. } if node == name)
}

#[tokio::test]
async fn one_process_in_two_clusters_keeps_them_apart() {
    let red = member("red").await;
    let blue = member("blue").await;
    let (mut red_events, mut blue_events) = (red.subscribe(), blue.subscribe());
    for (node, cluster) in [(&red, "red"), (&blue, "blue")] {
        let (whoami, _) = Actor::spawn(None, Whoami, cluster.to_owned())
            .await
            .unwrap();
        node.register("whoami", &whoami).await.unwrap();
    }

    // Each peer has a counter named `svc`: one name, two clusters.
    let mut r1 = NodeSpec::new("r1")
        .cookie("red-cookie")
        .arg("--cluster")
        .arg("red")
        .seed(&red.addr().to_string())
        .counter("svc")
        .start()
        .await;
    let mut b1 = NodeSpec::new("b1")
        .cookie("blue-cookie")
        .arg("--cluster")
        .arg("blue")
        .seed(&blue.addr().to_string())
        .counter("svc")
        .start()
        .await;
    expect(&mut red_events, up("r1")).await;
    expect(&mut blue_events, up("b1")).await;
    r1.expect_up(&["p"]).await;
    b1.expect_up(&["p"]).await;

    // Membership: each cluster sees its own members only.
    let names = |peers: &[actor_cluster::PeerInfo]| -> Vec<String> {
        peers.iter().map(|p| p.node.clone()).collect()
    };
    assert_eq!(names(&red.peers().await.unwrap()), ["r1"]);
    assert_eq!(names(&blue.peers().await.unwrap()), ["b1"]);
    let peers = r1.command("peers").await;
    assert_eq!(peers["peers"].as_array().unwrap().len(), 1, "{peers}");
    assert_eq!(peers["peers"][0]["addr"], red.addr().to_string());
    let peers = b1.command("peers").await;
    assert_eq!(peers["peers"].as_array().unwrap().len(), 1, "{peers}");
    assert_eq!(peers["peers"][0]["addr"], blue.addr().to_string());

    // Names: `svc` resolves to the counter of the cluster asked.
    let timeout = Duration::from_secs(2);
    let red_svc = red.lookup("svc").await.unwrap();
    let blue_svc = blue.lookup("svc").await.unwrap();
    assert_eq!(red_svc.node().as_deref(), Some("r1"));
    assert_eq!(blue_svc.node().as_deref(), Some("b1"));
    assert_eq!(red_svc.ask(CounterMsg::Add(5), timeout).await, Ok(5));
    assert_eq!(blue_svc.ask(CounterMsg::Add(7), timeout).await, Ok(7));
    assert_eq!(red_svc.ask(CounterMsg::Get, timeout).await, Ok(5));

    // The peers reach this process's `whoami` of their own cluster.
    let reply = r1.command("names").await;
    assert_eq!(support::user_names(&reply), ["svc", "whoami"], "{reply}");
    let whoami = red.lookup("whoami").await.unwrap();
    assert_eq!(whoami.ask(Which, timeout).await.as_deref(), Ok("red"));
    let whoami = blue.lookup("whoami").await.unwrap();
    assert_eq!(whoami.ask(Which, timeout).await.as_deref(), Ok("blue"));

    // A name registered in one cluster is unknown in the other.
    let (only, _) = Actor::spawn(None, Whoami, "red".into()).await.unwrap();
    red.register("only-red", &only).await.unwrap();
    r1.command_until("names", |r| r.to_string().contains("only-red"))
        .await;
    assert!(matches!(
        blue.lookup("only-red").await,
        Err(ClusterError::UnknownName(_))
    ));
    assert!(!b1.command("names").await.to_string().contains("only-red"));

    // A red peer dies: red sees it go, blue does not notice.
    r1.kill().await;
    expect(
        &mut red_events,
        |e| matches!(e, NodeEvent::NodeDown { node, .. } if node == "r1"),
    )
    .await;
    assert!(matches!(
        red.lookup("svc").await,
        Err(ClusterError::UnknownName(_))
    ));
    // An absence has no event to await: blue must not report b1 down
    // within a window longer than the gateway's second look at a peer
    // whose process-group entry vanished (500 ms).
    let down = tokio::time::timeout(
        Duration::from_secs(1),
        expect(&mut blue_events, |e| {
            matches!(e, NodeEvent::NodeDown { .. })
        }),
    )
    .await;
    assert!(down.is_err(), "blue saw a node go down");
    assert_eq!(names(&blue.peers().await.unwrap()), ["b1"]);
    assert_eq!(blue_svc.ask(CounterMsg::Get, timeout).await, Ok(7));

    b1.quit().await;
    red.shutdown().await;
    blue.shutdown().await;
}
