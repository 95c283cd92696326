//! Protection: keeping a struggling dependency from taking the caller down
//! with it.
//!
//! The pieces work on their own and compose in [`execute_protected`]:
//!
//! * [`CircuitBreaker`]: stop calling what keeps failing; try again later.
//! * [`RateLimiter`] / [`KeyedRateLimiter`]: at most so many calls per period
//!   (GCRA, from the `governor` crate), for all calls or per key.
//! * [`Bulkhead`]: at most so many calls at once, a bounded queue, and
//!   immediate refusal beyond it.
//! * [`Retry`]: more attempts after retryable errors, with exponential
//!   backoff and [`Jitter`].
//! * a timeout on each attempt ([`ProtectionPolicy::timeout`]).
//!
//! Every timer and clock here is tokio's, so `tokio::time::pause` makes
//! tests of time-based behaviour deterministic.
//!
//! The order in which [`execute_protected`] applies them, and the metrics it
//! emits, are documented on that function.

mod breaker;
mod bulkhead;
mod rate;
mod retry;

use std::fmt;
use std::future::Future;
use std::time::Duration;

pub use breaker::{CircuitBreaker, CircuitPermit, CircuitState};
pub use bulkhead::{Bulkhead, BulkheadPermit, BulkheadRejection};
pub use rate::{KeyedRateLimiter, Quota, RateLimiter};
pub use retry::{Jitter, Retry};

/// Why [`execute_protected`] did not return a value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProtectionError<E> {
    /// The rate limiter refused the attempt.
    #[error("`{name}` is rate limited; next call admitted in {retry_after:?}")]
    RateLimited {
        /// The protected call's name.
        name: String,
        /// How long until the limiter admits a call.
        retry_after: Duration,
    },
    /// The circuit breaker is open (or half-open with every trial slot taken).
    #[error("circuit of `{name}` is open")]
    CircuitOpen {
        /// The protected call's name.
        name: String,
    },
    /// The bulkhead refused the attempt: full, or no slot within its maximum
    /// wait.
    #[error("`{name}` refused by its bulkhead")]
    BulkheadFull {
        /// The protected call's name.
        name: String,
        /// How the bulkhead refused.
        #[source]
        rejection: BulkheadRejection,
    },
    /// The last attempt did not finish within the timeout.
    #[error("`{name}` timed out after {timeout:?} (attempt {attempts})")]
    TimedOut {
        /// The protected call's name.
        name: String,
        /// The per-attempt timeout.
        timeout: Duration,
        /// How many attempts were made.
        attempts: u32,
    },
    /// The call failed: the error was not retryable, or no attempts were left.
    #[error("`{name}` failed after {attempts} attempt(s)")]
    Inner {
        /// The protected call's name.
        name: String,
        /// How many attempts were made.
        attempts: u32,
        /// The last attempt's error.
        #[source]
        error: E,
    },
}

impl<E> ProtectionError<E> {
    /// The protected call's name.
    #[must_use]
    pub fn name(&self) -> &str {
        match self {
            Self::RateLimited { name, .. }
            | Self::CircuitOpen { name }
            | Self::BulkheadFull { name, .. }
            | Self::TimedOut { name, .. }
            | Self::Inner { name, .. } => name,
        }
    }

    /// The call's own error, when it is one.
    #[must_use]
    pub fn into_inner(self) -> Option<E> {
        match self {
            Self::Inner { error, .. } => Some(error),
            _ => None,
        }
    }
}

/// The pieces [`execute_protected`] applies, each optional, in the order
/// documented there; with none the call simply runs once.
///
/// `E` is the protected call's error type (it is what the [`Retry`]
/// predicate looks at). The policy is cheap to clone, and clones share the
/// breaker, limiter and bulkhead state.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use actor_core::{
///     execute_protected, Bulkhead, CircuitBreaker, ProtectionError, ProtectionPolicy, Quota,
///     RateLimiter, Retry,
/// };
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let policy = ProtectionPolicy::new()
///     .rate_limiter(RateLimiter::direct(Quota::per_second(100).unwrap()))
///     .circuit_breaker(CircuitBreaker::new(5, Duration::from_secs(30)))
///     .bulkhead(Bulkhead::new(10, 20))
///     .timeout(Duration::from_secs(2))
///     .retry(Retry::new(3).retry_if(|e: &std::io::Error| {
///         e.kind() == std::io::ErrorKind::ConnectionReset
///     }));
///
/// let answer = execute_protected("lookup", &policy, || async { Ok::<_, std::io::Error>(42) }).await;
/// assert_eq!(answer.unwrap(), 42);
///
/// let failed = execute_protected("lookup", &policy, || async {
///     Err::<u32, _>(std::io::Error::other("bad request"))
/// })
/// .await;
/// assert!(matches!(failed, Err(ProtectionError::Inner { attempts: 1, .. })));
/// # }
/// ```
#[must_use]
pub struct ProtectionPolicy<E> {
    rate_limiter: Option<RateLimiter>,
    breaker: Option<CircuitBreaker>,
    bulkhead: Option<Bulkhead>,
    timeout: Option<Duration>,
    retry: Option<Retry<E>>,
}

impl<E> Clone for ProtectionPolicy<E> {
    fn clone(&self) -> Self {
        Self {
            rate_limiter: self.rate_limiter.clone(),
            breaker: self.breaker.clone(),
            bulkhead: self.bulkhead.clone(),
            timeout: self.timeout,
            retry: self.retry.clone(),
        }
    }
}

impl<E> Default for ProtectionPolicy<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E> fmt::Debug for ProtectionPolicy<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProtectionPolicy")
            .field("rate_limiter", &self.rate_limiter)
            .field("breaker", &self.breaker)
            .field("bulkhead", &self.bulkhead)
            .field("timeout", &self.timeout)
            .field("retry", &self.retry)
            .finish()
    }
}

impl<E> ProtectionPolicy<E> {
    /// A policy with no pieces.
    pub fn new() -> Self {
        Self {
            rate_limiter: None,
            breaker: None,
            bulkhead: None,
            timeout: None,
            retry: None,
        }
    }

    /// Each attempt first takes a token from `limiter`.
    pub fn rate_limiter(mut self, limiter: RateLimiter) -> Self {
        self.rate_limiter = Some(limiter);
        self
    }

    /// Each attempt goes through `breaker` and reports its result to it.
    pub fn circuit_breaker(mut self, breaker: CircuitBreaker) -> Self {
        self.breaker = Some(breaker);
        self
    }

    /// Each attempt runs in a slot of `bulkhead`.
    pub fn bulkhead(mut self, bulkhead: Bulkhead) -> Self {
        self.bulkhead = Some(bulkhead);
        self
    }

    /// Each attempt must finish within `timeout`; one that does not is
    /// dropped (cancelled) and counts as a failure.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Failed attempts are retried as `retry` says.
    pub fn retry(mut self, retry: Retry<E>) -> Self {
        self.retry = Some(retry);
        self
    }
}

/// How one attempt ended.
enum Attempt<T, E> {
    Done(T),
    Failed(E),
    TimedOut(Duration),
    Refused(ProtectionError<E>),
}

/// Runs `f` under `policy`: rate limit, circuit breaker, bulkhead and timeout
/// on each attempt, retries around them. `name` labels errors, logs and
/// metrics.
///
/// `f` is called once per attempt and returns a fresh future each time.
///
/// # Order
///
/// ```text
/// retry (
///     rate limit → circuit breaker → bulkhead → timeout ( f() )
/// )
/// ```
///
/// Retry is outermost, and each attempt goes through every other piece:
///
/// * **Retries are rate limited and seen by the breaker.** A retry is load
///   on the dependency like any call, so it takes a rate-limit token; each
///   failed attempt counts towards opening the circuit, and once the circuit
///   opens the retries stop, instead of hammering what is already down.
/// * **Cheap refusals first.** The rate limiter and the breaker answer
///   without waiting, so a refused call never takes a bulkhead slot or a
///   place in its queue.
/// * **No slot is held while backing off.** The bulkhead slot is taken for
///   one attempt and freed before the retry delay.
/// * **The timeout covers only the call.** Time spent queued in the bulkhead
///   is bounded by the bulkhead's own [`Bulkhead::max_wait`].
///
/// A refusal (rate limited, circuit open, bulkhead full) ends the call at
/// once, even on a retry: retrying into a refusal only adds load. Every error
/// from `f` (retryable or not) and every timeout counts as a failure for the
/// breaker; it is retried when the [`Retry`] says so and attempts remain.
///
/// # Metrics
///
/// Emitted through the `metrics` facade (install a recorder to collect them),
/// every counter labelled with the call's `name`:
///
/// | counter | extra label | counts |
/// |---|---|---|
/// | `foundation_protection_calls_total` | `outcome`: `success`, `error`, `timed_out`, `rejected` | each [`execute_protected`] call, once, by how it ended |
/// | `foundation_protection_rejections_total` | `reason`: `rate_limited`, `circuit_open`, `bulkhead_full`, `bulkhead_wait_timed_out` | each refused attempt |
/// | `foundation_protection_timeouts_total` | | each attempt that timed out |
/// | `foundation_protection_retries_total` | | each retry started |
///
/// # Errors
///
/// A [`ProtectionError`]: the refusal that stopped an attempt
/// ([`RateLimited`](ProtectionError::RateLimited),
/// [`CircuitOpen`](ProtectionError::CircuitOpen),
/// [`BulkheadFull`](ProtectionError::BulkheadFull)), or how the last attempt
/// failed ([`TimedOut`](ProtectionError::TimedOut),
/// [`Inner`](ProtectionError::Inner)) once no retry is left or the error is
/// not retryable.
///
/// # Cancel safety
///
/// Dropping the future cancels the attempt in flight; its bulkhead slot and
/// any half-open trial slot of the breaker are given back, and nothing is
/// reported to the breaker.
pub async fn execute_protected<T, E, F, Fut>(
    name: &str,
    policy: &ProtectionPolicy<E>,
    mut f: F,
) -> Result<T, ProtectionError<E>>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let max_attempts = policy.retry.as_ref().map_or(1, Retry::max_attempts);
    let mut attempts = 0;
    loop {
        attempts += 1;
        let (outcome, retryable) = match attempt(name, policy, &mut f).await {
            Attempt::Done(value) => {
                count_call(name, "success");
                return Ok(value);
            }
            Attempt::Refused(refusal) => {
                count_call(name, "rejected");
                return Err(refusal);
            }
            Attempt::Failed(error) => {
                let retryable = policy
                    .retry
                    .as_ref()
                    .is_some_and(|r| r.is_retryable(&error));
                (
                    ProtectionError::Inner {
                        name: name.to_owned(),
                        attempts,
                        error,
                    },
                    retryable,
                )
            }
            Attempt::TimedOut(timeout) => (
                ProtectionError::TimedOut {
                    name: name.to_owned(),
                    timeout,
                    attempts,
                },
                policy.retry.as_ref().is_some_and(Retry::retries_timeouts),
            ),
        };
        let retry = match &policy.retry {
            Some(retry) if retryable && attempts < max_attempts => retry,
            _ => {
                let label = match outcome {
                    ProtectionError::TimedOut { .. } => "timed_out",
                    _ => "error",
                };
                tracing::debug!(name, attempts, outcome = label, "protected call failed");
                count_call(name, label);
                return Err(outcome);
            }
        };
        let delay = retry.delay(attempts);
        tracing::debug!(name, attempts, ?delay, "retrying protected call");
        metrics::counter!("foundation_protection_retries_total", "name" => name.to_owned())
            .increment(1);
        tokio::time::sleep(delay).await;
    }
}

/// One attempt: rate limit, breaker, bulkhead, then `f` under the timeout.
async fn attempt<T, E, F, Fut>(name: &str, policy: &ProtectionPolicy<E>, f: &mut F) -> Attempt<T, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    if let Some(limiter) = &policy.rate_limiter {
        if let Err(retry_after) = limiter.check() {
            return refuse(
                name,
                "rate_limited",
                ProtectionError::RateLimited {
                    name: name.to_owned(),
                    retry_after,
                },
            );
        }
    }
    let permit = match &policy.breaker {
        None => None,
        Some(breaker) => match breaker.try_acquire() {
            Some(permit) => Some(permit),
            None => {
                return refuse(
                    name,
                    "circuit_open",
                    ProtectionError::CircuitOpen {
                        name: name.to_owned(),
                    },
                )
            }
        },
    };
    let _slot = match &policy.bulkhead {
        None => None,
        Some(bulkhead) => match bulkhead.acquire().await {
            Ok(slot) => Some(slot),
            Err(rejection) => {
                let reason = match rejection {
                    BulkheadRejection::WaitTimedOut { .. } => "bulkhead_wait_timed_out",
                    _ => "bulkhead_full",
                };
                return refuse(
                    name,
                    reason,
                    ProtectionError::BulkheadFull {
                        name: name.to_owned(),
                        rejection,
                    },
                );
            }
        },
    };
    let result = match policy.timeout {
        None => Ok(f().await),
        Some(timeout) => tokio::time::timeout(timeout, f())
            .await
            .map_err(|_| timeout),
    };
    let succeeded = matches!(result, Ok(Ok(_)));
    if let Some(permit) = permit {
        if succeeded {
            permit.success();
        } else {
            permit.failure();
        }
    }
    match result {
        Ok(Ok(value)) => Attempt::Done(value),
        Ok(Err(error)) => Attempt::Failed(error),
        Err(timeout) => {
            tracing::debug!(name, ?timeout, "protected call timed out");
            metrics::counter!("foundation_protection_timeouts_total", "name" => name.to_owned())
                .increment(1);
            Attempt::TimedOut(timeout)
        }
    }
}

fn refuse<T, E>(name: &str, reason: &'static str, error: ProtectionError<E>) -> Attempt<T, E> {
    tracing::debug!(name, reason, "protected call refused");
    metrics::counter!(
        "foundation_protection_rejections_total",
        "name" => name.to_owned(),
        "reason" => reason
    )
    .increment(1);
    Attempt::Refused(error)
}

fn count_call(name: &str, outcome: &'static str) {
    metrics::counter!(
        "foundation_protection_calls_total",
        "name" => name.to_owned(),
        "outcome" => outcome
    )
    .increment(1);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send<T: Send>(_: &T) {}

    #[test]
    fn protected_future_is_send() {
        let policy = ProtectionPolicy::<std::io::Error>::new().retry(Retry::new(2));
        let call = execute_protected("send", &policy, || async { Ok::<_, std::io::Error>(1) });
        assert_send(&call);
    }

    #[test]
    fn inner_error_is_the_source() {
        let error = ProtectionError::Inner {
            name: "db".to_owned(),
            attempts: 3,
            error: std::io::Error::other("reset"),
        };
        assert_eq!(error.to_string(), "`db` failed after 3 attempt(s)");
        let source = std::error::Error::source(&error).map(ToString::to_string);
        assert_eq!(source.as_deref(), Some("reset"));
        assert_eq!(error.name(), "db");
    }
}
