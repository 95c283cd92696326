//! Registries: typed lookup of named actors, and the service registry with
//! namespaces, metadata, health checks and removal of dead actors.

use std::any::type_name;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actor_core::{Health, HealthCheck, LocalRegistry, Metadata, RegistryError, ServiceRegistry};
use ractor::{Actor, ActorProcessingErr, ActorRef, Message, RpcReplyPort};
use tokio::time::Instant;

// ---------------------------------------------------------------- helpers

/// Polls `cond` until it holds or `within` has passed (on tokio's clock, so
/// under paused time the deadline is virtual too).
async fn wait_for<F, Fut>(within: Duration, mut cond: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    loop {
        if cond().await {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Answers every `Ping` with "pong".
struct Echo;

struct Ping(RpcReplyPort<&'static str>);
impl Message for Ping {}

impl Actor for Echo {
    type Msg = Ping;
    type State = ();
    type Arguments = ();
    async fn pre_start(&self, _: ActorRef<Ping>, _: ()) -> Result<(), ActorProcessingErr> {
        Ok(())
    }
    async fn handle(
        &self,
        _: ActorRef<Ping>,
        Ping(reply): Ping,
        _: &mut (),
    ) -> Result<(), ActorProcessingErr> {
        let _ = reply.send("pong");
        Ok(())
    }
}

/// Does nothing, except panic when it receives `true`.
struct Idle;

impl Actor for Idle {
    type Msg = bool;
    type State = ();
    type Arguments = ();
    async fn pre_start(&self, _: ActorRef<bool>, _: ()) -> Result<(), ActorProcessingErr> {
        Ok(())
    }
    async fn handle(
        &self,
        _: ActorRef<bool>,
        explode: bool,
        _: &mut (),
    ) -> Result<(), ActorProcessingErr> {
        assert!(!explode, "asked to panic");
        Ok(())
    }
}

async fn idle() -> ActorRef<bool> {
    Actor::spawn(None, Idle, ()).await.expect("spawn idle").0
}

fn meta(pairs: &[(&str, &str)]) -> Metadata {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

// ---------------------------------------------------------------- typed lookup

#[tokio::test]
async fn typed_lookup_returns_a_working_reference() {
    let (echo, _join) = LocalRegistry::spawn("typed-ok", Echo, ())
        .await
        .expect("spawn");
    let found: ActorRef<Ping> = LocalRegistry::lookup("typed-ok").expect("lookup");
    assert_eq!(found.get_id(), echo.get_id());
    let answer = found.call(Ping, None).await.expect("call");
    assert_eq!(answer.success_or(()).expect("reply"), "pong");
    assert!(LocalRegistry::registered().contains(&("typed-ok".to_owned(), type_name::<Ping>())));
    echo.stop_and_wait(None, None).await.expect("stop");
}

#[tokio::test]
async fn typed_lookup_of_an_unknown_name_is_not_found() {
    match LocalRegistry::lookup::<Ping>("typed-nobody") {
        Err(RegistryError::NotFound { name }) => assert_eq!(name, "typed-nobody"),
        other => panic!("expected NotFound, got {other:?}"),
    }
}

#[tokio::test]
async fn typed_lookup_with_another_type_is_an_error_naming_both_types() {
    let (echo, _join) = LocalRegistry::spawn("typed-wrong", Echo, ())
        .await
        .expect("spawn");
    let err = LocalRegistry::lookup::<bool>("typed-wrong").expect_err("wrong type must fail");
    match &err {
        RegistryError::WrongType {
            name,
            expected,
            actual,
        } => {
            assert_eq!(name, "typed-wrong");
            assert_eq!(*expected, "bool");
            assert_eq!(actual, type_name::<Ping>());
        }
        other => panic!("expected WrongType, got {other:?}"),
    }
    let text = err.to_string();
    assert!(text.contains("bool") && text.contains("Ping"), "{text}");
    echo.stop_and_wait(None, None).await.expect("stop");
}

#[tokio::test]
async fn actors_named_without_the_registry_are_type_checked_too() {
    let (actor, _join) = Actor::spawn(Some("typed-raw".into()), Idle, ())
        .await
        .expect("spawn");
    // The type check needs no registration...
    assert!(LocalRegistry::lookup::<bool>("typed-raw").is_ok());
    match LocalRegistry::lookup::<Ping>("typed-raw") {
        Err(RegistryError::WrongType { actual, .. }) => assert!(actual.contains("not recorded")),
        other => panic!("expected WrongType, got {other:?}"),
    }
    // ...registration only adds the type's name to errors and listings.
    LocalRegistry::register(&actor).expect("register");
    match LocalRegistry::lookup::<Ping>("typed-raw") {
        Err(RegistryError::WrongType { actual, .. }) => assert_eq!(actual, "bool"),
        other => panic!("expected WrongType, got {other:?}"),
    }
    actor.stop_and_wait(None, None).await.expect("stop");
}

#[tokio::test]
async fn register_refuses_unnamed_stopped_and_mistyped_actors() {
    let unnamed = idle().await;
    assert!(matches!(
        LocalRegistry::register(&unnamed),
        Err(RegistryError::Unnamed { .. })
    ));
    unnamed.stop_and_wait(None, None).await.expect("stop");

    let (named, _join) = Actor::spawn(Some("typed-mistyped".into()), Idle, ())
        .await
        .expect("spawn");
    // A reference that lies about the message type is refused, not recorded.
    let liar: ActorRef<Ping> = named.get_cell().into();
    assert!(matches!(
        LocalRegistry::register(&liar),
        Err(RegistryError::WrongType { .. })
    ));
    named.stop_and_wait(None, None).await.expect("stop");
    assert!(matches!(
        LocalRegistry::register(&named),
        Err(RegistryError::NotFound { .. })
    ));
}

#[tokio::test]
async fn spawn_refuses_a_name_that_is_taken() {
    let (first, _join) = LocalRegistry::spawn("typed-taken", Echo, ())
        .await
        .expect("spawn");
    match LocalRegistry::spawn("typed-taken", Idle, ()).await {
        Err(RegistryError::NameTaken { name }) => assert_eq!(name, "typed-taken"),
        other => panic!("expected NameTaken, got {:?}", other.map(|(a, _)| a)),
    }
    // The first holder is untouched.
    assert!(LocalRegistry::lookup::<Ping>("typed-taken").is_ok());
    first.stop_and_wait(None, None).await.expect("stop");
}

#[tokio::test]
async fn typed_entries_are_cleaned_after_the_actor_stops() {
    let (echo, _join) = LocalRegistry::spawn("typed-cleaned", Echo, ())
        .await
        .expect("spawn");
    echo.stop(None);
    let gone = wait_for(Duration::from_secs(5), || async {
        matches!(
            LocalRegistry::lookup::<Ping>("typed-cleaned"),
            Err(RegistryError::NotFound { .. })
        ) && !LocalRegistry::registered()
            .iter()
            .any(|(name, _)| name == "typed-cleaned")
    })
    .await;
    assert!(gone, "the name outlived its actor");

    // The freed name can be taken by an actor of another type, and the old
    // record does not leak into the new one.
    let (idle, _join) = LocalRegistry::spawn("typed-cleaned", Idle, ())
        .await
        .expect("respawn");
    assert!(LocalRegistry::lookup::<bool>("typed-cleaned").is_ok());
    match LocalRegistry::lookup::<Ping>("typed-cleaned") {
        Err(RegistryError::WrongType { actual, .. }) => assert_eq!(actual, "bool"),
        other => panic!("expected WrongType, got {other:?}"),
    }
    idle.stop_and_wait(None, None).await.expect("stop");
}

// ---------------------------------------------------------------- service registry

#[tokio::test]
async fn services_register_lookup_list_and_unregister() {
    let registry = ServiceRegistry::start().await.expect("start");
    let (a, b) = (idle().await, idle().await);
    registry
        .register("web", "b", b.get_cell(), Metadata::new(), None)
        .await
        .expect("register b");
    registry
        .register("web", "a", a.get_cell(), Metadata::new(), None)
        .await
        .expect("register a");

    let entry = registry.lookup("web", "a").await.expect("lookup");
    assert_eq!(entry.actor.get_id(), a.get_id());
    assert_eq!(
        (entry.namespace.as_str(), entry.name.as_str()),
        ("web", "a")
    );
    assert_eq!(entry.health, Health::Unknown);
    assert_eq!(entry.last_check, None);

    let names: Vec<_> = registry
        .list("web")
        .await
        .expect("list")
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert_eq!(names, ["a", "b"]);
    assert!(registry.list("nowhere").await.expect("list").is_empty());

    registry.unregister("web", "a").await.expect("unregister");
    assert!(matches!(
        registry.lookup("web", "a").await,
        Err(RegistryError::ServiceNotFound { .. })
    ));
    match registry.unregister("web", "a").await {
        Err(RegistryError::ServiceNotFound { namespace, name }) => {
            assert_eq!((namespace.as_str(), name.as_str()), ("web", "a"));
        }
        other => panic!("expected ServiceNotFound, got {other:?}"),
    }
    // Unregistering does not stop the actor.
    assert!(a.cast(false).is_ok());
    assert_eq!(registry.list("web").await.expect("list").len(), 1);

    registry.stop().await;
    a.stop(None);
    b.stop(None);
}

#[tokio::test]
async fn a_duplicate_service_name_is_refused() {
    let registry = ServiceRegistry::start().await.expect("start");
    let (a, b) = (idle().await, idle().await);
    registry
        .register("jobs", "worker", a.get_cell(), meta(&[("v", "1")]), None)
        .await
        .expect("first");
    match registry
        .register("jobs", "worker", b.get_cell(), meta(&[("v", "2")]), None)
        .await
    {
        Err(RegistryError::DuplicateService { namespace, name }) => {
            assert_eq!((namespace.as_str(), name.as_str()), ("jobs", "worker"));
        }
        other => panic!("expected DuplicateService, got {other:?}"),
    }
    // The first registration is intact.
    let entry = registry.lookup("jobs", "worker").await.expect("lookup");
    assert_eq!(entry.actor.get_id(), a.get_id());
    assert_eq!(entry.metadata["v"], "1");
    registry.stop().await;
    a.stop(None);
    b.stop(None);
}

#[tokio::test]
async fn namespaces_isolate_services() {
    let registry = ServiceRegistry::start().await.expect("start");
    let (a, b) = (idle().await, idle().await);
    registry
        .register("blue", "db", a.get_cell(), Metadata::new(), None)
        .await
        .expect("blue");
    registry
        .register("green", "db", b.get_cell(), Metadata::new(), None)
        .await
        .expect("green: same name, other namespace");
    assert_eq!(
        registry
            .lookup("blue", "db")
            .await
            .expect("blue")
            .actor
            .get_id(),
        a.get_id()
    );
    assert_eq!(
        registry
            .lookup("green", "db")
            .await
            .expect("green")
            .actor
            .get_id(),
        b.get_id()
    );
    assert!(registry.lookup("red", "db").await.is_err());

    registry
        .unregister("blue", "db")
        .await
        .expect("unregister blue");
    assert!(registry.lookup("blue", "db").await.is_err());
    assert!(registry.lookup("green", "db").await.is_ok());
    let green = registry.list("green").await.expect("list");
    assert_eq!(green.len(), 1);
    assert_eq!(green[0].namespace, "green");
    registry.stop().await;
    a.stop(None);
    b.stop(None);
}

#[tokio::test]
async fn metadata_round_trips() {
    let registry = ServiceRegistry::start().await.expect("start");
    let actor = idle().await;
    let metadata = meta(&[
        ("version", "1.4.2"),
        ("zone", "eu-west"),
        ("", "empty key"),
        ("ü", "ñ"),
    ]);
    registry
        .register("meta", "svc", actor.get_cell(), metadata.clone(), None)
        .await
        .expect("register");
    assert_eq!(
        registry
            .lookup("meta", "svc")
            .await
            .expect("lookup")
            .metadata,
        metadata
    );
    assert_eq!(
        registry.list("meta").await.expect("list")[0].metadata,
        metadata
    );
    registry.stop().await;
    actor.stop(None);
}

async fn removed_when(registry: &ServiceRegistry, namespace: &str, name: &str) -> bool {
    wait_for(Duration::from_secs(5), || async {
        matches!(
            registry.lookup(namespace, name).await,
            Err(RegistryError::ServiceNotFound { .. })
        )
    })
    .await
}

#[tokio::test]
async fn services_are_removed_when_their_actor_stops_is_killed_or_panics() {
    let registry = ServiceRegistry::start().await.expect("start");
    let (stopped, killed, panicked, bystander) =
        (idle().await, idle().await, idle().await, idle().await);
    for (name, actor) in [
        ("stopped", &stopped),
        ("killed", &killed),
        ("panicked", &panicked),
        ("bystander", &bystander),
    ] {
        registry
            .register("life", name, actor.get_cell(), Metadata::new(), None)
            .await
            .expect("register");
    }
    // The same actor under a second name goes with it.
    registry
        .register("other", "alias", stopped.get_cell(), Metadata::new(), None)
        .await
        .expect("alias");

    stopped.stop(None);
    assert!(removed_when(&registry, "life", "stopped").await);
    assert!(removed_when(&registry, "other", "alias").await);
    killed.kill();
    assert!(removed_when(&registry, "life", "killed").await);
    panicked.cast(true).expect("cast");
    assert!(removed_when(&registry, "life", "panicked").await);

    let left: Vec<_> = registry
        .list("life")
        .await
        .expect("list")
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert_eq!(left, ["bystander"]);
    registry.stop().await;
    bystander.stop(None);
}

#[tokio::test]
async fn a_stopped_actor_cannot_be_registered() {
    let registry = ServiceRegistry::start().await.expect("start");
    let actor = idle().await;
    actor.stop_and_wait(None, None).await.expect("stop");
    match registry
        .register("life", "late", actor.get_cell(), Metadata::new(), None)
        .await
    {
        Err(RegistryError::ActorNotRunning { actor: id, .. }) => assert_eq!(id, actor.get_id()),
        other => panic!("expected ActorNotRunning, got {other:?}"),
    }
    assert!(registry.list("life").await.expect("list").is_empty());
    registry.stop().await;
}

#[tokio::test]
async fn a_stopped_registry_answers_with_an_error() {
    let registry = ServiceRegistry::start().await.expect("start");
    registry.stop().await;
    assert!(matches!(
        registry.lookup("any", "thing").await,
        Err(RegistryError::RegistryStopped { .. })
    ));
    assert!(matches!(
        registry.list("any").await,
        Err(RegistryError::RegistryStopped { .. })
    ));
}

// ---------------------------------------------------------------- health checks

#[tokio::test(start_paused = true)]
async fn a_failing_check_marks_unhealthy_then_removes_after_max_failures() {
    let registry = ServiceRegistry::start().await.expect("start");
    let actor = idle().await;
    let runs = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&runs);
    let check = HealthCheck::new(Duration::from_secs(1), move || {
        counter.fetch_add(1, Ordering::SeqCst);
        async { false }
    })
    .max_failures(3);
    let t0 = Instant::now();
    registry
        .register(
            "hc",
            "flaky",
            actor.get_cell(),
            Metadata::new(),
            Some(check),
        )
        .await
        .expect("register");

    // The first run happens at registration.
    let failures = |n: u32| {
        let registry = registry.clone();
        move || {
            let registry = registry.clone();
            async move {
                registry.lookup("hc", "flaky").await.is_ok_and(|e| {
                    e.health == Health::Unhealthy
                        && e.consecutive_failures == n
                        && e.last_check.is_some()
                })
            }
        }
    };
    assert!(wait_for(Duration::from_secs(10), failures(1)).await);
    assert!(t0.elapsed() < Duration::from_secs(1));
    assert!(wait_for(Duration::from_secs(10), failures(2)).await);
    assert!(t0.elapsed() >= Duration::from_secs(1));

    // The third consecutive failure, one interval later, removes it.
    assert!(removed_when(&registry, "hc", "flaky").await);
    let elapsed = t0.elapsed();
    assert!(
        elapsed >= Duration::from_secs(2) && elapsed < Duration::from_secs(3),
        "removed after {elapsed:?}"
    );
    assert_eq!(runs.load(Ordering::SeqCst), 3);

    // No further runs once removed: let several intervals pass (virtual time).
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(runs.load(Ordering::SeqCst), 3);
    // The actor itself is not stopped by the registry.
    assert!(actor.cast(false).is_ok());
    registry.stop().await;
    actor.stop(None);
}

#[tokio::test(start_paused = true)]
async fn a_hanging_check_times_out_counts_as_a_failure_and_does_not_block_lookups() {
    let registry = ServiceRegistry::start().await.expect("start");
    let actor = idle().await;
    let timeout = Duration::from_millis(200);
    let check = HealthCheck::new(Duration::from_secs(1), std::future::pending::<bool>)
        .timeout(timeout)
        .max_failures(2);
    let t0 = Instant::now();
    registry
        .register(
            "hc",
            "stuck",
            actor.get_cell(),
            Metadata::new(),
            Some(check),
        )
        .await
        .expect("register");

    // While the first run hangs, the registry still answers at once.
    let entry = registry.lookup("hc", "stuck").await.expect("lookup");
    assert_eq!(entry.health, Health::Unknown);
    assert!(t0.elapsed() < timeout, "lookup waited for the check");

    let unhealthy = wait_for(Duration::from_secs(10), || async {
        registry
            .lookup("hc", "stuck")
            .await
            .is_ok_and(|e| e.health == Health::Unhealthy && e.consecutive_failures == 1)
    })
    .await;
    assert!(unhealthy);
    let elapsed = t0.elapsed();
    assert!(
        elapsed >= timeout && elapsed < Duration::from_secs(1),
        "{elapsed:?}"
    );

    // Second run at 1 s, times out at 1.2 s: removed.
    assert!(removed_when(&registry, "hc", "stuck").await);
    assert!(t0.elapsed() >= Duration::from_secs(1) + timeout);
    registry.stop().await;
    actor.stop(None);
}

#[tokio::test(start_paused = true)]
async fn a_passing_check_resets_the_failure_count() {
    let registry = ServiceRegistry::start().await.expect("start");
    let actor = idle().await;
    let healthy = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&healthy);
    let check = HealthCheck::new(Duration::from_secs(1), move || {
        let ok = flag.load(Ordering::SeqCst);
        async move { ok }
    })
    .max_failures(3);
    registry
        .register(
            "hc",
            "recovers",
            actor.get_cell(),
            Metadata::new(),
            Some(check),
        )
        .await
        .expect("register");
    let state = || async {
        let e = registry
            .lookup("hc", "recovers")
            .await
            .expect("still registered");
        (e.health, e.consecutive_failures)
    };
    assert!(
        wait_for(Duration::from_secs(10), || async {
            state().await == (Health::Unhealthy, 2)
        })
        .await
    );
    healthy.store(true, Ordering::SeqCst);
    assert!(
        wait_for(Duration::from_secs(10), || async {
            state().await == (Health::Healthy, 0)
        })
        .await
    );
    // Failing again starts from zero: two more failures do not remove it.
    healthy.store(false, Ordering::SeqCst);
    assert!(
        wait_for(Duration::from_secs(10), || async {
            state().await == (Health::Unhealthy, 2)
        })
        .await
    );
    registry.stop().await;
    actor.stop(None);
}

#[tokio::test(start_paused = true)]
async fn max_failures_zero_keeps_an_unhealthy_service() {
    let registry = ServiceRegistry::start().await.expect("start");
    let actor = idle().await;
    let check = HealthCheck::new(Duration::from_secs(1), || async { false }).max_failures(0);
    registry
        .register("hc", "kept", actor.get_cell(), Metadata::new(), Some(check))
        .await
        .expect("register");
    let many = wait_for(Duration::from_secs(30), || async {
        registry
            .lookup("hc", "kept")
            .await
            .is_ok_and(|e| e.consecutive_failures >= 10)
    })
    .await;
    assert!(many, "the entry should stay registered through 10 failures");
    registry.stop().await;
    actor.stop(None);
}

#[tokio::test(start_paused = true)]
async fn unregister_stops_the_health_check() {
    let registry = ServiceRegistry::start().await.expect("start");
    let actor = idle().await;
    let runs = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&runs);
    let check = HealthCheck::new(Duration::from_secs(1), move || {
        counter.fetch_add(1, Ordering::SeqCst);
        async { true }
    });
    registry
        .register(
            "hc",
            "short-lived",
            actor.get_cell(),
            Metadata::new(),
            Some(check),
        )
        .await
        .expect("register");
    assert!(
        wait_for(Duration::from_secs(10), || async {
            runs.load(Ordering::SeqCst) >= 2
        })
        .await
    );
    registry
        .unregister("hc", "short-lived")
        .await
        .expect("unregister");
    let after = runs.load(Ordering::SeqCst);
    // Several intervals of virtual time.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(runs.load(Ordering::SeqCst), after);
    registry.stop().await;
    actor.stop(None);
}

#[tokio::test]
async fn a_zero_interval_health_check_is_refused() {
    let registry = ServiceRegistry::start().await.expect("start");
    let actor = idle().await;
    let check = HealthCheck::new(Duration::ZERO, || async { true });
    match registry
        .register("hc", "zero", actor.get_cell(), Metadata::new(), Some(check))
        .await
    {
        Err(RegistryError::InvalidHealthCheck {
            namespace, name, ..
        }) => {
            assert_eq!((namespace.as_str(), name.as_str()), ("hc", "zero"));
        }
        other => panic!("expected InvalidHealthCheck, got {other:?}"),
    }
    assert!(registry.lookup("hc", "zero").await.is_err());
    registry.stop().await;
    actor.stop(None);
}
