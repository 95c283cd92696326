//! OTP-style supervision on top of ractor's links.
//!
//! ractor tells a parent when a linked child starts, stops or fails, and
//! otherwise leaves policy to the parent. The [`Supervisor`] here is that
//! policy: it starts its children in declared order, restarts them according
//! to their [`Restart`] policy and its [`Strategy`], gives up (fails, so that
//! *its* parent sees a failure) when restarts exceed its [`Intensity`], and
//! stops children in reverse order, each within its shutdown timeout.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use indexmap::IndexMap;
use ractor::{
    Actor, ActorCell, ActorId, ActorProcessingErr, ActorRef, Message, RpcReplyPort,
    SupervisionEvent,
};

use crate::error::{CoreError, Result};

/// The exit reason of a child that passivated itself: it is kept, dormant
/// (not restarted, no restart counted), until [`Supervisor::wake`] starts it
/// again. A child that hands its state to its next incarnation before it
/// stops this way (as a passivated server does) costs no task meanwhile.
pub const PASSIVATED: &str = "passivated";

/// How long a child that did not start again waits before the next try,
/// when the supervisor has no backoff.
const RETRY_AFTER: Duration = Duration::from_millis(100);

/// Which children are restarted when one of them has to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Strategy {
    /// Only the child that exited is restarted; its siblings are untouched.
    #[default]
    OneForOne,
    /// Every child is stopped (in reverse order) and all are started again in order.
    OneForAll,
    /// The exited child and every child declared after it are restarted.
    RestForOne,
}

/// When a child is restarted after it exits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Restart {
    /// Always restarted, whether it failed or stopped normally.
    #[default]
    Permanent,
    /// Restarted only when it fails (a panic or an error from a handler).
    Transient,
    /// Never restarted; removed from the supervisor when it exits.
    Temporary,
}

/// Restart intensity: at most `max_restarts` restarts within `within`.
///
/// One more restart than that and the supervisor stops its children and
/// fails, so that its own parent decides what happens next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Intensity {
    /// How many restarts are tolerated inside the window.
    pub max_restarts: u32,
    /// The sliding window.
    pub within: Duration,
}

impl Default for Intensity {
    /// Three restarts in five seconds, as in OTP.
    fn default() -> Self {
        Self {
            max_restarts: 3,
            within: Duration::from_secs(5),
        }
    }
}

type StartFuture = Pin<Box<dyn Future<Output = std::result::Result<ActorCell, String>> + Send>>;
type StartFn = Arc<dyn Fn(Option<String>, ActorCell) -> StartFuture + Send + Sync>;

/// How to start (and restart) one child.
#[derive(Clone)]
#[must_use]
pub struct ChildSpec {
    /// Shared with the supervisor's table (and, from
    /// [`new`](Self::new) with an `Arc<str>`, with the caller's copy).
    id: Arc<str>,
    restart: Restart,
    /// Milliseconds (a child spec per agent, by the hundred thousand: kept
    /// small).
    shutdown_ms: u32,
    actor_name: Option<Box<str>>,
    start: StartFn,
}

impl fmt::Debug for ChildSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChildSpec")
            .field("id", &self.id)
            .field("restart", &self.restart)
            .field("shutdown", &self.shutdown_time())
            .field("actor_name", &self.actor_name)
            .finish_non_exhaustive()
    }
}

impl ChildSpec {
    /// A child with id `id`, started by spawning the actor and arguments that
    /// `factory` returns. The factory runs again for every restart, so each
    /// incarnation starts from fresh arguments.
    ///
    /// Defaults: [`Restart::Permanent`], a 5 s shutdown timeout.
    pub fn new<A, F>(id: impl Into<Arc<str>>, factory: F) -> Self
    where
        A: Actor,
        F: Fn() -> (A, A::Arguments) + Send + Sync + 'static,
    {
        // One allocation for the factory and the way to start from it.
        let start: StartFn = Arc::new(move |name: Option<String>, parent: ActorCell| {
            let (actor, args) = factory();
            Box::pin(async move {
                A::spawn_linked(name, actor, args, parent)
                    .await
                    .map(|(actor, _join)| actor.get_cell())
                    .map_err(|e| e.to_string())
            })
        });
        Self {
            id: id.into(),
            restart: Restart::Permanent,
            shutdown_ms: 5_000,
            actor_name: None,
            start,
        }
    }

    /// A nested supervisor as a child: supervision trees are built this way.
    pub fn supervisor(id: impl Into<Arc<str>>, spec: SupervisorSpec) -> Self {
        Self::new(id, move || (SupervisorActor, spec.clone()))
    }

    /// Sets the restart policy.
    pub fn restart(mut self, restart: Restart) -> Self {
        self.restart = restart;
        self
    }

    /// Sets how long the child may take to stop before it is killed,
    /// rounded up to the millisecond (at most about 49 days: a longer
    /// timeout is kept as that).
    pub fn shutdown(mut self, timeout: Duration) -> Self {
        let ms = timeout.as_nanos().div_ceil(1_000_000);
        self.shutdown_ms = u32::try_from(ms).unwrap_or(u32::MAX);
        self
    }

    /// Registers every incarnation of the child under this ractor name
    /// (process-wide unique), so that others can find it with
    /// `ractor::registry::where_is` across restarts.
    pub fn register_as(mut self, name: impl Into<String>) -> Self {
        self.actor_name = Some(name.into().into_boxed_str());
        self
    }

    /// The child's id, unique under its supervisor.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// How long the child may take to stop.
    fn shutdown_time(&self) -> Duration {
        Duration::from_millis(u64::from(self.shutdown_ms))
    }
}

/// Everything a supervisor needs to know before it starts.
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct SupervisorSpec {
    name: Option<String>,
    strategy: Strategy,
    intensity: Intensity,
    max_children: Option<usize>,
    backoff: Option<Backoff>,
    children: Vec<ChildSpec>,
}

/// Delay before a restart: `initial`, doubling with each further restart
/// inside the intensity window, capped at `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Backoff {
    initial: Duration,
    max: Duration,
}

impl SupervisorSpec {
    /// An empty one-for-one supervisor with default intensity.
    pub fn one_for_one() -> Self {
        Self::default()
    }

    /// An empty supervisor with the given strategy.
    pub fn with_strategy(strategy: Strategy) -> Self {
        Self {
            strategy,
            ..Self::default()
        }
    }

    /// Registers the supervisor under this ractor name (process-wide unique).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Sets the restart intensity.
    pub fn intensity(mut self, max_restarts: u32, within: Duration) -> Self {
        self.intensity = Intensity {
            max_restarts,
            within,
        };
        self
    }

    /// Delays restarts: the first by `initial`, each further one inside the
    /// intensity window twice as long, at most `max`. Without it (the
    /// default) children restart at once, as in OTP.
    pub fn restart_backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.backoff = Some(Backoff { initial, max });
        self
    }

    /// Caps how many children may run at once ([`Supervisor::start_child`]
    /// refuses more).
    pub fn max_children(mut self, max: usize) -> Self {
        self.max_children = Some(max);
        self
    }

    /// Adds a child; children start in the order they are added.
    pub fn child(mut self, child: ChildSpec) -> Self {
        self.children.push(child);
        self
    }
}

/// A snapshot of one child, from [`Supervisor::children`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ChildInfo {
    /// The child's id (the supervisor's own copy: listing children
    /// copies no id).
    pub id: Arc<str>,
    /// Its current actor; `None` while a delayed restart is pending.
    pub actor: Option<ActorCell>,
    /// Its restart policy.
    pub restart: Restart,
    /// How many times it has been restarted.
    pub restarts: u32,
    /// It passivated itself and waits to be woken ([`PASSIVATED`]).
    pub dormant: bool,
}

/// What changed among a supervisor's children since a generation, from
/// [`Supervisor::changes`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Changes {
    /// The generation this answer is at: ask for changes since it next.
    pub generation: u64,
    /// The children added or changed (actor, restarts, dormant) since the
    /// generation asked about; every child if [`complete`](Self::complete).
    pub children: Vec<ChildInfo>,
    /// The ids of the children removed since then (empty if complete).
    pub removed: Vec<String>,
    /// The answer lists every child (the generation asked about was 0, or
    /// older than the removals the supervisor remembers): a child not
    /// listed is gone.
    pub complete: bool,
}

/// How many removals a supervisor remembers for [`Supervisor::changes`].
const REMEMBERED_REMOVALS: usize = 65_536;

/// How many changes of children a supervisor remembers by id: a watcher
/// further behind is given every child ([`Changes::complete`]). A node
/// spawning agents at 100,000 a second changes its agent supervisor's
/// children 20,000 times between two looks of its lifecycle manager; each
/// look past this many copied every child (a transient copy that stayed
/// resident). At most 1.5 MB.
const REMEMBERED_CHANGES: usize = 65_536;

/// Messages understood by a supervisor actor. Use the methods of
/// [`Supervisor`] rather than sending these directly.
#[non_exhaustive]
pub enum SupervisorMsg {
    /// Start one more child at the end of the order.
    StartChild(ChildSpec, RpcReplyPort<Result<ActorCell>>),
    /// Stop a child (within its shutdown timeout) and forget it.
    TerminateChild(String, RpcReplyPort<Result<()>>),
    /// List the children.
    Children(RpcReplyPort<Vec<ChildInfo>>),
    /// One child, if there is one by this id.
    Child(String, RpcReplyPort<Option<ChildInfo>>),
    /// A delayed restart (see [`SupervisorSpec::restart_backoff`]) is due
    /// for these children; sent by the supervisor to itself.
    RestartDue(Vec<Arc<str>>),
    /// Start this dormant child again (see [`PASSIVATED`]).
    Wake(String),
    /// Add children at the end of the order, dormant: each started by its
    /// first [`Wake`](Self::Wake). Answered for each, in order.
    AddDormant(Vec<ChildSpec>, RpcReplyPort<Vec<Result<()>>>),
    /// What changed among the children since this generation.
    Changes(u64, RpcReplyPort<Changes>),
}

impl fmt::Debug for SupervisorMsg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::StartChild(spec, _) => write!(f, "StartChild({})", spec.id),
            Self::TerminateChild(id, _) => write!(f, "TerminateChild({id})"),
            Self::Children(_) => write!(f, "Children"),
            Self::Child(id, _) => write!(f, "Child({id})"),
            Self::RestartDue(ids) => write!(f, "RestartDue({ids:?})"),
            Self::Wake(id) => write!(f, "Wake({id})"),
            Self::AddDormant(specs, _) => match specs.as_slice() {
                [spec] => write!(f, "AddDormant({})", spec.id),
                specs => write!(f, "AddDormant({} children)", specs.len()),
            },
            Self::Changes(since, _) => write!(f, "Changes({since})"),
        }
    }
}

impl Message for SupervisorMsg {}

/// A handle to a running supervisor.
#[derive(Debug, Clone)]
pub struct Supervisor {
    actor: ActorRef<SupervisorMsg>,
}

impl Supervisor {
    /// Starts a top-level supervisor and all its children, in order.
    ///
    /// # Errors
    /// [`CoreError::Spawn`] if the supervisor or any initial child fails to start.
    pub async fn start(spec: SupervisorSpec) -> Result<Self> {
        Self::spawn(spec, None).await
    }

    /// Starts a supervisor linked to `parent`, which will see it fail when its
    /// restart intensity is exceeded.
    ///
    /// # Errors
    /// [`CoreError::Spawn`] if the supervisor or any initial child fails to start.
    pub async fn start_linked(spec: SupervisorSpec, parent: ActorCell) -> Result<Self> {
        Self::spawn(spec, Some(parent)).await
    }

    async fn spawn(spec: SupervisorSpec, parent: Option<ActorCell>) -> Result<Self> {
        let name = spec.name.clone();
        let spawned = match parent {
            Some(parent) => Actor::spawn_linked(name.clone(), SupervisorActor, spec, parent).await,
            None => Actor::spawn(name.clone(), SupervisorActor, spec).await,
        };
        let (actor, _join) = spawned.map_err(|e| CoreError::Spawn {
            child: name.unwrap_or_else(|| "supervisor".into()),
            reason: e.to_string(),
        })?;
        Ok(Self { actor })
    }

    /// Wraps the actor of a supervisor started as a child
    /// ([`ChildSpec::supervisor`]).
    pub fn from_actor(actor: ActorRef<SupervisorMsg>) -> Self {
        Self { actor }
    }

    /// The supervisor's actor, e.g. to link other actors to it.
    pub fn actor(&self) -> &ActorRef<SupervisorMsg> {
        &self.actor
    }

    /// Starts a child at run time (the dynamic-supervisor case).
    ///
    /// # Errors
    /// [`CoreError::DuplicateChild`], [`CoreError::Spawn`], or
    /// [`CoreError::NotRunning`] if the supervisor is gone.
    pub async fn start_child(&self, spec: ChildSpec) -> Result<ActorCell> {
        self.call(|reply| SupervisorMsg::StartChild(spec, reply))
            .await?
    }

    /// Adds a child at run time without starting it: it is dormant, as a
    /// child that stopped with [`PASSIVATED`] is, until its first
    /// [`wake`](Self::wake) starts it. For actors that are to exist by the
    /// thousand and run only when used.
    ///
    /// # Errors
    /// [`CoreError::DuplicateChild`], [`CoreError::Spawn`] past the
    /// maximum number of children, or [`CoreError::NotRunning`].
    pub async fn add_dormant(&self, spec: ChildSpec) -> Result<()> {
        let mut added = self.add_dormant_many(vec![spec]).await?;
        added.pop().unwrap_or_else(|| {
            Err(CoreError::NotRunning {
                actor: "supervisor".into(),
                reason: "no answer for the child".into(),
            })
        })
    }

    /// Adds many children at once as [`add_dormant`](Self::add_dormant)
    /// adds one, in one message to the supervisor: answers, in order,
    /// how each went (one refused does not stop the others).
    ///
    /// # Errors
    /// [`CoreError::NotRunning`] if the supervisor is gone (then none was
    /// added).
    pub async fn add_dormant_many(&self, specs: Vec<ChildSpec>) -> Result<Vec<Result<()>>> {
        self.call(|reply| SupervisorMsg::AddDormant(specs, reply))
            .await
    }

    /// Stops a child within its shutdown timeout and removes it.
    ///
    /// # Errors
    /// [`CoreError::UnknownChild`], or [`CoreError::NotRunning`].
    pub async fn terminate_child(&self, id: &str) -> Result<()> {
        let id = id.to_owned();
        self.call(|reply| SupervisorMsg::TerminateChild(id, reply))
            .await?
    }

    /// The current children, in start order.
    ///
    /// # Errors
    /// [`CoreError::NotRunning`] if the supervisor is gone.
    pub async fn children(&self) -> Result<Vec<ChildInfo>> {
        self.call(SupervisorMsg::Children).await
    }

    /// Child `id`, if this supervisor has one by that id: what
    /// [`children`](Self::children) lists of it, without listing the
    /// others.
    ///
    /// # Errors
    /// [`CoreError::NotRunning`] if the supervisor is gone.
    pub async fn child(&self, id: &str) -> Result<Option<ChildInfo>> {
        let id = id.to_owned();
        self.call(|reply| SupervisorMsg::Child(id, reply)).await
    }

    /// The children added, changed or removed since generation `since`
    /// (0 for all of them), and the generation to ask from next: for a
    /// watcher of many children that should not copy them all on each
    /// look.
    ///
    /// # Errors
    /// [`CoreError::NotRunning`] if the supervisor is gone.
    pub async fn changes(&self, since: u64) -> Result<Changes> {
        self.call(|reply| SupervisorMsg::Changes(since, reply))
            .await
    }

    /// Starts the dormant child `id` again (one that stopped with reason
    /// [`PASSIVATED`]); a child that is still stopping is started as soon as
    /// it has stopped. Nothing happens for a running or unknown child.
    pub fn wake(&self, id: &str) {
        // An error means the supervisor is gone, and its children with it.
        let _ = self.actor.send_message(SupervisorMsg::Wake(id.to_owned()));
    }

    /// Stops the children in reverse order, then the supervisor, and waits.
    pub async fn stop(&self) {
        // An error means it is already stopped, which is what we want.
        let _ = self.actor.stop_and_wait(None, None).await;
    }

    async fn call<T: Send + 'static>(
        &self,
        msg: impl FnOnce(RpcReplyPort<T>) -> SupervisorMsg,
    ) -> Result<T> {
        self.actor
            .call(msg, None)
            .await
            .map_err(|e| CoreError::NotRunning {
                actor: "supervisor".into(),
                reason: e.to_string(),
            })?
            .success_or_else(|| CoreError::NotRunning {
                actor: "supervisor".into(),
                reason: "no reply".into(),
            })
    }
}

/// The ractor actor behind [`Supervisor`]; use it directly only to spawn a
/// supervisor with your own ractor calls.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SupervisorActor;

struct Child {
    spec: ChildSpec,
    /// `None` while a delayed restart is pending, or while dormant.
    actor: Option<ActorCell>,
    restarts: u32,
    /// Stopped with [`PASSIVATED`]: kept, not restarted.
    dormant: bool,
    /// Asked to wake while still running (its stop was on its way).
    wake_pending: bool,
    /// The generation of its last change.
    changed: u64,
    /// Its place in the start order (set when it is added).
    seq: u64,
}

impl Child {
    fn info(&self) -> ChildInfo {
        ChildInfo {
            id: Arc::clone(&self.spec.id),
            actor: self.actor.clone(),
            restart: self.spec.restart,
            restarts: self.restarts,
            dormant: self.dormant,
        }
    }

    fn dormant(spec: ChildSpec) -> Self {
        Self {
            spec,
            actor: None,
            restarts: 0,
            dormant: true,
            wake_pending: false,
            changed: 0,
            seq: 0,
        }
    }

    fn new(spec: ChildSpec, actor: ActorCell) -> Self {
        Self {
            spec,
            actor: Some(actor),
            restarts: 0,
            dormant: false,
            wake_pending: false,
            changed: 0,
            seq: 0,
        }
    }
}

/// The supervisor's state.
pub(crate) struct SupervisorState {
    name: String,
    strategy: Strategy,
    intensity: Intensity,
    max_children: Option<usize>,
    backoff: Option<Backoff>,
    /// By id; their start order is their `seq` (a removal swaps the last
    /// child into the gap: removing one of a hundred thousand children
    /// moves one, not all those after it).
    children: IndexMap<Arc<str>, Child, foldhash::fast::RandomState>,
    /// The `seq` of the next child added.
    next_seq: u64,
    /// Which child each running actor is.
    by_actor: foldhash::HashMap<ActorId, Arc<str>>,
    restarts: VecDeque<Instant>,
    /// Counts the changes to the children ([`Supervisor::changes`]).
    generation: u64,
    /// The last removals, with their generations.
    removed: VecDeque<(u64, Arc<str>)>,
    /// The last children changed or added, with their generations: a
    /// watcher's look costs what changed, not every child.
    touched: VecDeque<(u64, Arc<str>)>,
    /// The generation of the last change or removal no longer remembered.
    forgotten: u64,
}

impl fmt::Debug for SupervisorState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SupervisorState")
            .field("name", &self.name)
            .field("strategy", &self.strategy)
            .field("children", &self.children.len())
            .finish_non_exhaustive()
    }
}

impl SupervisorState {
    fn position(&self, cell: &ActorCell) -> Option<usize> {
        let id = self.by_actor.get(&cell.get_id())?;
        let index = self.children.get_index_of(id)?;
        let current = self.children[index].actor.as_ref()?;
        (current.get_id() == cell.get_id()).then_some(index)
    }

    /// Child `index` changed (or was added).
    fn touch(&mut self, index: usize) {
        self.generation += 1;
        if let Some((id, child)) = self.children.get_index_mut(index) {
            child.changed = self.generation;
            let change = (self.generation, id.clone());
            remember(
                &mut self.touched,
                REMEMBERED_CHANGES,
                change,
                &mut self.forgotten,
            );
        }
    }

    /// Adds `child` at the end of the order.
    fn add(&mut self, mut child: Child) {
        child.seq = self.next_seq;
        self.next_seq += 1;
        let (index, _) = self.children.insert_full(child.spec.id.clone(), child);
        self.touch(index);
    }

    /// The children's indices in start order, from child `from` on (all
    /// of them without).
    fn in_order(&self, from: Option<usize>) -> Vec<usize> {
        let first = from.map_or(0, |i| self.children[i].seq);
        let mut order: Vec<usize> = (0..self.children.len())
            .filter(|&i| self.children[i].seq >= first)
            .collect();
        order.sort_unstable_by_key(|&i| self.children[i].seq);
        order
    }

    /// Child `index` runs as `actor` now.
    fn set_actor(&mut self, index: usize, actor: ActorCell) {
        if let Some((id, child)) = self.children.get_index_mut(index) {
            self.by_actor.insert(actor.get_id(), id.clone());
            child.actor = Some(actor);
            self.touch(index);
        }
    }

    /// Child `index` has no actor now.
    fn clear_actor(&mut self, index: usize) {
        if let Some(old) = self.children[index].actor.take() {
            self.by_actor.remove(&old.get_id());
            self.touch(index);
        }
    }

    /// Removes child `index` (the last child takes its index).
    fn remove(&mut self, index: usize) -> Option<Child> {
        let (_, child) = self.children.swap_remove_index(index)?;
        if let Some(actor) = &child.actor {
            self.by_actor.remove(&actor.get_id());
        }
        self.note_removed(child.spec.id.clone());
        Some(child)
    }

    /// Remembers that child `id` was removed.
    fn note_removed(&mut self, id: Arc<str>) {
        self.generation += 1;
        let removal = (self.generation, id);
        remember(
            &mut self.removed,
            REMEMBERED_REMOVALS,
            removal,
            &mut self.forgotten,
        );
    }

    /// What changed since generation `since`.
    fn changes(&self, since: u64) -> Changes {
        let complete = since == 0 || since < self.forgotten;
        let children = if complete {
            self.children.values().map(Child::info).collect()
        } else {
            // The changes remembered since then, each child once, in the
            // order of its last change.
            let first = self
                .touched
                .partition_point(|(generation, _)| *generation <= since);
            self.touched
                .range(first..)
                .filter_map(|(generation, id)| {
                    let child = self.children.get(id)?;
                    (child.changed == *generation).then(|| child.info())
                })
                .collect()
        };
        let removed = if complete {
            Vec::new()
        } else {
            self.removed
                .iter()
                .filter(|(generation, _)| *generation > since)
                .map(|(_, id)| id.to_string())
                .collect()
        };
        Changes {
            generation: self.generation,
            children,
            removed,
            complete,
        }
    }

    /// Forgets every child (to stop them all), in start order.
    fn take_all(&mut self) -> Vec<Child> {
        self.by_actor.clear();
        let mut children: Vec<Child> = std::mem::take(&mut self.children).into_values().collect();
        children.sort_unstable_by_key(|c| c.seq);
        children
    }

    /// The delay before the current restart, if backoff is configured.
    fn backoff_delay(&self) -> Option<Duration> {
        let backoff = self.backoff?;
        let exponent = self.restarts.len().saturating_sub(1).min(20) as u32;
        Some(
            backoff
                .initial
                .saturating_mul(1 << exponent)
                .min(backoff.max),
        )
    }

    /// Starts the children `ids` again (those still waiting), in the
    /// order given. A child that does not start (its
    /// `pre_start` failed) is tried again after the backoff, or
    /// [`RETRY_AFTER`] without one, each try counting towards the restart
    /// intensity; past it, the supervisor stops its children and fails.
    async fn restart(&mut self, myself: &ActorRef<SupervisorMsg>, ids: &[Arc<str>]) -> Result<()> {
        let parent = myself.get_cell();
        let mut again = Vec::new();
        for id in ids {
            let Some(index) = self.children.get_index_of(&**id) else {
                continue;
            };
            let child = &self.children[index];
            if child.actor.is_some() || child.dormant {
                continue;
            }
            match spawn_child(&child.spec, &parent).await {
                Ok(actor) => {
                    self.set_actor(index, actor);
                    let child = &mut self.children[index];
                    child.restarts += 1;
                    metrics::counter!(
                        "foundation_supervisor_restarts_total",
                        "supervisor" => self.name.clone(),
                        "child" => child.spec.id.clone()
                    )
                    .increment(1);
                    tracing::info!(supervisor = %self.name, child = %child.spec.id, restarts = child.restarts, "child restarted");
                }
                Err(e) => {
                    let id = child.spec.id.clone();
                    tracing::warn!(supervisor = %self.name, child = %id, error = %e, "child did not start again; trying again");
                    again.push(id);
                }
            }
        }
        if again.is_empty() {
            return Ok(());
        }
        if !self.allow_restart() {
            let err = CoreError::IntensityExceeded {
                supervisor: self.name.clone(),
                child: again.join(", "),
                max_restarts: self.intensity.max_restarts,
                within: self.intensity.within,
            };
            tracing::error!(supervisor = %self.name, "{err}; escalating");
            let children = self.take_all();
            stop_all(children.iter()).await;
            return Err(err);
        }
        let delay = self.backoff_delay().unwrap_or(RETRY_AFTER);
        myself.send_after(delay, move || SupervisorMsg::RestartDue(again));
        Ok(())
    }

    /// `spec`, if a child of its id may be added: not a duplicate, and
    /// within the maximum number of children.
    fn admit(&self, spec: ChildSpec) -> Result<ChildSpec> {
        if self.children.contains_key(&spec.id) {
            Err(CoreError::DuplicateChild(spec.id.to_string()))
        } else if self
            .max_children
            .is_some_and(|max| self.children.len() >= max)
        {
            Err(CoreError::Spawn {
                child: spec.id.to_string(),
                reason: format!(
                    "supervisor `{}` already runs its maximum of {} children",
                    self.name,
                    self.children.len()
                ),
            })
        } else {
            Ok(spec)
        }
    }

    /// Starts dormant child `id` again; one still stopping starts once it
    /// has stopped.
    async fn wake(&mut self, myself: &ActorRef<SupervisorMsg>, id: &str) -> Result<()> {
        let Some(index) = self.children.get_index_of(id) else {
            return Ok(());
        };
        let child = &mut self.children[index];
        if !child.dormant {
            if child.actor.is_some() {
                child.wake_pending = true;
            }
            return Ok(());
        }
        child.dormant = false;
        match spawn_child(&child.spec, &myself.get_cell()).await {
            Ok(actor) => {
                self.set_actor(index, actor);
                Ok(())
            }
            Err(e) => {
                tracing::warn!(supervisor = %self.name, child = %id, error = %e, "dormant child did not wake; restarting it");
                let id = Arc::clone(&self.children[index].spec.id);
                self.restart(myself, &[id]).await
            }
        }
    }

    /// Records a restart; false when the intensity is exceeded.
    fn allow_restart(&mut self) -> bool {
        let now = Instant::now();
        while self
            .restarts
            .front()
            .is_some_and(|t| now.duration_since(*t) > self.intensity.within)
        {
            self.restarts.pop_front();
        }
        self.restarts.push_back(now);
        self.restarts.len() <= self.intensity.max_restarts as usize
    }
}

/// Adds `entry` to `ring`, which keeps the last `most`; what it forgets
/// raises `forgotten` (a watcher behind it is given every child). It
/// forgets before it adds, so that the ring never doubles its capacity
/// for one entry more.
fn remember(
    ring: &mut VecDeque<(u64, Arc<str>)>,
    most: usize,
    entry: (u64, Arc<str>),
    forgotten: &mut u64,
) {
    if ring.len() >= most {
        if let Some((generation, _)) = ring.pop_front() {
            *forgotten = (*forgotten).max(generation);
        }
    }
    ring.push_back(entry);
}

async fn spawn_child(spec: &ChildSpec, parent: &ActorCell) -> Result<ActorCell> {
    (spec.start)(
        spec.actor_name.as_deref().map(str::to_owned),
        parent.clone(),
    )
    .await
    .map_err(|reason| CoreError::Spawn {
        child: spec.id.to_string(),
        reason,
    })
}

async fn stop_child(child: &Child) {
    let Some(cell) = &child.actor else {
        return;
    };
    if cell
        .stop_and_wait(None, Some(child.spec.shutdown_time()))
        .await
        .is_err()
    {
        tracing::warn!(child = %child.spec.id, timeout = ?child.spec.shutdown_time(), "child ignored shutdown; killing it");
        let _ = cell.kill_and_wait(Some(Duration::from_secs(1))).await;
    }
}

async fn stop_all<'a>(children: impl DoubleEndedIterator<Item = &'a Child>) {
    for child in children.rev() {
        stop_child(child).await;
    }
}

impl Actor for SupervisorActor {
    type Msg = SupervisorMsg;
    type State = SupervisorState;
    type Arguments = SupervisorSpec;

    async fn pre_start(
        &self,
        myself: ActorRef<SupervisorMsg>,
        spec: SupervisorSpec,
    ) -> std::result::Result<SupervisorState, ActorProcessingErr> {
        let mut children: IndexMap<Arc<str>, Child, _> =
            IndexMap::with_capacity_and_hasher(spec.children.len(), Default::default());
        let mut by_actor = foldhash::HashMap::default();
        for (seq, child) in (0..).zip(spec.children) {
            match spawn_child(&child, &myself.get_cell()).await {
                Ok(actor) => {
                    by_actor.insert(actor.get_id(), child.id.clone());
                    let id = child.id.clone();
                    children.insert(
                        id,
                        Child {
                            seq,
                            ..Child::new(child, actor)
                        },
                    );
                }
                Err(e) => {
                    stop_all(children.values()).await;
                    return Err(e.into());
                }
            }
        }
        let name = spec
            .name
            .unwrap_or_else(|| format!("supervisor-{}", myself.get_id()));
        tracing::debug!(supervisor = %name, children = children.len(), "supervisor started");
        Ok(SupervisorState {
            name,
            strategy: spec.strategy,
            intensity: spec.intensity,
            max_children: spec.max_children,
            backoff: spec.backoff,
            next_seq: children.len() as u64,
            children,
            by_actor,
            restarts: VecDeque::new(),
            // Never 0, which asks for every child.
            generation: 1,
            removed: VecDeque::new(),
            touched: VecDeque::new(),
            forgotten: 0,
        })
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<SupervisorMsg>,
        state: &mut SupervisorState,
    ) -> std::result::Result<(), ActorProcessingErr> {
        stop_all(state.take_all().iter()).await;
        tracing::debug!(supervisor = %state.name, "supervisor stopped");
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<SupervisorMsg>,
        msg: SupervisorMsg,
        state: &mut SupervisorState,
    ) -> std::result::Result<(), ActorProcessingErr> {
        match msg {
            SupervisorMsg::AddDormant(specs, reply) => {
                let results = specs
                    .into_iter()
                    .map(|spec| {
                        state
                            .admit(spec)
                            .map(|spec| state.add(Child::dormant(spec)))
                    })
                    .collect();
                let _ = reply.send(results);
            }
            SupervisorMsg::StartChild(spec, reply) => {
                let result = match state.admit(spec) {
                    Err(e) => Err(e),
                    Ok(spec) => match spawn_child(&spec, &myself.get_cell()).await {
                        Ok(actor) => {
                            state.by_actor.insert(actor.get_id(), spec.id.clone());
                            state.add(Child::new(spec, actor.clone()));
                            Ok(actor)
                        }
                        Err(e) => Err(e),
                    },
                };
                let _ = reply.send(result);
            }
            SupervisorMsg::TerminateChild(id, reply) => {
                let result = match state.children.get_index_of(id.as_str()) {
                    Some(i) => {
                        if let Some(child) = state.remove(i) {
                            stop_child(&child).await;
                        }
                        Ok(())
                    }
                    None => Err(CoreError::UnknownChild(id)),
                };
                let _ = reply.send(result);
            }
            SupervisorMsg::Children(reply) => {
                let list = state
                    .in_order(None)
                    .into_iter()
                    .map(|i| state.children[i].info())
                    .collect();
                let _ = reply.send(list);
            }
            SupervisorMsg::Child(id, reply) => {
                let _ = reply.send(state.children.get(id.as_str()).map(Child::info));
            }
            SupervisorMsg::Changes(since, reply) => {
                let _ = reply.send(state.changes(since));
            }
            SupervisorMsg::RestartDue(ids) => state.restart(&myself, &ids).await?,
            SupervisorMsg::Wake(id) => state.wake(&myself, &id).await?,
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<SupervisorMsg>,
        event: SupervisionEvent,
        state: &mut SupervisorState,
    ) -> std::result::Result<(), ActorProcessingErr> {
        let (cell, failure) = match event {
            SupervisionEvent::ActorTerminated(cell, _, Some(reason)) if reason == PASSIVATED => {
                if let Some(index) = state.position(&cell) {
                    state.clear_actor(index);
                    let child = &mut state.children[index];
                    child.dormant = true;
                    if std::mem::take(&mut child.wake_pending) {
                        let id = child.spec.id.clone();
                        state.wake(&myself, &id).await?;
                    }
                }
                return Ok(());
            }
            SupervisionEvent::ActorTerminated(cell, _, reason) => {
                (cell, reason.filter(|r| r == "killed"))
            }
            SupervisionEvent::ActorFailed(cell, err) => (cell, Some(err.to_string())),
            _ => return Ok(()),
        };
        // Events from incarnations we stopped ourselves find no child: ignore them.
        let Some(index) = state.position(&cell) else {
            return Ok(());
        };
        let id = state.children[index].spec.id.clone();
        let restart = match (state.children[index].spec.restart, &failure) {
            (Restart::Permanent, _) => true,
            (Restart::Transient, failed) => failed.is_some(),
            (Restart::Temporary, _) => false,
        };
        match &failure {
            Some(reason) => {
                tracing::warn!(supervisor = %state.name, child = %id, %reason, "child failed")
            }
            None => tracing::debug!(supervisor = %state.name, child = %id, "child exited"),
        }
        if !restart {
            state.remove(index);
            return Ok(());
        }
        if !state.allow_restart() {
            let err = CoreError::IntensityExceeded {
                supervisor: state.name.clone(),
                child: id.to_string(),
                max_restarts: state.intensity.max_restarts,
                within: state.intensity.within,
            };
            tracing::error!(supervisor = %state.name, "{err}; escalating");
            let children = state.take_all();
            stop_all(children.iter()).await;
            return Err(err.into());
        }
        // Which children go down and come back with it, in start order.
        let affected: Vec<usize> = match state.strategy {
            Strategy::OneForOne => vec![index],
            Strategy::OneForAll => state.in_order(None),
            Strategy::RestForOne => state.in_order(Some(index)),
        };
        for &i in affected.iter().rev() {
            if i != index {
                stop_child(&state.children[i]).await;
            }
            state.clear_actor(i);
        }
        // As in OTP, temporary siblings are stopped but not restarted (and
        // forgotten); dormant ones stay dormant. Children of other
        // failures waiting for their restart are left alone.
        let mut ids = Vec::with_capacity(affected.len());
        let mut dropped = Vec::new();
        for &i in &affected {
            let child = &state.children[i];
            if i == index || (child.spec.restart != Restart::Temporary && !child.dormant) {
                ids.push(child.spec.id.clone());
            } else if !child.dormant {
                dropped.push(child.spec.id.clone());
            }
        }
        for id in dropped {
            if let Some(index) = state.children.get_index_of(&id) {
                state.remove(index);
            }
        }
        match state.backoff_delay() {
            Some(delay) => {
                tracing::info!(supervisor = %state.name, ?ids, ?delay, "restart delayed");
                myself.send_after(delay, move || SupervisorMsg::RestartDue(ids));
            }
            None => state.restart(&myself, &ids).await?,
        }
        Ok(())
    }
}
