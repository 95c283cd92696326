//! `Agents::spawn_many` starts many agents in one call: each answered in
//! the order given, one refused (an invalid or duplicate id) without
//! stopping the others; the asleep ones, served a batch at a time, are
//! listed, followed by their node's manager and woken by a message like
//! any agent started alone.

mod support;

use std::time::Duration;

use actor_cluster::{Accepts, Handler, Message, Server};
use agents::{Agent, AgentError, AgentSpec, Agents, Status};
use serde::{Deserialize, Serialize};

/// Asks an agent its id.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct WhoAreYou;

impl Message for WhoAreYou {
    type Reply = String;
    const TAG: &'static str = "test.spawn-many.who/1";
}

struct Member {
    id: String,
}

impl Server for Member {
    fn accepts(accepts: &mut Accepts<Self>) {
        accepts.add::<WhoAreYou>();
    }
}

impl Handler<WhoAreYou> for Member {
    async fn handle(&mut self, _msg: WhoAreYou) -> String {
        self.id.clone()
    }
}

impl Agent for Member {
    fn id(&self) -> String {
        self.id.clone()
    }
    fn capabilities(&self) -> Vec<String> {
        vec!["member".into()]
    }
}

fn member(id: &str) -> AgentSpec<Member> {
    let id = id.to_owned();
    AgentSpec::new(move || Member { id: id.clone() })
}

/// More than two batches of agents started asleep.
const ASLEEP: usize = 600;

#[tokio::test]
async fn many_agents_start_in_one_call_each_answered_in_order() {
    let node = support::lone_node("spawn-many").await;
    let agents = Agents::start(&node).await.expect("agents");
    let idle = Duration::from_secs(60);

    let mut specs: Vec<AgentSpec<Member>> = (0..ASLEEP)
        .map(|i| member(&format!("m-{i}")).asleep(idle))
        .collect();
    // Refused, each in its place: an invalid id, an id given twice (in
    // the same batch and in a later one), and a running agent among them.
    specs.insert(10, member("bad id").asleep(idle));
    specs.insert(20, member("m-3").asleep(idle));
    specs.insert(300, member("runner"));
    specs.push(member("m-4").asleep(idle));
    let total = specs.len();

    let results = agents.spawn_many(specs).await;

    assert_eq!(results.len(), total);
    assert!(
        matches!(&results[10], Err(AgentError::InvalidId(id)) if id == "bad id"),
        "{:?}",
        results[10]
    );
    for place in [20, total - 1] {
        assert!(
            results[place].is_err(),
            "a duplicate at {place} was started"
        );
    }
    let started = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(started, ASLEEP + 1, "every other agent started");

    // All listed at once, the asleep ones as passivated.
    let listed = agents.with_capability("member").await.expect("list");
    assert_eq!(listed.len(), ASLEEP + 1, "listed: {}", listed.len());
    for entry in &listed {
        if entry.id == "runner" {
            assert!(
                matches!(entry.status, Status::Starting | Status::Ready),
                "{entry:?}"
            );
        } else {
            assert_eq!(entry.status, Status::Passivated, "{entry:?}");
        }
    }

    // One of the last batch wakes for a message.
    let last = agents
        .find(&format!("m-{}", ASLEEP - 1))
        .await
        .expect("found");
    let answer = last
        .ask(WhoAreYou, Duration::from_secs(5))
        .await
        .expect("woken and answered");
    assert_eq!(answer, format!("m-{}", ASLEEP - 1));

    // Followed by the manager: it stops one, which leaves the directory.
    agents
        .stop("m-300")
        .await
        .expect("the manager follows m-300");
    let gone = async {
        while agents
            .list()
            .await
            .expect("list")
            .iter()
            .any(|e| e.id == "m-300")
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), gone)
        .await
        .expect("m-300 stopped and unlisted within 10 s");
    node.shutdown().await;
}

#[tokio::test]
async fn a_spawn_of_many_on_a_stopped_node_refuses_each() {
    let node = support::lone_node("spawn-many-stopped").await;
    let agents = Agents::start(&node).await.expect("agents");
    node.shutdown().await;

    let idle = Duration::from_secs(60);
    let specs = vec![
        member("a").asleep(idle),
        member("b"),
        member("c").asleep(idle),
    ];
    let results = agents.spawn_many(specs).await;
    assert_eq!(results.len(), 3);
    assert!(results.iter().all(Result::is_err), "{results:?}");
}

#[tokio::test]
async fn of_two_specs_with_one_id_the_first_given_starts() {
    let node = support::lone_node("spawn-many-order").await;
    let agents = Agents::start(&node).await.expect("agents");
    let idle = Duration::from_secs(60);

    // Asleep first, running second: the asleep one, though it waits for
    // its batch, is served before the running one starts.
    let results = agents
        .spawn_many(vec![member("twin").asleep(idle), member("twin")])
        .await;
    assert!(results[0].is_ok(), "{:?}", results[0]);
    assert!(results[1].is_err(), "the second twin started");
    let listed = agents.list().await.expect("list");
    let twin = listed.iter().find(|e| e.id == "twin").expect("listed");
    assert_eq!(twin.status, Status::Passivated, "{twin:?}");
    node.shutdown().await;
}

#[tokio::test]
async fn spawns_larger_than_the_managers_backlog_are_tracked_in_full() {
    let node = support::lone_node("spawn-many-backlog").await;
    let agents = Agents::start(&node).await.expect("agents");
    let idle = Duration::from_secs(60);
    // Seventy batches each: more than the manager may have untracked (64
    // batches), so each spawn waits for it on the way and gets every
    // permit back, or the second would never finish.
    const MANY: usize = 70 * 256;
    for round in 0..2 {
        let specs = (0..MANY).map(|i| member(&format!("r{round}-{i}")).asleep(idle));
        let results = tokio::time::timeout(Duration::from_secs(60), agents.spawn_many(specs))
            .await
            .expect("spawned within 60 s");
        assert!(results.iter().all(Result::is_ok), "round {round}");
    }
    assert_eq!(agents.list().await.expect("list").len(), 2 * MANY);
    // The last of each round is followed by the manager.
    for last in [format!("r0-{}", MANY - 1), format!("r1-{}", MANY - 1)] {
        agents.stop(&last).await.expect("followed by the manager");
    }
    node.shutdown().await;
}
