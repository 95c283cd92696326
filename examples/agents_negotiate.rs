//! Negotiation among agents on one node: contract-net, alternating offers
//! and Zeuthen.
//!
//! `cargo run --example agents_negotiate`
//!
//! The same calls work across nodes (see `tests/negotiation.rs`, with a
//! cancelled contract, a contractor whose node dies and an iterated call).

use std::time::Duration;

use agents::protocols::negotiation::{
    rubinstein, Award, BargainSpec, CallForProposals, CnpReply, Concession, ContractSpec,
    ContractStatus, Propose, Respond, Task, Tender, Utilities, ZeuthenSpec,
};
use foundation::prelude::*;

/// A contractor with a price, a bargainer that plays the subgame-perfect
/// strategy for the discount factors it is told, and a negotiator with
/// utilities over the deals.
struct Party {
    id: &'static str,
    price: f64,
    utilities: Vec<f64>,
}

impl Server for Party {}

impl Agent for Party {
    fn id(&self) -> String {
        self.id.to_owned()
    }
    fn capabilities(&self) -> Vec<String> {
        vec!["contractor".into()]
    }

    fn families(families: &mut Families<Self>) {
        families.negotiator();
    }
}

impl Negotiator for Party {
    async fn tender(&mut self, _call: &CallForProposals) -> CnpReply<Tender> {
        CnpReply::Propose(Tender { price: self.price })
    }

    async fn perform(&mut self, award: &Award) -> Result<String, String> {
        Ok(format!("{} done by {}", award.task.name, self.id))
    }

    // Infinite horizon: keep x* = (1 - d_other) / (1 - d_own d_other);
    // accept anything worth at least waiting a round to propose.
    async fn offer(&mut self, turn: &Propose) -> Option<f64> {
        let (own, other) = turn.discounts;
        rubinstein(own, other).ok().map(|split| split.first)
    }

    async fn respond(&mut self, offer: &Respond) -> bool {
        let (own, other) = offer.discounts;
        rubinstein(own, other).is_ok_and(|split| offer.share + 1e-9 >= own * split.first)
    }

    async fn utilities(&mut self, _call: &Utilities) -> Option<Vec<f64>> {
        Some(self.utilities.clone())
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let node = Node::builder()
        .name("negotiation-demo")
        .cookie("demo")
        .listen("127.0.0.1:7213".parse()?)
        .no_discovery()
        .start()
        .await?;
    let agents = Agents::start(&node).await?;
    for (id, price, utilities) in [
        ("ana", 30.0, vec![1.0, 0.8, 0.5, 0.0]),
        ("ben", 20.0, vec![0.0, 0.5, 0.8, 1.0]),
        ("cai", 25.0, vec![0.5, 0.5, 0.5, 0.5]),
    ] {
        agents
            .spawn(move || Party {
                id,
                price,
                utilities: utilities.clone(),
            })
            .await?;
    }

    // The cheapest proposal wins: ben at 20; ana and cai are told no.
    let task = Task {
        name: "train-shard-7".into(),
        description: "train shard 7 for one epoch".into(),
    };
    let spec = ContractSpec::new(
        task,
        "contractor",
        Duration::from_secs(1),
        Duration::from_secs(5),
    );
    let contract = agents.launch(spec).await?.outcome().await?;
    println!(
        "contract-net: {:?} -> {:?}",
        contract.contractor, contract.status
    );
    assert_eq!(
        contract.status,
        ContractStatus::Done("train-shard-7 done by ben".into())
    );

    // ana (0.9) proposes to ben (0.8): she keeps 5/7 and ben accepts at once.
    let bargain = agents
        .run(BargainSpec::new("ana", "ben", (0.9, 0.8), Duration::from_secs(1)).max_rounds(10))
        .await?;
    println!(
        "alternating offers: {:?} in round {:?} (predicted {:.4})",
        bargain.agreement, bargain.round, bargain.predicted.first
    );
    assert_eq!(bargain.round, Some(0));

    // Zeuthen over four deals: ana prefers w, ben z; they concede by the
    // risk rule until one accepts the other's offer.
    let z = agents
        .run(
            ZeuthenSpec::new("ana", "ben", ["w", "x", "y", "z"], Duration::from_secs(1))
                .concession(Concession::Sufficient)
                .max_rounds(20),
        )
        .await?;
    println!("Zeuthen: agreed on {:?}", z.agreed);
    node.shutdown().await;
    Ok(())
}
