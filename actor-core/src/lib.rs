//! # actor-core
//!
//! The single-node foundation of Foundation, on top of [ractor]. ractor
//! gives actors, links and supervision *events*; this crate gives what an
//! OTP programmer expects around them:
//!
//! * **Supervision**: [`Supervisor`], [`SupervisorSpec`], [`ChildSpec`]:
//!   one-for-one, one-for-all and rest-for-one strategies, permanent /
//!   transient / temporary children, restart intensity with escalation,
//!   optional restart backoff, ordered start and reverse-ordered shutdown
//!   with timeouts, children added at run time. `docs/runtime-semantics.md`
//!   states the guarantees.
//! * **Registries**: [`LocalRegistry`] (typed lookup of named actors) and
//!   [`ServiceRegistry`] (services by namespace, with metadata and
//!   [`HealthCheck`]s, removed when their actor dies).
//! * **Config**: [`Config`], layered (defaults < TOML file < environment <
//!   runtime updates) with typed access by path, guarded updates, rollback
//!   and change notifications.
//! * **Events**: [`Event`]s (kind, JSON payload, correlation and parent ids,
//!   timestamp) in an [`EventStore`]: bounded by count and age, indexed by
//!   kind and correlation id, queried with a [`Query`], pushed to
//!   subscribers that can lag but never slow the store down.
//! * **Telemetry**: libraries emit, binaries install. Code records metrics
//!   through the [`metrics`] facade or times work with [`measure`] /
//!   [`measure_async`]; a binary installs one [`MetricsRegistry`], which
//!   serves a [`snapshot`](MetricsRegistry::snapshot) (p50/p90/p99 for
//!   histograms) and Prometheus text
//!   ([`render_prometheus`](MetricsRegistry::render_prometheus)). In tests,
//!   prefer `metrics::with_local_recorder(&registry, || ...)`: the global
//!   recorder can be set only once per process.
//! * **Protection**: [`execute_protected`] guards calls to a dependency with
//!   a [`CircuitBreaker`], a [`RateLimiter`], a [`Bulkhead`], a timeout and
//!   a [`Retry`], composed by a [`ProtectionPolicy`].
//!
//! ```
//! use actor_core::{ChildSpec, Restart, Supervisor, SupervisorSpec};
//! use ractor::{Actor, ActorProcessingErr, ActorRef};
//!
//! struct Worker;
//! impl Actor for Worker {
//!     type Msg = ();
//!     type State = ();
//!     type Arguments = ();
//!     async fn pre_start(&self, _: ActorRef<()>, _: ()) -> Result<(), ActorProcessingErr> {
//!         Ok(())
//!     }
//! }
//!
//! # #[tokio::main] async fn main() -> Result<(), actor_core::CoreError> {
//! let spec = SupervisorSpec::one_for_one()
//!     .child(ChildSpec::new("worker", || (Worker, ())).restart(Restart::Permanent));
//! let sup = Supervisor::start(spec).await?;
//! assert_eq!(sup.children().await?.len(), 1);
//! sup.stop().await;
//! # Ok(()) }
//! ```
//!
//! actor-core emits `foundation_supervisor_restarts_total`,
//! `foundation_events_stored_total`, `foundation_events_pruned_total` and
//! the `foundation_protection_*` counters through the facade.
//!
//! ractor is built with its `cluster` feature in this workspace, so every
//! message type implements [`ractor::Message`] explicitly (`impl Message for
//! MyMsg {}`); `()` and the types in this crate already do.

mod config;
mod error;
mod events;
mod protection;
mod registry;
mod supervisor;
mod task;
mod telemetry;

pub use config::{Change, ChangeKind, Config, ConfigBuilder, ConfigError};
pub use error::{CoreError, Result};
pub use events::{Event, EventError, EventStore, EventStoreConfig, Fields, Query};
pub use protection::{
    execute_protected, Bulkhead, BulkheadPermit, BulkheadRejection, CircuitBreaker, CircuitPermit,
    CircuitState, Jitter, KeyedRateLimiter, ProtectionError, ProtectionPolicy, Quota, RateLimiter,
    Retry,
};
pub use registry::{
    Health, HealthCheck, LocalRegistry, Metadata, RegistryError, ServiceEntry, ServiceRegistry,
};
pub use supervisor::{
    Changes, ChildInfo, ChildSpec, Intensity, Restart, Strategy, Supervisor, SupervisorMsg,
    SupervisorSpec, PASSIVATED,
};
pub use task::{Task, TaskActor, TaskEnded};
pub use telemetry::{
    measure, measure_async, CounterValue, GaugeValue, HistogramValue, MetricsRegistry,
    MetricsSnapshot, TelemetryError,
};
