//! The circuit breaker.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

/// Where a [`CircuitBreaker`] stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CircuitState {
    /// Calls go through; consecutive failures are counted.
    Closed,
    /// Calls are refused until the recovery time has passed.
    Open,
    /// The recovery time has passed: a limited number of trial calls go
    /// through; the first result decides whether the circuit closes or opens
    /// again.
    HalfOpen,
}

/// A circuit breaker: stops calling something that keeps failing, and tries
/// it again after a while.
///
/// * **Closed**: calls go through. `failure_threshold` consecutive failures
///   open the circuit; a success resets the count.
/// * **Open**: calls are refused ([`try_acquire`](Self::try_acquire) returns
///   `None`) for `recovery_time`.
/// * **Half-open**: after `recovery_time`, up to
///   [`half_open_calls`](Self::half_open_calls) trial calls are let through at
///   a time. A trial's success closes the circuit; its failure opens it again
///   for another `recovery_time`.
///
/// The handle is cheap to clone and thread-safe: clones share one state.
/// Time is read from tokio's clock, so `tokio::time::pause` drives it in tests.
///
/// A result is reported through the [`CircuitPermit`] that let the call
/// through. Results of calls admitted before the last state change (say, a
/// slow call that fails after the circuit has already opened) are ignored.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use actor_core::{CircuitBreaker, CircuitState};
///
/// let breaker = CircuitBreaker::new(2, Duration::from_secs(30));
/// for _ in 0..2 {
///     let permit = breaker.try_acquire().expect("closed");
///     permit.failure();
/// }
/// assert_eq!(breaker.state(), CircuitState::Open);
/// assert!(breaker.try_acquire().is_none());
/// ```
#[derive(Clone)]
pub struct CircuitBreaker {
    inner: Arc<Inner>,
}

struct Inner {
    failure_threshold: u32,
    recovery_time: Duration,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    phase: Phase,
    /// Bumped at every state change, so that late results are recognised.
    generation: u64,
    half_open_calls: u32,
}

#[derive(Debug, Clone, Copy)]
enum Phase {
    Closed { failures: u32 },
    Open { until: Instant },
    HalfOpen { in_flight: u32 },
}

impl fmt::Debug for CircuitBreaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let half_open_calls = self.inner.lock().half_open_calls;
        let state = self.state();
        f.debug_struct("CircuitBreaker")
            .field("failure_threshold", &self.inner.failure_threshold)
            .field("recovery_time", &self.inner.recovery_time)
            .field("half_open_calls", &half_open_calls)
            .field("state", &state)
            .finish()
    }
}

impl CircuitBreaker {
    /// A closed breaker that opens after `failure_threshold` consecutive
    /// failures and tries again after `recovery_time`, with one trial call at
    /// a time.
    ///
    /// A `failure_threshold` of 0 is taken as 1.
    #[must_use]
    pub fn new(failure_threshold: u32, recovery_time: Duration) -> Self {
        Self {
            inner: Arc::new(Inner {
                failure_threshold: failure_threshold.max(1),
                recovery_time,
                state: Mutex::new(State {
                    phase: Phase::Closed { failures: 0 },
                    generation: 0,
                    half_open_calls: 1,
                }),
            }),
        }
    }

    /// Lets up to `calls` trial calls through at a time while half-open
    /// (default 1; 0 is taken as 1). The setting is shared by every clone.
    #[must_use]
    pub fn half_open_calls(self, calls: u32) -> Self {
        self.inner.lock().half_open_calls = calls.max(1);
        self
    }

    /// The current state. An open circuit whose recovery time has passed
    /// reports (and becomes) [`CircuitState::HalfOpen`].
    #[must_use]
    pub fn state(&self) -> CircuitState {
        let mut state = self.inner.lock();
        self.inner.refresh(&mut state, Instant::now());
        match state.phase {
            Phase::Closed { .. } => CircuitState::Closed,
            Phase::Open { .. } => CircuitState::Open,
            Phase::HalfOpen { .. } => CircuitState::HalfOpen,
        }
    }

    /// Asks to make one call. `None` while the circuit is open, or while it is
    /// half-open and all trial slots are taken.
    ///
    /// Report the call's result with [`CircuitPermit::success`] or
    /// [`CircuitPermit::failure`]; a permit dropped without a result (the call
    /// was cancelled, or refused further down) counts as neither and frees its
    /// trial slot.
    #[must_use]
    pub fn try_acquire(&self) -> Option<CircuitPermit> {
        let mut state = self.inner.lock();
        self.inner.refresh(&mut state, Instant::now());
        let limit = state.half_open_calls;
        let trial = match &mut state.phase {
            Phase::Closed { .. } => false,
            Phase::Open { .. } => return None,
            Phase::HalfOpen { in_flight } => {
                if *in_flight >= limit {
                    return None;
                }
                *in_flight += 1;
                true
            }
        };
        Some(CircuitPermit {
            breaker: Some(Arc::clone(&self.inner)),
            generation: state.generation,
            trial,
        })
    }

    /// How long an open circuit stays open before it lets trial calls through.
    #[must_use]
    pub fn recovery_time(&self) -> Duration {
        self.inner.recovery_time
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while the lock is held; a poisoned lock still holds
        // a consistent state.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Moves an open circuit whose time is up to half-open.
    fn refresh(&self, state: &mut State, now: Instant) {
        if let Phase::Open { until } = state.phase {
            if now >= until {
                state.phase = Phase::HalfOpen { in_flight: 0 };
                state.generation += 1;
            }
        }
    }

    fn open(&self, state: &mut State) {
        state.phase = Phase::Open {
            until: Instant::now() + self.recovery_time,
        };
        state.generation += 1;
    }

    fn record(&self, generation: u64, trial: bool, outcome: Option<bool>) {
        let mut state = self.lock();
        if state.generation != generation {
            return;
        }
        match (&mut state.phase, outcome) {
            (Phase::Closed { failures }, Some(true)) => *failures = 0,
            (Phase::Closed { failures }, Some(false)) => {
                *failures += 1;
                if *failures >= self.failure_threshold {
                    self.open(&mut state);
                }
            }
            (Phase::HalfOpen { .. }, Some(true)) => {
                state.phase = Phase::Closed { failures: 0 };
                state.generation += 1;
            }
            (Phase::HalfOpen { .. }, Some(false)) => self.open(&mut state),
            (Phase::HalfOpen { in_flight }, None) if trial => {
                *in_flight = in_flight.saturating_sub(1);
            }
            _ => {}
        }
    }
}

/// Permission to make one call through a [`CircuitBreaker`]; report the
/// result with [`success`](Self::success) or [`failure`](Self::failure).
#[must_use = "report the call's result with success() or failure()"]
pub struct CircuitPermit {
    breaker: Option<Arc<Inner>>,
    generation: u64,
    trial: bool,
}

impl fmt::Debug for CircuitPermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitPermit")
            .field("generation", &self.generation)
            .field("trial", &self.trial)
            .finish_non_exhaustive()
    }
}

impl CircuitPermit {
    /// The call succeeded: resets the failure count, or closes a half-open
    /// circuit.
    pub fn success(mut self) {
        self.finish(Some(true));
    }

    /// The call failed: counts towards opening a closed circuit, or opens a
    /// half-open one again.
    pub fn failure(mut self) {
        self.finish(Some(false));
    }

    fn finish(&mut self, outcome: Option<bool>) {
        if let Some(inner) = self.breaker.take() {
            inner.record(self.generation, self.trial, outcome);
        }
    }
}

impl Drop for CircuitPermit {
    fn drop(&mut self) {
        self.finish(None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn late_results_from_an_earlier_state_are_ignored() {
        let breaker = CircuitBreaker::new(1, Duration::from_secs(1));
        let slow = breaker.try_acquire().expect("closed");
        breaker.try_acquire().expect("closed").failure();
        assert_eq!(breaker.state(), CircuitState::Open);
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(breaker.state(), CircuitState::HalfOpen);
        // The slow call from the closed period succeeds late: no effect.
        slow.success();
        assert_eq!(breaker.state(), CircuitState::HalfOpen);
    }

    #[tokio::test(start_paused = true)]
    async fn dropped_trial_frees_its_slot() {
        let breaker = CircuitBreaker::new(1, Duration::from_secs(1));
        breaker.try_acquire().expect("closed").failure();
        tokio::time::advance(Duration::from_secs(1)).await;
        let trial = breaker.try_acquire().expect("half-open trial");
        assert!(breaker.try_acquire().is_none(), "one trial at a time");
        drop(trial);
        assert!(breaker.try_acquire().is_some());
    }

    #[test]
    fn zero_threshold_is_one() {
        let breaker = CircuitBreaker::new(0, Duration::from_secs(1));
        breaker.try_acquire().expect("closed").failure();
        assert_eq!(breaker.state(), CircuitState::Open);
    }
}
