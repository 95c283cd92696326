//! Guarded asks (`Ref::ask_guarded`): a failed ask is retried and
//! succeeds once its server is back (restarted by its supervisor after a
//! panic); a server that never answers opens its node's breaker, and the
//! next ask is refused at once without waiting for a timeout.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use actor_cluster::{Accepts, ClusterError, Guard, Handler, Message, Node, Server};
use actor_core::{CircuitState, Retry};

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Get;

impl Message for Get {
    type Reply = u64;
    const TAG: &'static str = "test.guard.get/1";
}

/// Panics at its first message (once per process), answers 7 after.
struct Flaky;

static PANICKED: AtomicBool = AtomicBool::new(false);

impl Server for Flaky {
    fn accepts(accepts: &mut Accepts<Self>) {
        accepts.add::<Get>();
    }
}

impl Handler<Get> for Flaky {
    async fn handle(&mut self, _: Get) -> u64 {
        assert!(
            PANICKED.swap(true, Ordering::SeqCst),
            "the first message fails the server"
        );
        7
    }
}

/// Answers too late for the asks below (50 ms).
struct Stuck;

impl Server for Stuck {
    fn accepts(accepts: &mut Accepts<Self>) {
        accepts.add::<Get>();
    }
}

impl Handler<Get> for Stuck {
    async fn handle(&mut self, _: Get) -> u64 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        0
    }
}

#[tokio::test]
async fn guarded_asks_retry_transient_failures_and_stop_at_an_open_breaker() {
    let node = Node::builder()
        .name("guarded")
        .cookie("guard-test")
        .listen("127.0.0.1:0".parse().expect("addr"))
        .no_discovery()
        .start()
        .await
        .expect("node");

    // The first attempt kills the server; it is restarted under the same
    // name and the retry is answered.
    node.serve("flaky", || Flaky).await.expect("serve");
    let flaky = node.lookup("flaky").await.expect("lookup");
    let guard = Guard::new().retry(Retry::new(5).base_delay(Duration::from_millis(50)));
    let answer = flaky
        .ask_guarded(Get, Duration::from_secs(1), &guard)
        .await
        .expect("answered on a retry");
    assert_eq!(answer, 7);
    assert!(PANICKED.load(Ordering::SeqCst));
    assert_eq!(guard.state(""), Some(CircuitState::Closed));

    // Two timeouts open the breaker; the third ask is refused at once.
    node.serve("stuck", || Stuck).await.expect("serve");
    let stuck = node.lookup("stuck").await.expect("lookup");
    let guard = Guard::new()
        .breaker(2, Duration::from_secs(60))
        .retry(Retry::new(1));
    for _ in 0..2 {
        let timed_out = stuck
            .ask_guarded(Get, Duration::from_millis(50), &guard)
            .await;
        assert!(
            matches!(timed_out, Err(ClusterError::Timeout { .. })),
            "{timed_out:?}"
        );
    }
    assert_eq!(guard.state(""), Some(CircuitState::Open));
    let asked = Instant::now();
    let refused = stuck.ask_guarded(Get, Duration::from_secs(5), &guard).await;
    assert!(
        matches!(&refused, Err(ClusterError::Refused { name, .. }) if name == "stuck"),
        "{refused:?}"
    );
    // Not sent, so not waited for: far below the ask's 5 s.
    assert!(
        asked.elapsed() < Duration::from_secs(1),
        "{:?}",
        asked.elapsed()
    );
    node.shutdown().await;
}
