//! Failover with state: an agent's state copied to other nodes, so that
//! when its node goes down it runs again on a survivor with that state.
//!
//! An agent opts in by implementing [`Stateful`] and naming a
//! [`Replication`] in its [`AgentSpec`](crate::AgentSpec). Its node's
//! lifecycle manager sends the agent's record (its kind and arguments, its
//! restart policy, its epoch, its last state and that state's version) to
//! `copies` other nodes: the first ones clockwise from the agent's id on
//! the placement ring ([`Agents::owner_of`](crate::Agents::owner_of)),
//! again whenever the ring's members change.
//!
//! When a node is reported down, each node that holds a record of one of
//! its agents, and has a quorum, computes the agent's new home: the ring's
//! owner of its id among the live members, which is the first holder. That
//! node starts the agent again from its kind and arguments, restores its
//! state, and registers its id at the next epoch; a holder that is not the
//! new home hands its record to it. A node without a quorum (the minority
//! side of a partition) moves nothing: the majority side does. When the
//! partition heals and both instances claim the id, the higher epoch, the
//! one that moved, keeps it, and the other is stopped.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use actor_cluster::{AfterEach, Ref};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;
use tokio::time::Instant;

use super::manager::{Control, Policy};
use crate::agent::Agent;

/// An agent whose state can be copied to other nodes and restored there.
///
/// ```
/// use actor_cluster::Server;
/// use agents::{Agent, AgentSpec, Replication, Stateful};
///
/// struct Account { id: String, balance: i64 }
/// impl Server for Account {}
/// impl Agent for Account {
///     fn id(&self) -> String { self.id.clone() }
/// }
/// impl Stateful for Account {
///     type State = i64;
///     fn state(&self) -> i64 { self.balance }
///     fn restore(&mut self, balance: i64) { self.balance = balance; }
/// }
///
/// // Copied to two other nodes after each message that changed it.
/// let spec = AgentSpec::new(|| Account { id: "acct-7".into(), balance: 0 })
///     .replicate(Replication::on_change(2));
/// # let _ = spec;
/// ```
pub trait Stateful: Agent {
    /// The state that is copied: what the agent must not lose.
    type State: Serialize + DeserializeOwned + Send + 'static;

    /// The state as it is now.
    fn state(&self) -> Self::State;

    /// Takes back a state copied earlier, before the agent's first message
    /// (after a failover, and after a restart on its own node).
    fn restore(&mut self, state: Self::State);
}

/// When and where an agent's state is copied
/// ([`AgentSpec::replicate`](crate::AgentSpec::replicate)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Replication {
    pub(crate) copies: usize,
    pub(crate) every: Option<Duration>,
}

impl Replication {
    /// After each message that changed the state, to `copies` other nodes
    /// (at least 1).
    pub fn on_change(copies: usize) -> Self {
        Self {
            copies: copies.max(1),
            every: None,
        }
    }

    /// At most once per `interval`, to `copies` other nodes (at least 1):
    /// after a message, if the interval has passed since the last copy and
    /// the state changed. A change made within the interval is copied after
    /// the next message once it has passed (health checks are messages, so
    /// at the latest one health interval later).
    pub fn every(interval: Duration, copies: usize) -> Self {
        Self {
            copies: copies.max(1),
            every: Some(interval),
        }
    }
}

/// How the agent's state is read and restored, fixed by
/// [`AgentSpec::replicate`](crate::AgentSpec::replicate) where `A` is
/// known to be [`Stateful`].
pub(crate) struct Replicated<A> {
    pub(crate) how: Replication,
    pub(crate) snapshot: fn(&A) -> Result<Vec<u8>, String>,
    pub(crate) restore: fn(&mut A, &[u8]) -> Result<(), String>,
}

impl<A: Stateful> Replicated<A> {
    pub(crate) fn new(how: Replication) -> Self {
        Self {
            how,
            snapshot: |agent| rmp_serde::to_vec_named(&agent.state()).map_err(|e| e.to_string()),
            restore: |agent, bytes| {
                let state = rmp_serde::from_slice(bytes).map_err(|e| e.to_string())?;
                agent.restore(state);
                Ok(())
            },
        }
    }
}

/// Where an agent that moves by failover starts from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Resume {
    /// The epoch it registers at.
    pub(crate) epoch: u64,
    /// The version of `state`.
    pub(crate) version: u64,
    pub(crate) state: Option<ByteBuf>,
}

/// The registered kind and the arguments an agent was started from: what
/// another node needs to start it again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Origin {
    pub(crate) kind: String,
    pub(crate) args: ByteBuf,
    /// The key and constraints it was placed by, if it was started for a
    /// key ([`Agents::spawn_for_key`](crate::Agents::spawn_for_key)): a
    /// move keeps to them.
    #[serde(default)]
    pub(crate) placed: Option<Placed>,
}

/// The key and the constraints an agent was placed by.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Placed {
    pub(crate) key: String,
    pub(crate) placement: crate::Placement,
}

/// The record of an agent that one of its copies holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Replica {
    pub(crate) id: String,
    /// The node it runs on.
    pub(crate) home: String,
    pub(crate) origin: Origin,
    pub(crate) restart: Policy,
    pub(crate) epoch: u64,
    pub(crate) version: u64,
    pub(crate) state: Option<ByteBuf>,
}

impl Replica {
    /// Whether this record is newer than `other`.
    pub(crate) fn newer_than(&self, other: &Replica) -> bool {
        (self.epoch, self.version) > (other.epoch, other.version)
    }
}

/// An agent's last state, shared by its incarnations on one node: each
/// restart restores it, each change is copied from it.
#[derive(Debug, Default)]
pub(crate) struct Slot {
    state: Option<Vec<u8>>,
    version: u64,
    copied_at: Option<Instant>,
}

/// The state of one agent on its node, and how it is restored and copied.
pub(crate) struct Keeper<A> {
    slot: Arc<Mutex<Slot>>,
    replicated: Arc<Replicated<A>>,
}

impl<A> Clone for Keeper<A> {
    fn clone(&self) -> Self {
        Self {
            slot: Arc::clone(&self.slot),
            replicated: Arc::clone(&self.replicated),
        }
    }
}

impl<A: Agent> Keeper<A> {
    pub(crate) fn new(replicated: Replicated<A>, resume: Option<&Resume>) -> Self {
        let slot = Slot {
            state: resume.and_then(|r| r.state.clone()).map(ByteBuf::into_vec),
            version: resume.map_or(0, |r| r.version),
            copied_at: None,
        };
        Self {
            slot: Arc::new(Mutex::new(slot)),
            replicated: Arc::new(replicated),
        }
    }

    fn slot(&self) -> std::sync::MutexGuard<'_, Slot> {
        self.slot.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Gives a new incarnation the last state.
    pub(crate) fn restore(&self, agent: &mut A) {
        let state = self.slot().state.clone();
        if let Some(state) = state {
            if let Err(e) = (self.replicated.restore)(agent, &state) {
                tracing::error!(agent = %agent.id(), error = %e, "the agent's last state does not decode; it starts without it");
            }
        }
    }

    /// The hook after each message: copies the state to the manager when
    /// it changed (and its interval, if any, has passed).
    pub(crate) fn after_each(&self, id: String, manager: Ref) -> AfterEach<A> {
        let keeper = self.clone();
        Arc::new(move |agent: &mut A| {
            let mut slot = keeper.slot();
            if let (Some(every), Some(at)) = (keeper.replicated.how.every, slot.copied_at) {
                if at.elapsed() < every {
                    return;
                }
            }
            let bytes = match (keeper.replicated.snapshot)(agent) {
                Ok(bytes) => bytes,
                Err(e) => {
                    tracing::error!(agent = %id, error = %e, "the agent's state does not encode; not copied");
                    return;
                }
            };
            if slot.state.as_deref() == Some(bytes.as_slice()) {
                return;
            }
            slot.version += 1;
            slot.copied_at = Some(Instant::now());
            slot.state = Some(bytes.clone());
            let checkpoint = Control::Checkpoint {
                id: id.clone(),
                version: slot.version,
                state: ByteBuf::from(bytes),
            };
            if manager.tell(checkpoint).is_err() {
                tracing::warn!(agent = %id, "the lifecycle manager is gone: state not copied");
            }
        })
    }
}
