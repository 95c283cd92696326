//! ractor_cluster's sessions as the gateway tracks them: which are open and
//! authenticated, whether a closed one means its peer is down (or only a
//! duplicate connection closed), and failed handshakes (a wrong cookie).

use std::time::Duration;

use ractor::{ActorCell, ActorRef};
use ractor_cluster::node::NodeServerSessionInformation;
use ractor_cluster::{NodeEventSubscription, NodeServerMessage, NodeSessionMessage};
use tokio::time::Instant;

use super::{GatewayMsg, GatewayState};
use crate::connector::ConnectorMsg;
use crate::membership::NodeEvent;

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
/// How long after a session to a peer was closed as a duplicate the close
/// of its sibling is taken for the other half of the same election, not
/// for a departure (see [`GatewayState::settle`]).
const DUPLICATE_WINDOW: Duration = Duration::from_secs(10);

/// Why ractor_cluster ends a session that is one of two to the same peer:
/// it keeps the other, so the peer has not gone anywhere.
fn is_duplicate_close(reason: &str) -> bool {
    matches!(
        reason,
        "duplicate_connection" | "session_election_lost" | "self_connection"
    )
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
pub(super) struct Forward {
    pub(super) gateway: ActorRef<GatewayMsg>,
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

/// One ractor_cluster session, as the gateway tracks it.
pub(super) struct Session {
    pub(super) actor: ActorRef<NodeSessionMessage>,
    pub(super) peer: Option<String>,
    /// The peer's listen address, once authenticated.
    addr: Option<String>,
    authenticated: bool,
    /// We closed it for not authenticating in time.
    timed_out: bool,
    /// Why the session actor ended, as its monitor told us (ractor_cluster
    /// names the reason: `duplicate_connection`, `tcp_session_closed` ...).
    pub(super) ended: Option<String>,
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

impl GatewayState {
    /// Where `node` listens, as its live session says.
    pub(super) fn session_addr(&self, node: &str) -> Option<String> {
        self.sessions
            .values()
            .filter(|s| s.live_with(node))
            .find_map(|s| s.addr.clone())
    }

    /// A node-session event from ractor_cluster.
    pub(super) fn session_event(&mut self, myself: &ActorRef<GatewayMsg>, ev: SessionEvent) {
        match ev.kind {
            SessionKind::Opened => self.session_opened(myself, ev),
            SessionKind::Authenticated => self.session_authenticated(myself, ev),
            SessionKind::Disconnected => self.session_closed(myself, ev),
        }
    }

    /// A connection opened: it has until the handshake timeout to
    /// authenticate.
    fn session_opened(&mut self, myself: &ActorRef<GatewayMsg>, ev: SessionEvent) {
        // The monitor tells us why the session ends.
        myself.get_cell().monitor(ev.session.get_cell());
        self.sessions.insert(
            ev.id,
            Session {
                actor: ev.session,
                peer: None,
                addr: None,
                authenticated: false,
                timed_out: false,
                ended: None,
            },
        );
        let id = ev.id;
        myself.send_after(self.timing.handshake_timeout, move || {
            GatewayMsg::CheckHandshake(id)
        });
    }

    /// A connection authenticated.
    fn session_authenticated(&mut self, myself: &ActorRef<GatewayMsg>, ev: SessionEvent) {
        tracing::debug!(peer = ?ev.peer, addr = %ev.addr, "session authenticated");
        if let Some(session) = self.sessions.get_mut(&ev.id) {
            session.authenticated = true;
            session.peer.clone_from(&ev.peer);
            session.addr = Some(ev.addr.clone());
        }
        if let Some(peer) = ev.peer {
            if !ev.is_server {
                // The address we dialed reaches this peer: do
                // not dial it again while the peer is up.
                self.connector(ConnectorMsg::Connected {
                    node: peer.clone(),
                    addr: ev.peer_addr,
                });
            }
            if let Some(addr) = self
                .peers
                .get(&peer)
                .filter(|p| p.up)
                .and_then(|p| p.addr.clone())
            {
                // A peer that stayed up through a reconnection:
                // its address is connected again.
                self.connector(ConnectorMsg::Connected { node: peer, addr });
            }
        }
        self.settle_detached(myself);
    }

    /// Records why a monitored session actor ended.
    pub(super) fn session_ended(&mut self, cell: &ActorCell, reason: String) {
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
        if is_duplicate_close(&reason) {
            if let Some(peer) = session
                .as_ref()
                .and_then(|s| s.peer.clone())
                .or(ev.peer.clone())
            {
                self.churn(peer);
            }
        }
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
    pub(super) fn settle(
        &mut self,
        myself: &ActorRef<GatewayMsg>,
        node: &str,
        reason: Option<&str>,
    ) {
        let now = Instant::now();
        let live = self.sessions.values().any(|s| s.live_with(node));
        let handshaking = self.sessions.values().any(Session::handshaking);
        let resuming = self.detector.stalled(now)
            || self
                .resumed_at
                .is_some_and(|t| now.duration_since(t) < self.timing.failure_timeout);
        // Both ends of a crossed dial elect the connection to keep, each on
        // its own; when they disagree, each closes the one the other kept,
        // and the close of the kept one arrives as a plain
        // `tcp_session_closed` from a peer that is still there.
        let churned = self
            .churned
            .get(node)
            .is_some_and(|t| now.duration_since(*t) < DUPLICATE_WINDOW);
        let Some(peer) = self.peers.get_mut(node) else {
            return;
        };
        // Sessions that carry the peer's gateway count as authenticated
        // (see `learn_session`), so `live` is the whole answer.
        if live {
            peer.redialed = false;
            if peer.detached.take().is_some() {
                // Connected again: watch it again.
                self.detector.add(node, now);
            }
            if reason.is_some() {
                tracing::debug!(%node, "a session closed; another connection keeps the peer up");
                self.churn(node.to_owned());
            }
            return;
        }
        let grace = match reason {
            Some(reason) if is_duplicate_close(reason) || handshaking => SETTLE_GRACE,
            Some(reason) if resuming => {
                tracing::info!(%node, %reason, "connection closed while this node was paused; waiting for it to come back");
                RESUME_GRACE
            }
            Some(reason) if churned => {
                tracing::debug!(%node, %reason, "the connection kept after a crossed dial closed; dialing the peer again");
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

    /// Notes that a session to `peer` closed while another was kept.
    fn churn(&mut self, peer: String) {
        let now = Instant::now();
        self.churned
            .retain(|_, t| now.duration_since(*t) < DUPLICATE_WINDOW);
        self.churned.insert(peer, now);
    }

    /// The grace of detached peer `node` has passed. Before it is reported
    /// down, once per detachment, this node looks for a connection to it
    /// that may be alive without our knowing: a session ractor_cluster
    /// authenticated without telling us (a connection kept by a crossed
    /// dial's election can authenticate with no callback and without
    /// carrying the peer's gateway: useless to us, yet the peer refuses
    /// every new connection as a duplicate while it lasts), which is
    /// closed; or any handshake still under way (we learn a session's peer
    /// only when it authenticates), which the handshake timeout ends. Then
    /// it dials the peer again and waits that timeout more: a peer that
    /// is there connects meanwhile. A killed peer leaves no such
    /// connection and is reported down at once.
    pub(super) async fn settle_expired(&mut self, myself: &ActorRef<GatewayMsg>, node: &str) {
        let now = Instant::now();
        let expired = self
            .peers
            .get(node)
            .is_some_and(|p| !p.redialed && p.detached.is_some_and(|until| now >= until));
        let live = self.sessions.values().any(|s| s.live_with(node));
        if expired && !live {
            // `None`: the node server did not say (busy past the ask's
            // deadline), which is not "no such session".
            let listed = self.server_sessions_with(node).await;
            // A session the node server holds with the peer and our table
            // does not count live: the peer may be connected unseen.
            let mut unseen = false;
            for id in listed.iter().flatten() {
                match self.sessions.get_mut(id) {
                    Some(ours) if ours.open() && !ours.authenticated => {
                        tracing::info!(%node, "closing a session ractor_cluster authenticated without telling us");
                        ours.timed_out = true;
                        ours.actor.stop(Some("authenticated unreported".into()));
                        unseen = true;
                    }
                    Some(ours) if ours.open() => {}
                    _ => {
                        tracing::debug!(%node, session = id, "the node server holds a session with the peer that we do not count");
                        unseen = true;
                    }
                }
            }
            let handshaking = self.sessions.values().any(Session::handshaking);
            if listed.is_none() || unseen || handshaking {
                let wait = self.timing.handshake_timeout + SETTLE_GRACE;
                tracing::debug!(%node, ?wait, "a connection to the peer may be alive unseen; dialing it again before calling it down");
                if let Some(peer) = self.peers.get_mut(node) {
                    peer.redialed = true;
                    peer.detached = Some(now + wait);
                    let redial = peer.addr.clone().map(|a| (a, Some(now + wait)));
                    self.connector(ConnectorMsg::Lost {
                        node: node.to_owned(),
                        redial,
                    });
                }
                let node = node.to_owned();
                myself.send_after(wait, move || GatewayMsg::Settle(node));
                return;
            }
        }
        self.settle(myself, node, None);
    }

    /// The ids of the sessions ractor_cluster's node server holds with
    /// `node` (it names their peer once authenticated); `None` if it did
    /// not answer in time.
    async fn server_sessions_with(&self, node: &str) -> Option<Vec<u64>> {
        let sessions = ractor::call_t!(self.server, NodeServerMessage::GetSessions, 500).ok()?;
        Some(
            sessions
                .into_values()
                .filter(|info| {
                    info.peer_name.as_ref().is_some_and(|p| {
                        p.name.rsplit_once('@').map_or(p.name.as_str(), |(n, _)| n) == node
                    })
                })
                .map(|info| info.node_id)
                .collect(),
        )
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

    /// Closes session `id` if it has not authenticated in time.
    pub(super) fn check_handshake(&mut self, id: u64) {
        if let Some(session) = self.sessions.get_mut(&id) {
            if !session.authenticated {
                tracing::debug!(
                    timeout = ?self.timing.handshake_timeout,
                    "closing a connection that did not authenticate in time"
                );
                session.timed_out = true;
                session.actor.stop(Some("handshake timeout".into()));
            }
        }
    }

    /// A session to `peer` closed before authenticating; decides, once
    /// [`AUTH_GRACE`] has passed, whether that was an authentication failure.
    pub(super) fn check_auth(&mut self, peer: String, addr: String) {
        // The peer refused our cookie or we refused its, unless a
        // connection to it authenticated meanwhile (both nodes
        // dialed at once and the other connection was kept).
        let connected = self.peers.get(&peer).is_some_and(|p| p.up)
            || self.sessions.values().any(|s| s.live_with(&peer));
        let now = Instant::now();
        let strikes = self.auth_strikes.entry(peer.clone()).or_default();
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
            self.connector(ConnectorMsg::Refused(addr.clone()));
            self.emit(NodeEvent::AuthFailed {
                peer,
                addr,
                reason: format!("{AUTH_STRIKES} handshakes in a row failed: the cookies differ"),
            });
        }
    }
}

impl GatewayState {
    /// A proxy of `node`'s gateway came through the session that spawned
    /// `cell`: that session is authenticated with `node`, whether or not
    /// ractor_cluster said so. (It does not always: a session can complete
    /// its handshake, sync its process groups and carry traffic with no
    /// `node_session_authenticated` callback, for instance when it is the
    /// survivor of a simultaneous connect; and process-group changes reach
    /// the gateway ahead of the callbacks, as supervision events have
    /// priority over messages in ractor. Left unlearned, such a session
    /// looks like a handshake that never ends: it would be closed at the
    /// handshake timeout and the peer reported down once its other session
    /// closed. Seen in the crossed-seed formations.)
    pub(super) fn learn_session(&mut self, cell: &ActorCell, node: &str) {
        let Some(session) = session_of(cell.get_id()).and_then(|id| self.sessions.get_mut(&id))
        else {
            return;
        };
        if !session.authenticated && session.ended.is_none() {
            tracing::debug!(%node, "a session carries the peer's gateway before (or without) ractor_cluster's authentication callback: counted as authenticated");
            session.authenticated = true;
            session.peer = Some(node.to_owned());
        }
    }
}

/// The ractor_cluster session a remote proxy came through.
fn session_of(id: ractor::ActorId) -> Option<u64> {
    match id {
        ractor::ActorId::Remote { node_id, .. } => Some(node_id),
        ractor::ActorId::Local(_) => None,
    }
}
