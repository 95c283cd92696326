//! A user-defined agent across processes: trainers (examples/trainer_agents.rs)
//! on three node processes answer their own messages by name from a fourth
//! node, while they take part in a vote and an auction; one is killed and
//! the others carry on.

use std::time::Duration;

use foundation::prelude::*;
use tokio::process::Command;

#[allow(dead_code, unreachable_pub)]
#[path = "../examples/trainer_agents.rs"]
mod trainer;

use trainer::{Report, SetLearningRate, TrainerNode, TRAINERS};

/// The environment variable that makes this test binary a trainer node.
const ROLE: &str = "FOUNDATION_TRAINER_NODE";

/// Not a test: the entry point of the trainer node processes, which run
/// this binary with [`ROLE`] set to `<index> <seed>`.
#[test]
fn trainer_node_process() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    let (index, seed) = role.split_once(' ').expect("index and seed");
    let index = index.parse().expect("index");
    tokio::runtime::Runtime::new()
        .expect("runtime")
        .block_on(trainer::run_trainer_node(index, seed))
        .expect("trainer node");
}

async fn trainer_node(index: usize, seed: &str) -> TrainerNode {
    let mut command = Command::new(std::env::current_exe().expect("test binary"));
    command
        .args(["trainer_node_process", "--exact", "--nocapture"])
        .env(ROLE, format!("{index} {seed}"));
    TrainerNode::start(command, index)
        .await
        .expect("trainer node")
}

/// A message no trainer answers.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Unknown;

impl Message for Unknown {
    type Reply = ();
    const TAG: &'static str = "test.unknown/1";
}

#[tokio::test]
async fn user_agents_answer_their_own_messages_and_take_part_in_protocols() {
    let node = Node::builder()
        .name("n0")
        .cookie(trainer::COOKIE)
        .listen("127.0.0.1:0".parse().expect("addr"))
        .no_discovery()
        .start()
        .await
        .expect("node");
    let agents = Agents::start(&node).await.expect("agents");
    let seed = node.addr().to_string();
    let mut nodes = Vec::new();
    for index in 0..TRAINERS.len() {
        nodes.push(trainer_node(index, &seed).await);
    }
    trainer::await_trainers(&agents, 3).await.expect("trainers");

    // Their own messages, answered on their own nodes, while a vote runs.
    let proposal = Proposal {
        subject: "batch_size".into(),
        value: Value::Int(64),
    };
    let vote = agents.run(VoteSpec::new(proposal, "trainer", Duration::from_secs(2)));
    let (vote, reports) = tokio::join!(vote, trainer::reports(&agents));
    let reports = reports.expect("reports during a vote");
    let nodes_of: Vec<&str> = reports.iter().map(|r| r.node.as_str()).collect();
    assert_eq!(nodes_of, ["n1", "n2", "n3"]);
    // Not a learning rate: every trainer abstains, none is missing.
    let vote = vote.expect("vote");
    assert_eq!((vote.tally.abstained, vote.missing.len()), (3, 0));

    let outcome = trainer::demo(&agents).await.expect("demo");
    assert!(outcome.before.iter().all(|r| r.learning_rate == 0.1));
    let tally = &outcome.vote.tally;
    assert_eq!((tally.yes, tally.no, tally.passed), (2, 1, true));
    // The agreed value is stored by every trainer, the one that voted no too.
    assert!(outcome.after.iter().all(|r| r.learning_rate == 0.01));
    let steps: Vec<u64> = outcome.after.iter().map(|r| r.steps).collect();
    assert_eq!(steps, [40, 15, 6]);
    // The least trained values the GPU most, and pays the second bid.
    let sold = &outcome.auction.outcome;
    assert_eq!(sold.winner.as_deref(), Some("trainer-3"));
    assert_eq!(sold.price, Some(86.01));
    assert_eq!(
        outcome.after[2].grants,
        [("gpu-hour".to_owned(), 86.01)],
        "the winner was told"
    );
    assert!(outcome.after[..2].iter().all(|r| r.grants.is_empty()));

    // A message it does not answer: refused, naming what it does answer.
    let first = agents.find("trainer-1").await.expect("trainer-1");
    let err = first
        .ask(Unknown, Duration::from_secs(2))
        .await
        .expect_err("not a trainer message");
    let ClusterError::TypeMismatch {
        accepts, requested, ..
    } = &err
    else {
        panic!("{err}");
    };
    assert_eq!(requested, "test.unknown/1");
    assert!(accepts.iter().any(|t| t == "trainer.step/1"), "{err}");
    assert!(accepts.iter().any(|t| t == "foundation.vote/1"), "{err}");

    // Kill trainer-3's node: its reference fails, the others carry on.
    let third = agents.find("trainer-3").await.expect("trainer-3");
    let killed = nodes.pop().expect("three nodes");
    assert_eq!(killed.id, "trainer-3");
    killed.kill().await.expect("kill");
    trainer::await_trainers(&agents, 2).await.expect("two left");
    let gone = third.ask(Report, Duration::from_secs(2)).await;
    assert!(
        matches!(
            gone,
            Err(ClusterError::NodeGone { .. } | ClusterError::UnknownName(_))
        ),
        "{gone:?}"
    );
    let rate = first
        .ask(SetLearningRate(0.02), Duration::from_secs(2))
        .await
        .expect("trainer-1 still answers");
    assert_eq!(rate, 0.01);
    let auction = trainer::sell_gpu_hour(&agents).await.expect("auction");
    assert_eq!(auction.outcome.winner.as_deref(), Some("trainer-2"));
    assert_eq!(auction.outcome.price, Some(66.9));
    assert!(auction.missing.is_empty(), "{:?}", auction.missing);

    node.shutdown().await;
    for node in nodes {
        node.kill().await.expect("kill");
    }
}
