//! Delivery: the local actors the gateway delivers to ([`Deliver`]), the
//! routing of a `Ref`'s tells and asks (to this node or a peer, following a
//! name that moved), the asks waiting for a reply, and the replies.

use std::any::TypeId;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ractor::{ActorCell, ActorRef};
use serde_bytes::ByteBuf;
use tokio::sync::oneshot;

use super::plane::{Pending, Plane};
use super::{send, GatewayId, GatewayMsg, GatewayState};
use crate::error::{ClusterError, RemoteError, Result};
use crate::parcel::{AnyBox, NotTaken, Payload};
use crate::wire::{Body, MAX_PAYLOAD_BYTES};

/// A local actor registered under a name, with its types erased: the
/// gateway decodes and delivers remote messages to it, and a local `Ref`
/// hands it messages as they are.
pub(crate) trait Deliver: Send + Sync {
    /// Decodes a message tagged `tag` and delivers it.
    fn deliver(
        &self,
        tag: &str,
        payload: &[u8],
        reply: Option<ReplyRoute>,
    ) -> Result<(), RemoteError>;
    /// Delivers a message of this node: `parcel` is a boxed
    /// `(M, Reply<M::Reply>)` where `M` has the type id `key`.
    fn send_local(&self, key: TypeId, parcel: AnyBox) -> Result<(), NotTaken>;
    /// The wire tags of the messages it answers.
    fn accepts(&self) -> Arc<[String]>;
    /// The actor it runs in; `None` while it is passivated (no actor runs
    /// it, and its name stays registered).
    fn cell(&self) -> Option<ActorCell>;
    /// Whether the gateway stops it when it loses its name to another
    /// node's claim, under [`ConflictPolicy::Stop`](crate::ConflictPolicy::Stop);
    /// a host that stops it itself says no ([`crate::Hosting::stop_on_conflict`]).
    fn stop_on_conflict(&self) -> bool {
        true
    }
}

/// Where the answer to an ask that came through the gateway goes.
pub(crate) enum ReplyRoute {
    /// Back through the gateway to the asker's node.
    Remote {
        gateway: GatewayId,
        node: Arc<str>,
        id: u64,
    },
    /// To an asker on this node whose `Ref` followed its name here.
    Local { name: String, reply: AskReply },
}

impl ReplyRoute {
    /// Sends an encoded answer (or why there is none) to the asker.
    pub(crate) fn answer(self, result: std::result::Result<ByteBuf, RemoteError>) {
        match self {
            Self::Remote { gateway, node, id } => {
                // On the link to the asker's node if it is up, else through
                // the gateway.
                let Err(Body::Reply { result, .. }) =
                    gateway.plane().send(&node, Body::Reply { id, result })
                else {
                    return;
                };
                let node = node.to_string();
                gateway.plane().to_gateway();
                if send(&gateway, GatewayMsg::Reply { node, id, result }).is_err() {
                    gateway.plane().routed();
                    tracing::debug!("reply dropped: the local gateway is gone");
                }
            }
            Self::Local { name, reply } => {
                let _ = reply.send(
                    result
                        .map(ByteBuf::into_vec)
                        .map_err(|e| e.into_cluster(&name)),
                );
            }
        }
    }
}

/// Encodes a reply for the wire, within the payload limit.
pub(crate) fn encode_reply<R: Payload>(
    result: std::result::Result<R, RemoteError>,
) -> std::result::Result<ByteBuf, RemoteError> {
    result.and_then(|value| {
        let bytes = rmp_serde::to_vec_named(&value)
            .map_err(|e| RemoteError::Encode(format!("the reply: {e}")))?;
        if bytes.len() > MAX_PAYLOAD_BYTES {
            return Err(RemoteError::TooLarge(bytes.len()));
        }
        Ok(ByteBuf::from(bytes))
    })
}

/// What a name resolves to.
pub(crate) enum Resolved {
    Local(Arc<dyn Deliver>),
    Remote {
        node: Arc<str>,
        accepts: Arc<[String]>,
        /// How many times names had moved when it was resolved (see
        /// [`Plane::moves`]).
        moves: u64,
    },
}

pub(crate) type AskReply = oneshot::Sender<Result<Vec<u8>>>;

/// A tell or ask from a `Ref`: to `name` on `node`, or wherever the name is
/// now when `node` is `None`, or when `follow` is set and the name has left
/// `node`.
pub(crate) struct Outgoing {
    pub(crate) node: Option<String>,
    pub(crate) name: String,
    pub(crate) tag: &'static str,
    pub(crate) payload: Vec<u8>,
    pub(crate) ask: Option<(AskReply, Duration)>,
    pub(crate) follow: bool,
    /// Where the sender notes [`Plane::moves`] when `node` still holds
    /// the name: until names move again, it may send there directly.
    pub(crate) checked: Option<Arc<AtomicU64>>,
}

impl GatewayState {
    /// A peer's tell for an actor of this node.
    pub(super) fn tell_received(&self, from: &str, to: &str, tag: &str, payload: &[u8]) {
        tell_received(self.plane(), from, to, tag, payload);
    }

    /// A peer's ask for an actor of this node: the answer goes back to it.
    pub(super) fn ask_received(&self, from: &str, id: u64, to: &str, tag: &str, payload: &[u8]) {
        ask_received(&self.id, from, id, to, tag, payload);
    }

    /// Sends a local actor's reply back to the asker's node (see
    /// [`GatewayMsg::Reply`]).
    pub(super) fn send_reply(
        &self,
        node: &str,
        id: u64,
        result: std::result::Result<ByteBuf, RemoteError>,
    ) {
        if !self.send_to(node, Body::Reply { id, result }) {
            tracing::debug!(%node, id, "reply dropped: asker's node is gone");
        }
    }

    /// Ask `id` was not answered in time.
    pub(super) fn expire(&mut self, id: u64) {
        if let Some(p) = self.plane().forget(id) {
            let _ = p.reply.send(Err(ClusterError::Timeout {
                name: p.name,
                timeout: p.timeout,
            }));
        }
    }

    /// Sends a `Ref`'s message (see [`GatewayMsg::Send`]).
    pub(super) fn route(&mut self, myself: &ActorRef<GatewayMsg>, out: Outgoing) {
        let Outgoing {
            node,
            name,
            tag,
            payload,
            ask,
            follow,
            checked,
        } = out;
        let holder = self.winner(&name).map(|(n, _)| n.to_string());
        let node = match node {
            Some(node) if !follow || holder.as_deref() == Some(node.as_str()) => {
                if let Some(checked) = checked.filter(|_| node != self.node) {
                    checked.store(self.plane().moves(), Ordering::Release);
                }
                node
            }
            // The name moved, or its node is gone: follow it.
            Some(node) if holder.is_none() => {
                let gone = !self.peers.get(&node).is_some_and(|p| p.up);
                let err = if gone {
                    ClusterError::NodeGone { node, name }
                } else {
                    ClusterError::UnknownName(name)
                };
                fail(ask, err);
                return;
            }
            _ => match holder {
                Some(holder) => holder,
                None => {
                    fail(ask, ClusterError::UnknownName(name));
                    return;
                }
            },
        };
        if node == self.node {
            // The name followed here: deliver as the gateway would for a
            // peer, answering the asker on this node directly.
            match self.plane().target(&name, tag) {
                Ok(target) => {
                    let reply = ask.map(|(reply, _)| ReplyRoute::Local {
                        name: name.clone(),
                        reply,
                    });
                    if let Err(e) = target.deliver(tag, &payload, reply) {
                        tracing::warn!(%name, "not delivered: {e:?}");
                    }
                }
                Err(e) => fail(ask, e.into_cluster(&name)),
            }
            return;
        }
        let up = self.peers.get(&node).is_some_and(|p| p.up);
        match ask {
            None => {
                let sent = up
                    && self.send_to(
                        &node,
                        Body::Tell {
                            to: name.clone(),
                            tag: tag.to_owned(),
                            payload: ByteBuf::from(payload),
                        },
                    );
                if !sent {
                    tracing::warn!(%node, %name, "tell dropped: node is gone");
                }
            }
            Some((reply, timeout)) => {
                if !up {
                    let _ = reply.send(Err(ClusterError::NodeGone { node, name }));
                    return;
                }
                let id = self.plane().next_id();
                let body = Body::Ask {
                    id,
                    to: name.clone(),
                    tag: tag.to_owned(),
                    payload: ByteBuf::from(payload),
                };
                // Waiting before it is sent: the reply may be completed by
                // the link's reader before this returns.
                let pending = Pending {
                    node: node.clone(),
                    name,
                    timeout,
                    reply,
                };
                self.plane().wait(id, pending);
                if self.send_to(&node, body) {
                    myself.send_after(timeout, move || GatewayMsg::Expire(id));
                } else if let Some(p) = self.plane().forget(id) {
                    let _ = p
                        .reply
                        .send(Err(ClusterError::NodeGone { node, name: p.name }));
                }
            }
        }
    }

    /// Publishes an encoded message on `topic`: delivered here to each
    /// local subscriber, and sent once, in one envelope sealed once, to
    /// each other node with subscribers, whose gateway delivers it to its
    /// own. Answers how many subscribers there are.
    pub(super) fn publish(&self, topic: &str, tag: &'static str, payload: Vec<u8>) -> usize {
        let by_node = self.members_by_node(&topic_group(topic));
        let count = by_node.values().map(Vec::len).sum();
        if let Some(local) = by_node.get(&self.node) {
            for name in local {
                if let Err(e) = self.deliver(name, tag, &payload, None) {
                    tracing::warn!(%topic, subscriber = %name, "published message not delivered: {e:?}");
                }
            }
        }
        let remote: Vec<&String> = by_node.keys().filter(|n| **n != self.node).collect();
        if remote.is_empty() {
            return count;
        }
        let body = Body::Publish {
            topic: topic.to_owned(),
            tag: tag.to_owned(),
            payload: ByteBuf::from(payload),
        };
        let mut out = self.sealing(body);
        for node in remote {
            let sent = self
                .peers
                .get(node)
                .filter(|p| p.up)
                .is_some_and(|peer| self.send_out(node, peer, &mut out));
            if !sent {
                tracing::warn!(%topic, %node, "published message dropped: node is gone");
            }
        }
        count
    }

    /// A message a peer published on `topic`: to this node's subscribers.
    pub(super) fn publish_received(&self, from: &str, topic: &str, tag: &str, payload: &[u8]) {
        let by_node = self.members_by_node(&topic_group(topic));
        for name in by_node.get(&self.node).into_iter().flatten() {
            if let Err(e) = self.deliver(name, tag, payload, None) {
                tracing::warn!(%topic, %from, subscriber = %name, "published message not delivered: {e:?}");
            }
        }
    }

    fn deliver(
        &self,
        to: &str,
        tag: &str,
        payload: &[u8],
        reply: Option<ReplyRoute>,
    ) -> std::result::Result<(), RemoteError> {
        self.plane().deliver(to, tag, payload, reply)
    }
}

/// A peer's tell for an actor of this node.
pub(super) fn tell_received(plane: &Plane, from: &str, to: &str, tag: &str, payload: &[u8]) {
    if let Err(e) = plane.deliver(to, tag, payload, None) {
        tracing::warn!(to = %to, from = %from, "tell not delivered: {e:?}");
    }
}

/// A peer's ask for an actor of this node (of gateway `id`): the answer
/// goes back to it.
pub(super) fn ask_received(
    id: &GatewayId,
    from: &str,
    ask: u64,
    to: &str,
    tag: &str,
    payload: &[u8],
) {
    let route = || ReplyRoute::Remote {
        gateway: id.clone(),
        node: Arc::from(from),
        id: ask,
    };
    if let Err(e) = id.plane().deliver(to, tag, payload, Some(route())) {
        // The failure goes back the way a reply would.
        route().answer(Err(e));
    }
}

/// Answers a failed ask (a tell has nobody to tell).
fn fail(ask: Option<(AskReply, Duration)>, err: ClusterError) {
    match ask {
        Some((reply, _)) => {
            let _ = reply.send(Err(err));
        }
        None => tracing::warn!("tell dropped: {err}"),
    }
}

/// The group whose members are the subscribers of `topic`.
pub(crate) fn topic_group(topic: &str) -> String {
    format!("topic/{topic}")
}
