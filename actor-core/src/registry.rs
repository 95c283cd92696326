//! Registries: typed lookup of named actors, and a service registry.
//!
//! * [`LocalRegistry`] sits on ractor's process-wide name registry (names are
//!   given when an actor is spawned) and hands out *typed* references:
//!   `LocalRegistry::lookup::<M>("name")` returns an `ActorRef<M>` or a
//!   [`RegistryError`] saying that the name is unknown or that the actor
//!   handles another message type. It never returns a wrongly typed reference.
//! * [`ServiceRegistry`] is an actor that keeps services by namespace and
//!   name, with string metadata and optional [`HealthCheck`]s, and forgets a
//!   service when its actor stops or when its health check keeps failing.

mod local;
mod service;

pub use local::LocalRegistry;
pub use service::{Health, HealthCheck, Metadata, ServiceEntry, ServiceRegistry};

use ractor::ActorId;

/// Everything that can go wrong in the registries.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// No running actor has this name.
    #[error("no actor is registered under the name `{name}`")]
    NotFound {
        /// The name that was looked up.
        name: String,
    },
    /// The actor registered under this name handles another message type.
    #[error("actor `{name}` handles messages of type `{actual}`, not `{expected}`")]
    WrongType {
        /// The name that was looked up.
        name: String,
        /// The message type the caller asked for.
        expected: &'static str,
        /// The message type of the actor, as recorded when it was registered
        /// through [`LocalRegistry`], or a placeholder for actors named
        /// without it.
        actual: String,
    },
    /// The name belongs to an actor on another node, whose message type
    /// cannot be checked here.
    #[error("actor `{name}` is not local; its message type cannot be checked")]
    NotLocal {
        /// The name that was looked up.
        name: String,
    },
    /// Only actors spawned with a name can be registered by name.
    #[error("actor {actor} has no name; spawn it with one to register it")]
    Unnamed {
        /// The actor without a name.
        actor: ActorId,
    },
    /// Another running actor already has this name.
    #[error("the name `{name}` is already taken by a running actor")]
    NameTaken {
        /// The contested name.
        name: String,
    },
    /// An actor could not be spawned.
    #[error("could not spawn actor `{name}`: {reason}")]
    Spawn {
        /// The name it was to have.
        name: String,
        /// What ractor reported.
        reason: String,
    },
    /// No service with this name in this namespace.
    #[error("no service `{name}` in namespace `{namespace}`")]
    ServiceNotFound {
        /// The namespace searched.
        namespace: String,
        /// The service name looked up.
        name: String,
    },
    /// A service with this name is already registered in this namespace.
    #[error("a service `{name}` is already registered in namespace `{namespace}`")]
    DuplicateService {
        /// The namespace.
        namespace: String,
        /// The contested service name.
        name: String,
    },
    /// The actor offered as a service is stopping or stopped.
    #[error(
        "cannot register service `{name}` in namespace `{namespace}`: actor {actor} is not running"
    )]
    ActorNotRunning {
        /// The namespace.
        namespace: String,
        /// The service name.
        name: String,
        /// The actor that is not running.
        actor: ActorId,
    },
    /// The actor offered as a service lives on another node; the service
    /// registry only watches local actors.
    #[error(
        "cannot register service `{name}` in namespace `{namespace}`: actor {actor} is not local"
    )]
    RemoteActor {
        /// The namespace.
        namespace: String,
        /// The service name.
        name: String,
        /// The remote actor.
        actor: ActorId,
    },
    /// The health check cannot run as configured.
    #[error("invalid health check for service `{name}` in namespace `{namespace}`: {reason}")]
    InvalidHealthCheck {
        /// The namespace.
        namespace: String,
        /// The service name.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The service registry's actor is gone.
    #[error("the service registry is not running: {reason}")]
    RegistryStopped {
        /// What went wrong when it was asked.
        reason: String,
    },
}
