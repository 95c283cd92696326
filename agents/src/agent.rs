//! The [`Agent`] trait and the actor that runs an agent.

use std::future::Future;

use actor_cluster::{Message, Node, Request};
use ractor::{Actor, ActorProcessingErr, ActorRef};
use serde::{Deserialize, Serialize};

use crate::protocols::auction::{AuctionReply, AuctionRequest};
use crate::protocols::consensus::Agreement;
use crate::protocols::election::ElectionMethod;
use crate::protocols::games::{GameReply, GameRequest};
use crate::protocols::market::{MarketReply, MarketRequest};
use crate::protocols::negotiation::{NegotiationReply, NegotiationRequest};

/// A value an agent can propose or vote on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Value {
    /// A floating-point value (a learning rate, a price).
    Float(f64),
    /// An integer value (a batch size, a pool size).
    Int(i64),
    /// A flag.
    Bool(bool),
    /// A choice among named options.
    Text(String),
}

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Float(v) => write!(f, "{v}"),
            Self::Int(v) => write!(f, "{v}"),
            Self::Bool(v) => write!(f, "{v}"),
            Self::Text(v) => write!(f, "{v}"),
        }
    }
}

/// A proposal put to a vote: set `subject` to `value`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Proposal {
    /// What is being decided, e.g. a variable name.
    pub subject: String,
    /// The proposed value.
    pub value: Value,
}

/// An invitation to bid in a sealed-bid auction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallForBids {
    /// What is sold.
    pub item: String,
}

/// A ranked-ballot election: rank some or all of the candidates, most
/// preferred first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Election {
    /// The candidates, in the order the organiser listed them.
    pub candidates: Vec<String>,
    /// How the ballots will be counted.
    pub method: ElectionMethod,
}

/// An agent: a supervised actor with a cluster-wide id and capabilities
/// that takes part in coordination protocols.
///
/// Every method but [`id`](Agent::id) has a default: an agent that does not
/// vote or rank abstains, one that does not bid, negotiate, trade or play
/// declines. The simple protocols have a method each ([`vote`](Agent::vote),
/// [`rank`](Agent::rank), [`bid`](Agent::bid), [`agree`](Agent::agree));
/// the interactive families have one method each that receives every step
/// of the family's protocols ([`negotiate`](Agent::negotiate),
/// [`auction`](Agent::auction), [`trade`](Agent::trade),
/// [`play`](Agent::play)).
pub trait Agent: Send + Sync + 'static {
    /// The agent's id, unique in the cluster.
    fn id(&self) -> String;

    /// What the agent can do; protocols invite agents by capability.
    fn capabilities(&self) -> Vec<String> {
        Vec::new()
    }

    /// Answers a vote: `Some(true)` yes, `Some(false)` no, `None` abstain.
    fn vote(&mut self, proposal: &Proposal) -> impl Future<Output = Option<bool>> + Send {
        let _ = proposal;
        async { None }
    }

    /// Answers an election with a ranking, most preferred first (it may
    /// leave candidates out), or `None` to abstain. A ranking naming an
    /// unknown candidate, or one candidate twice, is rejected by the
    /// counting rule and reported in the result.
    fn rank(&mut self, election: &Election) -> impl Future<Output = Option<Vec<String>>> + Send {
        let _ = election;
        async { None }
    }

    /// Answers a call for bids with an amount, or `None` to decline.
    fn bid(&mut self, call: &CallForBids) -> impl Future<Output = Option<f64>> + Send {
        let _ = call;
        async { None }
    }

    /// Answers a Byzantine-tolerant agreement with the value this agent
    /// proposes, or `None` to abstain.
    fn agree(&mut self, question: &Agreement) -> impl Future<Output = Option<Value>> + Send {
        let _ = question;
        async { None }
    }

    /// Takes one step of a negotiation (contract-net, alternating offers,
    /// monotonic concession).
    fn negotiate(
        &mut self,
        request: &NegotiationRequest,
    ) -> impl Future<Output = NegotiationReply> + Send {
        let _ = request;
        async { NegotiationReply::Decline }
    }

    /// Takes one step of an interactive auction (English, Dutch,
    /// multi-unit, VCG, combinatorial).
    fn auction(&mut self, request: &AuctionRequest) -> impl Future<Output = AuctionReply> + Send {
        let _ = request;
        async { AuctionReply::Decline }
    }

    /// Takes one step of a market (call market, compute allocation, fills
    /// in the continuous double auction).
    fn trade(&mut self, request: &MarketRequest) -> impl Future<Output = MarketReply> + Send {
        let _ = request;
        async { MarketReply::Decline }
    }

    /// Takes one step of a game (a move in a normal-form game, a choice
    /// among strategies).
    fn play(&mut self, request: &GameRequest) -> impl Future<Output = GameReply> + Send {
        let _ = request;
        async { GameReply::Decline }
    }

    /// Told that a protocol set this agent's answer aside (a negative bid,
    /// an unknown candidate, ...): the protocol goes on without it. The
    /// default logs it.
    fn rejected(&mut self, protocol: &str, reason: &str) -> impl Future<Output = ()> + Send {
        tracing::warn!(agent = %self.id(), protocol, reason, "answer rejected");
        async {}
    }
}

/// What a coordinator asks an agent (carried across nodes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum AgentRequest {
    /// Vote on a proposal.
    Vote(Proposal),
    /// Bid in a sealed-bid auction.
    Bid(CallForBids),
    /// Rank the candidates of an election.
    Rank(Election),
    /// Propose a value in Byzantine-tolerant agreement.
    Agree(Agreement),
    /// A step of a negotiation.
    Negotiate(NegotiationRequest),
    /// A step of an interactive auction.
    Auction(AuctionRequest),
    /// A step of a market.
    Market(MarketRequest),
    /// A step of a game.
    Game(GameRequest),
    /// Your answer to `protocol` was set aside, for `reason`.
    Rejected {
        /// The protocol, e.g. `sealed_bid_auction`.
        protocol: String,
        /// Why the answer was set aside.
        reason: String,
    },
    /// Describe yourself.
    Describe,
}

/// An agent's answer to an [`AgentRequest`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum AgentReply {
    /// The agent's vote.
    Vote(Option<bool>),
    /// The agent's bid.
    Bid(Option<f64>),
    /// The agent's ranking, or `None` for an abstention.
    Ranking(Option<Vec<String>>),
    /// The value the agent proposes in an agreement, or `None`.
    Agreed(Option<Value>),
    /// The agent's step in a negotiation.
    Negotiation(NegotiationReply),
    /// The agent's step in an interactive auction.
    Auction(AuctionReply),
    /// The agent's step in a market.
    Market(MarketReply),
    /// The agent's step in a game.
    Game(GameReply),
    /// Acknowledges a notice ([`AgentRequest::Rejected`]).
    Noted,
    /// The agent's id and capabilities.
    Description {
        /// Its id.
        id: String,
        /// Its capabilities.
        capabilities: Vec<String>,
    },
}

/// The message type of an agent actor.
pub type AgentMsg = Request<AgentRequest>;

impl Message for AgentRequest {
    type Reply = AgentReply;
    const TAG: &'static str = "foundation.agent/1";
}

/// The name prefix under which agents are registered in the cluster.
pub(crate) const AGENT_PREFIX: &str = "agent/";
/// The group prefix for capabilities.
pub(crate) const CAPABILITY_PREFIX: &str = "capability/";
/// The group every agent joins.
pub(crate) const AGENTS_GROUP: &str = "agents";

pub(crate) fn agent_name(id: &str) -> String {
    format!("{AGENT_PREFIX}{id}")
}

/// Runs one [`Agent`]; registers it cluster-wide as `agent/<id>` in the
/// groups `agents` and `capability/<c>` for each capability.
pub(crate) struct AgentActor<A>(std::marker::PhantomData<fn() -> A>);

impl<A> AgentActor<A> {
    pub(crate) fn new() -> Self {
        Self(std::marker::PhantomData)
    }
}

impl<A: Agent> Actor for AgentActor<A> {
    type Msg = AgentMsg;
    type State = A;
    type Arguments = (A, Node);

    async fn pre_start(
        &self,
        myself: ActorRef<AgentMsg>,
        (agent, node): (A, Node),
    ) -> Result<A, ActorProcessingErr> {
        let id = agent.id();
        let groups = std::iter::once(AGENTS_GROUP.to_owned()).chain(
            agent
                .capabilities()
                .into_iter()
                .map(|c| format!("{CAPABILITY_PREFIX}{c}")),
        );
        node.register_in(&agent_name(&id), groups, &myself).await?;
        tracing::info!(agent = %id, node = %node.name(), "agent ready");
        Ok(agent)
    }

    async fn handle(
        &self,
        _myself: ActorRef<AgentMsg>,
        request: AgentMsg,
        agent: &mut A,
    ) -> Result<(), ActorProcessingErr> {
        let (msg, reply) = request.into_parts();
        let kind = match &msg {
            AgentRequest::Vote(_) => "vote",
            AgentRequest::Bid(_) => "bid",
            AgentRequest::Rank(_) => "rank",
            AgentRequest::Agree(_) => "agree",
            AgentRequest::Negotiate(_) => "negotiate",
            AgentRequest::Auction(_) => "auction",
            AgentRequest::Market(_) => "market",
            AgentRequest::Game(_) => "game",
            AgentRequest::Rejected { .. } => "rejected",
            AgentRequest::Describe => "describe",
        };
        metrics::counter!("foundation_agent_requests_total", "request" => kind).increment(1);
        let answer = match msg {
            AgentRequest::Vote(proposal) => AgentReply::Vote(agent.vote(&proposal).await),
            AgentRequest::Bid(call) => AgentReply::Bid(agent.bid(&call).await),
            AgentRequest::Rank(election) => AgentReply::Ranking(agent.rank(&election).await),
            AgentRequest::Agree(question) => AgentReply::Agreed(agent.agree(&question).await),
            AgentRequest::Negotiate(r) => AgentReply::Negotiation(agent.negotiate(&r).await),
            AgentRequest::Auction(r) => AgentReply::Auction(agent.auction(&r).await),
            AgentRequest::Market(r) => AgentReply::Market(agent.trade(&r).await),
            AgentRequest::Game(r) => AgentReply::Game(agent.play(&r).await),
            AgentRequest::Rejected { protocol, reason } => {
                agent.rejected(&protocol, &reason).await;
                AgentReply::Noted
            }
            AgentRequest::Describe => AgentReply::Description {
                id: agent.id(),
                capabilities: agent.capabilities(),
            },
        };
        reply.send(answer);
        Ok(())
    }
}
