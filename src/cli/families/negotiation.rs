//! The command-line face of negotiation (contract-net, alternating offers,
//! Zeuthen): what a scripted agent answers (its `key=value` parts) and the
//! `--commands` lines that start a run.

use std::time::Duration;

use agents::protocols::negotiation::{
    alternating_offers, rubinstein, BargainSpec, CnpReply, ContractSpec, Propose, Respond, Task,
    Tender, ZeuthenSpec,
};
use agents::Agents;
use anyhow::{bail, Context};
use foundation::prelude::*;
use serde_json::{json, Value as Json};

use super::{millis, number};

/// The agent spec keys of this family, for `help`.
pub(crate) const KEYS: &[&str] = &[
    "price=P[/P2/...] (contract-net proposal, per call; without it the agent refuses)",
    "work=MS (time to do an awarded task)",
    "task=done|fail (what the agent reports for an awarded task)",
    "discount=D (alternating offers: play the subgame-perfect strategy with discount D)",
    "utilities=U1,U2,... (Zeuthen: utility of each offer)",
];

/// The commands of this family, for `help`.
pub(crate) const USAGE: &[&str] = &[
    "contract TASK DEADLINE_MS EXEC_MS [rounds=N] [max-price=P] [cancel-after=MS] (cheapest proposal wins)",
    "bargain FIRST SECOND D1 D2 DEADLINE_MS [HORIZON]",
    "zeuthen FIRST SECOND OFFER1,OFFER2,... DEADLINE_MS",
];

/// A tolerance for comparing shares computed two ways.
const EPS: f64 = 1e-9;

/// What a scripted agent answers in this family.
#[derive(Debug, Clone, Default)]
pub(crate) struct Script {
    prices: Vec<f64>,
    work: Duration,
    fails: bool,
    discount: Option<f64>,
    utilities: Option<Vec<f64>>,
}

impl Script {
    /// Takes `key=value` of an agent spec if the key belongs to this
    /// family; `Ok(false)` if it does not.
    pub(crate) fn parse_key(&mut self, key: &str, value: &str) -> anyhow::Result<bool> {
        match key {
            "price" => {
                self.prices = value
                    .split('/')
                    .map(number)
                    .collect::<anyhow::Result<_>>()?
            }
            "work" => self.work = millis(value)?,
            "task" => {
                self.fails = match value {
                    "done" => false,
                    "fail" => true,
                    other => bail!("task must be done or fail, not `{other}`"),
                }
            }
            "discount" => self.discount = Some(number(value)?),
            "utilities" => {
                self.utilities = Some(
                    value
                        .split(',')
                        .map(number)
                        .collect::<anyhow::Result<_>>()?,
                )
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// How long an awarded task takes.
    pub(crate) fn work(&self) -> Duration {
        self.work
    }

    /// Contract-net: the price for call `round` (the last one given for
    /// later calls), or a refusal without any.
    pub(crate) fn tender(&self, round: u32) -> CnpReply<Tender> {
        match self.prices.get(round as usize).or(self.prices.last()) {
            Some(&price) => CnpReply::Propose(Tender { price }),
            None => CnpReply::Refuse {
                reason: "no capacity".into(),
            },
        }
    }

    /// Contract-net: what the agent reports for an awarded task.
    pub(crate) fn perform(&self, task: &Task) -> Result<String, String> {
        if self.fails {
            Err(format!("could not do {}", task.name))
        } else {
            Ok(format!("{} done", task.name))
        }
    }

    /// Alternating offers: the subgame-perfect share, with a discount.
    pub(crate) fn offer(&self, turn: &Propose) -> Option<f64> {
        self.discount?;
        let (own, other) = turn.discounts;
        proposer_share(own, other, turn.horizon, turn.round)
    }

    /// Alternating offers: accept what is at least the discounted value
    /// of proposing next round, with a discount.
    pub(crate) fn respond(&self, offer: &Respond) -> bool {
        if self.discount.is_none() {
            return false;
        }
        let (own, other) = offer.discounts;
        let next = proposer_share(own, other, offer.horizon, offer.round + 1).unwrap_or(0.0);
        offer.share + EPS >= own * next
    }

    /// Zeuthen: the utilities given.
    pub(crate) fn utilities(&self) -> Option<Vec<f64>> {
        self.utilities.clone()
    }
}

/// The subgame-perfect share of the proposer in round `round` (the rounds
/// left decide it in a finite game); `None` past the horizon.
fn proposer_share(own: f64, other: f64, horizon: Option<u32>, round: u32) -> Option<f64> {
    match horizon {
        None => rubinstein(own, other).ok().map(|s| s.first),
        Some(t) if round < t => alternating_offers(own, other, t - round)
            .ok()
            .map(|s| s.first),
        Some(_) => None,
    }
}

/// Runs a command of this family; `Ok(None)` if `words` is not one.
pub(crate) async fn command(
    _node: &Node,
    agents: &Agents,
    words: &[&str],
) -> anyhow::Result<Option<Json>> {
    Ok(Some(match words {
        ["contract", task, deadline, exec, options @ ..] => {
            let mut spec = ContractSpec::new(
                Task {
                    name: (*task).to_owned(),
                    description: format!("do {task}"),
                },
                "bidder",
                millis(deadline)?,
                millis(exec)?,
            );
            let mut cancel_after = None;
            for option in options {
                let (key, value) = option
                    .split_once('=')
                    .with_context(|| format!("`{option}` is not key=value"))?;
                match key {
                    "rounds" => spec.rounds = value.parse().context("rounds is a number")?,
                    "max-price" => spec.min_score = Some(-number(value)?),
                    "cancel-after" => cancel_after = Some(millis(value)?),
                    other => bail!("unknown contract option `{other}`"),
                }
            }
            let spec = spec.revise(|task: &Task, round: u32| Task {
                name: task.name.clone(),
                description: format!("{} (call {})", task.name, round + 1),
            });
            let mut contract = agents.launch(spec).await?;
            if let Some(after) = cancel_after {
                tokio::time::sleep(after).await;
                contract.cancel();
            }
            json!({ "reply": "contract", "result": contract.outcome().await? })
        }
        ["bargain", first, second, d1, d2, deadline, horizon @ ..] => {
            let horizon = match horizon {
                [] => None,
                [t] => Some(t.parse().context("the horizon is a number of rounds")?),
                _ => bail!("usage: bargain FIRST SECOND D1 D2 DEADLINE_MS [HORIZON]"),
            };
            let mut spec = BargainSpec::new(
                *first,
                *second,
                (number(d1)?, number(d2)?),
                millis(deadline)?,
            );
            spec.horizon = horizon;
            json!({ "reply": "bargain", "result": agents.run(spec).await? })
        }
        ["zeuthen", first, second, offers, deadline] => {
            let spec = ZeuthenSpec::new(*first, *second, offers.split(','), millis(deadline)?);
            json!({ "reply": "zeuthen", "result": agents.run(spec).await? })
        }
        _ => return Ok(None),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subgame_perfect_agents_agree_at_once() {
        let mut first = Script::default();
        first.parse_key("discount", "0.9").unwrap();
        let mut second = Script::default();
        second.parse_key("discount", "0.8").unwrap();
        let keep = first
            .offer(&Propose {
                round: 0,
                discounts: (0.9, 0.8),
                horizon: None,
            })
            .expect("an offer");
        // x* = (1 - 0.8) / (1 - 0.72) = 5/7.
        assert!((keep - 5.0 / 7.0).abs() < 1e-12);
        assert!(second.respond(&Respond {
            round: 0,
            share: 1.0 - keep,
            discounts: (0.8, 0.9),
            horizon: None,
        }));
        // A stingier offer is refused.
        assert!(!second.respond(&Respond {
            round: 0,
            share: 0.2,
            discounts: (0.8, 0.9),
            horizon: None,
        }));
    }
}
