//! Supervision on one node: restarts by policy and strategy, intensity
//! escalation, ordered shutdown.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use foundation::prelude::*;
use ractor::{Message, RpcReplyPort, SupervisionEvent};
use tokio::sync::mpsc;

const DEADLINE: Duration = Duration::from_secs(5);

/// A worker that counts, panics on demand, or stops normally.
struct Worker {
    starts: Arc<AtomicUsize>,
    log: Arc<Mutex<Vec<String>>>,
    id: &'static str,
}

enum WorkerMsg {
    Add(u64),
    Get(RpcReplyPort<u64>),
    Panic,
    Stop,
    /// Stop as a passivated child.
    Sleep,
}
impl Message for WorkerMsg {}

impl Actor for Worker {
    type Msg = WorkerMsg;
    type State = u64;
    type Arguments = ();
    async fn pre_start(&self, _: ActorRef<WorkerMsg>, _: ()) -> Result<u64, ActorProcessingErr> {
        self.starts.fetch_add(1, Ordering::SeqCst);
        self.log.lock().unwrap().push(format!("start {}", self.id));
        Ok(0)
    }
    async fn post_stop(
        &self,
        _: ActorRef<WorkerMsg>,
        _: &mut u64,
    ) -> Result<(), ActorProcessingErr> {
        self.log.lock().unwrap().push(format!("stop {}", self.id));
        Ok(())
    }
    async fn handle(
        &self,
        me: ActorRef<WorkerMsg>,
        msg: WorkerMsg,
        n: &mut u64,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            WorkerMsg::Add(k) => *n += k,
            WorkerMsg::Get(reply) => {
                let _ = reply.send(*n);
            }
            WorkerMsg::Panic => panic!("worker {} asked to panic", self.id),
            WorkerMsg::Stop => me.stop(None),
            WorkerMsg::Sleep => me.stop(Some(foundation::core::PASSIVATED.into())),
        }
        Ok(())
    }
}

struct Fixture {
    starts: Vec<Arc<AtomicUsize>>,
    log: Arc<Mutex<Vec<String>>>,
}

fn spec(strategy: Strategy, ids: &[&'static str], restart: Restart) -> (SupervisorSpec, Fixture) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let mut starts = Vec::new();
    let mut spec = SupervisorSpec::with_strategy(strategy).intensity(3, Duration::from_secs(10));
    for id in ids {
        let count = Arc::new(AtomicUsize::new(0));
        starts.push(count.clone());
        let log = log.clone();
        let id = *id;
        spec = spec.child(
            ChildSpec::new(id, move || {
                (
                    Worker {
                        starts: count.clone(),
                        log: log.clone(),
                        id,
                    },
                    (),
                )
            })
            .restart(restart),
        );
    }
    (spec, Fixture { starts, log })
}

async fn child(sup: &Supervisor, id: &str) -> ActorRef<WorkerMsg> {
    sup.child(id)
        .await
        .unwrap()
        .expect("child")
        .actor
        .expect("child is running")
        .into()
}

async fn get(actor: &ActorRef<WorkerMsg>) -> u64 {
    ractor::call_t!(actor, WorkerMsg::Get, 1000).expect("get")
}

/// Waits until `cond` holds, polling with a deadline.
async fn wait_for(mut cond: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while !cond().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "condition not met within {DEADLINE:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn one_for_one_restarts_only_the_panicking_child() {
    let (spec, fx) = spec(Strategy::OneForOne, &["a", "b"], Restart::Permanent);
    let sup = Supervisor::start(spec).await.unwrap();
    let b = child(&sup, "b").await;
    b.send_message(WorkerMsg::Add(7)).unwrap();
    let a = child(&sup, "a").await;
    a.send_message(WorkerMsg::Panic).unwrap();
    wait_for(async || fx.starts[0].load(Ordering::SeqCst) == 2).await;
    let a2 = child(&sup, "a").await;
    assert_ne!(a.get_id(), a2.get_id());
    assert_eq!(get(&a2).await, 0, "a restarted fresh");
    assert_eq!(get(&b).await, 7, "b kept its state");
    assert_eq!(fx.starts[1].load(Ordering::SeqCst), 1);
    sup.stop().await;
}

#[tokio::test]
async fn one_for_all_restarts_every_child() {
    let (spec, fx) = spec(Strategy::OneForAll, &["a", "b", "c"], Restart::Permanent);
    let sup = Supervisor::start(spec).await.unwrap();
    child(&sup, "b")
        .await
        .send_message(WorkerMsg::Panic)
        .unwrap();
    wait_for(async || fx.starts.iter().all(|s| s.load(Ordering::SeqCst) == 2)).await;
    sup.stop().await;
}

#[tokio::test]
async fn rest_for_one_restarts_the_child_and_those_after_it() {
    let (spec, fx) = spec(Strategy::RestForOne, &["a", "b", "c"], Restart::Permanent);
    let sup = Supervisor::start(spec).await.unwrap();
    child(&sup, "b")
        .await
        .send_message(WorkerMsg::Panic)
        .unwrap();
    wait_for(async || fx.starts[2].load(Ordering::SeqCst) == 2).await;
    assert_eq!(fx.starts[1].load(Ordering::SeqCst), 2);
    assert_eq!(fx.starts[0].load(Ordering::SeqCst), 1);
    sup.stop().await;
}

#[tokio::test]
async fn transient_children_restart_only_on_failure() {
    let (spec, fx) = spec(Strategy::OneForOne, &["t"], Restart::Transient);
    let sup = Supervisor::start(spec).await.unwrap();
    child(&sup, "t")
        .await
        .send_message(WorkerMsg::Panic)
        .unwrap();
    wait_for(async || fx.starts[0].load(Ordering::SeqCst) == 2).await;
    child(&sup, "t")
        .await
        .send_message(WorkerMsg::Stop)
        .unwrap();
    wait_for(async || sup.children().await.unwrap().is_empty()).await;
    assert_eq!(fx.starts[0].load(Ordering::SeqCst), 2);
    sup.stop().await;
}

#[tokio::test]
async fn temporary_children_are_never_restarted() {
    let (spec, fx) = spec(Strategy::OneForOne, &["t", "p"], Restart::Temporary);
    let sup = Supervisor::start(spec).await.unwrap();
    child(&sup, "t")
        .await
        .send_message(WorkerMsg::Panic)
        .unwrap();
    wait_for(async || sup.children().await.unwrap().len() == 1).await;
    assert_eq!(fx.starts[0].load(Ordering::SeqCst), 1);
    sup.stop().await;
}

#[tokio::test]
async fn children_stop_in_reverse_order() {
    let (spec, fx) = spec(Strategy::OneForOne, &["a", "b", "c"], Restart::Permanent);
    let sup = Supervisor::start(spec).await.unwrap();
    sup.stop().await;
    let log = fx.log.lock().unwrap().clone();
    assert_eq!(
        log,
        ["start a", "start b", "start c", "stop c", "stop b", "stop a"]
    );
}

#[tokio::test]
async fn dynamic_children_are_added_and_terminated() {
    let (spec, fx) = spec(Strategy::OneForOne, &[], Restart::Permanent);
    let sup = Supervisor::start(spec.max_children(1)).await.unwrap();
    let log = fx.log.clone();
    let make = move |id: &'static str| {
        let log = log.clone();
        ChildSpec::new(id, move || {
            (
                Worker {
                    starts: Default::default(),
                    log: log.clone(),
                    id,
                },
                (),
            )
        })
    };
    sup.start_child(make("x")).await.unwrap();
    assert!(matches!(
        sup.start_child(make("x")).await,
        Err(foundation::core::CoreError::DuplicateChild(_))
    ));
    assert!(
        sup.start_child(make("y")).await.is_err(),
        "max_children is 1"
    );
    assert_eq!(
        sup.child("x").await.unwrap().map(|c| c.id).as_deref(),
        Some("x")
    );
    sup.terminate_child("x").await.unwrap();
    assert!(sup.child("x").await.unwrap().is_none());
    assert!(matches!(
        sup.terminate_child("x").await,
        Err(foundation::core::CoreError::UnknownChild(_))
    ));
    assert_eq!(fx.log.lock().unwrap().clone(), ["start x", "stop x"]);
    sup.stop().await;
}

/// A parent that reports its children's failures.
struct Parent(mpsc::UnboundedSender<String>);
impl Actor for Parent {
    type Msg = ();
    type State = ();
    type Arguments = ();
    async fn pre_start(&self, _: ActorRef<()>, _: ()) -> Result<(), ActorProcessingErr> {
        Ok(())
    }
    async fn handle_supervisor_evt(
        &self,
        _: ActorRef<()>,
        ev: SupervisionEvent,
        _: &mut (),
    ) -> Result<(), ActorProcessingErr> {
        if let SupervisionEvent::ActorFailed(_, err) = ev {
            let _ = self.0.send(err.to_string());
        }
        Ok(())
    }
}

#[tokio::test]
async fn exceeding_the_intensity_fails_the_supervisor_and_its_parent_sees_it() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let (parent, _) = Actor::spawn(None, Parent(tx), ()).await.unwrap();
    let (spec, fx) = spec(Strategy::OneForOne, &["a", "b"], Restart::Permanent);
    let sup = Supervisor::start_linked(
        spec.intensity(2, Duration::from_secs(60)),
        parent.get_cell(),
    )
    .await
    .unwrap();
    for expected_starts in 2..=3 {
        child(&sup, "a")
            .await
            .send_message(WorkerMsg::Panic)
            .unwrap();
        wait_for(async || fx.starts[0].load(Ordering::SeqCst) == expected_starts).await;
    }
    // The third failure within the window is one too many.
    child(&sup, "a")
        .await
        .send_message(WorkerMsg::Panic)
        .unwrap();
    let failure = tokio::time::timeout(DEADLINE, rx.recv())
        .await
        .expect("parent notified")
        .unwrap();
    assert!(
        failure.contains("exceeded its restart intensity"),
        "{failure}"
    );
    assert!(
        fx.log.lock().unwrap().contains(&"stop b".to_owned()),
        "siblings are stopped"
    );
    parent.stop(None);
}

#[tokio::test]
async fn one_for_all_does_not_restart_temporary_siblings() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let worker = |id: &'static str, log: &Arc<Mutex<Vec<String>>>| {
        let log = log.clone();
        move || {
            (
                Worker {
                    starts: Default::default(),
                    log: log.clone(),
                    id,
                },
                (),
            )
        }
    };
    let spec = SupervisorSpec::with_strategy(Strategy::OneForAll)
        .child(ChildSpec::new("p", worker("p", &log)))
        .child(ChildSpec::new("t", worker("t", &log)).restart(Restart::Temporary));
    let sup = Supervisor::start(spec).await.unwrap();
    child(&sup, "p")
        .await
        .send_message(WorkerMsg::Panic)
        .unwrap();
    wait_for(async || {
        let children = sup.children().await.unwrap();
        children.len() == 1 && children[0].actor.is_some() && children[0].restarts == 1
    })
    .await;
    assert_eq!(&*sup.children().await.unwrap()[0].id, "p");
    assert!(log.lock().unwrap().contains(&"stop t".to_owned()));
    sup.stop().await;
}

#[tokio::test(start_paused = true)]
async fn restart_backoff_delays_restarts() {
    let (spec, fx) = spec(Strategy::OneForOne, &["a"], Restart::Permanent);
    let spec = spec.restart_backoff(Duration::from_millis(200), Duration::from_secs(1));
    let sup = Supervisor::start(spec).await.unwrap();
    let failed_at = tokio::time::Instant::now();
    child(&sup, "a")
        .await
        .send_message(WorkerMsg::Panic)
        .unwrap();
    wait_for(async || sup.children().await.unwrap()[0].actor.is_none()).await;
    wait_for(async || fx.starts[0].load(Ordering::SeqCst) == 2).await;
    let waited = failed_at.elapsed();
    assert!(
        waited >= Duration::from_millis(200),
        "restarted after {waited:?}"
    );
    // The second restart in the window waits twice as long.
    let failed_at = tokio::time::Instant::now();
    child(&sup, "a")
        .await
        .send_message(WorkerMsg::Panic)
        .unwrap();
    wait_for(async || fx.starts[0].load(Ordering::SeqCst) == 3).await;
    assert!(failed_at.elapsed() >= Duration::from_millis(400));
    sup.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_child_waiting_for_its_restart_survives_a_siblings_failure() {
    let (spec, fx) = spec(Strategy::OneForOne, &["a", "b"], Restart::Permanent);
    let spec = spec.restart_backoff(Duration::from_millis(200), Duration::from_secs(1));
    let sup = Supervisor::start(spec).await.unwrap();
    child(&sup, "a")
        .await
        .send_message(WorkerMsg::Panic)
        .unwrap();
    let waiting = async || {
        let children = sup.children().await.unwrap();
        children.iter().any(|c| &*c.id == "a" && c.actor.is_none())
    };
    wait_for(waiting).await;
    // b fails while a waits for its delayed restart.
    child(&sup, "b")
        .await
        .send_message(WorkerMsg::Panic)
        .unwrap();
    wait_for(async || {
        fx.starts[0].load(Ordering::SeqCst) == 2 && fx.starts[1].load(Ordering::SeqCst) == 2
    })
    .await;
    let children = sup.children().await.unwrap();
    let ids: Vec<&str> = children.iter().map(|c| &*c.id).collect();
    assert_eq!(ids, ["a", "b"]);
    assert!(children.iter().all(|c| c.actor.is_some()));
    sup.stop().await;
}

#[tokio::test]
async fn start_order_outlives_removals() {
    let (spec, fx) = spec(
        Strategy::RestForOne,
        &["a", "b", "c", "d"],
        Restart::Permanent,
    );
    let sup = Supervisor::start(spec).await.unwrap();
    // A removal moves no one: the order stays a, b, c, d less a.
    sup.terminate_child("a").await.unwrap();
    let ids = async || {
        let children = sup.children().await.unwrap();
        children
            .into_iter()
            .map(|c| c.id.to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(ids().await, ["b", "c", "d"]);
    // Rest-for-one still means those started after c.
    child(&sup, "c")
        .await
        .send_message(WorkerMsg::Panic)
        .unwrap();
    wait_for(async || fx.starts[3].load(Ordering::SeqCst) == 2).await;
    assert_eq!(fx.starts[2].load(Ordering::SeqCst), 2);
    assert_eq!(fx.starts[1].load(Ordering::SeqCst), 1, "b started before c");
    assert_eq!(ids().await, ["b", "c", "d"]);
    fx.log.lock().unwrap().clear();
    sup.stop().await;
    assert_eq!(
        fx.log.lock().unwrap().clone(),
        ["stop d", "stop c", "stop b"]
    );
}

/// A child whose shutdown never finishes.
struct Stubborn;
impl Actor for Stubborn {
    type Msg = ();
    type State = ();
    type Arguments = ();
    async fn pre_start(&self, _: ActorRef<()>, _: ()) -> Result<(), ActorProcessingErr> {
        Ok(())
    }
    async fn post_stop(&self, _: ActorRef<()>, _: &mut ()) -> Result<(), ActorProcessingErr> {
        std::future::pending::<()>().await;
        Ok(())
    }
}

#[tokio::test]
async fn a_child_that_ignores_shutdown_is_killed_after_its_timeout() {
    let spec = SupervisorSpec::one_for_one()
        .child(ChildSpec::new("stubborn", || (Stubborn, ())).shutdown(Duration::from_millis(100)));
    let sup = Supervisor::start(spec).await.unwrap();
    let stubborn = sup.children().await.unwrap()[0].actor.clone().unwrap();
    tokio::time::timeout(DEADLINE, sup.stop())
        .await
        .expect("supervisor stops despite the child");
    assert_eq!(stubborn.get_status(), ractor::ActorStatus::Stopped);
}

#[tokio::test]
async fn restarts_are_counted_in_metrics() {
    let metrics = foundation::core::MetricsRegistry::new();
    // The only test of this binary that installs the global recorder.
    metrics.install().expect("no recorder installed yet");
    let (spec, fx) = spec(Strategy::OneForOne, &["a"], Restart::Permanent);
    let sup = Supervisor::start(spec.name("metrics-sup")).await.unwrap();
    child(&sup, "a")
        .await
        .send_message(WorkerMsg::Panic)
        .unwrap();
    wait_for(async || fx.starts[0].load(Ordering::SeqCst) == 2).await;
    let restarts = metrics.snapshot().counter(
        "foundation_supervisor_restarts_total",
        &[("supervisor", "metrics-sup"), ("child", "a")],
    );
    assert_eq!(restarts, Some(1));
    sup.stop().await;
}

/// A child that panics on demand and refuses to start while `refusing`
/// is above zero (each refusal counts down).
struct Reluctant {
    refusing: Arc<AtomicUsize>,
    starts: Arc<AtomicUsize>,
}
impl Actor for Reluctant {
    type Msg = WorkerMsg;
    type State = ();
    type Arguments = ();
    async fn pre_start(&self, _: ActorRef<WorkerMsg>, _: ()) -> Result<(), ActorProcessingErr> {
        let refused = self
            .refusing
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if refused {
            return Err("not now".into());
        }
        self.starts.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
    async fn handle(
        &self,
        _: ActorRef<WorkerMsg>,
        msg: WorkerMsg,
        _: &mut (),
    ) -> Result<(), ActorProcessingErr> {
        if let WorkerMsg::Panic = msg {
            panic!("asked to panic");
        }
        Ok(())
    }
}

fn reluctant(refusing: &Arc<AtomicUsize>, starts: &Arc<AtomicUsize>) -> SupervisorSpec {
    let (refusing, starts) = (refusing.clone(), starts.clone());
    SupervisorSpec::one_for_one()
        .intensity(3, Duration::from_secs(10))
        .child(ChildSpec::new("reluctant", move || {
            let child = Reluctant {
                refusing: refusing.clone(),
                starts: starts.clone(),
            };
            (child, ())
        }))
}

#[tokio::test]
async fn a_child_that_does_not_start_again_is_retried_within_the_intensity() {
    let (refusing, starts) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let sup = Supervisor::start(reluctant(&refusing, &starts))
        .await
        .unwrap();
    // Its next two starts fail; the third, 200 ms later, runs.
    refusing.store(2, Ordering::SeqCst);
    child(&sup, "reluctant")
        .await
        .send_message(WorkerMsg::Panic)
        .unwrap();
    wait_for(async || starts.load(Ordering::SeqCst) == 2).await;
    assert_eq!(refusing.load(Ordering::SeqCst), 0);
    let info = sup.children().await.expect("the supervisor still runs");
    assert_eq!(info[0].restarts, 1);
    assert!(info[0].actor.is_some());
    sup.stop().await;
}

#[tokio::test]
async fn a_child_that_never_starts_again_fails_its_supervisor_at_the_intensity() {
    let (refusing, starts) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let sup = Supervisor::start(reluctant(&refusing, &starts))
        .await
        .unwrap();
    refusing.store(usize::MAX, Ordering::SeqCst);
    child(&sup, "reluctant")
        .await
        .send_message(WorkerMsg::Panic)
        .unwrap();
    // Three tries (100 ms apart) within the intensity, then it gives up.
    wait_for(async || sup.children().await.is_err()).await;
    assert_eq!(starts.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_passivated_child_stays_dormant_until_woken() {
    let (spec, fx) = spec(Strategy::OneForAll, &["w", "x"], Restart::Permanent);
    let sup = Supervisor::start(spec).await.unwrap();
    let info = async |sup: &Supervisor| sup.children().await.unwrap()[0].clone();
    child(&sup, "w")
        .await
        .send_message(WorkerMsg::Sleep)
        .unwrap();
    wait_for(async || info(&sup).await.dormant).await;
    // Kept, not restarted, nothing counted.
    let w = info(&sup).await;
    assert!(w.actor.is_none());
    assert_eq!(w.restarts, 0);
    assert_eq!(fx.starts[0].load(Ordering::SeqCst), 1);

    // A sibling's restart (one-for-all) leaves it asleep.
    child(&sup, "x")
        .await
        .send_message(WorkerMsg::Panic)
        .unwrap();
    wait_for(async || fx.starts[1].load(Ordering::SeqCst) == 2).await;
    assert!(info(&sup).await.dormant);
    assert_eq!(fx.starts[0].load(Ordering::SeqCst), 1);

    // Woken, it runs again.
    sup.wake("w");
    wait_for(async || info(&sup).await.actor.is_some()).await;
    let w = info(&sup).await;
    assert!(!w.dormant);
    assert_eq!(w.restarts, 0);
    assert_eq!(fx.starts[0].load(Ordering::SeqCst), 2);

    // A dormant child is terminated like a running one.
    child(&sup, "w")
        .await
        .send_message(WorkerMsg::Sleep)
        .unwrap();
    wait_for(async || info(&sup).await.dormant).await;
    sup.terminate_child("w").await.unwrap();
    let ids: Vec<String> = sup
        .children()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.id.to_string())
        .collect();
    assert_eq!(ids, ["x"]);

    // Added dormant: listed, not started until its first wake.
    let count = Arc::new(AtomicUsize::new(0));
    let (starts, log) = (count.clone(), fx.log.clone());
    let lazy = ChildSpec::new("lazy", move || {
        (
            Worker {
                starts: starts.clone(),
                log: log.clone(),
                id: "lazy",
            },
            (),
        )
    });
    sup.add_dormant(lazy.clone()).await.unwrap();
    let listed = sup.children().await.unwrap();
    assert_eq!(
        listed
            .iter()
            .map(|c| (&*c.id, c.dormant, c.actor.is_some()))
            .collect::<Vec<_>>(),
        [("x", false, true), ("lazy", true, false)]
    );
    assert_eq!(count.load(Ordering::SeqCst), 0);
    assert!(matches!(
        sup.add_dormant(lazy).await,
        Err(foundation::core::CoreError::DuplicateChild(id)) if id == "lazy"
    ));
    sup.wake("lazy");
    wait_for(async || count.load(Ordering::SeqCst) == 1).await;
    let lazy = sup.children().await.unwrap()[1].clone();
    assert!(!lazy.dormant && lazy.actor.is_some());
    sup.stop().await;
}

#[tokio::test]
async fn changes_list_only_what_changed_since_a_generation() {
    let (spec, fx) = spec(Strategy::OneForOne, &["a", "b"], Restart::Permanent);
    let sup = Supervisor::start(spec).await.unwrap();
    let all = sup.changes(0).await.unwrap();
    assert!(all.complete);
    let ids = |c: &foundation::core::Changes| {
        c.children
            .iter()
            .map(|c| c.id.to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&all), ["a", "b"]);

    // Nothing changed: nothing listed.
    let none = sup.changes(all.generation).await.unwrap();
    assert!(!none.complete && none.children.is_empty() && none.removed.is_empty());

    // A restart of b: only b, with its count.
    child(&sup, "b")
        .await
        .send_message(WorkerMsg::Panic)
        .unwrap();
    wait_for(async || fx.starts[1].load(Ordering::SeqCst) == 2).await;
    let restarted = sup.changes(none.generation).await.unwrap();
    assert_eq!(ids(&restarted), ["b"]);
    assert_eq!(restarted.children[0].restarts, 1);

    // One removed: named, not listed.
    sup.terminate_child("a").await.unwrap();
    let removed = sup.changes(restarted.generation).await.unwrap();
    assert!(removed.children.is_empty());
    assert_eq!(removed.removed, ["a"]);
    assert_eq!(ids(&sup.changes(0).await.unwrap()), ["b"]);

    // A watcher further behind than the changes remembered (65,536) is
    // given every child; one just behind, only what changed.
    let before = sup.changes(0).await.unwrap().generation;
    let (fx_log, fx_starts) = (fx.log.clone(), fx.starts[0].clone());
    for i in 0..65_540 {
        let (log, starts) = (fx_log.clone(), fx_starts.clone());
        let lazy = ChildSpec::new(format!("lazy-{i}"), move || {
            let worker = Worker {
                starts: starts.clone(),
                log: log.clone(),
                id: "lazy",
            };
            (worker, ())
        });
        sup.add_dormant(lazy).await.unwrap();
    }
    let behind = sup.changes(before).await.unwrap();
    assert!(behind.complete);
    assert_eq!(behind.children.len(), 65_541);
    let last = sup.changes(behind.generation - 2).await.unwrap();
    assert!(!last.complete);
    assert_eq!(ids(&last), ["lazy-65538", "lazy-65539"]);
    sup.stop().await;
}
