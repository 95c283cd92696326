//! The gateway's data links (see [`crate::link`]): one dialed to each peer
//! of wire version 5 that carries what this node sends it, and one taken
//! from each such peer that carries what it sends here. The tasks that
//! write and read them belong to the gateway and end with it.

use std::sync::Arc;

use ractor::ActorRef;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::task::AbortHandle;

use super::{GatewayMsg, GatewayState};
use crate::link::{self, BoxConn, Dial, LINK_WIRE};
use crate::wire::MAX_ENVELOPE_BYTES;

/// How a node sends to one peer.
pub(super) enum Link {
    /// Not decided: the peer's session is not up yet.
    None,
    /// Being dialed: what is sent to the peer waits in the outbox.
    Dialing(Writer),
    /// Up: sealed envelopes go to its writer.
    Up(Writer),
    /// Through ractor_cluster's session: the peer's build has no links,
    /// or dialing one failed.
    Shared,
}

/// The task that dials and writes a link to a peer.
pub(super) struct Writer {
    id: u64,
    /// Its queue of sealed envelopes.
    pub(super) queue: mpsc::UnboundedSender<Vec<u8>>,
    task: AbortHandle,
}

impl Link {
    /// Ends the writer now, whatever it holds (its peer is down: a frozen
    /// peer would keep it waiting on a full socket).
    pub(super) fn abort(&self) {
        if let Self::Dialing(w) | Self::Up(w) = self {
            w.task.abort();
        }
    }
}

/// A link taken from a peer.
pub(super) struct Inbound {
    id: u64,
    task: AbortHandle,
}

/// The most frames a link's writer takes from its queue for one write.
const WRITE_BATCH: usize = 256;

impl GatewayState {
    /// Decides how to send to `node`, whose session just came up: dials a
    /// link if both nodes speak its version and the peer's address is
    /// known, else uses the session.
    pub(super) fn open_link(&mut self, node: &str) {
        let addr = self.session_addr(node);
        let Some(peer) = self.peers.get_mut(node) else {
            return;
        };
        if !matches!(peer.link, Link::None) {
            return;
        }
        let addr = match addr.or_else(|| peer.addr.clone()) {
            Some(addr) if self.wire >= LINK_WIRE => addr,
            _ => {
                peer.link = Link::Shared;
                return;
            }
        };
        self.next_link += 1;
        let id = self.next_link;
        let (queue, rx) = mpsc::unbounded_channel();
        let dial = Dial {
            addr,
            me: self.node.clone(),
            peer: node.to_owned(),
            key: self.key.clone(),
            tls: self.tls.clone(),
            timeout: self.timing.handshake_timeout,
            wire: self.wire,
        };
        let task = self.links.spawn(outbound(dial, id, self.me.clone(), rx));
        if let Some(peer) = self.peers.get_mut(node) {
            peer.link = Link::Dialing(Writer { id, queue, task });
        }
    }

    /// The link dialed to `node` is up: what waited goes on it.
    pub(super) fn link_up(&mut self, node: &str, id: u64) {
        let Some(peer) = self.peers.get_mut(node) else {
            return;
        };
        let link = std::mem::replace(&mut peer.link, Link::None);
        peer.link = match link {
            Link::Dialing(writer) if writer.id == id => {
                tracing::debug!(%node, "link up");
                Link::Up(writer)
            }
            other => other,
        };
        self.flush_peer(node);
    }

    /// Dialing a link to `node` failed: the session carries what it is
    /// sent, for as long as it stays a peer.
    pub(super) fn link_failed(&mut self, node: &str, id: u64, why: &str) {
        self.reap_links();
        let Some(peer) = self.peers.get_mut(node) else {
            return;
        };
        if matches!(&peer.link, Link::Dialing(w) if w.id == id) {
            tracing::info!(%node, %why, "no link to the peer: its session carries the envelopes (whose senders are then not checked)");
            metrics::counter!("foundation_cluster_link_failures_total").increment(1);
            peer.link = Link::Shared;
            self.flush_peer(node);
        }
    }

    /// A link ended: one dialed to a peer whose session is still up is
    /// dialed again.
    pub(super) fn link_closed(&mut self, node: &str, id: u64, inbound: bool, why: &str) {
        self.reap_links();
        if inbound {
            if self.inbound.get(node).is_some_and(|l| l.id == id) {
                tracing::debug!(%node, %why, "the peer's link closed");
                self.inbound.remove(node);
            }
            return;
        }
        let Some(peer) = self.peers.get_mut(node) else {
            return;
        };
        if matches!(&peer.link, Link::Up(w) if w.id == id) {
            tracing::debug!(%node, %why, "link closed");
            peer.link = Link::None;
            if !peer.gateways.is_empty() {
                self.open_link(node);
            }
        }
    }

    /// A link from `node`, authenticated by the acceptor: what comes on it
    /// is from `node`. A newer link from the same node replaces the older.
    pub(super) fn take_link(&mut self, node: String, conn: BoxConn) {
        self.next_link += 1;
        let id = self.next_link;
        if let Some(old) = self.inbound.remove(&node) {
            old.task.abort();
        }
        let peer: Arc<str> = Arc::from(node.as_str());
        let task = self.links.spawn(inbound(conn, peer, id, self.me.clone()));
        tracing::debug!(%node, "link taken");
        self.inbound.insert(node, Inbound { id, task });
    }

    /// Closes the link taken from `node` (it is down).
    pub(super) fn drop_link(&mut self, node: &str) {
        if let Some(old) = self.inbound.remove(node) {
            old.task.abort();
        }
    }

    /// Whether envelopes from `node` come on a link (and so must not come
    /// through a session).
    pub(super) fn linked(&self, node: &str) -> bool {
        self.inbound.contains_key(node)
    }

    /// Forgets the tasks that ended.
    fn reap_links(&mut self) {
        while self.links.try_join_next().is_some() {}
    }

    /// At stop: the writers send what they hold (for a moment at most),
    /// the readers stop.
    pub(super) async fn close_links(&mut self) {
        for (_, link) in self.inbound.drain() {
            link.task.abort();
        }
        for peer in self.peers.values_mut() {
            peer.link = Link::None;
        }
        let drained = async { while self.links.join_next().await.is_some() {} };
        let _ = tokio::time::timeout(std::time::Duration::from_millis(500), drained).await;
        self.links.abort_all();
    }
}

/// A dialed link's task: dials, then writes what the gateway queues until
/// the queue closes (the peer is gone or the gateway stopped) or the
/// connection does.
async fn outbound(
    dial: Dial,
    id: u64,
    gateway: ActorRef<GatewayMsg>,
    mut queue: mpsc::UnboundedReceiver<Vec<u8>>,
) {
    let node = dial.peer.clone();
    let conn = match link::dial(&dial).await {
        Ok((conn, _)) => conn,
        Err(e) => {
            let _ = gateway.send_message(GatewayMsg::LinkFailed {
                node,
                id,
                why: e.to_string(),
            });
            return;
        }
    };
    let _ = gateway.send_message(GatewayMsg::LinkUp {
        node: node.clone(),
        id,
    });
    let (mut read, mut write) = tokio::io::split(conn);
    let (mut frames, mut buf) = (Vec::with_capacity(WRITE_BATCH), Vec::new());
    let mut probe = [0u8; 64];
    let why = loop {
        tokio::select! {
            n = queue.recv_many(&mut frames, WRITE_BATCH) => {
                if n == 0 {
                    let _ = write.shutdown().await;
                    break "closed by this node".to_owned();
                }
                buf.clear();
                for frame in frames.drain(..) {
                    link::put_frame(&mut buf, &frame);
                }
                let sent = async {
                    write.write_all(&buf).await?;
                    write.flush().await
                };
                if let Err(e) = sent.await {
                    break e.to_string();
                }
                if buf.capacity() > 4 * 1024 * 1024 {
                    buf = Vec::new();
                }
            }
            r = read.read(&mut probe) => break match r {
                Ok(0) => "closed by the peer".to_owned(),
                Ok(_) => "the peer wrote on a link it only reads".to_owned(),
                Err(e) => e.to_string(),
            },
        }
    };
    let _ = gateway.send_message(GatewayMsg::LinkClosed {
        node,
        id,
        inbound: false,
        why,
    });
}

/// A taken link's task: hands each frame to the gateway as `node`'s.
async fn inbound(conn: BoxConn, node: Arc<str>, id: u64, gateway: ActorRef<GatewayMsg>) {
    let (read, _write) = tokio::io::split(conn);
    let mut read = tokio::io::BufReader::with_capacity(64 * 1024, read);
    let why = loop {
        match link::read_frame(&mut read, MAX_ENVELOPE_BYTES).await {
            Ok(Some(bytes)) => {
                let msg = GatewayMsg::Link {
                    node: Arc::clone(&node),
                    bytes,
                };
                if gateway.send_message(msg).is_err() {
                    return;
                }
            }
            Ok(None) => break "closed by the peer".to_owned(),
            Err(e) => break e.to_string(),
        }
    };
    let _ = gateway.send_message(GatewayMsg::LinkClosed {
        node: node.to_string(),
        id,
        inbound: true,
        why,
    });
}
