//! A node holding 100,000 names of 200 bytes (20 MB of names, more than
//! ractor_cluster's 16 MiB frame) is joined: its hello comes in parts.
//!
//! One test in this file: the node holding the names is this test process
//! (ractor's registry is process-wide).

mod support;

use std::time::{Duration, Instant};

use actor_cluster::{Node, Request};
use ractor::{Actor, ActorProcessingErr, ActorRef};
use support::{CounterMsg, NodeSpec};

const NAMES: usize = 100_000;

/// One counter, held under every name.
struct Counter;

impl Actor for Counter {
    type Msg = Request<CounterMsg>;
    type State = u64;
    type Arguments = ();
    async fn pre_start(&self, _: ActorRef<Self::Msg>, (): ()) -> Result<u64, ActorProcessingErr> {
        Ok(0)
    }
    async fn handle(
        &self,
        _: ActorRef<Self::Msg>,
        req: Self::Msg,
        count: &mut u64,
    ) -> Result<(), ActorProcessingErr> {
        let (msg, reply) = req.into_parts();
        if let CounterMsg::Add(n) = msg {
            *count += n;
        }
        reply.send(*count);
        Ok(())
    }
}

fn name(i: usize) -> String {
    format!("{i:06}-{}", "x".repeat(193))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_holding_100k_names_is_joined() {
    let big = Node::builder()
        .name("big")
        .cookie("test-cookie")
        .listen("127.0.0.1:0".parse().expect("addr"))
        .no_discovery()
        .start()
        .await
        .expect("node");
    let (counter, _) = Actor::spawn(None, Counter, ()).await.expect("counter");
    let started = Instant::now();
    for i in 0..NAMES {
        big.register(&name(i), &counter).await.expect("register");
    }
    let registered = started.elapsed();

    let joined_at = Instant::now();
    let mut late = NodeSpec::new("late")
        .seed(&big.addr().to_string())
        .start()
        .await;
    late.expect_up(&["big"]).await;
    let joined = joined_at.elapsed();
    eprintln!("registered in {registered:?}; joined in {joined:?}");
    let reply = late.command("names count big").await;
    assert_eq!(reply["count"], NAMES, "{reply}");
    // Any of them answers.
    let ask = format!("ask {} add 2", name(NAMES - 1));
    assert_eq!(late.command(&ask).await["ok"], 2);
    eprintln!(
        "{NAMES} names of 200 bytes: registered in {registered:?}; a new node was up with all of them {joined:?} after it started"
    );
    assert!(joined < Duration::from_secs(20), "{joined:?}");
    late.quit().await;
}
