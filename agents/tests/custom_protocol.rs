//! A protocol written outside the crate: its step is the agents' own
//! message, its rule is the caller's, and `Agents::run` starts it like any
//! built-in family.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use actor_cluster::{Accepts, Handler, Message, Node, Server};
use agents::{Agent, AgentError, Agents, InvalidParameter, Invite, Missing, Protocol, Run};
use serde::{Deserialize, Serialize};

/// The one step of a poll: name your favourite.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Favourite {
    topic: String,
}

impl Message for Favourite {
    type Reply = Option<String>;
    const TAG: &'static str = "test.poll.favourite/1";
}

/// An agent that answers polls with a fixed favourite; `slow` agents take
/// longer than any deadline here.
struct Fan {
    id: String,
    favourite: Option<String>,
    slow: bool,
}

impl Server for Fan {
    fn accepts(accepts: &mut Accepts<Self>) {
        accepts.add::<Favourite>();
    }
}

impl Handler<Favourite> for Fan {
    async fn handle(&mut self, _msg: Favourite) -> Option<String> {
        if self.slow {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        self.favourite.clone()
    }
}

impl Agent for Fan {
    fn id(&self) -> String {
        self.id.clone()
    }
    fn capabilities(&self) -> Vec<String> {
        vec!["fan".into()]
    }
}

/// An agent with the capability that does not know the poll's message.
struct Stranger;

impl Server for Stranger {}

impl Agent for Stranger {
    fn id(&self) -> String {
        "stranger".into()
    }
    fn capabilities(&self) -> Vec<String> {
        vec!["fan".into()]
    }
}

/// The poll: ask every fan, count the answers, the most named wins (ties:
/// the first in name order).
struct Poll {
    topic: String,
    deadline: Duration,
    /// Wait to be cancelled instead of asking anybody.
    hold: bool,
}

#[derive(Debug)]
struct PollResult {
    winner: Option<String>,
    counts: BTreeMap<String, usize>,
    missing: Vec<Missing>,
    cancelled: bool,
}

impl Protocol for Poll {
    type Output = PollResult;
    const NAME: &'static str = "poll";

    fn validate(&self) -> agents::Result<()> {
        if self.topic.is_empty() {
            return Err(InvalidParameter::Other("a poll needs a topic".into()).into());
        }
        Ok(())
    }

    fn invite(&self) -> Invite {
        Invite::Capability("fan".into())
    }

    async fn run(self, run: &Run) -> agents::Result<PollResult> {
        if self.hold {
            run.cancelled().await;
            return Ok(PollResult {
                winner: None,
                counts: BTreeMap::new(),
                missing: Vec::new(),
                cancelled: true,
            });
        }
        let got = run
            .collect(Favourite { topic: self.topic }, self.deadline)
            .await;
        let mut counts = BTreeMap::new();
        for (_, answer) in got.answers {
            if let Some(name) = answer {
                *counts.entry(name).or_insert(0) += 1;
            }
        }
        let winner = counts
            .iter()
            .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
            .map(|(name, _)| name.clone());
        Ok(PollResult {
            winner,
            counts,
            missing: got.missing,
            cancelled: false,
        })
    }
}

/// A node of its own for each test: ractor's registry is process-wide.
async fn node(name: &str) -> (Node, Agents) {
    let node = support::lone_node(name).await;
    let agents = Agents::start(&node).await.expect("agents");
    (node, agents)
}

async fn fan(agents: &Agents, id: &str, favourite: Option<&str>, slow: bool) {
    let (id, favourite) = (id.to_owned(), favourite.map(str::to_owned));
    agents
        .spawn(move || Fan {
            id: id.clone(),
            favourite: favourite.clone(),
            slow,
        })
        .await
        .expect("spawn");
}

#[tokio::test]
async fn a_protocol_of_your_own_runs_like_a_built_in_one() {
    let (node, agents) = node("poll-run").await;
    fan(&agents, "ann", Some("rust"), false).await;
    fan(&agents, "bob", Some("erlang"), false).await;
    fan(&agents, "cat", Some("rust"), false).await;
    fan(&agents, "dan", None, false).await;
    fan(&agents, "eve", Some("erlang"), true).await;
    agents.spawn(|| Stranger).await.expect("spawn");

    let result = agents
        .run(Poll {
            topic: "language".into(),
            deadline: Duration::from_millis(300),
            hold: false,
        })
        .await
        .expect("poll");
    assert_eq!(result.winner.as_deref(), Some("rust"));
    assert_eq!(result.counts.get("rust"), Some(&2));
    assert_eq!(result.counts.get("erlang"), Some(&1));
    assert!(!result.cancelled);
    // The slow fan is late; the stranger does not answer this message, and
    // the reason says which messages it does answer.
    let missing: Vec<&str> = result.missing.iter().map(|m| m.agent.as_str()).collect();
    assert_eq!(missing, ["eve", "stranger"]);
    assert!(result.missing[0].reason.contains("deadline"));
    assert!(
        result.missing[1]
            .reason
            .contains("not `test.poll.favourite/1`"),
        "{}",
        result.missing[1].reason
    );
    node.shutdown().await;
}

#[tokio::test]
async fn a_spec_refuses_itself_before_anybody_is_asked_and_a_run_can_be_cancelled() {
    let (node, agents) = node("poll-cancel").await;
    let refused = agents
        .run(Poll {
            topic: String::new(),
            deadline: Duration::from_millis(100),
            hold: false,
        })
        .await;
    assert!(
        matches!(refused, Err(AgentError::InvalidParameters(InvalidParameter::Other(ref m))) if m.contains("topic")),
        "{refused:?}"
    );
    // Nobody to invite.
    let nobody = agents
        .run(Poll {
            topic: "x".into(),
            deadline: Duration::from_millis(100),
            hold: false,
        })
        .await;
    assert!(matches!(nobody, Err(AgentError::NoParticipants(ref c)) if c == "fan"));

    fan(&agents, "ann", Some("rust"), false).await;
    let mut running = agents
        .launch(Poll {
            topic: "x".into(),
            deadline: Duration::from_millis(100),
            hold: true,
        })
        .await
        .expect("launch");
    running.cancel();
    let result = tokio::time::timeout(Duration::from_secs(5), running.outcome())
        .await
        .expect("the run ends once cancelled")
        .expect("poll");
    assert!(result.cancelled);
    node.shutdown().await;
}

#[tokio::test]
async fn a_variable_decided_by_a_rule_of_your_own() {
    use agents::variables::{Coordination, Definition, Kind, VariableError, Variables};
    use agents::Value;

    let (node, agents) = node("poll-variable").await;
    fan(&agents, "ann", Some("rust"), false).await;
    fan(&agents, "bob", Some("erlang"), false).await;
    fan(&agents, "cat", Some("rust"), false).await;
    let variables = Variables::start(&node, &["poll-variable"])
        .await
        .expect("variables");
    let language = Definition::new(
        "language",
        Kind::choice(["rust", "erlang", "go"]),
        Value::Text("go".into()),
    )
    .coordination(Coordination::Custom {
        name: "poll".into(),
    });
    variables.define(language).await.expect("defined");

    // A plain proposal does not know the rule: refused, nothing committed.
    let refused = variables
        .propose(&agents, "language", Value::Text("erlang".into()), "bob")
        .await;
    assert!(
        matches!(&refused, Err(VariableError::Coordination { reason, .. }) if reason.contains("propose_with")),
        "{refused:?}"
    );
    let poll = Poll {
        topic: "language".into(),
        deadline: Duration::from_millis(300),
        hold: false,
    };
    let (result, committed) = variables
        .propose_with(
            &agents,
            "language",
            poll,
            |r| r.winner.clone().map(Value::Text),
            "poll",
        )
        .await
        .expect("decided");
    assert_eq!(result.counts.get("rust"), Some(&2));
    let committed = committed.expect("committed");
    assert_eq!(
        (committed.version, &committed.value, committed.by.as_str()),
        (1, &Value::Text("rust".into()), "poll")
    );
    assert_eq!(
        variables.get("language").await.expect("read").value,
        Value::Text("rust".into())
    );
    variables.shutdown().await;
    node.shutdown().await;
}
