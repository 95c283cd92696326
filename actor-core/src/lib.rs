//! # actor-core
//!
//! The single-node foundation of Foundation: OTP-style supervision on top of
//! [ractor]. ractor gives actors, links and supervision *events*; this crate
//! gives the policy: restart strategies, restart policies per child, restart
//! intensity with escalation, ordered start and ordered shutdown.
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
//! ractor is built with its `cluster` feature in this workspace, so every
//! message type implements [`ractor::Message`] explicitly (`impl Message for
//! MyMsg {}`); `()` and the types in this crate already do.
//!
//! ## Events
//!
//! [`Event`]s (kind, JSON payload, correlation and parent ids, timestamp) go
//! into an [`EventStore`]: bounded by count and age, indexed by kind and
//! correlation id, queried with a [`Query`], and pushed to subscribers that
//! can lag but never slow the store down.
//!
//! ## Telemetry
//!
//! Libraries emit, binaries install. Code anywhere records metrics through
//! the [`metrics`] facade (`metrics::counter!("jobs_total").increment(1)`) or
//! times work with [`measure`] / [`measure_async`], and logs through
//! [`tracing`]. A binary creates one [`MetricsRegistry`] and calls
//! [`MetricsRegistry::install`] once; from then on every emission lands in
//! it, and the registry serves a serde-serialisable
//! [`snapshot`](MetricsRegistry::snapshot) and Prometheus text
//! ([`render_prometheus`](MetricsRegistry::render_prometheus)) for a
//! `/metrics` endpoint. Histograms report p50, p90 and p99. In tests, prefer
//! `metrics::with_local_recorder(&registry, || ...)` to installing: the
//! global recorder can be set only once per process. Subscribing to
//! `tracing` output is likewise the binary's job (e.g. `tracing-subscriber`).
//!
//! actor-core itself emits `foundation_events_stored_total` and
//! `foundation_events_pruned_total`.

mod error;
mod events;
mod supervisor;
mod telemetry;

pub use error::{CoreError, Result};
pub use events::{Event, EventError, EventStore, EventStoreConfig, Query};
pub use supervisor::{
    ChildInfo, ChildSpec, Intensity, Restart, Strategy, Supervisor, SupervisorMsg, SupervisorSpec,
};
pub use telemetry::{
    measure, measure_async, CounterValue, GaugeValue, HistogramValue, MetricsRegistry,
    MetricsSnapshot, TelemetryError,
};
