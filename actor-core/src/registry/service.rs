//! A service registry with namespaces, metadata and health checks.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use ractor::concurrency::JoinHandle;
use ractor::registry::{pid_registry, PidLifecycleEvent};
use ractor::{
    Actor, ActorCell, ActorId, ActorProcessingErr, ActorRef, ActorStatus, Message, RpcReplyPort,
    SupervisionEvent,
};
use tokio::time::Instant;

use super::RegistryError;

/// A service's metadata: free-form string keys and values.
pub type Metadata = BTreeMap<String, String>;

/// What the registry knows about a service's health.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Health {
    /// The service has no health check, or its first check has not finished.
    Unknown,
    /// The last check passed.
    Healthy,
    /// The last check failed: it reported unhealthy, timed out or panicked.
    Unhealthy,
}

type CheckFuture = Pin<Box<dyn Future<Output = bool> + Send>>;
type CheckFn = Arc<dyn Fn() -> CheckFuture + Send + Sync>;

/// A periodic health check for a service: an async closure that answers
/// `true` (healthy) or `false` (unhealthy).
///
/// # The rule
///
/// The registry runs the check once at registration and then every
/// `interval`. A run that answers `false`, panics, or does not finish within
/// `timeout` is a *failure*; one that answers `true` resets the count of
/// consecutive failures to zero. The service is [`Health::Unhealthy`] from
/// its first failure and is removed from the registry at its
/// `max_failures`-th consecutive failure. A tick that comes while the
/// previous run is still going is skipped (runs never overlap).
///
/// Defaults: `timeout` is the interval, capped at 5 s; `max_failures` is 3.
#[derive(Clone)]
#[must_use]
pub struct HealthCheck {
    check: CheckFn,
    interval: Duration,
    timeout: Duration,
    max_failures: u32,
}

impl fmt::Debug for HealthCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HealthCheck")
            .field("interval", &self.interval)
            .field("timeout", &self.timeout)
            .field("max_failures", &self.max_failures)
            .finish_non_exhaustive()
    }
}

impl HealthCheck {
    /// A check that runs `check` every `interval` (which must not be zero;
    /// [`ServiceRegistry::register`] refuses a zero interval).
    pub fn new<F, Fut>(interval: Duration, check: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = bool> + Send + 'static,
    {
        Self {
            check: Arc::new(move || Box::pin(check())),
            interval,
            timeout: interval.min(Duration::from_secs(5)),
            max_failures: 3,
        }
    }

    /// How long one run may take before it counts as a failure.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// After how many consecutive failures the service is removed; `0`
    /// keeps it (marked unhealthy) however often it fails.
    pub fn max_failures(mut self, max_failures: u32) -> Self {
        self.max_failures = max_failures;
        self
    }
}

/// One registered service, as returned by [`ServiceRegistry::lookup`] and
/// [`ServiceRegistry::list`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServiceEntry {
    /// The namespace it is registered in.
    pub namespace: String,
    /// Its name, unique within the namespace.
    pub name: String,
    /// The actor that provides it.
    pub actor: ActorCell,
    /// The metadata given at registration.
    pub metadata: Metadata,
    /// The outcome of its last health check.
    pub health: Health,
    /// When its last health check finished.
    pub last_check: Option<Instant>,
    /// How many health checks in a row have failed.
    pub consecutive_failures: u32,
}

/// A handle to a running service registry; clones share the registry.
///
/// Services are kept by namespace and name (the same name in two namespaces
/// is two services). An entry goes away when it is
/// [unregistered](Self::unregister), when its actor stops for any reason
/// (stop, kill, panic), or when its [`HealthCheck`] fails too often.
///
/// The registry's state lives in an actor; every method is one message to
/// it. Health checks never run inside that actor: each checked service has a
/// small helper actor, linked to the registry, which awaits the check (under
/// its timeout) and sends the outcome back as a message. A slow or hanging
/// check therefore delays only its own next run, never a lookup.
///
/// The registry learns of actor deaths through ractor's process-wide PID
/// lifecycle events, which it receives for *every* local actor that starts or
/// stops; each costs it one hash lookup.
///
/// # Examples
///
/// ```
/// use actor_core::{Health, Metadata, RegistryError, ServiceRegistry};
/// use ractor::{Actor, ActorProcessingErr, ActorRef};
///
/// struct Db;
/// impl Actor for Db {
///     type Msg = ();
///     type State = ();
///     type Arguments = ();
///     async fn pre_start(&self, _: ActorRef<()>, _: ()) -> Result<(), ActorProcessingErr> {
///         Ok(())
///     }
/// }
///
/// # #[tokio::main] async fn main() -> Result<(), RegistryError> {
/// let registry = ServiceRegistry::start().await?;
/// let (db, _join) = Actor::spawn(None, Db, ()).await.expect("spawn");
/// let metadata = Metadata::from([("role".to_owned(), "primary".to_owned())]);
/// registry.register("storage", "db", db.get_cell(), metadata, None).await?;
///
/// let entry = registry.lookup("storage", "db").await?;
/// assert_eq!(entry.metadata["role"], "primary");
/// assert_eq!(entry.health, Health::Unknown);
/// assert!(registry.lookup("other", "db").await.is_err());
/// # registry.stop().await;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct ServiceRegistry {
    actor: ActorRef<RegistryMsg>,
}

impl ServiceRegistry {
    /// Spawns a registry actor (unnamed, unsupervised) and returns its handle.
    ///
    /// # Errors
    /// [`RegistryError::Spawn`] if the actor fails to start.
    pub async fn start() -> Result<Self, RegistryError> {
        let (actor, _join) =
            Actor::spawn(None, RegistryActor, ())
                .await
                .map_err(|e| RegistryError::Spawn {
                    name: "service-registry".into(),
                    reason: e.to_string(),
                })?;
        Ok(Self { actor })
    }

    /// Registers `actor` as service `name` in `namespace`.
    ///
    /// # Errors
    /// * [`RegistryError::DuplicateService`] if the name is taken in that namespace;
    /// * [`RegistryError::ActorNotRunning`] if the actor is stopping or stopped;
    /// * [`RegistryError::RemoteActor`] if it lives on another node;
    /// * [`RegistryError::InvalidHealthCheck`] for a zero check interval;
    /// * [`RegistryError::Spawn`] if the health check's helper actor fails to start;
    /// * [`RegistryError::RegistryStopped`] if the registry is gone.
    ///
    /// # Cancel safety
    /// If the returned future is dropped after the request was sent, the
    /// registration may still take effect.
    pub async fn register(
        &self,
        namespace: impl Into<String>,
        name: impl Into<String>,
        actor: ActorCell,
        metadata: Metadata,
        health_check: Option<HealthCheck>,
    ) -> Result<(), RegistryError> {
        let registration = Registration {
            namespace: namespace.into(),
            name: name.into(),
            actor,
            metadata,
            health_check,
        };
        self.call(|reply| RegistryMsg::Register(Box::new(registration), reply))
            .await?
    }

    /// The service `name` in `namespace`.
    ///
    /// # Errors
    /// [`RegistryError::ServiceNotFound`], or
    /// [`RegistryError::RegistryStopped`] if the registry is gone.
    pub async fn lookup(&self, namespace: &str, name: &str) -> Result<ServiceEntry, RegistryError> {
        let (namespace, name) = (namespace.to_owned(), name.to_owned());
        self.call(|reply| RegistryMsg::Lookup(namespace, name, reply))
            .await?
    }

    /// Every service in `namespace`, sorted by name (empty for an unknown
    /// namespace).
    ///
    /// # Errors
    /// [`RegistryError::RegistryStopped`] if the registry is gone.
    pub async fn list(&self, namespace: &str) -> Result<Vec<ServiceEntry>, RegistryError> {
        let namespace = namespace.to_owned();
        self.call(|reply| RegistryMsg::List(namespace, reply)).await
    }

    /// Removes the service `name` from `namespace` and stops its health check.
    ///
    /// # Errors
    /// [`RegistryError::ServiceNotFound`], or
    /// [`RegistryError::RegistryStopped`] if the registry is gone.
    pub async fn unregister(&self, namespace: &str, name: &str) -> Result<(), RegistryError> {
        let (namespace, name) = (namespace.to_owned(), name.to_owned());
        self.call(|reply| RegistryMsg::Unregister(namespace, name, reply))
            .await?
    }

    /// The registry's actor, e.g. to link or monitor it.
    pub fn actor(&self) -> ActorCell {
        self.actor.get_cell()
    }

    /// Stops the registry (and its health checks) and waits until it has stopped.
    pub async fn stop(&self) {
        // An error means it is already stopped, which is what we want.
        let _ = self.actor.stop_and_wait(None, None).await;
    }

    async fn call<T: Send + 'static>(
        &self,
        msg: impl FnOnce(RpcReplyPort<T>) -> RegistryMsg,
    ) -> Result<T, RegistryError> {
        self.actor
            .call(msg, None)
            .await
            .map_err(|e| RegistryError::RegistryStopped {
                reason: e.to_string(),
            })?
            .success_or_else(|| RegistryError::RegistryStopped {
                reason: "no reply".into(),
            })
    }
}

struct Registration {
    namespace: String,
    name: String,
    actor: ActorCell,
    metadata: Metadata,
    health_check: Option<HealthCheck>,
}

/// How one run of a health check ended.
#[derive(Debug, Clone, Copy)]
enum Outcome {
    Healthy,
    Unhealthy,
    TimedOut,
    Panicked,
    /// The helper actor was gone when the run was due.
    CheckerStopped,
}

/// Messages of the registry actor.
enum RegistryMsg {
    Register(Box<Registration>, RpcReplyPort<Result<(), RegistryError>>),
    Lookup(
        String,
        String,
        RpcReplyPort<Result<ServiceEntry, RegistryError>>,
    ),
    List(String, RpcReplyPort<Vec<ServiceEntry>>),
    Unregister(String, String, RpcReplyPort<Result<(), RegistryError>>),
    /// Time to check the service with this id.
    Tick(u64),
    /// A check of the service with this id has finished.
    Checked(u64, Outcome),
}

impl Message for RegistryMsg {}

/// A running health check: its helper actor and the registry's timer.
struct Checking {
    checker: ActorRef<Run>,
    timer: JoinHandle<()>,
    in_flight: bool,
    max_failures: u32,
}

impl Checking {
    fn stop(self) {
        self.timer.abort();
        self.checker.kill();
    }
}

struct Service {
    entry: ServiceEntry,
    check: Option<Checking>,
}

/// The registry actor's state. Every service has an id that is never reused,
/// so ticks and check outcomes that arrive after a service was removed (or
/// replaced under the same name) find nothing and are ignored.
#[derive(Default)]
struct RegistryState {
    next_id: u64,
    services: HashMap<u64, Service>,
    namespaces: HashMap<String, BTreeMap<String, u64>>,
    by_actor: HashMap<ActorId, Vec<u64>>,
}

impl RegistryState {
    fn id_of(&self, namespace: &str, name: &str) -> Option<u64> {
        self.namespaces.get(namespace)?.get(name).copied()
    }

    fn not_found(namespace: String, name: String) -> RegistryError {
        RegistryError::ServiceNotFound { namespace, name }
    }

    fn remove(&mut self, id: u64) -> Option<ServiceEntry> {
        let service = self.services.remove(&id)?;
        let entry = service.entry;
        if let Some(names) = self.namespaces.get_mut(&entry.namespace) {
            names.remove(&entry.name);
            if names.is_empty() {
                self.namespaces.remove(&entry.namespace);
            }
        }
        let actor = entry.actor.get_id();
        if let Some(ids) = self.by_actor.get_mut(&actor) {
            ids.retain(|i| *i != id);
            if ids.is_empty() {
                self.by_actor.remove(&actor);
            }
        }
        if let Some(check) = service.check {
            check.stop();
        }
        Some(entry)
    }

    async fn register(
        &mut self,
        myself: &ActorRef<RegistryMsg>,
        r: Registration,
    ) -> Result<(), RegistryError> {
        let actor_id = r.actor.get_id();
        if !actor_id.is_local() {
            return Err(RegistryError::RemoteActor {
                namespace: r.namespace,
                name: r.name,
                actor: actor_id,
            });
        }
        // The registry monitors PID lifecycle events from its start, so an
        // actor seen running here will be reported when it stops.
        if r.actor.get_status() >= ActorStatus::Stopping {
            return Err(RegistryError::ActorNotRunning {
                namespace: r.namespace,
                name: r.name,
                actor: actor_id,
            });
        }
        if self.id_of(&r.namespace, &r.name).is_some() {
            return Err(RegistryError::DuplicateService {
                namespace: r.namespace,
                name: r.name,
            });
        }
        if r.health_check
            .as_ref()
            .is_some_and(|c| c.interval.is_zero())
        {
            return Err(RegistryError::InvalidHealthCheck {
                namespace: r.namespace,
                name: r.name,
                reason: "the interval must be greater than zero".into(),
            });
        }
        let id = self.next_id;
        self.next_id += 1;
        let check = match r.health_check {
            Some(check) => Some(start_check(myself, id, &r.namespace, &r.name, check).await?),
            None => None,
        };
        tracing::debug!(namespace = %r.namespace, name = %r.name, actor = %actor_id, "service registered");
        self.namespaces
            .entry(r.namespace.clone())
            .or_default()
            .insert(r.name.clone(), id);
        self.by_actor.entry(actor_id).or_default().push(id);
        self.services.insert(
            id,
            Service {
                entry: ServiceEntry {
                    namespace: r.namespace,
                    name: r.name,
                    actor: r.actor,
                    metadata: r.metadata,
                    health: Health::Unknown,
                    last_check: None,
                    consecutive_failures: 0,
                },
                check,
            },
        );
        Ok(())
    }

    fn tick(&mut self, id: u64) {
        let Some(check) = self.services.get_mut(&id).and_then(|s| s.check.as_mut()) else {
            return;
        };
        if check.in_flight {
            return;
        }
        if check.checker.cast(Run).is_ok() {
            check.in_flight = true;
        } else {
            self.checked(id, Outcome::CheckerStopped);
        }
    }

    fn checked(&mut self, id: u64, outcome: Outcome) {
        let Some(service) = self.services.get_mut(&id) else {
            return;
        };
        let Some(check) = service.check.as_mut() else {
            return;
        };
        check.in_flight = false;
        let max_failures = check.max_failures;
        let entry = &mut service.entry;
        entry.last_check = Some(Instant::now());
        if let Outcome::Healthy = outcome {
            entry.health = Health::Healthy;
            entry.consecutive_failures = 0;
            return;
        }
        entry.health = Health::Unhealthy;
        entry.consecutive_failures = entry.consecutive_failures.saturating_add(1);
        tracing::warn!(
            namespace = %entry.namespace,
            name = %entry.name,
            ?outcome,
            failures = entry.consecutive_failures,
            "service health check failed"
        );
        if max_failures > 0 && entry.consecutive_failures >= max_failures {
            if let Some(entry) = self.remove(id) {
                tracing::warn!(namespace = %entry.namespace, name = %entry.name, failures = entry.consecutive_failures, "service removed after failed health checks");
            }
        }
    }
}

/// Spawns the helper actor of one check and starts the registry's timer.
async fn start_check(
    myself: &ActorRef<RegistryMsg>,
    id: u64,
    namespace: &str,
    name: &str,
    check: HealthCheck,
) -> Result<Checking, RegistryError> {
    let (interval, max_failures) = (check.interval, check.max_failures);
    let args = CheckerState {
        id,
        check,
        registry: myself.clone(),
    };
    let (checker, _join) = Actor::spawn_linked(None, Checker, args, myself.get_cell())
        .await
        .map_err(|e| RegistryError::Spawn {
            name: format!("health check of `{namespace}/{name}`"),
            reason: e.to_string(),
        })?;
    // The first run now, then one per interval.
    let _ = myself.cast(RegistryMsg::Tick(id));
    let timer = myself.send_interval(interval, move || RegistryMsg::Tick(id));
    Ok(Checking {
        checker,
        timer,
        in_flight: false,
        max_failures,
    })
}

struct RegistryActor;

impl Actor for RegistryActor {
    type Msg = RegistryMsg;
    type State = RegistryState;
    type Arguments = ();

    async fn pre_start(
        &self,
        myself: ActorRef<RegistryMsg>,
        _: (),
    ) -> Result<RegistryState, ActorProcessingErr> {
        // Deliver a `PidLifecycleEvent` for every local actor that stops
        // (ractor stops this when the registry itself stops).
        pid_registry::monitor(myself.get_cell());
        Ok(RegistryState::default())
    }

    async fn post_stop(
        &self,
        _: ActorRef<RegistryMsg>,
        state: &mut RegistryState,
    ) -> Result<(), ActorProcessingErr> {
        for (_, service) in state.services.drain() {
            if let Some(check) = service.check {
                check.stop();
            }
        }
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<RegistryMsg>,
        msg: RegistryMsg,
        state: &mut RegistryState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            RegistryMsg::Register(registration, reply) => {
                let result = state.register(&myself, *registration).await;
                let _ = reply.send(result);
            }
            RegistryMsg::Lookup(namespace, name, reply) => {
                let result = match state.id_of(&namespace, &name) {
                    Some(id) => state
                        .services
                        .get(&id)
                        .map(|s| s.entry.clone())
                        .ok_or_else(|| RegistryState::not_found(namespace, name)),
                    None => Err(RegistryState::not_found(namespace, name)),
                };
                let _ = reply.send(result);
            }
            RegistryMsg::List(namespace, reply) => {
                let entries = state
                    .namespaces
                    .get(&namespace)
                    .into_iter()
                    .flat_map(|names| names.values())
                    .filter_map(|id| state.services.get(id))
                    .map(|s| s.entry.clone())
                    .collect();
                let _ = reply.send(entries);
            }
            RegistryMsg::Unregister(namespace, name, reply) => {
                let result = match state.id_of(&namespace, &name) {
                    Some(id) => {
                        state.remove(id);
                        Ok(())
                    }
                    None => Err(RegistryState::not_found(namespace, name)),
                };
                let _ = reply.send(result);
            }
            RegistryMsg::Tick(id) => state.tick(id),
            RegistryMsg::Checked(id, outcome) => state.checked(id, outcome),
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        _: ActorRef<RegistryMsg>,
        event: SupervisionEvent,
        state: &mut RegistryState,
    ) -> Result<(), ActorProcessingErr> {
        // Health-check helpers are linked children; their exits need no
        // action (a helper that is gone makes its next run fail). Only the
        // deaths of registered actors matter.
        if let SupervisionEvent::PidLifecycleEvent(PidLifecycleEvent::Terminate(cell)) = event {
            if let Some(ids) = state.by_actor.remove(&cell.get_id()) {
                for id in ids {
                    if let Some(entry) = state.remove(id) {
                        tracing::debug!(namespace = %entry.namespace, name = %entry.name, "service removed: its actor stopped");
                    }
                }
            }
        }
        Ok(())
    }
}

/// The message that asks a helper to run its check once.
struct Run;

impl Message for Run {}

struct CheckerState {
    id: u64,
    check: HealthCheck,
    registry: ActorRef<RegistryMsg>,
}

/// Runs one service's health check on request and reports the outcome.
struct Checker;

impl Actor for Checker {
    type Msg = Run;
    type State = CheckerState;
    type Arguments = CheckerState;

    async fn pre_start(
        &self,
        _: ActorRef<Run>,
        state: CheckerState,
    ) -> Result<CheckerState, ActorProcessingErr> {
        Ok(state)
    }

    async fn handle(
        &self,
        _: ActorRef<Run>,
        _: Run,
        state: &mut CheckerState,
    ) -> Result<(), ActorProcessingErr> {
        let outcome = run_check(&state.check).await;
        // If the registry is gone there is nobody to tell.
        let _ = state.registry.cast(RegistryMsg::Checked(state.id, outcome));
        Ok(())
    }
}

/// Runs the check once under its timeout; a panic in the user's closure or
/// future is caught and reported as a failure.
async fn run_check(check: &HealthCheck) -> Outcome {
    let f = Arc::clone(&check.check);
    let run = AssertUnwindSafe(async move { f().await }).catch_unwind();
    match tokio::time::timeout(check.timeout, run).await {
        Ok(Ok(true)) => Outcome::Healthy,
        Ok(Ok(false)) => Outcome::Unhealthy,
        Ok(Err(_panic)) => Outcome::Panicked,
        Err(_elapsed) => Outcome::TimedOut,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn run_check_reports_each_outcome() {
        let every = Duration::from_secs(1);
        let ok = HealthCheck::new(every, || async { true });
        let bad = HealthCheck::new(every, || async { false });
        let hangs = HealthCheck::new(every, std::future::pending::<bool>)
            .timeout(Duration::from_millis(50));
        let panics = HealthCheck::new(every, || async { panic!("check exploded") });
        assert!(matches!(run_check(&ok).await, Outcome::Healthy));
        assert!(matches!(run_check(&bad).await, Outcome::Unhealthy));
        let started = Instant::now();
        assert!(matches!(run_check(&hangs).await, Outcome::TimedOut));
        assert!(started.elapsed() >= Duration::from_millis(50));
        assert!(matches!(run_check(&panics).await, Outcome::Panicked));
    }

    #[test]
    fn default_timeout_is_the_interval_capped_at_five_seconds() {
        let short = HealthCheck::new(Duration::from_secs(1), || async { true });
        let long = HealthCheck::new(Duration::from_secs(60), || async { true });
        assert_eq!(short.timeout, Duration::from_secs(1));
        assert_eq!(long.timeout, Duration::from_secs(5));
        assert_eq!(long.max_failures, 3);
    }
}
