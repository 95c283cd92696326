//! Protection: circuit breaker, rate limiter, bulkhead, retry, timeout and
//! `execute_protected`, all on paused tokio time.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::time::Duration;

use actor_core::{
    execute_protected, Bulkhead, BulkheadRejection, CircuitBreaker, CircuitState, Jitter,
    KeyedRateLimiter, ProtectionError, ProtectionPolicy, Quota, RateLimiter, Retry,
};
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use tokio::time::{advance, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TestError {
    Transient,
    Permanent,
}

fn ms(millis: u64) -> Duration {
    Duration::from_millis(millis)
}

fn secs(secs: u64) -> Duration {
    Duration::from_secs(secs)
}

// ---------------------------------------------------------------- breaker

fn fail_times(breaker: &CircuitBreaker, times: u32) {
    for _ in 0..times {
        breaker.try_acquire().expect("breaker admits").failure();
    }
}

#[tokio::test(start_paused = true)]
async fn breaker_opens_after_threshold_consecutive_failures() {
    let breaker = CircuitBreaker::new(3, secs(10));
    fail_times(&breaker, 2);
    assert_eq!(breaker.state(), CircuitState::Closed);
    fail_times(&breaker, 1);
    assert_eq!(breaker.state(), CircuitState::Open);
}

#[tokio::test(start_paused = true)]
async fn breaker_success_resets_the_failure_count() {
    let breaker = CircuitBreaker::new(3, secs(10));
    fail_times(&breaker, 2);
    breaker.try_acquire().expect("closed").success();
    fail_times(&breaker, 2);
    assert_eq!(breaker.state(), CircuitState::Closed);
}

#[tokio::test(start_paused = true)]
async fn breaker_rejects_while_open() {
    let breaker = CircuitBreaker::new(1, secs(10));
    fail_times(&breaker, 1);
    assert!(breaker.try_acquire().is_none());
    advance(secs(9)).await;
    assert!(breaker.try_acquire().is_none());
    assert_eq!(breaker.state(), CircuitState::Open);
}

#[tokio::test(start_paused = true)]
async fn breaker_half_opens_after_recovery_time_and_closes_on_success() {
    let breaker = CircuitBreaker::new(1, secs(10));
    fail_times(&breaker, 1);
    advance(secs(10)).await;
    assert_eq!(breaker.state(), CircuitState::HalfOpen);
    let trial = breaker.try_acquire().expect("one trial call");
    assert!(breaker.try_acquire().is_none(), "only one trial at a time");
    trial.success();
    assert_eq!(breaker.state(), CircuitState::Closed);
    assert!(breaker.try_acquire().is_some());
}

#[tokio::test(start_paused = true)]
async fn breaker_reopens_when_the_trial_fails() {
    let breaker = CircuitBreaker::new(1, secs(10));
    fail_times(&breaker, 1);
    advance(secs(10)).await;
    breaker.try_acquire().expect("trial").failure();
    assert_eq!(breaker.state(), CircuitState::Open);
    // A fresh recovery time starts at the trial's failure.
    advance(secs(9)).await;
    assert!(breaker.try_acquire().is_none());
    advance(secs(1)).await;
    assert_eq!(breaker.state(), CircuitState::HalfOpen);
}

#[tokio::test(start_paused = true)]
async fn breaker_half_open_admits_the_configured_number_of_trials() {
    let breaker = CircuitBreaker::new(1, secs(1)).half_open_calls(2);
    fail_times(&breaker, 1);
    advance(secs(1)).await;
    let first = breaker.try_acquire().expect("trial 1");
    let _second = breaker.try_acquire().expect("trial 2");
    assert!(breaker.try_acquire().is_none());
    first.success();
    assert_eq!(breaker.state(), CircuitState::Closed);
}

#[tokio::test(start_paused = true)]
async fn breaker_clones_share_state() {
    let breaker = CircuitBreaker::new(1, secs(1));
    let clone = breaker.clone();
    fail_times(&clone, 1);
    assert_eq!(breaker.state(), CircuitState::Open);
}

// ---------------------------------------------------------------- rate limiter

#[tokio::test(start_paused = true)]
async fn limiter_admits_the_burst_then_rejects_then_admits_after_the_period() {
    let limiter = RateLimiter::direct(Quota::new(3, secs(3)).expect("valid quota"));
    for _ in 0..3 {
        assert!(limiter.check().is_ok());
    }
    assert_eq!(
        limiter.check(),
        Err(secs(1)),
        "one call comes back every second"
    );
    advance(ms(999)).await;
    assert!(limiter.check().is_err());
    advance(ms(1)).await;
    assert!(limiter.check().is_ok());
    assert!(limiter.check().is_err());
    // After a whole period the full burst is back, and no more.
    advance(secs(3)).await;
    for _ in 0..3 {
        assert!(limiter.check().is_ok());
    }
    assert!(limiter.check().is_err());
}

#[tokio::test(start_paused = true)]
async fn limiter_burst_can_be_smaller_than_the_rate() {
    let quota = Quota::new(10, secs(1)).expect("valid quota").with_burst(2);
    assert_eq!(quota.burst(), 2);
    assert_eq!(quota.replenish_interval(), ms(100));
    let limiter = RateLimiter::direct(quota);
    assert!(limiter.check().is_ok());
    assert!(limiter.check().is_ok());
    assert!(limiter.check().is_err());
    advance(ms(100)).await;
    assert!(limiter.check().is_ok());
}

#[test]
fn quota_refuses_zero() {
    assert!(Quota::new(0, secs(1)).is_none());
    assert!(Quota::new(5, Duration::ZERO).is_none());
    assert!(Quota::per_second(0).is_none());
    assert_eq!(
        Quota::per_second(5).expect("valid").with_burst(0).burst(),
        1
    );
}

#[tokio::test(start_paused = true)]
async fn keyed_limiter_isolates_keys() {
    let limiter: KeyedRateLimiter<String> =
        RateLimiter::keyed(Quota::new(2, secs(1)).expect("valid quota"));
    let alice = "alice".to_owned();
    let bob = "bob".to_owned();
    assert!(limiter.check(&alice).is_ok());
    assert!(limiter.check(&alice).is_ok());
    assert!(limiter.check(&alice).is_err());
    assert!(
        limiter.check(&bob).is_ok(),
        "alice's use does not limit bob"
    );
    assert!(limiter.check(&bob).is_ok());
    assert!(limiter.check(&bob).is_err());
    assert_eq!(limiter.len(), 2);
    advance(secs(1)).await;
    assert!(limiter.check(&alice).is_ok());
    advance(secs(1)).await;
    limiter.retain_recent();
    assert!(
        limiter.is_empty(),
        "keys back to full capacity are forgotten"
    );
}

// ---------------------------------------------------------------- bulkhead

/// Lets spawned tasks run until `cond` holds (bounded, no sleeping).
async fn settle(cond: impl Fn() -> bool) {
    for _ in 0..100 {
        if cond() {
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!("condition not reached");
}

#[tokio::test(start_paused = true)]
async fn bulkhead_runs_max_concurrent_queues_max_queued_and_sheds_the_rest() {
    let bulkhead = Bulkhead::new(2, 1);
    let first = bulkhead.acquire().await.expect("slot 1");
    let _second = bulkhead.acquire().await.expect("slot 2");
    assert_eq!(bulkhead.running(), 2);

    let queued = tokio::spawn({
        let bulkhead = bulkhead.clone();
        async move { bulkhead.acquire().await.map(|_permit| ()) }
    });
    settle(|| bulkhead.queued() == 1).await;

    let shed = bulkhead.acquire().await;
    assert_eq!(
        shed.err(),
        Some(BulkheadRejection::Full {
            max_concurrent: 2,
            max_queued: 1
        })
    );

    drop(first);
    assert_eq!(queued.await.expect("task"), Ok(()));
    assert_eq!(bulkhead.queued(), 0);
    assert_eq!(bulkhead.running(), 1);
}

#[tokio::test(start_paused = true)]
async fn bulkhead_max_wait_gives_up() {
    let bulkhead = Bulkhead::new(1, 1).max_wait(ms(250));
    let _held = bulkhead.acquire().await.expect("slot");
    let start = Instant::now();
    let waited = bulkhead.acquire().await;
    assert_eq!(
        waited.err(),
        Some(BulkheadRejection::WaitTimedOut { waited: ms(250) })
    );
    assert_eq!(start.elapsed(), ms(250));
    assert_eq!(bulkhead.queued(), 0, "the timed-out call left the queue");
}

#[tokio::test(start_paused = true)]
async fn bulkhead_cancelled_waiter_leaves_the_queue() {
    let bulkhead = Bulkhead::new(1, 1);
    let _held = bulkhead.acquire().await.expect("slot");
    let waiting = tokio::time::timeout(ms(10), bulkhead.acquire()).await;
    assert!(waiting.is_err());
    assert_eq!(bulkhead.queued(), 0);
}

// ---------------------------------------------------------------- retry & timeout

/// Runs a protected call that fails `failures` times with `error` and then
/// succeeds; returns the result and the instant of each attempt.
async fn run_failing(
    policy: &ProtectionPolicy<TestError>,
    failures: usize,
    error: TestError,
) -> (Result<u32, ProtectionError<TestError>>, Vec<Instant>) {
    let attempts = RefCell::new(Vec::new());
    let result = execute_protected("flaky", policy, || {
        attempts.borrow_mut().push(Instant::now());
        let n = attempts.borrow().len();
        async move {
            if n <= failures {
                Err(error)
            } else {
                Ok(7)
            }
        }
    })
    .await;
    (result, attempts.into_inner())
}

fn gaps(instants: &[Instant]) -> Vec<Duration> {
    instants.windows(2).map(|w| w[1] - w[0]).collect()
}

#[tokio::test(start_paused = true)]
async fn retry_backs_off_exponentially_without_jitter() {
    let policy = ProtectionPolicy::new().retry(
        Retry::new(5)
            .base_delay(ms(100))
            .factor(2.0)
            .max_delay(ms(500))
            .jitter(Jitter::None),
    );
    let (result, attempts) = run_failing(&policy, 10, TestError::Transient).await;
    assert!(matches!(
        result,
        Err(ProtectionError::Inner {
            attempts: 5,
            error: TestError::Transient,
            ..
        })
    ));
    assert_eq!(gaps(&attempts), vec![ms(100), ms(200), ms(400), ms(500)]);
}

#[tokio::test(start_paused = true)]
async fn retry_equal_jitter_delays_grow_within_bounds() {
    let retry = Retry::new(6)
        .base_delay(ms(100))
        .factor(2.0)
        .max_delay(secs(60))
        .jitter(Jitter::Equal);
    let policy = ProtectionPolicy::new().retry(retry.clone());
    let (result, attempts) = run_failing(&policy, 10, TestError::Transient).await;
    assert!(matches!(
        result,
        Err(ProtectionError::Inner { attempts: 6, .. })
    ));
    let gaps = gaps(&attempts);
    assert_eq!(gaps.len(), 5);
    for (i, gap) in gaps.iter().enumerate() {
        let ceiling = retry.ceiling(u32::try_from(i).expect("small") + 1);
        assert!(
            *gap >= ceiling / 2 && *gap <= ceiling,
            "gap {i}: {gap:?}, ceiling {ceiling:?}"
        );
    }
    assert!(
        gaps.windows(2).all(|w| w[0] <= w[1]),
        "delays grow: {gaps:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn retry_full_jitter_delays_stay_under_the_ceiling() {
    let retry = Retry::new(6).base_delay(ms(100)).jitter(Jitter::Full);
    let policy = ProtectionPolicy::new().retry(retry.clone());
    let (_, attempts) = run_failing(&policy, 10, TestError::Transient).await;
    for (i, gap) in gaps(&attempts).iter().enumerate() {
        assert!(*gap <= retry.ceiling(u32::try_from(i).expect("small") + 1));
    }
}

#[tokio::test(start_paused = true)]
async fn retry_stops_at_the_first_success() {
    let policy = ProtectionPolicy::new().retry(Retry::new(5).jitter(Jitter::None));
    let (result, attempts) = run_failing(&policy, 2, TestError::Transient).await;
    assert_eq!(result.ok(), Some(7));
    assert_eq!(attempts.len(), 3);
}

#[tokio::test(start_paused = true)]
async fn retry_does_not_retry_non_retryable_errors() {
    let policy = ProtectionPolicy::new()
        .retry(Retry::new(5).retry_if(|e: &TestError| *e == TestError::Transient));
    let (result, attempts) = run_failing(&policy, 10, TestError::Permanent).await;
    assert!(matches!(
        result,
        Err(ProtectionError::Inner {
            attempts: 1,
            error: TestError::Permanent,
            ..
        })
    ));
    assert_eq!(attempts.len(), 1);
}

async fn slow_call(duration: Duration) -> Result<u32, TestError> {
    tokio::time::sleep(duration).await;
    Ok(1)
}

#[tokio::test(start_paused = true)]
async fn timeout_fires() {
    let policy = ProtectionPolicy::<TestError>::new().timeout(secs(1));
    let start = Instant::now();
    let result = execute_protected("slow", &policy, || slow_call(secs(5))).await;
    assert!(matches!(
        result,
        Err(ProtectionError::TimedOut { attempts: 1, timeout, .. }) if timeout == secs(1)
    ));
    assert_eq!(start.elapsed(), secs(1));
    let fast = execute_protected("slow", &policy, || slow_call(ms(999))).await;
    assert_eq!(fast.ok(), Some(1));
}

#[tokio::test(start_paused = true)]
async fn timed_out_attempts_are_retried_unless_told_not_to() {
    let calls = Cell::new(0);
    let retrying = ProtectionPolicy::<TestError>::new()
        .timeout(secs(1))
        .retry(Retry::new(3).jitter(Jitter::None));
    let result = execute_protected("slow", &retrying, || {
        calls.set(calls.get() + 1);
        slow_call(secs(5))
    })
    .await;
    assert!(matches!(
        result,
        Err(ProtectionError::TimedOut { attempts: 3, .. })
    ));
    assert_eq!(calls.get(), 3);

    let not_retrying = ProtectionPolicy::<TestError>::new()
        .timeout(secs(1))
        .retry(Retry::new(3).retry_timeouts(false));
    let result = execute_protected("slow", &not_retrying, || slow_call(secs(5))).await;
    assert!(matches!(
        result,
        Err(ProtectionError::TimedOut { attempts: 1, .. })
    ));
}

// ---------------------------------------------------------------- execute_protected

async fn ok_call() -> Result<u32, TestError> {
    Ok(1)
}

async fn failing_call() -> Result<u32, TestError> {
    Err(TestError::Transient)
}

#[tokio::test(start_paused = true)]
async fn execute_protected_with_no_pieces_just_runs() {
    let policy = ProtectionPolicy::new();
    assert_eq!(
        execute_protected("plain", &policy, ok_call).await.ok(),
        Some(1)
    );
    let failed = execute_protected("plain", &policy, failing_call).await;
    assert_eq!(
        failed.err().and_then(ProtectionError::into_inner),
        Some(TestError::Transient)
    );
}

#[tokio::test(start_paused = true)]
async fn execute_protected_refuses_when_rate_limited() {
    let policy = ProtectionPolicy::new().rate_limiter(RateLimiter::direct(
        Quota::new(1, secs(2)).expect("valid quota"),
    ));
    assert!(execute_protected("limited", &policy, ok_call).await.is_ok());
    let calls = Cell::new(0);
    let refused = execute_protected("limited", &policy, || {
        calls.set(calls.get() + 1);
        ok_call()
    })
    .await;
    match refused {
        Err(ProtectionError::RateLimited { name, retry_after }) => {
            assert_eq!(name, "limited");
            assert_eq!(retry_after, secs(2));
        }
        other => panic!("expected RateLimited, got {other:?}"),
    }
    assert_eq!(calls.get(), 0, "a refused call never runs");
}

#[tokio::test(start_paused = true)]
async fn execute_protected_refuses_when_the_circuit_is_open() {
    let breaker = CircuitBreaker::new(2, secs(30));
    let policy = ProtectionPolicy::new().circuit_breaker(breaker.clone());
    for _ in 0..2 {
        let failed = execute_protected("db", &policy, failing_call).await;
        assert!(matches!(failed, Err(ProtectionError::Inner { .. })));
    }
    assert_eq!(breaker.state(), CircuitState::Open);
    let refused = execute_protected("db", &policy, ok_call).await;
    assert!(matches!(refused, Err(ProtectionError::CircuitOpen { ref name }) if name == "db"));

    advance(secs(30)).await;
    assert_eq!(
        execute_protected("db", &policy, ok_call).await.ok(),
        Some(1)
    );
    assert_eq!(breaker.state(), CircuitState::Closed);
}

#[tokio::test(start_paused = true)]
async fn execute_protected_counts_timeouts_as_breaker_failures() {
    let breaker = CircuitBreaker::new(1, secs(30));
    let policy = ProtectionPolicy::<TestError>::new()
        .circuit_breaker(breaker.clone())
        .timeout(secs(1));
    let result = execute_protected("slow", &policy, || slow_call(secs(5))).await;
    assert!(matches!(result, Err(ProtectionError::TimedOut { .. })));
    assert_eq!(breaker.state(), CircuitState::Open);
}

#[tokio::test(start_paused = true)]
async fn execute_protected_stops_retrying_once_the_circuit_opens() {
    let policy = ProtectionPolicy::new()
        .circuit_breaker(CircuitBreaker::new(2, secs(30)))
        .retry(Retry::new(5).jitter(Jitter::None));
    let calls = Cell::new(0);
    let result = execute_protected("db", &policy, || {
        calls.set(calls.get() + 1);
        failing_call()
    })
    .await;
    assert!(matches!(result, Err(ProtectionError::CircuitOpen { .. })));
    assert_eq!(calls.get(), 2);
}

#[tokio::test(start_paused = true)]
async fn execute_protected_refuses_when_the_bulkhead_is_full() {
    let bulkhead = Bulkhead::new(1, 0);
    let policy = ProtectionPolicy::new().bulkhead(bulkhead.clone());
    let held = bulkhead.acquire().await.expect("slot");
    let refused = execute_protected("pool", &policy, ok_call).await;
    assert!(matches!(
        refused,
        Err(ProtectionError::BulkheadFull {
            rejection: BulkheadRejection::Full { .. },
            ..
        })
    ));
    drop(held);
    assert!(execute_protected("pool", &policy, ok_call).await.is_ok());
}

#[tokio::test(start_paused = true)]
async fn execute_protected_refuses_after_the_bulkhead_wait() {
    let bulkhead = Bulkhead::new(1, 4);
    let policy = ProtectionPolicy::new().bulkhead(bulkhead.clone().max_wait(ms(50)));
    let _held = bulkhead.acquire().await.expect("slot");
    let refused = execute_protected("pool", &policy, ok_call).await;
    assert!(matches!(
        refused,
        Err(ProtectionError::BulkheadFull {
            rejection: BulkheadRejection::WaitTimedOut { .. },
            ..
        })
    ));
}

#[tokio::test(start_paused = true)]
async fn execute_protected_runs_everything_in_order() {
    let bulkhead = Bulkhead::new(1, 0);
    let policy = ProtectionPolicy::new()
        .rate_limiter(RateLimiter::direct(Quota::per_second(10).expect("valid")))
        .circuit_breaker(CircuitBreaker::new(3, secs(5)))
        .bulkhead(bulkhead.clone())
        .timeout(secs(1))
        .retry(Retry::new(3).jitter(Jitter::None));
    let (result, attempts) = run_failing(&policy, 2, TestError::Transient).await;
    assert_eq!(result.ok(), Some(7));
    assert_eq!(attempts.len(), 3);
    assert_eq!(bulkhead.running(), 0, "no slot is kept after the call");
}

// ---------------------------------------------------------------- metrics

type Counters = Vec<(String, Vec<(String, String)>, u64)>;

/// Runs `fut` on a paused current-thread runtime with a local debugging
/// recorder, and returns its output and every counter recorded.
fn with_recorder<F: Future>(fut: F) -> (F::Output, Counters) {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("runtime");
    let output = metrics::with_local_recorder(&recorder, || runtime.block_on(fut));
    let counters = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .filter_map(|(key, _, _, value)| match value {
            DebugValue::Counter(n) => {
                let key = key.key();
                let labels = key
                    .labels()
                    .map(|l| (l.key().to_owned(), l.value().to_owned()))
                    .collect();
                Some((key.name().to_owned(), labels, n))
            }
            _ => None,
        })
        .collect();
    (output, counters)
}

/// The sum of the counters called `name` that carry all of `labels`.
fn counter(counters: &Counters, name: &str, labels: &[(&str, &str)]) -> u64 {
    counters
        .iter()
        .filter(|(n, l, _)| {
            n == name
                && labels
                    .iter()
                    .all(|(k, v)| l.iter().any(|(lk, lv)| lk == k && lv == v))
        })
        .map(|(_, _, value)| value)
        .sum()
}

#[test]
fn metrics_count_rejections_outcomes_timeouts_and_retries() {
    let ((), counters) = with_recorder(async {
        let limited = ProtectionPolicy::new()
            .rate_limiter(RateLimiter::direct(Quota::new(1, secs(60)).expect("valid")));
        assert!(execute_protected("a", &limited, ok_call).await.is_ok());
        assert!(execute_protected("a", &limited, ok_call).await.is_err());

        let breaker = ProtectionPolicy::new().circuit_breaker(CircuitBreaker::new(1, secs(60)));
        assert!(execute_protected("b", &breaker, failing_call)
            .await
            .is_err());
        assert!(execute_protected("b", &breaker, ok_call).await.is_err());

        let bulkhead = Bulkhead::new(1, 0);
        let full = ProtectionPolicy::new().bulkhead(bulkhead.clone());
        let held = bulkhead.acquire().await.expect("slot");
        assert!(execute_protected("c", &full, ok_call).await.is_err());
        drop(held);

        let waiting = Bulkhead::new(1, 1);
        let held = waiting.acquire().await.expect("slot");
        let wait = ProtectionPolicy::new().bulkhead(waiting.clone().max_wait(ms(10)));
        assert!(execute_protected("c", &wait, ok_call).await.is_err());
        drop(held);

        let slow = ProtectionPolicy::<TestError>::new()
            .timeout(ms(10))
            .retry(Retry::new(2).jitter(Jitter::None));
        assert!(execute_protected("d", &slow, || slow_call(secs(1)))
            .await
            .is_err());
    });

    let rejections = "foundation_protection_rejections_total";
    let calls = "foundation_protection_calls_total";
    for (name, reason) in [
        ("a", "rate_limited"),
        ("b", "circuit_open"),
        ("c", "bulkhead_full"),
        ("c", "bulkhead_wait_timed_out"),
    ] {
        assert_eq!(
            counter(&counters, rejections, &[("name", name), ("reason", reason)]),
            1,
            "{reason}: {counters:?}"
        );
    }
    assert_eq!(
        counter(&counters, calls, &[("name", "a"), ("outcome", "success")]),
        1
    );
    assert_eq!(
        counter(&counters, calls, &[("name", "a"), ("outcome", "rejected")]),
        1
    );
    assert_eq!(
        counter(&counters, calls, &[("name", "b"), ("outcome", "error")]),
        1
    );
    assert_eq!(
        counter(&counters, calls, &[("name", "b"), ("outcome", "rejected")]),
        1
    );
    assert_eq!(
        counter(&counters, calls, &[("name", "c"), ("outcome", "rejected")]),
        2
    );
    assert_eq!(
        counter(&counters, calls, &[("name", "d"), ("outcome", "timed_out")]),
        1
    );
    assert_eq!(
        counter(
            &counters,
            "foundation_protection_timeouts_total",
            &[("name", "d")]
        ),
        2
    );
    assert_eq!(
        counter(
            &counters,
            "foundation_protection_retries_total",
            &[("name", "d")]
        ),
        1
    );
    assert_eq!(counter(&counters, calls, &[]), 7, "one outcome per call");
}
