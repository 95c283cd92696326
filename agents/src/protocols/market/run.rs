//! Markets across nodes: the messages a market sends to agents, the answers
//! it expects, and the coordinators of the call market and the compute
//! allocation ([`Agents::call_market`], [`Agents::allocate_compute`]).
//!
//! The continuous double auction is a long-lived service instead: see
//! [`Market`](super::Market).

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tracing::Instrument;

use super::{
    allocate_compute, call_market, AllocationOutcome, CallMarketOutcome, CallOrder, ComputeBuyer,
    ComputeSeller, Fill, OrderRejection, Settlement, Side, Trade,
};
use crate::error::{AgentError, Result};
use crate::protocols::{
    collect, participant, positive, record_run, reject_answer, Missing, Participants,
};
use crate::system::Agents;

/// How equally priced orders are ranked, stated in every result.
pub const TIE_RULE: &str =
    "equally priced orders: earliest arrival at the coordinator, then lowest agent id; \
     an agent's own orders arrive in the order it listed them";

/// What a market asks an agent, or tells it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum MarketRequest {
    /// A call market opens: answer with your bids and asks
    /// ([`MarketReply::Orders`]).
    Quote {
        /// The market's name (what is traded).
        market: String,
    },
    /// A compute allocation opens: answer with what you need and what you
    /// offer ([`MarketReply::Compute`]).
    Demand {
        /// The resource allocated, e.g. `gpu-hours`.
        resource: String,
    },
    /// Notice: your orders in a call market traded.
    Filled {
        /// The market.
        market: String,
        /// Your fills, all at the clearing price.
        fills: Vec<Fill>,
    },
    /// Notice: what you bought and sold in a compute allocation.
    Settled {
        /// The resource.
        resource: String,
        /// The price per unit every trade settled at.
        price: Option<u64>,
        /// Your record.
        settlement: Settlement,
    },
    /// Notice: an order you own traded in a continuous double auction.
    Traded {
        /// The market.
        market: String,
        /// The trade (you are its buyer, its seller, or both).
        trade: Trade,
    },
}

/// One bid or ask an agent sends to a call market.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Quote {
    /// Buy or sell.
    pub side: Side,
    /// The most a buyer pays or the least a seller takes, per unit.
    pub price: f64,
    /// Units.
    pub quantity: u64,
}

/// Compute an agent wants to buy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComputeNeed {
    /// Units wanted at most.
    pub units: u64,
    /// What one unit is worth to the agent: the most it pays, in credits.
    pub max_price: u64,
    /// Credits it may spend in total; `None` is enough for all `units` at
    /// `max_price`.
    pub budget: Option<u64>,
}

/// Compute an agent offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComputeOffer {
    /// Units available.
    pub units: u64,
    /// What one unit costs the agent: the least it takes, in credits.
    pub min_price: u64,
}

/// An agent's answer to a [`MarketRequest`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum MarketReply {
    /// The agent does not take part.
    Decline,
    /// Its bids and asks for a call market (empty: it declines).
    Orders(Vec<Quote>),
    /// What it needs and offers in a compute allocation (both `None`: it
    /// declines).
    Compute {
        /// Units it wants to buy.
        need: Option<ComputeNeed>,
        /// Units it offers.
        offer: Option<ComputeOffer>,
    },
    /// Acknowledges a notice.
    Noted,
}

/// A call market: what is traded, whom to ask, and until when.
#[derive(Debug, Clone)]
#[must_use]
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

/// A name without whitespace, or [`AgentError::InvalidParameters`].
pub(crate) fn check_name(what: &str, name: &str) -> Result<()> {
    if name.is_empty() || name.chars().any(char::is_whitespace) {
        return Err(AgentError::InvalidParameters(format!(
            "the {what} name `{name}` must be non-empty and without whitespace"
        )));
    }
    Ok(())
}

/// The tie rule, then each tie the call market broke.
fn tie_breaks(outcome: &CallMarketOutcome) -> Vec<String> {
    std::iter::once(TIE_RULE.to_owned())
        .chain(outcome.tie_breaks.iter().map(ToString::to_string))
        .collect()
}

/// Tells each agent of `rejected` why its order was set aside.
fn notify_all(participants: &Participants, protocol: &str, rejected: &[OrderRejection]) {
    for r in rejected {
        reject_answer(participants, &r.agent, protocol, r.error.to_string());
    }
}

/// Tells `agent` a market notice; fire and forget.
fn notify(participants: &Participants, agent: &str, notice: MarketRequest) {
    if let Some(r) = participant(participants, agent) {
        let _ = r.tell(notice);
    }
}

/// Asks every participant for its orders and clears them at one price.
async fn run_call_market(spec: CallMarketSpec, participants: Participants) -> CallMarketResult {
    const PROTOCOL: &str = "call_market";
    let started = Instant::now();
    let request = MarketRequest::Quote {
        market: spec.market.clone(),
    };
    let got = collect(&participants, request, spec.deadline).await;
    let mut orders = Vec::new();
    let mut declined = Vec::new();
    let mut missing = got.missing;
    let mut answered = 0;
    for (agent, answer) in got.answers {
        match answer {
            MarketReply::Orders(quotes) if !quotes.is_empty() => {
                answered += 1;
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
            MarketReply::Orders(_) | MarketReply::Decline => {
                answered += 1;
                declined.push(agent);
            }
            other => missing.push(Missing {
                agent,
                reason: format!("answered {other:?} to a call market"),
            }),
        }
    }
    let outcome = call_market(&orders);
    notify_all(&participants, PROTOCOL, &outcome.rejected);
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
        let notice = MarketRequest::Filled {
            market: spec.market.clone(),
            fills,
        };
        notify(&participants, agent, notice);
    }
    tracing::info!(
        price = ?outcome.price,
        volume = outcome.volume,
        orders = orders.len(),
        rejected = outcome.rejected.len(),
        missing = missing.len(),
        "call market cleared"
    );
    record_run(PROTOCOL, participants.len(), answered, started);
    CallMarketResult {
        market: spec.market,
        price: outcome.price,
        volume: outcome.volume,
        tie_breaks: tie_breaks(&outcome),
        outcome,
        orders,
        declined,
        missing,
        duration_ms: started.elapsed().as_millis() as u64,
    }
}

/// Asks every participant what compute it needs and offers, allocates it
/// through one call market round and settles per agent.
async fn run_allocate_compute(spec: ComputeSpec, participants: Participants) -> ComputeResult {
    const PROTOCOL: &str = "compute_allocation";
    let started = Instant::now();
    let request = MarketRequest::Demand {
        resource: spec.resource.clone(),
    };
    let got = collect(&participants, request, spec.deadline).await;
    let (mut buyers, mut sellers) = (Vec::new(), Vec::new());
    let mut declined = Vec::new();
    let mut missing = got.missing;
    let mut answered = 0;
    for (arrival, (agent, answer)) in got.answers.into_iter().enumerate() {
        // A buyer's request arrives before its own offer.
        let arrival = 2 * arrival as u64;
        match answer {
            MarketReply::Compute { need, offer } if need.is_some() || offer.is_some() => {
                answered += 1;
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
            MarketReply::Compute { .. } | MarketReply::Decline => {
                answered += 1;
                declined.push(agent);
            }
            other => missing.push(Missing {
                agent,
                reason: format!("answered {other:?} to a compute allocation"),
            }),
        }
    }
    let outcome = allocate_compute(&buyers, &sellers);
    notify_all(&participants, PROTOCOL, &outcome.rejected);
    for s in &outcome.settlements {
        if s.units_bought > 0 || s.units_sold > 0 {
            let notice = MarketRequest::Settled {
                resource: spec.resource.clone(),
                price: outcome.price,
                settlement: s.clone(),
            };
            notify(&participants, &s.agent, notice);
        }
    }
    tracing::info!(
        price = ?outcome.price,
        volume = outcome.market.volume,
        buyers = buyers.len(),
        sellers = sellers.len(),
        rejected = outcome.rejected.len(),
        missing = missing.len(),
        "compute allocated"
    );
    record_run(PROTOCOL, participants.len(), answered, started);
    ComputeResult {
        resource: spec.resource,
        price: outcome.price,
        settlements: outcome.settlements.clone(),
        tie_breaks: tie_breaks(&outcome.market),
        outcome,
        declined,
        missing,
        duration_ms: started.elapsed().as_millis() as u64,
    }
}

impl Agents {
    /// Runs a call market among every agent with the spec's capability,
    /// wherever they run: each is asked for its bids and asks
    /// ([`MarketRequest::Quote`]) before the deadline, and all orders clear
    /// at one price with [`call_market`]. Every agent that trades is told
    /// its fills ([`MarketRequest::Filled`]). An invalid order (negative or
    /// non-finite price, zero quantity) is rejected, reported in the result
    /// and to its agent, and the others still clear; late agents and agents
    /// whose node dies are listed as missing.
    ///
    /// # Errors
    /// [`AgentError::NoParticipants`] if no agent has the capability;
    /// [`AgentError::InvalidParameters`] for a zero deadline or a market
    /// name that is empty or holds whitespace.
    ///
    /// # Examples
    ///
    /// ```
    /// use agents::protocols::market::{MarketReply, MarketRequest, Quote, Side};
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
    ///     async fn trade(&mut self, request: &MarketRequest) -> MarketReply {
    ///         match request {
    ///             MarketRequest::Quote { .. } => MarketReply::Orders(vec![Quote {
    ///                 side: self.side, price: self.price, quantity: 2,
    ///             }]),
    ///             _ => MarketReply::Noted,
    ///         }
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
    ///     .call_market(CallMarketSpec::new("gpu", "trader", Duration::from_secs(1)))
    ///     .await?;
    /// // Both fill: interval [highest accepted ask 6, lowest accepted bid 10], price 8.
    /// assert_eq!((result.price, result.volume), (Some(8.0), 2));
    /// node.shutdown().await;
    /// # Ok(()) }
    /// ```
    pub async fn call_market(&self, spec: CallMarketSpec) -> Result<CallMarketResult> {
        positive("deadline", spec.deadline)?;
        check_name("market", &spec.market)?;
        let participants = self.participants(&spec.capability).await?;
        let span =
            tracing::info_span!("call_market", market = %spec.market, invited = participants.len());
        self.coordinate(run_call_market(spec, participants).instrument(span))
            .await
    }

    /// Allocates compute among every agent with the spec's capability,
    /// wherever they run: each is asked what it needs (units, value per
    /// unit, budget) and offers (units, cost per unit) before the deadline
    /// ([`MarketRequest::Demand`]); [`allocate_compute`] decides who trades
    /// how much at one whole-credit price, and every agent gets a
    /// settlement record (units bought and sold, credits paid and
    /// received); those that trade are told theirs
    /// ([`MarketRequest::Settled`]). Invalid requests (zero units, a budget
    /// that cannot buy one unit, ...) are rejected, reported and told to
    /// their agent; the others are still allocated.
    ///
    /// # Errors
    /// [`AgentError::NoParticipants`] if no agent has the capability;
    /// [`AgentError::InvalidParameters`] for a zero deadline or a resource
    /// name that is empty or holds whitespace.
    pub async fn allocate_compute(&self, spec: ComputeSpec) -> Result<ComputeResult> {
        positive("deadline", spec.deadline)?;
        check_name("resource", &spec.resource)?;
        let participants = self.participants(&spec.capability).await?;
        let span = tracing::info_span!("compute_allocation", resource = %spec.resource, invited = participants.len());
        self.coordinate(run_allocate_compute(spec, participants).instrument(span))
            .await
    }
}
