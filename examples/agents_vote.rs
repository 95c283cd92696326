//! Agents agree by vote: a weighted supermajority with a quorum, an
//! instant-runoff election, and a Byzantine-tolerant agreement, on one node.
//!
//! `cargo run --example agents_vote`
//!
//! The same calls work unchanged when the agents live on other nodes: the
//! coordinator finds them through the cluster-wide directory (see
//! `tests/elections.rs`, which runs this across three processes).

use std::time::Duration;

use agents::protocols::consensus::{Agreement, AgreementSpec};
use agents::{Election, ElectionMethod, ElectionSpec, Threshold, YesNoRule};
use foundation::prelude::*;

/// An agent with a fixed opinion and a fixed preference order.
struct Member {
    id: &'static str,
    yes: bool,
    ranking: &'static [&'static str],
    /// The learning rate it proposes.
    rate: f64,
}

impl Server for Member {}

impl Agent for Member {
    fn id(&self) -> String {
        self.id.to_owned()
    }
    fn capabilities(&self) -> Vec<String> {
        vec!["voter".into()]
    }

    fn families(families: &mut Families<Self>) {
        families.voter();
    }
}

impl Voter for Member {
    async fn vote(&mut self, _proposal: &Proposal) -> Option<bool> {
        Some(self.yes)
    }

    async fn rank(&mut self, _election: &Election) -> Option<Vec<String>> {
        Some(self.ranking.iter().map(|c| c.to_string()).collect())
    }

    async fn agree(&mut self, _question: &Agreement) -> Option<Value> {
        Some(Value::Float(self.rate))
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let node = Node::builder()
        .name("voting-demo")
        .cookie("demo")
        .listen("127.0.0.1:7211".parse()?)
        .no_discovery()
        .start()
        .await?;
    let agents = Agents::start(&node).await?;
    let voters = [
        Member {
            id: "ana",
            rate: 0.01,
            yes: true,
            ranking: &["adam", "sgd", "lion"],
        },
        Member {
            id: "ben",
            rate: 0.01,
            yes: true,
            ranking: &["adam", "lion", "sgd"],
        },
        Member {
            id: "cai",
            rate: 0.01,
            yes: false,
            ranking: &["sgd", "lion", "adam"],
        },
        Member {
            id: "dee",
            rate: 0.1,
            yes: true,
            ranking: &["lion", "sgd", "adam"],
        },
        Member {
            id: "eli",
            rate: 0.01,
            yes: false,
            ranking: &["sgd", "adam", "lion"],
        },
    ];
    for v in voters {
        agents.spawn(move || Member { ..v }).await?;
    }

    // ana's vote weighs 3, the others 1: yes = 3 + 1 + 1 = 5 of 7 ≥ 2/3.
    let proposal = Proposal {
        subject: "batch_size".into(),
        value: Value::Int(256),
    };
    let rule = YesNoRule {
        threshold: Threshold::TWO_THIRDS,
        quorum: 4.0,
    };
    let spec = VoteSpec::new(proposal, "voter", Duration::from_secs(1))
        .rule(rule)
        .weight("ana", 3.0);
    let vote = agents.run(spec).await?;
    let w = &vote.weighted;
    println!(
        "batch_size = 256 by two-thirds of the weight: yes {} no {} of {} eligible, quorum met: {} -> {}",
        w.yes_weight, w.no_weight, w.eligible_weight, w.quorum_met, if w.passed { "passed" } else { "rejected" }
    );

    // First preferences: adam 2, sgd 2, lion 1 -> lion is eliminated, dee's
    // ballot goes to sgd: sgd 3 of 5 wins.
    let election = agents
        .run(ElectionSpec::new(
            ["adam", "sgd", "lion"],
            ElectionMethod::InstantRunoff,
            "voter",
            Duration::from_secs(1),
        ))
        .await?;
    println!(
        "optimizer by instant-runoff: {:?} (ties: {:?})",
        election.winner, election.tie_breaks
    );
    // n = 5 tolerates f = ⌊4/3⌋ = 1 faulty agent and needs q = ⌈(5+1+1)/2⌉
    // = 4 matching proposals: ana, ben, cai and eli propose 0.01 (dee, the
    // odd one out, 0.1), so 0.01 is decided.
    let agreed = agents
        .run(AgreementSpec::new(
            "learning_rate",
            "voter",
            Duration::from_secs(1),
        ))
        .await?;
    println!(
        "learning_rate by Byzantine agreement (n {}, f {}, quorum {}): {:?}",
        agreed.outcome.n, agreed.outcome.f, agreed.outcome.quorum, agreed.decided
    );
    assert_eq!(agreed.decided, Some(Value::Float(0.01)));
    node.shutdown().await;
    Ok(())
}
