//! Retry with exponential backoff and jitter.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// How a [`Retry`] randomises each backoff delay.
///
/// Call the un-randomised delay before retry `n` the *ceiling*:
/// `min(max_delay, base_delay * factor^(n-1))`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Jitter {
    /// The delay is the ceiling itself. Predictable, but callers that failed
    /// together retry together.
    None,
    /// "Full jitter": uniform in `[0, ceiling]`. Spreads retries the most; the
    /// default.
    #[default]
    Full,
    /// "Equal jitter": `ceiling / 2` plus uniform in `[0, ceiling / 2]`, so a
    /// retry never comes sooner than half the ceiling.
    Equal,
}

type Predicate<E> = Arc<dyn Fn(&E) -> bool + Send + Sync>;

/// A retry policy: up to `max_attempts` attempts in all, with exponentially
/// growing, jittered delays between them, retrying only the errors its
/// predicate calls retryable.
///
/// Defaults: 100 ms base delay, factor 2, 10 s maximum delay,
/// [`Jitter::Full`], every error retryable.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use actor_core::{Jitter, Retry};
///
/// #[derive(Debug)]
/// enum Error { Busy, BadRequest }
///
/// let retry = Retry::new(5)
///     .base_delay(Duration::from_millis(50))
///     .max_delay(Duration::from_secs(2))
///     .jitter(Jitter::Equal)
///     .retry_if(|e: &Error| matches!(e, Error::Busy));
/// assert_eq!(retry.ceiling(1), Duration::from_millis(50));
/// assert_eq!(retry.ceiling(3), Duration::from_millis(200));
/// assert!(retry.is_retryable(&Error::Busy));
/// assert!(!retry.is_retryable(&Error::BadRequest));
/// ```
#[must_use]
pub struct Retry<E> {
    max_attempts: u32,
    base_delay: Duration,
    factor: f64,
    max_delay: Duration,
    jitter: Jitter,
    retry_timeouts: bool,
    retryable: Option<Predicate<E>>,
}

impl<E> Clone for Retry<E> {
    fn clone(&self) -> Self {
        Self {
            max_attempts: self.max_attempts,
            base_delay: self.base_delay,
            factor: self.factor,
            max_delay: self.max_delay,
            jitter: self.jitter,
            retry_timeouts: self.retry_timeouts,
            retryable: self.retryable.clone(),
        }
    }
}

impl<E> fmt::Debug for Retry<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Retry")
            .field("max_attempts", &self.max_attempts)
            .field("base_delay", &self.base_delay)
            .field("factor", &self.factor)
            .field("max_delay", &self.max_delay)
            .field("jitter", &self.jitter)
            .field("retry_timeouts", &self.retry_timeouts)
            .field("predicate", &self.retryable.is_some())
            .finish()
    }
}

impl<E> Retry<E> {
    /// At most `max_attempts` attempts, the first included (0 is taken as 1,
    /// which means no retry).
    pub fn new(max_attempts: u32) -> Self {
        Self {
            max_attempts: max_attempts.max(1),
            base_delay: Duration::from_millis(100),
            factor: 2.0,
            max_delay: Duration::from_secs(10),
            jitter: Jitter::Full,
            retry_timeouts: true,
            retryable: None,
        }
    }

    /// The ceiling of the first delay.
    pub fn base_delay(mut self, delay: Duration) -> Self {
        self.base_delay = delay;
        self
    }

    /// How much the ceiling grows from one retry to the next (below 1.0, or
    /// not a number, is taken as 1.0: constant delays).
    pub fn factor(mut self, factor: f64) -> Self {
        self.factor = if factor >= 1.0 { factor } else { 1.0 };
        self
    }

    /// The largest ceiling.
    pub fn max_delay(mut self, delay: Duration) -> Self {
        self.max_delay = delay;
        self
    }

    /// How delays are randomised.
    pub fn jitter(mut self, jitter: Jitter) -> Self {
        self.jitter = jitter;
        self
    }

    /// Retries only the errors for which `retryable` returns true; the others
    /// are returned at once.
    pub fn retry_if(mut self, retryable: impl Fn(&E) -> bool + Send + Sync + 'static) -> Self {
        self.retryable = Some(Arc::new(retryable));
        self
    }

    /// Whether an attempt that timed out is retried (default true).
    pub fn retry_timeouts(mut self, retry: bool) -> Self {
        self.retry_timeouts = retry;
        self
    }

    /// The most attempts, the first included.
    #[must_use]
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// Whether `error` is worth another attempt.
    #[must_use]
    pub fn is_retryable(&self, error: &E) -> bool {
        self.retryable
            .as_ref()
            .is_none_or(|retryable| retryable(error))
    }

    pub(crate) fn retries_timeouts(&self) -> bool {
        self.retry_timeouts
    }

    /// The un-randomised delay before retry `retry` (1 for the first retry):
    /// `min(max_delay, base_delay * factor^(retry-1))`.
    #[must_use]
    pub fn ceiling(&self, retry: u32) -> Duration {
        if self.base_delay.is_zero() {
            return Duration::ZERO;
        }
        let exponent = i32::try_from(retry.saturating_sub(1)).unwrap_or(i32::MAX);
        let scale = self.factor.powi(exponent);
        let seconds = self.base_delay.as_secs_f64() * scale;
        Duration::try_from_secs_f64(seconds)
            .map_or(self.max_delay, |delay| delay.min(self.max_delay))
    }

    /// The delay before retry `retry` (1 for the first retry): the
    /// [`ceiling`](Self::ceiling) randomised by the [`Jitter`].
    #[must_use]
    pub fn delay(&self, retry: u32) -> Duration {
        let ceiling = self.ceiling(retry);
        match self.jitter {
            Jitter::None => ceiling,
            Jitter::Full => ceiling.mul_f64(fastrand::f64()),
            Jitter::Equal => {
                let half = ceiling / 2;
                half + (ceiling - half).mul_f64(fastrand::f64())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceiling_grows_then_caps() {
        let retry = Retry::<()>::new(10)
            .base_delay(Duration::from_millis(100))
            .factor(3.0)
            .max_delay(Duration::from_secs(1));
        assert_eq!(retry.ceiling(1), Duration::from_millis(100));
        assert_eq!(retry.ceiling(2), Duration::from_millis(300));
        assert_eq!(retry.ceiling(3), Duration::from_millis(900));
        assert_eq!(retry.ceiling(4), Duration::from_secs(1));
        assert_eq!(retry.ceiling(u32::MAX), Duration::from_secs(1));
    }

    #[test]
    fn jittered_delays_stay_in_bounds() {
        let full = Retry::<()>::new(5).jitter(Jitter::Full);
        let equal = Retry::<()>::new(5).jitter(Jitter::Equal);
        for retry in 1..=4 {
            for _ in 0..200 {
                let ceiling = full.ceiling(retry);
                assert!(full.delay(retry) <= ceiling);
                let delay = equal.delay(retry);
                assert!(
                    delay >= ceiling / 2 && delay <= ceiling,
                    "{delay:?} vs {ceiling:?}"
                );
            }
        }
        let none = Retry::<()>::new(5).jitter(Jitter::None);
        assert_eq!(none.delay(3), none.ceiling(3));
    }

    #[test]
    fn bad_settings_are_clamped() {
        let retry = Retry::<()>::new(0).factor(f64::NAN);
        assert_eq!(retry.max_attempts(), 1);
        assert_eq!(retry.ceiling(5), retry.ceiling(1));
        assert_eq!(
            Retry::<()>::new(3).factor(0.5).ceiling(4),
            Duration::from_millis(100)
        );
    }
}
