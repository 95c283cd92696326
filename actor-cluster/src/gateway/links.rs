//! The gateway's data links (see [`crate::link`]): one dialed to each peer
//! of wire version 5 that carries what this node sends it, and one taken
//! from each such peer that carries what it sends here. The tasks that
//! write and read them belong to the gateway and end with it.

use std::sync::Arc;

use ractor::ActorRef;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::task::AbortHandle;

use super::delivery::{ask_received, tell_received};
use super::{
    batches, count_bodies, misrouted, one_body, open, GatewayId, GatewayMsg, GatewayState,
};
use crate::link::{self, BoxConn, Dial, LINK_WIRE};
use crate::wire::{Body, Envelope, WireKey, MAX_ENVELOPE_BYTES};

/// How a node sends to one peer.
pub(super) enum Link {
    /// Not decided: the peer's session is not up yet.
    None,
    /// Being dialed: what is sent to the peer waits in the outbox.
    Dialing(Writer),
    /// Up: bodies go to its writer (directly from `Ref`s and reply
    /// handles too, through the plane).
    Up(Writer),
    /// Through ractor_cluster's session: the peer's build has no links,
    /// or dialing one failed.
    Shared,
}

/// The task that dials and writes a link to a peer.
pub(super) struct Writer {
    id: u64,
    /// Its queue of bodies, which it seals in batches.
    pub(super) queue: mpsc::UnboundedSender<Body>,
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

/// The most bodies a link's writer takes from its queue for one write.
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
            addr => {
                if addr.is_none() {
                    tracing::info!(%node, "no link to the peer: its address is not known; its session carries the envelopes");
                }
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
        // What waited goes first, then senders may use the link directly.
        self.flush_peer(node);
        if let Some(Link::Up(writer)) = self.peers.get(node).map(|p| &p.link) {
            self.plane().link_up(node, writer.queue.clone());
        }
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
            self.id.plane().link_down(node);
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
        let reader = Reader {
            node: Arc::from(node.as_str()),
            id,
            gateway: self.me.clone(),
            home: self.id.clone(),
            key: self.key.clone(),
            wire: self.wire,
        };
        let task = self.links.spawn(reader.run(conn));
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
        for (node, peer) in &mut self.peers {
            self.id.plane.link_down(node);
            peer.link = Link::None;
        }
        let drained = async { while self.links.join_next().await.is_some() {} };
        let _ = tokio::time::timeout(std::time::Duration::from_millis(500), drained).await;
        self.links.abort_all();
    }
}

/// A dialed link's task: dials, then seals and writes what is queued for
/// the peer until the queue closes (the peer is gone or the gateway
/// stopped) or the connection does. What queued while it wrote goes in one
/// write: one envelope of up to [`BATCH_BYTES`] of bodies each.
async fn outbound(
    dial: Dial,
    id: u64,
    gateway: ActorRef<GatewayMsg>,
    mut queue: mpsc::UnboundedReceiver<Body>,
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
    let (mut bodies, mut buf) = (Vec::with_capacity(WRITE_BATCH), Vec::new());
    let mut probe = [0u8; 64];
    let why = loop {
        tokio::select! {
            n = queue.recv_many(&mut bodies, WRITE_BATCH) => {
                if n == 0 {
                    let _ = write.shutdown().await;
                    break "closed by this node".to_owned();
                }
                count_bodies("out", &bodies);
                buf.clear();
                seal_into(&mut buf, &dial, &mut bodies);
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

/// Seals `bodies` (taking them) into frames at the end of `buf`: one
/// envelope per [`BATCH_BYTES`] of bodies, a batch if it holds more than
/// one.
fn seal_into(buf: &mut Vec<u8>, dial: &Dial, bodies: &mut Vec<Body>) {
    for batch in batches(std::mem::take(bodies)) {
        match Envelope::seal_body(dial.wire, &dial.me, &one_body(batch), &dial.key) {
            Ok(bytes) => {
                metrics::histogram!("foundation_gateway_envelope_bytes", "direction" => "out")
                    .record(bytes.len() as f64);
                link::put_frame(buf, &bytes);
            }
            Err(e) => tracing::error!(node = %dial.peer, "could not encode envelope: {e}"),
        }
    }
}

/// A taken link's reader: it opens each envelope and delivers the tells,
/// asks and replies in it itself (to the plane's local actors and waiting
/// asks); the other bodies go to the gateway, in order.
struct Reader {
    /// The node the link authenticated as.
    node: Arc<str>,
    id: u64,
    gateway: ActorRef<GatewayMsg>,
    /// This node's gateway (and so its plane).
    home: GatewayId,
    key: WireKey,
    wire: u8,
}

impl Reader {
    async fn run(self, conn: BoxConn) {
        let (read, _write) = tokio::io::split(conn);
        let mut read = tokio::io::BufReader::with_capacity(64 * 1024, read);
        let why = loop {
            match link::read_frame(&mut read, MAX_ENVELOPE_BYTES).await {
                Ok(Some(bytes)) => {
                    if !self.received(&bytes).await {
                        return;
                    }
                }
                Ok(None) => break "closed by the peer".to_owned(),
                Err(e) => break e.to_string(),
            }
        };
        let _ = self.gateway.send_message(GatewayMsg::LinkClosed {
            node: self.node.to_string(),
            id: self.id,
            inbound: true,
            why,
        });
    }

    /// Handles one envelope; false once the gateway is gone.
    async fn received(&self, bytes: &[u8]) -> bool {
        let Some((from, bodies)) = open(&self.key, self.wire, bytes) else {
            return true;
        };
        if let Some(reason) = misrouted(Some(&self.node), &from, true) {
            metrics::counter!("foundation_gateway_rejected_total", "reason" => reason).increment(1);
            tracing::warn!(link = %self.node, %from, "rejected an envelope on a peer's link that names another node as its sender");
            return true;
        }
        let plane = self.home.plane();
        plane.heard(&self.node);
        let mut rest = Vec::new();
        for body in bodies {
            if !matches!(
                body,
                Body::Tell { .. } | Body::Ask { .. } | Body::Reply { .. }
            ) {
                rest.push(body);
                continue;
            }
            // What the gateway is given goes before what follows it: a
            // reply must not overtake the claim of the name its asker is
            // about to look up.
            if !rest.is_empty() && !self.to_gateway(std::mem::take(&mut rest)).await {
                return false;
            }
            match body {
                Body::Tell { to, tag, payload } => {
                    tell_received(plane, &self.node, &to, &tag, &payload);
                }
                Body::Ask {
                    id,
                    to,
                    tag,
                    payload,
                } => ask_received(&self.home, &self.node, id, &to, &tag, &payload),
                Body::Reply { id, result } => plane.complete(&self.node, id, result),
                _ => {}
            }
        }
        rest.is_empty() || self.to_gateway(rest).await
    }

    /// Hands `bodies` to the gateway; false if it is gone. Anything but
    /// pings and pongs is waited for: what came after it on the link must
    /// not get ahead of it (a tell ahead of a publish to the same
    /// subscriber, a reply ahead of the name change that makes its asker's
    /// next message follow the name elsewhere).
    async fn to_gateway(&self, bodies: Vec<Body>) -> bool {
        let wait = bodies.iter().any(|b| !matches!(b, Body::Ping | Body::Pong));
        let (done, handled) = if wait {
            let (tx, rx) = tokio::sync::oneshot::channel();
            (Some(tx), Some(rx))
        } else {
            (None, None)
        };
        let msg = GatewayMsg::Bodies {
            node: Arc::clone(&self.node),
            bodies,
            done,
        };
        if self.gateway.send_message(msg).is_err() {
            return false;
        }
        match handled {
            Some(handled) => handled.await.is_ok(),
            None => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_bytes::ByteBuf;

    fn dial() -> Dial {
        Dial {
            addr: "127.0.0.1:1".into(),
            me: "a".into(),
            peer: "b".into(),
            key: WireKey::new("test", "cookie"),
            tls: None,
            timeout: std::time::Duration::from_secs(1),
            wire: LINK_WIRE,
        }
    }

    fn tell(n: usize, bytes: usize) -> Body {
        Body::Tell {
            to: format!("actor-{n}"),
            tag: "t/1".into(),
            payload: ByteBuf::from(vec![n as u8; bytes]),
        }
    }

    /// The envelopes framed in `buf`, opened: each one's bodies.
    async fn frames(buf: &[u8]) -> Vec<Vec<Body>> {
        let mut read = buf;
        let mut out = Vec::new();
        while let Some(frame) = link::read_frame(&mut read, MAX_ENVELOPE_BYTES)
            .await
            .unwrap()
        {
            let (from, bodies) = open(&dial().key, LINK_WIRE, &frame).expect("opens");
            assert_eq!(from, "a");
            out.push(bodies);
        }
        out
    }

    #[tokio::test]
    async fn one_body_goes_alone_and_several_in_one_batch() {
        let mut buf = Vec::new();
        seal_into(&mut buf, &dial(), &mut vec![tell(1, 10)]);
        let mut bodies = (2..=4).map(|n| tell(n, 10)).collect();
        seal_into(&mut buf, &dial(), &mut bodies);
        assert!(bodies.is_empty(), "the bodies were taken");
        let opened = frames(&buf).await;
        assert_eq!(opened.len(), 2);
        assert_eq!(opened[0], vec![tell(1, 10)]);
        assert_eq!(opened[1], (2..=4).map(|n| tell(n, 10)).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn what_exceeds_a_batch_goes_in_several_envelopes_in_order() {
        // Ten bodies of 100 KiB: more than twice `BATCH_BYTES`.
        let sent: Vec<Body> = (0..10).map(|n| tell(n, 100 * 1024)).collect();
        let mut buf = Vec::new();
        seal_into(&mut buf, &dial(), &mut sent.clone());
        let opened = frames(&buf).await;
        assert!(opened.len() >= 4, "{} envelopes", opened.len());
        assert_eq!(opened.concat(), sent);
    }
}
