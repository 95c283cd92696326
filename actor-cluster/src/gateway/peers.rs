//! The membership view: peers joining, up, suspect and down, the failure
//! detector's heartbeat (see [`crate::detector`]), hellos, and the full
//! mesh (every peer is told of every other).

use std::time::{Duration, SystemTime};

use ractor::{ActorCell, ActorRef};
use tokio::time::Instant;

use super::links::Link;
use super::names::Member;
use super::{GatewayMsg, GatewayState};
use crate::connector::ConnectorMsg;
use crate::membership::NodeEvent;
use crate::wire::{Body, Claim, HELLO_BYTES, PREVIOUS_WIRE_VERSION, WIRE_VERSION};

/// How long a node waits for a peer that should dial it (the larger name
/// dials the smaller) before it dials that peer itself.
pub(crate) const MESH_FALLBACK: Duration = Duration::from_secs(2);

/// A peer as listed by [`crate::Node::peers`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PeerInfo {
    /// The peer's node name.
    pub node: String,
    /// The address it listens on (empty while it is still joining).
    pub addr: String,
    /// Where it stands.
    pub status: PeerStatus,
    /// Since when.
    pub since: SystemTime,
    /// The envelope version this node speaks with it: the newest both
    /// know (they differ in the middle of a rolling upgrade).
    pub wire: u8,
    /// Whether what this node sends it goes on a data link of their own
    /// (else through the cluster session, as with a peer of an older
    /// build; see docs/runtime-semantics.md, *Data links*).
    pub link: bool,
}

/// The status of a peer in this node's membership view. A peer that is
/// down is no longer listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum PeerStatus {
    /// Connected and authenticated, its names not yet exchanged.
    Joining,
    /// Up.
    Up,
    /// Up, but being checked after a watcher found it silent.
    Suspect,
}

pub(super) struct Peer {
    /// The peer gateway's proxies, one per live session, newest last. Two
    /// sessions to one peer exist briefly when both dial at once.
    pub(super) gateways: Vec<ActorRef<GatewayMsg>>,
    pub(super) addr: Option<String>,
    /// Authenticated and its hello received (else: joining).
    pub(super) up: bool,
    /// Being checked after a watcher found it silent.
    suspect: bool,
    /// When the status last changed.
    since: SystemTime,
    /// It said it is shutting down.
    leaving: bool,
    /// When it started (Unix milliseconds), from its hello.
    started: u64,
    /// Its last session closed while another one may take over: until
    /// when we wait for it (a [`GatewayMsg::Settle`] is on its way).
    pub(super) detached: Option<Instant>,
    /// While detached, a session of ractor_cluster's to it that never
    /// reached us was closed and the peer redialed (once per detachment).
    pub(super) redialed: bool,
    /// The newest wire version it speaks, from its hello (until then, the
    /// previous version: every build since reads it).
    pub(super) wire: u8,
    /// How envelopes go to it.
    pub(super) link: Link,
}

impl Peer {
    fn new() -> Self {
        Self {
            gateways: Vec::new(),
            addr: None,
            up: false,
            suspect: false,
            since: SystemTime::now(),
            detached: None,
            redialed: false,
            wire: PREVIOUS_WIRE_VERSION,
            link: Link::None,
            leaving: false,
            started: 0,
        }
    }

    pub(super) fn status(&self) -> PeerStatus {
        match (self.up, self.suspect) {
            (false, _) => PeerStatus::Joining,
            (true, false) => PeerStatus::Up,
            (true, true) => PeerStatus::Suspect,
        }
    }
}

/// The most bytes of claims sent in one hello to a peer that may speak
/// the previous wire version (whose hellos come whole), leaving room in
/// [`MAX_ENVELOPE_BYTES`](crate::wire::MAX_ENVELOPE_BYTES).
const ONE_HELLO_BYTES: usize = 7 * 1024 * 1024;

/// One hello envelope, as received.
pub(super) struct HelloPart {
    pub(super) addr: String,
    pub(super) claims: Vec<Claim>,
    pub(super) started: u64,
    pub(super) part: u32,
    pub(super) parts: u32,
    pub(super) wire: u8,
}

/// The parts of a peer's hello received so far.
#[derive(Default)]
pub(super) struct PendingHello {
    next: u32,
    claims: Vec<Claim>,
}

impl GatewayState {
    /// Tells `node` who this node is and the names it holds, in as many
    /// hellos as [`HELLO_BYTES`] asks for.
    fn hello(&self, node: &str) {
        let Some(peer) = self.peers.get(node) else {
            return;
        };
        // A peer of the previous wire version (or one whose hello has not
        // come yet: it may be one) takes one hello only, as long as one
        // envelope holds it; beyond that it could never take the list.
        let claims = self.local_claims();
        let total: usize = claims.iter().map(Claim::wire_size).sum();
        let limit = if peer.wire.min(self.wire) >= 5 || total > ONE_HELLO_BYTES {
            HELLO_BYTES
        } else {
            usize::MAX
        };
        let mut chunks: Vec<Vec<Claim>> = vec![Vec::new()];
        let mut size = 0;
        for claim in claims {
            let more = claim.wire_size();
            if size + more > limit && !chunks.last().is_some_and(Vec::is_empty) {
                chunks.push(Vec::new());
                size = 0;
            }
            size += more;
            chunks.last_mut().expect("one chunk at least").push(claim);
        }
        let parts = u32::try_from(chunks.len()).unwrap_or(u32::MAX);
        for (part, claims) in (0..parts).zip(chunks) {
            let body = Body::Hello {
                addr: self.addr.clone(),
                claims,
                started: self.started,
                part,
                parts,
                wire: self.wire,
            };
            self.send_out(node, peer, &mut self.sealing(body));
        }
    }

    /// One part of a peer's hello: the whole of it is taken once its last
    /// part is in. A part out of turn drops what came before (the peer
    /// started another hello, or a session closed in the middle of one)
    /// and waits for a hello from the start.
    pub(super) fn hello_part(&mut self, from: &str, hello: HelloPart) {
        let HelloPart {
            addr,
            claims,
            started,
            part,
            parts,
            wire,
        } = hello;
        if let Some(peer) = self.peers.get_mut(from) {
            peer.wire = wire.clamp(PREVIOUS_WIRE_VERSION, WIRE_VERSION);
        }
        if part == 0 {
            self.hellos.remove(from);
        }
        let expected = self.hellos.get(from).map_or(0, |h| h.next);
        if part != expected || part >= parts {
            tracing::debug!(%from, part, parts, expected, "a hello part out of turn; waiting for the next hello");
            self.hellos.remove(from);
            return;
        }
        if part + 1 == parts {
            let mut all = self
                .hellos
                .remove(from)
                .map(|h| h.claims)
                .unwrap_or_default();
            all.extend(claims);
            self.hello_received(from, addr, all, started);
        } else {
            let pending = self.hellos.entry(from.to_owned()).or_default();
            pending.next = part + 1;
            pending.claims.extend(claims);
        }
    }

    /// A peer is up once we have both its gateway and its hello.
    fn check_up(&mut self, node: &str) {
        let Some(peer) = self.peers.get_mut(node) else {
            return;
        };
        if peer.up || peer.gateways.is_empty() {
            return;
        }
        let Some(addr) = peer.addr.clone() else {
            return;
        };
        peer.up = true;
        peer.since = SystemTime::now();
        let started = peer.started;
        self.detector.add(node, Instant::now());
        self.members.insert(
            node.to_owned(),
            Member {
                started,
                down_since: None,
            },
        );
        self.connector(ConnectorMsg::Connected {
            node: node.to_owned(),
            addr: addr.clone(),
        });
        self.emit(NodeEvent::NodeUp {
            node: node.to_owned(),
            addr: addr.clone(),
        });
        self.check_quorum();
        // Every pair connects (full mesh): tell the others of the newcomer,
        // and the newcomer of the others.
        let body = Body::PeerUp {
            node: node.to_owned(),
            addr,
        };
        self.send_to_up(&mut self.sealing(body), node);
        for (name, other) in &self.peers {
            if name == node || !other.up {
                continue;
            }
            if let Some(addr) = &other.addr {
                let body = Body::PeerUp {
                    node: name.clone(),
                    addr: addr.clone(),
                };
                self.send_to(node, body);
            }
        }
    }

    pub(super) fn node_down(&mut self, node: &str, reason: &str) {
        let Some(peer) = self.peers.remove(node) else {
            return;
        };
        self.detector.remove(node);
        self.plane().link_down(node);
        peer.link.abort();
        self.drop_link(node);
        let purged = self.remove_claims_of(node);
        self.plane().fail_node(node);
        if peer.up {
            let reason = if peer.leaving {
                "left the cluster"
            } else {
                reason
            };
            self.emit(NodeEvent::NodeDown {
                node: node.to_owned(),
                reason: reason.to_owned(),
            });
        }
        if let Some(member) = self.members.get_mut(node) {
            member.down_since = Some(Instant::now());
        }
        self.check_quorum();
        let redial = peer.addr.filter(|_| !peer.leaving).map(|addr| {
            if peer.up {
                self.emit(NodeEvent::Reconnecting {
                    node: node.to_owned(),
                    addr: addr.clone(),
                });
            }
            (addr, Some(Instant::now() + self.timing.forget_after))
        });
        self.connector(ConnectorMsg::Lost {
            node: node.to_owned(),
            redial,
        });
        tracing::debug!(%node, purged, "peer removed");
    }

    /// One heartbeat of the failure detector (see [`crate::detector`]):
    /// pings the watched peers, reports the silent ones to every node, and
    /// declares down those that a direct check found silent too.
    /// True if a check started (the caller ticks again when it ends).
    pub(super) fn heartbeat(&mut self) -> bool {
        let now = Instant::now();
        let forget = self.timing.forget_after;
        let before = self.members.len();
        self.members
            .retain(|_, m| m.down_since.is_none_or(|t| now.duration_since(t) < forget));
        if self.members.len() != before {
            self.check_quorum();
        }
        let actions = self.detector.tick(now);
        if let Some(late) = actions.paused {
            self.resumed_at = Some(now);
            tracing::warn!(
                ?late,
                "this node was paused (its heartbeat came {late:?} late); no peer is blamed for the silence"
            );
        }
        for node in &actions.report {
            tracing::info!(%node, "no heartbeat from a watched peer; asking every node to check it");
            self.mark_suspect(node);
            let body = Body::Unreachable { node: node.clone() };
            self.send_to_up(&mut self.sealing(body), node);
        }
        for node in &actions.ping {
            self.send_to(node, Body::Ping);
        }
        let checking = !actions.report.is_empty();
        for (node, reason) in actions.down {
            tracing::warn!(%node, %reason, "declaring the peer down");
            // A frozen peer's sessions stay open: close them, so that
            // ractor_cluster purges its proxies and groups too.
            for session in self.sessions.values_mut() {
                if session.peer.as_deref() == Some(node.as_str()) {
                    session.ended.get_or_insert_with(|| reason.clone());
                    session.actor.stop(Some(reason.clone()));
                }
            }
            self.node_down(&node, &reason);
        }
        checking
    }

    /// A peer is being checked: `suspect`, once.
    fn mark_suspect(&mut self, node: &str) {
        let Some(peer) = self.peers.get_mut(node) else {
            return;
        };
        if peer.up && !peer.suspect {
            peer.suspect = true;
            peer.since = SystemTime::now();
            let silent = self.detector.silent(node, Instant::now());
            self.emit(NodeEvent::Suspect {
                node: node.to_owned(),
                silent_ms: silent.as_millis() as u64,
            });
        }
    }

    /// Any envelope from `from` shows that it is alive: a suspect peer is
    /// up again.
    pub(super) fn heard(&mut self, from: &str) {
        self.detector.heard(from, Instant::now());
        if let Some(peer) = self.peers.get_mut(from) {
            if peer.suspect {
                peer.suspect = false;
                peer.since = SystemTime::now();
                let addr = peer.addr.clone().unwrap_or_default();
                self.emit(NodeEvent::NodeUp {
                    node: from.to_owned(),
                    addr,
                });
            }
        }
    }

    /// `from` says it is shutting down.
    pub(super) fn peer_leaving(&mut self, from: &str) {
        tracing::info!(node = %from, "peer is leaving the cluster");
        if let Some(peer) = self.peers.get_mut(from) {
            peer.leaving = true;
        }
        self.members.remove(from);
        self.check_quorum();
    }

    /// `from` reports that it cannot hear `node`. True if that started a
    /// check of `node` (the caller ticks again when it ends).
    pub(super) fn unreachable(&mut self, node: &str, from: &str) -> bool {
        let mut checking = false;
        if node == self.node {
            tracing::warn!(by = %from, "a peer reports that it cannot hear this node");
        } else if let Some(target) = self.detector.reported(node, from, Instant::now()) {
            tracing::info!(%node, by = %from, "checking a peer reported unreachable");
            self.mark_suspect(node);
            self.send_to(&target, Body::Ping);
            checking = true;
        }
        checking
    }

    /// A peer's hello: where it listens, when it started, the names it holds.
    pub(super) fn hello_received(
        &mut self,
        from: &str,
        addr: String,
        claims: Vec<Claim>,
        started: u64,
    ) {
        if !self.peers.contains_key(from) {
            self.peers.insert(from.to_owned(), Peer::new());
            self.emit(NodeEvent::Joining {
                node: from.to_owned(),
            });
        }
        if let Some(peer) = self.peers.get_mut(from) {
            peer.addr = Some(addr);
            peer.started = started;
        }
        self.replace_claims(from, claims);
        self.check_up(from);
    }

    /// `from` tells of its peer `node`, up at `addr`.
    pub(super) fn peer_up(&self, from: &str, node: String, addr: String) {
        // Both ends hear of each other; the larger name dials, so
        // that they do not race two connections. The smaller one
        // dials too if nothing came after a while.
        if node != self.node && !self.peers.contains_key(&node) {
            let after = if node < self.node {
                Duration::ZERO
            } else {
                MESH_FALLBACK
            };
            tracing::debug!(%node, %addr, via = %from, ?after, "connecting to a peer's peer");
            let until = Some(Instant::now() + self.timing.forget_after);
            self.connector(ConnectorMsg::Want { addr, until, after });
        }
    }

    /// The peers, sorted by name (see [`crate::Node::peers`]).
    pub(super) fn peer_list(&self) -> Vec<PeerInfo> {
        let mut list: Vec<PeerInfo> = self
            .peers
            .iter()
            .map(|(node, p)| PeerInfo {
                node: node.clone(),
                addr: p.addr.clone().unwrap_or_default(),
                status: p.status(),
                since: p.since,
                wire: p.wire.min(self.wire),
                link: matches!(p.link, Link::Up(..)),
            })
            .collect();
        list.sort_by(|a, b| a.node.cmp(&b.node));
        list
    }
}

pub(super) fn peer_joined(state: &mut GatewayState, node: &str, cell: ActorCell) {
    if cell.get_id().is_local() || node == state.node {
        return;
    }
    state.learn_session(&cell, node);
    let node = node.to_owned();
    if !state.peers.contains_key(&node) {
        state.peers.insert(node.clone(), Peer::new());
        state.emit(NodeEvent::Joining { node: node.clone() });
    }
    let Some(peer) = state.peers.get_mut(&node) else {
        return;
    };
    peer.gateways.retain(|g| g.get_id() != cell.get_id());
    peer.gateways.push(cell.into());
    // Before anything is sent to it: how.
    state.open_link(&node);
    state.hello(&node);
    state.check_up(&node);
}

/// A peer gateway's proxy left its group. Membership follows sessions, not
/// proxies: this only forgets the proxy. A proxy that is still running is
/// kept: ractor_cluster numbers the sessions of each node server from 0,
/// so with a process in two clusters a proxy dying in one cluster can share
/// its id with a live one in the other, and process groups drop both. It
/// goes when its own session closes.
pub(super) fn peer_left(state: &mut GatewayState, node: &str, cell: &ActorCell) {
    if cell.get_id().is_local() || cell.get_status() < ractor::ActorStatus::Stopping {
        return;
    }
    if let Some(peer) = state.peers.get_mut(node) {
        peer.gateways.retain(|g| g.get_id() != cell.get_id());
    }
}
