//! A server served asleep (`Node::serve_asleep`): registered at once with
//! no actor, its child dormant; its first message wakes it, `started` runs
//! once, on that wake; idle, it passivates again and keeps its state; a
//! second start under its name is refused and leaves it alone. Served
//! many at once, each is answered in its place.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actor_cluster::{Accepts, ClusterError, Handler, Hosting, Message, Node, Server};
use actor_core::Restart;

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Add(u64);

impl Message for Add {
    type Reply = u64;
    const TAG: &'static str = "test.asleep.add/1";
}

#[derive(Clone)]
struct Count {
    n: u64,
    started: Arc<AtomicUsize>,
}

impl Server for Count {
    fn accepts(accepts: &mut Accepts<Self>) {
        accepts.add::<Add>();
    }

    async fn started(&mut self) {
        self.started.fetch_add(1, Ordering::SeqCst);
    }
}

impl Handler<Add> for Count {
    async fn handle(&mut self, Add(k): Add) -> u64 {
        self.n += k;
        self.n
    }
}

const ASK: Duration = Duration::from_secs(2);

/// Whether child `id` of the node's supervisor is dormant.
async fn dormant(node: &Node, id: &str) -> bool {
    node.supervisor()
        .children()
        .await
        .expect("children")
        .iter()
        .any(|c| *c.id == *id && c.dormant && c.actor.is_none())
}

#[tokio::test]
async fn a_server_served_asleep_runs_from_its_first_message() {
    let node = Node::builder()
        .name("asleep")
        .cookie("asleep-test")
        .listen("127.0.0.1:0".parse().expect("addr"))
        .no_discovery()
        .start()
        .await
        .expect("node");
    let started = Arc::new(AtomicUsize::new(0));
    let count = Count {
        n: 40,
        started: Arc::clone(&started),
    };
    let hosting = || {
        Hosting::new(|_| {}).passivate_after(Duration::from_millis(200), node.supervisor().clone())
    };
    let fresh = {
        let count = count.clone();
        move || count.clone()
    };
    node.serve_asleep(
        "count",
        ["counters"],
        hosting(),
        Restart::Permanent,
        count.clone(),
        fresh.clone(),
    )
    .await
    .expect("served asleep");

    // Registered, in its group, with no actor: nothing started.
    let counter = node.lookup("count").await.expect("registered");
    let members = node.members("counters").await.expect("members");
    assert_eq!(members.len(), 1);
    assert!(dormant(&node, "count").await);
    assert_eq!(started.load(Ordering::SeqCst), 0);

    // The first message wakes it: started once, then the message.
    assert_eq!(counter.ask(Add(2), ASK).await.expect("woken"), 42);
    assert_eq!(started.load(Ordering::SeqCst), 1);

    // Idle, it sleeps again with its state; woken again, started is not
    // called again.
    let until = Instant::now() + Duration::from_secs(5);
    while !dormant(&node, "count").await {
        assert!(Instant::now() < until, "not passivated within 5 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(counter.ask(Add(1), ASK).await.expect("woken again"), 43);
    assert_eq!(started.load(Ordering::SeqCst), 1);

    // A second start under its name is refused and leaves it alone.
    let twice = node
        .serve_asleep(
            "count",
            ["counters"],
            hosting(),
            Restart::Permanent,
            count.clone(),
            fresh,
        )
        .await;
    assert!(twice.is_err(), "{twice:?}");
    assert_eq!(counter.ask(Add(1), ASK).await.expect("still there"), 44);

    // Without passivation there is no asleep: refused, nothing registered.
    let awake = node
        .serve_asleep(
            "awake",
            Vec::<String>::new(),
            Hosting::new(|_| {}),
            Restart::Permanent,
            count.clone(),
            move || count.clone(),
        )
        .await;
    assert!(matches!(awake, Err(ClusterError::Start(_))), "{awake:?}");
    assert!(node.lookup("awake").await.is_err());
    node.shutdown().await;
}

async fn lone(name: &str) -> Node {
    Node::builder()
        .name(name)
        .cookie("asleep-test")
        .listen("127.0.0.1:0".parse().expect("addr"))
        .no_discovery()
        .start()
        .await
        .expect("node")
}

#[tokio::test]
async fn servers_served_asleep_together_are_answered_each_in_its_place() {
    let (a, b) = (lone("asleep-a").await, lone("asleep-b").await);
    let count = Count {
        n: 0,
        started: Arc::new(AtomicUsize::new(0)),
    };
    let ready = |node: &Node, name: &str| {
        let fresh = count.clone();
        let hosting = Hosting::new(|_| {})
            .passivate_after(Duration::from_secs(60), node.supervisor().clone());
        actor_cluster::Asleep::new(
            node,
            name,
            ["together"],
            hosting,
            Restart::Permanent,
            count.clone(),
            move || fresh.clone(),
        )
        .expect("made ready")
    };
    // One made ready for another node, and a name given twice, among
    // those served.
    let served = a
        .serve_asleep_many(vec![
            ready(&a, "one"),
            ready(&b, "stray"),
            ready(&a, "two"),
            ready(&a, "one"),
        ])
        .await;
    assert_eq!(served.len(), 4);
    assert!(served[0].is_ok(), "{:?}", served[0]);
    assert!(
        matches!(&served[1], Err(ClusterError::Start(_))),
        "{:?}",
        served[1]
    );
    assert!(served[2].is_ok(), "{:?}", served[2]);
    assert!(served[3].is_err(), "the second `one` was served");

    // The two served are registered, dormant and answer; the stray one is
    // nowhere.
    assert_eq!(a.members("together").await.expect("members").len(), 2);
    assert!(dormant(&a, "one").await && dormant(&a, "two").await);
    for node in [&a, &b] {
        assert!(node.lookup("stray").await.is_err());
        assert!(!dormant(node, "stray").await);
    }
    let two = a.lookup("two").await.expect("registered");
    assert_eq!(two.ask(Add(5), ASK).await.expect("woken"), 5);
    a.shutdown().await;
    b.shutdown().await;
}
