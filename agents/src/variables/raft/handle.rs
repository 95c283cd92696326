//! [`Variables`]: the replicated variables table as one node uses it.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actor_cluster::{ClusterError, Message, Node, PeerStatus, Ref};
use actor_core::{ChildSpec, SupervisorSpec};
use openraft::error::{InitializeError, RaftError};
use openraft::metrics::{RaftMetrics, WaitError};
use openraft::{Raft, ServerState};
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, watch};
use tokio::time::Instant;

use super::network::Network;
use super::server::{ClientServer, RaftOwner, RaftServer, Replica};
use super::store;
use super::wire::{Attempt, ReadIndex, Reconfiguration, Reconfigure, Status, Write};
use super::{client_server, node_id, raft_server, voter_names, Member, Proposal, RequestId};
use crate::agent::Value;
use crate::error::AgentError;
use crate::variables::{Change, Command, Committed, Definition, Table, VariableError};

/// The child id of the variables supervisor under the node's supervisor.
const SUPERVISOR: &str = "variables";
/// The longest one attempt at a request on the leader may take before it
/// is sent again (with the same request id) to whoever leads then.
const ATTEMPT: Duration = Duration::from_secs(1);
/// How long a failed attempt waits for news of the group (a new leader)
/// before it tries again.
const PAUSE: Duration = Duration::from_millis(50);
/// How recently a quorum must have acknowledged the leader for it to take
/// a write: an older acknowledgement suggests it is on a minority side.
const QUORUM_WINDOW: Duration = Duration::from_secs(1);
/// Extra time a forwarded ask is given over the leader's own deadline,
/// for the way back.
const MARGIN: Duration = Duration::from_millis(200);

/// The replicated variables table, as one node of the group uses it.
///
/// Every node named as a voter runs [`Variables::start`]; together they
/// form one Raft group (openraft) whose log holds the commands (define,
/// commit, delete) and whose state machine is the variables
/// [`Table`]. Any member can write and read: a write on a follower is
/// forwarded to the leader through the cluster layer, and it is confirmed
/// only once a quorum of voters holds it, so a committed value survives
/// the loss of any minority of nodes.
///
/// * Writes ([`define`](Self::define), [`commit`](Self::commit),
///   [`delete`](Self::delete)) answer the table's own answer (the new
///   [`Committed`] value, or the model's refusal), or
///   [`VariableError::NoQuorum`] when no quorum confirmed the write within
///   the deadline ([`VariablesBuilder::timeout`], 3 s by default). A write
///   that loses its leader is sent again, with the same request id, to the
///   next one; the state machine applies a request at most once.
/// * Reads ([`get`](Self::get), [`history`](Self::history)) are
///   linearizable: the leader confirms its leadership with a quorum and
///   names its commit index (the read-index protocol), and this node
///   answers once it has applied that far. [`get_local`](Self::get_local)
///   reads this node's table as it is, possibly behind.
///
/// # Forming the group
///
/// The voters are the node names given to [`start`](Self::start); every
/// one of them must start with the same list. The voter whose name sorts
/// first initializes the group once every voter's Raft server answers and
/// none has been initialized (a restarted node rejoins the group that
/// exists instead). `start` returns once the group has a leader.
///
/// # Durability
///
/// With [`VariablesBuilder::data_dir`], a node keeps its Raft log, its
/// vote, its commit point and its latest snapshot of the table on disk
/// (synced before openraft is told they are written), so that restarting
/// every node of the group, even killed at once, keeps every committed
/// value and version; a node restarted with its data does not initialize
/// the group again, and a leader is elected from what the nodes kept.
/// Without one, the log and snapshots are in memory: a restarted node
/// comes back empty and catches up from the others, and its vote of the
/// current term is forgotten.
///
/// # Following the cluster's membership
///
/// That list founds the group; after that its voters follow the nodes
/// that join and leave it:
///
/// * A node joining the cluster joins the group with
///   [`joining`](Self::joining): it asks its peers who leads, the leader
///   adds it as a learner, replicates the log to it and then makes it a
///   voter (two joint-consensus steps of openraft), and `start` returns
///   once it votes.
/// * A node leaving for good calls [`leave`](Self::leave): the leader
///   removes it from the voters before it stops, so the quorum is counted
///   without it. A node gone for good without leaving (its machine lost)
///   is removed from any other node with [`remove`](Self::remove).
/// * A node that stops or crashes and comes back (a restart, a
///   partition, a `node_down` of the cluster layer) stays a voter: the
///   group does not shrink on a failure, or a partition could reconfigure
///   a minority into a majority of its own. While it is away it counts
///   against the quorum.
///
/// # Examples
///
/// A group of one voter, in this process (with three nodes n1, n2 and n3,
/// each runs `Variables::start(&node, &["n1", "n2", "n3"])`):
///
/// ```
/// use actor_cluster::Node;
/// use agents::variables::{Definition, Kind, VariableError, Variables};
/// use agents::Value;
///
/// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let node = Node::builder()
///     .name("solo").cookie("secret").listen("127.0.0.1:0".parse()?).no_discovery()
///     .start().await?;
/// let variables = Variables::start(&node, &["solo"]).await?;
/// let lr = Definition::new("learning_rate", Kind::float(0.0, 2.0), Value::Float(0.1));
/// variables.define(lr).await?;
/// let committed = variables.commit("learning_rate", Value::Float(0.01), "trainer-1").await?;
/// assert_eq!(committed.version, 1);
/// assert_eq!(variables.get("learning_rate").await?.value, Value::Float(0.01));
/// let refused = variables.commit("learning_rate", Value::Float(3.0), "trainer-1").await;
/// assert!(matches!(refused, Err(VariableError::InvalidValue { .. })));
/// // Stopping the node stops its part of the group.
/// node.shutdown().await;
/// let gone = variables.get("learning_rate").await;
/// assert!(matches!(gone, Err(VariableError::Unavailable { .. })), "{gone:?}");
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Variables {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    replica: Arc<Replica>,
    timeout: Duration,
    /// This handle's session, for request ids.
    session: u64,
    serial: AtomicU64,
    /// The client servers of the leaders met so far, by node name.
    leaders: Mutex<HashMap<String, Ref>>,
}

/// Options of [`Variables`], ending with [`start`](Self::start).
#[derive(Debug)]
#[must_use = "a builder does nothing until `start` is awaited"]
pub struct VariablesBuilder {
    node: Node,
    voters: Vec<String>,
    /// Join the group that exists instead of forming one.
    join: bool,
    timeout: Duration,
    formation_timeout: Duration,
    data_dir: Option<PathBuf>,
    snapshot_every: u64,
}

/// The group as one node sees it ([`Variables::status`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct GroupStatus {
    /// This node.
    pub node: String,
    /// The leader this node knows of, if any.
    pub leader: Option<String>,
    /// Whether this node leads.
    pub leading: bool,
    /// The Raft term this node is in.
    pub term: u64,
    /// The index of the last log entry applied to this node's table.
    pub applied: Option<u64>,
    /// The index of the last log entry in this node's latest snapshot of
    /// the table, if it took or received one.
    pub snapshot: Option<u64>,
    /// The index of the last entry this node dropped from its log (the
    /// snapshot holds it), if any.
    pub purged: Option<u64>,
    /// The voters of the membership in force, sorted (they change as
    /// nodes join and leave).
    pub voters: Vec<String>,
}

impl Variables {
    /// Starts this node's part of the group of `voters` (node names, this
    /// node among them) with the default options, and waits until the
    /// group has a leader; see [`builder`](Self::builder).
    ///
    /// # Errors
    /// As [`VariablesBuilder::start`].
    pub async fn start(node: &Node, voters: &[impl AsRef<str>]) -> Result<Self, AgentError> {
        Self::builder(node, voters).start().await
    }

    /// Options for this node's part of the group of `voters`: the
    /// deadline of each operation (3 s) and of forming the group (30 s).
    pub fn builder(node: &Node, voters: &[impl AsRef<str>]) -> VariablesBuilder {
        VariablesBuilder {
            node: node.clone(),
            voters: voters.iter().map(|v| v.as_ref().to_owned()).collect(),
            join: false,
            timeout: Duration::from_secs(3),
            formation_timeout: Duration::from_secs(30),
            data_dir: None,
            snapshot_every: 5000,
        }
    }

    /// Options for joining the group that the cluster already runs, as a
    /// new voter: [`start`](VariablesBuilder::start) finds its leader
    /// through the node's peers, is added as a learner, catches up with
    /// the log, and returns once it is a voter.
    pub fn joining(node: &Node) -> VariablesBuilder {
        VariablesBuilder {
            join: true,
            ..Self::builder(node, &[] as &[&str])
        }
    }

    /// Leaves the group for good (a node being decommissioned): the
    /// leader removes this node from the voters, then its part stops.
    /// The group's quorum is then counted without it. A node that only
    /// stops (a restart, a crash) stays a voter; see
    /// [`shutdown`](Self::shutdown).
    ///
    /// # Errors
    /// [`VariableError::NoQuorum`] if no leader committed the change in
    /// time (this node then stays a member and keeps running);
    /// [`VariableError::InvalidVoters`] if it is the last voter.
    pub async fn leave(&self) -> Result<(), VariableError> {
        let me = self.shared.replica.node.name().to_owned();
        self.reconfigure(Reconfiguration::Remove(me)).await?;
        self.shutdown().await;
        Ok(())
    }

    /// Removes node `name` from the voters: a node that is gone for good
    /// (its machine lost) and will not call [`leave`](Self::leave)
    /// itself. Answers the voters after the change; removing a node that
    /// is not a member changes nothing.
    ///
    /// # Errors
    /// [`VariableError::NoQuorum`] if no quorum committed the change in
    /// time; [`VariableError::InvalidVoters`] if it is the last voter.
    pub async fn remove(&self, name: &str) -> Result<Vec<String>, VariableError> {
        self.reconfigure(Reconfiguration::Remove(name.to_owned()))
            .await
    }

    /// Applies a change of the voters through the leader.
    async fn reconfigure(&self, change: Reconfiguration) -> Result<Vec<String>, VariableError> {
        let replica = &self.shared.replica;
        self.on_leader(|leader, within| {
            let change = change.clone();
            async move {
                if leader.id == replica.id {
                    replica.reconfigure_here(change, within).await
                } else {
                    let within_ms = millis(within);
                    self.forward(&leader.name, Reconfigure { change, within_ms }, within)
                        .await
                }
            }
        })
        .await
    }

    /// Defines a variable (version 0, its default value).
    ///
    /// # Errors
    /// The model's refusal ([`VariableError::Exists`], an invalid name,
    /// kind or default, a broken constraint), or
    /// [`VariableError::NoQuorum`] / [`VariableError::Unavailable`].
    ///
    /// # Cancel safety
    /// Dropping the future abandons the answer, not the write: it may
    /// still be applied.
    pub async fn define(&self, definition: Definition) -> Result<Committed, VariableError> {
        self.write(Command::Define {
            definition,
            at_ms: now_ms(),
        })
        .await
    }

    /// Commits `value` to variable `name` on behalf of `by` (an agent id, a
    /// node): it gets the next version once a quorum holds it.
    ///
    /// # Errors
    /// The model's refusal ([`VariableError::Unknown`],
    /// [`VariableError::InvalidValue`] saying why, a broken constraint),
    /// or [`VariableError::NoQuorum`] / [`VariableError::Unavailable`];
    /// nothing is committed then.
    ///
    /// # Cancel safety
    /// As [`define`](Self::define).
    pub async fn commit(
        &self,
        name: &str,
        value: Value,
        by: &str,
    ) -> Result<Committed, VariableError> {
        self.commit_seen(name, value, None, by).await
    }

    /// [`commit`](Self::commit) by a proposer that read version `seen`: a
    /// variable whose conflict rule is
    /// [`Conflict::Refuse`](crate::variables::Conflict::Refuse) refuses it
    /// if another commit came first.
    ///
    /// # Errors
    /// As [`commit`](Self::commit), and [`VariableError::Stale`].
    ///
    /// # Cancel safety
    /// As [`define`](Self::define).
    pub async fn commit_seen(
        &self,
        name: &str,
        value: Value,
        seen: Option<u64>,
        by: &str,
    ) -> Result<Committed, VariableError> {
        self.write(Command::Commit {
            name: name.to_owned(),
            value,
            seen,
            by: by.to_owned(),
            at_ms: now_ms(),
        })
        .await
    }

    /// Deletes variable `name` and its history; answers its last value.
    ///
    /// # Errors
    /// [`VariableError::Unknown`], [`VariableError::NoQuorum`],
    /// [`VariableError::Unavailable`].
    ///
    /// # Cancel safety
    /// As [`define`](Self::define).
    pub async fn delete(&self, name: &str) -> Result<Committed, VariableError> {
        self.write(Command::Delete {
            name: name.to_owned(),
        })
        .await
    }

    /// The current value of `name`, linearizable: it reflects every write
    /// confirmed before the call, whichever node made it.
    ///
    /// # Errors
    /// [`VariableError::Unknown`]; [`VariableError::NoQuorum`] if no
    /// quorum confirmed the leader within the deadline (a minority node
    /// cannot serve it); [`VariableError::Unavailable`].
    pub async fn get(&self, name: &str) -> Result<Committed, VariableError> {
        self.read(|table| table.get(name).cloned())
            .await?
            .ok_or_else(|| VariableError::Unknown(name.to_owned()))
    }

    /// The value of `name` in this node's table as it is, without asking
    /// the leader: it may be behind the group (a stale read, opt-in).
    ///
    /// # Errors
    /// [`VariableError::Unknown`] if this node's table has no such
    /// variable.
    pub fn get_local(&self, name: &str) -> Result<Committed, VariableError> {
        self.shared
            .replica
            .machine
            .read(|m| m.table().get(name).cloned())
            .ok_or_else(|| VariableError::Unknown(name.to_owned()))
    }

    /// Every variable in this node's table as it is, sorted by name,
    /// without asking the leader (a stale read, as
    /// [`get_local`](Self::get_local)).
    pub fn list_local(&self) -> Vec<Committed> {
        self.shared.replica.machine.read(|m| {
            let table = m.table();
            let mut all: Vec<Committed> = table
                .names()
                .filter_map(|name| table.get(name).cloned())
                .collect();
            all.sort_by(|a, b| a.name.cmp(&b.name));
            all
        })
    }

    /// The kept history of `name`, oldest first (the current value last),
    /// linearizable as [`get`](Self::get).
    ///
    /// # Errors
    /// As [`get`](Self::get).
    pub async fn history(&self, name: &str) -> Result<Vec<Committed>, VariableError> {
        self.read(|table| table.history(name))
            .await?
            .ok_or_else(|| VariableError::Unknown(name.to_owned()))
    }

    /// The changes this node applies from now on, in log order: every
    /// definition, commit and deletion, whichever node made it, with the
    /// variable's name, value, version and who committed it. A node that
    /// catches up by a snapshot reports each variable the snapshot
    /// changed once, at its new version. A subscriber more than 1,024
    /// changes behind is told how many it missed
    /// ([`RecvError::Lagged`](tokio::sync::broadcast::error::RecvError::Lagged))
    /// and reads on from the oldest kept.
    pub fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.shared.replica.machine.subscribe()
    }

    /// The group as this node sees it now.
    pub fn status(&self) -> GroupStatus {
        let replica = &self.shared.replica;
        let metrics = replica.raft.metrics();
        let metrics = metrics.borrow();
        GroupStatus {
            node: replica.node.name().to_owned(),
            leader: metrics.current_leader.and_then(|id| name_of(&metrics, id)),
            leading: metrics.state == ServerState::Leader,
            term: metrics.current_term,
            applied: metrics.last_applied.map(|id| id.index),
            snapshot: metrics.snapshot.map(|id| id.index),
            purged: metrics.purged.map(|id| id.index),
            voters: voter_names(&metrics),
        }
    }

    /// Stops this node's part of the group: its Raft and its servers, and
    /// closes its data dir (a later start may open it again). The others
    /// go on while they have a quorum; this node stays a voter (see
    /// [`leave`](Self::leave)). [`Node::shutdown`] does the same: the Raft
    /// is owned by an actor under the node's supervisor.
    pub async fn shutdown(&self) {
        let replica = &self.shared.replica;
        let _ = replica.node.supervisor().terminate_child(SUPERVISOR).await;
        // Started but not yet under the supervisor (a failed start).
        let _ = replica.raft.shutdown().await;
        replica.machine.close().await;
    }

    fn next_id(&self) -> RequestId {
        RequestId {
            origin: self.shared.replica.node.name().to_owned(),
            session: self.shared.session,
            serial: self.shared.serial.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// Applies `command` through the leader, whichever node leads, and
    /// records how it went.
    async fn write(&self, command: Command) -> Result<Committed, VariableError> {
        let op = match &command {
            Command::Define { .. } => "define",
            Command::Commit { .. } => "commit",
            Command::Delete { .. } => "delete",
        };
        let started = Instant::now();
        let answer = self.write_on_leader(command).await;
        record(op, started, answer.as_ref().err());
        answer
    }

    async fn write_on_leader(&self, command: Command) -> Result<Committed, VariableError> {
        let proposal = Proposal {
            id: self.next_id(),
            command,
        };
        let replica = &self.shared.replica;
        self.on_leader(|leader, within| {
            let proposal = proposal.clone();
            async move {
                if leader.id == replica.id {
                    replica.write_here(proposal, within).await
                } else {
                    let within_ms = millis(within);
                    let write = Write {
                        proposal,
                        within_ms,
                    };
                    self.forward(&leader.name, write, within).await
                }
            }
        })
        .await
    }

    /// Reads this node's table with `f` once it has applied everything the
    /// leader had committed when asked (read index).
    pub(crate) async fn read<R>(&self, f: impl FnOnce(&Table) -> R) -> Result<R, VariableError> {
        let started = Instant::now();
        let answer = self.read_index().await;
        record("read", started, answer.as_ref().err());
        let replica = &self.shared.replica;
        answer.map(|()| replica.machine.read(|m| f(m.table())))
    }

    /// Waits until this node has applied what the leader had committed
    /// when asked.
    async fn read_index(&self) -> Result<(), VariableError> {
        let started = Instant::now();
        let replica = &self.shared.replica;
        let index = self
            .on_leader(|leader, within| async move {
                if leader.id == replica.id {
                    replica.read_index_here(within).await
                } else {
                    let read = ReadIndex {
                        within_ms: millis(within),
                    };
                    match self.forward(&leader.name, read, within).await {
                        // A read changes nothing: nothing of it is pending.
                        Attempt::Retry { reason, .. } => Attempt::Retry {
                            reason,
                            pending: false,
                        },
                        done => done,
                    }
                }
            })
            .await?;
        if let Some(index) = index {
            let left = self.shared.timeout.saturating_sub(started.elapsed());
            replica
                .raft
                .wait(Some(left))
                .applied_index_at_least(Some(index), "linearizable read")
                .await
                .map_err(|e| match e {
                    WaitError::Timeout(..) => VariableError::NoQuorum {
                        reason: format!(
                            "this node did not apply the leader's commit index {index} within {:?}",
                            self.shared.timeout
                        ),
                    },
                    WaitError::ShuttingDown => stopped(),
                })?;
        }
        Ok(())
    }

    /// Runs `attempt` with the current leader until it is done or the
    /// deadline passes, waiting for a leader when there is none.
    async fn on_leader<T, F, Fut>(&self, mut attempt: F) -> Result<T, VariableError>
    where
        F: FnMut(Leader, Duration) -> Fut,
        Fut: Future<Output = Attempt<Result<T, VariableError>>>,
    {
        let timeout = self.shared.timeout;
        let deadline = Instant::now() + timeout;
        let mut metrics = self.shared.replica.raft.metrics();
        // The last attempt's reason for trying again, if any.
        let mut last: Option<String> = None;
        // Whether an attempt may have left the request in a leader's log.
        let mut pending = false;
        let no_quorum = |reason: String, pending: bool| VariableError::NoQuorum {
            reason: if pending {
                format!(
                    "{reason}; an earlier attempt reached a leader and may still be applied \
                     (once) if a quorum comes back"
                )
            } else {
                reason
            },
        };
        loop {
            let Some(leader) = self.leader(&mut metrics, deadline).await? else {
                let reason = match last {
                    Some(last) => format!("no leader within {timeout:?} (before: {last})"),
                    None => format!("no leader within {timeout:?}"),
                };
                return Err(no_quorum(reason, pending));
            };
            let within = deadline
                .saturating_duration_since(Instant::now())
                .min(ATTEMPT);
            match attempt(leader, within).await {
                Attempt::Done(answer) => return answer,
                Attempt::Retry {
                    reason,
                    pending: maybe,
                } => {
                    tracing::debug!(%reason, "variables: trying again");
                    pending |= maybe;
                    if Instant::now() >= deadline {
                        let reason = format!("not confirmed within {timeout:?}: {reason}");
                        return Err(no_quorum(reason, pending));
                    }
                    last = Some(reason);
                }
            }
            let now = Instant::now();
            // News of the group (a new leader), or a moment.
            let _ = tokio::time::timeout_at(deadline.min(now + PAUSE), metrics.changed()).await;
        }
    }

    /// The leader this node knows of, waiting for one until `deadline`
    /// (`None` if none came).
    async fn leader(
        &self,
        metrics: &mut watch::Receiver<RaftMetrics<u64, Member>>,
        deadline: Instant,
    ) -> Result<Option<Leader>, VariableError> {
        loop {
            {
                let now = metrics.borrow_and_update();
                if let Some(id) = now.current_leader {
                    if let Some(name) = name_of(&now, id) {
                        return Ok(Some(Leader { id, name }));
                    }
                }
            }
            match tokio::time::timeout_at(deadline, metrics.changed()).await {
                Err(_) => return Ok(None),
                Ok(Err(_)) => return Err(stopped()),
                Ok(Ok(())) => {}
            }
        }
    }

    /// Asks the leader `leader` to run `msg` (a write or a read index).
    async fn forward<M, T>(
        &self,
        leader: &str,
        msg: M,
        within: Duration,
    ) -> Attempt<Result<T, VariableError>>
    where
        M: Message<Reply = Attempt<Result<T, VariableError>>>,
    {
        let server = match self.leader_ref(leader).await {
            Ok(server) => server,
            Err(e) => {
                return Attempt::Retry {
                    reason: format!("the leader {leader} is not reachable: {e}"),
                    pending: false,
                }
            }
        };
        match server.ask(msg, within + MARGIN).await {
            Ok(attempt) => attempt,
            Err(ClusterError::NodeStopped) => Attempt::Done(Err(stopped())),
            // Never delivered: nothing of it is pending.
            Err(e @ ClusterError::UnknownName(_)) => Attempt::Retry {
                reason: format!("the leader {leader} did not answer: {e}"),
                pending: false,
            },
            // Delivered or not, we cannot tell.
            Err(
                e @ (ClusterError::Timeout { .. }
                | ClusterError::NodeGone { .. }
                | ClusterError::NoReply { .. }),
            ) => Attempt::Retry {
                reason: format!("the leader {leader} did not answer: {e}"),
                pending: true,
            },
            Err(e) => Attempt::Done(Err(VariableError::Unavailable {
                reason: e.to_string(),
            })),
        }
    }

    async fn leader_ref(&self, leader: &str) -> Result<Ref, ClusterError> {
        let known = self
            .shared
            .leaders
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(leader)
            .cloned();
        if let Some(server) = known {
            return Ok(server);
        }
        let server = self
            .shared
            .replica
            .node
            .lookup(&client_server(leader))
            .await?;
        self.shared
            .leaders
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(leader.to_owned(), server.clone());
        Ok(server)
    }
}

/// The leader of the group as this node knows it.
#[derive(Debug, Clone)]
struct Leader {
    id: u64,
    name: String,
}

/// The node name of Raft id `id` in the membership `metrics` carry.
fn name_of(metrics: &RaftMetrics<u64, Member>, id: u64) -> Option<String> {
    metrics
        .membership_config
        .membership()
        .get_node(&id)
        .map(|m| m.name.clone())
}

/// Counts operation `op` (`define`, `commit`, `delete`, `read`) by
/// outcome and records its latency.
fn record(op: &'static str, started: Instant, refused: Option<&VariableError>) {
    let outcome = match refused {
        None => "ok",
        Some(VariableError::NoQuorum { .. }) => "no_quorum",
        Some(VariableError::Unavailable { .. }) => "unavailable",
        Some(_) => "refused",
    };
    metrics::counter!("foundation_variables_operations_total", "op" => op, "outcome" => outcome)
        .increment(1);
    metrics::histogram!("foundation_variables_operation_seconds", "op" => op)
        .record(started.elapsed().as_secs_f64());
}

fn stopped() -> VariableError {
    VariableError::Unavailable {
        reason: "the variables Raft on this node has stopped".into(),
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, millis)
}

impl VariablesBuilder {
    /// The deadline of each operation (3 s by default): a write or a
    /// linearizable read that no quorum confirmed by then fails with
    /// [`VariableError::NoQuorum`].
    pub fn timeout(self, timeout: Duration) -> Self {
        Self { timeout, ..self }
    }

    /// How long [`start`](Self::start) waits for the group to form and
    /// elect a leader (30 s by default).
    pub fn formation_timeout(self, timeout: Duration) -> Self {
        Self {
            formation_timeout: timeout,
            ..self
        }
    }

    /// Keeps this node's Raft log, vote and snapshots on disk in `dir`
    /// (created if missing; one directory per node, never shared), so
    /// that a node restarted with the same directory comes back with
    /// everything it had: restarting every node of the group keeps every
    /// committed value. The directory holds one file,
    /// `variables.redb` (a redb database). Without a data dir everything
    /// is in memory, and a restarted node catches up from the others.
    pub fn data_dir(self, dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: Some(dir.into()),
            ..self
        }
    }

    /// Snapshots the table after every `entries` log entries (5000 by
    /// default, at least 1), after which the log before the snapshot is
    /// dropped but for the last `min(entries, 1000)` entries, kept for
    /// followers a little behind.
    pub fn snapshot_every(self, entries: u64) -> Self {
        Self {
            snapshot_every: entries.max(1),
            ..self
        }
    }

    /// Starts this node's Raft and its two servers (`variables-raft@<node>`
    /// for the Raft RPCs, `variables@<node>` for forwarded requests) under a
    /// `variables` supervisor on the node's supervisor, forms the group
    /// (see [`Variables`]) and waits until it has a leader.
    ///
    /// # Errors
    /// [`VariableError::InvalidVoters`] (no voters, this node not among
    /// them, two names with the same Raft id);
    /// [`VariableError::NoQuorum`] if the group has no leader within the
    /// formation timeout; [`VariableError::Unavailable`] if Raft cannot
    /// start, or the data dir cannot be used (it cannot be created or
    /// written, its database is damaged or in use by another process, or
    /// it belongs to another node; the reason names the path);
    /// [`AgentError::Core`] / [`AgentError::Cluster`] if the servers
    /// cannot (a second start on the same node, a name taken).
    pub async fn start(self) -> Result<Variables, AgentError> {
        let mut voters = self.voters;
        voters.sort();
        voters.dedup();
        let name = self.node.name().to_owned();
        let members = if self.join {
            BTreeMap::new()
        } else {
            members(&voters, &name)?
        };
        let id = node_id(&name);
        let (log, machine) = store::open(self.data_dir.as_deref(), &name).await?;
        let raft = Raft::new(
            id,
            Arc::new(raft_config(self.snapshot_every)?),
            Network::new(self.node.clone(), id),
            log,
            machine.clone(),
        )
        .await
        .map_err(|e| VariableError::Unavailable {
            reason: e.to_string(),
        })?;
        let replica = Arc::new(Replica {
            node: self.node.clone(),
            id,
            raft: raft.clone(),
            machine,
            quorum_window: QUORUM_WINDOW,
        });
        if let Err(e) = serve(&self.node, &name, &replica).await {
            let _ = raft.shutdown().await;
            replica.machine.close().await;
            return Err(e);
        }
        let variables = Variables {
            shared: Arc::new(Shared {
                replica,
                timeout: self.timeout,
                session: session(),
                serial: AtomicU64::new(0),
                leaders: Mutex::new(HashMap::new()),
            }),
        };
        let deadline = Instant::now() + self.formation_timeout;
        let formed = if self.join {
            join(&variables, deadline).await
        } else {
            form(&self.node, &raft, &voters, members, deadline).await
        };
        if let Err(e) = formed {
            variables.shutdown().await;
            return Err(e.into());
        }
        Ok(variables)
    }
}

/// The voters as openraft's membership: Raft id to member.
///
/// # Errors
/// [`VariableError::InvalidVoters`] for no voters, `me` not among them, an
/// invalid name or two names with the same id.
fn members(voters: &[String], me: &str) -> Result<BTreeMap<u64, Member>, VariableError> {
    let invalid = |reason: String| VariableError::InvalidVoters { reason };
    if !voters.iter().any(|v| v == me) {
        return Err(invalid(format!(
            "this node `{me}` is not among the voters [{}]",
            voters.join(", ")
        )));
    }
    let mut members = BTreeMap::new();
    for voter in voters {
        if voter.is_empty() || voter.chars().any(char::is_whitespace) {
            return Err(invalid(format!("`{voter}` is not a node name")));
        }
        let member = Member {
            name: voter.clone(),
        };
        if let Some(other) = members.insert(node_id(voter), member) {
            return Err(invalid(format!(
                "`{voter}` and `{}` have the same Raft id",
                other.name
            )));
        }
    }
    Ok(members)
}

/// openraft's settings for a group on one LAN: heartbeats every 50 ms,
/// an election after 300 to 600 ms without one, snapshot chunks of 1 MiB
/// (well under the cluster layer's 8 MiB message limit once encoded), a
/// snapshot every `snapshot_every` entries.
fn raft_config(snapshot_every: u64) -> Result<openraft::Config, VariableError> {
    openraft::Config {
        cluster_name: "foundation-variables".into(),
        heartbeat_interval: 50,
        election_timeout_min: 300,
        election_timeout_max: 600,
        install_snapshot_timeout: 1000,
        snapshot_max_chunk_size: 1 << 20,
        snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(snapshot_every),
        max_in_snapshot_log_to_keep: snapshot_every.min(1000),
        ..openraft::Config::default()
    }
    .validate()
    .map_err(|e| VariableError::Unavailable {
        reason: format!("invalid Raft settings: {e}"),
    })
}

/// Starts the `variables` supervisor with the node's two servers.
async fn serve(node: &Node, name: &str, replica: &Arc<Replica>) -> Result<(), AgentError> {
    let raft = replica.raft.clone();
    let owned = (replica.raft.clone(), replica.machine.clone());
    let replica = Arc::clone(replica);
    let spec = SupervisorSpec::one_for_one()
        .intensity(10, Duration::from_secs(10))
        .child(ChildSpec::new("raft", move || (RaftOwner, owned.clone())))
        .child(
            node.server_spec(&raft_server(name), Vec::<String>::new(), move || {
                RaftServer { raft: raft.clone() }
            }),
        )
        .child(
            node.server_spec(&client_server(name), Vec::<String>::new(), move || {
                ClientServer {
                    replica: Arc::clone(&replica),
                }
            }),
        );
    node.supervisor()
        .start_child(ChildSpec::supervisor(SUPERVISOR, spec))
        .await?;
    Ok(())
}

/// Forms the group: the first voter by name initializes it once every
/// voter answers and none is initialized (a node restarted with its data
/// dir knows the group exists); then every node waits for a leader until
/// `deadline`.
async fn form(
    node: &Node,
    raft: &Raft<super::TypeConfig>,
    voters: &[String],
    members: BTreeMap<u64, Member>,
    deadline: Instant,
) -> Result<(), VariableError> {
    let first = voters.first().map(String::as_str);
    let restored = raft.is_initialized().await.map_err(|_| stopped())?;
    if first == Some(node.name()) && !restored {
        initialize(node, raft, voters, members, deadline).await?;
    }
    let left = deadline.saturating_duration_since(Instant::now());
    raft.wait(Some(left))
        .metrics(|m| m.current_leader.is_some(), "a leader")
        .await
        .map_err(|e| match e {
            WaitError::Timeout(..) => VariableError::NoQuorum {
                reason: format!("the voters elected no leader within {left:?}"),
            },
            WaitError::ShuttingDown => stopped(),
        })?;
    let leader = {
        let metrics = raft.metrics();
        let metrics = metrics.borrow();
        metrics.current_leader.and_then(|id| name_of(&metrics, id))
    };
    tracing::info!(node = node.name(), leader = ?leader, "variables group formed");
    Ok(())
}

/// Joins the group the cluster runs: asks the node's peers whom they know
/// as leader and asks the leader to add this node, until it is a voter or
/// `deadline` passes.
async fn join(variables: &Variables, deadline: Instant) -> Result<(), VariableError> {
    let replica = &variables.shared.replica;
    let me = replica.node.name().to_owned();
    let ask = Duration::from_secs(1);
    let mut last = String::from("no peer runs the variables group");
    loop {
        if replica.voters().contains(&me) {
            tracing::info!(node = %me, "joined the variables group");
            return Ok(());
        }
        let peers = replica.node.peers().await.unwrap_or_default();
        for peer in peers.iter().filter(|p| p.status == PeerStatus::Up) {
            let status = match replica.node.lookup(&raft_server(&peer.node)).await {
                Ok(server) => server.ask(Status, ask).await,
                Err(e) => Err(e),
            };
            let Some(leader) = status.ok().and_then(|s| s.leader) else {
                continue;
            };
            let within = deadline.saturating_duration_since(Instant::now());
            let add = Reconfigure {
                change: Reconfiguration::Add(me.clone()),
                within_ms: millis(within),
            };
            match variables.forward(&leader, add, within).await {
                Attempt::Done(Ok(_)) => break,
                Attempt::Done(Err(e)) => return Err(e),
                Attempt::Retry { reason, .. } => last = reason,
            }
        }
        if replica.voters().contains(&me) {
            continue;
        }
        if Instant::now() + PAUSE >= deadline {
            return Err(VariableError::NoQuorum {
                reason: format!("could not join the variables group: {last}"),
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Initializes the group with `members` once every voter answers, unless
/// one of them is initialized already (this node restarted).
async fn initialize(
    node: &Node,
    raft: &Raft<super::TypeConfig>,
    voters: &[String],
    members: BTreeMap<u64, Member>,
    deadline: Instant,
) -> Result<(), VariableError> {
    let ask = Duration::from_secs(1);
    loop {
        let mut silent = Vec::new();
        let mut initialized = false;
        for voter in voters {
            let answer = match node.lookup(&raft_server(voter)).await {
                Ok(server) => server.ask(Status, ask).await,
                Err(e) => Err(e),
            };
            match answer {
                Ok(status) => initialized |= status.initialized,
                Err(_) => silent.push(voter.as_str()),
            }
        }
        if initialized {
            return Ok(());
        }
        if silent.is_empty() {
            return match raft.initialize(members).await {
                Ok(()) => {
                    tracing::info!(voters = ?voters, "variables group initialized");
                    Ok(())
                }
                // Initialized meanwhile: fine, the group exists.
                Err(RaftError::APIError(InitializeError::NotAllowed(_))) => Ok(()),
                Err(e) => Err(VariableError::Unavailable {
                    reason: e.to_string(),
                }),
            };
        }
        if Instant::now() + Duration::from_millis(100) >= deadline {
            return Err(VariableError::NoQuorum {
                reason: format!(
                    "the voters {} did not answer before the group could form",
                    silent.join(", ")
                ),
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A session number for request ids: the time in nanoseconds, made
/// distinct for each handle of the process.
fn session() -> u64 {
    static STARTED: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
    nanos.wrapping_add(STARTED.fetch_add(1, Ordering::Relaxed))
}
