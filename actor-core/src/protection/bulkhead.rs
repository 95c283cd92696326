//! The bulkhead: a concurrency limit with a bounded wait queue.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Why a [`Bulkhead`] refused a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BulkheadRejection {
    /// Every slot was busy and the wait queue was full: shed at once.
    #[error("bulkhead full: {max_concurrent} running and {max_queued} waiting")]
    Full {
        /// The concurrency limit.
        max_concurrent: usize,
        /// The queue limit.
        max_queued: usize,
    },
    /// The call waited in the queue for the bulkhead's maximum wait without
    /// getting a slot.
    #[error("no bulkhead slot within {waited:?}")]
    WaitTimedOut {
        /// How long it waited.
        waited: Duration,
    },
}

/// A concurrency limit: at most `max_concurrent` calls run at once, at most
/// `max_queued` more wait (first come, first served), and a call beyond that
/// is refused at once with [`BulkheadRejection::Full`], so that one slow
/// dependency cannot tie up every task.
///
/// Cheap to clone; clones share the limit.
///
/// # Examples
///
/// ```
/// use actor_core::{Bulkhead, BulkheadRejection};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let bulkhead = Bulkhead::new(1, 0);
/// let permit = bulkhead.acquire().await.unwrap();
/// assert!(matches!(bulkhead.acquire().await, Err(BulkheadRejection::Full { .. })));
/// drop(permit);
/// assert!(bulkhead.acquire().await.is_ok());
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Bulkhead {
    inner: Arc<Inner>,
    max_wait: Option<Duration>,
}

#[derive(Debug)]
struct Inner {
    semaphore: Arc<Semaphore>,
    max_concurrent: usize,
    max_queued: usize,
    queued: AtomicUsize,
}

impl Bulkhead {
    /// At most `max_concurrent` running (0 is taken as 1) and `max_queued`
    /// waiting, with no limit on how long a queued call waits.
    #[must_use]
    pub fn new(max_concurrent: usize, max_queued: usize) -> Self {
        let max_concurrent = max_concurrent.clamp(1, Semaphore::MAX_PERMITS);
        Self {
            inner: Arc::new(Inner {
                semaphore: Arc::new(Semaphore::new(max_concurrent)),
                max_concurrent,
                max_queued,
                queued: AtomicUsize::new(0),
            }),
            max_wait: None,
        }
    }

    /// A queued call that has not got a slot after `max_wait` gives up with
    /// [`BulkheadRejection::WaitTimedOut`].
    ///
    /// The setting belongs to this handle: a clone given another maximum wait
    /// still shares the slots and the queue.
    #[must_use]
    pub fn max_wait(mut self, max_wait: Duration) -> Self {
        self.max_wait = Some(max_wait);
        self
    }

    /// Waits for a slot; the call runs while the permit is held.
    ///
    /// # Errors
    ///
    /// [`BulkheadRejection::Full`] at once when every slot is busy and the
    /// queue is full; [`BulkheadRejection::WaitTimedOut`] when a maximum wait
    /// is set and passes.
    ///
    /// # Cancel safety
    ///
    /// Cancelling the wait leaves the queue (its place is given up).
    pub async fn acquire(&self) -> Result<BulkheadPermit, BulkheadRejection> {
        let inner = &self.inner;
        if let Ok(permit) = Arc::clone(&inner.semaphore).try_acquire_owned() {
            return Ok(BulkheadPermit { _permit: permit });
        }
        let joined = inner
            .queued
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |queued| {
                (queued < inner.max_queued).then_some(queued + 1)
            });
        if joined.is_err() {
            return Err(BulkheadRejection::Full {
                max_concurrent: inner.max_concurrent,
                max_queued: inner.max_queued,
            });
        }
        let _place = QueuePlace(&inner.queued);
        let wait = Arc::clone(&inner.semaphore).acquire_owned();
        let permit = match self.max_wait {
            None => wait.await,
            Some(max_wait) => match tokio::time::timeout(max_wait, wait).await {
                Ok(permit) => permit,
                Err(_) => return Err(BulkheadRejection::WaitTimedOut { waited: max_wait }),
            },
        };
        // The semaphore is never closed, so acquiring cannot fail.
        permit
            .map(|permit| BulkheadPermit { _permit: permit })
            .map_err(|_| BulkheadRejection::Full {
                max_concurrent: inner.max_concurrent,
                max_queued: inner.max_queued,
            })
    }

    /// How many calls hold a slot now.
    #[must_use]
    pub fn running(&self) -> usize {
        self.inner.max_concurrent - self.inner.semaphore.available_permits()
    }

    /// How many calls wait for a slot now.
    #[must_use]
    pub fn queued(&self) -> usize {
        self.inner.queued.load(Ordering::Acquire)
    }
}

/// Leaves the queue when dropped, whether the wait ended or was cancelled.
struct QueuePlace<'a>(&'a AtomicUsize);

impl Drop for QueuePlace<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A slot in a [`Bulkhead`]; dropping it frees the slot for the next call.
#[derive(Debug)]
#[must_use = "the slot is freed as soon as the permit is dropped"]
pub struct BulkheadPermit {
    _permit: OwnedSemaphorePermit,
}
