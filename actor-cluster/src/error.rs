//! The error type of actor-cluster.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use actor_core::CoreError;
use serde::{Deserialize, Serialize};

/// Everything that can go wrong in actor-cluster.
///
/// It is `Clone`, so the underlying errors of [`ConfigError`] and
/// [`StartError`] (an [`io::Error`], a [`CoreError`]) are held in an
/// [`Arc`]: match the variant to reach one, or downcast its link in the
/// [`source`](std::error::Error::source) chain to `Arc<io::Error>`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ClusterError {
    /// The node's configuration was refused before it started.
    #[error("node configuration: {0}")]
    Config(#[from] ConfigError),
    /// The node, or a server on it, could not start.
    #[error("failed to start: {0}")]
    Start(#[from] StartError),
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
    /// A guarded ask ([`Ref::ask_guarded`](crate::Ref::ask_guarded)) was
    /// not sent: the circuit breaker of the node holding `name` is open.
    #[error("ask to `{name}` not sent: {reason}")]
    Refused {
        /// The name asked.
        name: String,
        /// Why (the breaker's state).
        reason: String,
    },
}

/// Why a node's configuration was refused ([`ClusterError::Config`]), by
/// [`NodeBuilder::start`](crate::NodeBuilder::start).
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// No cookie, or an empty one ([`NodeBuilder::cookie`](crate::NodeBuilder::cookie)).
    #[error("a cookie is required")]
    MissingCookie,
    /// The node name is empty or holds `@` or a space
    /// ([`NodeBuilder::name`](crate::NodeBuilder::name)).
    #[error("invalid node name `{name}`: it must be non-empty, without `@` or spaces")]
    InvalidNodeName {
        /// The name given.
        name: String,
    },
    /// The cluster name is empty ([`NodeBuilder::cluster`](crate::NodeBuilder::cluster)).
    #[error("the cluster name must not be empty")]
    EmptyClusterName,
    /// The failure timeout or the handshake timeout is zero
    /// ([`NodeBuilder::failure_timeout`](crate::NodeBuilder::failure_timeout),
    /// [`NodeBuilder::handshake_timeout`](crate::NodeBuilder::handshake_timeout)).
    #[error("the failure and handshake timeouts must be positive, not {failure_timeout:?} and {handshake_timeout:?}")]
    InvalidTimeouts {
        /// The failure timeout given.
        failure_timeout: Duration,
        /// The handshake timeout given.
        handshake_timeout: Duration,
    },
    /// A TLS file ([`Tls`](crate::Tls)) cannot be read: missing, or not
    /// readable by this process.
    #[error("TLS file `{path}` cannot be read: {source}")]
    TlsUnreadable {
        /// The file.
        path: PathBuf,
        /// Why it cannot be read.
        #[source]
        source: Arc<io::Error>,
    },
    /// A TLS file ([`Tls`](crate::Tls)) holds no certificate.
    #[error("TLS file `{path}`: no certificate in the file")]
    TlsNoCertificate {
        /// The file.
        path: PathBuf,
    },
    /// A TLS file ([`Tls`](crate::Tls)) was read but cannot be used: it is
    /// not PEM, holds no key, or rustls refused its certificate, key or CA.
    #[error("TLS file `{path}`: {source}")]
    TlsInvalid {
        /// The file.
        path: PathBuf,
        /// The PEM parser's or rustls's error.
        #[source]
        source: Arc<dyn std::error::Error + Send + Sync>,
    },
    /// The limits given for the node's event store
    /// ([`NodeBuilder::journal`](crate::NodeBuilder::journal)) are invalid.
    #[error("invalid event store limits: {0}")]
    InvalidJournal(String),
}

/// Why a node, or a server on it, could not start ([`ClusterError::Start`]).
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The node's listen address cannot be bound: another process holds the
    /// port, the address is not one of this host's, or the port is
    /// privileged.
    #[error("the node cannot listen on {addr}: {source} (is {addr} free?)")]
    Bind {
        /// The listen address.
        addr: SocketAddr,
        /// Why it cannot be bound (e.g. [`io::ErrorKind::AddrInUse`]).
        #[source]
        source: Arc<io::Error>,
    },
    /// The node's supervisor or one of its actors (listener, gateway,
    /// connector, discovery) could not be spawned.
    #[error("the node's actors did not start: {source} (is {listen} free?)")]
    Spawn {
        /// The listen address.
        listen: SocketAddr,
        /// The supervisor's error.
        #[source]
        source: Arc<CoreError>,
    },
    /// A server could not be started under the node's supervisor
    /// ([`Node::serve`](crate::Node::serve)).
    #[error("server `{name}` did not start: {source}")]
    Server {
        /// The name it was to be registered under.
        name: String,
        /// The supervisor's error.
        #[source]
        source: Arc<CoreError>,
    },
}

/// Equal when their `Debug` forms are: an [`io::Error`] has no `PartialEq`.
impl PartialEq for ConfigError {
    fn eq(&self, other: &Self) -> bool {
        format!("{self:?}") == format!("{other:?}")
    }
}

/// Equal when their `Debug` forms are: an [`io::Error`] or a [`CoreError`]
/// has no `PartialEq`.
impl PartialEq for StartError {
    fn eq(&self, other: &Self) -> bool {
        format!("{self:?}") == format!("{other:?}")
    }
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
#[cfg_attr(feature = "fuzzing", derive(arbitrary::Arbitrary))]
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
    /// The error for a message tagged `requested` sent to a target that
    /// answers the tags `accepts`.
    pub(crate) fn mismatch(accepts: Vec<String>, requested: &str) -> Self {
        Self::TypeMismatch {
            accepts,
            requested: requested.to_owned(),
        }
    }

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

#[cfg(test)]
mod tests {
    use super::*;

    fn bind(port: u16, kind: io::ErrorKind) -> ClusterError {
        StartError::Bind {
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            source: Arc::new(io::Error::from(kind)),
        }
        .into()
    }

    #[test]
    fn errors_with_sources_compare_by_their_contents() {
        let taken = bind(7400, io::ErrorKind::AddrInUse);
        assert_eq!(taken, taken.clone());
        assert_eq!(taken, bind(7400, io::ErrorKind::AddrInUse));
        assert_ne!(taken, bind(7401, io::ErrorKind::AddrInUse));
        assert_ne!(taken, bind(7400, io::ErrorKind::PermissionDenied));
        assert_eq!(
            ClusterError::from(ConfigError::MissingCookie),
            ClusterError::Config(ConfigError::MissingCookie)
        );
    }
}
