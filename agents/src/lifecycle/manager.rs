//! The lifecycle manager of one node: `agents@<node>`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actor_cluster::{
    ClusterError, Message, NameEvent, Node, NodeEvent, PeerStatus, Ref, Reply, Request,
};
use actor_core::{ChildInfo, Fields, Restart, Supervisor};
use futures::future::join_all;
use ractor::{Actor, ActorProcessingErr, ActorRef};
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;
use tokio::sync::{broadcast, OwnedSemaphorePermit};
use tokio::time::Instant;

use super::replica::{Origin, Placed, Replica, Resume};
use super::{label, labels, Health, Kind, Kinds, Start, Started, Status};
use crate::agent::{agent_name, HealthCheck, Value, AGENT_PREFIX};
use crate::placement::{managers, owner, placed_owner, successors};

/// How often the manager looks at its agents.
const TICK: Duration = Duration::from_millis(200);
/// The longest an agent is given to answer its health check.
const MOST: Duration = Duration::from_secs(2);
/// The most agents checked in one tick (1,280 a second); the others wait
/// for the next, the longest overdue first.
const BATCH: usize = 256;

/// How many agents' labels one gateway call publishes.
const LABEL_BATCH: usize = 1024;

/// The group of every node's lifecycle manager: the ring's members are
/// listed without copying the whole name table.
pub(crate) const MANAGERS_GROUP: &str = "agents.managers";

/// What a lifecycle manager's name starts with; the node's name follows.
const MANAGER_PREFIX: &str = "agents@";

/// The name of node `node`'s lifecycle manager.
pub(crate) fn manager_name(node: &str) -> String {
    format!("{MANAGER_PREFIX}{node}")
}

/// Whether `name`, held by `node`, is that node's lifecycle manager (as
/// `manager_name`, without building the name: every name event asks).
pub(crate) fn is_manager(name: &str, node: &str) -> bool {
    name.strip_prefix(MANAGER_PREFIX) == Some(node)
}

/// What the manager is asked: by the agents of its node (track one), by
/// any node (stop or restart one), by its own timer (tick).
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Control {
    /// Follow newly started agents of this node (told only by this
    /// node's own handles: never sent between nodes), with the permits of
    /// a batched spawn's backlog, given back once they are tracked.
    #[serde(skip)]
    Track(Vec<Tracking>, Option<OwnedSemaphorePermit>),
    /// Start an agent of a kind registered on this node
    /// ([`Agents::register_kind`](crate::Agents::register_kind)) from its
    /// encoded arguments.
    Spawn {
        kind: String,
        args: ByteBuf,
        /// The caller expects an actor kind (answered with the actor's
        /// name) rather than an agent kind (answered with the agent's id).
        #[serde(default)]
        actor: bool,
        /// The key and constraints it is placed by, if any.
        #[serde(default)]
        placed: Option<Placed>,
    },
    /// Stop an agent of this node for good.
    Stop { id: String },
    /// Restart an agent of this node.
    Restart { id: String },
    /// Look at the agents (the manager's own timer).
    Tick,
    /// The state of agent `id` of this node changed (its own hook).
    Checkpoint {
        id: String,
        version: u64,
        state: ByteBuf,
    },
    /// Hold this copy of the record of another node's agent.
    Replica(Replica),
    /// Forget the copy of agent `id`'s record (it stopped for good, or this
    /// node no longer holds one of its copies).
    Release { id: String },
    /// The record of an agent whose node is down, from another holder: this
    /// node is its new home.
    Handoff(Replica),
}

/// Why a [`Control`] was refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Refused {
    /// No such agent on this node.
    Unknown,
    /// No such kind registered on this node.
    UnknownKind(String),
    /// It cannot be done, and why.
    Cannot(String),
}

/// What the manager is told of an agent it is to follow.
#[derive(Debug, Clone)]
pub(crate) struct Tracking {
    /// Its registered name (`agent/<id>`), the copy its supervisor and the
    /// gateway hold: the manager's record shares it.
    pub(crate) name: Arc<str>,
    /// Its kind, the process's one copy of it.
    pub(crate) kind: Arc<str>,
    pub(crate) metadata: BTreeMap<String, Value>,
    pub(crate) restart: Policy,
    pub(crate) every_ms: u64,
    /// The registered kind and arguments it was started from, if any: an
    /// agent with an origin and a permanent or transient policy can move.
    pub(crate) origin: Option<Origin>,
    /// How many other nodes hold its record.
    pub(crate) copies: u32,
    pub(crate) epoch: u64,
    /// The version of `state`.
    pub(crate) version: u64,
    /// The state it started from, if it moved here.
    pub(crate) state: Option<ByteBuf>,
    /// The status its name was registered with (starting, or passivated
    /// for an agent started asleep): the manager starts from it.
    pub(crate) status: Status,
}

impl Tracking {
    /// The id of the agent it follows.
    pub(crate) fn id(&self) -> &str {
        self.name.strip_prefix(AGENT_PREFIX).unwrap_or(&self.name)
    }

    /// Logs that the agent it follows started on `node`.
    pub(crate) fn started(&self, node: &Node) {
        let (id, node, epoch) = (self.id(), node.name(), self.epoch);
        if self.status == Status::Passivated {
            tracing::debug!(agent = %id, node = %node, epoch, "agent started asleep");
        } else {
            tracing::info!(agent = %id, node = %node, epoch, "agent started");
        }
    }
}

/// The answer to a [`Control`]: the id of the agent concerned.
impl Message for Control {
    type Reply = Result<String, Refused>;
    const TAG: &'static str = "foundation.agents.control/1";
}

/// [`Restart`] as it travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub(crate) enum Policy {
    Permanent,
    Transient,
    Temporary,
}

impl From<Restart> for Policy {
    fn from(restart: Restart) -> Self {
        match restart {
            Restart::Transient => Policy::Transient,
            Restart::Temporary => Policy::Temporary,
            _ => Policy::Permanent,
        }
    }
}

/// What agents started alike have in common: one copy for all the agents
/// of a kind with no metadata of their own, policy and interval alike.
#[derive(Debug, PartialEq)]
struct Profile {
    kind: Arc<str>,
    metadata: BTreeMap<String, Value>,
    restart: Policy,
    every: Duration,
}

/// An agent's id as the key of its record: its registered name
/// (`agent/<id>`), one copy shared with its supervisor's and its gateway's
/// tables; it hashes, compares and borrows as the id.
#[derive(Debug, Clone)]
struct AgentKey(Arc<str>);

impl AgentKey {
    /// The key of agent `id`, with a name of its own.
    fn of(id: &str) -> Self {
        Self(agent_name(id).into())
    }

    /// The key of the agent registered as `name` (`agent/<id>`).
    fn named(name: Arc<str>) -> Self {
        if name.starts_with(AGENT_PREFIX) {
            Self(name)
        } else {
            Self::of(&name)
        }
    }

    #[inline]
    fn id(&self) -> &str {
        &self.0[AGENT_PREFIX.len()..]
    }
}

impl std::borrow::Borrow<str> for AgentKey {
    #[inline]
    fn borrow(&self) -> &str {
        self.id()
    }
}

impl PartialEq for AgentKey {
    fn eq(&self, other: &Self) -> bool {
        self.id() == other.id()
    }
}

impl Eq for AgentKey {}

impl Ord for AgentKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.id().cmp(other.id())
    }
}

impl PartialOrd for AgentKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl std::hash::Hash for AgentKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.id().hash(state);
    }
}

/// One agent as its manager follows it.
struct Tracked {
    profile: Arc<Profile>,
    status: Status,
    restarts: u32,
    /// Its last health and since when (Unix milliseconds); boxed, as most
    /// agents of a node passivated by the thousand have none.
    health: Option<Box<(Health, u64)>>,
    /// When its next health check is due (while it runs).
    due: Instant,
    /// Its actor runs: it is in the manager's queue of checks.
    awake: bool,
    /// How many times it moved by failover.
    epoch: u64,
    /// The status last kept in the node's journal.
    journaled: Option<Status>,
    /// Its child in the supervisor, as of the manager's last look (`None`
    /// once it is gone).
    child: Option<Child>,
}

impl Tracked {
    /// Sets its status; answers whether it changed.
    fn set_status(&mut self, status: Status) -> bool {
        let changed = self.status != status;
        self.status = status;
        changed
    }

    /// Sets its health; answers whether it changed.
    fn set_health(&mut self, health: Health) -> bool {
        let changed = self.health.as_ref().map(|h| &h.0) != Some(&health);
        if changed {
            self.health = Some(Box::new((health, now_ms())));
        }
        changed
    }
}

/// Sets when agent `id` is next checked and whether its actor runs,
/// keeping `checks` (the running agents by when they are due) in step.
fn schedule(
    checks: &mut BTreeSet<(Instant, AgentKey)>,
    id: &AgentKey,
    agent: &mut Tracked,
    due: Instant,
    awake: bool,
) {
    if agent.awake == awake && agent.due == due {
        return;
    }
    if agent.awake {
        checks.remove(&(agent.due, id.clone()));
    }
    agent.due = due;
    agent.awake = awake;
    if awake {
        checks.insert((due, id.clone()));
    }
}

/// What this node knows of one of its agents that can move to another
/// node: what its copies hold.
struct Record {
    origin: Origin,
    restart: Policy,
    copies: usize,
    epoch: u64,
    version: u64,
    state: Option<ByteBuf>,
    /// The nodes that hold a copy.
    holders: Vec<String>,
}

/// What the manager keeps of an agent's child in the supervisor (of a
/// hundred thousand: not its id again, nor its policy, which it knows).
struct Child {
    /// Its current actor, if it runs.
    actor: Option<ractor::ActorCell>,
    restarts: u32,
    /// Passivated, waiting to be woken.
    dormant: bool,
}

/// The manager's state.
pub(crate) struct State {
    node: Node,
    supervisor: Supervisor,
    kinds: Kinds,
    agents: hashbrown::HashMap<AgentKey, Tracked>,
    /// The agents whose labels need publishing.
    dirty: BTreeSet<String>,
    /// The agents tracked since the last tick, looked at by the next.
    fresh: Vec<AgentKey>,
    /// The agents whose actor runs (the only ones checked), by when their
    /// next check is due: a tick checks the most overdue, and looks at
    /// these, the fresh ones and those whose child changed, not at every
    /// agent (a hundred thousand asleep cost it nothing).
    checks: BTreeSet<(Instant, AgentKey)>,
    /// The agents' count by status needs publishing.
    recount: bool,
    /// The supervisor's agent children not tracked (yet): one can be seen
    /// before its agent's `Track` comes. The others are in their `Tracked`,
    /// as of generation `seen` (kept up to date from the supervisor's
    /// changes, not copied each tick).
    untracked: HashMap<String, Child>,
    seen: u64,
    /// The records of this node's agents that can move.
    records: BTreeMap<String, Record>,
    /// Records of this node's agents not yet copied to their holders.
    unplaced: BTreeSet<String>,
    /// Copies of other nodes' agents' records held here.
    replicas: BTreeMap<String, Replica>,
    /// Other nodes' managers, as resolved.
    managers: BTreeMap<String, Ref>,
    events: broadcast::Receiver<NodeEvent>,
    names: broadcast::Receiver<NameEvent>,
    /// The ring's members changed since the records were last placed.
    ring_changed: bool,
    /// Records of agents whose node went down and whose placement no live
    /// member meets: placed when the ring's members or their attributes
    /// change.
    stranded: BTreeMap<String, Replica>,
    /// The profiles of agents without metadata, by kind, policy and
    /// interval (a few, shared by all of them).
    profiles: HashMap<(Arc<str>, Policy, Duration), Arc<Profile>>,
}

/// The lifecycle manager actor.
pub(crate) struct Manager;

impl Actor for Manager {
    type Msg = Request<Control>;
    type State = State;
    type Arguments = (Node, Supervisor, Kinds);

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        (node, supervisor, kinds): (Node, Supervisor, Kinds),
    ) -> Result<State, ActorProcessingErr> {
        node.register_in(&manager_name(node.name()), [MANAGERS_GROUP], &myself)
            .await?;
        myself.send_interval(TICK, || Request {
            msg: Control::Tick,
            reply: Reply::none(),
        });
        Ok(State {
            events: node.subscribe(),
            names: node.watch_names(),
            node,
            supervisor,
            kinds,
            agents: hashbrown::HashMap::default(),
            dirty: BTreeSet::new(),
            fresh: Vec::new(),
            checks: BTreeSet::new(),
            recount: false,
            untracked: HashMap::new(),
            seen: 0,
            records: BTreeMap::new(),
            unplaced: BTreeSet::new(),
            replicas: BTreeMap::new(),
            managers: BTreeMap::new(),
            ring_changed: false,
            stranded: BTreeMap::new(),
            profiles: HashMap::new(),
        })
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        request: Self::Msg,
        state: &mut State,
    ) -> Result<(), ActorProcessingErr> {
        let (control, reply) = request.into_parts();
        let answer = match control {
            Control::Track(trackings, permit) => {
                for tracking in trackings {
                    state.track(tracking);
                }
                drop(permit);
                Ok(String::new())
            }
            Control::Spawn {
                kind,
                args,
                actor,
                placed,
            } => state.spawn(&kind, args.into_vec(), actor, placed).await,
            Control::Stop { id } => state.stop(&id).await.map(|()| id),
            Control::Restart { id } => state.restart(&id).await.map(|()| id),
            Control::Tick => {
                state.tick().await;
                Ok(String::new())
            }
            Control::Checkpoint {
                id,
                version,
                state: copy,
            } => {
                state.checkpoint(&id, version, copy).await;
                Ok(id)
            }
            Control::Replica(replica) => Ok(state.hold(replica)),
            Control::Release { id } => {
                state.replicas.remove(&id);
                Ok(id)
            }
            Control::Handoff(replica) => {
                let id = replica.id.clone();
                state.handed(replica).await;
                Ok(id)
            }
        };
        reply.send(answer);
        Ok(())
    }
}

impl State {
    /// Follows a newly started agent and journals its first status; the
    /// next tick looks at it. It was registered with its labels: only an
    /// agent that can move (whose labels say where its state is copied)
    /// is published again.
    fn track(&mut self, tracking: Tracking) {
        let Tracking {
            name,
            kind,
            metadata,
            restart,
            every_ms,
            origin,
            copies,
            epoch,
            version,
            state,
            status,
        } = tracking;
        let key = AgentKey::named(name);
        let id = key.id();
        let movable = origin.is_some() && restart != Policy::Temporary;
        if let Some(origin) = origin.filter(|_| movable) {
            self.records.insert(
                id.to_owned(),
                Record {
                    origin,
                    restart,
                    copies: copies as usize,
                    epoch,
                    version,
                    state,
                    holders: Vec::new(),
                },
            );
            self.unplaced.insert(id.to_owned());
        }
        // First checks spread over the interval: a thousand agents started
        // at once are not all asked at once.
        let every = Duration::from_millis(every_ms);
        let spread = crate::hash::fnv1a(id.as_bytes()) % every_ms.max(1);
        journal_status(&self.node, id, status, None, &kind, epoch);
        let profile = if metadata.is_empty() {
            let key = (Arc::clone(&kind), restart, every);
            let profile = self.profiles.entry(key).or_insert_with(|| {
                let (metadata, kind) = (BTreeMap::new(), Arc::clone(&kind));
                Arc::new(Profile {
                    kind,
                    metadata,
                    restart,
                    every,
                })
            });
            Arc::clone(profile)
        } else {
            Arc::new(Profile {
                kind,
                metadata,
                restart,
                every,
            })
        };
        let child = self.untracked.remove(id);
        let replaced = self.agents.insert(
            key.clone(),
            Tracked {
                profile,
                status,
                restarts: 0,
                health: None,
                due: Instant::now() + Duration::from_millis(spread),
                awake: false,
                epoch,
                journaled: Some(status),
                child,
            },
        );
        // Followed already (never, as a spawn of a running id is refused;
        // but a stale entry would be checked every tick).
        if let Some(old) = replaced.filter(|old| old.awake) {
            self.checks.remove(&(old.due, key.clone()));
        }
        if movable {
            self.dirty.insert(id.to_owned());
        }
        self.fresh.push(key);
        self.recount = true;
    }

    /// Starts an agent (or, with `actor`, an actor) of registered kind
    /// `kind` from `args`, placed by a key if `placed`; answers its id (or
    /// name).
    async fn spawn(
        &mut self,
        kind: &str,
        args: Vec<u8>,
        actor: bool,
        placed: Option<Placed>,
    ) -> Result<String, Refused> {
        let found = self
            .kinds
            .get(kind)
            .ok_or_else(|| Refused::UnknownKind(kind.to_owned()))?;
        if found.actor != actor {
            let (is, with) = if found.actor {
                ("an actor kind", "spawn_actor_on")
            } else {
                ("an agent kind", "spawn_on")
            };
            return Err(Refused::Cannot(format!(
                "`{kind}` is {is}: start it with {with}"
            )));
        }
        let start = Start {
            args,
            resume: None,
            placed,
        };
        let started = (found.start)(start, self.node.clone(), self.supervisor.clone())
            .await
            .map_err(|e| Refused::Cannot(e.to_string()))?;
        Ok(match started {
            Started::Agent(tracking) => {
                let id = tracking.id().to_owned();
                self.track(*tracking);
                id
            }
            Started::Actor(name) => name,
        })
    }

    /// Notices restarts and agents gone, checks the agents that are due,
    /// restarts the unhealthy ones, and publishes what changed.
    async fn tick(&mut self) {
        self.membership().await;
        // Bounded, in case the supervisor is busy stopping.
        let Ok(Ok(changes)) = tokio::time::timeout(MOST, self.supervisor.changes(self.seen)).await
        else {
            return;
        };
        // The agents to look at: those whose child changed, and those
        // tracked since the last tick (all of them after a full copy).
        // Keys shared with the records: no copy of an id each.
        let mut touched: Vec<AgentKey> = std::mem::take(&mut self.fresh);
        if changes.complete {
            self.untracked.clear();
            for (key, agent) in &mut self.agents {
                agent.child = None;
                touched.push(key.clone());
            }
        }
        for name in &changes.removed {
            if let Some(id) = name.strip_prefix(AGENT_PREFIX) {
                self.untracked.remove(id);
                if let Some((key, agent)) = self.agents.get_key_value_mut(id) {
                    agent.child = None;
                    touched.push(key.clone());
                }
            }
        }
        for ChildInfo {
            id: name,
            actor,
            restarts,
            dormant,
            ..
        } in changes.children
        {
            if let Some(id) = name.strip_prefix(AGENT_PREFIX) {
                let child = Child {
                    actor,
                    restarts,
                    dormant,
                };
                match self.agents.get_key_value_mut(id) {
                    Some((key, agent)) => {
                        agent.child = Some(child);
                        touched.push(key.clone());
                    }
                    None => {
                        self.untracked.insert(id.to_owned(), child);
                    }
                }
            }
        }
        self.seen = changes.generation;
        // Each once, in id order (sorted in place: a set built key by key
        // was a tenth of a batched spawn's work here).
        touched.sort_unstable();
        touched.dedup();
        let now = Instant::now();
        let mut gone = Vec::new();
        for id in touched {
            let Some(agent) = self.agents.get_mut(id.id()) else {
                continue;
            };
            let Some(&Child {
                ref actor,
                restarts,
                dormant,
            }) = agent.child.as_ref()
            else {
                // Stopped for good (its policy, or a stop): its name went
                // with it.
                self.forget(id.id());
                gone.push(id);
                continue;
            };
            let running = actor.is_some();
            let mut changed = false;
            let mut due = agent.due;
            if restarts > agent.restarts {
                // A new incarnation registered its name afresh.
                let fields = Fields::new()
                    .str("id", id.id())
                    .u64("restarts", u64::from(restarts));
                journal(&self.node, "agent.restarted", fields);
                metrics::counter!("foundation_agent_restarts_total", "kind" => agent.profile.kind.to_string())
                    .increment(u64::from(restarts - agent.restarts));
                agent.restarts = restarts;
                agent.status = Status::Starting;
                due = now;
                changed = true;
            }
            changed |= match running {
                false if dormant => agent.set_status(Status::Passivated),
                false => agent.set_status(Status::Starting),
                true if agent.status == Status::Passivated => {
                    // Woken by a message: checked at once (a check does
                    // not keep it awake).
                    due = now;
                    agent.set_status(Status::Ready)
                }
                true => false,
            };
            schedule(&mut self.checks, &id, agent, due, running);
            if changed {
                self.dirty.insert(id.id().to_owned());
            }
        }
        let due: Vec<AgentKey> = self
            .checks
            .iter()
            .take_while(|(due, _)| *due <= now)
            .take(BATCH)
            .map(|(_, id)| id.clone())
            .collect();
        for id in gone {
            journal(
                &self.node,
                "agent.stopped",
                Fields::new().str("id", id.id()),
            );
            self.release(id.id());
        }
        self.check(&due).await;
        self.place().await;
        self.publish().await;
    }

    /// Asks the agents `due` for their health, all at once.
    async fn check(&mut self, due: &[AgentKey]) {
        if due.is_empty() {
            return;
        }
        let names: Vec<String> = due.iter().map(|key| key.0.to_string()).collect();
        let Ok(refs) = self.node.lookup_many(&names).await else {
            return;
        };
        let asks = due.iter().zip(refs).map(|(id, found)| {
            let within = self.agents.get(id.id()).map_or(MOST, |a| {
                (a.profile.every / 2).clamp(Duration::from_millis(25), MOST)
            });
            async move {
                match found {
                    Ok(agent) => agent.ask(HealthCheck, within).await,
                    Err(e) => Err(e),
                }
            }
        });
        let answers = join_all(asks).await;
        let now = Instant::now();
        for (id, answer) in due.iter().zip(answers) {
            let Some(agent) = self.agents.get_mut(id.id()) else {
                continue;
            };
            let awake = agent.awake;
            schedule(
                &mut self.checks,
                id,
                agent,
                now + agent.profile.every,
                awake,
            );
            let changed = match answer {
                Ok(Health::Healthy) => {
                    agent.set_health(Health::Healthy) | agent.set_status(Status::Ready)
                }
                Ok(health @ Health::Degraded(_)) => {
                    agent.set_health(health) | agent.set_status(Status::Degraded)
                }
                Ok(health @ Health::Unhealthy(_)) => {
                    tracing::warn!(agent = %id.id(), %health, "unhealthy agent: restarting it by its policy");
                    if let Some(cell) = agent.child.as_ref().and_then(|c| c.actor.as_ref()) {
                        // A kill counts as a failure: the supervisor
                        // restarts it unless it is temporary.
                        cell.kill();
                    }
                    agent.set_health(health) | agent.set_status(Status::Failed)
                }
                Err(ClusterError::Timeout { .. }) => agent.set_status(Status::Busy),
                // Not registered (yet, or any more): between incarnations.
                Err(_) => agent.set_status(Status::Starting),
            };
            if changed {
                self.dirty.insert(id.id().to_owned());
            }
        }
    }

    /// Publishes the labels of every agent whose facts changed, in
    /// batches of [`LABEL_BATCH`] names per gateway call, each built just
    /// before it is sent: the labels of a hundred thousand agents started
    /// at once are never all in memory at once. Those not published (not
    /// registered yet) are tried again by the next tick.
    async fn publish(&mut self) {
        if self.dirty.is_empty() && !self.recount {
            return;
        }
        self.count_statuses();
        let mut pending = std::mem::take(&mut self.dirty).into_iter();
        loop {
            let ids: Vec<String> = pending.by_ref().take(LABEL_BATCH).collect();
            if ids.is_empty() {
                return;
            }
            let batch = self.labels_of(ids);
            if !self.publish_batch(batch).await {
                // This node is stopping: nothing more gets through.
                self.dirty.extend(pending);
                return;
            }
        }
    }

    /// Sets the gauge of the agents' count by status.
    fn count_statuses(&mut self) {
        self.recount = false;
        let mut by_status = [0u32; Status::ALL.len()];
        for agent in self.agents.values() {
            if let Some(i) = Status::ALL.iter().position(|s| *s == agent.status) {
                by_status[i] += 1;
            }
        }
        for (status, count) in Status::ALL.iter().zip(by_status) {
            metrics::gauge!("foundation_agents", "status" => status.as_str()).set(f64::from(count));
        }
    }

    /// The labels of agents `ids` (those still tracked); journals their
    /// status changes.
    fn labels_of(&mut self, ids: Vec<String>) -> Vec<(String, BTreeMap<String, String>)> {
        let mut batch = Vec::with_capacity(ids.len());
        for id in ids {
            let Some(agent) = self.agents.get_mut(id.as_str()) else {
                continue;
            };
            if agent.journaled != Some(agent.status) {
                let (status, was) = (agent.status, agent.journaled);
                journal_status(
                    &self.node,
                    &id,
                    status,
                    was,
                    &agent.profile.kind,
                    agent.epoch,
                );
                agent.journaled = Some(agent.status);
            }
            let mut labels = labels(
                &agent.profile.kind,
                &agent.profile.metadata,
                agent.status,
                agent.restarts,
                agent.epoch,
                agent.health.as_deref(),
            );
            if let Some(record) = self.records.get(&id) {
                labels.insert(label::STATE_VERSION.to_owned(), record.version.to_string());
                labels.insert(label::COPIES.to_owned(), record.holders.join(","));
            }
            batch.push((id, labels));
        }
        batch
    }

    /// Publishes these agents' labels in one gateway call; those not
    /// published wait for the next tick. Answers `false` if the call
    /// failed (this node is stopping).
    async fn publish_batch(&mut self, batch: Vec<(String, BTreeMap<String, String>)>) -> bool {
        let mut ids: Vec<String> = Vec::with_capacity(batch.len());
        let named = batch
            .into_iter()
            .map(|(id, labels)| {
                let name = agent_name(&id);
                ids.push(id);
                (name, labels)
            })
            .collect();
        let Ok(results) = self.node.set_labels_many(named).await else {
            self.dirty.extend(ids);
            return false;
        };
        for (id, result) in ids.into_iter().zip(results) {
            if let Err(e) = result {
                // Not registered yet: the next tick tries again.
                tracing::debug!(agent = %id, error = %e, "agent labels not published yet");
                self.dirty.insert(id);
            }
        }
        true
    }

    async fn stop(&mut self, id: &str) -> Result<(), Refused> {
        let agent = self.agents.get_mut(id).ok_or(Refused::Unknown)?;
        if agent.set_status(Status::Stopping) {
            self.dirty.insert(id.to_owned());
        }
        self.publish().await;
        self.forget(id);
        journal(&self.node, "agent.stopped", Fields::new().str("id", id));
        self.release(id);
        self.supervisor
            .terminate_child(&agent_name(id))
            .await
            .map_err(|e| Refused::Cannot(e.to_string()))
    }

    /// Stops following agent `id`; answers whether it was followed.
    fn forget(&mut self, id: &str) -> bool {
        self.dirty.remove(id);
        self.recount = true;
        let Some((key, agent)) = self.agents.remove_entry(id) else {
            return false;
        };
        if agent.awake {
            self.checks.remove(&(agent.due, key));
        }
        true
    }

    async fn restart(&mut self, id: &str) -> Result<(), Refused> {
        let agent = self.agents.get(id).ok_or(Refused::Unknown)?;
        if agent.profile.restart == Policy::Temporary {
            return Err(Refused::Cannot(format!(
                "`{id}` is temporary: it is never restarted"
            )));
        }
        let name = agent_name(id);
        let deadline = Instant::now() + MOST;
        let cell = loop {
            let child = self
                .supervisor
                .child(&name)
                .await
                .map_err(|e| Refused::Cannot(e.to_string()))?
                .ok_or(Refused::Unknown)?;
            match child.actor {
                Some(cell) => break cell,
                // A passivated agent is woken to be restarted.
                None if child.dormant && Instant::now() < deadline => {
                    self.supervisor.wake(&name);
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                None => return Err(Refused::Cannot(format!("`{id}` is restarting already"))),
            }
        };
        // Killed, it counts as a failure: permanent and transient agents
        // alike are started again.
        cell.kill();
        Ok(())
    }
}

/// Failover: copies of records, and agents of a node that went down.
impl State {
    /// Takes in what happened to the cluster since the last tick: agents
    /// that lost their id to another node's claim are stopped here, the
    /// records are placed again if the ring changed, and the agents of the
    /// nodes that went down are started again.
    async fn membership(&mut self) {
        let mut down = Vec::new();
        let mut ring_moved = false;
        let mut lost = Vec::new();
        loop {
            match self.events.try_recv() {
                Ok(NodeEvent::NodeDown { node, .. }) => {
                    self.managers.remove(&node);
                    down.push(node);
                }
                Ok(NodeEvent::NameConflict { name, winner, .. }) => lost.push((name, winner)),
                Ok(_) => {}
                Err(broadcast::error::TryRecvError::Lagged(n)) => {
                    tracing::warn!(missed = n, "lifecycle manager missed node events");
                }
                Err(_) => break,
            }
        }
        loop {
            match self.names.try_recv() {
                Ok(NameEvent::NameRegistered(info)) if is_manager(&info.name, &info.node) => {
                    ring_moved = true;
                }
                Ok(NameEvent::NameUnregistered { name, node }) if is_manager(&name, &node) => {
                    ring_moved = true;
                }
                Ok(_) => {}
                Err(broadcast::error::TryRecvError::Lagged(_)) => ring_moved = true,
                Err(_) => break,
            }
        }
        for (name, winner) in lost {
            self.lost(&name, &winner).await;
        }
        self.ring_changed |= ring_moved;
        for node in down {
            self.failover(&node).await;
        }
        if ring_moved && !self.stranded.is_empty() && self.node.quorum().await.is_ok() {
            let stranded = std::mem::take(&mut self.stranded);
            self.rehome(stranded.into_values().collect()).await;
        }
    }

    /// Agent `name` of this node lost its id to `winner`'s claim (the two
    /// sides of a healed partition both ran it; the one that moved holds
    /// the higher epoch): it is stopped for good here, and its copies are
    /// left to the winner, whose records are newer.
    async fn lost(&mut self, name: &str, winner: &str) {
        let Some(id) = name.strip_prefix(AGENT_PREFIX) else {
            return;
        };
        if !self.forget(id) {
            return;
        }
        self.records.remove(id);
        self.unplaced.remove(id);
        tracing::warn!(agent = %id, %winner, "agent runs on another node too, which keeps it: stopping it here");
        if let Err(e) = self.supervisor.terminate_child(name).await {
            tracing::debug!(agent = %id, error = %e, "agent already gone");
        }
    }

    /// This node's manager's view of `node`'s manager.
    async fn manager_of(&mut self, node: &str) -> Option<Ref> {
        if let Some(found) = self.managers.get(node) {
            return Some(found.clone());
        }
        let found = self.node.lookup(&manager_name(node)).await.ok()?;
        self.managers.insert(node.to_owned(), found.clone());
        Some(found)
    }

    /// Tells `node`'s manager `control`.
    async fn tell(&mut self, node: &str, control: Control) {
        let Some(manager) = self.manager_of(node).await else {
            tracing::debug!(%node, "no lifecycle manager there");
            return;
        };
        if manager.tell(control).is_err() {
            self.managers.remove(node);
        }
    }

    /// The record of agent `id` as its copies hold it.
    fn replica(&self, id: &str) -> Option<Replica> {
        let record = self.records.get(id)?;
        Some(Replica {
            id: id.to_owned(),
            home: self.node.name().to_owned(),
            origin: record.origin.clone(),
            restart: record.restart,
            epoch: record.epoch,
            version: record.version,
            state: record.state.clone(),
        })
    }

    /// Copies the records not yet placed (all of them, if the ring
    /// changed) to the nodes that follow each agent's id on the ring, and
    /// releases the copies of nodes that no longer do.
    async fn place(&mut self) {
        if !self.ring_changed && self.unplaced.is_empty() {
            return;
        }
        let Ok(members) = managers(&self.node).await else {
            return;
        };
        let me = self.node.name().to_owned();
        let others: Vec<&str> = members
            .iter()
            .map(|m| m.node.as_str())
            .filter(|n| *n != me)
            .collect();
        let ids: Vec<String> = if self.ring_changed {
            self.records.keys().cloned().collect()
        } else {
            self.unplaced.iter().cloned().collect()
        };
        self.ring_changed = false;
        self.unplaced.clear();
        for id in ids {
            let Some(record) = self.records.get_mut(&id) else {
                continue;
            };
            let holders: Vec<String> = successors(&id, &others, record.copies)
                .into_iter()
                .map(str::to_owned)
                .collect();
            let before = std::mem::replace(&mut record.holders, holders.clone());
            if before != holders && self.agents.contains_key(id.as_str()) {
                self.dirty.insert(id.clone());
            }
            let Some(replica) = self.replica(&id) else {
                continue;
            };
            for holder in holders.iter().filter(|h| !before.contains(h)) {
                self.tell(holder, Control::Replica(replica.clone())).await;
            }
            for old in before.iter().filter(|h| !holders.contains(h)) {
                self.tell(old, Control::Release { id: id.clone() }).await;
            }
        }
    }

    /// Agent `id`'s state changed: its copies are told.
    async fn checkpoint(&mut self, id: &str, version: u64, state: ByteBuf) {
        let Some(record) = self.records.get_mut(id) else {
            return;
        };
        if version <= record.version {
            return;
        }
        record.version = version;
        record.state = Some(state);
        if self.agents.contains_key(id) {
            self.dirty.insert(id.to_owned());
        }
        let holders = record.holders.clone();
        let Some(replica) = self.replica(id) else {
            return;
        };
        for holder in &holders {
            self.tell(holder, Control::Replica(replica.clone())).await;
        }
    }

    /// Keeps a copy of another node's agent's record, unless it is older
    /// than the one held.
    fn hold(&mut self, replica: Replica) -> String {
        let id = replica.id.clone();
        // It runs again somewhere: no longer waiting for a home.
        self.stranded.remove(&id);
        let newer = self
            .replicas
            .get(&id)
            .is_none_or(|held| replica.newer_than(held) || replica == *held);
        if newer {
            self.replicas.insert(id.clone(), replica);
        }
        id
    }

    /// Agent `id` of this node stopped for good: its copies are released.
    fn release(&mut self, id: &str) {
        self.unplaced.remove(id);
        let Some(record) = self.records.remove(id) else {
            return;
        };
        for holder in record.holders {
            if let Some(manager) = self.managers.get(&holder) {
                let _ = manager.tell(Control::Release { id: id.to_owned() });
            }
        }
    }

    /// `node` went down: each agent of it whose record this node holds
    /// runs again on the ring's owner of its id among the live members, if
    /// this node has a quorum.
    async fn failover(&mut self, node: &str) {
        let orphans: Vec<Replica> = self
            .replicas
            .values()
            .filter(|r| r.home == node)
            .cloned()
            .collect();
        if orphans.is_empty() {
            return;
        }
        for orphan in &orphans {
            self.replicas.remove(&orphan.id);
        }
        if let Err(e) = self.node.quorum().await {
            tracing::info!(%node, agents = orphans.len(), error = %e, "a node went down, but this node is on the minority side: the majority side restarts its agents");
            return;
        }
        self.rehome(orphans).await;
    }

    /// Each agent of `orphans` (whose node is down) runs again on its new
    /// home among the live members: the ring's owner of its key under its
    /// placement if it was placed by a key, else of its id. An agent with
    /// no such member is kept, stranded, for the next change of the ring.
    async fn rehome(&mut self, orphans: Vec<Replica>) {
        let names = match self.node.names().await {
            Ok(names) => names,
            Err(e) => {
                tracing::warn!(agents = orphans.len(), error = %e, "cannot read the name table to move agents");
                self.stranded
                    .extend(orphans.into_iter().map(|o| (o.id.clone(), o)));
                return;
            }
        };
        let live: Vec<&str> = names
            .iter()
            .filter(|info| is_manager(&info.name, &info.node))
            .map(|info| info.node.as_str())
            .collect();
        let me = self.node.name().to_owned();
        let mut handoffs = Vec::new();
        for orphan in orphans {
            let home = match &orphan.origin.placed {
                Some(placed) => match placed_owner(&placed.key, &placed.placement, &names) {
                    Ok(home) => Some(home),
                    Err(e) => {
                        tracing::warn!(agent = %orphan.id, from = %orphan.home, error = %e, "no live node meets the placement of an agent whose node went down: it waits for one");
                        None
                    }
                },
                None => owner(&orphan.id, &live).map(str::to_owned),
            };
            match home {
                Some(home) if home == me => self.take_over(orphan).await,
                Some(home) => handoffs.push((home, orphan)),
                None => {
                    self.stranded.insert(orphan.id.clone(), orphan);
                }
            }
        }
        for (home, orphan) in handoffs {
            tracing::debug!(agent = %orphan.id, %home, "handing the agent's record to its new home");
            self.tell(&home, Control::Handoff(orphan)).await;
        }
    }

    /// Another holder hands this node, the new home, the record of an
    /// agent whose node is down.
    async fn handed(&mut self, replica: Replica) {
        let home_up = self.node.peers().await.is_ok_and(|peers| {
            peers
                .iter()
                .any(|p| p.node == replica.home && p.status == PeerStatus::Up)
        });
        if home_up {
            tracing::debug!(agent = %replica.id, home = %replica.home, "handed an agent whose node is up: ignored");
            return;
        }
        if let Err(e) = self.node.quorum().await {
            tracing::info!(agent = %replica.id, error = %e, "handed an agent without a quorum: ignored");
            return;
        }
        self.take_over(replica).await;
    }

    /// Starts the agent of `replica` here, at the next epoch, from its
    /// last state; unless it runs somewhere already.
    async fn take_over(&mut self, replica: Replica) {
        let id = replica.id.clone();
        if self.node.lookup(&agent_name(&id)).await.is_ok() {
            tracing::debug!(agent = %id, "the agent runs already");
            return;
        }
        let Some(Kind {
            actor: false,
            start: factory,
        }) = self.kinds.get(&replica.origin.kind)
        else {
            tracing::error!(agent = %id, kind = %replica.origin.kind, "cannot restart the agent of a node that went down: its kind is not registered here");
            return;
        };
        let start = Start {
            args: replica.origin.args.into_vec(),
            placed: replica.origin.placed,
            resume: Some(Resume {
                epoch: replica.epoch + 1,
                version: replica.version,
                state: replica.state,
            }),
        };
        match factory(start, self.node.clone(), self.supervisor.clone()).await {
            Ok(Started::Agent(started)) => {
                self.track(*started);
                tracing::info!(agent = %id, from = %replica.home, version = replica.version, "agent moved here: its node went down");
            }
            // An agent kind starts agents.
            Ok(Started::Actor(_)) => {}
            Err(e) => {
                tracing::warn!(agent = %id, from = %replica.home, error = %e, "could not restart the agent of a node that went down")
            }
        }
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Journals agent `id`'s new status (and the one journaled before).
fn journal_status(
    node: &Node,
    id: &str,
    status: Status,
    was: Option<Status>,
    kind: &str,
    epoch: u64,
) {
    let fields = Fields::new()
        .str("id", id)
        .str("status", status.as_str())
        .opt_str("was", was.map(Status::as_str))
        .str("kind", kind)
        .u64("epoch", epoch);
    journal(node, "agent.status", fields);
}

/// Keeps `payload` in the node's journal as an event of `kind`. Written
/// straight to the journal's form: at a hundred thousand agents a second,
/// a `serde_json::Value` per status event was a tenth of a spawn's CPU.
fn journal(node: &Node, kind: &str, payload: Fields) {
    if let Err(e) = node
        .journal()
        .store_fields(kind, Some(node.name()), payload)
    {
        tracing::debug!(error = %e, "an agent event was not journaled");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_agent_key_shares_its_name_and_acts_as_the_id() {
        let name: Arc<str> = agent_name("a-1").into();
        let key = AgentKey::named(Arc::clone(&name));
        assert!(Arc::ptr_eq(&key.0, &name), "the name's own allocation");
        assert_eq!(key.id(), "a-1");
        // A name without the prefix (none is given one) gets a key of its
        // own rather than a wrong id.
        let bare = AgentKey::named("b-2".into());
        assert_eq!(bare.id(), "b-2");
        assert_eq!(&*bare.0, agent_name("b-2"));
        // Looked up, ordered and equal by the id alone.
        let mut agents = HashMap::new();
        agents.insert(key.clone(), 1);
        assert_eq!(agents.get("a-1"), Some(&1));
        let set: BTreeSet<AgentKey> = [bare.clone(), key.clone()].into_iter().collect();
        assert_eq!(
            set.iter().map(AgentKey::id).collect::<Vec<_>>(),
            ["a-1", "b-2"]
        );
        assert_eq!(AgentKey::named(agent_name("a-1").into()), key);
    }
}
