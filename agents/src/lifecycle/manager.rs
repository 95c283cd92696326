//! The lifecycle manager of one node: `agents@<node>`.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actor_cluster::{ClusterError, Message, Node, Reply, Request};
use actor_core::{Restart, Supervisor};
use futures::future::join_all;
use ractor::{Actor, ActorProcessingErr, ActorRef};
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;
use tokio::time::Instant;

use super::{labels, Health, Kinds, Status};
use crate::agent::{agent_name, HealthCheck, Value};

/// How often the manager looks at its agents.
const TICK: Duration = Duration::from_millis(200);
/// The longest an agent is given to answer its health check.
const MOST: Duration = Duration::from_secs(2);
/// The most agents checked in one tick; the others wait for the next.
const BATCH: usize = 256;

/// The name of node `node`'s lifecycle manager.
pub(crate) fn manager_name(node: &str) -> String {
    format!("agents@{node}")
}

/// What the manager is asked: by the agents of its node (track one), by
/// any node (stop or restart one), by its own timer (tick).
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Control {
    /// Follow a newly started agent of this node.
    Track(Tracking),
    /// Start an agent of a kind registered on this node
    /// ([`Agents::register_kind`](crate::Agents::register_kind)) from its
    /// encoded arguments.
    Spawn { kind: String, args: ByteBuf },
    /// Stop an agent of this node for good.
    Stop { id: String },
    /// Restart an agent of this node.
    Restart { id: String },
    /// Look at the agents (the manager's own timer).
    Tick,
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
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Tracking {
    pub(crate) id: String,
    pub(crate) kind: String,
    pub(crate) metadata: BTreeMap<String, Value>,
    pub(crate) restart: Policy,
    pub(crate) every_ms: u64,
}

/// The answer to a [`Control`]: the id of the agent concerned.
impl Message for Control {
    type Reply = Result<String, Refused>;
    const TAG: &'static str = "foundation.agents.control/1";
}

/// [`Restart`] as it travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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

/// One agent as its manager follows it.
struct Tracked {
    kind: String,
    metadata: BTreeMap<String, Value>,
    restart: Policy,
    every: Duration,
    status: Status,
    restarts: u32,
    /// Its last health and since when (Unix milliseconds).
    health: Option<(Health, u64)>,
    due: Instant,
    /// Its labels need publishing.
    dirty: bool,
}

impl Tracked {
    fn set_status(&mut self, status: Status) {
        if self.status != status {
            self.status = status;
            self.dirty = true;
        }
    }

    fn set_health(&mut self, health: Health) {
        if self.health.as_ref().map(|(h, _)| h) != Some(&health) {
            self.health = Some((health, now_ms()));
            self.dirty = true;
        }
    }
}

/// The manager's state.
pub(crate) struct State {
    node: Node,
    supervisor: Supervisor,
    kinds: Kinds,
    agents: BTreeMap<String, Tracked>,
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
        node.register(&manager_name(node.name()), &myself).await?;
        myself.send_interval(TICK, || Request {
            msg: Control::Tick,
            reply: Reply::none(),
        });
        Ok(State {
            node,
            supervisor,
            kinds,
            agents: BTreeMap::new(),
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
            Control::Track(tracking) => Ok(state.track(tracking)),
            Control::Spawn { kind, args } => state.spawn(&kind, args.into_vec()).await,
            Control::Stop { id } => state.stop(&id).await.map(|()| id),
            Control::Restart { id } => state.restart(&id).await.map(|()| id),
            Control::Tick => {
                state.tick().await;
                Ok(String::new())
            }
        };
        reply.send(answer);
        Ok(())
    }
}

impl State {
    /// Follows a newly started agent; it is checked and its labels
    /// published by the next tick. Answers its id.
    fn track(&mut self, tracking: Tracking) -> String {
        let Tracking {
            id,
            kind,
            metadata,
            restart,
            every_ms,
        } = tracking;
        // First checks spread over the interval: a thousand agents started
        // at once are not all asked at once.
        let every = Duration::from_millis(every_ms);
        let spread = crate::hash::fnv1a(id.as_bytes()) % every_ms.max(1);
        self.agents.insert(
            id.clone(),
            Tracked {
                kind,
                metadata,
                restart,
                every,
                status: Status::Starting,
                restarts: 0,
                health: None,
                due: Instant::now() + Duration::from_millis(spread),
                dirty: true,
            },
        );
        id
    }

    /// Starts an agent of registered kind `kind` from `args`.
    async fn spawn(&mut self, kind: &str, args: Vec<u8>) -> Result<String, Refused> {
        let factory = self
            .kinds
            .get(kind)
            .ok_or_else(|| Refused::UnknownKind(kind.to_owned()))?;
        let started = factory(args, self.node.clone(), self.supervisor.clone())
            .await
            .map_err(|e| Refused::Cannot(e.to_string()))?;
        Ok(self.track(started))
    }

    /// Notices restarts and agents gone, checks the agents that are due,
    /// restarts the unhealthy ones, and publishes what changed.
    async fn tick(&mut self) {
        // Bounded, in case the supervisor is busy stopping.
        let Ok(Ok(children)) = tokio::time::timeout(MOST, self.supervisor.children()).await else {
            return;
        };
        let children: BTreeMap<String, _> =
            children.into_iter().map(|c| (c.id.clone(), c)).collect();
        let now = Instant::now();
        let mut due = Vec::new();
        self.agents.retain(|id, agent| {
            let Some(child) = children.get(&agent_name(id)) else {
                // Stopped for good (its policy, or a stop): its name went
                // with it.
                return false;
            };
            if child.restarts > agent.restarts {
                // A new incarnation registered its name afresh.
                agent.restarts = child.restarts;
                agent.status = Status::Starting;
                agent.dirty = true;
                agent.due = now;
            }
            match &child.actor {
                None => agent.set_status(Status::Starting),
                Some(_) if agent.due <= now && due.len() < BATCH => due.push(id.clone()),
                Some(_) => {}
            }
            true
        });
        self.check(&due, &children).await;
        self.publish().await;
    }

    /// Asks the agents `due` for their health, all at once.
    async fn check(&mut self, due: &[String], children: &BTreeMap<String, actor_core::ChildInfo>) {
        if due.is_empty() {
            return;
        }
        let names: Vec<String> = due.iter().map(|id| agent_name(id)).collect();
        let Ok(refs) = self.node.lookup_many(&names).await else {
            return;
        };
        let asks = due.iter().zip(refs).map(|(id, found)| {
            let within = self.agents.get(id).map_or(MOST, |a| {
                (a.every / 2).clamp(Duration::from_millis(25), MOST)
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
            let Some(agent) = self.agents.get_mut(id) else {
                continue;
            };
            agent.due = now + agent.every;
            match answer {
                Ok(Health::Healthy) => {
                    agent.set_health(Health::Healthy);
                    agent.set_status(Status::Ready);
                }
                Ok(health @ Health::Degraded(_)) => {
                    agent.set_health(health);
                    agent.set_status(Status::Degraded);
                }
                Ok(health @ Health::Unhealthy(_)) => {
                    tracing::warn!(agent = %id, %health, "unhealthy agent: restarting it by its policy");
                    agent.set_health(health);
                    agent.set_status(Status::Failed);
                    if let Some(cell) = children.get(&agent_name(id)).and_then(|c| c.actor.as_ref())
                    {
                        // A kill counts as a failure: the supervisor
                        // restarts it unless it is temporary.
                        cell.kill();
                    }
                }
                Err(ClusterError::Timeout { .. }) => agent.set_status(Status::Busy),
                // Not registered (yet, or any more): between incarnations.
                Err(_) => agent.set_status(Status::Starting),
            }
        }
    }

    /// Publishes the labels of every agent whose facts changed.
    async fn publish(&mut self) {
        for (id, agent) in &mut self.agents {
            if !agent.dirty {
                continue;
            }
            let labels = labels(
                &agent.kind,
                &agent.metadata,
                agent.status,
                agent.restarts,
                agent.health.as_ref(),
            );
            match self.node.set_labels(&agent_name(id), labels).await {
                Ok(()) => agent.dirty = false,
                // Not registered yet: the next tick tries again.
                Err(e) => {
                    tracing::debug!(agent = %id, error = %e, "agent labels not published yet")
                }
            }
        }
    }

    async fn stop(&mut self, id: &str) -> Result<(), Refused> {
        let agent = self.agents.get_mut(id).ok_or(Refused::Unknown)?;
        agent.set_status(Status::Stopping);
        self.publish().await;
        self.agents.remove(id);
        self.supervisor
            .terminate_child(&agent_name(id))
            .await
            .map_err(|e| Refused::Cannot(e.to_string()))
    }

    async fn restart(&mut self, id: &str) -> Result<(), Refused> {
        let agent = self.agents.get(id).ok_or(Refused::Unknown)?;
        if agent.restart == Policy::Temporary {
            return Err(Refused::Cannot(format!(
                "`{id}` is temporary: it is never restarted"
            )));
        }
        let children = self
            .supervisor
            .children()
            .await
            .map_err(|e| Refused::Cannot(e.to_string()))?;
        let cell = children
            .into_iter()
            .find(|c| c.id == agent_name(id))
            .and_then(|c| c.actor)
            .ok_or_else(|| Refused::Cannot(format!("`{id}` is restarting already")))?;
        // Killed, it counts as a failure: permanent and transient agents
        // alike are started again.
        cell.kill();
        Ok(())
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
