//! The command-line face of markets (call market, continuous double auction, compute allocation): what a scripted agent answers
//! (its `key=value` parts) and the `--commands` lines that start a run.

use agents::protocols::market::{Compute, ComputeNeed, ComputeOffer, Quote, Side};
use agents::{Agents, CallMarketSpec, ComputeSpec, Market, NewOrder};
use anyhow::{bail, Context};
use foundation::prelude::*;
use serde_json::{json, Value as Json};

use super::millis;

/// The agent spec keys of this family, for `help`.
pub(crate) const KEYS: &[&str] = &[
    "buy=PRICExQTY[,PRICExQTY...] (call market bids; repeatable)",
    "sell=PRICExQTY[,PRICExQTY...] (call market asks; repeatable)",
    "compute-need=UNITSxVALUE[xBUDGET] (compute allocation: units wanted, value per unit, budget [default UNITS x VALUE])",
    "compute-offer=UNITSxCOST (compute allocation: units offered, least accepted per unit)",
];

/// The commands of this family, for `help`.
pub(crate) const USAGE: &[&str] = &[
    "call-market MARKET DEADLINE_MS [CAPABILITY] (asks every agent with CAPABILITY, default bidder, for its orders)",
    "allocate-compute RESOURCE DEADLINE_MS [CAPABILITY] (default bidder)",
    "market-open NAME (a continuous double auction on this node, reachable from every node)",
    "order NAME buy|sell PRICE QTY [OWNER] (OWNER default cli; an agent owner is told of its trades)",
    "cancel NAME ORDER_ID",
    "book NAME [DEPTH] (default 10 levels a side)",
    "trades NAME [SINCE] (the trade log from sequence number SINCE, default 0)",
    "market-close NAME",
];

/// The capability the market commands invite by default: every scripted
/// agent has it.
const DEFAULT_CAPABILITY: &str = "bidder";

/// What a scripted agent answers in this family.
#[derive(Debug, Clone, Default)]
pub(crate) struct Script {
    /// Its bids and asks in a call market, in the order given.
    quotes: Vec<Quote>,
    /// What it wants in a compute allocation.
    need: Option<ComputeNeed>,
    /// What it offers in a compute allocation.
    offer: Option<ComputeOffer>,
}

/// The numbers of `AxB[xC]`.
fn parts(value: &str) -> Vec<String> {
    value.split('x').map(str::to_owned).collect()
}

/// The optional CAPABILITY word of a command.
fn capability<'a>(rest: &[&'a str]) -> &'a str {
    rest.first().copied().unwrap_or(DEFAULT_CAPABILITY)
}

/// A whole number, or an error naming `what`.
fn whole(text: &str, what: &str) -> anyhow::Result<u64> {
    text.parse()
        .with_context(|| format!("{what} `{text}` is not a whole number ≥ 0"))
}

impl Script {
    /// Takes `key=value` of an agent spec if the key belongs to this
    /// family; `Ok(false)` if it does not.
    pub(crate) fn parse_key(&mut self, key: &str, value: &str) -> anyhow::Result<bool> {
        match key {
            "buy" | "sell" => {
                let side = if key == "buy" { Side::Buy } else { Side::Sell };
                for order in value.split(',') {
                    let [price, quantity] = parts(order)
                        .try_into()
                        .map_err(|_| anyhow::anyhow!("{key} order `{order}` is not PRICExQTY"))?;
                    // Any number parses (even negative or not finite): the market rejects it.
                    let price = price
                        .parse()
                        .with_context(|| format!("price `{price}` is not a number"))?;
                    self.quotes.push(Quote {
                        side,
                        price,
                        quantity: whole(&quantity, "quantity")?,
                    });
                }
            }
            "compute-need" => {
                let p = parts(value);
                let (units, value_per_unit, budget) = match p.as_slice() {
                    [u, v] => (u, v, None),
                    [u, v, b] => (u, v, Some(whole(b, "budget")?)),
                    _ => bail!("compute-need `{value}` is not UNITSxVALUE[xBUDGET]"),
                };
                self.need = Some(ComputeNeed {
                    units: whole(units, "units")?,
                    max_price: whole(value_per_unit, "value")?,
                    budget,
                });
            }
            "compute-offer" => {
                let [units, cost] = parts(value)
                    .try_into()
                    .map_err(|_| anyhow::anyhow!("compute-offer `{value}` is not UNITSxCOST"))?;
                self.offer = Some(ComputeOffer {
                    units: whole(&units, "units")?,
                    min_price: whole(&cost, "cost")?,
                });
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Call market: the bids and asks given (none: it declines).
    pub(crate) fn orders(&self) -> Vec<Quote> {
        self.quotes.clone()
    }

    /// Compute allocation: the need and offer given.
    pub(crate) fn compute(&self) -> Compute {
        Compute {
            need: self.need,
            offer: self.offer,
        }
    }
}

/// Runs a command of this family; `Ok(None)` if `words` is not one.
pub(crate) async fn command(
    node: &Node,
    agents: &Agents,
    words: &[&str],
) -> anyhow::Result<Option<Json>> {
    Ok(Some(match words {
        ["call-market", market, deadline, rest @ ..] if rest.len() <= 1 => {
            let spec = CallMarketSpec::new(*market, capability(rest), millis(deadline)?);
            json!({ "reply": "call-market", "result": agents.run(spec).await? })
        }
        ["allocate-compute", resource, deadline, rest @ ..] if rest.len() <= 1 => {
            let spec = ComputeSpec::new(*resource, capability(rest), millis(deadline)?);
            json!({ "reply": "allocate-compute", "result": agents.run(spec).await? })
        }
        ["market-open", name] => {
            Market::start(node, name).await?;
            json!({ "reply": "market-open", "market": name, "node": node.name() })
        }
        ["order", name, side, price, quantity, owner @ ..] if owner.len() <= 1 => {
            let price = price
                .parse()
                .with_context(|| format!("price `{price}` is not a number"))?;
            let quantity = whole(quantity, "quantity")?;
            let owner = owner.first().copied().unwrap_or("cli");
            let order = match *side {
                "buy" => NewOrder::buy(owner, price, quantity),
                "sell" => NewOrder::sell(owner, price, quantity),
                other => bail!("the side must be buy or sell, not `{other}`"),
            };
            let result = Market::find(node, name).await?.submit(order).await?;
            json!({ "reply": "order", "market": name, "result": result })
        }
        ["cancel", name, id] => {
            let id = whole(id, "order id")?;
            let order = Market::find(node, name).await?.cancel(id).await?;
            json!({ "reply": "cancel", "market": name, "cancelled": order })
        }
        ["book", name, depth @ ..] if depth.len() <= 1 => {
            let depth = depth.first().map_or(Ok(10), |d| whole(d, "depth"))?;
            let depth = usize::try_from(depth).unwrap_or(usize::MAX);
            let book = Market::find(node, name).await?.book(depth).await?;
            json!({ "reply": "book", "book": book })
        }
        ["trades", name, since @ ..] if since.len() <= 1 => {
            let since = since.first().map_or(Ok(0), |s| whole(s, "since"))?;
            let log = Market::find(node, name).await?.trades(since).await?;
            json!({ "reply": "trades", "market": name, "log": log })
        }
        ["market-close", name] => {
            Market::find(node, name).await?.close().await?;
            json!({ "reply": "market-close", "market": name })
        }
        _ => return Ok(None),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn market_keys_parse() {
        let mut s = Script::default();
        assert!(s.parse_key("buy", "10x3,9.5x1").unwrap());
        assert!(s.parse_key("sell", "-2x4").unwrap());
        assert!(s.parse_key("compute-need", "4x12x40").unwrap());
        assert!(s.parse_key("compute-offer", "8x5").unwrap());
        assert!(!s.parse_key("colour", "red").unwrap());
        let quotes: Vec<(Side, f64, u64)> = s
            .quotes
            .iter()
            .map(|q| (q.side, q.price, q.quantity))
            .collect();
        assert_eq!(
            quotes,
            [
                (Side::Buy, 10.0, 3),
                (Side::Buy, 9.5, 1),
                (Side::Sell, -2.0, 4)
            ]
        );
        assert_eq!(
            s.need,
            Some(ComputeNeed {
                units: 4,
                max_price: 12,
                budget: Some(40)
            })
        );
        assert_eq!(
            s.offer,
            Some(ComputeOffer {
                units: 8,
                min_price: 5
            })
        );
        for (key, bad) in [
            ("buy", "10"),
            ("buy", "tenx3"),
            ("sell", "10x-3"),
            ("compute-need", "4"),
            ("compute-offer", "4x5x6"),
        ] {
            assert!(
                Script::default().parse_key(key, bad).is_err(),
                "{key}={bad}"
            );
        }
        assert!(Script::default().orders().is_empty());
        assert_eq!(s.orders().len(), 3);
    }
}
