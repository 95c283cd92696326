//! Interactive auctions among agents on one node: English, Dutch and VCG.
//!
//! `cargo run --example agents_auction`
//!
//! The same calls work unchanged when the bidders live on other nodes (see
//! `tests/auctions.rs`, which runs these across three processes with a late
//! bidder and a bidder whose node is killed).

use std::time::Duration;

use agents::protocols::auction::{Clock, DutchSpec, EnglishSpec, MarginalValues, Raise, VcgSpec};
use foundation::prelude::*;

/// A bidder with a private value for the item and marginal values for
/// units of it. It bids "the minimum acceptable amount while it is at most
/// my value" (English), buys once the clock is at or below its value
/// (Dutch), and states its marginal values truthfully (VCG).
struct Buyer {
    id: &'static str,
    value: f64,
    marginal: Vec<f64>,
}

impl Server for Buyer {}

impl Agent for Buyer {
    fn id(&self) -> String {
        self.id.to_owned()
    }
    fn capabilities(&self) -> Vec<String> {
        vec!["bidder".into()]
    }

    fn families(families: &mut Families<Self>) {
        families.bidder();
    }
}

impl Bidder for Buyer {
    // English: bid the minimum while it is within the value.
    async fn raise(&mut self, turn: &Raise) -> Option<f64> {
        (turn.minimum <= self.value).then_some(turn.minimum)
    }

    // Dutch: buy once the clock is within the value.
    async fn buy_at(&mut self, clock: &Clock) -> bool {
        clock.price <= self.value
    }

    async fn marginal_values(&mut self, _call: &MarginalValues) -> Option<Vec<f64>> {
        Some(self.marginal.clone())
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let node = Node::builder()
        .name("auction-demo")
        .cookie("demo")
        .listen("127.0.0.1:7212".parse()?)
        .no_discovery()
        .start()
        .await?;
    let agents = Agents::start(&node).await?;
    for (id, value, marginal) in [
        ("ana", 42.0, vec![30.0, 20.0]),
        ("ben", 57.0, vec![25.0]),
        ("cai", 35.0, vec![10.0, 5.0]),
    ] {
        agents
            .spawn(move || Buyer {
                id,
                value,
                marginal: marginal.clone(),
            })
            .await?;
    }

    // English from 10 by 5, turns ana, ben, cai: ana 10, ben 15, cai 20,
    // ana 25, ben 30, cai 35, ana 40, ben 45; cai's minimum 50 > 35 and
    // ana's 50 > 42 pass; ben leads. ben pays 45.
    let english = agents
        .run(EnglishSpec::new(
            "gpu-hour",
            10.0,
            5.0,
            "bidder",
            Duration::from_secs(1),
        ))
        .await?;
    println!(
        "English: {:?} pays {:?} after {} turns",
        english.outcome.winner, english.outcome.price, english.turns
    );
    assert_eq!(english.outcome.price, Some(45.0));

    // Dutch from 100 down by 10: nobody at 100..60, ben takes it at 50.
    let dutch = agents
        .run(
            DutchSpec::new("gpu-hour", 100.0, 10.0, "bidder", Duration::from_secs(1)).reserve(20.0),
        )
        .await?;
    println!(
        "Dutch: {:?} buys at {:?} in round {}",
        dutch.outcome.winner, dutch.outcome.price, dutch.outcome.round
    );
    assert_eq!(dutch.outcome.price, Some(50.0));

    // VCG for 2 units: the two highest marginal values are ana's 30 and
    // ben's 25. ana pays (25 + 10) - 25 = 10, ben (30 + 20) - 30 = 20.
    let vcg = agents
        .run(VcgSpec::new(
            "gpu-hour",
            2,
            "bidder",
            Duration::from_secs(1),
        ))
        .await?;
    for award in &vcg.outcome.awards {
        println!(
            "VCG: {} gets {} unit(s), pays {}",
            award.bidder, award.units, award.payment
        );
    }
    assert_eq!(vcg.outcome.welfare, 55.0);
    node.shutdown().await;
    Ok(())
}
