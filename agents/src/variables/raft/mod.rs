//! Replication of the variables [`Table`](super::Table) with openraft.
//!
//! Every node of the group runs one openraft `Raft` whose state machine is
//! a [`Table`](super::Table): a command (define, commit, delete) is
//! appended to the Raft log by the leader, committed once a quorum of
//! voters holds it, and applied in log order on every node, so every node
//! builds the same table with the same versions.
//!
//! * [`store`]: the log store and the state machine, with snapshots of
//!   the table in MessagePack; in memory, or on disk with a data dir.
//! * [`disk`]: a node's log, vote, commit point and latest snapshot in a
//!   redb database in its data dir.
//! * [`wire`]: the messages the nodes of the group send each other: the
//!   Raft RPCs (append entries, vote, install snapshot, status) and the
//!   client requests a follower forwards to the leader (write, read
//!   index).
//! * [`network`]: openraft's network, carried by the cluster layer's
//!   [`Ref::ask`](actor_cluster::Ref::ask) with a timeout.
//! * [`server`]: the two servers each node runs under its supervisor:
//!   `variables-raft@<node>` answers the Raft RPCs and hands them to the
//!   local `Raft`; `variables@<node>` answers forwarded writes and reads.
//!   They are apart because a server answers one message at a time and a
//!   write waits for its commit: a write in flight never delays a
//!   heartbeat or a vote.
//! * [`handle`]: [`Variables`](super::Variables), the public handle.
//!
//! # Node ids
//!
//! openraft names a voter by a number. A node's id is the 64-bit FNV-1a
//! hash of its node name ([`node_id`]): deterministic, so every node
//! computes the same ids from the same names without a table to agree on,
//! and stable across restarts. The name itself travels with the id in the
//! group's membership (openraft's `Node` is our [`Member`]), which is how
//! the network finds the server of a voter. Two voter names with the same
//! hash are refused when the group starts.

pub(crate) mod disk;
pub(crate) mod handle;
pub(crate) mod network;
pub(crate) mod server;
pub(crate) mod store;
pub(crate) mod wire;

use std::io::Cursor;

use serde::{Deserialize, Serialize};

use super::{Command, Committed, VariableError};

openraft::declare_raft_types!(
    /// The openraft types of the variables group: the log carries
    /// [`Proposal`]s, applying one answers an [`Applied`], voters are
    /// numbered by [`node_id`] and described by a [`Member`].
    pub(crate) TypeConfig:
        D = Proposal,
        R = Applied,
        NodeId = u64,
        Node = Member,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = Cursor<Vec<u8>>,
        AsyncRuntime = openraft::TokioRuntime,
);

/// What applying a log entry answers: the table's answer for a command,
/// `None` for the entries that carry none (a new leader's blank entry, a
/// membership change).
pub(crate) type Applied = Option<Result<Committed, VariableError>>;

/// A voter of the group as openraft's membership records it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Member {
    /// Its node name, which names its servers.
    pub(crate) name: String,
}

/// A command in the log, with the id of the request that proposed it.
///
/// A write that timed out or lost its leader is sent again with the same
/// id; the state machine answers a repeated id with the answer it gave the
/// first time instead of applying the command twice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Proposal {
    /// Who asked, and which of its requests this is.
    pub(crate) id: RequestId,
    /// The change to the table.
    pub(crate) command: Command,
}

/// A request's id: unique per handle (`origin`, `session`) and request.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub(crate) struct RequestId {
    /// The node that asked.
    pub(crate) origin: String,
    /// The handle's session: the time it started, in nanoseconds.
    pub(crate) session: u64,
    /// The request's number in the session.
    pub(crate) serial: u64,
}

/// The openraft id of the node named `name`: the 64-bit FNV-1a hash of the
/// name (see the module docs).
pub(crate) fn node_id(name: &str) -> u64 {
    crate::hash::fnv1a(name.as_bytes())
}

/// The voters of the membership `metrics` carry, by node name, sorted.
pub(crate) fn voter_names(metrics: &openraft::RaftMetrics<u64, Member>) -> Vec<String> {
    let membership = metrics.membership_config.membership();
    let mut names: Vec<String> = membership
        .voter_ids()
        .filter_map(|id| membership.get_node(&id).map(|m| m.name.clone()))
        .collect();
    names.sort();
    names
}

/// The name of the server answering Raft RPCs on node `node`.
pub(crate) fn raft_server(node: &str) -> String {
    format!("variables-raft@{node}")
}

/// The name of the server answering forwarded writes and reads on `node`.
pub(crate) fn client_server(node: &str) -> String {
    format!("variables@{node}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_ids_are_fnv1a_of_the_name() {
        // Reference values of 64-bit FNV-1a.
        assert_eq!(node_id(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(node_id("a"), 0xaf63_dc4c_8601_ec8c);
        assert_ne!(node_id("n1"), node_id("n2"));
        assert_eq!(node_id("n1"), node_id("n1"));
    }
}
