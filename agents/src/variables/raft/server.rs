//! The servers of one node of the group, and what the leader does with a
//! write or a read index, whether it was asked locally or forwarded.

use std::sync::Arc;
use std::time::Duration;

use actor_cluster::{Accepts, Handler, Node, Server};
use openraft::error::{
    ChangeMembershipError, CheckIsLeaderError, ClientWriteError, InstallSnapshotError, RaftError,
};
use openraft::raft::{AppendEntriesResponse, InstallSnapshotResponse, VoteResponse};
use openraft::{ChangeMembers, Raft, ServerState};

use super::store::StateMachine;
use super::wire::{
    AppendEntries, Attempt, InstallSnapshot, NodeStatus, ReadIndex, Reconfiguration, Reconfigure,
    RequestVote, Status, Write,
};
use super::{node_id, voter_names, Member, Proposal, TypeConfig};
use crate::variables::{Committed, VariableError};

/// One node's part of the group: its `Raft`, its state machine, and the
/// node it runs on. Shared by the handle and the servers.
pub(crate) struct Replica {
    /// The node.
    pub(crate) node: Node,
    /// This node's Raft id.
    pub(crate) id: u64,
    /// The local Raft.
    pub(crate) raft: Raft<TypeConfig>,
    /// The applied table.
    pub(crate) machine: StateMachine,
    /// How recently a quorum must have acknowledged the leader for it to
    /// take a write (older: it may be on the minority side).
    pub(crate) quorum_window: Duration,
}

impl std::fmt::Debug for Replica {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replica")
            .field("node", &self.node.name())
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl Replica {
    /// Appends `proposal` to the log as the leader and waits at most
    /// `within` for it to be committed and applied.
    pub(crate) async fn write_here(
        &self,
        proposal: Proposal,
        within: Duration,
    ) -> Attempt<Result<Committed, VariableError>> {
        if let Err(reason) = self.quorum_recent() {
            // Refused before it enters the log: it cannot be applied later.
            return Attempt::Retry {
                reason,
                pending: false,
            };
        }
        match tokio::time::timeout(within, self.raft.client_write(proposal)).await {
            Err(_) => Attempt::Retry {
                reason: format!("no quorum confirmed the write within {within:?}"),
                pending: true,
            },
            Ok(Ok(response)) => Attempt::Done(response.data.unwrap_or_else(|| {
                Err(VariableError::Unavailable {
                    reason: "the write was applied without an answer".into(),
                })
            })),
            Ok(Err(RaftError::APIError(ClientWriteError::ForwardToLeader(_)))) => Attempt::Retry {
                reason: "the leadership moved".into(),
                pending: false,
            },
            Ok(Err(RaftError::APIError(ClientWriteError::ChangeMembershipError(e)))) => {
                Attempt::Done(Err(VariableError::Unavailable {
                    reason: e.to_string(),
                }))
            }
            Ok(Err(RaftError::Fatal(e))) => Attempt::Done(Err(VariableError::Unavailable {
                reason: e.to_string(),
            })),
        }
    }

    /// Confirms the leadership with a quorum (waiting at most `within`) and
    /// answers the log index a linearizable read must have applied.
    pub(crate) async fn read_index_here(
        &self,
        within: Duration,
    ) -> Attempt<Result<Option<u64>, VariableError>> {
        match tokio::time::timeout(within, self.raft.get_read_log_id()).await {
            Err(_) => Attempt::Retry {
                reason: format!("no quorum confirmed the leadership within {within:?}"),
                pending: false,
            },
            Ok(Ok((read, _applied))) => Attempt::Done(Ok(read.map(|id| id.index))),
            Ok(Err(RaftError::APIError(CheckIsLeaderError::ForwardToLeader(_)))) => {
                Attempt::Retry {
                    reason: "the leadership moved".into(),
                    pending: false,
                }
            }
            Ok(Err(RaftError::APIError(CheckIsLeaderError::QuorumNotEnough(e)))) => {
                Attempt::Retry {
                    reason: e.to_string(),
                    pending: false,
                }
            }
            Ok(Err(RaftError::Fatal(e))) => Attempt::Done(Err(VariableError::Unavailable {
                reason: e.to_string(),
            })),
        }
    }

    /// Changes the group's voters as the leader, waiting at most `within`;
    /// answers the voters after the change. Adding a voter makes it a
    /// learner until it has caught up with the log, then a voter; adding
    /// a voter or removing a non-member changes nothing.
    pub(crate) async fn reconfigure_here(
        &self,
        change: Reconfiguration,
        within: Duration,
    ) -> Attempt<Result<Vec<String>, VariableError>> {
        if let Err(reason) = self.quorum_recent() {
            return Attempt::Retry {
                reason,
                pending: false,
            };
        }
        let voters = self.voters();
        let changed = tokio::time::timeout(within, async {
            match &change {
                Reconfiguration::Add(name) if !voters.contains(name) => {
                    let id = node_id(name);
                    let member = Member { name: name.clone() };
                    self.raft.add_learner(id, member, true).await?;
                    let voter = ChangeMembers::AddVoterIds([id].into());
                    self.raft.change_membership(voter, false).await?;
                }
                Reconfiguration::Remove(name) if voters.contains(name) => {
                    let gone = ChangeMembers::RemoveVoters([node_id(name)].into());
                    self.raft.change_membership(gone, false).await?;
                }
                _ => {}
            }
            Ok::<_, RaftError<u64, ClientWriteError<u64, Member>>>(())
        })
        .await;
        match changed {
            Err(_) => Attempt::Retry {
                reason: format!("the change {change:?} was not committed within {within:?}"),
                pending: true,
            },
            Ok(Ok(())) => Attempt::Done(Ok(self.voters())),
            Ok(Err(RaftError::APIError(ClientWriteError::ForwardToLeader(_)))) => Attempt::Retry {
                reason: "the leadership moved".into(),
                pending: false,
            },
            Ok(Err(RaftError::APIError(ClientWriteError::ChangeMembershipError(
                e @ ChangeMembershipError::InProgress(_),
            )))) => Attempt::Retry {
                reason: e.to_string(),
                pending: false,
            },
            Ok(Err(RaftError::APIError(ClientWriteError::ChangeMembershipError(e)))) => {
                Attempt::Done(Err(VariableError::InvalidVoters {
                    reason: e.to_string(),
                }))
            }
            Ok(Err(RaftError::Fatal(e))) => Attempt::Done(Err(VariableError::Unavailable {
                reason: e.to_string(),
            })),
        }
    }

    /// The voters of the membership in force, by node name, sorted.
    pub(crate) fn voters(&self) -> Vec<String> {
        voter_names(&self.raft.metrics().borrow())
    }

    /// Whether this node leads and a quorum acknowledged it within the
    /// window.
    fn quorum_recent(&self) -> Result<(), String> {
        let metrics = self.raft.metrics();
        let metrics = metrics.borrow();
        if metrics.state != ServerState::Leader {
            return Err("this node no longer leads".into());
        }
        let window = self.quorum_window.as_millis();
        match metrics.millis_since_quorum_ack {
            Some(ms) if u128::from(ms) <= window => Ok(()),
            Some(ms) => Err(format!("the leader has heard from no quorum for {ms} ms")),
            None => Err("the leader has not heard from a quorum yet".into()),
        }
    }
}

/// `variables-raft@<node>`: hands the Raft RPCs to the local `Raft`.
pub(crate) struct RaftServer {
    pub(crate) raft: Raft<TypeConfig>,
}

impl Server for RaftServer {
    fn accepts(accepts: &mut Accepts<Self>) {
        accepts
            .add::<AppendEntries>()
            .add::<RequestVote>()
            .add::<InstallSnapshot>()
            .add::<Status>();
    }
}

impl Handler<AppendEntries> for RaftServer {
    async fn handle(
        &mut self,
        AppendEntries(rpc): AppendEntries,
    ) -> Result<AppendEntriesResponse<u64>, RaftError<u64>> {
        self.raft.append_entries(rpc).await
    }
}

impl Handler<RequestVote> for RaftServer {
    async fn handle(
        &mut self,
        RequestVote(rpc): RequestVote,
    ) -> Result<VoteResponse<u64>, RaftError<u64>> {
        self.raft.vote(rpc).await
    }
}

impl Handler<InstallSnapshot> for RaftServer {
    async fn handle(
        &mut self,
        InstallSnapshot(rpc): InstallSnapshot,
    ) -> Result<InstallSnapshotResponse<u64>, RaftError<u64, InstallSnapshotError>> {
        self.raft.install_snapshot(rpc).await
    }
}

impl Handler<Status> for RaftServer {
    async fn handle(&mut self, _: Status) -> NodeStatus {
        let leader = {
            let metrics = self.raft.metrics();
            let metrics = metrics.borrow();
            metrics.current_leader.and_then(|id| {
                let membership = metrics.membership_config.membership();
                membership.get_node(&id).map(|m| m.name.clone())
            })
        };
        NodeStatus {
            initialized: self.raft.is_initialized().await.unwrap_or(false),
            leader,
        }
    }
}

/// `variables@<node>`: answers the writes and read indexes a follower
/// forwards to this node as the leader.
pub(crate) struct ClientServer {
    pub(crate) replica: Arc<Replica>,
}

impl Server for ClientServer {
    fn accepts(accepts: &mut Accepts<Self>) {
        accepts
            .add::<Write>()
            .add::<ReadIndex>()
            .add::<Reconfigure>();
    }
}

/// The longest a forwarded request may ask the leader to wait.
const MOST: Duration = Duration::from_secs(10);

impl Handler<Write> for ClientServer {
    async fn handle(&mut self, write: Write) -> Attempt<Result<Committed, VariableError>> {
        let within = Duration::from_millis(write.within_ms).min(MOST);
        self.replica.write_here(write.proposal, within).await
    }
}

impl Handler<ReadIndex> for ClientServer {
    async fn handle(&mut self, read: ReadIndex) -> Attempt<Result<Option<u64>, VariableError>> {
        let within = Duration::from_millis(read.within_ms).min(MOST);
        self.replica.read_index_here(within).await
    }
}

impl Handler<Reconfigure> for ClientServer {
    async fn handle(
        &mut self,
        Reconfigure { change, within_ms }: Reconfigure,
    ) -> Attempt<Result<Vec<String>, VariableError>> {
        let within = Duration::from_millis(within_ms).min(MOST);
        self.replica.reconfigure_here(change, within).await
    }
}

/// Owns this node's `Raft` under the variables supervisor. openraft runs
/// tasks of its own; this actor's stop (the supervisor shutting down, or
/// the node) shuts them down and closes the data dir, so the Raft lives
/// exactly as long as the node's part of the group and stopping the node
/// stops it.
pub(crate) struct RaftOwner;

/// [`RaftOwner`] is told nothing.
#[derive(Debug)]
pub(crate) enum Never {}

impl ractor::Message for Never {}

impl ractor::Actor for RaftOwner {
    type Msg = Never;
    type State = (Raft<TypeConfig>, StateMachine);
    type Arguments = (Raft<TypeConfig>, StateMachine);

    async fn pre_start(
        &self,
        _myself: ractor::ActorRef<Never>,
        owned: (Raft<TypeConfig>, StateMachine),
    ) -> Result<(Raft<TypeConfig>, StateMachine), ractor::ActorProcessingErr> {
        Ok(owned)
    }

    async fn post_stop(
        &self,
        _myself: ractor::ActorRef<Never>,
        (raft, machine): &mut (Raft<TypeConfig>, StateMachine),
    ) -> Result<(), ractor::ActorProcessingErr> {
        if let Err(e) = raft.shutdown().await {
            tracing::warn!(error = %e, "the variables Raft did not stop cleanly");
        }
        // Its data dir, if any, may then be opened again.
        machine.close().await;
        Ok(())
    }
}
