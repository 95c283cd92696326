//! The error type of the agents crate.

use actor_cluster::ClusterError;
use actor_core::CoreError;

use crate::protocols::auction::AuctionError;
use crate::protocols::games::GameError;
use crate::protocols::market::MarketError;
use crate::protocols::negotiation::NegotiationError;
use crate::protocols::voting::VoteError;
use crate::variables::VariableError;

/// Everything that can go wrong in the agents layer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AgentError {
    /// An agent id was empty or contained characters names cannot hold.
    #[error("invalid agent id `{0}`: use a non-empty id without whitespace")]
    InvalidId(String),
    /// No agent with this id is registered anywhere in the cluster.
    #[error("no agent `{0}` in the cluster")]
    UnknownAgent(String),
    /// A protocol was asked to run with invalid parameters; the reason
    /// says which.
    #[error("invalid protocol parameters: {0}")]
    InvalidParameters(#[source] InvalidParameter),
    /// A defect in this crate, reported rather than a panic: a protocol's
    /// run ended without the outcome its rule promises, a market answered
    /// out of turn.
    #[error("internal error in the {component}: {reason}")]
    Internal {
        /// The part at fault, e.g. `English auction`.
        component: &'static str,
        /// What went wrong.
        reason: String,
    },
    /// A vote or election was asked to run with an invalid rule (a
    /// supermajority fraction outside (1/2, 1], a negative quorum) or an
    /// invalid candidate list (empty, or naming a candidate twice).
    #[error("invalid voting rule: {0}")]
    Voting(#[from] VoteError),
    /// An auction was asked to run with invalid parameters (a negative
    /// reserve, zero units, too many items for exact winner determination).
    #[error("invalid auction: {0}")]
    Auction(#[from] AuctionError),
    /// A game was given an invalid payoff table or strategy.
    #[error("invalid game: {0}")]
    Game(#[from] GameError),
    /// A negotiation was asked to run with invalid parameters (discount
    /// factors outside [0, 1), no rounds).
    #[error("invalid negotiation: {0}")]
    Negotiation(#[from] NegotiationError),
    /// A market refused an order or a cancel (invalid price, zero
    /// quantity, unknown order id, ...).
    #[error("market: {0}")]
    Market(#[from] MarketError),
    /// No market with this name is open anywhere in the cluster.
    #[error("no market `{0}` in the cluster")]
    UnknownMarket(String),
    /// A lifecycle request (stop, restart) could not be done.
    #[error("agent `{agent}`: {reason}")]
    Lifecycle {
        /// The agent.
        agent: String,
        /// Why, e.g. `it is temporary: it is never restarted`.
        reason: String,
    },
    /// A query has a predicate that cannot hold or cannot be evaluated
    /// (`gt` on a text, `in` an empty list).
    #[error("invalid query: {0}")]
    InvalidQuery(String),
    /// No agent kind of this name is registered on the node asked to
    /// start one ([`Agents::register_kind`](crate::Agents::register_kind)).
    #[error("no agent kind `{kind}` is registered on node `{node}`")]
    UnknownKind {
        /// The kind.
        kind: String,
        /// The node asked.
        node: String,
    },
    /// A node could not start an agent (or actor) of a registered kind:
    /// its arguments were refused, the agent's id or the actor's name is
    /// taken, its start failed, the kind is of the other sort.
    #[error("cannot start kind `{kind}` on `{node}`: {reason}")]
    Spawn {
        /// The kind.
        kind: String,
        /// The node asked.
        node: String,
        /// Why.
        reason: String,
    },
    /// No node can take an agent under the placement's constraints.
    #[error("no node can take it: {0}")]
    NoPlacement(String),
    /// A watcher fell behind and missed this many changes.
    #[error("missed {0} changes: read the list again")]
    Lagged(u64),
    /// A protocol run found nobody to invite.
    #[error("no participants: no agent has capability `{0}`")]
    NoParticipants(String),
    /// The replicated variables refused: invalid voters, a group that did
    /// not form, a Raft that could not start.
    #[error("variables: {0}")]
    Variable(#[from] VariableError),
    /// The supervision layer refused (spawn failure, duplicate id, ...).
    #[error(transparent)]
    Core(#[from] CoreError),
    /// The cluster layer refused (name taken, node gone, ...).
    #[error(transparent)]
    Cluster(#[from] ClusterError),
}

/// Why a protocol's parameters were refused, before anybody was asked.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidParameter {
    /// A deadline is zero.
    #[error("the {what} must be positive")]
    ZeroDeadline {
        /// Which deadline (`deadline`, `turn deadline`, ...).
        what: &'static str,
    },
    /// Something the protocol needs at least one of is missing (rounds,
    /// items, offers).
    #[error("{protocol} needs at least one {what}")]
    NoneOf {
        /// The protocol, e.g. `a contract-net`.
        protocol: &'static str,
        /// What it needs, e.g. `round`.
        what: &'static str,
    },
    /// An amount that must be a finite number ≥ 0 is not.
    #[error("the {what} must be a finite number ≥ 0, not {value}")]
    NotAnAmount {
        /// Which amount, e.g. `reserve price`.
        what: &'static str,
        /// The value given.
        value: f64,
    },
    /// One agent was named on both sides of a two-party protocol.
    #[error("`{agent}` cannot take both sides of {protocol}")]
    SameAgent {
        /// The agent.
        agent: String,
        /// The protocol, e.g. `a match`.
        protocol: &'static str,
    },
    /// A name (of a market, a resource) is empty or holds whitespace.
    #[error("the {what} name `{name}` must be non-empty and without whitespace")]
    BadName {
        /// What is named, e.g. `market`.
        what: &'static str,
        /// The name given.
        name: String,
    },
    /// A reason of a protocol defined outside this crate.
    #[error("{0}")]
    Other(String),
}

impl From<InvalidParameter> for AgentError {
    fn from(reason: InvalidParameter) -> Self {
        AgentError::InvalidParameters(reason)
    }
}

/// Shorthand for results in the agents crate.
pub type Result<T, E = AgentError> = std::result::Result<T, E>;
