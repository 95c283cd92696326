//! Membership events, and the policies that settle partitions and name
//! conflicts.

use serde::Serialize;

/// A change in cluster membership, as seen by one node.
///
/// Serialises to one JSON object tagged by `event`, e.g.
/// `{"event":"node_up","node":"b","addr":"127.0.0.1:7002"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
#[non_exhaustive]
pub enum NodeEvent {
    /// A peer authenticated; its names are on their way.
    Joining {
        /// The peer's node name.
        node: String,
    },
    /// A peer authenticated and exchanged its names with us, or a suspect
    /// peer was heard from again.
    NodeUp {
        /// The peer's node name.
        node: String,
        /// Where it listens.
        addr: String,
    },
    /// A peer's connection is gone; its names have been removed.
    NodeDown {
        /// The peer's node name.
        node: String,
        /// Why we consider it down.
        reason: String,
    },
    /// A node watching this peer has heard nothing from it for three
    /// quarters of the failure timeout; this node is checking it with a
    /// ping of its own, and reports it down if that goes unanswered too, or
    /// `node_up` again if it answers.
    Suspect {
        /// The peer's node name.
        node: String,
        /// How long it has been silent.
        silent_ms: u64,
    },
    /// A peer that went down is being redialed (with backoff).
    Reconnecting {
        /// The peer's node name.
        node: String,
        /// The address being dialed.
        addr: String,
    },
    /// This node no longer has a quorum under its [`PartitionPolicy`]: it
    /// refuses operations that need the cluster until it has one again.
    QuorumLost {
        /// The policy, e.g. `keep-majority`.
        policy: String,
        /// The members it still sees, itself included.
        visible: Vec<String>,
        /// How many members it knows of.
        known: usize,
    },
    /// This node has a quorum again.
    QuorumRegained {
        /// The members it sees, itself included.
        visible: Vec<String>,
    },
    /// Two nodes registered the same name (concurrently, or on two sides
    /// of a partition that healed); the smallest node name keeps it. Told
    /// on the losing node, whose registration is revoked everywhere.
    NameConflict {
        /// The name.
        name: String,
        /// The node that keeps it.
        winner: String,
        /// Whether this node's actor was stopped ([`ConflictPolicy::Stop`])
        /// or kept running without the name.
        stopped: bool,
    },
    /// Handshakes with a peer failed twice in a row: the cookies differ
    /// (or it is not a Foundation node).
    AuthFailed {
        /// The peer's name as it introduced itself, or `?`.
        peer: String,
        /// Its address.
        addr: String,
        /// What we know.
        reason: String,
    },
}

impl NodeEvent {
    /// The event's name, as its JSON `event` tag (`node_up`, ...).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Joining { .. } => "joining",
            Self::NodeUp { .. } => "node_up",
            Self::NodeDown { .. } => "node_down",
            Self::Suspect { .. } => "suspect",
            Self::Reconnecting { .. } => "reconnecting",
            Self::QuorumLost { .. } => "quorum_lost",
            Self::QuorumRegained { .. } => "quorum_regained",
            Self::NameConflict { .. } => "name_conflict",
            Self::AuthFailed { .. } => "auth_failed",
        }
    }
}

/// Which side of a partition keeps working (split-brain resolution). The
/// other side refuses what needs the cluster — registering a name,
/// starting a protocol — with [`ClusterError::NoQuorum`](crate::ClusterError::NoQuorum) until the
/// partition heals. Members are the nodes this node has seen up and has not
/// seen leave: a node that shuts down cleanly leaves; one that crashed or
/// was cut off counts until it has been away for `forget_after` (see
/// [`NodeBuilder::forget_after`](crate::NodeBuilder::forget_after)). A node that has never had a quorum yet
/// (still forming) is not held back.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum PartitionPolicy {
    /// The side that sees more than half of the members; on an exact half,
    /// the side with the smallest node name.
    #[default]
    KeepMajority,
    /// The side that sees at least this many members, itself included.
    StaticQuorum(usize),
    /// The side that sees the oldest member (the one started first).
    KeepOldest,
}

impl std::fmt::Display for PartitionPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::KeepMajority => f.write_str("keep-majority"),
            Self::StaticQuorum(n) => write!(f, "static-quorum({n})"),
            Self::KeepOldest => f.write_str("keep-oldest"),
        }
    }
}

/// What happens to the actor of a node that loses a name conflict (see
/// [`NodeEvent::NameConflict`]). Either way its name is revoked, so it
/// never answers under that name with its own, stale, state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConflictPolicy {
    /// Stop the losing actor, with reason `name_conflict: ...` (a normal
    /// stop: a transient or temporary child is not restarted).
    #[default]
    Stop,
    /// Keep it running, unnamed: whoever holds its `ActorRef` still reaches it.
    KeepUnnamed,
}
