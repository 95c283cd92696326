//! The [`Agent`] trait and the actor that runs an agent.

use std::collections::BTreeMap;
use std::future::Future;

use actor_cluster::{Accepts, Server};
use serde::{Deserialize, Serialize};

use crate::lifecycle::Health;
use crate::protocols::auction::{Bundles, CallForBids, Clock, MarginalValues, Raise, Units};
use crate::protocols::consensus::Agreement;
use crate::protocols::election::Election;
use crate::protocols::games::Move;
use crate::protocols::market::{
    CallForCompute, CallForOrders, Compute, Filled, Quote, Settled, Traded,
};
use crate::protocols::negotiation::{
    Award, CallForProposals, Cancel, CnpReply, Lost, Propose, Respond, Tender, Utilities,
};
use crate::protocols::voting::Proposal;
use crate::variables::{Evaluation, TrialStep, TrialStopped};

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
/// [`Negotiator`], [`Trader`], [`Player`], [`Evaluator`]) and naming it in
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

    /// What kind of agent it is, listed and queried cluster-wide
    /// ([`Query::kind`](crate::Query::kind)). The default is the type's
    /// name.
    fn kind(&self) -> String {
        let full = std::any::type_name::<Self>();
        let path = full.split('<').next().unwrap_or(full);
        path.rsplit("::").next().unwrap_or(path).to_owned()
    }

    /// Facts about the agent (a zone, a capacity, a model), listed and
    /// queried cluster-wide ([`Query::meta`](crate::Query::meta)); read
    /// when the agent is started. The default is none.
    fn metadata(&self) -> BTreeMap<String, Value> {
        BTreeMap::new()
    }

    /// The agent's own health check, asked on the interval of its
    /// [`AgentSpec`](crate::AgentSpec): [`Health::Unhealthy`] has it
    /// restarted by its restart policy, [`Health::Degraded`] is reported.
    /// An agent that does not answer in time is reported busy. The default
    /// is healthy.
    fn health(&mut self) -> impl Future<Output = Health> + Send {
        async { Health::Healthy }
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

/// Auctions: sealed bids and the interactive kinds. Every method defaults
/// to declining (no bid, no purchase).
pub trait Bidder: Agent {
    /// Answers a sealed-bid call with an amount, or `None` to decline.
    fn bid(&mut self, call: &CallForBids) -> impl Future<Output = Option<f64>> + Send {
        let _ = call;
        async { None }
    }

    /// Takes a turn in an English auction: a bid of at least
    /// `turn.minimum`, or `None` to pass.
    fn raise(&mut self, turn: &Raise) -> impl Future<Output = Option<f64>> + Send {
        let _ = turn;
        async { None }
    }

    /// Answers a Dutch auction's clock: `true` buys at `clock.price`.
    fn buy_at(&mut self, clock: &Clock) -> impl Future<Output = bool> + Send {
        let _ = clock;
        async { false }
    }

    /// Answers a multi-unit sealed-bid call with a bid for one unit, or
    /// `None` to decline.
    fn bid_units(&mut self, call: &Units) -> impl Future<Output = Option<f64>> + Send {
        let _ = call;
        async { None }
    }

    /// Answers a VCG auction with marginal values, first unit first, or
    /// `None` to decline.
    fn marginal_values(
        &mut self,
        call: &MarginalValues,
    ) -> impl Future<Output = Option<Vec<f64>>> + Send {
        let _ = call;
        async { None }
    }

    /// Answers a combinatorial auction with bids on bundles (the items of
    /// each bundle and its value), or `None` to decline.
    fn bundles(
        &mut self,
        call: &Bundles,
    ) -> impl Future<Output = Option<Vec<(Vec<String>, f64)>>> + Send {
        let _ = call;
        async { None }
    }
}

/// Negotiation: contract-net, alternating offers, monotonic concession.
/// Every method defaults to declining.
pub trait Negotiator: Agent {
    /// Answers a contract-net call with a proposal, or a refusal and its
    /// reason (the default refuses: "declined").
    fn tender(&mut self, call: &CallForProposals) -> impl Future<Output = CnpReply<Tender>> + Send {
        let _ = call;
        async {
            CnpReply::Refuse {
                reason: "declined".into(),
            }
        }
    }

    /// Does an awarded task: `Ok(result)` or `Err(reason)` (the default
    /// fails: "declined").
    fn perform(&mut self, award: &Award) -> impl Future<Output = Result<String, String>> + Send {
        let _ = award;
        async { Err("declined".into()) }
    }

    /// Told that its proposal did not win. The default does nothing.
    fn lost(&mut self, notice: &Lost) -> impl Future<Output = ()> + Send {
        let _ = notice;
        async {}
    }

    /// Told that the task it was awarded is cancelled. The default does
    /// nothing.
    fn cancelled(&mut self, notice: &Cancel) -> impl Future<Output = ()> + Send {
        let _ = notice;
        async {}
    }

    /// Proposes in alternating offers: the share of the unit surplus it
    /// keeps, or `None` to break off.
    fn offer(&mut self, turn: &Propose) -> impl Future<Output = Option<f64>> + Send {
        let _ = turn;
        async { None }
    }

    /// Responds in alternating offers: `true` accepts `offer.share`.
    fn respond(&mut self, offer: &Respond) -> impl Future<Output = bool> + Send {
        let _ = offer;
        async { false }
    }

    /// States its utility of each offer of a Zeuthen negotiation, or
    /// `None` to decline.
    fn utilities(&mut self, call: &Utilities) -> impl Future<Output = Option<Vec<f64>>> + Send {
        let _ = call;
        async { None }
    }
}

/// Markets: call markets, compute allocation, fills of the continuous
/// double auction. Every method defaults to declining or ignoring.
pub trait Trader: Agent {
    /// Answers a call market with bids and asks (none: it declines).
    fn orders(&mut self, call: &CallForOrders) -> impl Future<Output = Vec<Quote>> + Send {
        let _ = call;
        async { Vec::new() }
    }

    /// Answers a compute allocation with what it needs and offers (both
    /// `None`: it declines).
    fn compute(&mut self, call: &CallForCompute) -> impl Future<Output = Compute> + Send {
        let _ = call;
        async { Compute::default() }
    }

    /// Told its fills in a call market. The default does nothing.
    fn filled(&mut self, notice: &Filled) -> impl Future<Output = ()> + Send {
        let _ = notice;
        async {}
    }

    /// Told its settlement in a compute allocation. The default does
    /// nothing.
    fn settled(&mut self, notice: &Settled) -> impl Future<Output = ()> + Send {
        let _ = notice;
        async {}
    }

    /// Told that an order it owns traded in a continuous double auction.
    /// The default does nothing.
    fn traded(&mut self, notice: &Traded) -> impl Future<Output = ()> + Send {
        let _ = notice;
        async {}
    }
}

/// Games: moves in normal-form games.
pub trait Player: Agent {
    /// Chooses an action for a round, or `None` to sit it out (the round
    /// is void). The default sits out.
    fn play(&mut self, turn: &Move) -> impl Future<Output = Option<usize>> + Send {
        let _ = turn;
        async { None }
    }
}

/// Optimisation studies: evaluates trials step by step
/// ([`Variables::study`](crate::variables::Variables::study)).
pub trait Evaluator: Agent {
    /// Runs step `step.step` of trial `step.trial` with `step.params`
    /// (step 0 starts the trial) and answers the objective's value after
    /// it: [`Evaluation::Step`] for an intermediate value (the study then
    /// asks for the next step, or stops the trial), [`Evaluation::Done`]
    /// for the final one. `None` declines: the trial fails and the study
    /// asks this agent no more. The default declines.
    fn evaluate(&mut self, step: &TrialStep) -> impl Future<Output = Option<Evaluation>> + Send {
        let _ = step;
        async { None }
    }

    /// Told that the study stopped a trial this agent was evaluating
    /// (pruned, past its deadline): no more steps of it will be asked.
    /// The default does nothing.
    fn stopped(&mut self, notice: &TrialStopped) -> impl Future<Output = ()> + Send {
        let _ = notice;
        async {}
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
            .add_with::<Raise>(|agent, t| Box::pin(async move { agent.raise(&t).await }))
            .add_with::<Clock>(|agent, c| Box::pin(async move { agent.buy_at(&c).await }))
            .add_with::<Units>(|agent, c| Box::pin(async move { agent.bid_units(&c).await }))
            .add_with::<MarginalValues>(|agent, c| {
                Box::pin(async move { agent.marginal_values(&c).await })
            })
            .add_with::<Bundles>(|agent, c| Box::pin(async move { agent.bundles(&c).await }));
        self
    }

    /// Takes part in negotiations ([`Negotiator`]).
    pub fn negotiator(&mut self) -> &mut Self
    where
        A: Negotiator,
    {
        self.accepts
            .add_with::<CallForProposals>(|agent, c| {
                Box::pin(async move { agent.tender(&c).await })
            })
            .add_with::<Award>(|agent, a| Box::pin(async move { agent.perform(&a).await }))
            .add_with::<Lost>(|agent, n| Box::pin(async move { agent.lost(&n).await }))
            .add_with::<Cancel>(|agent, n| Box::pin(async move { agent.cancelled(&n).await }))
            .add_with::<Propose>(|agent, t| Box::pin(async move { agent.offer(&t).await }))
            .add_with::<Respond>(|agent, o| Box::pin(async move { agent.respond(&o).await }))
            .add_with::<Utilities>(|agent, c| Box::pin(async move { agent.utilities(&c).await }));
        self
    }

    /// Takes part in markets ([`Trader`]).
    pub fn trader(&mut self) -> &mut Self
    where
        A: Trader,
    {
        self.accepts
            .add_with::<CallForOrders>(|agent, c| Box::pin(async move { agent.orders(&c).await }))
            .add_with::<CallForCompute>(|agent, c| Box::pin(async move { agent.compute(&c).await }))
            .add_with::<Filled>(|agent, n| Box::pin(async move { agent.filled(&n).await }))
            .add_with::<Settled>(|agent, n| Box::pin(async move { agent.settled(&n).await }))
            .add_with::<Traded>(|agent, n| Box::pin(async move { agent.traded(&n).await }));
        self
    }

    /// Evaluates the trials of optimisation studies ([`Evaluator`]).
    pub fn evaluator(&mut self) -> &mut Self
    where
        A: Evaluator,
    {
        self.accepts
            .add_with::<TrialStep>(|agent, s| Box::pin(async move { agent.evaluate(&s).await }))
            .add_with::<TrialStopped>(|agent, n| Box::pin(async move { agent.stopped(&n).await }));
        self
    }

    /// Takes part in games ([`Player`]).
    pub fn player(&mut self) -> &mut Self
    where
        A: Player,
    {
        self.accepts
            .add_with::<Move>(|agent, t| Box::pin(async move { agent.play(&t).await }));
        self
    }
}

crate::protocol_messages! {
    Rejected => (), "foundation.rejected/1";
    Describe => Description, "foundation.describe/1";
    HealthCheck => Health, "foundation.health/1";
}

/// Asks an agent for its health ([`Agent::health`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthCheck;

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
        .add_with::<Raise>(|_, _| Box::pin(async { None }))
        .add_with::<Clock>(|_, _| Box::pin(async { false }))
        .add_with::<Units>(|_, _| Box::pin(async { None }))
        .add_with::<MarginalValues>(|_, _| Box::pin(async { None }))
        .add_with::<Bundles>(|_, _| Box::pin(async { None }))
        .add_with::<CallForProposals>(|_, _| {
            Box::pin(async {
                CnpReply::Refuse {
                    reason: "declined".into(),
                }
            })
        })
        .add_with::<Award>(|_, _| Box::pin(async { Err("declined".into()) }))
        .add_with::<Lost>(|_, _| Box::pin(async {}))
        .add_with::<Cancel>(|_, _| Box::pin(async {}))
        .add_with::<Propose>(|_, _| Box::pin(async { None }))
        .add_with::<Respond>(|_, _| Box::pin(async { false }))
        .add_with::<Utilities>(|_, _| Box::pin(async { None }))
        .add_with::<CallForOrders>(|_, _| Box::pin(async { Vec::new() }))
        .add_with::<CallForCompute>(|_, _| Box::pin(async { Compute::default() }))
        .add_with::<Filled>(|_, _| Box::pin(async {}))
        .add_with::<Settled>(|_, _| Box::pin(async {}))
        .add_with::<Traded>(|_, _| Box::pin(async {}))
        .add_with::<Move>(|_, _| Box::pin(async { None }))
        .add_with::<TrialStep>(|_, _| Box::pin(async { None }))
        .add_with::<TrialStopped>(|_, _| Box::pin(async {}))
        .add_with::<Rejected>(|agent, r| {
            Box::pin(async move { agent.rejected(&r.protocol, &r.reason).await })
        })
        .add_with::<HealthCheck>(|agent, _| Box::pin(async move { agent.health().await }))
        .quiet::<HealthCheck>()
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
