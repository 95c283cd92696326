//! Location-transparent references: [`Ref`], and what the target actor
//! receives, [`Request`] and [`Reply`].

use std::any::{type_name, TypeId};
use std::fmt;
use std::marker::PhantomData;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use ractor::{ActorRef, Message, MessagingErr};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::sync::oneshot;

use crate::error::{ClusterError, RemoteError, Result};
use crate::gateway::{self, AskReply, GatewayId, GatewayMsg, Outgoing, Resolved};
use crate::wire::MAX_PAYLOAD_BYTES;

/// What a cluster-addressable message type must be: plain serde data.
pub trait Payload: Serialize + DeserializeOwned + Send + 'static {}
impl<T: Serialize + DeserializeOwned + Send + 'static> Payload for T {}

/// The tag under which a `(message, reply)` pair is registered and checked
/// on both ends: the type names without their module paths, so that two
/// programs that define the same wire types in different modules (or
/// crates) can talk. A mismatch the tag misses still fails to decode, with
/// a clear error.
pub(crate) fn type_tag<M: 'static, R: 'static>() -> String {
    format!(
        "{} -> {}",
        short_type_name(type_name::<M>()),
        short_type_name(type_name::<R>())
    )
}

/// `alloc::vec::Vec<my_crate::Foo>` → `Vec<Foo>`.
fn short_type_name(full: &str) -> String {
    let mut out = String::with_capacity(full.len());
    let mut token = String::new();
    let mut chars = full.chars().peekable();
    while let Some(c) = chars.next() {
        if c == ':' && chars.peek() == Some(&':') {
            chars.next();
            token.clear();
        } else if c.is_alphanumeric() || c == '_' {
            token.push(c);
        } else {
            out.push_str(&token);
            token.clear();
            out.push(c);
        }
    }
    out.push_str(&token);
    out
}

pub(crate) fn type_key<M: 'static, R: 'static>() -> TypeId {
    TypeId::of::<(M, R)>()
}

/// A message as an addressable actor receives it: the user's message and,
/// for an `ask`, the way back.
///
/// An actor reachable by name has `type Msg = Request<M, R>`, where `M` is
/// its message and `R` its reply type. The message came from this node or
/// another; the actor cannot tell and need not care.
pub struct Request<M, R = ()> {
    /// The message.
    pub msg: M,
    /// Where the answer goes; [`Reply::none`] for a `tell`.
    pub reply: Reply<R>,
}

impl<M: fmt::Debug, R> fmt::Debug for Request<M, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("msg", &self.msg)
            .field("reply", &self.reply)
            .finish()
    }
}

impl<M: Send + 'static, R: Send + 'static> Message for Request<M, R> {}

impl<M, R> Request<M, R> {
    /// Splits into message and reply handle.
    pub fn into_parts(self) -> (M, Reply<R>) {
        (self.msg, self.reply)
    }
}

type ReplyFn<R> = Box<dyn FnOnce(std::result::Result<R, RemoteError>) + Send>;

/// The way back to an asker. Sending consumes it; dropping it unsent tells
/// the asker that no reply will come (it gets [`ClusterError::NoReply`]
/// at once instead of waiting for its timeout).
pub struct Reply<R> {
    send: Option<ReplyFn<R>>,
}

impl<R> fmt::Debug for Reply<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.send.is_some() {
            "Reply(expected)"
        } else {
            "Reply(none)"
        })
    }
}

impl<R> Reply<R> {
    /// No reply expected (the request was a `tell`).
    pub fn none() -> Self {
        Self { send: None }
    }

    pub(crate) fn from_fn(
        f: impl FnOnce(std::result::Result<R, RemoteError>) + Send + 'static,
    ) -> Self {
        Self {
            send: Some(Box::new(f)),
        }
    }

    /// Whether the sender is waiting for an answer.
    pub fn is_expected(&self) -> bool {
        self.send.is_some()
    }

    /// Sends the answer; a no-op for a `tell`.
    pub fn send(mut self, value: R) {
        if let Some(send) = self.send.take() {
            send(Ok(value));
        }
    }
}

impl<R> Drop for Reply<R> {
    fn drop(&mut self) {
        if let Some(send) = self.send.take() {
            send(Err(RemoteError::NoReply(
                "the actor dropped the request without replying".into(),
            )));
        }
    }
}

enum Target<M, R> {
    Local(ActorRef<Request<M, R>>),
    Remote {
        node: String,
    },
    /// The name left where it was resolved: route by name through the
    /// gateway until an `ask` resolves it again.
    Moved,
}

impl<M, R> Clone for Target<M, R> {
    fn clone(&self) -> Self {
        match self {
            Self::Local(a) => Self::Local(a.clone()),
            Self::Remote { node } => Self::Remote { node: node.clone() },
            Self::Moved => Self::Moved,
        }
    }
}

/// A reference to a named actor anywhere in the cluster.
///
/// The same type and the same [`tell`](Ref::tell) / [`ask`](Ref::ask) serve
/// a local actor (a direct ractor send, nothing encoded) and a remote one
/// (MessagePack through the node gateways).
///
/// A `Ref` follows its name: when the actor it was resolved to stops, its
/// node goes down or another node now holds the name, the message goes to
/// whoever holds the name now (a message that never reached the old holder
/// is rerouted at once; after a failed `ask` the next call resolves the name
/// again). [`pinned`](Ref::pinned) opts out. Clones share what they learn.
pub struct Ref<M, R = ()> {
    name: String,
    gateway: GatewayId,
    target: Arc<RwLock<Target<M, R>>>,
    follow: bool,
    _types: PhantomData<fn(M) -> R>,
}

impl<M, R> Clone for Ref<M, R> {
    fn clone(&self) -> Self {
        Self {
            name: self.name.clone(),
            gateway: self.gateway.clone(),
            target: Arc::clone(&self.target),
            follow: self.follow,
            _types: PhantomData,
        }
    }
}

impl<M, R> fmt::Debug for Ref<M, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Ref");
        d.field("name", &self.name);
        match &*self.target.read().unwrap_or_else(PoisonError::into_inner) {
            Target::Local(a) => d.field("local", &a.get_id()),
            Target::Remote { node } => d.field("node", node),
            Target::Moved => d.field("moved", &true),
        };
        d.field("follow", &self.follow).finish()
    }
}

/// A `Ref` to what `name` resolved to, or why it cannot be one.
pub(crate) fn resolved<M: Payload, R: Payload>(
    gateway: &GatewayId,
    name: &str,
    resolved: Option<Resolved>,
) -> Result<Ref<M, R>> {
    let mismatch = |actual| ClusterError::TypeMismatch {
        name: name.to_owned(),
        actual,
        requested: type_tag::<M, R>(),
    };
    let target = match resolved {
        None => return Err(ClusterError::UnknownName(name.to_owned())),
        Some(Resolved::Local(target)) => match gateway::typed_local::<M, R>(&target) {
            Some(actor) => Target::Local(actor),
            None => return Err(mismatch(target.type_tag())),
        },
        Some(Resolved::Remote {
            node,
            type_tag: tag,
        }) if tag == type_tag::<M, R>() => Target::Remote { node },
        Some(Resolved::Remote { type_tag, .. }) => return Err(mismatch(type_tag)),
    };
    Ok(Ref {
        name: name.to_owned(),
        gateway: gateway.clone(),
        target: Arc::new(RwLock::new(target)),
        follow: true,
        _types: PhantomData,
    })
}

impl<M: Payload, R: Payload> Ref<M, R> {
    #[cfg(test)]
    pub(crate) fn remote(name: String, gateway: GatewayId, node: String) -> Self {
        Self {
            name,
            gateway,
            target: Arc::new(RwLock::new(Target::Remote { node })),
            follow: true,
            _types: PhantomData,
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
            Target::Remote { node } => Some(node.clone()),
            Target::Local(_) | Target::Moved => None,
        }
    }

    fn current(&self) -> std::sync::RwLockReadGuard<'_, Target<M, R>> {
        self.target.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn set(&self, target: Target<M, R>) {
        *self.target.write().unwrap_or_else(PoisonError::into_inner) = target;
    }

    /// Sends a message without waiting for an answer.
    ///
    /// # Errors
    /// [`ClusterError::UnknownName`] if a local target has stopped (and the
    /// reference is pinned), [`ClusterError::Encode`] if the message cannot
    /// be encoded, [`ClusterError::NodeStopped`] if this node's gateway is
    /// gone. A remote delivery failure after the message left this node is
    /// logged by the receiving gateway; use [`ask`](Ref::ask) when you need
    /// to know.
    pub fn tell(&self, msg: M) -> Result<()> {
        let target = self.current().clone();
        match target {
            Target::Local(actor) => match actor.send_message(Request {
                msg,
                reply: Reply::none(),
            }) {
                Ok(()) => Ok(()),
                Err(MessagingErr::SendErr(req)) if self.follow => {
                    self.set(Target::Moved);
                    self.send_remote(None, &req.msg, None)
                }
                Err(_) => Err(ClusterError::UnknownName(self.name.clone())),
            },
            Target::Remote { node } => self.send_remote(Some(node), &msg, None),
            Target::Moved => self.send_remote(None, &msg, None),
        }
    }

    /// Sends a message and waits at most `timeout` for the answer.
    ///
    /// # Errors
    /// [`ClusterError::Timeout`] when the deadline passes,
    /// [`ClusterError::NodeGone`] when the target's node is (or goes) down,
    /// [`ClusterError::UnknownName`] when nothing is registered under the
    /// name any more, [`ClusterError::Decode`] / [`ClusterError::Encode`] for
    /// data that does not fit the types, [`ClusterError::NoReply`] when the
    /// actor dropped the request.
    ///
    /// # Cancel safety
    /// Dropping the future abandons the answer; the message may still be
    /// delivered.
    pub async fn ask(&self, msg: M, timeout: Duration) -> Result<R> {
        let mut target = self.current().clone();
        if matches!(target, Target::Moved) {
            target = self.resolve_again().await?;
        }
        let result = match target {
            Target::Local(actor) => match self.ask_local(&actor, msg, timeout).await {
                // Never delivered: the actor had stopped. Follow the name.
                Err(Returned(msg)) if self.follow => {
                    self.set(Target::Moved);
                    self.ask_remote(None, &msg, timeout).await
                }
                Err(Returned(_)) => Err(ClusterError::UnknownName(self.name.clone())),
                Ok(result) => result,
            },
            Target::Remote { node } => self.ask_remote(Some(node), &msg, timeout).await,
            Target::Moved => self.ask_remote(None, &msg, timeout).await,
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
    async fn resolve_again(&self) -> Result<Target<M, R>> {
        let names = vec![self.name.clone()];
        let found = gateway::call(&self.gateway, |reply| GatewayMsg::Lookup { names, reply })
            .await?
            .pop()
            .flatten();
        let fresh = resolved::<M, R>(&self.gateway, &self.name, found)?;
        let target = fresh.current().clone();
        self.set(target.clone());
        Ok(target)
    }

    /// An ask to a local actor; the message back if it never got there.
    async fn ask_local(
        &self,
        actor: &ActorRef<Request<M, R>>,
        msg: M,
        timeout: Duration,
    ) -> std::result::Result<Result<R>, Returned<M>> {
        let (tx, rx) = oneshot::channel();
        let reply = Reply::from_fn(move |r| {
            let _ = tx.send(r);
        });
        if let Err(e) = actor.send_message(Request { msg, reply }) {
            return match e {
                MessagingErr::SendErr(req) => Err(Returned(req.into_parts().0)),
                _ => Ok(Err(ClusterError::UnknownName(self.name.clone()))),
            };
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

    /// An ask through the gateway, to `node` or to wherever the name is.
    async fn ask_remote(&self, node: Option<String>, msg: &M, timeout: Duration) -> Result<R> {
        let (tx, rx) = oneshot::channel();
        self.send_remote(node, msg, Some((tx, timeout)))?;
        // The gateway expires the ask itself; the extra margin only guards
        // against a gateway that died meanwhile.
        let bytes = match tokio::time::timeout(timeout + Duration::from_millis(250), rx).await {
            Err(_) | Ok(Err(_)) => return Err(self.timed_out(timeout)),
            Ok(Ok(r)) => r?,
        };
        rmp_serde::from_slice(&bytes).map_err(|e| ClusterError::Decode {
            name: self.name.clone(),
            reason: e.to_string(),
        })
    }

    fn timed_out(&self, timeout: Duration) -> ClusterError {
        ClusterError::Timeout {
            name: self.name.clone(),
            timeout,
        }
    }

    /// Encodes `msg` and hands it to this node's gateway for `node` (or
    /// for whichever node holds the name, with `None`).
    fn send_remote(
        &self,
        node: Option<String>,
        msg: &M,
        ask: Option<(AskReply, Duration)>,
    ) -> Result<()> {
        let payload = rmp_serde::to_vec_named(msg).map_err(|e| ClusterError::Encode {
            name: self.name.clone(),
            reason: e.to_string(),
        })?;
        if payload.len() > MAX_PAYLOAD_BYTES {
            return Err(ClusterError::Encode {
                name: self.name.clone(),
                reason: format!(
                    "the message of {} bytes exceeds the {MAX_PAYLOAD_BYTES}-byte limit",
                    payload.len()
                ),
            });
        }
        gateway::send(
            &self.gateway,
            GatewayMsg::Send(Outgoing {
                node,
                name: self.name.clone(),
                type_tag: type_tag::<M, R>(),
                payload,
                ask,
                follow: self.follow,
            }),
        )
    }
}

/// A message that never reached its actor, handed back.
struct Returned<M>(M);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_tags_drop_module_paths() {
        assert_eq!(short_type_name("alloc::vec::Vec<my::Foo>"), "Vec<Foo>");
        assert_eq!(
            short_type_name("(u64, core::option::Option<a::b::C>)"),
            "(u64, Option<C>)"
        );
        assert_eq!(type_tag::<String, u64>(), "String -> u64");
    }

    #[test]
    fn oversized_messages_are_refused_before_they_leave() {
        let r: Ref<Vec<u8>, ()> = Ref::remote(
            "big".into(),
            GatewayId::new("nowhere", "no-such-node"),
            "b".into(),
        );
        let err = r.tell(vec![7; MAX_PAYLOAD_BYTES + 1]).unwrap_err();
        assert!(matches!(err, ClusterError::Encode { .. }), "{err}");
        // A message within the limit gets as far as the (missing) gateway.
        assert_eq!(r.tell(vec![7; 16]).unwrap_err(), ClusterError::NodeStopped);
    }
}
