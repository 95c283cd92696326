//! The agents `foundation node --agent SPEC` starts: their answers are
//! given on the command line, one `key=value` per protocol family.

use std::time::Duration;

use agents::protocols::auction::{Bundles, Clock, MarginalValues, Raise, Units};
use agents::protocols::consensus::Agreement;
use agents::protocols::games::Move;
use agents::protocols::market::{
    CallForCompute, CallForOrders, Compute, Filled, Quote, Settled, Traded,
};
use agents::protocols::negotiation::{
    Award, CallForProposals, Cancel, CnpReply, Lost, Propose, Respond, Tender, Utilities,
};
use agents::Election;
use anyhow::{bail, Context};
use foundation::prelude::*;
use serde_json::json;

use super::families::{auctions, consensus, games, lifecycle, markets, millis, negotiation};
use super::node::emit;
use super::study;

/// The `key=value` parts an agent spec accepts, for `--help` and `help`.
pub(crate) const KEYS: &[&str] = &[
    "vote=yes|no|abstain",
    "bid=AMOUNT|none (sealed-bid auctions)",
    "rank=A>B>C|none (elections)",
    "delay=MS (wait before every answer)",
    "caps=C1+C2 (capabilities; default voter+bidder, which every family command invites)",
];

/// An agent whose answers are given on the command line.
#[derive(Debug, Clone)]
pub(crate) struct ScriptedAgent {
    pub(crate) id: String,
    pub(crate) vote: Option<bool>,
    pub(crate) bid: Option<f64>,
    /// The ranking given in elections; `None` abstains.
    pub(crate) rank: Option<Vec<String>>,
    pub(crate) delay: Duration,
    /// Its capabilities.
    pub(crate) caps: Vec<String>,
    /// Print an `agent_asked` event line for every request (with `--events json`).
    pub(crate) announce: bool,
    pub(crate) consensus: consensus::Script,
    pub(crate) negotiation: negotiation::Script,
    pub(crate) auctions: auctions::Script,
    pub(crate) markets: markets::Script,
    pub(crate) games: games::Script,
    pub(crate) lifecycle: lifecycle::Script,
    pub(crate) study: study::Script,
}

impl ScriptedAgent {
    /// Prints an `agent_asked` line (with `--events json`), then waits the
    /// agent's delay.
    async fn asked(&self, request: &str) {
        if self.announce {
            emit(&json!({ "event": "agent_asked", "agent": self.id, "request": request }));
        }
        // Not even a zero sleep: the timer rounds it up to its next
        // millisecond tick, which an agent without a delay never waits.
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
    }

    /// How it is started: its restart policy and health interval, built
    /// again from this script for every restart.
    pub(crate) fn spec(self) -> AgentSpec<Self> {
        let lifecycle = self.lifecycle.clone();
        lifecycle.spec(move || self.clone())
    }

    /// Parses `ID[:key=value]...`.
    pub(crate) fn parse(spec: &str) -> anyhow::Result<Self> {
        let mut parts = spec.split(':');
        let id = parts.next().unwrap_or_default().to_owned();
        if id.is_empty() {
            bail!("agent spec `{spec}` has no id");
        }
        let mut agent = Self {
            id,
            vote: None,
            bid: None,
            rank: None,
            delay: Duration::ZERO,
            caps: vec!["voter".into(), "bidder".into()],
            announce: false,
            consensus: Default::default(),
            negotiation: Default::default(),
            auctions: Default::default(),
            markets: Default::default(),
            games: Default::default(),
            lifecycle: Default::default(),
            study: Default::default(),
        };
        for part in parts {
            let (key, value) = part
                .split_once('=')
                .with_context(|| format!("`{part}` in agent spec `{spec}` is not key=value"))?;
            agent
                .parse_key(key, value)
                .with_context(|| format!("in agent spec `{spec}`"))?;
        }
        Ok(agent)
    }

    /// Parses `COUNT:PREFIX[:key=value]...`: agents `PREFIX1` to
    /// `PREFIX<COUNT>`, each with the keys, where `{i}` in a value stands
    /// for the agent's number (`--agents 100:a:bid={i}` bids 1 to 100).
    pub(crate) fn parse_many(spec: &str) -> anyhow::Result<Vec<Self>> {
        let (count, rest) = spec
            .split_once(':')
            .with_context(|| format!("`{spec}` is not COUNT:PREFIX[:key=value]..."))?;
        let count: usize = count
            .parse()
            .with_context(|| format!("the count `{count}` in `{spec}` is not a number"))?;
        let (prefix, keys) = rest.split_once(':').unwrap_or((rest, ""));
        (1..=count)
            .map(|i| {
                let keys = keys.replace("{i}", &i.to_string());
                let one = if keys.is_empty() {
                    format!("{prefix}{i}")
                } else {
                    format!("{prefix}{i}:{keys}")
                };
                Self::parse(&one)
            })
            .collect()
    }

    fn parse_key(&mut self, key: &str, value: &str) -> anyhow::Result<()> {
        match key {
            "vote" => {
                self.vote = match value {
                    "yes" => Some(true),
                    "no" => Some(false),
                    "abstain" => None,
                    _ => bail!("vote must be yes, no or abstain, not `{value}`"),
                }
            }
            "bid" => {
                self.bid = match value {
                    "none" => None,
                    v => Some(
                        v.parse()
                            .with_context(|| format!("bid `{v}` is not a number"))?,
                    ),
                }
            }
            "rank" => {
                self.rank = match value {
                    "none" => None,
                    "" => Some(Vec::new()),
                    v => Some(v.split('>').map(str::to_owned).collect()),
                }
            }
            "caps" => self.caps = value.split('+').map(str::to_owned).collect(),
            "delay" => self.delay = millis(value).context("the delay")?,
            _ => {
                let taken = self.consensus.parse_key(key, value)?
                    || self.negotiation.parse_key(key, value)?
                    || self.auctions.parse_key(key, value)?
                    || self.markets.parse_key(key, value)?
                    || self.games.parse_key(key, value)?
                    || self.lifecycle.parse_key(key, value)?
                    || self.study.parse_key(key, value)?;
                if !taken {
                    bail!("unknown key `{key}`");
                }
            }
        }
        Ok(())
    }
}

impl Server for ScriptedAgent {}

impl Agent for ScriptedAgent {
    fn id(&self) -> String {
        self.id.clone()
    }

    fn capabilities(&self) -> Vec<String> {
        self.caps.clone()
    }

    fn kind(&self) -> String {
        self.lifecycle
            .kind()
            .unwrap_or_else(|| "ScriptedAgent".to_owned())
    }

    fn metadata(&self) -> std::collections::BTreeMap<String, Value> {
        self.lifecycle.metadata()
    }

    async fn health(&mut self) -> Health {
        self.lifecycle.health().await
    }

    async fn rejected(&mut self, protocol: &str, reason: &str) {
        if self.announce {
            emit(&json!({
                "event": "agent_rejected", "agent": self.id, "protocol": protocol, "reason": reason,
            }));
        }
    }

    fn families(families: &mut Families<Self>) {
        families
            .voter()
            .bidder()
            .negotiator()
            .trader()
            .player()
            .evaluator();
    }
}

impl Voter for ScriptedAgent {
    async fn vote(&mut self, _proposal: &Proposal) -> Option<bool> {
        self.asked("vote").await;
        self.lifecycle.asked_to_vote(&self.id);
        self.vote
    }

    async fn rank(&mut self, _election: &Election) -> Option<Vec<String>> {
        self.asked("rank").await;
        self.rank.clone()
    }

    async fn agree(&mut self, question: &Agreement) -> Option<Value> {
        self.asked("agree").await;
        self.consensus.agree(question)
    }
}

impl Bidder for ScriptedAgent {
    async fn bid(&mut self, _call: &CallForBids) -> Option<f64> {
        self.asked("bid").await;
        self.bid
    }

    async fn raise(&mut self, turn: &Raise) -> Option<f64> {
        self.asked("auction:raise").await;
        self.auctions.raise(turn.minimum)
    }

    async fn buy_at(&mut self, clock: &Clock) -> bool {
        self.asked("auction:clock").await;
        self.auctions.buy_at(clock.price)
    }

    async fn bid_units(&mut self, _call: &Units) -> Option<f64> {
        self.asked("auction:units").await;
        self.auctions.bid_units()
    }

    async fn marginal_values(&mut self, _call: &MarginalValues) -> Option<Vec<f64>> {
        self.asked("auction:values").await;
        self.auctions.marginal_values()
    }

    async fn bundles(&mut self, _call: &Bundles) -> Option<Vec<(Vec<String>, f64)>> {
        self.asked("auction:bundles").await;
        self.auctions.bundles()
    }
}

impl Negotiator for ScriptedAgent {
    async fn tender(&mut self, call: &CallForProposals) -> CnpReply<Tender> {
        self.asked("negotiate:call").await;
        self.negotiation.tender(call.round)
    }

    async fn perform(&mut self, award: &Award) -> Result<String, String> {
        self.asked("negotiate:award").await;
        tokio::time::sleep(self.negotiation.work()).await;
        self.negotiation.perform(&award.task)
    }

    async fn lost(&mut self, _notice: &Lost) {
        self.asked("negotiate:reject").await;
    }

    async fn cancelled(&mut self, _notice: &Cancel) {
        self.asked("negotiate:cancel").await;
    }

    async fn offer(&mut self, turn: &Propose) -> Option<f64> {
        self.asked("negotiate:propose").await;
        self.negotiation.offer(turn)
    }

    async fn respond(&mut self, offer: &Respond) -> bool {
        self.asked("negotiate:respond").await;
        self.negotiation.respond(offer)
    }

    async fn utilities(&mut self, _call: &Utilities) -> Option<Vec<f64>> {
        self.asked("negotiate:utilities").await;
        self.negotiation.utilities()
    }
}

impl Trader for ScriptedAgent {
    async fn orders(&mut self, _call: &CallForOrders) -> Vec<Quote> {
        self.asked("trade").await;
        self.markets.orders()
    }

    async fn compute(&mut self, _call: &CallForCompute) -> Compute {
        self.asked("trade").await;
        self.markets.compute()
    }

    async fn filled(&mut self, _notice: &Filled) {
        self.asked("trade").await;
    }

    async fn settled(&mut self, _notice: &Settled) {
        self.asked("trade").await;
    }

    async fn traded(&mut self, _notice: &Traded) {
        self.asked("trade").await;
    }
}

impl Player for ScriptedAgent {
    async fn play(&mut self, turn: &Move) -> Option<usize> {
        self.asked("play").await;
        self.games.play(turn)
    }
}

impl Evaluator for ScriptedAgent {
    async fn evaluate(&mut self, step: &TrialStep) -> Option<Evaluation> {
        self.asked(&format!("study:step:{}:{}", step.trial, step.step))
            .await;
        self.study.evaluate(step)
    }

    async fn stopped(&mut self, _notice: &TrialStopped) {
        self.asked("study:stopped").await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_specs_parse() {
        let a = ScriptedAgent::parse("alice:vote=yes:bid=12.5:delay=30").unwrap();
        assert_eq!(
            (a.id.as_str(), a.vote, a.bid),
            ("alice", Some(true), Some(12.5))
        );
        assert_eq!(a.delay, Duration::from_millis(30));
        assert!(ScriptedAgent::parse("bob:vote=maybe").is_err());
        assert!(ScriptedAgent::parse(":vote=yes").is_err());
        assert!(ScriptedAgent::parse("bob:bid=lots").is_err());
        assert!(ScriptedAgent::parse("bob:colour=red").is_err());
        let e = ScriptedAgent::parse("eve:caps=trader+gpu").unwrap();
        assert_eq!(e.capabilities(), ["trader", "gpu"]);
        let c = ScriptedAgent::parse("carol:rank=x>y>z").unwrap();
        assert_eq!(c.rank, Some(vec!["x".into(), "y".into(), "z".into()]));
        assert_eq!(ScriptedAgent::parse("dan:rank=none").unwrap().rank, None);
        assert_eq!(ScriptedAgent::parse("dan").unwrap().rank, None);
    }

    #[test]
    fn agent_groups_number_their_members() {
        let group = ScriptedAgent::parse_many("3:n1-:bid={i}:vote=yes").unwrap();
        let ids: Vec<&str> = group.iter().map(|a| a.id.as_str()).collect();
        assert_eq!(ids, ["n1-1", "n1-2", "n1-3"]);
        assert_eq!(group[2].bid, Some(3.0));
        assert_eq!(ScriptedAgent::parse_many("2:x").unwrap()[1].id, "x2");
        assert!(ScriptedAgent::parse_many("many:x").is_err());
        assert!(ScriptedAgent::parse_many("2:x:bid=lots").is_err());
    }
}
