//! The error type of actor-cluster.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Everything that can go wrong in actor-cluster.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ClusterError {
    /// The node could not be configured or started.
    #[error("node configuration: {0}")]
    Config(String),
    /// The node could not start (bind, spawn).
    #[error("node failed to start: {0}")]
    Start(String),
    /// No actor is registered under this name anywhere in the cluster.
    #[error("no actor named `{0}` in the cluster")]
    UnknownName(String),
    /// A name or group name that cannot be registered: empty, or longer
    /// than [`crate::MAX_NAME_BYTES`].
    #[error("invalid name `{name}`: {reason}")]
    InvalidName {
        /// The name (its first 64 characters if it is longer).
        name: String,
        /// Why.
        reason: String,
    },
    /// The name is already registered (by this node or another).
    #[error("the name `{name}` is already registered on node `{node}`")]
    NameTaken {
        /// The contested name.
        name: String,
        /// The node that holds it.
        node: String,
    },
    /// The actor behind the name does not answer this message type.
    #[error("`{name}` answers {}, not `{requested}`", tags(accepts))]
    TypeMismatch {
        /// The name.
        name: String,
        /// The wire tags of the messages it answers.
        accepts: Vec<String>,
        /// The tag of the message sent.
        requested: String,
    },
    /// No reply came within the deadline.
    #[error("no reply from `{name}` within {timeout:?}")]
    Timeout {
        /// The target.
        name: String,
        /// The deadline that passed.
        timeout: Duration,
    },
    /// The node that hosts the target is not (or no longer) connected.
    #[error("node `{node}` hosting `{name}` is gone")]
    NodeGone {
        /// The node.
        node: String,
        /// The target name.
        name: String,
    },
    /// A message or reply could not be encoded.
    #[error("could not encode a message for `{name}`: {reason}")]
    Encode {
        /// The target name.
        name: String,
        /// The encoder's message.
        reason: String,
    },
    /// A message or reply could not be decoded.
    #[error("could not decode a message for `{name}`: {reason}")]
    Decode {
        /// The target name.
        name: String,
        /// The decoder's message.
        reason: String,
    },
    /// The target actor stopped, or dropped the request without replying.
    #[error("`{name}` did not reply: {reason}")]
    NoReply {
        /// The target name.
        name: String,
        /// Why.
        reason: String,
    },
    /// This node is on the losing side of a partition (see
    /// [`crate::PartitionPolicy`]): operations that need the cluster are
    /// refused until it heals.
    #[error("no quorum under {policy}: this node sees {} of {known} known members ({})", visible.len(), visible.join(", "))]
    NoQuorum {
        /// The policy in force, e.g. `keep-majority`.
        policy: String,
        /// The members this node can see, itself included, sorted.
        visible: Vec<String>,
        /// How many members the cluster had as far as this node knows.
        known: usize,
    },
    /// The node itself is shutting down or its gateway is not running.
    #[error("the local node is not running")]
    NodeStopped,
}

/// `a`, `b` (or "nothing").
fn tags(tags: &[String]) -> String {
    if tags.is_empty() {
        return "no message".into();
    }
    tags.iter()
        .map(|t| format!("`{t}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Shorthand for results in actor-cluster.
pub type Result<T, E = ClusterError> = std::result::Result<T, E>;

/// The failures a remote gateway reports back to an asker; turned into
/// [`ClusterError`] on the asking side.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) enum RemoteError {
    UnknownName,
    TypeMismatch {
        accepts: Vec<String>,
        requested: String,
    },
    Decode(String),
    /// The reply could not be encoded.
    Encode(String),
    NoReply(String),
    /// The reply was too large to send back.
    TooLarge(usize),
}

impl RemoteError {
    pub(crate) fn into_cluster(self, name: &str) -> ClusterError {
        let name = name.to_owned();
        match self {
            Self::UnknownName => ClusterError::UnknownName(name),
            Self::TypeMismatch { accepts, requested } => ClusterError::TypeMismatch {
                name,
                accepts,
                requested,
            },
            Self::Decode(reason) => ClusterError::Decode { name, reason },
            Self::Encode(reason) => ClusterError::Encode { name, reason },
            Self::NoReply(reason) => ClusterError::NoReply { name, reason },
            Self::TooLarge(bytes) => ClusterError::Encode {
                name,
                reason: format!("the reply of {bytes} bytes exceeds the message size limit"),
            },
        }
    }
}
