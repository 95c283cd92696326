//! The coordinators of the call market and the compute allocation, each
//! a [`Protocol`].

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::wire::{CallForCompute, CallForOrders, Compute, Filled, Settled};
use super::{
    allocate_compute, call_market, AllocationOutcome, CallMarketOutcome, CallOrder, ComputeBuyer,
    ComputeSeller, Settlement,
};
use crate::error::{InvalidParameter, Result};
use crate::protocols::{positive, Invite, Missing, Protocol, Run};

/// How equally priced orders are ranked, stated in every result.
pub const TIE_RULE: &str =
    "equally priced orders: earliest arrival at the coordinator, then lowest agent id; \
     an agent's own orders arrive in the order it listed them";

/// A call market: what is traded, whom to ask, and until when.
#[derive(Debug, Clone)]
#[must_use]
#[non_exhaustive]
pub struct CallMarketSpec {
    /// The market's name (what is traded), sent to every agent.
    pub market: String,
    /// Ask every agent with this capability for its orders.
    pub capability: String,
    /// Orders close this long after the call.
    pub deadline: Duration,
}

impl CallMarketSpec {
    /// A call market `market` among the agents with `capability`, closing
    /// after `deadline`.
    pub fn new(
        market: impl Into<String>,
        capability: impl Into<String>,
        deadline: Duration,
    ) -> Self {
        Self {
            market: market.into(),
            capability: capability.into(),
            deadline,
        }
    }
}

/// The record of a call market.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallMarketResult {
    /// The market.
    pub market: String,
    /// The clearing price, if anything traded (the same as in `outcome`).
    pub price: Option<f64>,
    /// Units traded.
    pub volume: u64,
    /// The rule's record: price, volume, interval, fills, rejected orders
    /// and where priority among equally priced orders decided.
    pub outcome: CallMarketOutcome,
    /// Every order received in time, in arrival order (its `arrival` is its
    /// place in this list).
    pub orders: Vec<CallOrder>,
    /// How ties were broken: the rule ([`TIE_RULE`]), then each place where
    /// it decided who trades.
    pub tie_breaks: Vec<String>,
    /// Agents that answered in time without orders.
    pub declined: Vec<String>,
    /// Invited agents without an answer (late, or their node gone).
    pub missing: Vec<Missing>,
    /// How long the market took.
    pub duration_ms: u64,
}

/// A compute allocation: the resource, whom to ask, and until when.
#[derive(Debug, Clone)]
#[must_use]
#[non_exhaustive]
pub struct ComputeSpec {
    /// The resource, e.g. `gpu-hours`, sent to every agent.
    pub resource: String,
    /// Ask every agent with this capability for its needs and offers.
    pub capability: String,
    /// Answers close this long after the call.
    pub deadline: Duration,
}

impl ComputeSpec {
    /// An allocation of `resource` among the agents with `capability`,
    /// closing after `deadline`.
    pub fn new(
        resource: impl Into<String>,
        capability: impl Into<String>,
        deadline: Duration,
    ) -> Self {
        Self {
            resource: resource.into(),
            capability: capability.into(),
            deadline,
        }
    }
}

/// The record of a compute allocation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComputeResult {
    /// The resource.
    pub resource: String,
    /// The price per unit in whole credits, if anything traded.
    pub price: Option<u64>,
    /// One record per agent that asked or offered, by agent id (the same
    /// as in `outcome`).
    pub settlements: Vec<Settlement>,
    /// The rule's record, with the call market that decided who trades and
    /// every request set aside.
    pub outcome: AllocationOutcome,
    /// How ties were broken: the rule ([`TIE_RULE`]), then each place where
    /// it decided who trades.
    pub tie_breaks: Vec<String>,
    /// Agents that answered in time with neither a need nor an offer.
    pub declined: Vec<String>,
    /// Invited agents without an answer (late, or their node gone).
    pub missing: Vec<Missing>,
    /// How long the allocation took.
    pub duration_ms: u64,
}

/// A name without whitespace, or [`InvalidParameter::BadName`].
pub(crate) fn check_name(what: &'static str, name: &str) -> Result<()> {
    if name.is_empty() || name.chars().any(char::is_whitespace) {
        return Err(InvalidParameter::BadName {
            what,
            name: name.to_owned(),
        }
        .into());
    }
    Ok(())
}

/// The tie rule, then each tie the call market broke.
fn tie_breaks(outcome: &CallMarketOutcome) -> Vec<String> {
    std::iter::once(TIE_RULE.to_owned())
        .chain(outcome.tie_breaks.iter().map(ToString::to_string))
        .collect()
}

/// A call market among every agent with the spec's capability,
/// wherever they run: each is asked for its bids and asks
/// ([`Trader::orders`](crate::Trader::orders)) before the deadline, and all orders clear
/// at one price with [`call_market`]. Every agent that trades is told
/// its fills ([`Trader::filled`](crate::Trader::filled)). An invalid order (negative or
/// non-finite price, zero quantity) is rejected, reported in the result
/// and to its agent, and the others still clear; late agents and agents
/// whose node dies are listed as missing.
///
/// Errors of the run:
/// [`AgentError::NoParticipants`](crate::AgentError::NoParticipants) if no agent has the capability;
/// [`AgentError::InvalidParameters`](crate::AgentError::InvalidParameters) for a zero deadline or a market
/// name that is empty or holds whitespace.
///
/// # Examples
///
/// ```
/// use agents::protocols::market::{CallForOrders, Quote, Side};
/// use agents::{Agent, Agents, CallMarketSpec, Families, Trader};
/// use std::time::Duration;
///
/// struct Desk { id: &'static str, side: Side, price: f64 }
/// impl actor_cluster::Server for Desk {}
/// impl Agent for Desk {
///     fn id(&self) -> String { self.id.into() }
///     fn capabilities(&self) -> Vec<String> { vec!["trader".into()] }
///     fn families(families: &mut Families<Self>) { families.trader(); }
/// }
/// impl Trader for Desk {
///     async fn orders(&mut self, _call: &CallForOrders) -> Vec<Quote> {
///         vec![Quote { side: self.side, price: self.price, quantity: 2 }]
///     }
/// }
///
/// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let node = actor_cluster::Node::builder()
///     .name("doc").cookie("secret").listen("127.0.0.1:0".parse()?).no_discovery()
///     .start().await?;
/// let agents = Agents::start(&node).await?;
/// agents.spawn(|| Desk { id: "buyer", side: Side::Buy, price: 10.0 }).await?;
/// agents.spawn(|| Desk { id: "seller", side: Side::Sell, price: 6.0 }).await?;
/// let result = agents
///     .run(CallMarketSpec::new("gpu", "trader", Duration::from_secs(1)))
///     .await?;
/// // Both fill: interval [highest accepted ask 6, lowest accepted bid 10], price 8.
/// assert_eq!((result.price, result.volume), (Some(8.0), 2));
/// node.shutdown().await;
/// # Ok(()) }
/// ```
impl Protocol for CallMarketSpec {
    type Output = CallMarketResult;
    const NAME: &'static str = "call_market";

    fn validate(&self) -> Result<()> {
        positive("deadline", self.deadline)?;
        check_name("market", &self.market)
    }

    fn invite(&self) -> Invite {
        Invite::Capability(self.capability.clone())
    }

    fn summary(result: &CallMarketResult) -> Option<String> {
        Some(match result.price {
            Some(price) => format!("{}: {} units at {price}", result.market, result.volume),
            None => format!("{}: no trade", result.market),
        })
    }

    async fn run(self, run: &Run) -> Result<CallMarketResult> {
        let spec = self;
        let request = CallForOrders {
            market: spec.market.clone(),
        };
        let got = run.collect(request, spec.deadline).await;
        let mut orders = Vec::new();
        let mut declined = Vec::new();
        for (agent, quotes) in got.answers {
            if quotes.is_empty() {
                declined.push(agent);
                continue;
            }
            for q in quotes {
                orders.push(CallOrder {
                    agent: agent.clone(),
                    side: q.side,
                    price: q.price,
                    quantity: q.quantity,
                    arrival: orders.len() as u64,
                });
            }
        }
        let outcome = call_market(&orders);
        for r in &outcome.rejected {
            run.reject(&r.agent, r.error.to_string());
        }
        let mut agents: Vec<&str> = outcome.fills.iter().map(|f| f.agent.as_str()).collect();
        agents.sort_unstable();
        agents.dedup();
        for agent in agents {
            let fills = outcome
                .fills
                .iter()
                .filter(|f| f.agent == agent)
                .cloned()
                .collect();
            let notice = Filled {
                market: spec.market.clone(),
                fills,
            };
            run.tell(agent, notice);
        }
        tracing::info!(
            price = ?outcome.price,
            volume = outcome.volume,
            orders = orders.len(),
            rejected = outcome.rejected.len(),
            missing = got.missing.len(),
            "call market cleared"
        );
        Ok(CallMarketResult {
            market: spec.market,
            price: outcome.price,
            volume: outcome.volume,
            tie_breaks: tie_breaks(&outcome),
            outcome,
            orders,
            declined,
            missing: got.missing,
            duration_ms: run.elapsed_ms(),
        })
    }
}

/// A compute allocation among every agent with the spec's capability,
/// wherever they run: each is asked what it needs (units, value per
/// unit, budget) and offers (units, cost per unit) before the deadline
/// ([`Trader::compute`](crate::Trader::compute)); [`allocate_compute`] decides who trades
/// how much at one whole-credit price, and every agent gets a
/// settlement record (units bought and sold, credits paid and
/// received); those that trade are told theirs
/// ([`Trader::settled`](crate::Trader::settled)). Invalid requests (zero units, a budget
/// that cannot buy one unit, ...) are rejected, reported and told to
/// their agent; the others are still allocated.
///
/// Errors of the run:
/// [`AgentError::NoParticipants`](crate::AgentError::NoParticipants) if no agent has the capability;
/// [`AgentError::InvalidParameters`](crate::AgentError::InvalidParameters) for a zero deadline or a resource
/// name that is empty or holds whitespace.
impl Protocol for ComputeSpec {
    type Output = ComputeResult;
    const NAME: &'static str = "compute_allocation";

    fn validate(&self) -> Result<()> {
        positive("deadline", self.deadline)?;
        check_name("resource", &self.resource)
    }

    fn invite(&self) -> Invite {
        Invite::Capability(self.capability.clone())
    }

    async fn run(self, run: &Run) -> Result<ComputeResult> {
        let spec = self;
        let request = CallForCompute {
            resource: spec.resource.clone(),
        };
        let got = run.collect(request, spec.deadline).await;
        let (mut buyers, mut sellers) = (Vec::new(), Vec::new());
        let mut declined = Vec::new();
        for (arrival, (agent, Compute { need, offer })) in got.answers.into_iter().enumerate() {
            // A buyer's request arrives before its own offer.
            let arrival = 2 * arrival as u64;
            if need.is_none() && offer.is_none() {
                declined.push(agent);
                continue;
            }
            if let Some(n) = need {
                buyers.push(ComputeBuyer {
                    agent: agent.clone(),
                    budget: n.budget.unwrap_or(n.units.saturating_mul(n.max_price)),
                    units: n.units,
                    max_price: n.max_price,
                    arrival,
                });
            }
            if let Some(o) = offer {
                sellers.push(ComputeSeller {
                    agent,
                    units: o.units,
                    min_price: o.min_price,
                    arrival: arrival + 1,
                });
            }
        }
        let outcome = allocate_compute(&buyers, &sellers);
        for r in &outcome.rejected {
            run.reject(&r.agent, r.error.to_string());
        }
        for s in &outcome.settlements {
            if s.units_bought > 0 || s.units_sold > 0 {
                let notice = Settled {
                    resource: spec.resource.clone(),
                    price: outcome.price,
                    settlement: s.clone(),
                };
                run.tell(&s.agent, notice);
            }
        }
        tracing::info!(
            price = ?outcome.price,
            volume = outcome.market.volume,
            buyers = buyers.len(),
            sellers = sellers.len(),
            rejected = outcome.rejected.len(),
            missing = got.missing.len(),
            "compute allocated"
        );
        Ok(ComputeResult {
            resource: spec.resource,
            price: outcome.price,
            settlements: outcome.settlements.clone(),
            tie_breaks: tie_breaks(&outcome.market),
            outcome,
            declined,
            missing: got.missing,
            duration_ms: run.elapsed_ms(),
        })
    }
}
