//! The [`Agent`] trait and the actor that runs an agent.

use std::future::Future;

use actor_cluster::{Accepts, Handling, Message, Server};
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

/// An agent: an actor you define, with its own state and its own messages
/// (its [`Server`] side), a cluster-wide id and capabilities, that takes
/// part in the protocol families it opts into.
///
/// An agent is a [`Server`]: list its own messages in
/// [`Server::accepts`] and answer them with [`Handler`](actor_cluster::Handler)s;
/// anyone in the cluster reaches it by id ([`Agents::find`](crate::Agents::find))
/// and talks to it with those messages. It takes part in a protocol family
/// by implementing the family's trait ([`Voter`], [`Bidder`],
/// [`Negotiator`], [`Trader`], [`Player`]) and naming it in
/// [`families`](Agent::families); each trait's methods default to
/// declining. A request of a family it did not name is declined (a vote
/// abstains, a bid is not made).
///
/// ```
/// use agents::{Agent, Families, Proposal, Voter};
/// use actor_cluster::Server;
///
/// struct Cautious { id: String }
/// impl Server for Cautious {}
/// impl Agent for Cautious {
///     fn id(&self) -> String { self.id.clone() }
///     fn families(families: &mut Families<Self>) { families.voter(); }
/// }
/// impl Voter for Cautious {
///     async fn vote(&mut self, proposal: &Proposal) -> Option<bool> {
///         Some(proposal.subject != "shutdown")
///     }
/// }
/// ```
pub trait Agent: Server {
    /// The agent's id, unique in the cluster.
    fn id(&self) -> String;

    /// What the agent can do; protocols invite agents by capability.
    fn capabilities(&self) -> Vec<String> {
        Vec::new()
    }

    /// Names the protocol families this agent takes part in. The default
    /// names none: it only declines.
    fn families(families: &mut Families<Self>) {
        let _ = families;
    }

    /// Told that a protocol set this agent's answer aside (a negative bid,
    /// an unknown candidate, ...): the protocol goes on without it. The
    /// default logs it.
    fn rejected(&mut self, protocol: &str, reason: &str) -> impl Future<Output = ()> + Send {
        tracing::warn!(agent = %self.id(), protocol, reason, "answer rejected");
        async {}
    }
}

/// Votes, ranked-ballot elections and Byzantine-tolerant agreement.
pub trait Voter: Agent {
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

    /// Answers a Byzantine-tolerant agreement with the value this agent
    /// proposes, or `None` to abstain.
    fn agree(&mut self, question: &Agreement) -> impl Future<Output = Option<Value>> + Send {
        let _ = question;
        async { None }
    }
}

/// Auctions: sealed bids and the interactive kinds.
pub trait Bidder: Agent {
    /// Answers a call for bids with an amount, or `None` to decline.
    fn bid(&mut self, call: &CallForBids) -> impl Future<Output = Option<f64>> + Send {
        let _ = call;
        async { None }
    }

    /// Takes one step of an interactive auction (English, Dutch,
    /// multi-unit, VCG, combinatorial).
    fn auction(&mut self, request: &AuctionRequest) -> impl Future<Output = AuctionReply> + Send {
        let _ = request;
        async { AuctionReply::Decline }
    }
}

/// Negotiation: contract-net, alternating offers, monotonic concession.
pub trait Negotiator: Agent {
    /// Takes one step of a negotiation.
    fn negotiate(
        &mut self,
        request: &NegotiationRequest,
    ) -> impl Future<Output = NegotiationReply> + Send {
        let _ = request;
        async { NegotiationReply::Decline }
    }
}

/// Markets: call markets, compute allocation, fills of the continuous
/// double auction.
pub trait Trader: Agent {
    /// Takes one step of a market.
    fn trade(&mut self, request: &MarketRequest) -> impl Future<Output = MarketReply> + Send {
        let _ = request;
        async { MarketReply::Decline }
    }
}

/// Games: moves in normal-form games, choices among strategies.
pub trait Player: Agent {
    /// Takes one step of a game.
    fn play(&mut self, request: &GameRequest) -> impl Future<Output = GameReply> + Send {
        let _ = request;
        async { GameReply::Decline }
    }
}

/// How one family answers the requests of its protocols.
type Answer<A> = for<'a> fn(&'a mut A, AgentRequest) -> Handling<'a, AgentReply>;

/// The protocol families an agent takes part in, as it names them in
/// [`Agent::families`].
pub struct Families<A> {
    voter: Option<Answer<A>>,
    bidder: Option<Answer<A>>,
    negotiator: Option<Answer<A>>,
    trader: Option<Answer<A>>,
    player: Option<Answer<A>>,
}

impl<A> std::fmt::Debug for Families<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Families")
            .field("voter", &self.voter.is_some())
            .field("bidder", &self.bidder.is_some())
            .field("negotiator", &self.negotiator.is_some())
            .field("trader", &self.trader.is_some())
            .field("player", &self.player.is_some())
            .finish()
    }
}

impl<A: Agent> Families<A> {
    fn of() -> Self {
        let mut families = Self {
            voter: None,
            bidder: None,
            negotiator: None,
            trader: None,
            player: None,
        };
        A::families(&mut families);
        families
    }

    /// Takes part in votes, elections and agreements ([`Voter`]).
    pub fn voter(&mut self) -> &mut Self
    where
        A: Voter,
    {
        self.voter = Some(|agent, request| {
            Box::pin(async move {
                match request {
                    AgentRequest::Vote(p) => AgentReply::Vote(agent.vote(&p).await),
                    AgentRequest::Rank(e) => AgentReply::Ranking(agent.rank(&e).await),
                    AgentRequest::Agree(q) => AgentReply::Agreed(agent.agree(&q).await),
                    other => declined(&other),
                }
            })
        });
        self
    }

    /// Takes part in auctions ([`Bidder`]).
    pub fn bidder(&mut self) -> &mut Self
    where
        A: Bidder,
    {
        self.bidder = Some(|agent, request| {
            Box::pin(async move {
                match request {
                    AgentRequest::Bid(call) => AgentReply::Bid(agent.bid(&call).await),
                    AgentRequest::Auction(r) => AgentReply::Auction(agent.auction(&r).await),
                    other => declined(&other),
                }
            })
        });
        self
    }

    /// Takes part in negotiations ([`Negotiator`]).
    pub fn negotiator(&mut self) -> &mut Self
    where
        A: Negotiator,
    {
        self.negotiator = Some(|agent, request| {
            Box::pin(async move {
                match request {
                    AgentRequest::Negotiate(r) => {
                        AgentReply::Negotiation(agent.negotiate(&r).await)
                    }
                    other => declined(&other),
                }
            })
        });
        self
    }

    /// Takes part in markets ([`Trader`]).
    pub fn trader(&mut self) -> &mut Self
    where
        A: Trader,
    {
        self.trader = Some(|agent, request| {
            Box::pin(async move {
                match request {
                    AgentRequest::Market(r) => AgentReply::Market(agent.trade(&r).await),
                    other => declined(&other),
                }
            })
        });
        self
    }

    /// Takes part in games ([`Player`]).
    pub fn player(&mut self) -> &mut Self
    where
        A: Player,
    {
        self.player = Some(|agent, request| {
            Box::pin(async move {
                match request {
                    AgentRequest::Game(r) => AgentReply::Game(agent.play(&r).await),
                    other => declined(&other),
                }
            })
        });
        self
    }

    /// The family that answers `request`, if the agent takes part in it.
    fn answering(&self, request: &AgentRequest) -> Option<Answer<A>> {
        match request {
            AgentRequest::Vote(_) | AgentRequest::Rank(_) | AgentRequest::Agree(_) => self.voter,
            AgentRequest::Bid(_) | AgentRequest::Auction(_) => self.bidder,
            AgentRequest::Negotiate(_) => self.negotiator,
            AgentRequest::Market(_) => self.trader,
            AgentRequest::Game(_) => self.player,
            AgentRequest::Rejected { .. } | AgentRequest::Describe => None,
        }
    }
}

/// The answer of an agent that does not take part: it abstains or declines.
fn declined(request: &AgentRequest) -> AgentReply {
    match request {
        AgentRequest::Vote(_) => AgentReply::Vote(None),
        AgentRequest::Rank(_) => AgentReply::Ranking(None),
        AgentRequest::Agree(_) => AgentReply::Agreed(None),
        AgentRequest::Bid(_) => AgentReply::Bid(None),
        AgentRequest::Auction(_) => AgentReply::Auction(AuctionReply::Decline),
        AgentRequest::Negotiate(_) => AgentReply::Negotiation(NegotiationReply::Decline),
        AgentRequest::Market(_) => AgentReply::Market(MarketReply::Decline),
        AgentRequest::Game(_) => AgentReply::Game(GameReply::Decline),
        AgentRequest::Rejected { .. } => AgentReply::Noted,
        AgentRequest::Describe => AgentReply::Noted,
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

/// Adds the protocol requests to what an agent answers (see
/// [`Node::server_spec_with`](actor_cluster::Node::server_spec_with)).
pub(crate) fn answer_protocols<A: Agent>(accepts: &mut Accepts<A>) {
    accepts.add_with::<AgentRequest>(answer::<A>);
}

/// Answers one protocol request with the agent's family, or declines.
fn answer<A: Agent>(agent: &mut A, request: AgentRequest) -> Handling<'_, AgentReply> {
    Box::pin(async move {
        let kind = match &request {
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
        match request {
            AgentRequest::Rejected { protocol, reason } => {
                agent.rejected(&protocol, &reason).await;
                AgentReply::Noted
            }
            AgentRequest::Describe => AgentReply::Description {
                id: agent.id(),
                capabilities: agent.capabilities(),
            },
            request => match Families::<A>::of().answering(&request) {
                Some(family) => family(agent, request).await,
                None => declined(&request),
            },
        }
    })
}
