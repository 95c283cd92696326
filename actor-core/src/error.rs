//! The error type of actor-core.

use std::time::Duration;

/// Everything that can go wrong in actor-core.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CoreError {
    /// An actor could not be spawned.
    #[error("could not spawn child `{child}`: {reason}")]
    Spawn {
        /// The child id from its [`ChildSpec`](crate::ChildSpec).
        child: String,
        /// What ractor reported.
        reason: String,
    },
    /// A supervisor restarted its children more often than its intensity allows.
    #[error("supervisor `{supervisor}` exceeded its restart intensity ({max_restarts} restarts in {within:?}); last failure of `{child}`")]
    IntensityExceeded {
        /// The supervisor's name (or `anonymous`).
        supervisor: String,
        /// The child whose failure tipped it over.
        child: String,
        /// The configured maximum number of restarts.
        max_restarts: u32,
        /// The configured window.
        within: Duration,
    },
    /// A child id was used twice under one supervisor.
    #[error("a child with id `{0}` already exists under this supervisor")]
    DuplicateChild(String),
    /// No child with this id exists under the supervisor.
    #[error("no child with id `{0}` under this supervisor")]
    UnknownChild(String),
    /// An actor did not answer (it is stopped or its mailbox is closed).
    #[error("actor `{actor}` is not running: {reason}")]
    NotRunning {
        /// Which actor.
        actor: String,
        /// What went wrong.
        reason: String,
    },
}

/// Shorthand for results in actor-core.
pub type Result<T, E = CoreError> = std::result::Result<T, E>;
