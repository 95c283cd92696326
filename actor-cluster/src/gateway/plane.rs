//! The data plane: what the gateway shares with the tasks that carry
//! messages, so that a tell, an ask and its reply go between a `Ref`, a
//! link and a local actor without waiting their turn in the gateway
//! actor's mailbox.
//!
//! The gateway stays the only writer of what is here (the local names,
//! the links that are up, the count of names that moved); `Ref`s, link
//! readers and reply handles read it, and add and take the asks waiting
//! for a reply. Everything else (names of other nodes, membership,
//! sessions, links being dialed or through a session) stays in the
//! gateway, and a message that needs any of it goes through the gateway as
//! before.

use foldhash::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use serde_bytes::ByteBuf;
use tokio::sync::mpsc;

use super::{AskReply, Deliver, ReplyRoute};
use crate::error::{ClusterError, RemoteError};
use crate::wire::Body;

/// An ask of this node waiting for its reply.
pub(crate) struct Pending {
    pub(super) node: String,
    pub(super) name: String,
    pub(super) timeout: Duration,
    pub(super) reply: AskReply,
}

/// See the module documentation. One per node, kept across restarts of
/// its gateway (a new gateway starts it afresh).
#[derive(Default)]
pub(crate) struct Plane {
    /// The actors of this node, by name.
    local: RwLock<HashMap<Arc<str>, Arc<dyn Deliver>>>,
    /// The queue of the link to each peer whose link is up (its writer
    /// seals and batches what it finds there).
    links: RwLock<HashMap<String, mpsc::UnboundedSender<Body>>>,
    /// The asks of this node waiting for a reply, by id.
    pending: Mutex<HashMap<u64, Pending>>,
    next_id: AtomicU64,
    /// How many times a name left the node it was held on (or was
    /// released): a `Ref` that found its name on a peer at count `n` may
    /// send there directly while the count is still `n`.
    moves: AtomicU64,
    /// Messages handed to the gateway actor that it has not sent on yet.
    /// Nothing goes straight to a link while there are any: a message
    /// must not overtake one sent before it through the gateway.
    routing: AtomicUsize,
    /// The peers whose links carried an envelope since the gateway last
    /// looked: heard from, for the failure detector.
    heard: Mutex<HashSet<Arc<str>>>,
}

impl Plane {
    /// Forgets everything: a new gateway starts. Waiting asks fail.
    pub(super) fn reset(&self) {
        write(&self.local).clear();
        write(&self.links).clear();
        self.routing.store(0, Ordering::Release);
        let pending: Vec<Pending> = lock(&self.pending).drain().map(|(_, p)| p).collect();
        for p in pending {
            let _ = p.reply.send(Err(ClusterError::NodeStopped));
        }
        self.moved();
    }

    // The local names.

    /// The local actor registered as `name`.
    pub(super) fn local(&self, name: &str) -> Option<Arc<dyn Deliver>> {
        read(&self.local).get(name).cloned()
    }

    /// Whether `name` is registered here.
    pub(super) fn is_local(&self, name: &str) -> bool {
        read(&self.local).contains_key(name)
    }

    /// Registers `target` as `name`.
    pub(super) fn insert_local(&self, name: Arc<str>, target: Arc<dyn Deliver>) {
        write(&self.local).insert(name, target);
    }

    /// Takes `name` out of the local names.
    pub(super) fn remove_local(&self, name: &str) -> Option<Arc<dyn Deliver>> {
        write(&self.local).remove(name)
    }

    /// The local actor registered as `to`, if it answers `tag`.
    pub(super) fn target(&self, to: &str, tag: &str) -> Result<Arc<dyn Deliver>, RemoteError> {
        let target = self.local(to).ok_or(RemoteError::UnknownName)?;
        let accepts = target.accepts();
        if !accepts.iter().any(|t| t == tag) {
            return Err(RemoteError::mismatch(accepts.to_vec(), tag));
        }
        Ok(target)
    }

    /// Decodes a message for the local actor `to` and delivers it.
    pub(super) fn deliver(
        &self,
        to: &str,
        tag: &str,
        payload: &[u8],
        reply: Option<ReplyRoute>,
    ) -> Result<(), RemoteError> {
        self.target(to, tag)?.deliver(tag, payload, reply)
    }

    // The links.

    /// `node`'s link is up: bodies for it may go straight to `queue`.
    pub(super) fn link_up(&self, node: &str, queue: mpsc::UnboundedSender<Body>) {
        write(&self.links).insert(node.to_owned(), queue);
    }

    /// `node`'s link is down, or no longer the one to use.
    pub(super) fn link_down(&self, node: &str) {
        write(&self.links).remove(node);
    }

    /// Queues `body` on the link to `node`; the body back if there is no
    /// link up to it, or if messages handed to the gateway are still on
    /// their way (the gateway knows what to do then).
    pub(crate) fn send(&self, node: &str, body: Body) -> Result<(), Body> {
        if self.routing.load(Ordering::Acquire) != 0 {
            return Err(body);
        }
        match read(&self.links).get(node) {
            Some(queue) => queue.send(body).map_err(|e| e.0),
            None => Err(body),
        }
    }

    /// Sends a tell to `name` on `node` on its link; the payload back if
    /// there is no link up to it.
    pub(crate) fn tell(
        &self,
        node: &str,
        name: &str,
        tag: &'static str,
        payload: Vec<u8>,
    ) -> Result<(), Vec<u8>> {
        let body = Body::Tell {
            to: name.to_owned(),
            tag: tag.to_owned(),
            payload: ByteBuf::from(payload),
        };
        match self.send(node, body) {
            Ok(()) => Ok(()),
            Err(Body::Tell { payload, .. }) => Err(payload.into_vec()),
            Err(_) => Err(Vec::new()),
        }
    }

    /// Sends an ask to `name` on `node` on its link, its reply to go to
    /// `reply`: the ask's id (see [`forget`](Self::forget)), or the
    /// payload and `reply` back if there is no link up to it.
    pub(crate) fn ask(
        &self,
        node: &str,
        name: &str,
        tag: &'static str,
        payload: Vec<u8>,
        (reply, timeout): (AskReply, Duration),
    ) -> Result<u64, (Vec<u8>, AskReply)> {
        let id = self.next_id();
        // Waiting before it is sent: the node may go down meanwhile, and
        // its asks are failed from here.
        let pending = Pending {
            node: node.to_owned(),
            name: name.to_owned(),
            timeout,
            reply,
        };
        self.wait(id, pending);
        let body = Body::Ask {
            id,
            to: name.to_owned(),
            tag: tag.to_owned(),
            payload: ByteBuf::from(payload),
        };
        match self.send(node, body) {
            Ok(()) => Ok(id),
            Err(body) => match (self.forget(id), body) {
                (Some(p), Body::Ask { payload, .. }) => Err((payload.into_vec(), p.reply)),
                // Failed meanwhile: the reply handle has its answer.
                _ => Ok(id),
            },
        }
    }

    /// A message is handed to the gateway (see `routing`).
    pub(crate) fn to_gateway(&self) {
        self.routing.fetch_add(1, Ordering::AcqRel);
    }

    /// The gateway sent on a message handed to it, or it never got there.
    pub(crate) fn routed(&self) {
        // Never below zero: a reset may have cleared what was counted.
        let _ = self
            .routing
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
    }

    // Signs of life.

    /// An envelope came on `node`'s link.
    pub(super) fn heard(&self, node: &Arc<str>) {
        let mut heard = lock(&self.heard);
        if !heard.contains(node) {
            heard.insert(Arc::clone(node));
        }
    }

    /// The peers heard from on their links since the last call.
    pub(super) fn take_heard(&self) -> Vec<Arc<str>> {
        lock(&self.heard).drain().collect()
    }

    /// `node` is being heard from by the gateway itself.
    pub(super) fn take_heard_of(&self, node: &str) {
        lock(&self.heard).remove(node);
    }

    // The asks.

    /// A fresh ask id.
    pub(super) fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Waits for the reply to ask `id`.
    pub(super) fn wait(&self, id: u64, pending: Pending) {
        lock(&self.pending).insert(id, pending);
    }

    /// Stops waiting for the reply to ask `id`: its entry, if it was
    /// still waiting.
    pub(crate) fn forget(&self, id: u64) -> Option<Pending> {
        lock(&self.pending).remove(&id)
    }

    /// The reply to ask `id` came from `from`.
    pub(super) fn complete(
        &self,
        from: &str,
        id: u64,
        result: std::result::Result<ByteBuf, RemoteError>,
    ) {
        match self.forget(id) {
            Some(p) => {
                let _ = p.reply.send(
                    result
                        .map(ByteBuf::into_vec)
                        .map_err(|e| e.into_cluster(&p.name)),
                );
            }
            None => tracing::debug!(id, %from, "late reply ignored"),
        }
    }

    /// Fails the asks waiting for `node`, which is down.
    pub(super) fn fail_node(&self, node: &str) {
        let failed: Vec<Pending> = {
            let mut pending = lock(&self.pending);
            let ids: Vec<u64> = pending
                .iter()
                .filter(|(_, p)| p.node == node)
                .map(|(id, _)| *id)
                .collect();
            ids.into_iter()
                .filter_map(|id| pending.remove(&id))
                .collect()
        };
        for p in failed {
            let _ = p.reply.send(Err(ClusterError::NodeGone {
                node: node.to_owned(),
                name: p.name,
            }));
        }
    }

    // Names that move.

    /// A name left the node that held it, or was released.
    pub(super) fn moved(&self) {
        self.moves.fetch_add(1, Ordering::Release);
    }

    /// How many times names moved so far.
    pub(crate) fn moves(&self) -> u64 {
        self.moves.load(Ordering::Acquire)
    }
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(PoisonError::into_inner)
}

fn lock<T>(lock: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    lock.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::oneshot;

    const ASK: Duration = Duration::from_secs(5);

    fn linked(node: &str) -> (Plane, mpsc::UnboundedReceiver<Body>) {
        let plane = Plane::default();
        let (tx, rx) = mpsc::unbounded_channel();
        plane.link_up(node, tx);
        (plane, rx)
    }

    #[test]
    fn a_tell_goes_on_the_link_or_comes_back() {
        let (plane, mut queue) = linked("b");
        plane.tell("b", "counter", "t/1", vec![1, 2]).unwrap();
        match queue.try_recv().unwrap() {
            Body::Tell { to, tag, payload } => {
                assert_eq!((to.as_str(), tag.as_str()), ("counter", "t/1"));
                assert_eq!(payload.into_vec(), vec![1, 2]);
            }
            other => panic!("not a tell: {}", other.kind()),
        }
        assert_eq!(plane.tell("c", "counter", "t/1", vec![3]), Err(vec![3]));
        plane.link_down("b");
        assert_eq!(plane.tell("b", "counter", "t/1", vec![4]), Err(vec![4]));
        assert!(queue.try_recv().is_err());
    }

    #[tokio::test]
    async fn an_ask_waits_for_its_reply_once() {
        let (plane, mut queue) = linked("b");
        let (tx, rx) = oneshot::channel();
        let id = plane
            .ask("b", "counter", "t/1", vec![7], (tx, ASK))
            .ok()
            .unwrap();
        assert!(matches!(queue.try_recv(), Ok(Body::Ask { id: sent, .. }) if sent == id));
        plane.complete("b", id, Ok(ByteBuf::from(vec![9])));
        assert_eq!(rx.await.unwrap().unwrap(), vec![9]);
        // A second reply to the same ask finds nobody and is dropped.
        plane.complete("b", id, Ok(ByteBuf::from(vec![10])));
        assert!(plane.forget(id).is_none());
    }

    #[test]
    fn an_ask_without_a_link_comes_back_and_waits_for_nothing() {
        let plane = Plane::default();
        let (tx, _rx) = oneshot::channel();
        let Err((payload, _reply)) = plane.ask("b", "counter", "t/1", vec![5], (tx, ASK)) else {
            panic!("sent without a link");
        };
        assert_eq!(payload, vec![5]);
        assert!(lock(&plane.pending).is_empty());
    }

    #[tokio::test]
    async fn a_node_down_fails_its_asks_only() {
        let (plane, _b) = linked("b");
        let (tx_c, _c) = mpsc::unbounded_channel();
        plane.link_up("c", tx_c);
        let (to_b, from_b) = oneshot::channel();
        let (to_c, mut from_c) = oneshot::channel();
        plane
            .ask("b", "x", "t/1", vec![], (to_b, ASK))
            .ok()
            .unwrap();
        let on_c = plane
            .ask("c", "y", "t/1", vec![], (to_c, ASK))
            .ok()
            .unwrap();
        plane.fail_node("b");
        assert!(matches!(
            from_b.await.unwrap(),
            Err(ClusterError::NodeGone { node, name }) if node == "b" && name == "x"
        ));
        assert!(from_c.try_recv().is_err(), "c's ask still waits");
        assert!(plane.forget(on_c).is_some());
    }

    #[tokio::test]
    async fn a_reset_fails_what_waits_and_counts_as_a_move() {
        let (plane, _b) = linked("b");
        let (tx, rx) = oneshot::channel();
        plane.ask("b", "x", "t/1", vec![], (tx, ASK)).ok().unwrap();
        let before = plane.moves();
        plane.reset();
        assert!(matches!(rx.await.unwrap(), Err(ClusterError::NodeStopped)));
        assert!(plane.moves() > before);
        assert!(plane.tell("b", "x", "t/1", vec![]).is_err());
    }

    #[test]
    fn nothing_overtakes_what_the_gateway_still_holds() {
        let (plane, mut queue) = linked("b");
        plane.to_gateway();
        assert_eq!(plane.tell("b", "x", "t/1", vec![1]), Err(vec![1]));
        plane.routed();
        plane.tell("b", "x", "t/1", vec![2]).unwrap();
        assert_eq!(queue.try_recv().ok().map(|b| b.kind()), Some("tell"));
        // More `routed` than `to_gateway` (after a reset) stays at zero.
        plane.routed();
        plane.tell("b", "x", "t/1", vec![3]).unwrap();
    }
}
