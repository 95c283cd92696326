//! Asks that opt into actor-core's protection ([`Ref::ask_guarded`]): a
//! circuit breaker per node asked, so that a node that keeps failing is
//! not waited on by every caller, and retries with exponential backoff
//! and jitter for the failures that pass (a name between two holders
//! during a failover, a reply lost with its node).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use actor_core::{
    execute_protected, CircuitBreaker, CircuitState, ProtectionError, ProtectionPolicy, Retry,
};

use crate::error::{ClusterError, Result};
use crate::reference::{Message, Ref};

/// The breakers and retries of guarded asks, shared by every ask made
/// through one `Guard` (clones share them too): keep one per caller or
/// per dependency, not one per ask.
///
/// By default a node's breaker opens after 5 failed asks in a row and
/// lets one trial ask through after 10 s; a failed ask is tried 3 times
/// in all, 100 ms apart at first, when it timed out or found its name
/// moving or its node gone. Retries send the message again: guard only
/// messages that may be handled twice.
#[derive(Clone)]
pub struct Guard {
    breakers: Arc<Mutex<HashMap<String, CircuitBreaker>>>,
    failures: u32,
    recovery: Duration,
    retry: Retry<ClusterError>,
}

impl std::fmt::Debug for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guard")
            .field("failures", &self.failures)
            .field("recovery", &self.recovery)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

impl Default for Guard {
    fn default() -> Self {
        Self::new()
    }
}

/// The failures worth another attempt: the message may not have been
/// handled, or the name is between holders.
fn transient(e: &ClusterError) -> bool {
    matches!(
        e,
        ClusterError::Timeout { .. }
            | ClusterError::NodeGone { .. }
            | ClusterError::UnknownName(_)
            | ClusterError::NoReply { .. }
    )
}

impl Guard {
    /// The defaults above.
    pub fn new() -> Self {
        Self {
            breakers: Arc::default(),
            failures: 5,
            recovery: Duration::from_secs(10),
            retry: Retry::new(3)
                .base_delay(Duration::from_millis(100))
                .retry_if(transient),
        }
    }

    /// Each node's breaker opens after `failures` failed asks in a row and
    /// lets a trial through after `recovery`.
    #[must_use]
    pub fn breaker(self, failures: u32, recovery: Duration) -> Self {
        Self {
            failures,
            recovery,
            breakers: Arc::default(),
            ..self
        }
    }

    /// Retries as `retry` says (`Retry::new(1)`: never).
    #[must_use]
    pub fn retry(self, retry: Retry<ClusterError>) -> Self {
        Self { retry, ..self }
    }

    /// The state of the breaker of `node` (the empty name for actors on
    /// this node, and for a name whose holder a reference does not know
    /// yet), if it was asked through this guard.
    pub fn state(&self, node: &str) -> Option<CircuitState> {
        self.lock().get(node).map(CircuitBreaker::state)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, CircuitBreaker>> {
        self.breakers.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The policy for asks to `node`, with its breaker.
    fn policy(&self, node: &str) -> ProtectionPolicy<ClusterError> {
        let breaker = self
            .lock()
            .entry(node.to_owned())
            .or_insert_with(|| CircuitBreaker::new(self.failures, self.recovery))
            .clone();
        ProtectionPolicy::new()
            .circuit_breaker(breaker)
            .retry(self.retry.clone())
    }
}

impl Ref {
    /// [`ask`](Ref::ask) under `guard`'s protection: refused at once with
    /// [`ClusterError::Refused`] while the breaker of the node that holds
    /// the name is open; retried with backoff after a transient failure
    /// (each attempt waits up to `timeout`). Counted by actor-core's
    /// `foundation_protection_*` metrics under the call name
    /// `ask:NAME`.
    ///
    /// # Errors
    /// As [`ask`](Ref::ask), the last attempt's error; or
    /// [`ClusterError::Refused`] if the breaker is open.
    pub async fn ask_guarded<M: Message + Clone>(
        &self,
        msg: M,
        timeout: Duration,
        guard: &Guard,
    ) -> Result<M::Reply> {
        let node = self.node().unwrap_or_default();
        let policy = guard.policy(&node);
        let call = format!("ask:{}", self.name());
        let asked = execute_protected(&call, &policy, || self.ask(msg.clone(), timeout)).await;
        asked.map_err(|e| match e {
            ProtectionError::Inner { error, .. } => error,
            refused => ClusterError::Refused {
                name: self.name().to_owned(),
                reason: refused.to_string(),
            },
        })
    }
}
