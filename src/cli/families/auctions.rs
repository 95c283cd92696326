//! The command-line face of the interactive auctions (English, Dutch,
//! multi-unit, VCG, combinatorial): what a scripted agent answers (its
//! `key=value` parts) and the `--commands` lines that start a run.

use std::time::Duration;

use agents::protocols::auction::{
    CombinatorialSpec, DutchSpec, EnglishSpec, MultiUnitPayment, MultiUnitSpec, VcgSpec,
};
use agents::Agents;
use anyhow::{bail, Context};
use foundation::prelude::*;
use serde_json::{json, Value as Json};

use super::{millis, number};

/// The agent spec keys of this family, for `help`.
pub(crate) const KEYS: &[&str] = &[
    "value=AMOUNT (English: bid the minimum while it is <= value; Dutch: accept at <= value; multi-unit bid)",
    "values=V1,V2,... (VCG marginal values, first unit first)",
    "bundles=ITEM+ITEM@VALUE,... (combinatorial bundle bids)",
];

/// The commands of this family, for `help`.
pub(crate) const USAGE: &[&str] = &[
    "english ITEM START INCREMENT RESERVE|none TURN_MS",
    "dutch ITEM START STEP RESERVE|none ROUND_MS",
    "multi-unit ITEM UNITS pay-as-bid|uniform-losing|uniform-winning RESERVE DEADLINE_MS",
    "vcg ITEM UNITS DEADLINE_MS",
    "combinatorial ITEM1,ITEM2,... DEADLINE_MS",
];

/// What a scripted agent answers in this family.
#[derive(Debug, Clone, Default)]
pub(crate) struct Script {
    value: Option<f64>,
    values: Option<Vec<f64>>,
    bundles: Option<Vec<(Vec<String>, f64)>>,
}

impl Script {
    /// Takes `key=value` of an agent spec if the key belongs to this
    /// family; `Ok(false)` if it does not.
    pub(crate) fn parse_key(&mut self, key: &str, value: &str) -> anyhow::Result<bool> {
        match key {
            "value" => self.value = Some(number(value)?),
            "values" => {
                self.values = Some(
                    value
                        .split(',')
                        .map(number)
                        .collect::<anyhow::Result<_>>()?,
                )
            }
            "bundles" => {
                let mut bundles = Vec::new();
                for bundle in value.split(',') {
                    let (items, price) = bundle
                        .split_once('@')
                        .with_context(|| format!("bundle `{bundle}` is not ITEM+ITEM@VALUE"))?;
                    bundles.push((
                        items.split('+').map(str::to_owned).collect(),
                        number(price)?,
                    ));
                }
                self.bundles = Some(bundles);
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// English: bid the minimum while it is at most the value.
    pub(crate) fn raise(&self, minimum: f64) -> Option<f64> {
        self.value.filter(|v| minimum <= *v).map(|_| minimum)
    }

    /// Dutch: buy once the clock is at most the value.
    pub(crate) fn buy_at(&self, price: f64) -> bool {
        self.value.is_some_and(|v| price <= v)
    }

    /// Multi-unit: bid the value.
    pub(crate) fn bid_units(&self) -> Option<f64> {
        self.value
    }

    /// VCG: the marginal values.
    pub(crate) fn marginal_values(&self) -> Option<Vec<f64>> {
        self.values.clone()
    }

    /// Combinatorial: the bundle bids.
    pub(crate) fn bundles(&self) -> Option<Vec<(Vec<String>, f64)>> {
        self.bundles.clone()
    }
}

fn reserve(word: &str) -> anyhow::Result<Option<f64>> {
    Ok(match word {
        "none" => None,
        r => Some(number(r)?),
    })
}

fn units(word: &str) -> anyhow::Result<usize> {
    word.parse()
        .with_context(|| format!("`{word}` is not a number of units"))
}

/// Runs a command of this family; `Ok(None)` if `words` is not one.
pub(crate) async fn command(
    _node: &Node,
    agents: &Agents,
    words: &[&str],
) -> anyhow::Result<Option<Json>> {
    let capability = || "bidder".to_owned();
    let deadline = |w: &str| -> anyhow::Result<Duration> { millis(w) };
    Ok(Some(match words {
        ["english", item, start, increment, reserve_word, turn] => {
            let mut spec = EnglishSpec::new(
                *item,
                number(start)?,
                number(increment)?,
                capability(),
                deadline(turn)?,
            );
            spec.reserve = reserve(reserve_word)?;
            json!({ "reply": "english", "result": agents.run(spec).await? })
        }
        ["dutch", item, start, step, reserve_word, round] => {
            let mut spec = DutchSpec::new(
                *item,
                number(start)?,
                number(step)?,
                capability(),
                deadline(round)?,
            );
            spec.reserve = reserve(reserve_word)?;
            json!({ "reply": "dutch", "result": agents.run(spec).await? })
        }
        ["multi-unit", item, n, payment, reserve_word, ms] => {
            let payment = match *payment {
                "pay-as-bid" => MultiUnitPayment::PayAsBid,
                "uniform-losing" => MultiUnitPayment::UniformHighestLosing,
                "uniform-winning" => MultiUnitPayment::UniformLowestWinning,
                other => bail!(
                    "the payment must be pay-as-bid, uniform-losing or uniform-winning, not `{other}`"
                ),
            };
            let spec = MultiUnitSpec::new(*item, units(n)?, payment, capability(), deadline(ms)?)
                .reserve(number(reserve_word)?);
            json!({ "reply": "multi-unit", "result": agents.run(spec).await? })
        }
        ["vcg", item, n, ms] => {
            let spec = VcgSpec::new(*item, units(n)?, capability(), deadline(ms)?);
            json!({ "reply": "vcg", "result": agents.run(spec).await? })
        }
        ["combinatorial", items, ms] => {
            let spec = CombinatorialSpec::new(items.split(','), capability(), deadline(ms)?);
            json!({ "reply": "combinatorial", "result": agents.run(spec).await? })
        }
        _ => return Ok(None),
    }))
}
