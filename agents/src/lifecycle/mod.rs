//! The life of an agent: how it is started ([`AgentSpec`]: restart
//! policy, health-check interval), how it is doing ([`Health`], its own
//! check) and where it is in its life ([`Status`]), visible from every
//! node.
//!
//! Each node runs one lifecycle manager under its agent supervisor,
//! registered as `agents@<node>`: it asks its agents their health on
//! their interval, restarts an unhealthy one by its policy, counts
//! restarts, and publishes each agent's kind, metadata, status, restarts
//! and health as labels on the agent's name, which travel with the name to
//! every node ([`Node::set_labels`](actor_cluster::Node::set_labels)). So
//! the directory ([`Agents::list`](crate::Agents::list),
//! [`Agents::query`](crate::Agents::query)) is served from each node's own
//! copy of the name table, and stays consistent after membership changes:
//! a node that goes takes its agents' names with it. Stop and restart
//! requests for an agent of another node go to that node's manager.

pub(crate) mod manager;
pub(crate) mod replica;

use std::collections::HashMap;
use std::sync::Mutex;

use actor_cluster::{Asleep, Hosting, Node};
use actor_core::{ChildSpec, Supervisor};
use futures::future::BoxFuture;

use crate::agent::{agent_name, answer_protocols, AGENTS_GROUP, CAPABILITY_PREFIX};
use crate::error::{AgentError, Result};
use manager::Tracking;
use replica::{Keeper, Origin, Replicated, Resume};
pub use replica::{Replication, Stateful};

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use actor_core::Restart;
use serde::{Deserialize, Serialize};

use crate::agent::{Agent, Value};

/// How an agent is doing, by its own check ([`Agent::health`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Health {
    /// All is well.
    Healthy,
    /// Working, but not well (a slow dependency, a full queue); reported,
    /// nothing is done about it.
    Degraded(String),
    /// Not working: the agent is restarted by its restart policy.
    Unhealthy(String),
}

impl fmt::Display for Health {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Health::Healthy => f.write_str("healthy"),
            Health::Degraded(why) => write!(f, "degraded: {why}"),
            Health::Unhealthy(why) => write!(f, "unhealthy: {why}"),
        }
    }
}

/// Where an agent is in its life, as every node sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Status {
    /// Started (or restarted), not yet checked.
    Starting,
    /// Its last health check said healthy.
    Ready,
    /// It did not answer its last health check in time: it is alive but
    /// handling a message.
    Busy,
    /// Its last health check said degraded.
    Degraded,
    /// Being stopped.
    Stopping,
    /// Stopped (told to its watchers as it goes).
    Stopped,
    /// Its last health check said unhealthy, or it crashed: being
    /// restarted, or gone if its policy does not restart it.
    Failed,
    /// Moving to another node.
    Migrating,
    /// Idle and passivated ([`AgentSpec::passivate_after`]): its state is
    /// kept, no task runs it, and its next message wakes it.
    Passivated,
}

impl Status {
    /// Every status, in order.
    pub const ALL: [Status; 9] = [
        Status::Starting,
        Status::Ready,
        Status::Busy,
        Status::Degraded,
        Status::Stopping,
        Status::Stopped,
        Status::Failed,
        Status::Migrating,
        Status::Passivated,
    ];

    /// Its name: `starting`, `ready`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Starting => "starting",
            Status::Ready => "ready",
            Status::Busy => "busy",
            Status::Degraded => "degraded",
            Status::Stopping => "stopping",
            Status::Stopped => "stopped",
            Status::Failed => "failed",
            Status::Migrating => "migrating",
            Status::Passivated => "passivated",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Status {
    type Err = String;

    fn from_str(word: &str) -> Result<Self, String> {
        Status::ALL
            .into_iter()
            .find(|s| s.as_str() == word)
            .ok_or_else(|| {
                let names: Vec<&str> = Status::ALL.iter().map(|s| s.as_str()).collect();
                format!("`{word}` is not a status ({})", names.join(", "))
            })
    }
}

/// How to run an agent: the factory that builds it (again for each
/// restart), its restart policy and its health-check interval; started by
/// [`Agents::spawn_with`](crate::Agents::spawn_with).
///
/// ```
/// use std::time::Duration;
/// use actor_core::Restart;
/// use actor_cluster::Server;
/// use agents::{Agent, AgentSpec};
///
/// struct Worker;
/// impl Server for Worker {}
/// impl Agent for Worker {
///     fn id(&self) -> String { "worker-1".into() }
/// }
///
/// let spec = AgentSpec::new(|| Worker)
///     .restart(Restart::Transient)
///     .health_every(Duration::from_secs(1));
/// # let _ = spec;
/// ```
pub struct AgentSpec<A: Agent> {
    pub(crate) factory: Arc<dyn Fn() -> A + Send + Sync>,
    pub(crate) restart: Restart,
    pub(crate) health_every: Duration,
    pub(crate) replicated: Option<Replicated<A>>,
    /// The registered kind and arguments it was started from, if any.
    pub(crate) origin: Option<Origin>,
    /// Where it starts from when it moved by failover.
    pub(crate) resume: Option<Resume>,
    /// Passivate after this long without a message.
    pub(crate) passivate_after: Option<Duration>,
    /// Start passivated ([`AgentSpec::asleep`]).
    pub(crate) asleep: bool,
}

impl<A: Agent> fmt::Debug for AgentSpec<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AgentSpec")
            .field("restart", &self.restart)
            .field("health_every", &self.health_every)
            .field("replication", &self.replicated.as_ref().map(|r| r.how))
            .field("passivate_after", &self.passivate_after)
            .field("asleep", &self.asleep)
            .finish_non_exhaustive()
    }
}

impl<A: Agent> AgentSpec<A> {
    /// An agent built by `factory`: restarted whenever it exits
    /// ([`Restart::Permanent`]), its health checked every 5 s.
    pub fn new(factory: impl Fn() -> A + Send + Sync + 'static) -> Self {
        Self {
            factory: Arc::new(factory),
            restart: Restart::Permanent,
            health_every: Duration::from_secs(5),
            replicated: None,
            origin: None,
            resume: None,
            passivate_after: None,
            asleep: false,
        }
    }

    /// The restart policy: [`Restart::Permanent`] (always),
    /// [`Restart::Transient`] (after a crash or an unhealthy check, not
    /// after a normal exit), [`Restart::Temporary`] (never).
    #[must_use]
    pub fn restart(self, restart: Restart) -> Self {
        Self { restart, ..self }
    }

    /// How often its health is checked (at least every 50 ms). It has half
    /// of that, at most 2 s, to answer before it is reported busy.
    #[must_use]
    pub fn health_every(self, every: Duration) -> Self {
        Self {
            health_every: every.max(Duration::from_millis(50)),
            ..self
        }
    }

    /// Passivates the agent after `idle` without a message (health checks
    /// do not count): its actor stops and the agent itself, with its
    /// state, waits in memory, costing no task or mailbox; its name stays
    /// registered, its status reads [`Status::Passivated`], and its next
    /// message from anywhere wakes it, as the same value, before that
    /// message is answered. It is health-checked only while awake.
    #[must_use]
    pub fn passivate_after(self, idle: Duration) -> Self {
        Self {
            passivate_after: Some(idle),
            ..self
        }
    }

    /// Starts the agent asleep, as if it had just passivated (see
    /// [`passivate_after`](Self::passivate_after), with `idle`): it is
    /// registered and listed at once, with status [`Status::Passivated`],
    /// but no actor runs it until its first message wakes it. For a node
    /// that holds many agents of which few are in use at a time: an agent
    /// asleep costs its own value and its entries (its name, its
    /// supervisor's child, its manager's record), no task and no mailbox.
    #[must_use]
    pub fn asleep(self, idle: Duration) -> Self {
        Self {
            passivate_after: Some(idle),
            asleep: true,
            ..self
        }
    }

    /// Copies the agent's state to other nodes as `how` says, so that it
    /// runs again with that state elsewhere when its node goes down (see
    /// [`Stateful`]); a restart on its own node also starts from the last
    /// state. Only an agent started from a registered kind
    /// ([`Agents::spawn_on`](crate::Agents::spawn_on),
    /// [`Agents::spawn_for_key`](crate::Agents::spawn_for_key)) with a
    /// permanent or transient policy can move to another node.
    #[must_use]
    pub fn replicate(self, how: Replication) -> Self
    where
        A: Stateful,
    {
        Self {
            replicated: Some(Replicated::new(how)),
            ..self
        }
    }
}

/// Starts the agent `spec` describes under `supervisor` on `node`;
/// answers what its node's manager is to follow.
///
/// # Errors
/// [`AgentError::InvalidId`], or a duplicate id here
/// ([`AgentError::Core`]) or anywhere in the cluster ([`AgentError::Cluster`]).
pub(crate) async fn start_agent<A: Agent>(
    node: &Node,
    supervisor: &Supervisor,
    spec: AgentSpec<A>,
) -> Result<Tracking> {
    prepare_agent(node, supervisor, spec)
        .await?
        .start(node, supervisor)
        .await
}

/// An agent ready to start: how, and what its manager is to follow then.
pub(crate) struct Prepared {
    pub(crate) start: Starting,
    pub(crate) tracking: Tracking,
}

impl Prepared {
    /// Starts it alone on `node` (asleep, or as a child of `supervisor`)
    /// and answers what its manager is to follow.
    ///
    /// # Errors
    /// As [`start_agent`].
    pub(crate) async fn start(self, node: &Node, supervisor: &Supervisor) -> Result<Tracking> {
        match self.start {
            Starting::Asleep(asleep) => asleep.serve().await?,
            Starting::Running(child) => {
                supervisor.start_child(child).await?;
            }
        }
        self.tracking.started(node);
        Ok(self.tracking)
    }
}

/// How a prepared agent starts.
pub(crate) enum Starting {
    /// Asleep: registered with no actor until its first message.
    Asleep(Asleep),
    /// In an actor, started as this child of its supervisor.
    Running(ChildSpec),
}

/// Makes the agent `spec` describes ready to start under `supervisor` on
/// `node`, without starting it.
///
/// # Errors
/// [`AgentError::InvalidId`]; [`AgentError::Cluster`] if it is replicated
/// and this node's manager cannot be found.
pub(crate) async fn prepare_agent<A: Agent>(
    node: &Node,
    supervisor: &Supervisor,
    spec: AgentSpec<A>,
) -> Result<Prepared> {
    let AgentSpec {
        factory,
        restart,
        health_every,
        replicated,
        origin,
        resume,
        passivate_after,
        asleep,
    } = spec;
    let mut first = factory();
    let id = first.id();
    if id.is_empty() || id.chars().any(char::is_whitespace) {
        return Err(AgentError::InvalidId(id));
    }
    let copies = replicated.as_ref().map_or(1, |r| r.how.copies);
    let epoch = resume.as_ref().map_or(0, |r| r.epoch);
    let kind = kind_name(first.kind());
    // The manager stops an agent that lost its id to another node's claim
    // (see `manager`), so that its supervisor does not start it again.
    let mut hosting = Hosting::new(answer_protocols::<A>)
        .epoch(epoch)
        .stop_on_conflict(false)
        .metered(Arc::clone(&kind));
    if let Some(idle) = passivate_after {
        hosting = hosting.passivate_after(idle, supervisor.clone());
    }
    let keeper = replicated.map(|r| Keeper::new(r, resume.as_ref()));
    if let Some(keeper) = &keeper {
        let manager = node.lookup(&manager::manager_name(node.name())).await?;
        hosting = hosting.after_each(keeper.after_each(id.clone(), manager));
    }
    let groups: Vec<String> = std::iter::once(AGENTS_GROUP.to_owned())
        .chain(
            first
                .capabilities()
                .into_iter()
                .map(|c| format!("{CAPABILITY_PREFIX}{c}")),
        )
        .collect();
    let metadata = first.metadata();
    // Listed with its kind and status from its registration on: no second
    // announcement of every agent once its manager first publishes it.
    let status = if asleep {
        Status::Passivated
    } else {
        Status::Starting
    };
    hosting = hosting.labels(labels(&kind, &metadata, status, 0, epoch, None));
    let restored = {
        let keeper = keeper.clone();
        move || {
            let mut agent = factory();
            if let Some(keeper) = &keeper {
                keeper.restore(&mut agent);
            }
            agent
        }
    };
    // One copy of the name for the supervisor, the gateway and the manager.
    let name: Arc<str> = agent_name(&id).into();
    let start = if asleep {
        if let Some(keeper) = &keeper {
            keeper.restore(&mut first);
        }
        let (name, restart) = (Arc::clone(&name), restart);
        Starting::Asleep(Asleep::new(
            node, name, groups, hosting, restart, first, restored,
        )?)
    } else {
        let child = node
            .server_spec_with(Arc::clone(&name), groups, hosting, restored)
            .restart(restart);
        Starting::Running(child)
    };
    let resume = resume.unwrap_or_default();
    let tracking = Tracking {
        name,
        kind,
        metadata,
        restart: restart.into(),
        every_ms: u64::try_from(health_every.as_millis()).unwrap_or(u64::MAX),
        origin,
        copies: u32::try_from(copies).unwrap_or(u32::MAX),
        epoch,
        version: resume.version,
        state: resume.state,
        status,
    };
    Ok(Prepared { start, tracking })
}

/// The process's one copy of the kind name `kind`: agents by the hundred
/// thousand share a handful of kinds.
fn kind_name(kind: String) -> Arc<str> {
    static KINDS: std::sync::OnceLock<std::sync::Mutex<std::collections::HashSet<Arc<str>>>> =
        std::sync::OnceLock::new();
    let mut kinds = KINDS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    match kinds.get(kind.as_str()) {
        Some(shared) => Arc::clone(shared),
        None => {
            let shared: Arc<str> = kind.into();
            kinds.insert(Arc::clone(&shared));
            shared
        }
    }
}

/// How an agent of a registered kind is to be started: from its encoded
/// arguments, and, when it moves by failover, from where it was.
pub(crate) struct Start {
    pub(crate) args: Vec<u8>,
    pub(crate) resume: Option<Resume>,
    /// The key and constraints it is placed by, if any.
    pub(crate) placed: Option<replica::Placed>,
}

/// Starts an agent or an actor of one kind.
pub(crate) type KindFactory =
    Arc<dyn Fn(Start, Node, Supervisor) -> BoxFuture<'static, Result<Started>> + Send + Sync>;

/// What a kind's start made.
pub(crate) enum Started {
    /// An agent, for the manager to follow.
    Agent(Box<Tracking>),
    /// A plain actor (a server) registered under this name.
    Actor(String),
}

/// A kind registered on a node: how to start one, and whether it is an
/// agent kind ([`Agents::register_kind`](crate::Agents::register_kind)) or
/// an actor kind
/// ([`Agents::register_actor_kind`](crate::Agents::register_actor_kind)).
#[derive(Clone)]
pub(crate) struct Kind {
    pub(crate) actor: bool,
    pub(crate) start: KindFactory,
}

/// The kinds registered on a node, by name; shared by its [`Agents`]
/// handles and its manager.
///
/// [`Agents`]: crate::Agents
#[derive(Clone, Default)]
pub(crate) struct Kinds(Arc<Mutex<HashMap<String, Kind>>>);

impl Kinds {
    /// Registers (or replaces) kind `kind`.
    pub(crate) fn insert(&self, name: &str, kind: Kind) {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(name.to_owned(), kind);
    }

    /// Kind `kind`.
    pub(crate) fn get(&self, kind: &str) -> Option<Kind> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(kind)
            .cloned()
    }
}

impl fmt::Debug for Kinds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kinds = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f.debug_set().entries(kinds.keys()).finish()
    }
}

/// The label keys under which an agent's facts travel with its name.
pub(crate) mod label {
    /// Its kind.
    pub(crate) const KIND: &str = "agent.kind";
    /// Its status.
    pub(crate) const STATUS: &str = "agent.status";
    /// How many times it was restarted.
    pub(crate) const RESTARTS: &str = "agent.restarts";
    /// Its last health.
    pub(crate) const HEALTH: &str = "agent.health";
    /// When its health last changed, in Unix milliseconds.
    pub(crate) const HEALTH_AT: &str = "agent.health_at_ms";
    /// The prefix of its metadata keys.
    pub(crate) const META: &str = "meta.";
    /// How many times it moved by failover.
    pub(crate) const EPOCH: &str = "agent.epoch";
    /// The version of its state as last copied.
    pub(crate) const STATE_VERSION: &str = "agent.state_version";
    /// The nodes holding a copy of its record, comma-separated.
    pub(crate) const COPIES: &str = "agent.copies";
}

/// A metadata value as a label: its type and its text, so that it reads
/// back as the same [`Value`].
pub(crate) fn encode_value(value: &Value) -> String {
    match value {
        Value::Float(v) => format!("float:{v}"),
        Value::Int(v) => format!("int:{v}"),
        Value::Bool(v) => format!("bool:{v}"),
        Value::Text(v) => format!("text:{v}"),
    }
}

/// A label written by [`encode_value`], back as its value.
pub(crate) fn decode_value(label: &str) -> Option<Value> {
    let (kind, text) = label.split_once(':')?;
    match kind {
        "float" => text.parse().ok().map(Value::Float),
        "int" => text.parse().ok().map(Value::Int),
        "bool" => text.parse().ok().map(Value::Bool),
        "text" => Some(Value::Text(text.to_owned())),
        _ => None,
    }
}

/// An agent's facts as labels.
pub(crate) fn labels(
    kind: &str,
    metadata: &BTreeMap<String, Value>,
    status: Status,
    restarts: u32,
    epoch: u64,
    health: Option<&(Health, u64)>,
) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::from([
        (label::KIND.to_owned(), kind.to_owned()),
        (label::STATUS.to_owned(), status.to_string()),
    ]);
    // None reads as 0: not carried by each of a hundred thousand names.
    if restarts > 0 {
        labels.insert(label::RESTARTS.to_owned(), restarts.to_string());
    }
    if epoch > 0 {
        labels.insert(label::EPOCH.to_owned(), epoch.to_string());
    }
    if let Some((health, at_ms)) = health {
        labels.insert(label::HEALTH.to_owned(), health.to_string());
        labels.insert(label::HEALTH_AT.to_owned(), at_ms.to_string());
    }
    for (key, value) in metadata {
        labels.insert(format!("{}{key}", label::META), encode_value(value));
    }
    labels
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_and_statuses_read_back() {
        for value in [
            Value::Float(0.25),
            Value::Int(-3),
            Value::Bool(true),
            Value::Text("eu:west".into()),
        ] {
            assert_eq!(decode_value(&encode_value(&value)), Some(value));
        }
        assert_eq!(decode_value("colour:red"), None);
        assert_eq!(decode_value("int:x"), None);
        for status in Status::ALL {
            assert_eq!(status.as_str().parse::<Status>(), Ok(status));
            // The journal writes the name where serde would.
            assert_eq!(serde_json::to_value(status).unwrap(), status.as_str());
        }
        assert!("asleep".parse::<Status>().unwrap_err().contains("ready"));
    }

    #[test]
    fn labels_carry_every_fact() {
        let meta = BTreeMap::from([("zone".to_owned(), Value::Text("eu".into()))]);
        let health = (Health::Degraded("slow disk".into()), 42);
        let l = labels("Trainer", &meta, Status::Degraded, 2, 3, Some(&health));
        assert_eq!(l[label::KIND], "Trainer");
        assert_eq!(l[label::STATUS], "degraded");
        assert_eq!(l[label::RESTARTS], "2");
        assert_eq!(l[label::HEALTH], "degraded: slow disk");
        assert_eq!(l[label::EPOCH], "3");
        assert_eq!(l["meta.zone"], "text:eu");
        let fresh = labels("Trainer", &meta, Status::Ready, 0, 0, None);
        assert!(!fresh.contains_key(label::RESTARTS), "{fresh:?}");
        assert!(!fresh.contains_key(label::EPOCH), "{fresh:?}");
    }
}
