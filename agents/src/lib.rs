//! # agents
//!
//! Agents are supervised actors with a cluster-wide id and capabilities.
//! They take part in coordination protocols run by a coordinator actor
//! that may sit on any node: votes and elections, Byzantine agreement,
//! sealed-bid, English, Dutch, multi-unit, VCG and combinatorial auctions,
//! contract-net, alternating offers and Zeuthen negotiation, markets, and
//! repeated games (see [`protocols`]). Typed [`variables`] (a learning
//! rate, a batch size) are committed cluster-wide through a Raft log
//! ([`variables::Variables`]) and read with the same version on every node.
//!
//! ```
//! use actor_cluster::Server;
//! use agents::{Agent, Agents, AuctionRule, AuctionSpec, Bidder, CallForBids, Families};
//! use std::time::Duration;
//!
//! /// An agent is an actor you define: its state, and the families it
//! /// takes part in (it could answer messages of its own too).
//! struct Buyer { id: String, value: f64 }
//! impl Server for Buyer {}
//! impl Agent for Buyer {
//!     fn id(&self) -> String { self.id.clone() }
//!     fn capabilities(&self) -> Vec<String> { vec!["bidder".into()] }
//!     fn families(families: &mut Families<Self>) { families.bidder(); }
//! }
//! impl Bidder for Buyer {
//!     async fn bid(&mut self, _call: &CallForBids) -> Option<f64> { Some(self.value) }
//! }
//!
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let node = actor_cluster::Node::builder()
//!     .name("doc").cookie("secret").listen("127.0.0.1:0".parse()?).no_discovery()
//!     .start().await?;
//! let agents = Agents::start(&node).await?;
//! agents.spawn(|| Buyer { id: "alice".into(), value: 12.0 }).await?;
//! agents.spawn(|| Buyer { id: "bob".into(), value: 10.0 }).await?;
//! let spec = AuctionSpec::new("gpu-hour", AuctionRule::SecondPrice, "bidder", Duration::from_secs(1))
//!     .reserve(5.0);
//! let result = agents.run(spec).await?;
//! assert_eq!(result.outcome.winner.as_deref(), Some("alice"));
//! assert_eq!(result.outcome.price, Some(10.0));
//! node.shutdown().await;
//! # Ok(()) }
//! ```

/// Makes each protocol request a [`Message`](actor_cluster::Message)
/// whose reply is the agent's answer, under a stable wire tag.
macro_rules! protocol_messages {
    ($($ty:ty => $reply:ty, $tag:literal;)*) => {$(
        impl actor_cluster::Message for $ty {
            type Reply = $reply;
            const TAG: &'static str = $tag;
        }
    )*};
}
pub(crate) use protocol_messages;

mod agent;
mod error;
mod hash;
mod lifecycle;
mod placement;
pub mod protocols;
mod query;
mod system;
pub mod variables;

pub use agent::{
    Agent, Bidder, Describe, Description, Evaluator, Families, HealthCheck, Negotiator, Player,
    Rejected, Trader, Value, Voter,
};
pub use error::{AgentError, InvalidParameter, Result};
pub use lifecycle::{AgentSpec, Health, Replication, Stateful, Status};
pub use placement::Placement;
pub use protocols::auction::{
    AuctionOutcome, AuctionResult, AuctionRule, AuctionSpec, Bid, Bundles, CallForBids, Clock,
    CombinatorialResult, CombinatorialSpec, DutchResult, DutchSpec, EnglishResult, EnglishSpec,
    MarginalValues, MultiUnitPayment, MultiUnitResult, MultiUnitSpec, Raise, Units, VcgResult,
    VcgSpec,
};
pub use protocols::consensus::{Agreement, AgreementResult, AgreementSpec};
pub use protocols::election::{
    Election, ElectionMethod, ElectionOutcome, ElectionResult, ElectionSpec, RankedBallot,
};
pub use protocols::games::{MatchResult, MatchSpec, Move, NormalFormGame, Seat};
pub use protocols::market::{
    CallForCompute, CallForOrders, CallMarketResult, CallMarketSpec, Compute, ComputeNeed,
    ComputeOffer, ComputeResult, ComputeSpec, Filled, Market, NewOrder, Quote, Settled, Side,
    Traded,
};
pub use protocols::negotiation::{
    Award, BargainResult, BargainSpec, CallForProposals, Cancel, CnpReply, ContractResult,
    ContractSpec, Lost, Propose, Respond, Task, Tender, Utilities, ZeuthenResult, ZeuthenSpec,
};
pub use protocols::runs::RunRecord;
pub use protocols::voting::{
    Ballot, Proposal, Threshold, VoteError, VoteResult, VoteSpec, VoteTally, WeightedTally,
    YesNoRule,
};
pub use protocols::{Invite, Missing, Protocol, Run, Running};
pub use query::{Cmp, Predicate, Query};
pub use system::{AgentEntry, AgentEvent, AgentRef, AgentWatch, Agents};
