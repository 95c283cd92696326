//! The continuous double auction as a service: a supervised market actor
//! holding an [`OrderBook`], registered cluster-wide as `market/<name>`,
//! and [`Market`], the typed handle that reaches it from any node.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use actor_cluster::{ClusterError, Node, Ref, Request};
use actor_core::{ChildSpec, Restart};
use ractor::{Actor, ActorProcessingErr, ActorRef, Message};
use serde::{Deserialize, Serialize};

use super::check_name;
use super::{Level, LimitOrder, MarketError, OrderBook, OrderId, RestingOrder, Side, Trade};
use crate::agent::agent_name;
use crate::error::{AgentError, Result};
use crate::system::AgentRef;

/// The prefix of a market's cluster-wide name: market `gpu` is `market/gpu`.
pub const MARKET_PREFIX: &str = "market/";

/// How many trades a market keeps for [`Market::trades`]; older ones are
/// dropped (their sequence numbers are not reused).
pub const TRADE_LOG_LIMIT: usize = 100_000;

/// How long an owner that is not an agent is remembered as such before the
/// directory is asked again.
const NOT_AN_AGENT_FOR: Duration = Duration::from_secs(1);

/// The cluster-wide name of market `name`.
fn market_name(name: &str) -> String {
    format!("{MARKET_PREFIX}{name}")
}

/// A limit order for a [`Market`]; the market gives it its id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewOrder {
    /// Who owns it: if this is an agent's id, the agent is told of every
    /// trade of the order ([`Trader::traded`](crate::Trader::traded)).
    pub agent: String,
    /// Buy or sell.
    pub side: Side,
    /// The limit: the most a buyer pays, the least a seller takes, per unit.
    pub price: f64,
    /// Units.
    pub quantity: u64,
}

impl NewOrder {
    /// A buy order of `agent` for `quantity` units at `price` at most.
    pub fn buy(agent: impl Into<String>, price: f64, quantity: u64) -> Self {
        Self {
            agent: agent.into(),
            side: Side::Buy,
            price,
            quantity,
        }
    }

    /// A sell order of `agent` for `quantity` units at `price` at least.
    pub fn sell(agent: impl Into<String>, price: f64, quantity: u64) -> Self {
        Self {
            agent: agent.into(),
            side: Side::Sell,
            price,
            quantity,
        }
    }
}

/// What became of a submitted order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Submitted {
    /// The id the market gave it (for [`Market::cancel`]).
    pub id: OrderId,
    /// The trades it made at once, each at the resting order's price.
    pub trades: Vec<Trade>,
    /// Units left resting in the book (0: filled completely).
    pub resting: u64,
}

/// A view of a market's book.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BookSnapshot {
    /// The market.
    pub market: String,
    /// The highest resting bid.
    pub best_bid: Option<f64>,
    /// The lowest resting ask.
    pub best_ask: Option<f64>,
    /// Bid levels, best (highest) first, at most the depth asked for.
    pub bids: Vec<Level>,
    /// Ask levels, best (lowest) first, at most the depth asked for.
    pub asks: Vec<Level>,
    /// Resting orders.
    pub orders: usize,
    /// Trades so far.
    pub trades: u64,
    /// The price of the last trade.
    pub last_price: Option<f64>,
}

/// Trades from a market's log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TradeLog {
    /// The sequence number of the first trade returned (trade `n` is the
    /// market's `n`-th, counting from 0).
    pub first: u64,
    /// The trades, oldest first.
    pub trades: Vec<Trade>,
    /// Trades so far; ask again from here for the next ones.
    pub total: u64,
}

/// What a market actor is asked (carried across nodes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum MarketCommand {
    /// Submit a limit order.
    Submit(NewOrder),
    /// Cancel a resting order.
    Cancel(OrderId),
    /// The book, `depth` levels a side.
    Book {
        /// Levels a side.
        depth: usize,
    },
    /// The trades from sequence number `since` on.
    Trades {
        /// The first sequence number wanted.
        since: u64,
    },
    /// Stop the market.
    Close,
}

/// A market actor's answer to a [`MarketCommand`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum MarketResponse {
    /// The order's trades, or why it was refused.
    Submitted(std::result::Result<Submitted, MarketError>),
    /// The cancelled order with its open units, or why not.
    Cancelled(std::result::Result<RestingOrder, MarketError>),
    /// The book.
    Book(BookSnapshot),
    /// Trades from the log.
    Trades(TradeLog),
    /// The market is stopping.
    Closed,
}

/// The market actor's message.
type MarketMsg = Request<MarketCommand>;

impl actor_cluster::Message for MarketCommand {
    type Reply = MarketResponse;
    const TAG: &'static str = "foundation.market.command/1";
}

/// The market actor: one book, its trade log, and a channel to the task
/// that tells owners of their trades.
struct MarketActor;

struct MarketState {
    name: String,
    book: OrderBook,
    next_id: OrderId,
    log: VecDeque<Trade>,
    /// Sequence number of `log[0]`.
    log_start: u64,
    /// The linked actor that tells owners of their trades (none in unit tests).
    notices: Option<ActorRef<Notice>>,
}

impl MarketState {
    fn submit(&mut self, order: NewOrder) -> std::result::Result<Submitted, MarketError> {
        let id = self.next_id;
        let quantity = order.quantity;
        let trades = self.book.submit(LimitOrder {
            id,
            agent: order.agent,
            side: order.side,
            price: order.price,
            quantity,
        })?;
        self.next_id += 1;
        let traded: u64 = trades.iter().map(|t| t.quantity).sum();
        for trade in &trades {
            if let Some(notices) = &self.notices {
                let _ = notices.send_message(Notice(trade.clone()));
            }
            if self.log.len() == TRADE_LOG_LIMIT {
                self.log.pop_front();
                self.log_start += 1;
            }
            self.log.push_back(trade.clone());
        }
        metrics::counter!("foundation_market_orders_total", "market" => self.name.clone())
            .increment(1);
        Ok(Submitted {
            id,
            trades,
            resting: quantity - traded,
        })
    }

    fn snapshot(&self, depth: usize) -> BookSnapshot {
        let levels = |side| self.book.depth(side).into_iter().take(depth).collect();
        BookSnapshot {
            market: self.name.clone(),
            best_bid: self.book.best_bid(),
            best_ask: self.book.best_ask(),
            bids: levels(Side::Buy),
            asks: levels(Side::Sell),
            orders: self.book.len(),
            trades: self.log_start + self.log.len() as u64,
            last_price: self.log.back().map(|t| t.price),
        }
    }

    fn trades(&self, since: u64) -> TradeLog {
        let first = since.max(self.log_start);
        let skip = usize::try_from(first - self.log_start).unwrap_or(usize::MAX);
        TradeLog {
            first,
            trades: self.log.iter().skip(skip).cloned().collect(),
            total: self.log_start + self.log.len() as u64,
        }
    }
}

impl Actor for MarketActor {
    type Msg = MarketMsg;
    type State = MarketState;
    type Arguments = (Node, String);

    async fn pre_start(
        &self,
        myself: ActorRef<MarketMsg>,
        (node, name): (Node, String),
    ) -> std::result::Result<MarketState, ActorProcessingErr> {
        node.register(&market_name(&name), &myself).await?;
        // Owners are told off the market's path, by a child linked to it.
        let (notices, _) =
            Actor::spawn_linked(None, OwnerNotifier, (node, name.clone()), myself.get_cell())
                .await?;
        tracing::info!(market = %name, "market open");
        Ok(MarketState {
            name,
            book: OrderBook::new(),
            next_id: 1,
            log: VecDeque::new(),
            log_start: 0,
            notices: Some(notices),
        })
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<MarketMsg>,
        state: &mut MarketState,
    ) -> std::result::Result<(), ActorProcessingErr> {
        if let Some(notices) = &state.notices {
            notices.stop(None);
        }
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<MarketMsg>,
        request: MarketMsg,
        state: &mut MarketState,
    ) -> std::result::Result<(), ActorProcessingErr> {
        let (command, reply) = request.into_parts();
        let answer = match command {
            MarketCommand::Submit(order) => MarketResponse::Submitted(state.submit(order)),
            MarketCommand::Cancel(id) => MarketResponse::Cancelled(state.book.cancel(id)),
            MarketCommand::Book { depth } => MarketResponse::Book(state.snapshot(depth)),
            MarketCommand::Trades { since } => MarketResponse::Trades(state.trades(since)),
            MarketCommand::Close => {
                tracing::info!(market = %state.name, "market closed");
                myself.stop(None);
                MarketResponse::Closed
            }
        };
        reply.send(answer);
        Ok(())
    }
}

/// A trade whose owners are to be told.
struct Notice(Trade);

impl Message for Notice {}

/// Tells the owners of each trade that are agents (found in the directory)
/// about it, off the market's path; a child linked to its market.
struct OwnerNotifier;

struct NotifierState {
    node: Node,
    market: String,
    /// Agents found.
    found: HashMap<String, AgentRef>,
    /// Owners found not to be agents, asked again after a while.
    not_agents: HashMap<String, Instant>,
}

impl Actor for OwnerNotifier {
    type Msg = Notice;
    type State = NotifierState;
    type Arguments = (Node, String);

    async fn pre_start(
        &self,
        _myself: ActorRef<Notice>,
        (node, market): (Node, String),
    ) -> std::result::Result<NotifierState, ActorProcessingErr> {
        Ok(NotifierState {
            node,
            market,
            found: HashMap::new(),
            not_agents: HashMap::new(),
        })
    }

    async fn handle(
        &self,
        _myself: ActorRef<Notice>,
        Notice(trade): Notice,
        state: &mut NotifierState,
    ) -> std::result::Result<(), ActorProcessingErr> {
        let mut owners = vec![trade.buyer.clone()];
        if trade.seller != trade.buyer {
            owners.push(trade.seller.clone());
        }
        for owner in owners {
            if state
                .not_agents
                .get(&owner)
                .is_some_and(|at| at.elapsed() < NOT_AN_AGENT_FOR)
            {
                continue;
            }
            let agent = match state.found.get(&owner) {
                Some(agent) => agent.clone(),
                None => match state.node.lookup(&agent_name(&owner)).await {
                    Ok(agent) => {
                        state.found.insert(owner.clone(), agent);
                        state.found[&owner].clone()
                    }
                    Err(_) => {
                        state.not_agents.insert(owner, Instant::now());
                        continue;
                    }
                },
            };
            let notice = super::Traded {
                market: state.market.clone(),
                trade: trade.clone(),
            };
            if agent.tell(notice).is_err() {
                state.found.remove(&owner);
            }
        }
        Ok(())
    }
}

/// A continuous double auction anywhere in the cluster: the same calls
/// work on the node that runs it and from any other node.
///
/// The market is an actor holding an [`OrderBook`] (price-time priority;
/// an incoming order trades at once at the resting orders' prices, partial
/// fills, the rest rests), started under the node's supervisor and
/// registered cluster-wide as `market/<name>`. It gives each order its id,
/// keeps the last [`TRADE_LOG_LIMIT`] trades, and tells the owner of each
/// trade, if the owner is an agent, with [`Traded`](super::Traded). It is
/// restarted if it ever fails, with an empty book.
///
/// # Examples
///
/// ```
/// use agents::protocols::market::{Market, NewOrder};
///
/// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let node = actor_cluster::Node::builder()
///     .name("doc").cookie("secret").listen("127.0.0.1:0".parse()?).no_discovery()
///     .start().await?;
/// let gpu = Market::start(&node, "gpu").await?;
/// gpu.submit(NewOrder::sell("provider", 10.0, 5)).await?;
/// let done = gpu.submit(NewOrder::buy("trainer", 12.0, 3)).await?;
/// assert_eq!((done.trades[0].price, done.trades[0].quantity), (10.0, 3));
/// assert_eq!(gpu.book(5).await?.asks[0].quantity, 2);
/// node.shutdown().await;
/// # Ok(()) }
/// ```
///
/// Dropping a handle leaves the market open; [`close`](Market::close) it.
#[derive(Debug, Clone)]
pub struct Market {
    name: String,
    market: Ref,
    timeout: Duration,
}

impl Market {
    /// Opens market `name` on `node`, under the node's supervisor, and
    /// returns its handle.
    ///
    /// # Errors
    /// [`AgentError::InvalidParameters`] for an empty name or one holding
    /// whitespace; [`AgentError::Cluster`] ([`ClusterError::NameTaken`]) if
    /// a market of that name is open anywhere in the cluster;
    /// [`AgentError::Core`] if the actor cannot start.
    pub async fn start(node: &Node, name: &str) -> Result<Self> {
        check_name("market", name)?;
        let registered = market_name(name);
        if let Ok(open) = node.lookup(&registered).await {
            return Err(AgentError::Cluster(ClusterError::NameTaken {
                name: registered,
                node: open.node().unwrap_or_else(|| node.name().to_owned()),
            }));
        }
        let args = (node.clone(), name.to_owned());
        let spec = ChildSpec::new(registered, move || (MarketActor, args.clone()))
            .restart(Restart::Transient);
        node.supervisor().start_child(spec).await?;
        Self::find(node, name).await
    }

    /// The handle of market `name`, wherever it runs.
    ///
    /// # Errors
    /// [`AgentError::UnknownMarket`] if no node runs it.
    pub async fn find(node: &Node, name: &str) -> Result<Self> {
        let market = node.lookup(&market_name(name)).await.map_err(|e| match e {
            ClusterError::UnknownName(_) => AgentError::UnknownMarket(name.to_owned()),
            other => other.into(),
        })?;
        Ok(Self {
            name: name.to_owned(),
            market,
            timeout: Duration::from_secs(5),
        })
    }

    /// The same handle, waiting at most `timeout` for each answer (5 s by
    /// default).
    #[must_use]
    pub fn timeout(self, timeout: Duration) -> Self {
        Self { timeout, ..self }
    }

    /// The market's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    async fn ask(&self, command: MarketCommand) -> Result<MarketResponse> {
        Ok(self.market.ask(command, self.timeout).await?)
    }

    /// Submits a limit order: it trades at once as far as its limit allows,
    /// each trade at the resting order's price, and the rest rests.
    ///
    /// # Errors
    /// [`AgentError::Market`] if the book refuses it (negative or
    /// non-finite price, zero quantity, ...); [`AgentError::Cluster`] if the
    /// market does not answer in time or its node is gone.
    ///
    /// # Cancel safety
    /// Not cancel safe: the order may be in the book although the answer
    /// was dropped (look for it with [`book`](Self::book) or
    /// [`trades`](Self::trades)).
    pub async fn submit(&self, order: NewOrder) -> Result<Submitted> {
        match self.ask(MarketCommand::Submit(order)).await? {
            MarketResponse::Submitted(result) => Ok(result?),
            other => Err(unexpected(&other)),
        }
    }

    /// Cancels a resting order and returns it with its open units.
    ///
    /// # Errors
    /// [`AgentError::Market`] ([`MarketError::UnknownOrder`]) if no order
    /// with this id rests in the book; [`AgentError::Cluster`] as for
    /// [`submit`](Self::submit).
    pub async fn cancel(&self, id: OrderId) -> Result<RestingOrder> {
        match self.ask(MarketCommand::Cancel(id)).await? {
            MarketResponse::Cancelled(result) => Ok(result?),
            other => Err(unexpected(&other)),
        }
    }

    /// The book, `depth` price levels a side, with the best prices, the
    /// number of resting orders and of trades.
    ///
    /// # Errors
    /// [`AgentError::Cluster`] as for [`submit`](Self::submit).
    pub async fn book(&self, depth: usize) -> Result<BookSnapshot> {
        match self.ask(MarketCommand::Book { depth }).await? {
            MarketResponse::Book(book) => Ok(book),
            other => Err(unexpected(&other)),
        }
    }

    /// The trades from sequence number `since` on (0: all that are kept).
    ///
    /// # Errors
    /// [`AgentError::Cluster`] as for [`submit`](Self::submit).
    pub async fn trades(&self, since: u64) -> Result<TradeLog> {
        match self.ask(MarketCommand::Trades { since }).await? {
            MarketResponse::Trades(log) => Ok(log),
            other => Err(unexpected(&other)),
        }
    }

    /// Closes the market: its book and trade log are dropped and its name
    /// is released.
    ///
    /// # Errors
    /// [`AgentError::Cluster`] as for [`submit`](Self::submit).
    pub async fn close(self) -> Result<()> {
        match self.ask(MarketCommand::Close).await? {
            MarketResponse::Closed => Ok(()),
            other => Err(unexpected(&other)),
        }
    }
}

fn unexpected(answer: &MarketResponse) -> AgentError {
    AgentError::Internal {
        component: "market",
        reason: format!("it answered out of turn: {answer:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trade_log_keeps_sequence_numbers() {
        let mut state = MarketState {
            name: "m".into(),
            book: OrderBook::new(),
            next_id: 1,
            log: VecDeque::new(),
            log_start: 0,
            notices: None,
        };
        // Ask 1 x 5 @ 10, then three buys of 2 @ 11: trades 2, 2, 1 at 10; the last buy rests 1.
        assert_eq!(state.submit(NewOrder::sell("s", 10.0, 5)).unwrap().id, 1);
        for _ in 0..3 {
            state.submit(NewOrder::buy("b", 11.0, 2)).unwrap();
        }
        let log = state.trades(1);
        assert_eq!((log.first, log.total, log.trades.len()), (1, 3, 2));
        assert_eq!(log.trades[1].quantity, 1);
        let book = state.snapshot(10);
        assert_eq!(
            (book.best_bid, book.best_ask, book.orders),
            (Some(11.0), None, 1)
        );
        assert_eq!((book.trades, book.last_price), (3, Some(10.0)));
        // A refused order takes no id.
        assert!(state.submit(NewOrder::buy("b", f64::NAN, 1)).is_err());
        assert_eq!(state.submit(NewOrder::buy("b", 1.0, 1)).unwrap().id, 5);
    }
}
