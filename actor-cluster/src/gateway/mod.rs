//! The per-node gateway: the only actor that crosses the wire.
//!
//! Every node runs one unnamed gateway, joined to the process group
//! `gateway@<node>` in its cluster's scope `foundation/<cluster>`;
//! ractor_cluster syncs process groups, so each peer's gateway appears here
//! as a remote proxy in its peer's group. Gateways
//! exchange [`Envelope`]s: hellos with the names each holds, name changes,
//! tells, asks and replies. User actors never become remotable themselves.
//!
//! The gateway's state is one [`GatewayState`]; its methods are spread by
//! concern over the submodules: `names` (the name table, conflicts and
//! quorum), `peers` (the membership view, failure detection and the full
//! mesh), `sessions` (ractor_cluster's sessions and authentication) and
//! `delivery` (routing `Ref` messages, asks and replies).

mod delivery;
mod links;
mod names;
mod peers;
mod plane;
mod sessions;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};

use litemap::LiteMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use ractor::message::{BoxedDowncastErr, SerializedMessage};
use ractor::pg::GroupChangeMessage;
use ractor::registry::PidLifecycleEvent;
use ractor::{Actor, ActorProcessingErr, ActorRef, Message, RpcReplyPort, SupervisionEvent};
use ractor_cluster::NodeServerMessage;
use serde_bytes::ByteBuf;
use tokio::sync::broadcast;
use tokio::time::Instant;

use crate::connector::ConnectorMsg;
use crate::detector::Detector;
use crate::error::{ClusterError, RemoteError, Result};
use crate::link::BoxConn;
use crate::membership::{ConflictPolicy, NodeEvent, PartitionPolicy};
use crate::wire::{Body, Claim, Envelope, WireKey, PREVIOUS_WIRE_VERSION};

pub(crate) use self::delivery::{
    encode_reply, topic_group, AskReply, Deliver, Outgoing, ReplyRoute, Resolved,
};
use self::links::Link;
#[cfg(feature = "fuzzing")]
pub(crate) use self::names::check_claim;
pub(crate) use self::names::Listing;
use self::names::{admitted, Member};
pub use self::names::{Labels, NameEvent, NameInfo, MAX_LABEL_BYTES};
pub(crate) use self::peers::MESH_FALLBACK;
use self::peers::{peer_joined, peer_left, HelloPart, Peer, PendingHello};
pub use self::peers::{PeerInfo, PeerStatus};
pub(crate) use self::plane::Plane;
use self::sessions::{Forward, Session, SessionEvent};

/// The process group every gateway joins.
const GATEWAY_PREFIX: &str = "gateway@";

/// Where a node's gateway is found: the process-group scope of its cluster
/// and the group that names the node. Gateways are unnamed actors (a ractor
/// name would travel to peers and collide there when two sessions to one
/// peer briefly coexist); the group names the node instead. Each cluster
/// has a scope of its own, so a process that is a member of several
/// clusters keeps their gateways, and their peers, apart.
///
/// It also carries the node's data [`Plane`], which `Ref`s and reply
/// handles use to send on links without the gateway actor.
#[derive(Clone)]
pub(crate) struct GatewayId {
    scope: String,
    group: String,
    plane: Arc<Plane>,
}

impl PartialEq for GatewayId {
    fn eq(&self, other: &Self) -> bool {
        self.scope == other.scope && self.group == other.group
    }
}

impl fmt::Debug for GatewayId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GatewayId")
            .field("scope", &self.scope)
            .field("group", &self.group)
            .finish_non_exhaustive()
    }
}

impl GatewayId {
    /// The gateway of node `node` in cluster `cluster`.
    pub(crate) fn new(cluster: &str, node: &str) -> Self {
        Self {
            scope: format!("foundation/{cluster}"),
            group: format!("{GATEWAY_PREFIX}{node}"),
            plane: Arc::default(),
        }
    }

    /// The node's data plane.
    pub(crate) fn plane(&self) -> &Plane {
        &self.plane
    }

    /// The node's name.
    pub(crate) fn node(&self) -> &str {
        self.group.strip_prefix(GATEWAY_PREFIX).unwrap_or_default()
    }
}

/// This process's gateway `id`.
fn local_gateway(id: &GatewayId) -> Result<ActorRef<GatewayMsg>> {
    ractor::pg::get_scoped_local_members(&id.scope, &id.group)
        .into_iter()
        .next()
        .map(ActorRef::from)
        .ok_or(ClusterError::NodeStopped)
}

/// Sends to this process's gateway `id`.
pub(crate) fn send(id: &GatewayId, msg: GatewayMsg) -> Result<()> {
    local_gateway(id)?
        .send_message(msg)
        .map_err(|_| ClusterError::NodeStopped)
}

/// Calls this process's gateway `id`.
pub(crate) async fn call<T: Send + 'static>(
    id: &GatewayId,
    msg: impl FnOnce(RpcReplyPort<T>) -> GatewayMsg,
) -> Result<T> {
    let gateway = local_gateway(id)?;
    match gateway.call(msg, Some(Duration::from_secs(5))).await {
        Ok(ractor::rpc::CallResult::Success(v)) => Ok(v),
        _ => Err(ClusterError::NodeStopped),
    }
}

/// Messages of the gateway actor. Only [`GatewayMsg::Wire`] crosses nodes.
pub(crate) enum GatewayMsg {
    /// An encoded [`Envelope`] from a peer's gateway, through a session.
    Wire(Vec<u8>),
    /// Bodies for the gateway in an envelope that came on the link taken
    /// from `node` (its reader delivered the tells, asks and replies).
    Bodies {
        node: Arc<str>,
        bodies: Vec<Body>,
        /// Told once they are handled (the reader waits for them).
        done: Option<tokio::sync::oneshot::Sender<()>>,
    },
    /// A link from `peer`, authenticated by the acceptor.
    Inbound {
        peer: String,
        conn: BoxConn,
    },
    /// The link dialed to `node` is up.
    LinkUp {
        node: String,
        id: u64,
    },
    /// Dialing a link to `node` failed.
    LinkFailed {
        node: String,
        id: u64,
        why: String,
    },
    /// A link to or from `node` closed.
    LinkClosed {
        node: String,
        id: u64,
        inbound: bool,
        why: String,
    },
    /// Send what is queued for peers (see `GatewayState::send_out`).
    Flush,
    /// Registers names of this node, each with its listing and target;
    /// one result per name, in order.
    Register {
        names: Vec<(Arc<str>, Listing, Arc<dyn Deliver>)>,
        reply: RpcReplyPort<Vec<Result<()>>>,
    },
    Unregister {
        name: String,
        reply: RpcReplyPort<Result<()>>,
    },
    /// A passivated server registered as `name` woke in a new actor.
    Rebind(String),
    /// The passivated server registered as `name` was dropped asleep: the
    /// name is released if its target (at this address) holds it.
    ReleaseDormant(String, usize),
    /// Replaces the labels of names of this node; one result per name.
    SetLabels {
        labels: Vec<(String, BTreeMap<String, String>)>,
        reply: RpcReplyPort<Vec<Result<()>>>,
    },
    /// Adds a name of this node to a group, or takes it out.
    Group {
        name: String,
        group: String,
        join: bool,
        reply: RpcReplyPort<Result<()>>,
    },
    /// Delivers an encoded message to every subscriber of a topic;
    /// answers how many there are.
    Publish {
        topic: String,
        tag: &'static str,
        payload: Vec<u8>,
        reply: RpcReplyPort<usize>,
    },
    /// Resolves several names in one message; the answers are in order.
    Lookup {
        names: Vec<String>,
        reply: RpcReplyPort<Vec<Option<Resolved>>>,
    },
    Names {
        group: Option<String>,
        reply: RpcReplyPort<Vec<NameInfo>>,
    },
    Peers(RpcReplyPort<Vec<PeerInfo>>),
    /// Whether this node has a quorum (see [`PartitionPolicy`]).
    Quorum(RpcReplyPort<Result<()>>),
    /// The node is shutting down: tell every peer it is leaving.
    Leave(RpcReplyPort<()>),
    /// A tell or ask from a `Ref`.
    Send(Outgoing),
    Reply {
        node: String,
        id: u64,
        result: std::result::Result<ByteBuf, RemoteError>,
    },
    Expire(u64),
    Tick,
    Session(SessionEvent),
    CheckHandshake(u64),
    CheckAuth {
        peer: String,
        addr: String,
    },
    /// A peer lost its last session while another connection might still
    /// take over: decide whether it is down.
    Settle(String),
}

impl fmt::Debug for GatewayMsg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self {
            Self::Wire(_) => "Wire",
            Self::Bodies { .. } => "Bodies",
            Self::Inbound { .. } => "Inbound",
            Self::LinkUp { .. } => "LinkUp",
            Self::LinkFailed { .. } => "LinkFailed",
            Self::LinkClosed { .. } => "LinkClosed",
            Self::Flush => "Flush",
            Self::Register { .. } => "Register",
            Self::Unregister { .. } => "Unregister",
            Self::Rebind(_) => "Rebind",
            Self::ReleaseDormant(..) => "ReleaseDormant",
            Self::SetLabels { .. } => "SetLabels",
            Self::Group { .. } => "Group",
            Self::Publish { .. } => "Publish",
            Self::Lookup { .. } => "Lookup",
            Self::Names { .. } => "Names",
            Self::Peers(_) => "Peers",
            Self::Quorum(_) => "Quorum",
            Self::Leave(_) => "Leave",
            Self::Send(_) => "Send",
            Self::Reply { .. } => "Reply",
            Self::Expire(_) => "Expire",
            Self::Tick => "Tick",
            Self::Session(_) => "Session",
            Self::CheckHandshake(_) => "CheckHandshake",
            Self::CheckAuth { .. } => "CheckAuth",
            Self::Settle(_) => "Settle",
        };
        f.write_str(kind)
    }
}

const WIRE_VARIANT: &str = "foundation.envelope";

impl Message for GatewayMsg {
    fn serializable() -> bool {
        true
    }

    fn serialize(self) -> std::result::Result<SerializedMessage, BoxedDowncastErr> {
        match self {
            Self::Wire(args) => Ok(SerializedMessage::Cast {
                variant: WIRE_VARIANT.to_owned(),
                args,
                metadata: None,
            }),
            _ => Err(BoxedDowncastErr),
        }
    }

    fn deserialize(bytes: SerializedMessage) -> std::result::Result<Self, BoxedDowncastErr> {
        match bytes {
            SerializedMessage::Cast { variant, args, .. } if variant == WIRE_VARIANT => {
                Ok(Self::Wire(args))
            }
            _ => Err(BoxedDowncastErr),
        }
    }
}

/// Failure detection and connection settings of a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Timing {
    /// How often a gateway pings each peer.
    pub(crate) heartbeat: Duration,
    /// Silence after which a peer is declared down and its sessions closed.
    pub(crate) failure_timeout: Duration,
    /// A connection that has not authenticated by then is closed.
    pub(crate) handshake_timeout: Duration,
    /// How long a lost peer is redialed before it is forgotten.
    pub(crate) forget_after: Duration,
}

pub(crate) struct GatewayArgs {
    pub(crate) id: GatewayId,
    pub(crate) key: WireKey,
    pub(crate) node: String,
    pub(crate) addr: String,
    pub(crate) server: String,
    pub(crate) connector: String,
    pub(crate) events: broadcast::Sender<NodeEvent>,
    pub(crate) names: broadcast::Sender<NameEvent>,
    pub(crate) journal: actor_core::EventStore,
    pub(crate) timing: Timing,
    pub(crate) conflicts: ConflictPolicy,
    pub(crate) partitions: PartitionPolicy,
    /// When this node started (Unix milliseconds).
    pub(crate) started: u64,
    /// The newest wire version it speaks.
    pub(crate) wire: u8,
    /// How links are dialed when the cluster uses TLS.
    pub(crate) tls: Option<tokio_rustls::TlsConnector>,
}

pub(crate) struct Gateway;

/// The wire version from which bodies travel in batches.
const BATCH_WIRE: u8 = 5;
/// A batch is sent once it holds about this many bytes.
const BATCH_BYTES: usize = 256 * 1024;

/// An envelope on its way to peers, sealed once for each wire version
/// they speak.
struct Sealing {
    body: Body,
    sealed: Vec<(u8, Vec<u8>)>,
}

pub(crate) struct GatewayState {
    id: GatewayId,
    key: WireKey,
    node: String,
    /// `node`, the one copy this node's claims share.
    node_shared: Arc<str>,
    addr: String,
    connector: String,
    events: broadcast::Sender<NodeEvent>,
    /// Changes of the name table, for [`crate::Node::watch_names`].
    names: broadcast::Sender<NameEvent>,
    /// The node's event store: membership events are kept there too.
    journal: actor_core::EventStore,
    peers: HashMap<String, Peer>,
    /// Every claim on every name, by name (the claims' own copy of it),
    /// then by node (one copy of each node's name: `shared::node`); the
    /// highest epoch, then the smallest node name, wins.
    claims: foldhash::HashMap<Arc<str>, LiteMap<Arc<str>, Claim>>,
    /// The names of this node's actors (in the plane) each actor holds, to release them when it
    /// stops without looking at every name.
    held_by: HashMap<ractor::ActorId, Vec<Arc<str>>>,
    timing: Timing,
    sessions: HashMap<u64, Session>,
    detector: Detector,
    /// Recent failed handshakes, by peer.
    auth_strikes: HashMap<String, Vec<Instant>>,
    conflicts: ConflictPolicy,
    partitions: PartitionPolicy,
    started: u64,
    /// The members of the cluster as this node knows them (itself aside):
    /// every node seen up and not seen leave, forgotten after it has been
    /// away for `forget_after`.
    members: BTreeMap<String, Member>,
    /// Whether this node had a quorum when last checked.
    quorate: bool,
    /// Whether it ever had one. Until then it is forming (a static quorum
    /// not reached yet) and is not held back.
    ever_quorate: bool,
    /// When this node last found that it had been paused.
    resumed_at: Option<Instant>,
    /// When a session to each peer last closed while another one was kept
    /// (see `sessions::settle`).
    churned: HashMap<String, Instant>,
    /// The parts of peers' hellos received so far.
    hellos: HashMap<String, PendingHello>,
    /// Bodies queued for each peer of version 5, and about how many bytes
    /// they take (see `send_out`).
    outbox: Mutex<HashMap<String, (Vec<Body>, usize)>>,
    /// A [`GatewayMsg::Flush`] is on its way.
    flush_queued: AtomicBool,
    /// This gateway, to queue a flush.
    me: ActorRef<GatewayMsg>,
    /// The newest wire version this node speaks (the previous one when it
    /// plays an older build, see `NodeBuilder::wire_version`).
    wire: u8,
    /// ractor_cluster's node server, asked for its sessions.
    server: ActorRef<NodeServerMessage>,
    /// How links are dialed when the cluster uses TLS.
    tls: Option<tokio_rustls::TlsConnector>,
    /// The tasks that write and read links.
    links: tokio::task::JoinSet<()>,
    /// The link taken from each peer that has one.
    inbound: HashMap<String, links::Inbound>,
    next_link: u64,
}

impl GatewayState {
    /// The node's data plane.
    fn plane(&self) -> &Plane {
        self.id.plane()
    }

    fn emit(&self, event: NodeEvent) {
        tracing::info!(?event, "membership");
        metrics::counter!("foundation_cluster_membership_events_total", "event" => event.kind())
            .increment(1);
        // Every change of a peer's status is told here, after it is made.
        let mut by_status = [0usize; 3];
        for peer in self.peers.values() {
            by_status[match peer.status() {
                PeerStatus::Joining => 0,
                PeerStatus::Up => 1,
                PeerStatus::Suspect => 2,
            }] += 1;
        }
        for (status, count) in ["joining", "up", "suspect"].into_iter().zip(by_status) {
            metrics::gauge!("foundation_cluster_peers", "status" => status).set(count as f64);
        }
        if let Ok(payload) = serde_json::to_value(&event) {
            let stored = actor_core::Event::new(format!("membership.{}", event.kind()), payload)
                .node(self.node.clone());
            let _ = self.journal.store(stored);
        }
        let _ = self.events.send(event);
    }

    /// An envelope to send; see [`send_out`](Self::send_out).
    fn sealing(&self, body: Body) -> Sealing {
        Sealing {
            body,
            sealed: Vec::new(),
        }
    }

    /// Sends `out` to `node` (`peer`): on the link to it if there is one
    /// (waiting while it is dialed), else through its session, sealed in
    /// the newest version both speak. From version 5, a body sent when
    /// nothing is queued goes at once and queues a [`GatewayMsg::Flush`]
    /// behind the messages already in the gateway's mailbox; bodies sent
    /// before that flush is handled are queued, and go then, in one
    /// envelope per peer. So a lone message waits for nothing, and a
    /// burst (a fan-out, many callers) costs a few envelopes instead of
    /// one each. False if the peer has no session here.
    fn send_out(&self, node: &str, peer: &Peer, out: &mut Sealing) -> bool {
        let Some(gateway) = peer.gateways.last() else {
            return false;
        };
        let version = self.version_for(peer);
        if version >= BATCH_WIRE {
            return self.queue_body(node, peer, out.body.clone());
        }
        let bytes = match out.sealed.iter().find(|(v, _)| *v == version) {
            Some((_, bytes)) => bytes.clone(),
            None => match Envelope::seal_body(version, &self.node, &out.body, &self.key) {
                Ok(bytes) => {
                    // Counted as encoded: once however many peers get it.
                    metrics::counter!("foundation_gateway_envelopes_total", "direction" => "out", "kind" => out.body.kind())
                        .increment(1);
                    metrics::histogram!("foundation_gateway_envelope_bytes", "direction" => "out")
                        .record(bytes.len() as f64);
                    out.sealed.push((version, bytes.clone()));
                    bytes
                }
                Err(e) => {
                    tracing::error!("could not encode envelope: {e}");
                    return false;
                }
            },
        };
        gateway.send_message(GatewayMsg::Wire(bytes)).is_ok()
    }

    /// Sends or queues `body` for `node` (`peer`), of version 5 or
    /// later (see [`send_out`](Self::send_out)).
    fn queue_body(&self, node: &str, peer: &Peer, body: Body) -> bool {
        let (body, dialing) = match &peer.link {
            // Its writer batches what queues while it writes.
            Link::Up(link) => match link.queue.send(body) {
                Ok(()) => return true,
                // The writer ended and its close is on its way here: the
                // body waits for the link dialed again (or the session).
                Err(back) => (back.0, true),
            },
            link => (body, matches!(link, Link::Dialing(..))),
        };
        if !dialing && !self.flush_queued.swap(true, Ordering::Relaxed) {
            // Nothing queued: this one goes now, and what comes before
            // the flush waits for it.
            let _ = self.me.send_message(GatewayMsg::Flush);
            self.send_bodies(peer, vec![body]);
            return true;
        }
        let size = body.wire_size();
        let mut outbox = self.outbox.lock().unwrap_or_else(PoisonError::into_inner);
        if !outbox.contains_key(node) {
            outbox.insert(node.to_owned(), Default::default());
        }
        let Some((bodies, bytes)) = outbox.get_mut(node) else {
            return false;
        };
        if !dialing && *bytes + size > BATCH_BYTES && !bodies.is_empty() {
            let full = std::mem::take(bodies);
            *bytes = 0;
            self.send_bodies(peer, full);
        }
        bodies.push(body);
        *bytes += size;
        true
    }

    /// The version envelopes to `peer` are sealed in: this node's on a
    /// link (both ends proved they speak it), else the newest both speak.
    fn version_for(&self, peer: &Peer) -> u8 {
        match peer.link {
            Link::Up(..) | Link::Dialing(..) => self.wire,
            Link::None | Link::Shared => peer.wire.min(self.wire),
        }
    }

    /// Sends what is queued for every peer, but those whose link is being
    /// dialed.
    fn flush(&self) {
        self.flush_queued.store(false, Ordering::Relaxed);
        let mut outbox = self.outbox.lock().unwrap_or_else(PoisonError::into_inner);
        let queued = std::mem::take(&mut *outbox);
        for (node, (bodies, bytes)) in queued {
            if bodies.is_empty() {
                continue;
            }
            match self.peers.get(&node) {
                Some(peer) if matches!(peer.link, Link::Dialing(..)) => {
                    outbox.insert(node, (bodies, bytes));
                }
                Some(peer) => self.send_bodies(peer, bodies),
                None => {
                    tracing::debug!(%node, n = bodies.len(), "queued bodies dropped: peer gone")
                }
            }
        }
    }

    /// Sends what is queued for `node`.
    fn flush_peer(&self, node: &str) {
        let queued = self
            .outbox
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(node);
        if let (Some((bodies, _)), Some(peer)) = (queued, self.peers.get(node)) {
            if !bodies.is_empty() {
                self.send_bodies(peer, bodies);
            }
        }
    }

    /// Seals `bodies` in one envelope (a batch if more than one; one
    /// envelope each to a peer of a version without batches) and sends it
    /// on the link to `peer`, else through its session.
    fn send_bodies(&self, peer: &Peer, bodies: Vec<Body>) {
        if let Link::Up(link) = &peer.link {
            for body in bodies {
                let _ = link.queue.send(body);
            }
            return;
        }
        let version = self.version_for(peer);
        if version < BATCH_WIRE && bodies.len() > 1 {
            for body in bodies {
                self.send_bodies(peer, vec![body]);
            }
            return;
        }
        // What waited (a hello of 100,000 names, say) goes in batches of
        // about `BATCH_BYTES`, as a burst would.
        let mut batches = batches(bodies);
        if batches.len() > 1 {
            for batch in batches {
                self.send_bodies(peer, batch);
            }
            return;
        }
        let Some(bodies) = batches.pop() else {
            return;
        };
        // Counted here for a session; a link's writer counts its own.
        count_bodies("out", &bodies);
        let body = one_body(bodies);
        let bytes = match Envelope::seal_body(version, &self.node, &body, &self.key) {
            Ok(bytes) => bytes,
            Err(e) => {
                tracing::error!("could not encode envelope: {e}");
                return;
            }
        };
        metrics::histogram!("foundation_gateway_envelope_bytes", "direction" => "out")
            .record(bytes.len() as f64);
        if let Some(gateway) = peer.gateways.last() {
            let _ = gateway.send_message(GatewayMsg::Wire(bytes));
        }
    }

    fn send_to(&self, node: &str, body: Body) -> bool {
        let Some(peer) = self.peers.get(node) else {
            return false;
        };
        if peer.gateways.is_empty() {
            return false;
        }
        // One peer: the body moves into the queue, no copy.
        if self.version_for(peer) >= BATCH_WIRE {
            return self.queue_body(node, peer, body);
        }
        self.send_out(node, peer, &mut self.sealing(body))
    }

    fn broadcast(&self, body: Body) {
        // Nobody to tell: not encoded, not sealed (a node alone registering
        // a hundred thousand agents would seal each name twice for no one).
        let mut out = self.sealing(body);
        for (node, peer) in &self.peers {
            self.send_out(node, peer, &mut out);
        }
    }

    /// Sends `out` to every peer that is up, but `except`.
    fn send_to_up(&self, out: &mut Sealing, except: &str) {
        for (name, peer) in &self.peers {
            if name != except && peer.up {
                self.send_out(name, peer, out);
            }
        }
    }

    fn connector(&self, msg: ConnectorMsg) {
        if let Some(cell) = ractor::registry::where_is(self.connector.clone()) {
            let connector: ActorRef<ConnectorMsg> = cell.into();
            let _ = connector.send_message(msg);
        }
    }

    /// Handles an envelope from a peer through a session. One from a node
    /// that has a link here is refused (its envelopes come on that). True
    /// if it started a check of a peer reported unreachable (the caller
    /// ticks again when it ends).
    fn handle_wire(&mut self, bytes: &[u8]) -> bool {
        let Some((from, bodies)) = open(&self.key, self.wire, bytes) else {
            return false;
        };
        if let Some(reason) = misrouted(None, &from, self.linked(&from)) {
            metrics::counter!("foundation_gateway_rejected_total", "reason" => reason).increment(1);
            tracing::warn!(%from, "rejected an envelope through a session from a node whose envelopes come on its link");
            return false;
        }
        self.handle_bodies(&from, bodies)
    }

    /// Handles the bodies of an envelope from `from`; true as for
    /// [`handle_wire`](Self::handle_wire).
    fn handle_bodies(&mut self, from: &str, bodies: Vec<Body>) -> bool {
        self.heard(from);
        let mut checking = false;
        for body in bodies {
            checking |= self.handle_body(from, body);
        }
        checking
    }

    /// Handles one body from `from`; true as for [`handle_wire`].
    fn handle_body(&mut self, from: &str, body: Body) -> bool {
        let mut checking = false;
        match body {
            Body::Batch(_) => {}
            Body::Ping => {
                self.send_to(from, Body::Pong);
            }
            Body::Pong => {}
            Body::Leaving => self.peer_leaving(from),
            Body::Unreachable { node } => checking = self.unreachable(&node, from),
            Body::Hello {
                addr,
                claims,
                started,
                part,
                parts,
                wire,
            } => {
                let hello = HelloPart {
                    addr,
                    claims: admitted(from, claims),
                    started,
                    part,
                    parts,
                    wire,
                };
                self.hello_part(from, hello);
            }
            Body::PeerUp { node, addr } => self.peer_up(from, node, addr),
            Body::Registered(claim) => {
                for claim in admitted(from, vec![claim]) {
                    self.add_claim(from, claim);
                }
            }
            Body::Unregistered { name } => self.remove_claim(from, &name),
            Body::Tell { to, tag, payload } => self.tell_received(from, &to, &tag, &payload),
            Body::Ask {
                id,
                to,
                tag,
                payload,
            } => self.ask_received(from, id, &to, &tag, &payload),
            Body::Reply { id, result } => self.plane().complete(from, id, result),
            Body::Publish {
                topic,
                tag,
                payload,
            } => self.publish_received(from, &topic, &tag, &payload),
        }
        checking
    }
}

/// Opens a sealed envelope of a version between the previous one and
/// `wire`: its sender and its bodies (a batch's, or the one it holds),
/// counted by kind. `None` if it is refused (counted and logged); a batch
/// inside a batch is dropped alone.
pub(super) fn open(key: &WireKey, wire: u8, bytes: &[u8]) -> Option<(String, Vec<Body>)> {
    metrics::histogram!("foundation_gateway_envelope_bytes", "direction" => "in")
        .record(bytes.len() as f64);
    let versions = PREVIOUS_WIRE_VERSION.min(wire)..=wire;
    let env = match Envelope::open_within(bytes, key, versions) {
        Ok(env) => env,
        Err(e) => {
            metrics::counter!("foundation_gateway_rejected_total", "reason" => "envelope")
                .increment(1);
            tracing::warn!(bytes = bytes.len(), "rejected envelope: {e}");
            return None;
        }
    };
    let from = env.from;
    let mut bodies = match env.body {
        Body::Batch(bodies) => bodies,
        body => vec![body],
    };
    bodies.retain(|body| {
        let nested = matches!(body, Body::Batch(_));
        if nested {
            metrics::counter!("foundation_gateway_rejected_total", "reason" => "nested_batch")
                .increment(1);
            tracing::warn!(%from, "rejected a batch inside a batch");
        }
        !nested
    });
    count_bodies("in", &bodies);
    Some((from, bodies))
}

/// `bodies` in order, cut into batches of about [`BATCH_BYTES`] each (a
/// body larger than that alone).
pub(super) fn batches(bodies: Vec<Body>) -> Vec<Vec<Body>> {
    let mut out = Vec::new();
    let (mut batch, mut size) = (Vec::new(), 0);
    for body in bodies {
        let more = body.wire_size();
        if size + more > BATCH_BYTES && !batch.is_empty() {
            out.push(std::mem::take(&mut batch));
            size = 0;
        }
        size += more;
        batch.push(body);
    }
    if !batch.is_empty() {
        out.push(batch);
    }
    out
}

/// The body of one envelope carrying `bodies`: the body itself if there is
/// one, else a batch.
pub(super) fn one_body(bodies: Vec<Body>) -> Body {
    match <[Body; 1]>::try_from(bodies) {
        Ok([one]) => one,
        Err(bodies) => Body::Batch(bodies),
    }
}

/// Counts `bodies`, going `direction`, by kind: once per kind, not once
/// per body (a metrics registry lookup each).
pub(super) fn count_bodies(direction: &'static str, bodies: &[Body]) {
    let mut kinds: Vec<(&'static str, u64)> = Vec::new();
    for body in bodies {
        match kinds.iter_mut().find(|(k, _)| *k == body.kind()) {
            Some((_, n)) => *n += 1,
            None => kinds.push((body.kind(), 1)),
        }
    }
    for (kind, n) in kinds {
        metrics::counter!("foundation_gateway_envelopes_total", "direction" => direction, "kind" => kind)
            .increment(n);
    }
}

/// Why an envelope that says it is from `from` is refused, given the
/// link it came on (`None`: through a session) and whether `from` has a
/// link to this node: `"from"` on a link authenticated as another node,
/// `"path"` through a session from a node whose envelopes come on its
/// link. `None` if it is taken.
fn misrouted(link: Option<&str>, from: &str, linked: bool) -> Option<&'static str> {
    match link {
        Some(node) if node != from => Some("from"),
        None if linked => Some("path"),
        _ => None,
    }
}

impl Actor for Gateway {
    type Msg = GatewayMsg;
    type State = GatewayState;
    type Arguments = GatewayArgs;

    async fn post_stop(
        &self,
        _myself: ActorRef<GatewayMsg>,
        state: &mut GatewayState,
    ) -> std::result::Result<(), ActorProcessingErr> {
        // What was queued for peers still goes.
        state.flush();
        state.close_links().await;
        // Asks still waiting fail now, not at their deadlines.
        state.plane().reset();
        Ok(())
    }

    async fn pre_start(
        &self,
        myself: ActorRef<GatewayMsg>,
        args: GatewayArgs,
    ) -> std::result::Result<GatewayState, ActorProcessingErr> {
        let server: ActorRef<NodeServerMessage> = ractor::registry::where_is(args.server.clone())
            .ok_or("the node server is not running")?
            .into();
        server.send_message(NodeServerMessage::SubscribeToEvents {
            id: "foundation.gateway".into(),
            subscription: Box::new(Forward {
                gateway: myself.clone(),
            }),
        })?;
        // What an earlier gateway of this node left is gone with it (before
        // this one can be found and sent to).
        args.id.plane().reset();
        // Every group change in the cluster's scope reaches us; the gateway
        // groups of peers are among them.
        ractor::pg::monitor_scope(args.id.scope.clone(), myself.get_cell());
        ractor::pg::join_scoped(
            args.id.scope.clone(),
            args.id.group.clone(),
            vec![myself.get_cell()],
        );
        ractor::registry::pid_registry::monitor(myself.get_cell());
        let node_name = args.node.clone();
        let mut state = GatewayState {
            id: args.id,
            key: args.key,
            node_shared: crate::shared::node(&args.node),
            node: args.node,
            addr: args.addr,
            connector: args.connector,
            events: args.events,
            names: args.names,
            journal: args.journal,
            peers: HashMap::new(),
            claims: foldhash::HashMap::default(),
            held_by: HashMap::new(),
            timing: args.timing,
            sessions: HashMap::new(),
            auth_strikes: HashMap::new(),
            conflicts: args.conflicts,
            partitions: args.partitions,
            started: args.started,
            members: BTreeMap::new(),
            quorate: true,
            ever_quorate: true,
            resumed_at: None,
            churned: HashMap::new(),
            hellos: HashMap::new(),
            outbox: Mutex::new(HashMap::new()),
            flush_queued: AtomicBool::new(false),
            me: myself.clone(),
            wire: args.wire,
            server: server.clone(),
            tls: args.tls,
            links: tokio::task::JoinSet::new(),
            inbound: HashMap::new(),
            next_link: 0,
            detector: Detector::new(
                &node_name,
                args.timing.heartbeat,
                args.timing.failure_timeout,
                Instant::now(),
            ),
        };
        state.quorate = state.quorum().is_ok();
        state.ever_quorate = state.quorate;
        myself.send_interval(args.timing.heartbeat, || GatewayMsg::Tick);
        // Peers whose gateways were already visible before we subscribed.
        for group in ractor::pg::which_scoped_groups(&state.id.scope) {
            if let Some(node) = group.strip_prefix(GATEWAY_PREFIX) {
                for cell in ractor::pg::get_scoped_members(&state.id.scope, &group) {
                    peer_joined(&mut state, node, cell);
                }
            }
        }
        Ok(state)
    }

    async fn handle(
        &self,
        myself: ActorRef<GatewayMsg>,
        msg: GatewayMsg,
        state: &mut GatewayState,
    ) -> std::result::Result<(), ActorProcessingErr> {
        match msg {
            GatewayMsg::Wire(bytes) => {
                if state.handle_wire(&bytes) {
                    myself.send_after(state.detector.verify_for(), || GatewayMsg::Tick);
                }
            }
            GatewayMsg::Bodies { node, bodies, done } => {
                state.plane().take_heard_of(&node);
                if state.handle_bodies(&node, bodies) {
                    myself.send_after(state.detector.verify_for(), || GatewayMsg::Tick);
                }
                if let Some(done) = done {
                    let _ = done.send(());
                }
            }
            GatewayMsg::Inbound { peer, conn } => state.take_link(peer, conn),
            GatewayMsg::LinkUp { node, id } => state.link_up(&node, id),
            GatewayMsg::LinkFailed { node, id, why } => state.link_failed(&node, id, &why),
            GatewayMsg::LinkClosed {
                node,
                id,
                inbound,
                why,
            } => state.link_closed(&node, id, inbound, &why),
            GatewayMsg::Register { names, reply } => {
                let results = names
                    .into_iter()
                    .map(|(name, listing, target)| state.register(name, listing, target))
                    .collect();
                let _ = reply.send(results);
            }
            GatewayMsg::Unregister { name, reply } => {
                let _ = reply.send(state.unregister(name));
            }
            GatewayMsg::Rebind(name) => state.rebind(&name),
            GatewayMsg::ReleaseDormant(name, target) => state.release_dormant(&name, target),
            GatewayMsg::SetLabels { labels, reply } => {
                let results = labels
                    .into_iter()
                    .map(|(name, labels)| state.set_labels(&name, labels))
                    .collect();
                let _ = reply.send(results);
            }
            GatewayMsg::Group {
                name,
                group,
                join,
                reply,
            } => {
                let _ = reply.send(state.set_group(&name, &group, join));
            }
            GatewayMsg::Publish {
                topic,
                tag,
                payload,
                reply,
            } => {
                let _ = reply.send(state.publish(&topic, tag, payload));
            }
            GatewayMsg::Lookup { names, reply } => {
                let _ = reply.send(state.lookup(&names));
            }
            GatewayMsg::Names { group, reply } => {
                let _ = reply.send(state.names(group));
            }
            GatewayMsg::Quorum(reply) => {
                let _ = reply.send(state.require_quorum());
            }
            GatewayMsg::Leave(reply) => {
                state.broadcast(Body::Leaving);
                state.flush();
                let _ = reply.send(());
            }
            GatewayMsg::Peers(reply) => {
                let _ = reply.send(state.peer_list());
            }
            GatewayMsg::Send(out) => {
                state.route(&myself, out);
                state.plane().routed();
            }
            GatewayMsg::Reply { node, id, result } => {
                state.send_reply(&node, id, result);
                state.plane().routed();
            }
            GatewayMsg::Expire(id) => state.expire(id),
            GatewayMsg::Flush => state.flush(),
            GatewayMsg::Tick => {
                // Peers whose links carried data since the last tick are
                // alive, whatever their pongs are queued behind.
                for node in state.plane().take_heard() {
                    state.heard(&node);
                }
                if state.heartbeat() {
                    myself.send_after(state.detector.verify_for(), || GatewayMsg::Tick);
                }
            }
            GatewayMsg::Settle(node) => state.settle_expired(&myself, &node).await,
            GatewayMsg::Session(ev) => state.session_event(&myself, ev),
            GatewayMsg::CheckHandshake(id) => state.check_handshake(id),
            GatewayMsg::CheckAuth { peer, addr } => state.check_auth(peer, addr),
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        _myself: ActorRef<GatewayMsg>,
        event: SupervisionEvent,
        state: &mut GatewayState,
    ) -> std::result::Result<(), ActorProcessingErr> {
        match event {
            SupervisionEvent::ProcessGroupChanged(change) => match change {
                GroupChangeMessage::Join(scope, group, cells) if scope == state.id.scope => {
                    if let Some(node) = group.strip_prefix(GATEWAY_PREFIX) {
                        for cell in cells {
                            peer_joined(state, node, cell);
                        }
                    }
                }
                GroupChangeMessage::Leave(scope, group, cells) if scope == state.id.scope => {
                    if let Some(node) = group.strip_prefix(GATEWAY_PREFIX) {
                        for cell in cells {
                            peer_left(state, node, &cell);
                        }
                    }
                }
                // Another cluster this process is a member of.
                GroupChangeMessage::Join(..) | GroupChangeMessage::Leave(..) => {}
            },
            // A monitored ractor_cluster session ended; ractor_cluster's
            // disconnect callback follows.
            SupervisionEvent::ActorTerminated(cell, _, reason) => {
                state.session_ended(&cell, reason.unwrap_or_else(|| "stopped".into()));
            }
            SupervisionEvent::ActorFailed(cell, err) => {
                state.session_ended(&cell, format!("panicked: {err}"));
            }
            SupervisionEvent::PidLifecycleEvent(PidLifecycleEvent::Terminate(cell)) => {
                state.actor_stopped(&cell);
            }
            _ => {}
        }
        Ok(())
    }
}

/// Registers `target` under `name` via the gateway `gateway`.
pub(crate) async fn register(
    gateway: &GatewayId,
    names: Vec<(Arc<str>, Listing, Arc<dyn Deliver>)>,
) -> Result<Vec<Result<()>>> {
    call(gateway, |reply| GatewayMsg::Register { names, reply }).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_envelope_is_taken_only_from_where_its_sender_sends() {
        // On a link: only as the node it authenticated as.
        assert_eq!(misrouted(Some("a"), "a", true), None);
        assert_eq!(misrouted(Some("m"), "a", true), Some("from"));
        assert_eq!(misrouted(Some("m"), "a", false), Some("from"));
        // Through a session: only from a node without a link here (an
        // older build, or one whose dial failed).
        assert_eq!(misrouted(None, "old", false), None);
        assert_eq!(misrouted(None, "a", true), Some("path"));
    }

    #[test]
    fn only_wire_messages_serialize() {
        let msg = GatewayMsg::Wire(vec![1, 2, 3]);
        let ser = msg.serialize().unwrap();
        assert!(matches!(
            GatewayMsg::deserialize(ser),
            Ok(GatewayMsg::Wire(b)) if b == [1, 2, 3]
        ));
        let other = SerializedMessage::Cast {
            variant: "something-else".into(),
            args: vec![],
            metadata: None,
        };
        assert!(GatewayMsg::deserialize(other).is_err());
        assert!(GatewayMsg::Expire(1).serialize().is_err());
    }
}
