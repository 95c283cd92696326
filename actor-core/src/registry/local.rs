//! Typed lookup on top of ractor's process-wide name registry.

use std::any::type_name;
use std::collections::HashMap;
use std::sync::{OnceLock, PoisonError, RwLock};

use ractor::concurrency::JoinHandle;
use ractor::registry::where_is;
use ractor::{Actor, ActorId, ActorRef, Message, SpawnErr};

use super::RegistryError;

/// What [`RegistryError::WrongType`] reports as the actual type of an actor
/// that was named at spawn but never registered through [`LocalRegistry`].
const UNRECORDED: &str = "<not recorded: the actor was named without LocalRegistry>";

/// Typed access to named local actors.
///
/// Names are ractor's: an actor gets one when it is spawned
/// ([`LocalRegistry::spawn`], `Actor::spawn(Some(name), ..)`, or
/// [`ChildSpec::register_as`](crate::ChildSpec::register_as)), it is unique in
/// the process, and ractor frees it when the actor stops.
///
/// # How the type is checked
///
/// Every local ractor actor carries the `TypeId` of its message type
/// (`ActorCell::get_type_id`), so [`lookup`](Self::lookup) compares that with
/// the requested `M` and returns a reference only when they are equal. The
/// check is exact for every named local actor, whoever spawned it, and cannot
/// go stale. On top of that, [`register`](Self::register) and
/// [`spawn`](Self::spawn) record the message type's *name* in a small
/// process-wide index, so that a wrong-type error can say what the actor
/// really handles, and [`registered`](Self::registered) can list typed names.
///
/// # Cleaning
///
/// An index entry holds the id of the actor it describes and counts only
/// while ractor still maps the name to that id: once the actor stops (ractor
/// unregisters its name while it is stopping) the entry is invisible to every
/// method here. Stale entries are dropped when they are next met, and all of
/// them are swept whenever the index has doubled since the last sweep, so the
/// index stays within twice the number of live registered names (plus a small
/// floor). No background task is involved.
///
/// # Examples
///
/// ```
/// use actor_core::{LocalRegistry, RegistryError};
/// use ractor::{Actor, ActorProcessingErr, ActorRef};
///
/// struct Counter;
/// impl Actor for Counter {
///     type Msg = u32;
///     type State = u32;
///     type Arguments = ();
///     async fn pre_start(&self, _: ActorRef<u32>, _: ()) -> Result<u32, ActorProcessingErr> {
///         Ok(0)
///     }
/// }
///
/// # #[tokio::main] async fn main() -> Result<(), RegistryError> {
/// let (counter, _join) = LocalRegistry::spawn("doc-counter", Counter, ()).await?;
/// let found: ActorRef<u32> = LocalRegistry::lookup("doc-counter")?;
/// assert_eq!(found.get_id(), counter.get_id());
///
/// let wrong = LocalRegistry::lookup::<String>("doc-counter");
/// assert!(matches!(wrong, Err(RegistryError::WrongType { .. })));
/// # counter.stop_and_wait(None, None).await.ok();
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct LocalRegistry;

impl LocalRegistry {
    /// The actor named `name`, as a reference for message type `M`.
    ///
    /// # Errors
    /// * [`RegistryError::NotFound`] if no running actor has this name;
    /// * [`RegistryError::WrongType`] if it handles another message type
    ///   (with both type names);
    /// * [`RegistryError::NotLocal`] if the name maps to a remote actor,
    ///   whose type cannot be checked.
    pub fn lookup<M: Message>(name: &str) -> Result<ActorRef<M>, RegistryError> {
        let cell = where_is(name).ok_or_else(|| RegistryError::NotFound { name: name.into() })?;
        match cell.is_message_type_of::<M>() {
            Some(true) => Ok(cell.into()),
            Some(false) => Err(RegistryError::WrongType {
                name: name.into(),
                expected: type_name::<M>(),
                actual: recorded_type(name, cell.get_id())
                    .unwrap_or(UNRECORDED)
                    .into(),
            }),
            None => Err(RegistryError::NotLocal { name: name.into() }),
        }
    }

    /// Records the message type of an actor that was spawned with a name, so
    /// that errors and [`registered`](Self::registered) can name its type.
    ///
    /// Registering is optional for [`lookup`](Self::lookup), which checks
    /// types without it. Registering again (the same actor, or a new actor
    /// that took a freed name) replaces the record.
    ///
    /// # Errors
    /// * [`RegistryError::Unnamed`] if the actor was spawned without a name;
    /// * [`RegistryError::NotFound`] if it has stopped;
    /// * [`RegistryError::WrongType`] if `actor` was converted from a cell of
    ///   another message type;
    /// * [`RegistryError::NotLocal`] for a remote actor.
    pub fn register<M: Message>(actor: &ActorRef<M>) -> Result<(), RegistryError> {
        let name = actor.get_name().ok_or(RegistryError::Unnamed {
            actor: actor.get_id(),
        })?;
        if !is_live(&name, actor.get_id()) {
            return Err(RegistryError::NotFound { name });
        }
        match actor.get_cell().is_message_type_of::<M>() {
            Some(true) => {}
            Some(false) => {
                return Err(RegistryError::WrongType {
                    name,
                    expected: type_name::<M>(),
                    actual: UNRECORDED.into(),
                })
            }
            None => return Err(RegistryError::NotLocal { name }),
        }
        record(name, actor.get_id(), type_name::<M>());
        Ok(())
    }

    /// Spawns `actor` under `name` and registers it, in one step.
    ///
    /// # Errors
    /// [`RegistryError::NameTaken`] if a running actor already has the name,
    /// [`RegistryError::Spawn`] if the actor fails to start.
    pub async fn spawn<A: Actor>(
        name: impl Into<String>,
        actor: A,
        args: A::Arguments,
    ) -> Result<(ActorRef<A::Msg>, JoinHandle<()>), RegistryError> {
        let name = name.into();
        let (actor, join) = Actor::spawn(Some(name.clone()), actor, args)
            .await
            .map_err(|e| match e {
                SpawnErr::ActorAlreadyRegistered(name) => RegistryError::NameTaken { name },
                other => RegistryError::Spawn {
                    name: name.clone(),
                    reason: other.to_string(),
                },
            })?;
        record(name, actor.get_id(), type_name::<A::Msg>());
        Ok((actor, join))
    }

    /// The names registered through this type whose actors are still
    /// running, each with its message type name, sorted by name.
    pub fn registered() -> Vec<(String, &'static str)> {
        let mut index = index().write().unwrap_or_else(PoisonError::into_inner);
        index.sweep();
        let mut names: Vec<_> = index
            .entries
            .iter()
            .map(|(name, typed)| (name.clone(), typed.type_name))
            .collect();
        names.sort_unstable();
        names
    }
}

/// One record of the index: which actor, and its message type's name.
#[derive(Debug, Clone, Copy)]
struct Typed {
    id: ActorId,
    type_name: &'static str,
}

/// The smallest size at which the index is swept.
const SWEEP_FLOOR: usize = 64;

#[derive(Debug)]
struct Index {
    entries: HashMap<String, Typed>,
    /// Sweep when `entries` reaches this size.
    sweep_at: usize,
}

impl Index {
    /// Drops every entry whose actor no longer holds its name.
    fn sweep(&mut self) {
        self.entries.retain(|name, typed| is_live(name, typed.id));
        self.sweep_at = (self.entries.len() * 2).max(SWEEP_FLOOR);
    }
}

fn index() -> &'static RwLock<Index> {
    static INDEX: OnceLock<RwLock<Index>> = OnceLock::new();
    INDEX.get_or_init(|| {
        RwLock::new(Index {
            entries: HashMap::new(),
            sweep_at: SWEEP_FLOOR,
        })
    })
}

/// True while ractor maps `name` to the actor `id`.
fn is_live(name: &str, id: ActorId) -> bool {
    where_is(name).is_some_and(|cell| cell.get_id() == id)
}

fn record(name: String, id: ActorId, type_name: &'static str) {
    let mut index = index().write().unwrap_or_else(PoisonError::into_inner);
    index.entries.insert(name, Typed { id, type_name });
    if index.entries.len() >= index.sweep_at {
        index.sweep();
    }
}

/// The recorded type name for `name`, if the record is about actor `id`.
/// A record about an earlier holder of the name is removed.
fn recorded_type(name: &str, id: ActorId) -> Option<&'static str> {
    let stale = {
        let index = index().read().unwrap_or_else(PoisonError::into_inner);
        match index.entries.get(name) {
            Some(typed) if typed.id == id => return Some(typed.type_name),
            Some(_) => true,
            None => false,
        }
    };
    if stale {
        let mut index = index().write().unwrap_or_else(PoisonError::into_inner);
        if index.entries.get(name).is_some_and(|t| t.id != id) {
            index.entries.remove(name);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use ractor::ActorProcessingErr;

    struct Idle;
    impl Actor for Idle {
        type Msg = ();
        type State = ();
        type Arguments = ();
        async fn pre_start(&self, _: ActorRef<()>, _: ()) -> Result<(), ActorProcessingErr> {
            Ok(())
        }
    }

    fn len() -> usize {
        index()
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .entries
            .len()
    }

    #[tokio::test]
    async fn stale_entries_are_swept_when_the_index_doubles() {
        // Fill the index with names of actors that then stop.
        let mut stopped = Vec::new();
        for i in 0..SWEEP_FLOOR {
            let name = format!("local-sweep-{i}");
            let (actor, _join) = LocalRegistry::spawn(name.clone(), Idle, ())
                .await
                .expect("spawn");
            actor.stop_and_wait(None, None).await.expect("stop");
            stopped.push(name);
        }
        // A sweep ran when the index reached the floor (near the end of the
        // loop, as the index starts almost empty), so nearly all stale
        // entries are gone without anybody looking them up.
        let names = index()
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .entries
            .keys()
            .cloned()
            .collect::<Vec<_>>();
        let left = stopped.iter().filter(|n| names.contains(n)).count();
        assert!(
            left < SWEEP_FLOOR / 2,
            "{left} stale entries left after a sweep"
        );
        assert!(len() < SWEEP_FLOOR * 2);
    }

    #[tokio::test]
    async fn a_stale_record_is_not_reported_for_a_new_holder_of_the_name() {
        let name = "local-stale-record";
        let (first, _join) = LocalRegistry::spawn(name, Idle, ()).await.expect("spawn");
        first.stop_and_wait(None, None).await.expect("stop");
        // A new actor with another message type takes the name without
        // registering: the old record must not be used to describe it.
        struct Other;
        impl Actor for Other {
            type Msg = u8;
            type State = ();
            type Arguments = ();
            async fn pre_start(&self, _: ActorRef<u8>, _: ()) -> Result<(), ActorProcessingErr> {
                Ok(())
            }
        }
        let (second, _join) = Actor::spawn(Some(name.into()), Other, ())
            .await
            .expect("spawn");
        match LocalRegistry::lookup::<()>(name) {
            Err(RegistryError::WrongType { actual, .. }) => assert_eq!(actual, UNRECORDED),
            other => panic!("expected WrongType, got {other:?}"),
        }
        assert!(recorded_type(name, second.get_id()).is_none());
        second.stop_and_wait(None, None).await.expect("stop");
    }
}
