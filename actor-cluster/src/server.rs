//! Servers: actors that answer several [`Message`] types, each with its
//! own reply, registered under a name and supervised.
//!
//! A server is a plain struct with its state. It says which messages it
//! answers in [`Server::accepts`], and answers each with a [`Handler`].
//! [`Node::serve`] runs it as a permanent child of the node's supervisor,
//! registered under a name, reachable by a [`Ref`](crate::Ref) from every
//! node.

use std::any::TypeId;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};

use actor_core::{ChildSpec, CoreError, Restart};
use ractor::{Actor, ActorCell, ActorProcessingErr, ActorRef};
use tokio::sync::oneshot;

use crate::error::RemoteError;
use crate::gateway::{Deliver, ReplyRoute};
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
type RunFn<S> = Arc<dyn for<'a> Fn(&'a mut S, AnyBox) -> Handling<'a, ()> + Send + Sync>;

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
}

/// The messages a [`Server`] answers, as it lists them in
/// [`Server::accepts`].
pub struct Accepts<S> {
    entries: Vec<Entry<S>>,
}

impl<S: Server> Accepts<S> {
    fn of(also: fn(&mut Self)) -> Self {
        let mut accepts = Self {
            entries: Vec::new(),
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
        self.list::<M>(Arc::new(|server: &mut S, parcel| {
            answer(parcel, |msg: M| server.handle(msg))
        }))
    }

    /// Answers `M` with `handler` (for a message type and a server type
    /// that are both defined elsewhere). A tag already listed is replaced.
    pub fn add_with<M: Message>(
        &mut self,
        handler: for<'a> fn(&'a mut S, M) -> Handling<'a, M::Reply>,
    ) -> &mut Self {
        self.list::<M>(Arc::new(move |server: &mut S, parcel| {
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
        };
        match self.entries.iter_mut().find(|e| e.tag == M::TAG) {
            Some(listed) => *listed = entry,
            None => self.entries.push(entry),
        }
        self
    }

    /// The wire tags listed so far.
    pub fn tags(&self) -> Vec<String> {
        self.entries.iter().map(|e| e.tag.to_owned()).collect()
    }
}

impl<S> std::fmt::Debug for Accepts<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.entries.iter().map(|e| e.tag))
            .finish()
    }
}

/// What a server's mailbox holds: one message with its reply handle, and
/// how it is answered.
pub(crate) struct Envelope<S> {
    parcel: AnyBox,
    run: RunFn<S>,
}

impl<S: Server> ractor::Message for Envelope<S> {}

/// A running server as the gateway sees it.
struct ServerTarget<S> {
    actor: ActorRef<Envelope<S>>,
    accepts: Arc<Accepts<S>>,
    stop_on_conflict: bool,
}

impl<S: Server> Deliver for ServerTarget<S> {
    fn deliver(
        &self,
        tag: &str,
        payload: &[u8],
        reply: Option<ReplyRoute>,
    ) -> Result<(), RemoteError> {
        let entry = self
            .accepts
            .entries
            .iter()
            .find(|e| e.tag == tag)
            .ok_or_else(|| RemoteError::mismatch(self.accepts.tags(), tag))?;
        let envelope = Envelope {
            parcel: (entry.decode)(payload, reply)?,
            run: Arc::clone(&entry.run),
        };
        self.actor
            .send_message(envelope)
            .map_err(|_| RemoteError::UnknownName)
    }

    fn send_local(&self, key: TypeId, parcel: AnyBox) -> Result<(), NotTaken> {
        let Some(entry) = self.accepts.entries.iter().find(|e| e.key == key) else {
            return Err(NotTaken::Refused(parcel));
        };
        let envelope = Envelope {
            parcel,
            run: Arc::clone(&entry.run),
        };
        self.actor.send_message(envelope).map_err(|e| match e {
            ractor::MessagingErr::SendErr(envelope) => NotTaken::Stopped(Some(envelope.parcel)),
            _ => NotTaken::Stopped(None),
        })
    }

    fn accepts(&self) -> Vec<String> {
        self.accepts.tags()
    }

    fn cell(&self) -> ActorCell {
        self.actor.get_cell()
    }

    fn stop_on_conflict(&self) -> bool {
        self.stop_on_conflict
    }
}

/// Called after each message a hosted server handled ([`Hosting::after_each`]).
pub type AfterEach<S> = Arc<dyn Fn(&mut S) + Send + Sync>;

/// What a framework that hosts user servers adds to them
/// ([`Node::server_spec_with`]): messages of its own that it answers for
/// them, a hook after each message, and the epoch they register at. The
/// agents crate answers protocol requests and replicates agents' state
/// this way.
pub struct Hosting<S> {
    also: fn(&mut Accepts<S>),
    after_each: Option<AfterEach<S>>,
    epoch: u64,
    stop_on_conflict: bool,
}

impl<S> std::fmt::Debug for Hosting<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hosting")
            .field("after_each", &self.after_each.is_some())
            .field("epoch", &self.epoch)
            .field("stop_on_conflict", &self.stop_on_conflict)
            .finish_non_exhaustive()
    }
}

impl<S> Clone for Hosting<S> {
    fn clone(&self) -> Self {
        Self {
            also: self.also,
            after_each: self.after_each.clone(),
            epoch: self.epoch,
            stop_on_conflict: self.stop_on_conflict,
        }
    }
}

impl<S: Server> Hosting<S> {
    /// Answers also what `also` adds to the server's own
    /// [`Server::accepts`].
    pub fn new(also: fn(&mut Accepts<S>)) -> Self {
        Self {
            also,
            after_each: None,
            epoch: 0,
            stop_on_conflict: true,
        }
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
    pub fn stop_on_conflict(self, stop: bool) -> Self {
        Self {
            stop_on_conflict: stop,
            ..self
        }
    }
}

/// Where a server is registered: its name and groups on a node.
pub(crate) struct Registration<S> {
    node: Node,
    name: String,
    groups: Vec<String>,
    /// Told how the first registration went.
    first: Arc<Mutex<Option<oneshot::Sender<crate::Result<()>>>>>,
    /// What the host adds.
    hosting: Hosting<S>,
}

/// The ractor actor that runs a [`Server`]: registers it under its name,
/// then answers each [`Envelope`] with the server's handler.
pub(crate) struct ServerActor<S>(PhantomData<fn() -> S>);

/// A running server and its host's hook.
pub(crate) struct Hosted<S> {
    server: S,
    after_each: Option<AfterEach<S>>,
}

impl<S: Server> Actor for ServerActor<S> {
    type Msg = Envelope<S>;
    type State = Hosted<S>;
    type Arguments = (S, Registration<S>);

    async fn pre_start(
        &self,
        myself: ActorRef<Envelope<S>>,
        (server, at): (S, Registration<S>),
    ) -> Result<Hosted<S>, ActorProcessingErr> {
        let target = ServerTarget {
            actor: myself,
            accepts: Arc::new(Accepts::<S>::of(at.hosting.also)),
            stop_on_conflict: at.hosting.stop_on_conflict,
        };
        let registered = at
            .node
            .register_target(&at.name, at.groups, Arc::new(target), at.hosting.epoch)
            .await;
        let first = at
            .first
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(first) = first {
            let _ = first.send(registered.clone());
        }
        registered?;
        Ok(Hosted {
            server,
            after_each: at.hosting.after_each,
        })
    }

    async fn post_start(
        &self,
        _: ActorRef<Envelope<S>>,
        hosted: &mut Hosted<S>,
    ) -> Result<(), ActorProcessingErr> {
        hosted.server.started().await;
        Ok(())
    }

    async fn handle(
        &self,
        _: ActorRef<Envelope<S>>,
        envelope: Envelope<S>,
        hosted: &mut Hosted<S>,
    ) -> Result<(), ActorProcessingErr> {
        (envelope.run)(&mut hosted.server, envelope.parcel).await;
        if let Some(hook) = &hosted.after_each {
            hook(&mut hosted.server);
        }
        Ok(())
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
        name: &str,
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
        name: &str,
        groups: impl IntoIterator<Item = impl Into<String>>,
        hosting: Hosting<S>,
        factory: F,
    ) -> (ChildSpec, oneshot::Receiver<crate::Result<()>>)
    where
        S: Server,
        F: Fn() -> S + Send + Sync + 'static,
    {
        let node = self.clone();
        let name = name.to_owned();
        let groups: Vec<String> = groups.into_iter().map(Into::into).collect();
        let (tx, rx) = oneshot::channel();
        let first = Arc::new(Mutex::new(Some(tx)));
        let spec = ChildSpec::new(name.clone(), move || {
            let at = Registration {
                node: node.clone(),
                name: name.clone(),
                groups: groups.clone(),
                first: Arc::clone(&first),
                hosting: hosting.clone(),
            };
            (ServerActor::<S>(PhantomData), (factory(), at))
        })
        .restart(Restart::Permanent);
        (spec, rx)
    }
}
