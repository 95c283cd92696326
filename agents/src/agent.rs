//! The [`Agent`] trait and the actor that runs an agent.

use std::future::Future;

use actor_cluster::{Accepts, Message, Server};
use serde::{Deserialize, Serialize};

use crate::protocols::auction::{AuctionReply, AuctionRequest, CallForBids};
use crate::protocols::consensus::Agreement;
use crate::protocols::election::Election;
use crate::protocols::games::{GameReply, GameRequest};
use crate::protocols::market::{MarketReply, MarketRequest};
use crate::protocols::negotiation::{NegotiationReply, NegotiationRequest};
use crate::protocols::voting::Proposal;

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
    fn families(families: &mut Families<'_, Self>) {
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

/// The protocol families an agent takes part in, as it names them in
/// [`Agent::families`]: each adds the family's requests to the messages
/// the agent answers, answered by the family's trait.
pub struct Families<'a, A> {
    accepts: &'a mut Accepts<A>,
}

impl<A> std::fmt::Debug for Families<'_, A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Families")
            .field("accepts", &self.accepts)
            .finish()
    }
}

impl<A: Agent> Families<'_, A> {
    /// Takes part in votes, elections and agreements ([`Voter`]).
    pub fn voter(&mut self) -> &mut Self
    where
        A: Voter,
    {
        self.accepts
            .add_with::<Proposal>(|agent, p| Box::pin(async move { agent.vote(&p).await }))
            .add_with::<Election>(|agent, e| Box::pin(async move { agent.rank(&e).await }))
            .add_with::<Agreement>(|agent, q| Box::pin(async move { agent.agree(&q).await }));
        self
    }

    /// Takes part in auctions ([`Bidder`]).
    pub fn bidder(&mut self) -> &mut Self
    where
        A: Bidder,
    {
        self.accepts
            .add_with::<CallForBids>(|agent, c| Box::pin(async move { agent.bid(&c).await }))
            .add_with::<AuctionRequest>(|agent, r| {
                Box::pin(async move { agent.auction(&r).await })
            });
        self
    }

    /// Takes part in negotiations ([`Negotiator`]).
    pub fn negotiator(&mut self) -> &mut Self
    where
        A: Negotiator,
    {
        self.accepts.add_with::<NegotiationRequest>(|agent, r| {
            Box::pin(async move { agent.negotiate(&r).await })
        });
        self
    }

    /// Takes part in markets ([`Trader`]).
    pub fn trader(&mut self) -> &mut Self
    where
        A: Trader,
    {
        self.accepts
            .add_with::<MarketRequest>(|agent, r| Box::pin(async move { agent.trade(&r).await }));
        self
    }

    /// Takes part in games ([`Player`]).
    pub fn player(&mut self) -> &mut Self
    where
        A: Player,
    {
        self.accepts
            .add_with::<GameRequest>(|agent, r| Box::pin(async move { agent.play(&r).await }));
        self
    }
}

/// Each protocol request is a [`Message`] whose reply is the agent's answer.
macro_rules! protocol_message {
    ($($ty:ty => $reply:ty, $tag:literal;)*) => {$(
        impl Message for $ty {
            type Reply = $reply;
            const TAG: &'static str = $tag;
        }
    )*};
}

protocol_message! {
    Proposal => Option<bool>, "foundation.vote/1";
    Election => Option<Vec<String>>, "foundation.rank/1";
    Agreement => Option<Value>, "foundation.agree/1";
    CallForBids => Option<f64>, "foundation.bid/1";
    AuctionRequest => AuctionReply, "foundation.auction/1";
    NegotiationRequest => NegotiationReply, "foundation.negotiate/1";
    MarketRequest => MarketReply, "foundation.trade/1";
    GameRequest => GameReply, "foundation.play/1";
    Rejected => (), "foundation.rejected/1";
    Describe => Description, "foundation.describe/1";
}

/// Tells an agent that its answer to `protocol` was set aside, for
/// `reason` (see [`Agent::rejected`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejected {
    /// The protocol, e.g. `sealed_bid_auction`.
    pub protocol: String,
    /// Why the answer was set aside.
    pub reason: String,
}

/// Asks an agent to describe itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Describe;

/// An agent's id and capabilities, its answer to [`Describe`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Description {
    /// Its id.
    pub id: String,
    /// Its capabilities.
    pub capabilities: Vec<String>,
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
/// [`Node::server_spec_with`](actor_cluster::Node::server_spec_with)):
/// every family's request is answered, by the family the agent named or
/// else with a refusal (it abstains, declines or passes).
pub(crate) fn answer_protocols<A: Agent>(accepts: &mut Accepts<A>) {
    accepts
        .add_with::<Proposal>(|_, _| Box::pin(async { None }))
        .add_with::<Election>(|_, _| Box::pin(async { None }))
        .add_with::<Agreement>(|_, _| Box::pin(async { None }))
        .add_with::<CallForBids>(|_, _| Box::pin(async { None }))
        .add_with::<AuctionRequest>(|_, _| Box::pin(async { AuctionReply::Decline }))
        .add_with::<NegotiationRequest>(|_, _| Box::pin(async { NegotiationReply::Decline }))
        .add_with::<MarketRequest>(|_, _| Box::pin(async { MarketReply::Decline }))
        .add_with::<GameRequest>(|_, _| Box::pin(async { GameReply::Decline }))
        .add_with::<Rejected>(|agent, r| {
            Box::pin(async move { agent.rejected(&r.protocol, &r.reason).await })
        })
        .add_with::<Describe>(|agent, _| {
            Box::pin(async move {
                Description {
                    id: agent.id(),
                    capabilities: agent.capabilities(),
                }
            })
        });
    A::families(&mut Families { accepts });
}
