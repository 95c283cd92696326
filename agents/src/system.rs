//! [`Agents`]: the agent supervisor of one node and the cluster-wide
//! agent directory.

use std::time::Duration;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use actor_cluster::{Asleep, NameEvent, NameInfo, Node, Ref};
use actor_core::{ChildSpec, Supervisor, SupervisorSpec};
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, OwnedSemaphorePermit, Semaphore};

use crate::agent::Value;
use crate::agent::{agent_name, Agent, AGENTS_GROUP, AGENT_PREFIX, CAPABILITY_PREFIX};
use crate::error::{AgentError, Result};
use crate::lifecycle::manager::{manager_name, Control, Manager, Refused, Tracking};
use crate::lifecycle::{
    label, prepare_agent, start_agent, AgentSpec, Kinds, Prepared, Starting, Status,
};
use crate::protocols::runs::RunLog;
use crate::protocols::Participants;
use crate::query::{metadata_of, Query};

/// An agent as the directory lists it, on any node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AgentEntry {
    /// The agent's id.
    pub id: String,
    /// The node it runs on.
    pub node: String,
    /// Its capabilities.
    pub capabilities: Vec<String>,
    /// Its kind ([`Agent::kind`]); `None` until its node published it.
    pub kind: Option<String>,
    /// Where it is in its life.
    pub status: Status,
    /// How many times it was restarted.
    pub restarts: u32,
    /// Its last health (`healthy`, `degraded: why`, `unhealthy: why`),
    /// once checked.
    pub health: Option<String>,
    /// Its metadata ([`Agent::metadata`]).
    pub metadata: BTreeMap<String, Value>,
    /// How many times it moved to another node because its node went
    /// down.
    pub epoch: u64,
    /// The version of its state as last copied to other nodes
    /// ([`AgentSpec::replicate`](crate::AgentSpec::replicate)); 0 before
    /// the first copy.
    pub state_version: u64,
    /// The nodes that hold a copy of its record: one of them starts it
    /// again if its node goes down. Empty for an agent that cannot move.
    pub copies: Vec<String>,
}

impl AgentEntry {
    /// The entry of a directory name, from its labels.
    fn of(info: NameInfo) -> Option<Self> {
        let id = info.name.strip_prefix(AGENT_PREFIX)?.to_owned();
        let capabilities = info
            .groups
            .iter()
            .filter_map(|g| g.strip_prefix(CAPABILITY_PREFIX).map(str::to_owned))
            .collect();
        let labels = &info.labels;
        Some(AgentEntry {
            id,
            node: info.node,
            capabilities,
            kind: labels.get(label::KIND).cloned(),
            status: labels
                .get(label::STATUS)
                .and_then(|s| s.parse().ok())
                .unwrap_or(Status::Starting),
            restarts: labels
                .get(label::RESTARTS)
                .and_then(|r| r.parse().ok())
                .unwrap_or(0),
            health: labels.get(label::HEALTH).cloned(),
            metadata: metadata_of(labels),
            epoch: labels
                .get(label::EPOCH)
                .and_then(|e| e.parse().ok())
                .unwrap_or(0),
            state_version: labels
                .get(label::STATE_VERSION)
                .and_then(|v| v.parse().ok())
                .unwrap_or(0),
            copies: labels
                .get(label::COPIES)
                .map(|c| {
                    c.split(',')
                        .filter(|n| !n.is_empty())
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default(),
        })
    }
}

/// A change of the agent directory ([`Agents::watch`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
#[non_exhaustive]
pub enum AgentEvent {
    /// The agent is listed as `agent` says: it started, or its status,
    /// health or restarts changed.
    AgentListed {
        /// How it is listed now.
        agent: AgentEntry,
    },
    /// The agent is no longer listed.
    AgentUnlisted {
        /// Its id.
        id: String,
        /// The node it ran on.
        node: String,
        /// Its last status as this node saw it: `stopping` for an agent
        /// stopped on purpose; anything else means its actor or its node
        /// went without being stopped (a temporary agent that failed, a
        /// node that died or left).
        last: Status,
    },
}

/// The changes of the agent directory as one node applies them, read
/// with [`next`](Self::next).
#[derive(Debug)]
pub struct AgentWatch {
    names: broadcast::Receiver<NameEvent>,
    /// Each listed agent's last status.
    last: HashMap<String, Status>,
}

impl AgentWatch {
    /// The next change; `None` once the node has stopped.
    ///
    /// # Errors
    /// [`AgentError::Lagged`] if this watcher fell more than 16,384 name
    /// changes behind: it missed some (read [`Agents::list`] again); the
    /// next call goes on from the oldest change kept.
    pub async fn next(&mut self) -> Option<Result<AgentEvent>> {
        loop {
            let event = match self.names.recv().await {
                Ok(event) => event,
                Err(broadcast::error::RecvError::Closed) => return None,
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    return Some(Err(AgentError::Lagged(missed)))
                }
            };
            match event {
                NameEvent::NameRegistered(info) => {
                    let Some(agent) = AgentEntry::of(info) else {
                        continue;
                    };
                    self.last.insert(agent.id.clone(), agent.status);
                    return Some(Ok(AgentEvent::AgentListed { agent }));
                }
                NameEvent::NameUnregistered { name, node } => {
                    let Some(id) = name.strip_prefix(AGENT_PREFIX) else {
                        continue;
                    };
                    let last = self.last.remove(id).unwrap_or(Status::Starting);
                    return Some(Ok(AgentEvent::AgentUnlisted {
                        id: id.to_owned(),
                        node,
                        last,
                    }));
                }
                _ => continue,
            }
        }
    }
}

/// How long a stop, restart or track request to a lifecycle manager may
/// take.
pub(crate) const CONTROL_TIMEOUT: Duration = Duration::from_secs(10);

/// How many agents started asleep [`Agents::spawn_many`] serves in one
/// message to their supervisor and one to the gateway: a batch takes the
/// gateway about half a millisecond, which its other traffic waits for,
/// and larger ones left more memory resident after 100,000 agents
/// (1,011-1,017 B an agent at 1,024 against 991-1,011 B at 256, in
/// `cargo bench --bench agent_memory`), for a spawn barely faster.
const SPAWN_BATCH: usize = 256;

/// How many agents spawned in batches may wait to be tracked by the
/// manager ([`Agents::backlog`]): 64 batches, some 2 MB of trackings.
/// The manager works in bursts (a tick looks at every agent started since
/// the last, 200 ms before): with 16 batches a spawn of 100,000 asleep
/// agents waited out each tick and took 0.34-0.39 s, with 64 0.30-0.35
/// s, as unbounded, and as little memory left resident as with 16.
const TRACK_BACKLOG: usize = 64 * SPAWN_BATCH;

/// A reference to an agent, wherever it runs.
pub type AgentRef = Ref;

/// The agents of one node, and the door to every agent in the cluster.
#[derive(Debug, Clone)]
pub struct Agents {
    node: Node,
    supervisor: Supervisor,
    /// This node's lifecycle manager.
    manager: Ref,
    /// The agents this handle's batched spawns may have given the manager
    /// that it has not tracked yet (each `Track` holds permits until it
    /// is handled): a spawn that outruns the manager waits for it rather
    /// than queue trackings without bound.
    backlog: Arc<Semaphore>,
    /// The agent kinds registered on this node.
    pub(crate) kinds: Kinds,
    /// The protocol runs this node coordinated lately.
    pub(crate) runs: RunLog,
}

impl Agents {
    /// Starts this node's agent supervisor (one-for-one, under the node's
    /// supervisor).
    ///
    /// # Errors
    /// [`AgentError::Core`] if the supervisor cannot start.
    pub async fn start(node: &Node) -> Result<Self> {
        let spec = SupervisorSpec::one_for_one().intensity(10, Duration::from_secs(10));
        let cell = node
            .supervisor()
            .start_child(ChildSpec::supervisor("agents", spec))
            .await?;
        let supervisor = Supervisor::from_actor(cell.into());
        // Started after the agents, so stopped before them: it never waits
        // on a supervisor that is stopping.
        let kinds = Kinds::default();
        let manager = {
            let (node, supervisor, kinds) = (node.clone(), supervisor.clone(), kinds.clone());
            ChildSpec::new("agents-lifecycle", move || {
                (Manager, (node.clone(), supervisor.clone(), kinds.clone()))
            })
        };
        node.supervisor().start_child(manager).await?;
        let manager = node.lookup(&manager_name(node.name())).await?;
        Ok(Self {
            node: node.clone(),
            supervisor,
            manager,
            backlog: Arc::new(Semaphore::new(TRACK_BACKLOG)),
            kinds,
            runs: RunLog::default(),
        })
    }

    /// The node these agents run on.
    pub fn node(&self) -> &Node {
        &self.node
    }

    /// Starts an agent under supervision; `factory` builds it again for each
    /// restart. Returns its id once it is registered cluster-wide. It is
    /// restarted whenever it exits and its health checked every 5 s; see
    /// [`spawn_with`](Self::spawn_with) for other choices.
    ///
    /// # Errors
    /// [`AgentError::InvalidId`], or a duplicate id here
    /// ([`AgentError::Core`]) or anywhere in the cluster ([`AgentError::Cluster`]).
    pub async fn spawn<A, F>(&self, factory: F) -> Result<String>
    where
        A: Agent,
        F: Fn() -> A + Send + Sync + 'static,
    {
        self.spawn_with(AgentSpec::new(factory)).await
    }

    /// Starts an agent as `spec` says (its restart policy and health-check
    /// interval); returns its id once it is registered cluster-wide. Its
    /// kind, metadata, status, restarts and health are then listed on
    /// every node ([`list`](Self::list), [`query`](Self::query)).
    ///
    /// # Errors
    /// As [`spawn`](Self::spawn).
    pub async fn spawn_with<A: Agent>(&self, spec: AgentSpec<A>) -> Result<String> {
        let tracking = start_agent(&self.node, &self.supervisor, spec).await?;
        let id = tracking.id().to_owned();
        self.track_one(tracking).map(|()| id)
    }

    /// Starts many agents of one type, each as
    /// [`spawn_with`](Self::spawn_with) starts one, and answers, in order,
    /// whether each started (its id is its own [`Agent::id`]; one refused
    /// does not stop the others). Those started asleep
    /// ([`AgentSpec::asleep`]) go to their supervisor and to the registry
    /// up to 256 at a time, in one message each, where one at a time
    /// costs two round trips between threads each: for a node that starts
    /// its agents by the hundred thousand. Those that run start one after
    /// another, each after the asleep ones given before it: of two specs
    /// with one id, the first given starts, as with `spawn_with` in turn.
    /// It keeps pace with this node's lifecycle manager: at most 64
    /// batches of agents started through this handle (and its clones)
    /// wait to be followed by it (their status kept, their health
    /// checked), so a spawn of millions holds bounded memory in between.
    pub async fn spawn_many<A: Agent>(
        &self,
        specs: impl IntoIterator<Item = AgentSpec<A>>,
    ) -> Vec<Result<()>> {
        let specs = specs.into_iter();
        let mut results = Vec::with_capacity(specs.size_hint().0);
        // Agents started asleep, waiting to be served together: their
        // place in `results`, and each one's start and tracking.
        let mut asleep = Vec::with_capacity(SPAWN_BATCH);
        for spec in specs {
            let Prepared { start, tracking } =
                match prepare_agent(&self.node, &self.supervisor, spec).await {
                    Ok(prepared) => prepared,
                    Err(e) => {
                        results.push(Err(e));
                        continue;
                    }
                };
            match start {
                Starting::Asleep(start) => {
                    asleep.push((results.len(), start, tracking));
                    results.push(Ok(()));
                    if asleep.len() == SPAWN_BATCH {
                        self.serve_asleep(&mut asleep, &mut results).await;
                    }
                }
                running @ Starting::Running(_) => {
                    self.serve_asleep(&mut asleep, &mut results).await;
                    let prepared = Prepared {
                        start: running,
                        tracking,
                    };
                    let started = prepared.start(&self.node, &self.supervisor).await;
                    results.push(started.and_then(|tracking| self.track_one(tracking)));
                }
            }
        }
        self.serve_asleep(&mut asleep, &mut results).await;
        results
    }

    /// Serves the agents of `batch` asleep, if any, leaving it empty, and
    /// writes how each went at its place in `results`.
    async fn serve_asleep(
        &self,
        batch: &mut Vec<(usize, Asleep, Tracking)>,
        results: &mut [Result<()>],
    ) {
        if batch.is_empty() {
            return;
        }
        // Taken before any is served: a spawn dropped while it waits for
        // the manager leaves none of these started and not followed. The
        // semaphore is never closed, and a batch is under the backlog.
        let permit = match u32::try_from(batch.len()) {
            Ok(n) => Arc::clone(&self.backlog).acquire_many_owned(n).await.ok(),
            Err(_) => None,
        };
        let (starts, rest): (Vec<_>, Vec<_>) = batch
            .drain(..)
            .map(|(place, start, tracking)| (start, (place, tracking)))
            .unzip();
        let served = self.node.serve_asleep_many(starts).await;
        let mut started = Vec::with_capacity(rest.len());
        let mut started_places = Vec::with_capacity(rest.len());
        for (served, (place, tracking)) in served.into_iter().zip(rest) {
            match served {
                Ok(()) => {
                    tracking.started(&self.node);
                    started.push(tracking);
                    started_places.push(place);
                }
                Err(e) => results[place] = Err(e.into()),
            }
        }
        if started.is_empty() {
            return;
        }
        if let Err(refused) = self.track(started, permit) {
            for (place, refused) in started_places.into_iter().zip(refused) {
                results[place] = Err(refused);
            }
        }
    }

    /// [`track`](Self::track) of one agent.
    fn track_one(&self, tracking: Tracking) -> Result<()> {
        self.track(vec![tracking], None).map_err(|refused| {
            // `track` answers one error per agent: this is never built.
            refused
                .into_iter()
                .next()
                .unwrap_or_else(|| AgentError::Lifecycle {
                    agent: "(the agent started)".into(),
                    reason: "this node's lifecycle manager is gone".into(),
                })
        })
    }

    /// Gives the agents of `trackings`, started, to this node's manager
    /// to follow. Told, not asked: a spawn does not wait for the manager's
    /// tick (which may be publishing labels), and what this handle asks
    /// the manager next comes after it in its mailbox.
    ///
    /// # Errors
    /// One [`AgentError::Lifecycle`] per agent, in order, if the manager
    /// is gone.
    fn track(
        &self,
        trackings: Vec<Tracking>,
        permit: Option<OwnedSemaphorePermit>,
    ) -> std::result::Result<(), Vec<AgentError>> {
        let n = trackings.len();
        let Err(undelivered) = self.manager.tell(Control::Track(trackings, permit)) else {
            return Ok(());
        };
        let gone = |agent| AgentError::Lifecycle {
            agent,
            reason: format!(
                "this node's lifecycle manager is gone ({})",
                undelivered.error
            ),
        };
        Err(match &undelivered.msg {
            Some(Control::Track(trackings, _)) => {
                trackings.iter().map(|t| gone(t.id().to_owned())).collect()
            }
            _ => (0..n)
                .map(|_| gone("(one of those started)".into()))
                .collect(),
        })
    }

    /// Asks `manager` to do `control` for agent `id`.
    pub(crate) async fn control(
        &self,
        manager: &Ref,
        id: &str,
        control: Control,
    ) -> Result<String> {
        match manager.ask(control, CONTROL_TIMEOUT).await? {
            Ok(id) => Ok(id),
            Err(Refused::Unknown) => Err(AgentError::UnknownAgent(id.to_owned())),
            Err(Refused::UnknownKind(kind)) => Err(AgentError::UnknownKind {
                kind,
                node: manager
                    .node()
                    .unwrap_or_else(|| self.node.name().to_owned()),
            }),
            Err(Refused::Cannot(reason)) => Err(AgentError::Lifecycle {
                agent: id.to_owned(),
                reason,
            }),
        }
    }

    /// Stops agent `id` for good, on whichever node it runs: its status
    /// goes to `stopping`, then it is stopped and leaves the directory.
    ///
    /// # Errors
    /// [`AgentError::UnknownAgent`] if no node runs it.
    pub async fn stop(&self, id: &str) -> Result<()> {
        let manager = self.manager_of(id).await?;
        let stop = Control::Stop { id: id.to_owned() };
        self.control(&manager, id, stop).await.map(drop)
    }

    /// Restarts agent `id`, on whichever node it runs: it is started
    /// again from its factory, with fresh state, and its restart count
    /// grows.
    ///
    /// # Errors
    /// [`AgentError::UnknownAgent`] if no node runs it;
    /// [`AgentError::Lifecycle`] if it is temporary (never restarted) or
    /// restarting already.
    pub async fn restart(&self, id: &str) -> Result<()> {
        let manager = self.manager_of(id).await?;
        let restart = Control::Restart { id: id.to_owned() };
        self.control(&manager, id, restart).await.map(drop)
    }

    /// The lifecycle manager of the node that runs agent `id`.
    async fn manager_of(&self, id: &str) -> Result<Ref> {
        let agent = self.find(id).await?;
        match agent.node() {
            None => Ok(self.manager.clone()),
            Some(node) => Ok(self.node.lookup(&manager_name(&node)).await?),
        }
    }

    /// A reference to the agent `id`, on any node.
    ///
    /// # Errors
    /// [`AgentError::UnknownAgent`] if no node runs it.
    pub async fn find(&self, id: &str) -> Result<AgentRef> {
        self.node
            .lookup(&agent_name(id))
            .await
            .map_err(|e| match e {
                actor_cluster::ClusterError::UnknownName(_) => {
                    AgentError::UnknownAgent(id.to_owned())
                }
                other => other.into(),
            })
    }

    /// Every agent in the cluster, sorted by id.
    ///
    /// # Errors
    /// [`AgentError::Cluster`] if this node is shutting down.
    pub async fn list(&self) -> Result<Vec<AgentEntry>> {
        self.entries(AGENTS_GROUP).await
    }

    /// The agents with `capability`, on any node, sorted by id.
    ///
    /// # Errors
    /// [`AgentError::Cluster`] if this node is shutting down.
    pub async fn with_capability(&self, capability: &str) -> Result<Vec<AgentEntry>> {
        self.entries(&format!("{CAPABILITY_PREFIX}{capability}"))
            .await
    }

    /// The changes of the agent directory from now on, as this node sees
    /// them: an agent listed or changed (status, health, restarts), an
    /// agent no longer listed (see [`AgentWatch`]).
    pub fn watch(&self) -> AgentWatch {
        AgentWatch {
            names: self.node.watch_names(),
            last: HashMap::new(),
        }
    }

    /// The agents that match `query`, on any node, sorted by id, served
    /// from this node's copy of the directory (no other node is asked).
    ///
    /// # Errors
    /// [`AgentError::InvalidQuery`] for a predicate that cannot be
    /// evaluated; [`AgentError::Cluster`] if this node is shutting down.
    pub async fn query(&self, query: &Query) -> Result<Vec<AgentEntry>> {
        query.validate()?;
        let mut found = self.list().await?;
        found.retain(|a| query.matches(a));
        Ok(found)
    }

    async fn entries(&self, group: &str) -> Result<Vec<AgentEntry>> {
        Ok(self
            .node
            .members(group)
            .await?
            .into_iter()
            .filter_map(AgentEntry::of)
            .collect())
    }

    /// Every agent with `capability` that can be found now, sorted by id.
    ///
    /// # Errors
    /// [`AgentError::NoParticipants`] if there is none.
    pub(crate) async fn participants(&self, capability: &str) -> Result<Participants> {
        let entries = self.with_capability(capability).await?;
        if entries.is_empty() {
            return Err(AgentError::NoParticipants(capability.to_owned()));
        }
        let names: Vec<String> = entries.iter().map(|e| agent_name(&e.id)).collect();
        let found = self.node.lookup_many(&names).await?;
        // An agent that vanished between listing and lookup is simply not invited.
        Ok(entries
            .into_iter()
            .zip(found)
            .filter_map(|(entry, agent)| Some((entry.id, agent.ok()?)))
            .collect())
    }

    /// The cell of this node's agent supervisor, to which coordinators
    /// are linked.
    pub(crate) fn supervisor_cell(&self) -> ractor::ActorCell {
        self.supervisor.actor().get_cell()
    }
}
