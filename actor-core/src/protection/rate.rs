//! Rate limiting with governor's GCRA, on tokio's clock.

use std::fmt;
use std::hash::Hash;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::clock::Clock;
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DashMapStateStore;
use governor::state::{InMemoryState, NotKeyed};

/// How many calls a [`RateLimiter`] admits: `count` per `period`, with bursts
/// of up to `burst` calls (by default `count`).
///
/// The limiter is a GCRA (a leaky bucket without a background task): one
/// call's worth of capacity comes back every `period / count`, and at most
/// `burst` of it accumulates.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use actor_core::Quota;
///
/// // 100 calls a minute, at most 10 at once.
/// let quota = Quota::new(100, Duration::from_secs(60)).unwrap().with_burst(10);
/// assert_eq!(quota.burst(), 10);
/// assert!(Quota::new(0, Duration::from_secs(1)).is_none());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    inner: governor::Quota,
}

impl Quota {
    /// `count` calls per `period`, in bursts of up to `count`.
    ///
    /// `None` when `count` is 0 or `period / count` is zero.
    #[must_use]
    pub fn new(count: u32, period: Duration) -> Option<Self> {
        let count = NonZeroU32::new(count)?;
        let inner = governor::Quota::with_period(period / count.get())?.allow_burst(count);
        Some(Self { inner })
    }

    /// `count` calls per second, in bursts of up to `count`; `None` when
    /// `count` is 0.
    #[must_use]
    pub fn per_second(count: u32) -> Option<Self> {
        Self::new(count, Duration::from_secs(1))
    }

    /// Sets the largest burst (0 is taken as 1); the sustained rate is
    /// unchanged.
    #[must_use]
    pub fn with_burst(self, burst: u32) -> Self {
        let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
        Self {
            inner: self.inner.allow_burst(burst),
        }
    }

    /// The largest burst.
    #[must_use]
    pub fn burst(&self) -> u32 {
        self.inner.burst_size().get()
    }

    /// How long it takes for one call's worth of capacity to come back.
    #[must_use]
    pub fn replenish_interval(&self) -> Duration {
        self.inner.replenish_interval()
    }
}

/// governor's clock reading tokio's time, so that `tokio::time::pause` and
/// `advance` drive the limiter like every other timer here.
#[derive(Debug, Clone)]
struct TokioClock {
    start: tokio::time::Instant,
}

impl TokioClock {
    fn new() -> Self {
        Self {
            start: tokio::time::Instant::now(),
        }
    }
}

impl Clock for TokioClock {
    type Instant = Duration;

    fn now(&self) -> Duration {
        tokio::time::Instant::now().saturating_duration_since(self.start)
    }
}

type Direct = governor::RateLimiter<NotKeyed, InMemoryState, TokioClock, NoOpMiddleware<Duration>>;
type Keyed<K> =
    governor::RateLimiter<K, DashMapStateStore<K>, TokioClock, NoOpMiddleware<Duration>>;

/// A rate limiter for one stream of calls (see [`RateLimiter::keyed`] for one
/// limit per key). Cheap to clone; clones share the limit.
///
/// # Examples
///
/// ```
/// use actor_core::{Quota, RateLimiter};
///
/// let limiter = RateLimiter::direct(Quota::per_second(2).unwrap());
/// assert!(limiter.check().is_ok());
/// assert!(limiter.check().is_ok());
/// let retry_after = limiter.check().unwrap_err();
/// assert!(retry_after.as_millis() > 0);
/// ```
#[derive(Clone)]
pub struct RateLimiter {
    inner: Arc<Direct>,
    quota: Quota,
}

impl fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimiter")
            .field("quota", &self.quota)
            .finish_non_exhaustive()
    }
}

impl RateLimiter {
    /// One limit for every call.
    #[must_use]
    pub fn direct(quota: Quota) -> Self {
        Self {
            inner: Arc::new(governor::RateLimiter::new(
                quota.inner,
                InMemoryState::default(),
                TokioClock::new(),
            )),
            quota,
        }
    }

    /// One limit per key: keys do not share capacity.
    #[must_use]
    pub fn keyed<K: Hash + Eq + Clone>(quota: Quota) -> KeyedRateLimiter<K> {
        KeyedRateLimiter {
            inner: Arc::new(governor::RateLimiter::new(
                quota.inner,
                DashMapStateStore::default(),
                TokioClock::new(),
            )),
            quota,
        }
    }

    /// Admits one call, or not.
    ///
    /// # Errors
    ///
    /// When the call is over the limit: the error is how long until one
    /// would be admitted.
    pub fn check(&self) -> Result<(), Duration> {
        self.inner
            .check()
            .map_err(|not_until| not_until.wait_time_from(self.inner.clock().now()))
    }

    /// The quota this limiter enforces.
    #[must_use]
    pub fn quota(&self) -> Quota {
        self.quota
    }
}

/// A rate limiter with one limit per key (a client, a tenant, a node), made
/// with [`RateLimiter::keyed`]. Cheap to clone; clones share the limits.
///
/// Each key seen keeps a small entry; call
/// [`retain_recent`](Self::retain_recent) now and then when keys come and go.
///
/// # Examples
///
/// ```
/// use actor_core::{KeyedRateLimiter, Quota, RateLimiter};
///
/// let limiter: KeyedRateLimiter<&str> = RateLimiter::keyed(Quota::per_second(1).unwrap());
/// assert!(limiter.check(&"alice").is_ok());
/// assert!(limiter.check(&"alice").is_err());
/// assert!(limiter.check(&"bob").is_ok());
/// ```
pub struct KeyedRateLimiter<K: Hash + Eq + Clone> {
    inner: Arc<Keyed<K>>,
    quota: Quota,
}

impl<K: Hash + Eq + Clone> Clone for KeyedRateLimiter<K> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
            quota: self.quota,
        }
    }
}

impl<K: Hash + Eq + Clone> fmt::Debug for KeyedRateLimiter<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedRateLimiter")
            .field("quota", &self.quota)
            .field("keys", &self.inner.len())
            .finish_non_exhaustive()
    }
}

impl<K: Hash + Eq + Clone> KeyedRateLimiter<K> {
    /// Admits one call for `key`, or not.
    ///
    /// # Errors
    ///
    /// When `key` is over its limit: the error is how long until one of its
    /// calls would be admitted.
    pub fn check(&self, key: &K) -> Result<(), Duration> {
        self.inner
            .check_key(key)
            .map_err(|not_until| not_until.wait_time_from(self.inner.clock().now()))
    }

    /// Forgets the keys whose capacity is full again (they behave as new).
    pub fn retain_recent(&self) {
        self.inner.retain_recent();
    }

    /// How many keys are remembered.
    #[must_use]
    pub fn len(&self) -> usize {
        self.inner.len()
    }

    /// Whether no key is remembered.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }

    /// The quota each key gets.
    #[must_use]
    pub fn quota(&self) -> Quota {
        self.quota
    }
}
