//! The messages the nodes of a variables group send each other, each a
//! [`Message`](actor_cluster::Message) with its reply and a stable tag.
//!
//! The Raft RPCs carry openraft's own request and response types (serde,
//! with its `serde` feature); their replies are openraft's `Result`s, so a
//! refusal by the remote `Raft` reaches the sender's openraft as the
//! remote error it expects.

use openraft::error::{InstallSnapshotError, RaftError};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use serde::{Deserialize, Serialize};

use super::{Proposal, TypeConfig};
use crate::variables::{Committed, VariableError};

/// Raft: replicate log entries (or a heartbeat).
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct AppendEntries(pub(crate) AppendEntriesRequest<TypeConfig>);

/// Raft: ask for a vote.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct RequestVote(pub(crate) VoteRequest<u64>);

/// Raft: one chunk of a snapshot.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct InstallSnapshot(pub(crate) InstallSnapshotRequest<TypeConfig>);

/// How the group looks from a node, for forming the group.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Status;

/// A node's answer to [`Status`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct NodeStatus {
    /// Whether its Raft has a membership (it was initialized, or joined).
    pub(crate) initialized: bool,
    /// The leader it knows of, by node name (a joining node asks whom to
    /// ask).
    #[serde(default)]
    pub(crate) leader: Option<String>,
}

/// Change the group's voters, as the leader (asked by a joining or
/// leaving node, or on behalf of a dead one).
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Reconfigure {
    /// The change.
    pub(crate) change: Reconfiguration,
    /// How long the leader may take, in milliseconds.
    pub(crate) within_ms: u64,
}

/// A change of the group's voters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Reconfiguration {
    /// Node `0` becomes a voter (a learner first, until it has caught up).
    Add(String),
    /// Node `0` is no longer a member.
    Remove(String),
}

/// Apply a proposal, as the leader (forwarded by a follower).
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Write {
    /// The proposal, with its request id.
    pub(crate) proposal: Proposal,
    /// How long the leader may wait for its commit, in milliseconds.
    pub(crate) within_ms: u64,
}

/// Confirm the leadership with a quorum and tell the commit index a
/// linearizable read must wait for (the read-index protocol).
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct ReadIndex {
    /// How long the leader may wait for the quorum, in milliseconds.
    pub(crate) within_ms: u64,
}

/// How one attempt at a request on the leader went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) enum Attempt<T> {
    /// Decided: the answer.
    Done(T),
    /// Not decided here (not the leader, no quorum yet): try again until
    /// the deadline; the reason is reported if it passes.
    Retry {
        /// Why.
        reason: String,
        /// Whether the request may be in a leader's log all the same (it
        /// timed out after it was handed to one), to be applied if a
        /// quorum comes back.
        pending: bool,
    },
}

crate::protocol_messages! {
    AppendEntries => Result<AppendEntriesResponse<u64>, RaftError<u64>>,
        "foundation.variables.raft.append_entries/1";
    RequestVote => Result<VoteResponse<u64>, RaftError<u64>>,
        "foundation.variables.raft.vote/1";
    InstallSnapshot => Result<InstallSnapshotResponse<u64>, RaftError<u64, InstallSnapshotError>>,
        "foundation.variables.raft.install_snapshot/1";
    Status => NodeStatus, "foundation.variables.raft.status/1";
    Write => Attempt<Result<Committed, VariableError>>, "foundation.variables.write/1";
    ReadIndex => Attempt<Result<Option<u64>, VariableError>>, "foundation.variables.read_index/1";
    Reconfigure => Attempt<Result<Vec<String>, VariableError>>,
        "foundation.variables.reconfigure/1";
}
