//! An agent is listed with its kind, status and metadata as soon as its
//! spawn returns (its name is registered with them), and its name is
//! announced once: its lifecycle manager's first publish of the same
//! facts announces nothing more.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use actor_cluster::{NameEvent, Server};
use agents::{Agent, AgentSpec, Agents, Status, Value};

/// An agent with a capability and metadata, and nothing to answer.
struct Sleeper {
    id: String,
}

impl Server for Sleeper {}

impl Agent for Sleeper {
    fn id(&self) -> String {
        self.id.clone()
    }
    fn capabilities(&self) -> Vec<String> {
        vec!["sleeper".into()]
    }
    fn metadata(&self) -> BTreeMap<String, Value> {
        BTreeMap::from([("zone".to_owned(), Value::Text("eu".into()))])
    }
}

fn sleeper(id: &str) -> impl Fn() -> Sleeper + Send + Sync + 'static {
    let id = id.to_owned();
    move || Sleeper { id: id.clone() }
}

#[tokio::test]
async fn an_agent_is_listed_whole_when_its_spawn_returns_and_announced_once() {
    let node = support::lone_node("directory").await;
    let agents = Agents::start(&node).await.expect("agents");
    let mut names = node.watch_names();
    let mut published = node
        .journal()
        .subscribe(actor_core::Query::new().kind("agent.status"));

    let asleep = AgentSpec::new(sleeper("s1")).asleep(Duration::from_secs(60));
    agents.spawn_with(asleep).await.expect("asleep agent");
    agents.spawn(sleeper("r1")).await.expect("running agent");

    // No tick of the manager awaited: the registration carried the facts.
    let listed = agents.list().await.expect("list");
    let entry = |id: &str| {
        listed
            .iter()
            .find(|e| e.id == id)
            .unwrap_or_else(|| panic!("{id} not listed in {listed:?}"))
    };
    let zone = BTreeMap::from([("zone".to_owned(), Value::Text("eu".into()))]);
    let s1 = entry("s1");
    assert_eq!(s1.kind.as_deref(), Some("Sleeper"), "{s1:?}");
    assert_eq!(s1.status, Status::Passivated, "{s1:?}");
    assert_eq!(s1.metadata, zone, "{s1:?}");
    assert_eq!(s1.capabilities, ["sleeper"], "{s1:?}");
    let r1 = entry("r1");
    assert_eq!(r1.kind.as_deref(), Some("Sleeper"), "{r1:?}");
    assert!(
        matches!(r1.status, Status::Starting | Status::Ready),
        "{r1:?}"
    );
    assert_eq!(r1.metadata, zone, "{r1:?}");

    // The manager follows both (it journals their first status then), and
    // a tick of its publishes r1 ready once its first health check
    // answers: s1 must not be announced again by that tick or any before.
    let ticked = async {
        let mut followed = false;
        loop {
            let event = published.recv().await.expect("journal");
            followed |= event.payload["id"] == "s1";
            if followed && event.payload["id"] == "r1" && event.payload["status"] == "ready" {
                return;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), ticked)
        .await
        .expect("s1 followed and r1 published ready within 10 s");
    let mut announced = 0;
    while let Ok(event) = names.try_recv() {
        if matches!(&event, NameEvent::NameRegistered(info) if info.name == "agent/s1") {
            announced += 1;
        }
    }
    assert_eq!(announced, 1, "s1 was announced {announced} times");
    node.shutdown().await;
}
