//! The per-node gateway: the only actor that crosses the wire.
//!
//! Every node runs one gateway, joined to the process group
//! `foundation.gateway@<node>`; ractor_cluster syncs process groups, so each
//! peer's gateway appears here as a remote proxy in its peer's group. Gateways
//! exchange [`Envelope`]s: hellos with the names each holds, name changes,
//! tells, asks and replies. User actors never become remotable themselves.

use std::any::TypeId;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use ractor::message::{BoxedDowncastErr, SerializedMessage};
use ractor::pg::GroupChangeMessage;
use ractor::registry::PidLifecycleEvent;
use ractor::{
    Actor, ActorCell, ActorProcessingErr, ActorRef, Message, RpcReplyPort, SupervisionEvent,
};
use ractor_cluster::node::NodeServerSessionInformation;
use ractor_cluster::{NodeEventSubscription, NodeServerMessage, NodeSessionMessage};
use serde_bytes::ByteBuf;
use tokio::sync::{broadcast, oneshot};
use tokio::time::Instant;

use crate::connector::ConnectorMsg;
use crate::detector::Detector;
use crate::error::{ClusterError, RemoteError, Result};
use crate::node::{ConflictPolicy, NodeEvent, PartitionPolicy};
use crate::reference::{AnyBox, NotTaken, Payload};
use crate::wire::{Body, Claim, Envelope, WireKey, MAX_PAYLOAD_BYTES};

/// The process group every gateway joins.
const GATEWAY_PREFIX: &str = "gateway@";
/// How long a session that closed before authenticating may wait for a
/// sibling session to the same peer before we call it an auth failure.
const AUTH_GRACE: Duration = Duration::from_millis(1500);
/// How many failed handshakes with one peer, each within
/// [`AUTH_STRIKE_WINDOW`] of the first, make an authentication failure.
const AUTH_STRIKES: usize = 2;
const AUTH_STRIKE_WINDOW: Duration = Duration::from_secs(60);

/// How long a peer whose last session closed stays up while another
/// connection to it may still be completing its handshake (both nodes
/// dialed at once and ractor_cluster keeps one of the two connections).
const SETTLE_GRACE: Duration = Duration::from_secs(1);
/// How long a node that was paused waits for the connections its peers
/// closed meanwhile to come back, before it reports those peers down.
const RESUME_GRACE: Duration = Duration::from_secs(3);
/// How long a node waits for a peer that should dial it (the larger name
/// dials the smaller) before it dials that peer itself.
pub(crate) const MESH_FALLBACK: Duration = Duration::from_secs(2);

/// Why ractor_cluster ends a session that is one of two to the same peer:
/// it keeps the other, so the peer has not gone anywhere.
fn is_duplicate_close(reason: &str) -> bool {
    matches!(
        reason,
        "duplicate_connection" | "session_election_lost" | "self_connection"
    )
}

/// Where a node's gateway is found: the process-group scope of its cluster
/// and the group that names the node. Gateways are unnamed actors (a ractor
/// name would travel to peers and collide there when two sessions to one
/// peer briefly coexist); the group names the node instead. Each cluster
/// has a scope of its own, so a process that is a member of several
/// clusters keeps their gateways, and their peers, apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GatewayId {
    scope: String,
    group: String,
}

impl GatewayId {
    /// The gateway of node `node` in cluster `cluster`.
    pub(crate) fn new(cluster: &str, node: &str) -> Self {
        Self {
            scope: format!("foundation/{cluster}"),
            group: format!("{GATEWAY_PREFIX}{node}"),
        }
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
    /// Delivers a message of this node: `msg` is the boxed message of type
    /// id `key`, `reply` its boxed [`Reply`](crate::Reply).
    fn send_local(&self, key: TypeId, msg: AnyBox, reply: AnyBox) -> Result<(), NotTaken>;
    /// The wire tags of the messages it answers.
    fn accepts(&self) -> Vec<String>;
    fn cell(&self) -> ActorCell;
}

/// Where the answer to an ask that came through the gateway goes.
pub(crate) enum ReplyRoute {
    /// Back through the gateway to the asker's node.
    Remote {
        gateway: GatewayId,
        node: String,
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
                if send(&gateway, GatewayMsg::Reply { node, id, result }).is_err() {
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
    Remote { node: String, accepts: Vec<String> },
}

/// A registered name as listed by [`crate::Node::members`] and
/// [`crate::Node::names`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct NameInfo {
    /// The registered name.
    pub name: String,
    /// The node that holds it.
    pub node: String,
    /// The groups it belongs to.
    pub groups: Vec<String>,
}

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
}

/// Messages of the gateway actor. Only [`GatewayMsg::Wire`] crosses nodes.
pub(crate) enum GatewayMsg {
    /// An encoded [`Envelope`] from a peer's gateway.
    Wire(Vec<u8>),
    Register {
        name: String,
        groups: Vec<String>,
        target: Arc<dyn Deliver>,
        reply: RpcReplyPort<Result<()>>,
    },
    Unregister {
        name: String,
        reply: RpcReplyPort<Result<()>>,
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
            Self::Register { .. } => "Register",
            Self::Unregister { .. } => "Unregister",
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

/// A node-session event from ractor_cluster, forwarded to the gateway.
#[derive(Debug)]
pub(crate) struct SessionEvent {
    kind: SessionKind,
    /// ractor_cluster's id of the session (unique within this node).
    id: u64,
    session: ActorRef<NodeSessionMessage>,
    peer: Option<String>,
    /// The peer's listen address when known, else its socket address.
    addr: String,
    /// The socket address of the other end (for a session we dialed: the
    /// address we dialed).
    peer_addr: String,
    /// The peer dialed us.
    is_server: bool,
}

#[derive(Debug, PartialEq, Eq)]
enum SessionKind {
    Opened,
    Authenticated,
    Disconnected,
}

/// Forwards ractor_cluster's synchronous callbacks into the gateway mailbox.
struct Forward {
    gateway: ActorRef<GatewayMsg>,
}

impl Forward {
    fn forward(&self, kind: SessionKind, ses: NodeServerSessionInformation) {
        let _ = self.gateway.send_message(GatewayMsg::Session(SessionEvent {
            kind,
            id: ses.node_id,
            // ractor_cluster names sessions `<node>@<host>`.
            peer: ses.peer_name.as_ref().map(|n| {
                n.name
                    .rsplit_once('@')
                    .map_or(n.name.as_str(), |(node, _)| node)
                    .to_owned()
            }),
            addr: ses
                .peer_name
                .as_ref()
                .map(|n| n.connection_string.clone())
                .unwrap_or_else(|| ses.peer_addr.clone()),
            peer_addr: ses.peer_addr,
            is_server: ses.is_server,
            session: ses.actor,
        }));
    }
}

impl NodeEventSubscription for Forward {
    fn node_session_opened(&self, ses: NodeServerSessionInformation) {
        self.forward(SessionKind::Opened, ses);
    }

    fn node_session_disconnected(&self, ses: NodeServerSessionInformation) {
        self.forward(SessionKind::Disconnected, ses);
    }

    fn node_session_authenticated(&self, ses: NodeServerSessionInformation) {
        self.forward(SessionKind::Authenticated, ses);
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

/// One ractor_cluster session, as the gateway tracks it.
struct Session {
    actor: ActorRef<NodeSessionMessage>,
    peer: Option<String>,
    authenticated: bool,
    /// We closed it for not authenticating in time.
    timed_out: bool,
    /// Why the session actor ended, as its monitor told us (ractor_cluster
    /// names the reason: `duplicate_connection`, `tcp_session_closed` ...).
    ended: Option<String>,
}

impl Session {
    /// Neither ended (as its monitor told) nor stopping.
    fn open(&self) -> bool {
        self.ended.is_none() && self.actor.get_status() < ractor::ActorStatus::Stopping
    }

    fn live_with(&self, peer: &str) -> bool {
        self.authenticated && self.open() && self.peer.as_deref() == Some(peer)
    }

    /// A connection still authenticating.
    fn handshaking(&self) -> bool {
        !self.authenticated && self.open()
    }
}

pub(crate) struct GatewayArgs {
    pub(crate) id: GatewayId,
    pub(crate) key: WireKey,
    pub(crate) node: String,
    pub(crate) addr: String,
    pub(crate) server: String,
    pub(crate) connector: String,
    pub(crate) events: broadcast::Sender<NodeEvent>,
    pub(crate) timing: Timing,
    pub(crate) conflicts: ConflictPolicy,
    pub(crate) partitions: PartitionPolicy,
    /// When this node started (Unix milliseconds).
    pub(crate) started: u64,
}

pub(crate) struct Gateway;

struct Peer {
    /// The peer gateway's proxies, one per live session, newest last. Two
    /// sessions to one peer exist briefly when both dial at once.
    gateways: Vec<ActorRef<GatewayMsg>>,
    addr: Option<String>,
    /// Authenticated and its hello received (else: joining).
    up: bool,
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
    detached: Option<Instant>,
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
            leaving: false,
            started: 0,
        }
    }

    fn status(&self) -> PeerStatus {
        match (self.up, self.suspect) {
            (false, _) => PeerStatus::Joining,
            (true, false) => PeerStatus::Up,
            (true, true) => PeerStatus::Suspect,
        }
    }
}

struct Pending {
    node: String,
    name: String,
    timeout: Duration,
    reply: AskReply,
}

pub(crate) struct GatewayState {
    id: GatewayId,
    key: WireKey,
    node: String,
    addr: String,
    connector: String,
    events: broadcast::Sender<NodeEvent>,
    peers: HashMap<String, Peer>,
    /// Every claim on every name, by node; the smallest node name wins.
    claims: HashMap<String, BTreeMap<String, Claim>>,
    local: HashMap<String, Arc<dyn Deliver>>,
    pending: HashMap<u64, Pending>,
    next_id: u64,
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
}

/// A member of the cluster, up or not.
struct Member {
    started: u64,
    /// Since when it is down, if it is.
    down_since: Option<Instant>,
}

impl GatewayState {
    fn emit(&self, event: NodeEvent) {
        tracing::info!(?event, "membership");
        let _ = self.events.send(event);
    }

    fn envelope(&self, body: Body) -> Option<Vec<u8>> {
        let kind = body.kind();
        match Envelope::new(&self.node, body).seal(&self.key) {
            Ok(bytes) => {
                metrics::counter!("foundation_gateway_envelopes_total", "direction" => "out", "kind" => kind)
                    .increment(1);
                metrics::histogram!("foundation_gateway_envelope_bytes", "direction" => "out")
                    .record(bytes.len() as f64);
                Some(bytes)
            }
            Err(e) => {
                tracing::error!("could not encode envelope: {e}");
                None
            }
        }
    }

    fn send_to(&self, node: &str, body: Body) -> bool {
        let Some(gateway) = self.peers.get(node).and_then(|p| p.gateways.last()) else {
            return false;
        };
        match self.envelope(body) {
            Some(bytes) => gateway.send_message(GatewayMsg::Wire(bytes)).is_ok(),
            None => false,
        }
    }

    fn broadcast(&self, body: Body) {
        let Some(bytes) = self.envelope(body) else {
            return;
        };
        for peer in self.peers.values() {
            if let Some(gateway) = peer.gateways.last() {
                let _ = gateway.send_message(GatewayMsg::Wire(bytes.clone()));
            }
        }
    }

    /// Sends an encoded envelope to every peer that is up, but `except`.
    fn send_to_up(&self, bytes: &[u8], except: &str) {
        for (name, peer) in &self.peers {
            if name != except && peer.up {
                if let Some(gateway) = peer.gateways.last() {
                    let _ = gateway.send_message(GatewayMsg::Wire(bytes.to_vec()));
                }
            }
        }
    }

    fn winner(&self, name: &str) -> Option<(&String, &Claim)> {
        self.claims.get(name).and_then(|c| c.iter().next())
    }

    fn local_claims(&self) -> Vec<Claim> {
        self.claims
            .values()
            .filter_map(|c| c.get(&self.node).cloned())
            .collect()
    }

    fn add_claim(&mut self, node: &str, claim: Claim) {
        let name = claim.name.clone();
        let claims = self.claims.entry(name.clone()).or_default();
        claims.insert(node.to_owned(), claim);
        if claims.len() > 1 {
            let winner = claims.keys().next().cloned().unwrap_or_default();
            tracing::warn!(%name, %winner, contenders = ?claims.keys().collect::<Vec<_>>(), "name claimed by several nodes; the smallest node name wins");
            let lost = winner != self.node && claims.contains_key(&self.node);
            if lost {
                self.revoke(&name, &winner);
            }
        }
    }

    /// This node lost `name` to `winner` (both registered it, typically on
    /// two sides of a partition): the registration here is revoked, every
    /// node is told, and the actor is stopped or kept unnamed by policy.
    fn revoke(&mut self, name: &str, winner: &str) {
        let node = self.node.clone();
        self.remove_claim(&node, name);
        let Some(target) = self.local.remove(name) else {
            return;
        };
        self.broadcast(Body::Unregistered {
            name: name.to_owned(),
        });
        let stopped = self.conflicts == ConflictPolicy::Stop;
        if stopped {
            target
                .cell()
                .stop(Some(format!("name_conflict: `{name}` is held by {winner}")));
        }
        self.emit(NodeEvent::NameConflict {
            name: name.to_owned(),
            winner: winner.to_owned(),
            stopped,
        });
    }

    fn remove_claim(&mut self, node: &str, name: &str) {
        if let Some(claims) = self.claims.get_mut(name) {
            claims.remove(node);
            if claims.is_empty() {
                self.claims.remove(name);
            }
        }
    }

    fn hello(&self, node: &str) {
        let body = Body::Hello {
            addr: self.addr.clone(),
            claims: self.local_claims(),
            started: self.started,
        };
        self.send_to(node, body);
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
        if let Some(bytes) = self.envelope(body) {
            self.send_to_up(&bytes, node);
        }
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

    fn node_down(&mut self, node: &str, reason: &str) {
        let Some(peer) = self.peers.remove(node) else {
            return;
        };
        self.detector.remove(node);
        let names: Vec<String> = self
            .claims
            .iter()
            .filter(|(_, c)| c.contains_key(node))
            .map(|(n, _)| n.clone())
            .collect();
        for name in &names {
            self.remove_claim(node, name);
        }
        let failed: Vec<u64> = self
            .pending
            .iter()
            .filter(|(_, p)| p.node == node)
            .map(|(id, _)| *id)
            .collect();
        for id in failed {
            if let Some(p) = self.pending.remove(&id) {
                let _ = p.reply.send(Err(ClusterError::NodeGone {
                    node: node.to_owned(),
                    name: p.name,
                }));
            }
        }
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
        tracing::debug!(%node, purged = names.len(), "peer removed");
    }

    fn connector(&self, msg: ConnectorMsg) {
        if let Some(cell) = ractor::registry::where_is(self.connector.clone()) {
            let connector: ActorRef<ConnectorMsg> = cell.into();
            let _ = connector.send_message(msg);
        }
    }

    /// The members this node sees, itself included, sorted.
    fn visible(&self) -> Vec<String> {
        let mut visible: Vec<String> = self
            .peers
            .iter()
            .filter(|(_, p)| p.up)
            .map(|(n, _)| n.clone())
            .chain(std::iter::once(self.node.clone()))
            .collect();
        visible.sort();
        visible
    }

    /// Whether this node is on the side that keeps working.
    fn quorum(&self) -> Result<()> {
        let visible = self.visible();
        let known = self.members.len() + 1;
        let sees = |node: &str| visible.iter().any(|v| v == node);
        let ok = match self.partitions {
            PartitionPolicy::KeepMajority => {
                let smallest = self
                    .members
                    .keys()
                    .next()
                    .map_or(self.node.as_str(), |m| m.as_str().min(self.node.as_str()));
                2 * visible.len() > known || (2 * visible.len() == known && sees(smallest))
            }
            PartitionPolicy::StaticQuorum(n) => visible.len() >= n,
            PartitionPolicy::KeepOldest => {
                let oldest = self
                    .members
                    .iter()
                    .map(|(n, m)| (m.started, n.as_str()))
                    .chain(std::iter::once((self.started, self.node.as_str())))
                    .min()
                    .map(|(_, n)| n);
                oldest.is_none_or(sees)
            }
        };
        if ok {
            Ok(())
        } else {
            Err(ClusterError::NoQuorum {
                policy: self.partitions.to_string(),
                visible,
                known,
            })
        }
    }

    /// [`quorum`](Self::quorum), for what needs the cluster: a node still
    /// forming (it never had a quorum) is not held back; the conflict rule
    /// settles the names it registers meanwhile.
    fn require_quorum(&self) -> Result<()> {
        if self.ever_quorate {
            self.quorum()
        } else {
            Ok(())
        }
    }

    /// Tells subscribers when this node loses or regains its quorum.
    fn check_quorum(&mut self) {
        let now = self.quorum();
        let formed = self.ever_quorate;
        self.ever_quorate |= now.is_ok();
        if now.is_ok() == self.quorate {
            return;
        }
        self.quorate = now.is_ok();
        if !formed {
            tracing::info!(visible = ?self.visible(), "quorum reached");
            return;
        }
        match now {
            Ok(()) => self.emit(NodeEvent::QuorumRegained {
                visible: self.visible(),
            }),
            Err(ClusterError::NoQuorum {
                policy,
                visible,
                known,
            }) => {
                tracing::warn!(%policy, ?visible, known, "quorum lost: refusing what needs the cluster until it heals");
                self.emit(NodeEvent::QuorumLost {
                    policy,
                    visible,
                    known,
                });
            }
            Err(_) => {}
        }
    }

    /// Records why a monitored session actor ended.
    fn session_ended(&mut self, cell: &ActorCell, reason: String) {
        let id = cell.get_id();
        if let Some(session) = self.sessions.values_mut().find(|s| s.actor.get_id() == id) {
            tracing::debug!(peer = ?session.peer, %reason, "session ended");
            session.ended.get_or_insert(reason);
        }
    }

    /// ractor_cluster reports a session closed. Decides, from why it ended,
    /// whether its peer left, failed to authenticate, or neither.
    fn session_closed(&mut self, myself: &ActorRef<GatewayMsg>, ev: SessionEvent) {
        let session = self.sessions.remove(&ev.id);
        let reason = session
            .as_ref()
            .and_then(|s| s.ended.clone())
            .unwrap_or_else(|| "connection closed".into());
        match session {
            Some(s) if s.authenticated => {
                let Some(peer) = s.peer.or(ev.peer) else {
                    return;
                };
                if let Some(p) = self.peers.get_mut(&peer) {
                    p.gateways.retain(|g| session_of(g.get_id()) != Some(ev.id));
                }
                self.settle(myself, &peer, Some(&reason));
            }
            Some(Session {
                timed_out: true, ..
            }) => {}
            _ => {
                // An unauthenticated session: a wrong cookie, the losing
                // one of two simultaneous dials, or a peer that went away
                // mid-handshake. Only a named peer that then has no other
                // connection can have refused a cookie.
                match ev.peer {
                    Some(peer) if !is_duplicate_close(&reason) && peer != self.node => {
                        let addr = ev.addr;
                        tracing::debug!(%peer, %addr, %reason, "a session closed before authentication");
                        myself.send_after(AUTH_GRACE, move || GatewayMsg::CheckAuth { peer, addr });
                    }
                    peer => {
                        tracing::debug!(?peer, addr = %ev.addr, %reason, "a connection closed during the handshake");
                    }
                }
                // A peer waiting for handshakes to finish may be decided now.
                self.settle_detached(myself);
            }
        }
    }

    /// Whether `node` is down, now that one of its sessions has closed (for
    /// `reason`) or a grace period has passed (`None`). It stays up while
    /// another authenticated session to it is live. It is given
    /// [`SETTLE_GRACE`] when a duplicate was closed in favour of another
    /// connection or others are still authenticating, and [`RESUME_GRACE`]
    /// when the connection closed because this node was paused (its peers
    /// declared it down meanwhile and are redialing it).
    fn settle(&mut self, myself: &ActorRef<GatewayMsg>, node: &str, reason: Option<&str>) {
        let now = Instant::now();
        let live = self.sessions.values().any(|s| s.live_with(node));
        let handshaking = self.sessions.values().any(Session::handshaking);
        let resuming = self.detector.stalled(now)
            || self
                .resumed_at
                .is_some_and(|t| now.duration_since(t) < self.timing.failure_timeout);
        let Some(peer) = self.peers.get_mut(node) else {
            return;
        };
        // A running proxy of the peer's gateway, through a session that is
        // still open, means ractor_cluster holds a synced session to it,
        // whatever we were told of its authentication. A proxy whose
        // session has closed is on its way out (ractor stops a session's
        // proxies after the session itself): it proves nothing.
        let sessions = &self.sessions;
        let proxied = peer.gateways.iter().any(|g| {
            g.get_status() < ractor::ActorStatus::Stopping
                && session_of(g.get_id())
                    .and_then(|id| sessions.get(&id))
                    .is_some_and(Session::open)
        });
        if live || proxied {
            if peer.detached.take().is_some() {
                // Connected again: watch it again.
                self.detector.add(node, now);
            }
            tracing::debug!(%node, live, proxied, "a session closed; another connection keeps the peer up");
            return;
        }
        let grace = match reason {
            Some(reason) if is_duplicate_close(reason) || handshaking => SETTLE_GRACE,
            Some(reason) if resuming => {
                tracing::info!(%node, %reason, "connection closed while this node was paused; waiting for it to come back");
                RESUME_GRACE
            }
            Some(reason) => {
                let reason = reason.to_owned();
                self.node_down(node, &reason);
                return;
            }
            None => {
                if peer.detached.is_some_and(|until| now >= until) {
                    self.node_down(node, "connection lost");
                }
                return;
            }
        };
        if peer.detached.is_none() {
            peer.detached = Some(now + grace);
            // Without a connection there is nothing to hear: the wait is
            // this grace, not the failure detector's.
            self.detector.remove(node);
            let redial = peer.addr.clone().map(|a| (a, Some(now + grace)));
            let node = node.to_owned();
            if grace == RESUME_GRACE {
                // Dial it too: whichever connection comes first is kept.
                self.connector(ConnectorMsg::Lost {
                    node: node.clone(),
                    redial,
                });
            }
            myself.send_after(grace, move || GatewayMsg::Settle(node));
        }
    }

    /// Settles the detached peers that have a live session again (or whose
    /// grace has passed), once no handshake is under way.
    fn settle_detached(&mut self, myself: &ActorRef<GatewayMsg>) {
        if self.sessions.values().any(Session::handshaking) {
            return;
        }
        let detached: Vec<String> = self
            .peers
            .iter()
            .filter(|(_, p)| p.detached.is_some())
            .map(|(n, _)| n.clone())
            .collect();
        for node in detached {
            self.settle(myself, &node, None);
        }
    }

    /// One heartbeat of the failure detector (see [`crate::detector`]):
    /// pings the watched peers, reports the silent ones to every node, and
    /// declares down those that a direct check found silent too.
    /// True if a check started (the caller ticks again when it ends).
    fn heartbeat(&mut self) -> bool {
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
            if let Some(bytes) = self.envelope(Body::Unreachable { node: node.clone() }) {
                self.send_to_up(&bytes, node);
            }
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

    /// Handles an envelope from a peer. True if it started a check of a
    /// peer reported unreachable (the caller ticks again when it ends).
    fn handle_wire(&mut self, bytes: &[u8]) -> bool {
        metrics::histogram!("foundation_gateway_envelope_bytes", "direction" => "in")
            .record(bytes.len() as f64);
        let env = match Envelope::open(bytes, &self.key) {
            Ok(env) => env,
            Err(e) => {
                metrics::counter!("foundation_gateway_rejected_total").increment(1);
                tracing::warn!(bytes = bytes.len(), "rejected envelope: {e}");
                return false;
            }
        };
        let mut checking = false;
        metrics::counter!("foundation_gateway_envelopes_total", "direction" => "in", "kind" => env.body.kind())
            .increment(1);
        let from = env.from;
        self.detector.heard(&from, Instant::now());
        if let Some(peer) = self.peers.get_mut(&from) {
            if peer.suspect {
                peer.suspect = false;
                peer.since = SystemTime::now();
                let addr = peer.addr.clone().unwrap_or_default();
                self.emit(NodeEvent::NodeUp {
                    node: from.clone(),
                    addr,
                });
            }
        }
        match env.body {
            Body::Ping => {
                self.send_to(&from, Body::Pong);
            }
            Body::Pong => {}
            Body::Leaving => {
                tracing::info!(node = %from, "peer is leaving the cluster");
                if let Some(peer) = self.peers.get_mut(&from) {
                    peer.leaving = true;
                }
                self.members.remove(&from);
                self.check_quorum();
            }
            Body::Unreachable { node } => {
                if node == self.node {
                    tracing::warn!(by = %from, "a peer reports that it cannot hear this node");
                } else if let Some(target) = self.detector.reported(&node, &from, Instant::now()) {
                    tracing::info!(%node, by = %from, "checking a peer reported unreachable");
                    self.mark_suspect(&node);
                    self.send_to(&target, Body::Ping);
                    checking = true;
                }
            }
            Body::Hello {
                addr,
                claims,
                started,
            } => {
                if !self.peers.contains_key(&from) {
                    self.peers.insert(from.clone(), Peer::new());
                    self.emit(NodeEvent::Joining { node: from.clone() });
                }
                if let Some(peer) = self.peers.get_mut(&from) {
                    peer.addr = Some(addr);
                    peer.started = started;
                }
                // A hello lists every name the sender holds: forget the ones
                // it no longer does (it may have been away meanwhile).
                let held: Vec<String> = self
                    .claims
                    .iter()
                    .filter(|(name, c)| {
                        c.contains_key(&from) && !claims.iter().any(|n| &n.name == *name)
                    })
                    .map(|(name, _)| name.clone())
                    .collect();
                for name in held {
                    self.remove_claim(&from, &name);
                }
                for claim in claims {
                    self.add_claim(&from, claim);
                }
                self.check_up(&from);
            }
            Body::PeerUp { node, addr } => {
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
            Body::Registered(claim) => self.add_claim(&from, claim),
            Body::Unregistered { name } => self.remove_claim(&from, &name),
            Body::Tell { to, tag, payload } => {
                if let Err(e) = self.deliver(&to, &tag, &payload, None) {
                    tracing::warn!(to = %to, from = %from, "tell not delivered: {e:?}");
                }
            }
            Body::Ask {
                id,
                to,
                tag,
                payload,
            } => {
                let route = ReplyRoute::Remote {
                    gateway: self.id.clone(),
                    node: from.clone(),
                    id,
                };
                if let Err(e) = self.deliver(&to, &tag, &payload, Some(route)) {
                    self.send_to(&from, Body::Reply { id, result: Err(e) });
                }
            }
            Body::Reply { id, result } => {
                if let Some(p) = self.pending.remove(&id) {
                    let _ = p.reply.send(
                        result
                            .map(|b| b.into_vec())
                            .map_err(|e| e.into_cluster(&p.name)),
                    );
                } else {
                    tracing::debug!(id, from = %from, "late reply ignored");
                }
            }
        }
        checking
    }

    /// Sends a `Ref`'s message (see [`GatewayMsg::Send`]).
    fn route(&mut self, myself: &ActorRef<GatewayMsg>, out: Outgoing) {
        let Outgoing {
            node,
            name,
            tag,
            payload,
            ask,
            follow,
        } = out;
        let holder = self.winner(&name).map(|(n, _)| n.clone());
        let node = match node {
            Some(node) if !follow || holder.as_deref() == Some(node.as_str()) => node,
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
            match self.target(&name, tag) {
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
                let id = self.next_id;
                self.next_id += 1;
                let body = Body::Ask {
                    id,
                    to: name.clone(),
                    tag: tag.to_owned(),
                    payload: ByteBuf::from(payload),
                };
                if self.send_to(&node, body) {
                    self.pending.insert(
                        id,
                        Pending {
                            node,
                            name,
                            timeout,
                            reply,
                        },
                    );
                    myself.send_after(timeout, move || GatewayMsg::Expire(id));
                } else {
                    let _ = reply.send(Err(ClusterError::NodeGone { node, name }));
                }
            }
        }
    }

    /// The local actor registered as `to`, if it answers `tag`.
    fn target(&self, to: &str, tag: &str) -> std::result::Result<&Arc<dyn Deliver>, RemoteError> {
        let target = self.local.get(to).ok_or(RemoteError::UnknownName)?;
        let accepts = target.accepts();
        if !accepts.iter().any(|t| t == tag) {
            return Err(crate::reference::mismatch(accepts, tag));
        }
        Ok(target)
    }

    fn deliver(
        &self,
        to: &str,
        tag: &str,
        payload: &[u8],
        reply: Option<ReplyRoute>,
    ) -> std::result::Result<(), RemoteError> {
        self.target(to, tag)?.deliver(tag, payload, reply)
    }
}

impl Actor for Gateway {
    type Msg = GatewayMsg;
    type State = GatewayState;
    type Arguments = GatewayArgs;

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
            node: args.node,
            addr: args.addr,
            connector: args.connector,
            events: args.events,
            peers: HashMap::new(),
            claims: HashMap::new(),
            local: HashMap::new(),
            pending: HashMap::new(),
            next_id: 1,
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
            GatewayMsg::Register {
                name,
                groups,
                target,
                reply,
            } => {
                // A restarted actor re-registers before the old incarnation's
                // termination reaches us: a dead holder gives way.
                if state
                    .local
                    .get(&name)
                    .is_some_and(|t| t.cell().get_status() >= ractor::ActorStatus::Stopping)
                {
                    state.local.remove(&name);
                    let node = state.node.clone();
                    state.remove_claim(&node, &name);
                }
                let result = if let Some((node, _)) = state.winner(&name) {
                    Err(ClusterError::NameTaken {
                        name,
                        node: node.clone(),
                    })
                } else if let Err(e) = state.require_quorum() {
                    Err(e)
                } else {
                    let claim = Claim {
                        name: name.clone(),
                        accepts: target.accepts(),
                        groups,
                    };
                    let node = state.node.clone();
                    state.add_claim(&node, claim.clone());
                    state.local.insert(name, target);
                    state.broadcast(Body::Registered(claim));
                    Ok(())
                };
                let _ = reply.send(result);
            }
            GatewayMsg::Unregister { name, reply } => {
                let result = if state.local.remove(&name).is_some() {
                    let node = state.node.clone();
                    state.remove_claim(&node, &name);
                    state.broadcast(Body::Unregistered { name });
                    Ok(())
                } else {
                    Err(ClusterError::UnknownName(name))
                };
                let _ = reply.send(result);
            }
            GatewayMsg::Lookup { names, reply } => {
                let resolved = names
                    .iter()
                    .map(|name| {
                        let (node, claim) = state.winner(name)?;
                        if *node == state.node {
                            state
                                .local
                                .get(name)
                                .map(|t| Resolved::Local(Arc::clone(t)))
                        } else {
                            Some(Resolved::Remote {
                                node: node.clone(),
                                accepts: claim.accepts.clone(),
                            })
                        }
                    })
                    .collect();
                let _ = reply.send(resolved);
            }
            GatewayMsg::Names { group, reply } => {
                let mut list: Vec<NameInfo> = state
                    .claims
                    .values()
                    .filter_map(|c| c.iter().next())
                    .filter(|(_, claim)| group.as_ref().is_none_or(|g| claim.groups.contains(g)))
                    .map(|(node, claim)| NameInfo {
                        name: claim.name.clone(),
                        node: node.clone(),
                        groups: claim.groups.clone(),
                    })
                    .collect();
                list.sort_by(|a, b| a.name.cmp(&b.name));
                let _ = reply.send(list);
            }
            GatewayMsg::Quorum(reply) => {
                let _ = reply.send(state.require_quorum());
            }
            GatewayMsg::Leave(reply) => {
                state.broadcast(Body::Leaving);
                let _ = reply.send(());
            }
            GatewayMsg::Peers(reply) => {
                let mut list: Vec<PeerInfo> = state
                    .peers
                    .iter()
                    .map(|(node, p)| PeerInfo {
                        node: node.clone(),
                        addr: p.addr.clone().unwrap_or_default(),
                        status: p.status(),
                        since: p.since,
                    })
                    .collect();
                list.sort_by(|a, b| a.node.cmp(&b.node));
                let _ = reply.send(list);
            }
            GatewayMsg::Send(out) => state.route(&myself, out),
            GatewayMsg::Reply { node, id, result } => {
                if !state.send_to(&node, Body::Reply { id, result }) {
                    tracing::debug!(%node, id, "reply dropped: asker's node is gone");
                }
            }
            GatewayMsg::Expire(id) => {
                if let Some(p) = state.pending.remove(&id) {
                    let _ = p.reply.send(Err(ClusterError::Timeout {
                        name: p.name,
                        timeout: p.timeout,
                    }));
                }
            }
            GatewayMsg::Tick => {
                if state.heartbeat() {
                    myself.send_after(state.detector.verify_for(), || GatewayMsg::Tick);
                }
            }
            GatewayMsg::Settle(node) => state.settle(&myself, &node, None),
            GatewayMsg::Session(ev) => match ev.kind {
                SessionKind::Opened => {
                    // The monitor tells us why the session ends.
                    myself.get_cell().monitor(ev.session.get_cell());
                    state.sessions.insert(
                        ev.id,
                        Session {
                            actor: ev.session,
                            peer: None,
                            authenticated: false,
                            timed_out: false,
                            ended: None,
                        },
                    );
                    let id = ev.id;
                    myself.send_after(state.timing.handshake_timeout, move || {
                        GatewayMsg::CheckHandshake(id)
                    });
                }
                SessionKind::Authenticated => {
                    tracing::debug!(peer = ?ev.peer, addr = %ev.addr, "session authenticated");
                    if let Some(session) = state.sessions.get_mut(&ev.id) {
                        session.authenticated = true;
                        session.peer.clone_from(&ev.peer);
                    }
                    if let Some(peer) = ev.peer {
                        if !ev.is_server {
                            // The address we dialed reaches this peer: do
                            // not dial it again while the peer is up.
                            state.connector(ConnectorMsg::Connected {
                                node: peer.clone(),
                                addr: ev.peer_addr,
                            });
                        }
                        if let Some(addr) = state
                            .peers
                            .get(&peer)
                            .filter(|p| p.up)
                            .and_then(|p| p.addr.clone())
                        {
                            // A peer that stayed up through a reconnection:
                            // its address is connected again.
                            state.connector(ConnectorMsg::Connected { node: peer, addr });
                        }
                    }
                    state.settle_detached(&myself);
                }
                SessionKind::Disconnected => state.session_closed(&myself, ev),
            },
            GatewayMsg::CheckHandshake(id) => {
                if let Some(session) = state.sessions.get_mut(&id) {
                    if !session.authenticated {
                        tracing::warn!(
                            timeout = ?state.timing.handshake_timeout,
                            "closing a connection that did not authenticate in time"
                        );
                        session.timed_out = true;
                        session.actor.stop(Some("handshake timeout".into()));
                    }
                }
            }
            GatewayMsg::CheckAuth { peer, addr } => {
                // The peer refused our cookie or we refused its, unless a
                // connection to it authenticated meanwhile (both nodes
                // dialed at once and the other connection was kept).
                let connected = state.peers.get(&peer).is_some_and(|p| p.up)
                    || state.sessions.values().any(|s| s.live_with(&peer));
                let now = Instant::now();
                let strikes = state.auth_strikes.entry(peer.clone()).or_default();
                strikes.retain(|t| now.duration_since(*t) < AUTH_STRIKE_WINDOW);
                if connected {
                    strikes.clear();
                } else if strikes.len() + 1 < AUTH_STRIKES {
                    // A handshake also fails when a starved node answers too
                    // late; a wrong cookie fails every time.
                    strikes.push(now);
                    tracing::info!(%peer, %addr, "a handshake failed; retrying before calling it a refusal");
                } else {
                    strikes.clear();
                    tracing::warn!(%peer, %addr, "authentication failed: wrong cookie?");
                    state.connector(ConnectorMsg::Refused(addr.clone()));
                    state.emit(NodeEvent::AuthFailed {
                        peer,
                        addr,
                        reason: format!(
                            "{AUTH_STRIKES} handshakes in a row failed: the cookies differ"
                        ),
                    });
                }
            }
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
                let id = cell.get_id();
                let dead: Vec<String> = state
                    .local
                    .iter()
                    .filter(|(_, t)| t.cell().get_id() == id)
                    .map(|(n, _)| n.clone())
                    .collect();
                for name in dead {
                    state.local.remove(&name);
                    let node = state.node.clone();
                    state.remove_claim(&node, &name);
                    state.broadcast(Body::Unregistered { name: name.clone() });
                    tracing::debug!(%name, "registered actor stopped; name released");
                }
            }
            _ => {}
        }
        Ok(())
    }
}

fn peer_joined(state: &mut GatewayState, node: &str, cell: ActorCell) {
    if cell.get_id().is_local() || node == state.node {
        return;
    }
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
    state.hello(&node);
    state.check_up(&node);
}

/// A peer gateway's proxy left its group. Membership follows sessions, not
/// proxies: this only forgets the proxy. A proxy that is still running is
/// kept: ractor_cluster numbers the sessions of each node server from 0,
/// so with a process in two clusters a proxy dying in one cluster can share
/// its id with a live one in the other, and process groups drop both. It
/// goes when its own session closes.
fn peer_left(state: &mut GatewayState, node: &str, cell: &ActorCell) {
    if cell.get_id().is_local() || cell.get_status() < ractor::ActorStatus::Stopping {
        return;
    }
    if let Some(peer) = state.peers.get_mut(node) {
        peer.gateways.retain(|g| g.get_id() != cell.get_id());
    }
}

/// The ractor_cluster session a remote proxy came through.
fn session_of(id: ractor::ActorId) -> Option<u64> {
    match id {
        ractor::ActorId::Remote { node_id, .. } => Some(node_id),
        ractor::ActorId::Local(_) => None,
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

/// Registers `target` under `name` via the gateway `gateway`.
pub(crate) async fn register(
    gateway: &GatewayId,
    name: &str,
    groups: Vec<String>,
    target: Arc<dyn Deliver>,
) -> Result<()> {
    let name = name.to_owned();
    call(gateway, |reply| GatewayMsg::Register {
        name,
        groups,
        target,
        reply,
    })
    .await?
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::reference::{ActorTarget, Request};
    use crate::Message as Tagged;

    #[derive(Debug, serde::Serialize, serde::Deserialize)]
    struct Num(u64);
    impl Tagged for Num {
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
