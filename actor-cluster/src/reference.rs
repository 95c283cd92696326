//! Location-transparent references: [`Ref`], the [`Message`]s it carries,
//! and what an addressable ractor actor receives, [`Request`] and [`Reply`].

use std::any::TypeId;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use ractor::{ActorRef, MessagingErr};
use tokio::sync::oneshot;

use crate::error::{ClusterError, RemoteError, Result};
use crate::gateway::{self, AskReply, Deliver, GatewayId, GatewayMsg, Outgoing, Resolved};
use crate::parcel::{AnyBox, NotTaken, Payload};
use crate::wire::{self, MAX_PAYLOAD_BYTES};

/// A message a named actor answers: plain serde data with a stable wire
/// tag and the type of its reply, so that the caller of
/// [`Ref::ask`] knows the answer's type at compile time.
///
/// The tag is what crosses the wire with the message and what a receiving
/// node checks it against: keep it stable across versions and unique among
/// the messages of one actor (a `crate.type/version` string does both).
/// Two programs that share the type definition, or define the same one
/// twice with the same tag, can talk.
///
/// Between nodes, a message or reply nested deeper than 128 arrays and
/// maps (a recursive type, 64 levels of a struct holding a `Vec` of
/// itself) is refused by the node that decodes it, with
/// [`ClusterError::Decode`]: decoding it could overflow the stack.
///
/// ```
/// use actor_cluster::Message;
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Debug, Serialize, Deserialize)]
/// struct SetLearningRate(f64);
///
/// impl Message for SetLearningRate {
///     type Reply = ();
///     const TAG: &'static str = "trainer.set_learning_rate/1";
/// }
/// ```
pub trait Message: Payload {
    /// The answer to an [`ask`](Ref::ask); `()` for a message that is only
    /// ever told.
    type Reply: Payload;
    /// The stable wire tag.
    const TAG: &'static str;
}

/// A message as an addressable ractor actor receives it: the user's
/// message and, for an `ask`, the way back.
///
/// A ractor actor with `type Msg = Request<M>` can be registered under a
/// name ([`Node::register`](crate::Node::register)); `M` is usually an enum
/// of its operations with one reply type. An actor that answers several
/// message types with a reply type each is a [`Server`](crate::Server)
/// instead. The message came from this node or another; the actor cannot
/// tell and need not care.
pub struct Request<M: Message> {
    /// The message.
    pub msg: M,
    /// Where the answer goes; [`Reply::none`] for a `tell`.
    pub reply: Reply<M::Reply>,
}

impl<M: Message + fmt::Debug> fmt::Debug for Request<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("msg", &self.msg)
            .field("reply", &self.reply)
            .finish()
    }
}

impl<M: Message> ractor::Message for Request<M> {}

impl<M: Message> Request<M> {
    /// Splits into message and reply handle.
    pub fn into_parts(self) -> (M, Reply<M::Reply>) {
        (self.msg, self.reply)
    }
}

type ReplyFn<R> = Box<dyn FnOnce(std::result::Result<R, RemoteError>) + Send>;

/// Where a [`Reply`] goes.
enum Way<R> {
    /// Nowhere: a tell, or already answered.
    None,
    /// To an asker on this node, as it is.
    Local(oneshot::Sender<std::result::Result<R, RemoteError>>),
    /// Anywhere else (encoded for the wire).
    Fn(ReplyFn<R>),
}

/// The way back to an asker. Sending consumes it; dropping it unsent tells
/// the asker that no reply will come (it gets [`ClusterError::NoReply`]
/// at once instead of waiting for its timeout).
pub struct Reply<R> {
    way: Way<R>,
}

impl<R> fmt::Debug for Reply<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.is_expected() {
            "Reply(expected)"
        } else {
            "Reply(none)"
        })
    }
}

impl<R> Reply<R> {
    /// No reply expected (the request was a `tell`).
    pub fn none() -> Self {
        Self { way: Way::None }
    }

    pub(crate) fn from_fn(
        f: impl FnOnce(std::result::Result<R, RemoteError>) + Send + 'static,
    ) -> Self {
        Self {
            way: Way::Fn(Box::new(f)),
        }
    }

    /// The reply of an asker on this node, waiting on `tx`.
    fn local(tx: oneshot::Sender<std::result::Result<R, RemoteError>>) -> Self {
        Self {
            way: Way::Local(tx),
        }
    }

    /// Whether the sender is waiting for an answer.
    pub fn is_expected(&self) -> bool {
        !matches!(self.way, Way::None)
    }

    /// Sends the answer; a no-op for a `tell`.
    pub fn send(mut self, value: R) {
        self.answer(Ok(value));
    }

    fn answer(&mut self, result: std::result::Result<R, RemoteError>) {
        match std::mem::replace(&mut self.way, Way::None) {
            Way::None => {}
            Way::Local(tx) => {
                let _ = tx.send(result);
            }
            Way::Fn(send) => send(result),
        }
    }
}

impl<R> Drop for Reply<R> {
    fn drop(&mut self) {
        if self.is_expected() {
            self.answer(Err(RemoteError::NoReply(
                "the actor dropped the request without replying".into(),
            )));
        }
    }
}

/// A message that was not delivered, handed back with why
/// ([`Ref::tell`]). Converts into its [`ClusterError`] with `?`.
pub struct Undelivered<M> {
    /// The message, as it was given (`None` only if the local actor's
    /// mailbox closed in a way that did not hand it back).
    pub msg: Option<M>,
    /// Why it was not delivered.
    pub error: ClusterError,
}

impl<M> fmt::Debug for Undelivered<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Undelivered")
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

impl<M> fmt::Display for Undelivered<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "not delivered: {}", self.error)
    }
}

impl<M> std::error::Error for Undelivered<M> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

impl<M> From<Undelivered<M>> for ClusterError {
    fn from(undelivered: Undelivered<M>) -> Self {
        undelivered.error
    }
}

/// The message of a parcel that came back.
fn unpack<M: Message>(parcel: AnyBox) -> Option<M> {
    parcel
        .downcast::<(M, Reply<M::Reply>)>()
        .ok()
        .map(|parcel| parcel.0)
}

/// A ractor actor registered under a name: it answers exactly `M`.
pub(crate) struct ActorTarget<M: Message> {
    pub(crate) actor: ActorRef<Request<M>>,
}

/// Decodes a message of type `M` that came through the gateway.
pub(crate) fn decode<M: Message>(payload: &[u8]) -> std::result::Result<M, RemoteError> {
    wire::from_slice(payload).map_err(|e| RemoteError::Decode(format!("`{}`: {e}", M::TAG)))
}

/// Decodes the reply of `name`, a remote actor, to a message of type `M`.
pub(crate) fn decode_reply<M: Message>(name: &str, bytes: &[u8]) -> Result<M::Reply> {
    wire::from_slice(bytes).map_err(|e| ClusterError::Decode {
        name: name.to_owned(),
        reason: format!("the reply to `{}`: {e}", M::TAG),
    })
}

/// The reply handle for a message that came through the gateway.
pub(crate) fn routed_reply<R: Payload>(route: Option<gateway::ReplyRoute>) -> Reply<R> {
    match route {
        None => Reply::none(),
        Some(route) => Reply::from_fn(move |result| route.answer(gateway::encode_reply(result))),
    }
}

impl<M: Message> Deliver for ActorTarget<M> {
    fn deliver(
        &self,
        tag: &str,
        payload: &[u8],
        reply: Option<gateway::ReplyRoute>,
    ) -> std::result::Result<(), RemoteError> {
        if tag != M::TAG {
            return Err(RemoteError::mismatch(self.accepts().to_vec(), tag));
        }
        let msg = decode::<M>(payload)?;
        let reply = routed_reply::<M::Reply>(reply);
        self.actor
            .send_message(Request { msg, reply })
            .map_err(|_| RemoteError::UnknownName)
    }

    fn send_local(&self, key: TypeId, parcel: AnyBox) -> std::result::Result<(), NotTaken> {
        if key != TypeId::of::<M>() {
            return Err(NotTaken::Refused(parcel));
        }
        let (msg, reply) = *parcel
            .downcast::<(M, Reply<M::Reply>)>()
            .map_err(NotTaken::Refused)?;
        self.actor
            .send_message(Request { msg, reply })
            .map_err(|e| match e {
                MessagingErr::SendErr(req) => {
                    NotTaken::Stopped(Some(Box::new((req.msg, req.reply))))
                }
                // Not returned by a typed reference; the message is gone.
                _ => NotTaken::Stopped(None),
            })
    }

    fn accepts(&self) -> Arc<[String]> {
        Arc::from([M::TAG.to_owned()])
    }

    fn cell(&self) -> Option<ractor::ActorCell> {
        Some(self.actor.get_cell())
    }
}

enum Target {
    Local(Arc<dyn Deliver>),
    Remote {
        /// One copy of the node's name: a reference cloned per message
        /// copies no string.
        node: Arc<str>,
        /// The tags the actor answers, as its node announced them.
        accepts: Arc<[String]>,
    },
    /// The name left where it was resolved: route by name through the
    /// gateway until an `ask` resolves it again.
    Moved,
}

impl Clone for Target {
    fn clone(&self) -> Self {
        match self {
            Self::Local(t) => Self::Local(Arc::clone(t)),
            Self::Remote { node, accepts } => Self::Remote {
                node: node.clone(),
                accepts: Arc::clone(accepts),
            },
            Self::Moved => Self::Moved,
        }
    }
}

/// A reference to a named actor anywhere in the cluster.
///
/// The same type and the same [`tell`](Ref::tell) / [`ask`](Ref::ask) serve
/// a local actor (a direct ractor send, nothing encoded) and a remote one
/// (MessagePack through the node gateways). Any [`Message`] the actor
/// answers can be sent; the reply's type is the message's
/// [`Message::Reply`]. A message the actor does not answer fails with
/// [`ClusterError::TypeMismatch`], naming its tag and the ones it takes.
///
/// A `Ref` follows its name: when the actor it was resolved to stops, its
/// node goes down or another node now holds the name, the message goes to
/// whoever holds the name now (a message that never reached the old holder
/// is rerouted at once; after a failed `ask` the next call resolves the name
/// again). [`pinned`](Ref::pinned) opts out. Clones share what they learn.
#[derive(Clone)]
pub struct Ref {
    name: String,
    gateway: GatewayId,
    target: Arc<RwLock<Target>>,
    /// The count of moved names ([`Plane::moves`](crate::gateway::Plane::moves))
    /// when a remote target was last known to hold the name: while names
    /// have not moved since, messages go straight to its node's link.
    checked: Arc<AtomicU64>,
    follow: bool,
}

/// A `checked` count that never matches: ask the gateway first.
const UNCHECKED: u64 = u64::MAX;

impl fmt::Debug for Ref {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Ref");
        d.field("name", &self.name);
        match &*self.current() {
            Target::Local(t) => d.field("local", &t.cell().map(|c| c.get_id())),
            Target::Remote { node, .. } => d.field("node", node),
            Target::Moved => d.field("moved", &true),
        };
        d.field("follow", &self.follow).finish()
    }
}

/// A `Ref` to what `name` resolved to, or why it cannot be one.
pub(crate) fn resolved(gateway: &GatewayId, name: &str, resolved: Option<Resolved>) -> Result<Ref> {
    let (target, checked) = match resolved {
        None => return Err(ClusterError::UnknownName(name.to_owned())),
        Some(Resolved::Local(target)) => (Target::Local(target), UNCHECKED),
        Some(Resolved::Remote {
            node,
            accepts,
            moves,
        }) => (Target::Remote { node, accepts }, moves),
    };
    Ok(Ref {
        name: name.to_owned(),
        gateway: gateway.clone(),
        target: Arc::new(RwLock::new(target)),
        checked: Arc::new(AtomicU64::new(checked)),
        follow: true,
    })
}

impl Ref {
    #[cfg(test)]
    pub(crate) fn remote(name: String, gateway: GatewayId, node: String, accepts: &[&str]) -> Self {
        let accepts: Vec<String> = accepts.iter().map(|t| (*t).to_owned()).collect();
        Self {
            name,
            gateway,
            target: Arc::new(RwLock::new(Target::Remote {
                node: node.into(),
                accepts: accepts.into(),
            })),
            checked: Arc::new(AtomicU64::new(UNCHECKED)),
            follow: true,
        }
    }

    /// This reference, pinned to the actor it resolved to: it never
    /// follows its name elsewhere, and fails once that actor or its node is
    /// gone.
    #[must_use]
    pub fn pinned(mut self) -> Self {
        self.follow = false;
        self
    }

    /// The name this reference was looked up by.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The node the actor lives on as far as this reference knows, or
    /// `None` if it is on this node (or the name has moved and the next
    /// `ask` will find where).
    pub fn node(&self) -> Option<String> {
        match &*self.current() {
            Target::Remote { node, .. } => Some(node.to_string()),
            Target::Local(_) | Target::Moved => None,
        }
    }

    /// The wire tags of the messages the actor answers, as far as this
    /// reference knows (empty once the name has moved, until the next
    /// `ask` finds where).
    pub fn accepts(&self) -> Vec<String> {
        match &*self.current() {
            Target::Local(t) => t.accepts().to_vec(),
            Target::Remote { accepts, .. } => accepts.to_vec(),
            Target::Moved => Vec::new(),
        }
    }

    fn current(&self) -> std::sync::RwLockReadGuard<'_, Target> {
        self.target.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn set(&self, target: Target) {
        self.checked.store(UNCHECKED, Ordering::Release);
        *self.target.write().unwrap_or_else(PoisonError::into_inner) = target;
    }

    /// Whether a message for `node` may go straight to its link: the
    /// reference is pinned, or no name has moved since `node` was known
    /// to hold this one.
    fn direct(&self, node: &str) -> bool {
        node != self.gateway.node()
            && (!self.follow
                || self.checked.load(Ordering::Acquire) == self.gateway.plane().moves())
    }

    fn mismatch<M: Message>(&self, accepts: Vec<String>) -> ClusterError {
        RemoteError::mismatch(accepts, M::TAG).into_cluster(&self.name)
    }

    /// Sends a message without waiting for an answer.
    ///
    /// # Errors
    /// The message comes back in [`Undelivered`] with why:
    /// [`ClusterError::TypeMismatch`] if the actor does not answer `M`,
    /// [`ClusterError::UnknownName`] if a local target has stopped (and the
    /// reference is pinned), [`ClusterError::Encode`] if the message cannot
    /// be encoded, [`ClusterError::NodeStopped`] if this node's gateway is
    /// gone. A remote delivery failure after the message left this node is
    /// logged by the receiving gateway; use [`ask`](Ref::ask) when you need
    /// to know.
    pub fn tell<M: Message>(&self, msg: M) -> std::result::Result<(), Undelivered<M>> {
        let undelivered = |msg, error| Undelivered { msg, error };
        // Read in place, not cloned: a tell to a local actor touches no
        // reference count.
        let current = self.current();
        let node = match &*current {
            Target::Local(t) => {
                let parcel: AnyBox = Box::new((msg, Reply::<M::Reply>::none()));
                let stopped = match t.send_local(TypeId::of::<M>(), parcel) {
                    Ok(()) => return Ok(()),
                    Err(NotTaken::Refused(parcel)) => {
                        return Err(undelivered(
                            unpack::<M>(parcel),
                            self.mismatch::<M>(t.accepts().to_vec()),
                        ))
                    }
                    Err(NotTaken::Stopped(parcel)) => parcel.and_then(unpack::<M>),
                };
                drop(current);
                return match stopped {
                    Some(msg) if self.follow => {
                        self.set(Target::Moved);
                        self.send_remote(None, msg)
                    }
                    msg => Err(undelivered(
                        msg,
                        ClusterError::UnknownName(self.name.clone()),
                    )),
                };
            }
            Target::Remote { accepts, .. } if !accepts.iter().any(|t| t == M::TAG) => {
                return Err(undelivered(Some(msg), self.mismatch::<M>(accepts.to_vec())));
            }
            Target::Remote { node, .. } => Some(Arc::clone(node)),
            Target::Moved => None,
        };
        drop(current);
        self.send_remote(node, msg)
    }

    /// Sends a message and waits at most `timeout` for the answer.
    ///
    /// # Errors
    /// [`ClusterError::Timeout`] when the deadline passes,
    /// [`ClusterError::NodeGone`] when the target's node is (or goes) down,
    /// [`ClusterError::UnknownName`] when nothing is registered under the
    /// name any more, [`ClusterError::TypeMismatch`] if the actor does not
    /// answer `M`, [`ClusterError::Decode`] / [`ClusterError::Encode`] for
    /// data that does not fit the types, [`ClusterError::NoReply`] when the
    /// actor dropped the request, [`ClusterError::NodeStopped`] when this
    /// node's gateway is gone.
    ///
    /// # Cancel safety
    /// Dropping the future abandons the answer; the message may still be
    /// delivered.
    pub async fn ask<M: Message>(&self, msg: M, timeout: Duration) -> Result<M::Reply> {
        let mut target = self.current().clone();
        if matches!(target, Target::Moved) {
            target = self.resolve_again().await?;
        }
        let result = match target {
            Target::Local(t) => match self.ask_local(&*t, msg, timeout).await {
                // Never delivered: the actor had stopped. Follow the name.
                Err(Some(msg)) if self.follow => {
                    self.set(Target::Moved);
                    self.ask_remote(None, msg, timeout).await
                }
                Err(_) => Err(ClusterError::UnknownName(self.name.clone())),
                Ok(result) => result,
            },
            Target::Remote { accepts, .. } if !accepts.iter().any(|t| t == M::TAG) => {
                Err(self.mismatch::<M>(accepts.to_vec()))
            }
            Target::Remote { node, .. } => self.ask_remote(Some(node), msg, timeout).await,
            Target::Moved => self.ask_remote(None, msg, timeout).await,
        };
        if self.follow
            && matches!(
                result,
                Err(ClusterError::NodeGone { .. } | ClusterError::UnknownName(_))
            )
        {
            self.set(Target::Moved);
        }
        result
    }

    /// Looks the name up again and remembers where it is.
    async fn resolve_again(&self) -> Result<Target> {
        let names = vec![self.name.clone()];
        let found = gateway::call(&self.gateway, |reply| GatewayMsg::Lookup { names, reply })
            .await?
            .pop()
            .flatten();
        let fresh = resolved(&self.gateway, &self.name, found)?;
        let target = fresh.current().clone();
        self.set(target.clone());
        self.checked
            .store(fresh.checked.load(Ordering::Acquire), Ordering::Release);
        Ok(target)
    }

    /// An ask to a local actor; `Err` with the message back (if ractor
    /// kept it) when it never got there because the actor had stopped.
    async fn ask_local<M: Message>(
        &self,
        target: &dyn Deliver,
        msg: M,
        timeout: Duration,
    ) -> std::result::Result<Result<M::Reply>, Option<M>> {
        let (tx, rx) = oneshot::channel();
        let reply = Reply::<M::Reply>::local(tx);
        match target.send_local(TypeId::of::<M>(), Box::new((msg, reply))) {
            Ok(()) => {}
            Err(NotTaken::Refused(_)) => {
                return Ok(Err(self.mismatch::<M>(target.accepts().to_vec())))
            }
            Err(NotTaken::Stopped(parcel)) => return Err(parcel.and_then(unpack::<M>)),
        }
        Ok(match tokio::time::timeout(timeout, rx).await {
            Err(_) => Err(self.timed_out(timeout)),
            Ok(Err(_)) => Err(ClusterError::NoReply {
                name: self.name.clone(),
                reason: "the actor stopped before replying".into(),
            }),
            Ok(Ok(r)) => r.map_err(|e| e.into_cluster(&self.name)),
        })
    }

    /// An ask to another node: to `node`, on its link if it may go
    /// straight there, else through the gateway (to `node` or wherever
    /// the name is).
    async fn ask_remote<M: Message>(
        &self,
        node: Option<Arc<str>>,
        msg: M,
        timeout: Duration,
    ) -> Result<M::Reply> {
        let payload = self.encode(&msg)?;
        let (tx, rx) = oneshot::channel();
        let mut ask = (payload, tx);
        if let Some(node) = node.as_deref().filter(|n| self.direct(n)) {
            let plane = self.gateway.plane();
            match plane.ask(node, &self.name, M::TAG, ask.0, (ask.1, timeout)) {
                Ok(id) => {
                    // Stops waiting if this future is dropped or times out.
                    let mut waiting = Waiting {
                        plane,
                        id: Some(id),
                    };
                    let answer = tokio::time::timeout(timeout, rx).await;
                    let bytes = match answer {
                        Err(_) => return Err(self.timed_out(timeout)),
                        Ok(Err(_)) => return Err(ClusterError::NodeStopped),
                        Ok(Ok(r)) => {
                            // Answered: the plane no longer holds it.
                            waiting.id = None;
                            r?
                        }
                    };
                    return decode_reply::<M>(&self.name, &bytes);
                }
                Err(back) => ask = back,
            }
        }
        let (payload, tx) = ask;
        self.through_gateway(node, M::TAG, payload, Some((tx, timeout)))?;
        // The gateway expires the ask itself; the extra margin only guards
        // against a gateway that died meanwhile.
        let bytes = match tokio::time::timeout(timeout + Duration::from_millis(250), rx).await {
            Err(_) | Ok(Err(_)) => return Err(ClusterError::NodeStopped),
            Ok(Ok(r)) => r?,
        };
        decode_reply::<M>(&self.name, &bytes)
    }

    fn timed_out(&self, timeout: Duration) -> ClusterError {
        ClusterError::Timeout {
            name: self.name.clone(),
            timeout,
        }
    }

    /// `msg`, encoded for the wire within the payload limit.
    fn encode<M: Message>(&self, msg: &M) -> Result<Vec<u8>> {
        let encode = |reason: String| ClusterError::Encode {
            name: self.name.clone(),
            reason,
        };
        match rmp_serde::to_vec_named(msg) {
            Ok(payload) if payload.len() > MAX_PAYLOAD_BYTES => Err(encode(format!(
                "the message of {} bytes exceeds the {MAX_PAYLOAD_BYTES}-byte limit",
                payload.len()
            ))),
            Ok(payload) => Ok(payload),
            Err(e) => Err(encode(e.to_string())),
        }
    }

    /// Encodes a tell and sends it to `node`: on its link if it may go
    /// straight there, else through the gateway (to `node`, or to
    /// whichever node holds the name, with `None`).
    fn send_remote<M: Message>(
        &self,
        node: Option<Arc<str>>,
        msg: M,
    ) -> std::result::Result<(), Undelivered<M>> {
        let mut payload = match self.encode(&msg) {
            Ok(payload) => payload,
            Err(error) => {
                return Err(Undelivered {
                    msg: Some(msg),
                    error,
                })
            }
        };
        if let Some(node) = node.as_deref().filter(|n| self.direct(n)) {
            match self.gateway.plane().tell(node, &self.name, M::TAG, payload) {
                Ok(()) => return Ok(()),
                Err(back) => payload = back,
            }
        }
        self.through_gateway(node, M::TAG, payload, None)
            .map_err(|error| Undelivered {
                msg: Some(msg),
                error,
            })
    }

    /// Hands an encoded message to this node's gateway for `node` (or for
    /// whichever node holds the name, with `None`).
    fn through_gateway(
        &self,
        node: Option<Arc<str>>,
        tag: &'static str,
        payload: Vec<u8>,
        ask: Option<(AskReply, Duration)>,
    ) -> Result<()> {
        let out = Outgoing {
            node: node.as_deref().map(str::to_owned),
            name: self.name.clone(),
            tag,
            payload,
            ask,
            follow: self.follow,
            checked: Some(Arc::clone(&self.checked)),
        };
        let plane = self.gateway.plane();
        plane.to_gateway();
        gateway::send(&self.gateway, GatewayMsg::Send(out)).inspect_err(|_| plane.routed())
    }
}

/// An ask sent straight to a link, waiting in the plane: it is
/// forgotten there when its asker stops waiting without an answer.
struct Waiting<'a> {
    plane: &'a gateway::Plane,
    id: Option<u64>,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        if let Some(id) = self.id {
            self.plane.forget(id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::collection::vec;
    use proptest::prelude::*;
    use ractor::{Actor, ActorProcessingErr};
    use serde::{Deserialize, Serialize};

    #[derive(Debug, Serialize, Deserialize)]
    struct Blob(Vec<u8>);
    impl Message for Blob {
        type Reply = ();
        const TAG: &'static str = "test.blob/1";
    }

    #[test]
    fn oversized_messages_are_refused_and_handed_back() {
        let r = Ref::remote(
            "big".into(),
            GatewayId::new("nowhere", "no-such-node"),
            "b".into(),
            &[Blob::TAG],
        );
        let err = r.tell(Blob(vec![7; MAX_PAYLOAD_BYTES + 1])).unwrap_err();
        assert!(matches!(err.error, ClusterError::Encode { .. }), "{err}");
        assert_eq!(err.msg.map(|b| b.0.len()), Some(MAX_PAYLOAD_BYTES + 1));
        // A message within the limit gets as far as the (missing) gateway.
        let err = r.tell(Blob(vec![7; 16])).unwrap_err();
        assert_eq!(err.error, ClusterError::NodeStopped);
    }

    #[test]
    fn a_message_the_actor_does_not_answer_names_both_tags() {
        let r = Ref::remote(
            "svc".into(),
            GatewayId::new("nowhere", "no-such-node"),
            "b".into(),
            &["other/1", "another/1"],
        );
        let err = r.tell(Blob(vec![1])).unwrap_err();
        assert_eq!(
            err.error.to_string(),
            "`svc` answers `other/1`, `another/1`, not `test.blob/1`"
        );
        assert!(err.msg.is_some());
    }

    #[derive(Debug, Serialize, Deserialize)]
    struct Num(u64);
    impl Message for Num {
        type Reply = u64;
        const TAG: &'static str = "test.num/1";
    }

    struct Sink;
    impl Actor for Sink {
        type Msg = Request<Num>;
        type State = ();
        type Arguments = ();
        async fn pre_start(
            &self,
            _: ActorRef<Self::Msg>,
            _: (),
        ) -> std::result::Result<(), ActorProcessingErr> {
            Ok(())
        }
    }

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Shape {
        name: String,
        sides: Vec<(u8, i64)>,
        note: Option<String>,
    }
    impl Message for Shape {
        type Reply = Shape;
        const TAG: &'static str = "test.shape/1";
    }

    fn shape() -> impl Strategy<Value = Shape> {
        (
            ".{0,8}",
            vec((any::<u8>(), any::<i64>()), 0..4),
            proptest::option::of(".{0,8}"),
        )
            .prop_map(|(name, sides, note)| Shape { name, sides, note })
    }

    proptest! {
        #[test]
        fn messages_and_replies_round_trip_through_their_decoders(msg in shape(), reply in shape()) {
            let bytes = rmp_serde::to_vec_named(&msg).unwrap();
            prop_assert_eq!(decode::<Shape>(&bytes).unwrap(), msg);
            let bytes = gateway::encode_reply(Ok(reply.clone())).unwrap().into_vec();
            prop_assert_eq!(decode_reply::<Shape>("svc", &bytes).unwrap(), reply);
        }

        #[test]
        fn undecodable_messages_and_replies_are_errors(bytes in vec(any::<u8>(), 0..256)) {
            if let Err(e) = decode::<Shape>(&bytes) {
                prop_assert!(matches!(e, RemoteError::Decode(_)));
            }
            if let Err(e) = decode_reply::<Shape>("svc", &bytes) {
                prop_assert!(matches!(e, ClusterError::Decode { .. }), "{}", e);
            }
        }
    }

    /// A recursive message, as a peer may nest it as deep as it likes.
    #[derive(Debug, Serialize, Deserialize)]
    struct Tree {
        value: f64,
        label: Option<String>,
        children: Vec<Tree>,
    }
    impl Message for Tree {
        type Reply = ();
        const TAG: &'static str = "test.tree/1";
    }

    /// A `Tree` nested `depth` deep, encoded as rmp-serde reads a struct
    /// from an array: `[value, label, [child]]`.
    fn nested(depth: usize) -> Vec<u8> {
        let mut bytes = Vec::new();
        for level in 0..depth {
            bytes.extend([0x93, 0xcb]);
            bytes.extend(1.5f64.to_be_bytes());
            bytes.push(0xc0);
            bytes.push(if level + 1 == depth { 0x90 } else { 0x91 });
        }
        bytes
    }

    /// A recursive message whose untagged form serde buffers first.
    #[derive(Debug, Serialize, Deserialize)]
    #[serde(untagged)]
    enum Json {
        Num(f64),
        List(Vec<Json>),
    }
    impl Message for Json {
        type Reply = ();
        const TAG: &'static str = "test.json/1";
    }

    /// Decodes `bytes` as `M` on a thread with the 2 MiB stack of a tokio
    /// worker, where the gateway decodes.
    fn on_worker_stack<M: Message>(bytes: Vec<u8>) -> std::result::Result<(), RemoteError> {
        std::thread::Builder::new()
            .stack_size(2 * 1024 * 1024)
            .spawn(move || decode::<M>(&bytes).map(drop))
            .unwrap()
            .join()
            .unwrap()
    }

    #[test]
    fn deep_nesting_is_refused_before_it_overflows_a_worker_stack() {
        // Before the limit, a 500-level tree overflowed 2 MiB (debug
        // build) and aborted the process.
        assert_eq!(on_worker_stack::<Tree>(nested(60)), Ok(()));
        let lists = |depth| {
            let mut bytes = vec![0x91; depth];
            bytes.push(0x90);
            bytes
        };
        assert_eq!(on_worker_stack::<Json>(lists(120)), Ok(()));
        for depth in [70, 500, 1000, 100_000] {
            let refused = on_worker_stack::<Tree>(nested(depth));
            assert!(
                matches!(&refused, Err(RemoteError::Decode(e)) if e.contains("depth")),
                "{refused:?}"
            );
            let refused = on_worker_stack::<Json>(lists(depth * 2));
            assert!(
                matches!(refused, Err(RemoteError::Decode(_))),
                "{refused:?}"
            );
        }
        let refused = std::thread::Builder::new()
            .stack_size(2 * 1024 * 1024)
            .spawn(|| decode_reply::<Tree>("svc", &nested(1000)).map(drop))
            .unwrap()
            .join()
            .unwrap();
        assert!(
            matches!(refused, Err(ClusterError::Decode { .. })),
            "{refused:?}"
        );
    }

    #[tokio::test]
    async fn undecodable_payloads_are_refused_not_delivered() {
        let (actor, _) = Actor::spawn(None, Sink, ()).await.unwrap();
        let target = ActorTarget {
            actor: actor.clone(),
        };
        let garbage = [0xc1, 0xff, 0x00];
        assert!(matches!(
            target.deliver(Num::TAG, &garbage, None),
            Err(RemoteError::Decode(_))
        ));
        let text = rmp_serde::to_vec_named("not a number").unwrap();
        assert!(matches!(
            target.deliver(Num::TAG, &text, None),
            Err(RemoteError::Decode(_))
        ));
        let ok = rmp_serde::to_vec_named(&Num(7)).unwrap();
        assert_eq!(
            target.deliver("other/1", &ok, None),
            Err(RemoteError::TypeMismatch {
                accepts: vec![Num::TAG.into()],
                requested: "other/1".into()
            })
        );
        assert!(target.deliver(Num::TAG, &ok, None).is_ok());
        actor.stop(None);
    }

    #[tokio::test]
    async fn a_stopped_target_reports_unknown_name() {
        let (actor, handle) = Actor::spawn(None, Sink, ()).await.unwrap();
        let target = ActorTarget {
            actor: actor.clone(),
        };
        actor.stop(None);
        handle.await.unwrap();
        let ok = rmp_serde::to_vec_named(&Num(7)).unwrap();
        assert_eq!(
            target.deliver(Num::TAG, &ok, None),
            Err(RemoteError::UnknownName)
        );
    }
}
