//! Servers: actors that answer several [`Message`] types, each with its
//! own reply, registered under a name and supervised.
//!
//! A server is a plain struct with its state. It says which messages it
//! answers in [`Server::accepts`], and answers each with a [`Handler`].
//! [`Node::serve`] runs it as a permanent child of the node's supervisor,
//! registered under a name, reachable by a [`Ref`](crate::Ref) from every
//! node.

use foldhash::HashMap;
use std::any::Any;
use std::any::TypeId;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use actor_core::{ChildSpec, CoreError, Restart, Supervisor, PASSIVATED};
use ractor::{Actor, ActorCell, ActorProcessingErr, ActorRef};
use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::error::RemoteError;
use crate::gateway::{Deliver, Labels, Listing, ReplyRoute};
use crate::node::Node;
use crate::parcel::{AnyBox, NotTaken};
use crate::reference::{decode, routed_reply, Message, Reply};

/// A future borrowing the server it runs on.
pub type Handling<'a, R> = Pin<Box<dyn Future<Output = R> + Send + 'a>>;

/// An actor that answers the [`Message`]s it lists in
/// [`accepts`](Server::accepts), one [`Handler`] each.
///
/// ```
/// use actor_cluster::{Accepts, Handler, Message, Node, Server};
/// use serde::{Deserialize, Serialize};
/// use std::time::Duration;
///
/// #[derive(Debug, Serialize, Deserialize)]
/// struct Add(u64);
/// impl Message for Add {
///     type Reply = u64;
///     const TAG: &'static str = "doc.add/1";
/// }
///
/// #[derive(Debug, Serialize, Deserialize)]
/// struct Reset;
/// impl Message for Reset {
///     type Reply = ();
///     const TAG: &'static str = "doc.reset/1";
/// }
///
/// #[derive(Default)]
/// struct Counter(u64);
///
/// impl Server for Counter {
///     fn accepts(accepts: &mut Accepts<Self>) {
///         accepts.add::<Add>().add::<Reset>();
///     }
/// }
///
/// impl Handler<Add> for Counter {
///     async fn handle(&mut self, Add(n): Add) -> u64 {
///         self.0 += n;
///         self.0
///     }
/// }
///
/// impl Handler<Reset> for Counter {
///     async fn handle(&mut self, _: Reset) {
///         self.0 = 0;
///     }
/// }
///
/// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let node = Node::builder()
///     .name("doc")
///     .cookie("secret")
///     .listen("127.0.0.1:0".parse()?)
///     .no_discovery()
///     .start()
///     .await?;
/// let counter = node.serve("counter", Counter::default).await?;
/// let t = Duration::from_secs(1);
/// assert_eq!(counter.ask(Add(2), t).await?, 2);
/// counter.ask(Reset, t).await?;
/// assert_eq!(counter.ask(Add(5), t).await?, 5);
/// node.shutdown().await;
/// # Ok(()) }
/// ```
pub trait Server: Send + Sized + 'static {
    /// Lists the messages this server answers; each needs a [`Handler`]
    /// (or a function, [`Accepts::add_with`]). The default lists none (an
    /// agent that only takes part in protocols needs no message of its
    /// own).
    fn accepts(accepts: &mut Accepts<Self>) {
        let _ = accepts;
    }

    /// Runs once the server is registered, before its first message. The
    /// default does nothing.
    fn started(&mut self) -> impl Future<Output = ()> + Send {
        async {}
    }
}

/// How a [`Server`] answers a message of type `M`.
pub trait Handler<M: Message>: Server {
    /// Answers `msg`. A panic here fails the server, and its supervisor
    /// restarts it.
    fn handle(&mut self, msg: M) -> impl Future<Output = M::Reply> + Send;
}

/// Answers one parcel (a boxed `(M, Reply<M::Reply>)`) on the server.
type RunFn<S> = Box<dyn for<'a> Fn(&'a mut S, AnyBox) -> Handling<'a, ()> + Send + Sync>;

/// Unpacks a parcel of `M`, answers it with `handle` and sends the reply.
fn answer<'a, M: Message, F>(parcel: AnyBox, handle: impl FnOnce(M) -> F) -> Handling<'a, ()>
where
    F: Future<Output = M::Reply> + Send + 'a,
{
    match parcel.downcast::<(M, Reply<M::Reply>)>() {
        Ok(parcel) => {
            let (msg, reply) = *parcel;
            let answering = handle(msg);
            Box::pin(async move { reply.send(answering.await) })
        }
        // Entries are found by the message's type id: no other type
        // reaches this one.
        Err(_) => Box::pin(async {}),
    }
}

/// Decodes a remote message of type `M` into a parcel with its way back.
fn parcel<M: Message>(payload: &[u8], route: Option<ReplyRoute>) -> Result<AnyBox, RemoteError> {
    let msg = decode::<M>(payload)?;
    Ok(Box::new((msg, routed_reply::<M::Reply>(route))))
}

struct Entry<S> {
    tag: &'static str,
    key: TypeId,
    decode: fn(&[u8], Option<ReplyRoute>) -> Result<AnyBox, RemoteError>,
    run: RunFn<S>,
    /// Does not keep the server awake (see [`Accepts::quiet`]).
    quiet: bool,
}

/// The messages a [`Server`] answers, as it lists them in
/// [`Server::accepts`].
pub struct Accepts<S> {
    entries: Vec<Entry<S>>,
    /// The tags, once a server's table is complete (see `accepts_of`).
    shared: OnceLock<Arc<[String]>>,
}

impl<S: Server> Accepts<S> {
    fn of(also: fn(&mut Self)) -> Self {
        let mut accepts = Self {
            entries: Vec::new(),
            shared: OnceLock::new(),
        };
        S::accepts(&mut accepts);
        also(&mut accepts);
        accepts
    }

    /// Answers `M` with the server's [`Handler<M>`].
    pub fn add<M: Message>(&mut self) -> &mut Self
    where
        S: Handler<M>,
    {
        self.list::<M>(Box::new(|server: &mut S, parcel| {
            answer(parcel, |msg: M| server.handle(msg))
        }))
    }

    /// Answers `M` with `handler` (for a message type and a server type
    /// that are both defined elsewhere). A tag already listed is replaced.
    pub fn add_with<M: Message>(
        &mut self,
        handler: for<'a> fn(&'a mut S, M) -> Handling<'a, M::Reply>,
    ) -> &mut Self {
        self.list::<M>(Box::new(move |server: &mut S, parcel| {
            answer(parcel, |msg: M| handler(server, msg))
        }))
    }

    /// Lists `M`, answered by `run`, in place of an entry with its tag.
    fn list<M: Message>(&mut self, run: RunFn<S>) -> &mut Self {
        let entry = Entry {
            tag: M::TAG,
            key: TypeId::of::<M>(),
            decode: parcel::<M>,
            run,
            quiet: false,
        };
        match self.entries.iter_mut().find(|e| e.tag == M::TAG) {
            Some(listed) => *listed = entry,
            None => self.entries.push(entry),
        }
        self
    }

    /// Messages of type `M` (listed already) do not keep the server awake
    /// when it passivates ([`Hosting::passivate_after`]): health checks
    /// and other probes, which would otherwise never let it sleep.
    pub fn quiet<M: Message>(&mut self) -> &mut Self {
        if let Some(entry) = self.entries.iter_mut().find(|e| e.tag == M::TAG) {
            entry.quiet = true;
        }
        self
    }

    /// The wire tags listed so far.
    pub fn tags(&self) -> Vec<String> {
        self.entries.iter().map(|e| e.tag.to_owned()).collect()
    }

    /// Decodes a remote message tagged `tag` into a parcel with its way
    /// back, and finds the entry that answers it: the step of a remote
    /// tell or ask that reads bytes from the network. It touches no actor,
    /// so that the fuzz targets drive it as the gateway does.
    fn decode(
        &self,
        tag: &str,
        payload: &[u8],
        reply: Option<ReplyRoute>,
    ) -> Result<(&Entry<S>, AnyBox), RemoteError> {
        let entry = self
            .entries
            .iter()
            .find(|e| e.tag == tag)
            .ok_or_else(|| RemoteError::mismatch(self.tags(), tag))?;
        Ok((entry, (entry.decode)(payload, reply)?))
    }
}

/// The tags a server of type `S` answers: for the fuzz targets.
#[cfg(feature = "fuzzing")]
pub(crate) fn tags_for<S: Server>() -> Vec<String> {
    accepts_of::<S>(|_| {}).tags()
}

/// Decodes `payload` as the message tagged `tag` that a server of type `S`
/// answers, as its target does for a remote tell, and drops it: for the
/// fuzz targets, which run no actor.
#[cfg(feature = "fuzzing")]
pub(crate) fn decode_for<S: Server>(tag: &str, payload: &[u8]) -> Result<(), RemoteError> {
    accepts_of::<S>(|_| {})
        .decode(tag, payload, None)
        .map(|_| ())
}

impl<S> std::fmt::Debug for Accepts<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.entries.iter().map(|e| e.tag))
            .finish()
    }
}

/// One message for a server, with its reply handle, and how it is
/// answered.
pub(crate) struct Envelope<S: 'static> {
    parcel: AnyBox,
    /// Its entry in the server type's table, which lives as long as the
    /// process (see `accepts_of`): no reference count shared by every
    /// sender and every server of the type to touch per message.
    entry: &'static Entry<S>,
}

/// What a server's mailbox holds.
pub(crate) enum ServerMsg<S: 'static> {
    /// A message to answer.
    Run(Envelope<S>),
    /// Time to look whether it has been idle long enough to passivate.
    Idle,
    /// Everything sent before it decided to passivate has been answered.
    Sleep,
}

impl<S: Server> ractor::Message for ServerMsg<S> {}

/// Where a passivating server's messages go.
enum Live<S: 'static> {
    /// To its running actor.
    Active(ActorRef<ServerMsg<S>>),
    /// Nowhere yet: it is starting, or finishing its mailbox before it
    /// sleeps. They wait here, in order.
    Waiting(Vec<Envelope<S>>),
    /// It sleeps with its state; they wait here while it wakes.
    Asleep {
        server: S,
        waiting: Vec<Envelope<S>>,
        waking: bool,
        /// It has never run ([`Node::serve_asleep`]): `started` is due.
        unstarted: bool,
    },
}

/// How a server's target reaches it.
enum Route<S: 'static> {
    /// One actor, for its whole life.
    Fixed(ActorRef<ServerMsg<S>>),
    /// Whichever incarnation is awake, or the sleeping server itself.
    Passivating {
        live: Mutex<Live<S>>,
        /// Its supervisor and child id (its name), to wake it.
        wake: Supervisor,
        id: Arc<str>,
    },
}

/// A server as the gateway sees it.
struct ServerTarget<S: 'static> {
    route: Route<S>,
    accepts: &'static Accepts<S>,
    stop_on_conflict: bool,
}

impl<S: Server> ServerTarget<S> {
    fn live(&self) -> Option<std::sync::MutexGuard<'_, Live<S>>> {
        match &self.route {
            Route::Fixed(_) => None,
            Route::Passivating { live, .. } => {
                Some(live.lock().unwrap_or_else(PoisonError::into_inner))
            }
        }
    }

    /// Sends `envelope` to the server, wherever it is now; gives it back
    /// when its actor has stopped.
    fn send(&self, envelope: Envelope<S>) -> Result<(), Option<Envelope<S>>> {
        let refused = |e: ractor::MessagingErr<ServerMsg<S>>| match e {
            ractor::MessagingErr::SendErr(ServerMsg::Run(envelope)) => Some(envelope),
            _ => None,
        };
        match &self.route {
            Route::Fixed(actor) => actor
                .send_message(ServerMsg::Run(envelope))
                .map_err(refused),
            Route::Passivating { live, wake, id } => {
                let mut live = live.lock().unwrap_or_else(PoisonError::into_inner);
                match &mut *live {
                    Live::Active(actor) => actor
                        .send_message(ServerMsg::Run(envelope))
                        .map_err(refused),
                    Live::Waiting(waiting) => {
                        waiting.push(envelope);
                        Ok(())
                    }
                    Live::Asleep {
                        waiting, waking, ..
                    } => {
                        waiting.push(envelope);
                        if !*waking {
                            *waking = true;
                            wake.wake(id);
                        }
                        Ok(())
                    }
                }
            }
        }
    }

    /// The server sleeps (no actor runs it).
    fn asleep(&self) -> bool {
        self.live()
            .is_some_and(|live| matches!(*live, Live::Asleep { .. }))
    }
}

impl<S: Server> Deliver for ServerTarget<S> {
    fn deliver(
        &self,
        tag: &str,
        payload: &[u8],
        reply: Option<ReplyRoute>,
    ) -> Result<(), RemoteError> {
        let (entry, parcel) = self.accepts.decode(tag, payload, reply)?;
        let envelope = Envelope { parcel, entry };
        self.send(envelope).map_err(|_| RemoteError::UnknownName)
    }

    fn send_local(&self, key: TypeId, parcel: AnyBox) -> Result<(), NotTaken> {
        let Some(entry) = self.accepts.entries.iter().find(|e| e.key == key) else {
            return Err(NotTaken::Refused(parcel));
        };
        let envelope = Envelope { parcel, entry };
        self.send(envelope)
            .map_err(|back| NotTaken::Stopped(back.map(|e| e.parcel)))
    }

    fn accepts(&self) -> Arc<[String]> {
        Arc::clone(
            self.accepts
                .shared
                .get_or_init(|| self.accepts.tags().into()),
        )
    }

    fn cell(&self) -> Option<ActorCell> {
        match &self.route {
            Route::Fixed(actor) => Some(actor.get_cell()),
            Route::Passivating { .. } => match &*self.live()? {
                Live::Active(actor) => Some(actor.get_cell()),
                Live::Waiting(_) | Live::Asleep { .. } => None,
            },
        }
    }

    fn stop_on_conflict(&self) -> bool {
        self.stop_on_conflict
    }
}

/// The handler table of server type `S` with `also`, built once per
/// process and shared by every server of that type: a node of 100,000
/// agents holds one table per agent type, not one per agent. Tables are
/// never freed (one per server type and host), so a message can point at
/// its entry with a plain reference.
fn accepts_of<S: Server>(also: fn(&mut Accepts<S>)) -> &'static Accepts<S> {
    type Tables = HashMap<(TypeId, usize), &'static (dyn Any + Send + Sync)>;
    static TABLES: OnceLock<Mutex<Tables>> = OnceLock::new();
    let key = (TypeId::of::<S>(), also as usize);
    let mut tables = TABLES
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    let table = tables.entry(key).or_insert_with(|| {
        let table: &'static Accepts<S> = Box::leak(Box::new(Accepts::<S>::of(also)));
        table
    });
    if let Some(table) = table.downcast_ref::<Accepts<S>>() {
        return table;
    }
    // Keyed by the type's id, another type's table is never found; were
    // it, this one would take its place (leaked once, not per call).
    let fresh: &'static Accepts<S> = Box::leak(Box::new(Accepts::<S>::of(also)));
    *table = fresh;
    fresh
}

/// Called after each message a hosted server handled ([`Hosting::after_each`]).
pub type AfterEach<S> = Arc<dyn Fn(&mut S) + Send + Sync>;

/// What a framework that hosts user servers adds to them
/// ([`Node::server_spec_with`]): messages of its own that it answers for
/// them, a hook after each message, and the epoch they register at. The
/// agents crate answers protocol requests and replicates agents' state
/// this way.
pub struct Hosting<S> {
    /// What servers hosted alike have in common: one copy for all of them
    /// once served (see [`Common::shared`]).
    common: Arc<Common<S>>,
    after_each: Option<AfterEach<S>>,
    epoch: u64,
    labels: Labels,
}

/// The part of a [`Hosting`] that is the same for every server of a kind
/// a host starts alike (where each one's epoch, hook and labels are its
/// own): kept once for all of them, not in each one's child spec. The
/// sharing is best effort: it compares the extra handlers by function
/// address, and one function may have two addresses (two codegen units);
/// then two copies are kept, which costs memory, not correctness.
struct Common<S> {
    also: fn(&mut Accepts<S>),
    stop_on_conflict: bool,
    passivate: Option<(Duration, Supervisor)>,
    metered: Option<Arc<str>>,
}

impl<S> Clone for Common<S> {
    fn clone(&self) -> Self {
        Self {
            also: self.also,
            stop_on_conflict: self.stop_on_conflict,
            passivate: self.passivate.clone(),
            metered: self.metered.clone(),
        }
    }
}

/// What tells two [`Common`]s apart.
#[derive(PartialEq, Eq, Hash)]
struct CommonKey {
    server: TypeId,
    also: usize,
    stop_on_conflict: bool,
    passivate: Option<(Duration, ractor::ActorId)>,
    metered: Option<Arc<str>>,
}

impl<S: Server> Common<S> {
    /// The process's copy of `common`, if a live one is equal to it; else
    /// `common`, kept as that copy while it lives.
    fn shared(common: Arc<Self>) -> Arc<Self> {
        type Table = HashMap<CommonKey, std::sync::Weak<dyn Any + Send + Sync>>;
        static COMMONS: OnceLock<Mutex<(Table, usize)>> = OnceLock::new();
        let key = CommonKey {
            server: TypeId::of::<S>(),
            also: common.also as usize,
            stop_on_conflict: common.stop_on_conflict,
            passivate: common
                .passivate
                .as_ref()
                .map(|(idle, supervisor)| (*idle, supervisor.actor().get_id())),
            metered: common.metered.clone(),
        };
        let mut commons = COMMONS
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let (table, pruned_at) = &mut *commons;
        let found = table
            .get(&key)
            .and_then(std::sync::Weak::upgrade)
            .and_then(|any| any.downcast::<Self>().ok());
        if let Some(found) = found {
            return found;
        }
        // Those of servers all gone (a supervisor stopped) are dropped
        // whenever the table has doubled since.
        if table.len() >= 2 * (*pruned_at).max(16) {
            table.retain(|_, common| common.strong_count() > 0);
            *pruned_at = table.len();
        }
        let any: Arc<dyn Any + Send + Sync> = common.clone();
        table.insert(key, Arc::downgrade(&any));
        common
    }
}

impl<S> std::fmt::Debug for Hosting<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hosting")
            .field("after_each", &self.after_each.is_some())
            .field("epoch", &self.epoch)
            .field("stop_on_conflict", &self.common.stop_on_conflict)
            .field(
                "passivate_after",
                &self.common.passivate.as_ref().map(|p| p.0),
            )
            .field("metered", &self.common.metered)
            .field("labels", &self.labels)
            .finish_non_exhaustive()
    }
}

impl<S> Clone for Hosting<S> {
    fn clone(&self) -> Self {
        Self {
            common: Arc::clone(&self.common),
            after_each: self.after_each.clone(),
            epoch: self.epoch,
            labels: self.labels.clone(),
        }
    }
}

impl<S: Server> Hosting<S> {
    /// Answers also what `also` adds to the server's own
    /// [`Server::accepts`].
    pub fn new(also: fn(&mut Accepts<S>)) -> Self {
        Self {
            common: Arc::new(Common {
                also,
                stop_on_conflict: true,
                passivate: None,
                metered: None,
            }),
            after_each: None,
            epoch: 0,
            labels: Labels::default(),
        }
    }

    /// Registers the name with these labels (see
    /// [`Node::set_labels`](crate::Node::set_labels)): the name is listed
    /// with them from its registration on, on every node, with no second
    /// announcement. Each new incarnation registers with them again
    /// (labels set since are not kept). None by default.
    ///
    /// Labels over [`MAX_LABEL_BYTES`](crate::MAX_LABEL_BYTES) make the
    /// registration fail with [`ClusterError::InvalidName`](crate::ClusterError::InvalidName).
    #[must_use]
    pub fn labels<K: Into<String>, V: Into<String>>(
        self,
        labels: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        Self {
            labels: labels
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
            ..self
        }
    }

    /// Counts the messages the server handles and times each, as
    /// `foundation_server_messages_total{kind}` and
    /// `foundation_server_handle_seconds{kind}` (a summary): labelled by
    /// `kind`, not by name, so that a node of a hundred thousand servers
    /// has one series per kind. Off by default (it costs two clock reads
    /// a message).
    #[must_use]
    pub fn metered(mut self, kind: impl Into<Arc<str>>) -> Self {
        Arc::make_mut(&mut self.common).metered = Some(kind.into());
        self
    }

    /// Calls `hook` with the server after each message it handled, in its
    /// own task (keep it short: the next message waits for it).
    #[must_use]
    pub fn after_each(self, hook: AfterEach<S>) -> Self {
        Self {
            after_each: Some(hook),
            ..self
        }
    }

    /// Registers the name at `epoch`: how many times the server has moved
    /// to another node by failover. When two nodes claim the name (the two
    /// sides of a healed partition), the higher epoch keeps it, then the
    /// smallest node name. The default is 0.
    #[must_use]
    pub fn epoch(self, epoch: u64) -> Self {
        Self { epoch, ..self }
    }

    /// Whether the gateway stops the server when its name is lost to
    /// another node's claim (under [`ConflictPolicy::Stop`](crate::ConflictPolicy::Stop),
    /// the default). A host that watches for
    /// [`NodeEvent::NameConflict`](crate::NodeEvent::NameConflict) and
    /// stops the server itself (so that its supervisor does not start it
    /// again under a name now held elsewhere) turns this off. The default
    /// is on.
    #[must_use]
    pub fn stop_on_conflict(mut self, stop: bool) -> Self {
        Arc::make_mut(&mut self.common).stop_on_conflict = stop;
        self
    }

    /// Passivates the server after `idle` without a message: it finishes
    /// what its mailbox holds, then its actor stops with reason
    /// [`PASSIVATED`](actor_core::PASSIVATED) and the server itself, its
    /// state, waits in its registered target, with no task or mailbox. The
    /// name stays registered; the next message wakes it: `supervisor` (the
    /// one its child spec is started under) starts it again from that
    /// state, without calling [`Server::started`], and the messages that
    /// came meanwhile are answered in order.
    #[must_use]
    pub fn passivate_after(mut self, idle: Duration, supervisor: Supervisor) -> Self {
        Arc::make_mut(&mut self.common).passivate = Some((idle, supervisor));
        self
    }

    /// The supervisor and idle time of [`passivate_after`](Self::passivate_after).
    fn passivate(&self) -> Option<&(Duration, Supervisor)> {
        self.common.passivate.as_ref()
    }
}

/// Where a server is registered: its name and groups on a node.
/// Told, once, how a server's first registration went.
type FirstRegistration = Arc<Mutex<Option<oneshot::Sender<crate::Result<()>>>>>;

pub(crate) struct Registration<S: 'static> {
    node: Node,
    name: Arc<str>,
    groups: Arc<[String]>,
    /// Told how the first registration went (no one is, for a server
    /// started asleep).
    first: Option<FirstRegistration>,
    /// What the host adds.
    hosting: Hosting<S>,
    /// The target of a passivating server, shared by its incarnations.
    target: Option<Arc<ServerTarget<S>>>,
}

/// The ractor actor that runs a [`Server`]: registers it under its name,
/// then answers each [`Envelope`] with the server's handler.
pub(crate) struct ServerActor<S>(PhantomData<fn() -> S>);

/// A running server and its host's hook.
pub(crate) struct Hosted<S: 'static> {
    /// `None` once handed to its target to sleep.
    server: Option<S>,
    after_each: Option<AfterEach<S>>,
    target: Option<Arc<ServerTarget<S>>>,
    /// Passivate after this long without a message.
    idle: Option<Duration>,
    last: Instant,
    /// This incarnation runs a server that has not run before:
    /// `Server::started` is due.
    unstarted: bool,
    /// Its messages counted and timed ([`Hosting::metered`]).
    meter: Option<Meter>,
}

/// A metered server's handles on its kind's metrics.
pub(crate) struct Meter {
    messages: metrics::Counter,
    seconds: metrics::Histogram,
}

impl Meter {
    fn of(kind: &str) -> Self {
        Self {
            messages: metrics::counter!("foundation_server_messages_total", "kind" => kind.to_owned()),
            seconds: metrics::histogram!("foundation_server_handle_seconds", "kind" => kind.to_owned()),
        }
    }
}

impl<S: Server> Actor for ServerActor<S> {
    type Msg = ServerMsg<S>;
    type State = Hosted<S>;
    type Arguments = (Option<S>, Registration<S>);

    async fn pre_start(
        &self,
        myself: ActorRef<ServerMsg<S>>,
        (fresh, at): (Option<S>, Registration<S>),
    ) -> Result<Hosted<S>, ActorProcessingErr> {
        let idle = at.hosting.passivate().map(|p| p.0);
        let (server, woke, unstarted, registering) = match &at.target {
            // A passivating server: this incarnation routes its messages,
            // and takes back the sleeping server if there is one.
            Some(target) => {
                let mut live = target
                    .live()
                    .ok_or("a passivating target routes to one actor")?;
                let before = std::mem::replace(&mut *live, Live::Active(myself.clone()));
                let (server, waiting, woke, unstarted) = match before {
                    Live::Asleep {
                        server,
                        waiting,
                        unstarted,
                        ..
                    } => (server, waiting, true, unstarted),
                    Live::Waiting(waiting) => (
                        fresh.ok_or("a passivating server started without its state")?,
                        waiting,
                        false,
                        true,
                    ),
                    Live::Active(_) => (
                        fresh.ok_or("a passivating server started without its state")?,
                        Vec::new(),
                        false,
                        true,
                    ),
                };
                for envelope in waiting {
                    myself.send_message(ServerMsg::Run(envelope))?;
                }
                drop(live);
                let target: Arc<dyn Deliver> = Arc::clone(target) as Arc<dyn Deliver>;
                (server, woke, unstarted, target)
            }
            None => {
                let target = ServerTarget {
                    route: Route::Fixed(myself.clone()),
                    accepts: accepts_of::<S>(at.hosting.common.also),
                    stop_on_conflict: at.hosting.common.stop_on_conflict,
                };
                let server = fresh.ok_or("a server started without its state")?;
                (server, false, true, Arc::new(target) as Arc<dyn Deliver>)
            }
        };
        if woke {
            // Its name stayed registered while it slept.
            at.node.rebind(&at.name);
        } else {
            let listing = Listing {
                groups: at.groups,
                labels: at.hosting.labels.clone(),
                epoch: at.hosting.epoch,
            };
            let registered = at
                .node
                .register_target(Arc::clone(&at.name), listing, registering)
                .await;
            let first = at
                .first
                .as_ref()
                .and_then(|first| first.lock().unwrap_or_else(PoisonError::into_inner).take());
            if let Some(first) = first {
                let _ = first.send(registered.clone());
            }
            registered?;
        }
        Ok(Hosted {
            meter: at.hosting.common.metered.as_deref().map(Meter::of),
            server: Some(server),
            after_each: at.hosting.after_each,
            target: at.target,
            idle,
            last: Instant::now(),
            unstarted,
        })
    }

    async fn post_start(
        &self,
        myself: ActorRef<ServerMsg<S>>,
        hosted: &mut Hosted<S>,
    ) -> Result<(), ActorProcessingErr> {
        if hosted.unstarted {
            if let Some(server) = &mut hosted.server {
                server.started().await;
            }
        }
        if let Some(idle) = hosted.idle {
            myself.send_after(idle, || ServerMsg::Idle);
        }
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<ServerMsg<S>>,
        msg: ServerMsg<S>,
        hosted: &mut Hosted<S>,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            ServerMsg::Run(envelope) => {
                let Some(server) = &mut hosted.server else {
                    return Ok(());
                };
                let started = hosted.meter.as_ref().map(|_| Instant::now());
                (envelope.entry.run)(server, envelope.parcel).await;
                if let (Some(meter), Some(started)) = (&hosted.meter, started) {
                    meter.messages.increment(1);
                    meter.seconds.record(started.elapsed().as_secs_f64());
                }
                if let Some(hook) = &hosted.after_each {
                    hook(server);
                }
                // Only a server that passivates looks at when it was last
                // busy.
                if !envelope.entry.quiet && hosted.idle.is_some() {
                    hosted.last = Instant::now();
                }
            }
            ServerMsg::Idle => hosted.idle_check(&myself),
            ServerMsg::Sleep => hosted.sleep(&myself),
        }
        Ok(())
    }
}

impl<S: Server> Hosted<S> {
    /// Passivates once idle long enough: new messages wait in the target
    /// from now on, and a `Sleep` behind the ones already in the mailbox
    /// says when they are all answered.
    fn idle_check(&mut self, myself: &ActorRef<ServerMsg<S>>) {
        let (Some(idle), Some(target)) = (self.idle, &self.target) else {
            return;
        };
        let quiet = self.last.elapsed();
        if quiet < idle {
            myself.send_after(idle - quiet, || ServerMsg::Idle);
            return;
        }
        if let Some(mut live) = target.live() {
            *live = Live::Waiting(Vec::new());
        }
        let _ = myself.send_message(ServerMsg::Sleep);
    }

    /// The mailbox is answered: the server goes to its target and the
    /// actor stops, unless messages came meanwhile.
    fn sleep(&mut self, myself: &ActorRef<ServerMsg<S>>) {
        let Some(target) = &self.target else {
            return;
        };
        let Some(mut live) = target.live() else {
            return;
        };
        let waiting = match std::mem::replace(&mut *live, Live::Active(myself.clone())) {
            Live::Waiting(waiting) => waiting,
            other => {
                *live = other;
                return;
            }
        };
        if !waiting.is_empty() {
            // Not idle after all: answer them and look again later.
            for envelope in waiting {
                let _ = myself.send_message(ServerMsg::Run(envelope));
            }
            if let Some(idle) = self.idle {
                myself.send_after(idle, || ServerMsg::Idle);
            }
            return;
        }
        let Some(server) = self.server.take() else {
            return;
        };
        *live = Live::Asleep {
            server,
            waiting: Vec::new(),
            waking: false,
            unstarted: false,
        };
        drop(live);
        myself.stop(Some(PASSIVATED.to_owned()));
    }
}

/// What every incarnation of a server's child is started from, held by
/// its child spec's start function, in the same allocation (a server
/// asleep by the hundred thousand costs this once each).
struct Incarnation<S: Server, F> {
    node: Node,
    /// Shared with its target and its child spec.
    name: Arc<str>,
    /// One copy, shared by the servers registered in the same groups.
    groups: Arc<[String]>,
    hosting: Hosting<S>,
    factory: F,
    first: Option<FirstRegistration>,
    /// The target of a passivating server.
    target: Option<Arc<ServerTarget<S>>>,
}

/// A passivating server's child spec is dropped when its supervisor
/// forgets the child (terminated, or the supervisor stopped): if the
/// server sleeps then, its name is released, as a stopping actor's would
/// be.
impl<S: Server, F> Drop for Incarnation<S, F> {
    fn drop(&mut self) {
        let Some(target) = &self.target else {
            return;
        };
        if let Route::Passivating { id, .. } = &target.route {
            if target.asleep() {
                let target = Arc::as_ptr(target).cast::<()>() as usize;
                self.node.release_dormant(id, target);
            }
        }
    }
}

impl Node {
    /// Runs the server that `factory` builds as a permanent child of this
    /// node's supervisor (built again for each restart), registered under
    /// `name`; returns a reference to it once it is registered.
    ///
    /// # Errors
    /// As [`register`](Node::register): [`ClusterError::NameTaken`](crate::ClusterError::NameTaken),
    /// [`ClusterError::InvalidName`](crate::ClusterError::InvalidName),
    /// [`ClusterError::NoQuorum`](crate::ClusterError::NoQuorum);
    /// [`ClusterError::NodeStopped`](crate::ClusterError::NodeStopped) if
    /// the node is shutting down; or
    /// [`ClusterError::Start`](crate::ClusterError::Start)
    /// ([`StartError::Server`](crate::StartError::Server)) if the actor
    /// cannot start.
    pub async fn serve<S, F>(&self, name: &str, factory: F) -> crate::Result<crate::Ref>
    where
        S: Server,
        F: Fn() -> S + Send + Sync + 'static,
    {
        if let Ok(held) = self.lookup(name).await {
            return Err(crate::ClusterError::NameTaken {
                name: name.to_owned(),
                node: held.node().unwrap_or_else(|| self.name().to_owned()),
            });
        }
        let (spec, registered) =
            self.spec_reporting(name, Vec::<String>::new(), Hosting::new(|_| {}), factory);
        if let Err(e) = self.supervisor().start_child(spec).await {
            // The registration's own error (taken, no quorum) if that is why.
            return Err(match registered.await {
                Ok(Err(refused)) => refused,
                // The node's supervisor no longer answers: it is stopping.
                _ if matches!(e, CoreError::NotRunning { .. }) => crate::ClusterError::NodeStopped,
                _ => crate::StartError::Server {
                    name: name.to_owned(),
                    source: Arc::new(e),
                }
                .into(),
            });
        }
        self.lookup(name).await
    }

    /// The child spec of a server registered as `name` in `groups`, for a
    /// supervisor of your own (the child id is the name); see
    /// [`serve`](Node::serve).
    pub fn server_spec<S, F>(
        &self,
        name: &str,
        groups: impl IntoIterator<Item = impl Into<String>>,
        factory: F,
    ) -> ChildSpec
    where
        S: Server,
        F: Fn() -> S + Send + Sync + 'static,
    {
        self.spec_reporting(name, groups, Hosting::new(|_| {}), factory)
            .0
    }

    /// [`server_spec`](Node::server_spec), with what a framework that
    /// hosts user servers adds to them ([`Hosting`]).
    pub fn server_spec_with<S, F>(
        &self,
        name: impl Into<Arc<str>>,
        groups: impl IntoIterator<Item = impl Into<String>>,
        hosting: Hosting<S>,
        factory: F,
    ) -> ChildSpec
    where
        S: Server,
        F: Fn() -> S + Send + Sync + 'static,
    {
        self.spec_reporting(name, groups, hosting, factory).0
    }

    /// [`server_spec`](Node::server_spec), and how its first registration
    /// went.
    pub(crate) fn spec_reporting<S, F>(
        &self,
        name: impl Into<Arc<str>>,
        groups: impl IntoIterator<Item = impl Into<String>>,
        hosting: Hosting<S>,
        factory: F,
    ) -> (ChildSpec, oneshot::Receiver<crate::Result<()>>)
    where
        S: Server,
        F: Fn() -> S + Send + Sync + 'static,
    {
        let (tx, registered) = oneshot::channel();
        let first = Arc::new(Mutex::new(Some(tx)));
        let groups = crate::shared::list_of(groups);
        let (spec, _) = self.spec_parts(name.into(), groups, hosting, factory, None, Some(first));
        (spec, registered)
    }

    /// Registers `name` for a server that starts asleep, as a passivated
    /// one sleeps: `server` waits in the name's target, no actor runs it,
    /// and its first message wakes it in an actor under the supervisor of
    /// `hosting`'s [`passivate_after`](Hosting::passivate_after), after
    /// which it passivates when idle like any passivating server. Its
    /// child (id `name`, restarted by `restart`, from `factory` after a
    /// failure) is added dormant to that supervisor. For servers that are
    /// to exist by the thousand and run only when used: one costs its
    /// state and its entries, no task and no mailbox. To start many at
    /// once, see [`serve_asleep_many`](Self::serve_asleep_many).
    ///
    /// # Errors
    /// As [`serve`](Node::serve); [`StartError::Server`](crate::StartError::Server)
    /// if `hosting` does not passivate, or the supervisor refuses the child
    /// (its id taken).
    pub async fn serve_asleep<S, F>(
        &self,
        name: impl Into<Arc<str>>,
        groups: impl IntoIterator<Item = impl Into<String>>,
        hosting: Hosting<S>,
        restart: Restart,
        server: S,
        factory: F,
    ) -> crate::Result<()>
    where
        S: Server,
        F: Fn() -> S + Send + Sync + 'static,
    {
        Asleep::new(self, name, groups, hosting, restart, server, factory)?
            .serve()
            .await
    }

    /// Serves many servers asleep, each as [`serve_asleep`](Self::serve_asleep)
    /// serves one: for a node that starts thousands at once. Each run of
    /// servers next to each other under the same supervisor costs one
    /// message to that supervisor and one to the gateway (where one at a
    /// time costs two round trips between threads each); a name the
    /// gateway refuses costs one more, to take its child back. Answers, in
    /// order, how each went; one refused (its name or its child id taken,
    /// or made ready for another node) does not stop the others.
    pub async fn serve_asleep_many(&self, servers: Vec<Asleep>) -> Vec<crate::Result<()>> {
        let mut served = Vec::with_capacity(servers.len());
        let mut servers = servers.into_iter().peekable();
        let here = |s: &Asleep| s.node.is(self);
        while let Some(first) = servers.next() {
            if !here(&first) {
                let reason = format!(
                    "made ready to serve on node `{}`, not on `{}`",
                    first.node.name(),
                    self.name()
                );
                served.push(Err(not_started(&first.name, reason)));
                continue;
            }
            // Those under one supervisor (all of them, mostly) go together.
            let supervisor = first.supervisor.clone();
            let mut run = vec![first];
            while let Some(next) = servers.next_if(|s| {
                here(s) && s.supervisor.actor().get_id() == supervisor.actor().get_id()
            }) {
                run.push(next);
            }
            served.extend(self.serve_run(&supervisor, run).await);
        }
        served
    }

    /// Serves `run`, all under `supervisor`, asleep.
    async fn serve_run(&self, supervisor: &Supervisor, run: Vec<Asleep>) -> Vec<crate::Result<()>> {
        let (specs, rest): (Vec<_>, Vec<_>) = run
            .into_iter()
            .map(|a| (a.spec, (a.name, a.listing, a.target)))
            .unzip();
        // Added before their names are registered: no message can wake one
        // before its supervisor knows it.
        let added = match supervisor.add_dormant_many(specs).await {
            Ok(added) => added,
            // Its one failure: the supervisor is gone, answered as the
            // node stopping (as `serve_asleep` always has).
            Err(_) => {
                return rest
                    .iter()
                    .map(|_| Err(crate::ClusterError::NodeStopped))
                    .collect();
            }
        };
        let mut results: Vec<crate::Result<()>> = Vec::with_capacity(rest.len());
        let mut to_register = Vec::with_capacity(rest.len());
        for (added, (name, listing, target)) in added.into_iter().zip(rest) {
            match added {
                Ok(()) => {
                    results.push(Ok(()));
                    to_register.push((name, listing, target));
                }
                Err(e) => results.push(Err(refused(&name, e))),
            }
        }
        let names: Vec<Arc<str>> = to_register.iter().map(|(n, ..)| Arc::clone(n)).collect();
        let registered = match self.register_targets(to_register).await {
            Ok(registered) => registered,
            Err(e) => names.iter().map(|_| Err(e.clone())).collect(),
        };
        let mut registered = names.into_iter().zip(registered);
        for result in results.iter_mut().filter(|r| r.is_ok()) {
            let Some((name, outcome)) = registered.next() else {
                break;
            };
            if let Err(e) = outcome {
                // Its spec dropped, its target releases nothing it does
                // not hold.
                let _ = supervisor.terminate_child(&name).await;
                *result = Err(e);
            }
        }
        results
    }

    /// The parts of a server's child spec: the spec, and the target of a
    /// passivating server (asleep with `asleep` if given). `first`, if
    /// given, is told how the first registration went.
    fn spec_parts<S, F>(
        &self,
        name: Arc<str>,
        groups: Arc<[String]>,
        hosting: Hosting<S>,
        factory: F,
        asleep: Option<S>,
        first: Option<FirstRegistration>,
    ) -> (ChildSpec, Option<Arc<ServerTarget<S>>>)
    where
        S: Server,
        F: Fn() -> S + Send + Sync + 'static,
    {
        // One copy of the name, for the target, the incarnations and the
        // child spec (and its supervisor's table), and the gateway's tables.
        let live = match asleep {
            Some(server) => Live::Asleep {
                server,
                waiting: Vec::new(),
                waking: false,
                unstarted: true,
            },
            None => Live::Waiting(Vec::new()),
        };
        // One copy of what this server shares with those hosted alike.
        let hosting = Hosting {
            common: Common::shared(hosting.common),
            ..hosting
        };
        let target = hosting.passivate().map(|(_, supervisor)| {
            Arc::new(ServerTarget {
                route: Route::Passivating {
                    live: Mutex::new(live),
                    wake: supervisor.clone(),
                    id: Arc::clone(&name),
                },
                accepts: accepts_of::<S>(hosting.common.also),
                stop_on_conflict: hosting.common.stop_on_conflict,
            })
        });
        let incarnation = Incarnation {
            node: self.clone(),
            name: Arc::clone(&name),
            groups,
            hosting,
            factory,
            first,
            target: target.clone(),
        };
        let spec = ChildSpec::new(name, move || {
            let at = &incarnation;
            let target = at.target.clone();
            // A sleeping server wakes with its own state; anything else
            // starts from a fresh one.
            let fresh = match &target {
                Some(target) if target.asleep() => None,
                _ => Some((at.factory)()),
            };
            let registration = Registration {
                node: at.node.clone(),
                name: Arc::clone(&at.name),
                groups: Arc::clone(&at.groups),
                first: at.first.clone(),
                hosting: at.hosting.clone(),
                target,
            };
            (ServerActor::<S>(PhantomData), (fresh, registration))
        })
        .restart(Restart::Permanent);
        (spec, target)
    }
}

/// Why server `name` was not started: `source`, or, if its supervisor is
/// gone, its node stopping.
fn refused(name: &str, source: CoreError) -> crate::ClusterError {
    match source {
        CoreError::NotRunning { .. } => crate::ClusterError::NodeStopped,
        source => crate::StartError::Server {
            name: name.to_owned(),
            source: Arc::new(source),
        }
        .into(),
    }
}

/// Server `name` was not started, for `reason`.
fn not_started(name: &str, reason: String) -> crate::ClusterError {
    let child = name.to_owned();
    refused(name, CoreError::Spawn { child, reason })
}

/// A server made ready to start asleep, for
/// [`Node::serve_asleep_many`]: what [`Node::serve_asleep`] takes, checked.
pub struct Asleep {
    /// The node it was made ready for (its incarnations register there).
    node: Node,
    name: Arc<str>,
    supervisor: Supervisor,
    spec: ChildSpec,
    listing: Listing,
    target: Arc<dyn Deliver>,
}

impl Asleep {
    /// `server`, to be registered as `name` on `node` and served asleep as
    /// [`Node::serve_asleep`] says of its arguments, by `node`'s
    /// [`serve_asleep_many`](Node::serve_asleep_many) (another node
    /// refuses it).
    ///
    /// # Errors
    /// [`StartError::Server`](crate::StartError::Server) if `hosting` does
    /// not passivate.
    pub fn new<S, F>(
        node: &Node,
        name: impl Into<Arc<str>>,
        groups: impl IntoIterator<Item = impl Into<String>>,
        hosting: Hosting<S>,
        restart: Restart,
        server: S,
        factory: F,
    ) -> crate::Result<Self>
    where
        S: Server,
        F: Fn() -> S + Send + Sync + 'static,
    {
        let name: Arc<str> = name.into();
        let Some((_, supervisor)) = hosting.passivate().cloned() else {
            let reason = "a server served asleep must passivate (Hosting::passivate_after)";
            return Err(not_started(&name, reason.into()));
        };
        let groups = crate::shared::list_of(groups);
        let listing = Listing {
            groups: Arc::clone(&groups),
            labels: hosting.labels.clone(),
            epoch: hosting.epoch,
        };
        let (spec, target) = node.spec_parts(
            Arc::clone(&name),
            groups,
            hosting,
            factory,
            Some(server),
            None,
        );
        let Some(target) = target else {
            return Err(not_started(
                &name,
                "a passivating server has a target".into(),
            ));
        };
        Ok(Self {
            node: node.clone(),
            name,
            supervisor,
            spec: spec.restart(restart),
            listing,
            target,
        })
    }

    /// The name it is to be registered as.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Serves it on the node it was made ready for, as
    /// [`Node::serve_asleep`] does.
    ///
    /// # Errors
    /// As [`Node::serve_asleep`].
    pub async fn serve(self) -> crate::Result<()> {
        let node = self.node.clone();
        let mut served = node.serve_asleep_many(vec![self]).await;
        served
            .pop()
            .unwrap_or(Err(crate::ClusterError::NodeStopped))
    }
}

impl std::fmt::Debug for Asleep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Asleep")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::collection::vec;
    use proptest::prelude::*;
    use serde::{Deserialize, Serialize};

    #[derive(Debug, Serialize, Deserialize)]
    struct Add(u64);
    impl Message for Add {
        type Reply = u64;
        const TAG: &'static str = "test.add/1";
    }

    #[derive(Debug, Serialize, Deserialize)]
    enum Op {
        Rename { to: String },
        Many(Vec<Op>),
    }
    impl Message for Op {
        type Reply = ();
        const TAG: &'static str = "test.op/1";
    }

    struct Two;
    impl Server for Two {
        fn accepts(accepts: &mut Accepts<Self>) {
            accepts.add::<Add>().add::<Op>();
        }
    }
    impl Handler<Add> for Two {
        async fn handle(&mut self, Add(n): Add) -> u64 {
            n
        }
    }
    impl Handler<Op> for Two {
        async fn handle(&mut self, _: Op) {}
    }

    #[test]
    fn servers_hosted_alike_share_one_copy_of_what_they_have_in_common() {
        let alike = || Hosting::<Two>::new(|_| {}).metered("two").epoch(3);
        let (a, b) = (alike(), alike().epoch(4));
        assert!(!Arc::ptr_eq(&a.common, &b.common), "built apart");
        let a = Common::shared(a.common);
        let b = Common::shared(b.common);
        assert!(Arc::ptr_eq(&a, &b), "one copy once served");
        // Anything that tells them apart keeps them apart.
        let other = Common::shared(alike().metered("three").common);
        assert!(!Arc::ptr_eq(&a, &other));
        let loud = Common::shared(alike().stop_on_conflict(false).common);
        assert!(!Arc::ptr_eq(&a, &loud));
        // The table does not keep a copy alive: once every server that
        // shared it is gone, the next one served is kept instead.
        drop((a, b));
        let again = Common::shared(alike().common);
        assert_eq!(Arc::strong_count(&again), 1, "not the dropped copy");
    }

    fn decode(tag: &str, payload: &[u8]) -> Result<(), RemoteError> {
        accepts_of::<Two>(|_| {})
            .decode(tag, payload, None)
            .map(|_| ())
    }

    #[test]
    fn a_remote_message_is_decoded_by_its_tag_or_refused() {
        let add = rmp_serde::to_vec_named(&Add(3)).unwrap();
        assert_eq!(decode(Add::TAG, &add), Ok(()));
        assert!(matches!(decode(Op::TAG, &add), Err(RemoteError::Decode(_))));
        assert_eq!(
            decode("other/1", &add),
            Err(RemoteError::TypeMismatch {
                accepts: vec![Add::TAG.into(), Op::TAG.into()],
                requested: "other/1".into()
            })
        );
    }

    proptest! {
        #[test]
        fn any_bytes_decode_or_are_refused(bytes in vec(any::<u8>(), 0..256)) {
            for tag in [Add::TAG, Op::TAG] {
                if let Err(e) = decode(tag, &bytes) {
                    prop_assert!(matches!(e, RemoteError::Decode(_)), "{:?}", e);
                }
            }
        }
    }
}
