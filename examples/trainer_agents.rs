//! Agents you define: a trainer agent with its own state and its own
//! messages, on three node processes, talked to by name from a fourth, and
//! taking part in a vote and an auction.
//!
//! `cargo run --example trainer_agents`
//!
//! The program starts a node, then three more processes of itself, each a
//! node with one `Trainer` agent. From the first node it:
//! 1. asks each trainer for a `Report` (its own message, answered on its
//!    own node);
//! 2. puts `learning_rate = 0.01` to a vote of the trainers; each votes yes
//!    if the rate is within its own limit, and when the vote passes every
//!    trainer is told `SetLearningRate` (so the value agreed is stored
//!    where it is used);
//! 3. trains them unevenly (`Step`), then auctions a GPU hour: each bids
//!    what its loss makes it worth, and the winner is told `Grant`.

use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use foundation::prelude::*;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};

/// The cluster's cookie (a demo: use a secret of your own).
pub const COOKIE: &str = "trainers";

/// Sets the learning rate; replies with the previous one.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SetLearningRate(pub f64);

impl Message for SetLearningRate {
    type Reply = f64;
    const TAG: &'static str = "trainer.set_learning_rate/1";
}

/// Trains on `batches` batches; replies with the loss after them.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Step {
    /// How many batches.
    pub batches: u32,
}

impl Message for Step {
    type Reply = f64;
    const TAG: &'static str = "trainer.step/1";
}

/// Asks for the trainer's state.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report;

impl Message for Report {
    type Reply = TrainerReport;
    const TAG: &'static str = "trainer.report/1";
}

/// Gives the trainer what it won.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Grant {
    /// The item.
    pub item: String,
    /// What it paid.
    pub price: f64,
}

impl Message for Grant {
    type Reply = ();
    const TAG: &'static str = "trainer.grant/1";
}

/// A trainer's state, as it reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainerReport {
    /// The agent's id.
    pub id: String,
    /// The node it runs on.
    pub node: String,
    /// Its learning rate.
    pub learning_rate: f64,
    /// Batches trained.
    pub steps: u64,
    /// Its loss.
    pub loss: f64,
    /// What it won, with the price paid.
    pub grants: Vec<(String, f64)>,
}

/// A training job as an agent: its state, its messages, and the two
/// protocol families it takes part in.
#[derive(Debug)]
pub struct Trainer {
    id: String,
    node: String,
    learning_rate: f64,
    /// The largest learning rate it accepts in a vote.
    max_rate: f64,
    steps: u64,
    loss: f64,
    grants: Vec<(String, f64)>,
}

impl Trainer {
    /// A fresh trainer on `node` that accepts rates up to `max_rate`.
    pub fn new(id: &str, node: &str, max_rate: f64) -> Self {
        Self {
            id: id.to_owned(),
            node: node.to_owned(),
            learning_rate: 0.1,
            max_rate,
            steps: 0,
            loss: 1.0,
            grants: Vec::new(),
        }
    }
}

impl Server for Trainer {
    fn accepts(accepts: &mut Accepts<Self>) {
        accepts
            .add::<SetLearningRate>()
            .add::<Step>()
            .add::<Report>()
            .add::<Grant>();
    }
}

impl Handler<SetLearningRate> for Trainer {
    async fn handle(&mut self, SetLearningRate(rate): SetLearningRate) -> f64 {
        std::mem::replace(&mut self.learning_rate, rate)
    }
}

impl Handler<Step> for Trainer {
    async fn handle(&mut self, step: Step) -> f64 {
        for _ in 0..step.batches {
            self.loss *= 1.0 - self.learning_rate;
        }
        self.steps += u64::from(step.batches);
        self.loss
    }
}

impl Handler<Report> for Trainer {
    async fn handle(&mut self, _: Report) -> TrainerReport {
        TrainerReport {
            id: self.id.clone(),
            node: self.node.clone(),
            learning_rate: self.learning_rate,
            steps: self.steps,
            loss: self.loss,
            grants: self.grants.clone(),
        }
    }
}

impl Handler<Grant> for Trainer {
    async fn handle(&mut self, grant: Grant) {
        self.grants.push((grant.item, grant.price));
    }
}

impl Agent for Trainer {
    fn id(&self) -> String {
        self.id.clone()
    }

    fn capabilities(&self) -> Vec<String> {
        vec!["trainer".into()]
    }

    fn families(families: &mut Families<Self>) {
        families.voter().bidder();
    }
}

impl Voter for Trainer {
    /// Yes to a learning rate within its limit; abstains on anything else.
    async fn vote(&mut self, proposal: &Proposal) -> Option<bool> {
        match (&*proposal.subject, &proposal.value) {
            ("learning_rate", Value::Float(rate)) => Some(*rate <= self.max_rate),
            _ => None,
        }
    }
}

impl Bidder for Trainer {
    /// The worse its loss, the more compute is worth to it.
    async fn bid(&mut self, _call: &CallForBids) -> Option<f64> {
        Some((self.loss * 10_000.0).round() / 100.0)
    }
}

/// The trainers this demo runs: id and the largest rate each accepts.
pub const TRAINERS: [(&str, f64); 3] = [
    ("trainer-1", 0.05),
    ("trainer-2", 0.02),
    ("trainer-3", 0.005),
];

/// A node process running one trainer (this program with `node` arguments).
#[derive(Debug)]
pub struct TrainerNode {
    /// The trainer's id.
    pub id: String,
    child: Child,
    drain: tokio::task::JoinHandle<()>,
}

impl TrainerNode {
    /// Runs `command` (a process that calls [`run_trainer_node`] for
    /// trainer `index`) and waits for its trainer to be up.
    pub async fn start(mut command: Command, index: usize) -> anyhow::Result<Self> {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .context("starting a trainer node")?;
        let stdout = child.stdout.take().context("child stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let ready = async {
            while let Some(line) = lines.next_line().await? {
                if line == "ready" {
                    return Ok(());
                }
            }
            anyhow::bail!("the trainer node exited before it was ready")
        };
        tokio::time::timeout(Duration::from_secs(30), ready)
            .await
            .context("a trainer node did not start in 30 s")??;
        // Keep reading its output so that it never blocks on a full pipe.
        let drain = async move { while let Ok(Some(_)) = lines.next_line().await {} };
        Ok(Self {
            id: TRAINERS[index].0.to_owned(),
            child,
            drain: tokio::spawn(drain),
        })
    }

    /// Kills the process (SIGKILL) and waits for it.
    pub async fn kill(mut self) -> anyhow::Result<()> {
        self.child.kill().await?;
        self.drain.abort();
        Ok(())
    }
}

/// The `node` role: one node with one trainer, until stdin closes.
pub async fn run_trainer_node(index: usize, seed: &str) -> anyhow::Result<()> {
    let (id, max_rate) = TRAINERS.get(index).copied().context("no such trainer")?;
    let name = format!("n{}", index + 1);
    let node = Node::builder()
        .name(&name)
        .cookie(COOKIE)
        .listen("127.0.0.1:0".parse()?)
        .no_discovery()
        .seed(seed)
        .start()
        .await?;
    let agents = Agents::start(&node).await?;
    agents
        .spawn(move || Trainer::new(id, &name, max_rate))
        .await?;
    println!("ready");
    // Runs until the parent closes stdin (or kills it).
    let mut rest = Vec::new();
    let _ = tokio::io::stdin().read_to_end(&mut rest).await;
    node.shutdown().await;
    Ok(())
}

/// Waits until `n` agents with the `trainer` capability are listed.
pub async fn await_trainers(agents: &Agents, n: usize) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(20);
    while agents.with_capability("trainer").await?.len() != n {
        anyhow::ensure!(Instant::now() < deadline, "{n} trainers not up in 20 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

/// What the demo did.
#[derive(Debug)]
pub struct Outcome {
    /// Each trainer's report before anything was asked of it.
    pub before: Vec<TrainerReport>,
    /// The vote on `learning_rate = 0.01`.
    pub vote: agents::VoteResult,
    /// The GPU-hour auction.
    pub auction: agents::AuctionResult,
    /// Each trainer's report at the end.
    pub after: Vec<TrainerReport>,
}

/// Asks every trainer for its report, by id, wherever it runs.
pub async fn reports(agents: &Agents) -> anyhow::Result<Vec<TrainerReport>> {
    let mut reports = Vec::new();
    for entry in agents.with_capability("trainer").await? {
        let trainer = agents.find(&entry.id).await?;
        reports.push(trainer.ask(Report, Duration::from_secs(2)).await?);
    }
    Ok(reports)
}

/// A second-price auction of a GPU hour among the trainers.
pub async fn sell_gpu_hour(agents: &Agents) -> anyhow::Result<agents::AuctionResult> {
    let spec = AuctionSpec::new(
        "gpu-hour",
        AuctionRule::SecondPrice,
        "trainer",
        Duration::from_secs(2),
    )
    .reserve(1.0);
    Ok(agents.run(spec).await?)
}

/// The demo, run from any node of the cluster.
pub async fn demo(agents: &Agents) -> anyhow::Result<Outcome> {
    let t = Duration::from_secs(2);
    let before = reports(agents).await?;

    // Agree a learning rate; store it where it is used when it passes.
    let proposal = Proposal {
        subject: "learning_rate".into(),
        value: Value::Float(0.01),
    };
    let vote = agents
        .run(VoteSpec::new(proposal, "trainer", Duration::from_secs(2)))
        .await?;
    if vote.tally.passed {
        for entry in agents.with_capability("trainer").await? {
            agents
                .find(&entry.id)
                .await?
                .ask(SetLearningRate(0.01), t)
                .await?;
        }
    }

    // Train them unevenly, then sell a GPU hour to the one that needs it.
    for (i, entry) in agents.with_capability("trainer").await?.iter().enumerate() {
        let batches = 50 / (i as u32 + 1) - 10;
        agents
            .find(&entry.id)
            .await?
            .ask(Step { batches }, t)
            .await?;
    }
    let auction = sell_gpu_hour(agents).await?;
    if let (Some(winner), Some(price)) = (&auction.outcome.winner, auction.outcome.price) {
        let grant = Grant {
            item: auction.item.clone(),
            price,
        };
        agents.find(winner).await?.ask(grant, t).await?;
    }
    let after = reports(agents).await?;
    Ok(Outcome {
        before,
        vote,
        auction,
        after,
    })
}

#[allow(dead_code)] // The test includes this file for its agent, not its main.
#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("node") {
        let index: usize = args.get(2).context("node INDEX SEED")?.parse()?;
        let seed = args.get(3).context("node INDEX SEED")?;
        return run_trainer_node(index, seed).await;
    }
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
    let node = Node::builder()
        .name("n0")
        .cookie(COOKIE)
        .listen("127.0.0.1:0".parse()?)
        .no_discovery()
        .start()
        .await?;
    let agents = Agents::start(&node).await?;
    let exe = std::env::current_exe()?;
    let seed = node.addr().to_string();
    let mut nodes = Vec::new();
    for index in 0..TRAINERS.len() {
        let mut command = Command::new(&exe);
        command.args(["node", &index.to_string(), &seed]);
        nodes.push(TrainerNode::start(command, index).await?);
    }
    await_trainers(&agents, TRAINERS.len()).await?;

    let outcome = demo(&agents).await?;
    for r in &outcome.before {
        println!(
            "{} on {}: learning rate {}, loss {:.3}",
            r.id, r.node, r.learning_rate, r.loss
        );
    }
    let tally = &outcome.vote.tally;
    println!(
        "vote learning_rate = 0.01: {} yes, {} no -> {}",
        tally.yes,
        tally.no,
        if tally.passed { "passed" } else { "failed" }
    );
    match (
        &outcome.auction.outcome.winner,
        outcome.auction.outcome.price,
    ) {
        (Some(winner), Some(price)) => println!("gpu-hour: {winner} pays {price}"),
        _ => println!("gpu-hour: no sale"),
    }
    for r in &outcome.after {
        println!(
            "{} on {}: learning rate {}, {} steps, loss {:.3}, grants {:?}",
            r.id, r.node, r.learning_rate, r.steps, r.loss, r.grants
        );
    }
    node.shutdown().await;
    for node in nodes {
        node.kill().await?;
    }
    Ok(())
}
