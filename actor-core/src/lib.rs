//! # actor-core
//!
//! The single-node foundation of Foundation: OTP-style supervision on top of
//! [ractor]. ractor gives actors, links and supervision *events*; this crate
//! gives the policy: restart strategies, restart policies per child, restart
//! intensity with escalation, ordered start and ordered shutdown.
//!
//! Its parts:
//!
//! * **Supervision**: [`Supervisor`], [`SupervisorSpec`], [`ChildSpec`].
//! * **Registries**: [`LocalRegistry`] (typed lookup of named actors) and
//!   [`ServiceRegistry`] (services by namespace, with metadata and
//!   [`HealthCheck`]s, removed when their actor dies).
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
//! Protection: [`execute_protected`] guards calls to a dependency with a
//! [`CircuitBreaker`], a [`RateLimiter`], a [`Bulkhead`], a timeout and a
//! [`Retry`], composed by a [`ProtectionPolicy`].
//!
//! ractor is built with its `cluster` feature in this workspace, so every
//! message type implements [`ractor::Message`] explicitly (`impl Message for
//! MyMsg {}`); `()` and the types in this crate already do.
//!
//! [`Config`] is the layered configuration (defaults < TOML file <
//! environment < runtime updates) with typed access by path, guarded
//! updates, rollback and change notifications.

mod config;
mod error;
mod protection;
mod registry;
mod supervisor;

pub use config::{Change, ChangeKind, Config, ConfigBuilder, ConfigError};
pub use error::{CoreError, Result};
pub use protection::{
    execute_protected, Bulkhead, BulkheadPermit, BulkheadRejection, CircuitBreaker, CircuitPermit,
    CircuitState, Jitter, KeyedRateLimiter, ProtectionError, ProtectionPolicy, Quota, RateLimiter,
    Retry,
};
pub use registry::{
    Health, HealthCheck, LocalRegistry, Metadata, RegistryError, ServiceEntry, ServiceRegistry,
};
pub use supervisor::{
    ChildInfo, ChildSpec, Intensity, Restart, Strategy, Supervisor, SupervisorMsg, SupervisorSpec,
};
