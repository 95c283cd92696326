//! A cluster node: its builder and its handle.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use actor_core::{ChildSpec, EventStore, EventStoreConfig, Strategy, Supervisor, SupervisorSpec};
use ractor::ActorRef;
use ractor_cluster::node::NodeConnectionMode;
use ractor_cluster::{IncomingEncryptionMode, NodeServer};
use tokio::sync::broadcast;

use crate::acceptor::{AcceptorArgs, LinkSide};
use crate::connector::{Connector, ConnectorArgs};
use crate::discovery::{Discovery, DiscoveryActor, DiscoveryArgs};
use crate::error::{ClusterError, ConfigError, Result, StartError};
use crate::gateway::{
    self, Deliver, Gateway, GatewayArgs, GatewayId, GatewayMsg, Listing, NameEvent, NameInfo,
    PeerInfo, Timing,
};
use crate::membership::{ConflictPolicy, NodeEvent, PartitionPolicy};
use crate::reference::{self, ActorTarget, Message, Ref, Request};
use crate::tls::Tls;
use crate::wire::WireKey;

/// The default listen address: loopback only, so nothing is exposed unless
/// asked for.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:7400";

/// The longest name (or group name) an actor can be registered under, in
/// bytes. Every node lists its names to each peer that joins, so names are
/// kept short.
pub const MAX_NAME_BYTES: usize = 1024;

/// Refuses a name that is empty or longer than [`MAX_NAME_BYTES`]: the
/// rule for this node's names and groups, and for the claims of peers.
pub(crate) fn check_name(name: &str) -> Result<()> {
    let reason = if name.is_empty() {
        "a name must not be empty".to_owned()
    } else if name.len() > MAX_NAME_BYTES {
        format!(
            "names are at most {MAX_NAME_BYTES} bytes; this one is {} bytes",
            name.len()
        )
    } else {
        return Ok(());
    };
    let preview: String = name.chars().take(64).collect();
    Err(ClusterError::InvalidName {
        name: if preview.len() < name.len() {
            format!("{preview}…")
        } else {
            preview
        },
        reason,
    })
}

/// The cluster name used when none is given.
pub const DEFAULT_CLUSTER: &str = "foundation";

/// The first non-loopback IPv4 address of this host, or 127.0.0.1.
fn lan_ip() -> IpAddr {
    if_addrs::get_if_addrs()
        .ok()
        .and_then(|ifs| {
            ifs.into_iter()
                .filter(|i| !i.is_loopback())
                .map(|i| i.ip())
                .find(IpAddr::is_ipv4)
        })
        .unwrap_or(IpAddr::from([127, 0, 0, 1]))
}

/// Configures and starts a [`Node`].
#[derive(Debug, Clone)]
#[must_use]
pub struct NodeBuilder {
    name: Option<String>,
    cookie: Option<String>,
    cluster: String,
    listen: Option<SocketAddr>,
    advertise: Option<SocketAddr>,
    seeds: Vec<String>,
    discovery: Vec<Discovery>,
    no_discovery: bool,
    tls: Option<Tls>,
    timing: Timing,
    conflicts: ConflictPolicy,
    partitions: PartitionPolicy,
    journal: EventStoreConfig,
    wire: u8,
}

impl Default for NodeBuilder {
    fn default() -> Self {
        Self {
            name: None,
            cookie: None,
            cluster: DEFAULT_CLUSTER.to_owned(),
            listen: None,
            advertise: None,
            seeds: Vec::new(),
            discovery: Vec::new(),
            no_discovery: false,
            tls: None,
            timing: Timing {
                heartbeat: Duration::from_millis(500),
                failure_timeout: Duration::from_secs(2),
                handshake_timeout: Duration::from_secs(5),
                forget_after: Duration::from_secs(300),
            },
            conflicts: ConflictPolicy::default(),
            partitions: PartitionPolicy::default(),
            journal: EventStoreConfig::default(),
            wire: crate::wire::WIRE_VERSION,
        }
    }
}

impl NodeBuilder {
    /// The node's name, unique in the cluster. Default: `node-<port>`.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// The shared secret every peer must present. Required.
    pub fn cookie(mut self, cookie: impl Into<String>) -> Self {
        self.cookie = Some(cookie.into());
        self
    }

    /// The cluster this node belongs to (default `foundation`). mDNS
    /// discovery only connects nodes of the same cluster, and gateway
    /// envelopes are sealed with the cluster name and cookie, so a process
    /// can be a member of several clusters by starting one node for each.
    pub fn cluster(mut self, name: impl Into<String>) -> Self {
        self.cluster = name.into();
        self
    }

    /// Where to listen for peers. Default: [`DEFAULT_LISTEN`] (loopback
    /// only), or port 7400 on all IPv4 interfaces when mDNS discovery is on
    /// and no address is given (a LAN needs to reach the node). Port 0
    /// picks a free port; [`Node::addr`] tells which.
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen = Some(addr);
        self
    }

    /// The address peers are told to dial. Default: the listen address, or
    /// when that is unspecified (`0.0.0.0`), the first non-loopback IPv4
    /// address of this host.
    pub fn advertise(mut self, addr: SocketAddr) -> Self {
        self.advertise = Some(addr);
        self
    }

    /// Adds a discovery strategy; several may run at once. With none at all
    /// (and no seeds), the node uses [`Discovery::mdns`].
    pub fn discovery(mut self, strategy: Discovery) -> Self {
        self.discovery.push(strategy);
        self
    }

    /// Mutual TLS between nodes (see [`Tls`]). Without it, traffic is plain
    /// TCP and the cookie is all that guards the node.
    pub fn tls(mut self, tls: Tls) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Runs no discovery of its own: the node only accepts connections and
    /// dials the peers its peers announce.
    pub fn no_discovery(mut self) -> Self {
        self.no_discovery = true;
        self
    }

    /// A `host:port` of a peer to connect to at start (retried until it answers).
    pub fn seed(mut self, addr: impl Into<String>) -> Self {
        self.seeds.push(addr.into());
        self
    }

    /// Several seeds at once.
    pub fn seeds<I, S>(mut self, addrs: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.seeds.extend(addrs.into_iter().map(Into::into));
        self
    }

    /// How long a peer may stay silent before it is declared down and its
    /// connection closed. Default 2 s; heartbeats go out every quarter of
    /// it (at most every 500 ms), so a frozen or unreachable peer is down
    /// within about `timeout` + 500 ms.
    pub fn failure_timeout(mut self, timeout: Duration) -> Self {
        self.timing.failure_timeout = timeout;
        self.timing.heartbeat =
            (timeout / 4).clamp(Duration::from_millis(10), Duration::from_millis(500));
        self
    }

    /// What happens to this node's actor when it loses a name to another
    /// node. Default [`ConflictPolicy::Stop`].
    pub fn name_conflicts(mut self, policy: ConflictPolicy) -> Self {
        self.conflicts = policy;
        self
    }

    /// Which side of a partition keeps working. Default
    /// [`PartitionPolicy::KeepMajority`].
    pub fn partition_policy(mut self, policy: PartitionPolicy) -> Self {
        self.partitions = policy;
        self
    }

    /// A connection that has not authenticated within this time is closed.
    /// Default 5 s.
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.timing.handshake_timeout = timeout;
        self
    }

    /// How long a lost peer is redialed (with backoff) before it is
    /// forgotten. Default 5 minutes. Seeds given at start are dialed until
    /// they first answer, however long that takes.
    pub fn forget_after(mut self, after: Duration) -> Self {
        self.timing.forget_after = after;
        self
    }

    /// Speaks only the previous wire version, as the build before this one
    /// does: for tests of a cluster in the middle of a rolling upgrade.
    #[doc(hidden)]
    pub fn previous_wire_version(mut self) -> Self {
        self.wire = crate::wire::PREVIOUS_WIRE_VERSION;
        self
    }

    /// The limits of the node's event store ([`Node::journal`]): by
    /// default the last 10,000 events, of any age.
    pub fn journal(mut self, limits: EventStoreConfig) -> Self {
        self.journal = limits;
        self
    }

    /// Starts the node: its listener, its gateway and its connector, all
    /// under one supervisor. Returns once the node listens.
    ///
    /// # Errors
    /// [`ClusterError::Config`] for a missing cookie, a bad name or timeout,
    /// or a TLS file that cannot be used ([`ConfigError`]);
    /// [`ClusterError::Start`] if the address cannot be bound or the node's
    /// actors do not start ([`StartError`]).
    pub async fn start(self) -> Result<Node> {
        let cookie = self
            .cookie
            .filter(|c| !c.is_empty())
            .ok_or(ConfigError::MissingCookie)?;
        let mut strategies = self.discovery;
        if !self.seeds.is_empty() {
            strategies.push(Discovery::Seeds(self.seeds));
        }
        if strategies.is_empty() && !self.no_discovery {
            strategies.push(Discovery::mdns());
        }
        let mdns = strategies
            .iter()
            .any(|d| matches!(d, Discovery::Mdns { .. }));
        let listen = match self.listen {
            Some(addr) => addr,
            None if mdns => SocketAddr::from(([0, 0, 0, 0], 7400)),
            None => DEFAULT_LISTEN.parse().expect("valid default address"),
        };
        // The node's own listener (see `acceptor`), bound here so that a
        // failure keeps its io::Error and port 0 tells which port it got.
        let listener = bind(listen).map_err(|source| StartError::Bind {
            addr: listen,
            source: Arc::new(source),
        })?;
        let listen = listener.local_addr().map_err(|source| StartError::Bind {
            addr: listen,
            source: Arc::new(source),
        })?;
        let advertised = match self.advertise {
            Some(addr) => addr,
            None if listen.ip().is_unspecified() => SocketAddr::new(lan_ip(), listen.port()),
            None => listen,
        };
        let name = self
            .name
            .unwrap_or_else(|| format!("node-{}", listen.port()));
        if name.is_empty() || name.contains(['@', ' ']) {
            return Err(ConfigError::InvalidNodeName { name }.into());
        }
        if self.timing.failure_timeout.is_zero() || self.timing.handshake_timeout.is_zero() {
            return Err(ConfigError::InvalidTimeouts {
                failure_timeout: self.timing.failure_timeout,
                handshake_timeout: self.timing.handshake_timeout,
            }
            .into());
        }
        if self.cluster.is_empty() {
            return Err(ConfigError::EmptyClusterName.into());
        }
        let tls = self.tls.as_ref().map(Tls::load).transpose()?;
        let addr = advertised.to_string();
        // ractor names are process-wide: a process in two clusters may use
        // one node name in both.
        let local = format!("{}/{name}", self.cluster);
        let server_name = format!("foundation.node_server@{local}");
        let gateway = GatewayId::new(&self.cluster, &name);
        let key = WireKey::new(&self.cluster, &cookie);
        let connector_name = format!("foundation.connector@{local}");
        // Held until the first `subscribe`, so that it sees every event
        // since start.
        let (events, first) = broadcast::channel(EVENT_BUFFER);
        let names = broadcast::channel(NAME_EVENT_BUFFER).0;
        let journal = EventStore::new(self.journal.clone())
            .map_err(|e| ConfigError::InvalidJournal(e.to_string()))?;

        let server = {
            let (cookie, name) = (cookie, name.clone());
            // Peers dial what this node tells them: the advertised address.
            let host = advertised.ip().to_string();
            let acceptor = tls.as_ref().map(|t| t.acceptor.clone());
            ChildSpec::new("node_server", move || {
                let encryption = acceptor.clone().map(IncomingEncryptionMode::Tls);
                // Peers connect through the acceptor; ractor_cluster's own
                // listener (it always opens one) gets a loopback port told
                // to nobody, with the same TLS.
                let server = NodeServer::new(
                    0,
                    cookie.clone(),
                    name.clone(),
                    host.clone(),
                    encryption,
                    // The gateways mesh the cluster themselves (see
                    // `Body::PeerUp`): one dialer per pair, through the
                    // connector, with TLS when it is on.
                    Some(NodeConnectionMode::Isolated),
                )
                .with_listen_addr(IpAddr::from([127, 0, 0, 1]));
                (server, ())
            })
            .register_as(server_name.clone())
        };
        let acceptor = {
            let args = AcceptorArgs {
                listener: Arc::new(listener),
                server: server_name.clone(),
                tls: tls.as_ref().map(|t| t.acceptor.clone()),
                handshake_timeout: self.timing.handshake_timeout,
                advertised_port: advertised.port(),
                link: (self.wire >= crate::link::LINK_WIRE).then(|| LinkSide {
                    gateway: gateway.clone(),
                    node: name.clone(),
                    key: key.clone(),
                    wire: self.wire,
                }),
            };
            ChildSpec::new("acceptor", move || {
                (actor_core::TaskActor::new(), args.clone())
            })
        };
        let gateway_spec = {
            let (conflicts, partitions, wire) = (self.conflicts, self.partitions, self.wire);
            let started = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64);
            let (id, node, addr, server, connector, events, timing) = (
                gateway.clone(),
                name.clone(),
                addr.clone(),
                server_name.clone(),
                connector_name.clone(),
                events.clone(),
                self.timing,
            );
            let (names, journal) = (names.clone(), journal.clone());
            let tls = tls.as_ref().map(|t| t.connector.clone());
            ChildSpec::new("gateway", move || {
                let args = GatewayArgs {
                    id: id.clone(),
                    key: key.clone(),
                    node: node.clone(),
                    addr: addr.clone(),
                    server: server.clone(),
                    connector: connector.clone(),
                    events: events.clone(),
                    names: names.clone(),
                    journal: journal.clone(),
                    timing,
                    conflicts,
                    partitions,
                    started,
                    wire,
                    tls: tls.clone(),
                };
                (Gateway, args)
            })
        };
        let connector = {
            let (server, own_addr) = (server_name, addr.clone());
            let tls = tls.as_ref().map(|t| t.connector.clone());
            ChildSpec::new("connector", move || {
                let args = ConnectorArgs {
                    server: server.clone(),
                    own_addr: own_addr.clone(),
                    tls: tls.clone(),
                };
                (Connector, args)
            })
            .register_as(connector_name.clone())
        };
        // A restarted node server loses its sessions, so everything started
        // after it restarts too.
        let mut spec = SupervisorSpec::with_strategy(Strategy::RestForOne)
            .name(format!("foundation.node@{local}"))
            .child(server)
            .child(acceptor)
            .child(gateway_spec)
            .child(connector);
        let kinds: Vec<&str> = strategies.iter().map(Discovery::kind).collect();
        for (i, strategy) in strategies.into_iter().enumerate() {
            let args = DiscoveryArgs {
                strategy,
                cluster: self.cluster.clone(),
                node: name.clone(),
                advertised,
                connector: connector_name.clone(),
                dial_for: self.timing.forget_after,
            };
            let id = format!("discovery-{}-{i}", args.strategy.kind());
            spec = spec.child(ChildSpec::new(id, move || (DiscoveryActor, args.clone())));
        }
        let supervisor = Supervisor::start(spec)
            .await
            .map_err(|e| StartError::Spawn {
                listen,
                source: Arc::new(e),
            })?;
        tracing::info!(
            node = %name,
            cluster = %self.cluster,
            %listen,
            advertised = %addr,
            discovery = ?kinds,
            tls = self.tls.is_some(),
            "node listening{}",
            if self.tls.is_some() { " (mutual TLS)" } else { "; without TLS the cookie is all that guards it" }
        );
        Ok(Node {
            inner: Arc::new(Inner {
                name,
                addr: advertised,
                gateway,
                supervisor,
                events,
                names,
                journal,
                first: std::sync::Mutex::new(Some(first)),
            }),
        })
    }
}

#[derive(Debug)]
struct Inner {
    name: String,
    addr: SocketAddr,
    gateway: GatewayId,
    supervisor: Supervisor,
    events: broadcast::Sender<NodeEvent>,
    /// Changes of the name table.
    names: broadcast::Sender<NameEvent>,
    /// What happened on this node, for operators.
    journal: EventStore,
    /// The receiver made at start, handed to the first subscriber.
    first: std::sync::Mutex<Option<broadcast::Receiver<NodeEvent>>>,
}

/// Membership events a subscriber may fall behind by before it lags.
const EVENT_BUFFER: usize = 4096;
/// Name events a watcher may fall behind by before it lags (a node
/// joining lists all of its names at once).
const NAME_EVENT_BUFFER: usize = 16_384;

/// A listening socket on `addr`, non-blocking for tokio.
fn bind(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let listener = std::net::TcpListener::bind(addr)?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}

/// A running node: this process's membership in one cluster. Cheap to
/// clone; every clone is the same node.
///
/// One process may hold several nodes, each in a different cluster (its
/// own cluster name, cookie, listen address, discovery and names): the
/// node you call is the cluster you mean. Two nodes of the *same* cluster
/// in one process are not supported (ractor's registry and process groups
/// are process-global; they would see each other's actors twice): run
/// those in separate OS processes.
#[derive(Debug, Clone)]
pub struct Node {
    inner: Arc<Inner>,
}

impl Node {
    /// Starts configuring a node.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), actor_cluster::ClusterError> {
    /// let node = actor_cluster::Node::builder()
    ///     .name("a")
    ///     .cookie("secret")
    ///     .listen("127.0.0.1:7001".parse().unwrap())
    ///     .seed("127.0.0.1:7002")
    ///     .start()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn builder() -> NodeBuilder {
        NodeBuilder::default()
    }

    /// Whether `other` is a handle to this same node.
    pub(crate) fn is(&self, other: &Node) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// This node's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The address peers reach this node at (its advertised address).
    pub fn addr(&self) -> SocketAddr {
        self.inner.addr
    }

    /// The node's root supervisor; hang your own actors under it.
    pub fn supervisor(&self) -> &Supervisor {
        &self.inner.supervisor
    }

    /// What happened on this node, kept for operators in an event store
    /// (bounded: see [`NodeBuilder::journal`]) and queryable by kind, time
    /// and correlation id: membership events as `membership.node_up`,
    /// `membership.node_down`, ... (the [`NodeEvent`] as payload); the
    /// agents crate adds its agents' lifecycle and its protocol runs.
    pub fn journal(&self) -> &EventStore {
        &self.inner.journal
    }

    /// Membership events. The first subscriber receives every event since
    /// the node started (none is lost before it subscribes); later ones,
    /// events from the moment they subscribe.
    pub fn subscribe(&self) -> broadcast::Receiver<NodeEvent> {
        let first = self
            .inner
            .first
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        first.unwrap_or_else(|| self.inner.events.subscribe())
    }

    /// Makes `actor` reachable by `name` from every node of the cluster.
    /// The name is released when the actor stops.
    ///
    /// # Errors
    /// [`ClusterError::NameTaken`] if any node already holds the name;
    /// [`ClusterError::InvalidName`] for an empty name or one over
    /// [`MAX_NAME_BYTES`]; [`ClusterError::NoQuorum`] on the losing side of
    /// a partition.
    pub async fn register<M: Message>(
        &self,
        name: &str,
        actor: &ActorRef<Request<M>>,
    ) -> Result<()> {
        self.register_in(name, Vec::<String>::new(), actor).await
    }

    /// Like [`register`](Node::register), and also lists the name in each of
    /// `groups` (see [`members`](Node::members)).
    ///
    /// # Errors
    /// [`ClusterError::NameTaken`] if any node already holds the name;
    /// [`ClusterError::InvalidName`] for an empty name or group, or one over
    /// [`MAX_NAME_BYTES`]; [`ClusterError::NoQuorum`] on the losing side of
    /// a partition.
    pub async fn register_in<M: Message>(
        &self,
        name: &str,
        groups: impl IntoIterator<Item = impl Into<String>>,
        actor: &ActorRef<Request<M>>,
    ) -> Result<()> {
        let target = ActorTarget {
            actor: actor.clone(),
        };
        let listing = Listing {
            groups: crate::shared::list_of(groups),
            ..Listing::default()
        };
        self.register_target(name.into(), listing, Arc::new(target))
            .await
    }

    /// Registers a local target of either kind (a ractor actor or a
    /// server) as `listing` says.
    pub(crate) async fn register_target(
        &self,
        name: Arc<str>,
        listing: Listing,
        target: Arc<dyn Deliver>,
    ) -> Result<()> {
        let mut registered = self.register_targets(vec![(name, listing, target)]).await?;
        registered.pop().unwrap_or(Err(ClusterError::NodeStopped))
    }

    /// Registers many local targets in one message to the gateway; one
    /// result per target, in order (one refused does not stop the others).
    ///
    /// # Errors
    /// [`ClusterError::NodeStopped`] if the gateway is gone (then none was
    /// registered).
    pub(crate) async fn register_targets(
        &self,
        targets: Vec<(Arc<str>, Listing, Arc<dyn Deliver>)>,
    ) -> Result<Vec<Result<()>>> {
        // Checked here, not in the gateway's turn; only the valid ones go.
        let mut checked = Vec::with_capacity(targets.len());
        let mut valid = Vec::with_capacity(targets.len());
        for (name, listing, target) in targets {
            match check_name(&name).and_then(|()| listing.check(&name)) {
                Ok(()) => {
                    checked.push(None);
                    valid.push((name, listing, target));
                }
                Err(e) => checked.push(Some(e)),
            }
        }
        let mut registered = if valid.is_empty() {
            Vec::new()
        } else {
            gateway::register(&self.inner.gateway, valid).await?
        }
        .into_iter();
        Ok(checked
            .into_iter()
            .map(|refused| match refused {
                Some(e) => Err(e),
                None => registered.next().unwrap_or(Err(ClusterError::NodeStopped)),
            })
            .collect())
    }

    /// Replaces the labels of `name`, registered on this node: small
    /// key/value pairs that travel with the name to every node and are
    /// listed with it ([`NameInfo::labels`]), such as what kind of actor
    /// it is or its status. Every node's [`watch_names`](Self::watch_names)
    /// is told. Labels are not kept across a re-registration: an actor
    /// restarted and registered again starts without them (a server with
    /// the labels of its [`Hosting`](crate::Hosting::labels)).
    ///
    /// # Errors
    /// [`ClusterError::UnknownName`] if this node holds no such name;
    /// [`ClusterError::InvalidName`] if the labels exceed
    /// [`MAX_LABEL_BYTES`](crate::MAX_LABEL_BYTES).
    pub async fn set_labels<K, V>(
        &self,
        name: &str,
        labels: impl IntoIterator<Item = (K, V)>,
    ) -> Result<()>
    where
        K: Into<String>,
        V: Into<String>,
    {
        let labels = labels
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        let mut results = self
            .set_labels_many(vec![(name.to_owned(), labels)])
            .await?;
        results.pop().unwrap_or(Ok(()))
    }

    /// Replaces the labels of several names registered on this node in
    /// one call (see [`set_labels`](Self::set_labels)); answers one result
    /// per name, in order.
    ///
    /// # Errors
    /// [`ClusterError::NodeStopped`] if the node is shutting down; each
    /// name's own refusal is in its result.
    pub async fn set_labels_many(
        &self,
        labels: Vec<(String, BTreeMap<String, String>)>,
    ) -> Result<Vec<Result<()>>> {
        gateway::call(&self.inner.gateway, |reply| GatewayMsg::SetLabels {
            labels,
            reply,
        })
        .await
    }

    /// Adds `name`, registered on this node, to `group`: it is listed by
    /// [`members`](Self::members) on every node and every
    /// [`watch_names`](Self::watch_names) is told, until it leaves the
    /// group or its actor stops. Groups given at registration are joined
    /// the same way.
    ///
    /// # Errors
    /// [`ClusterError::UnknownName`] if this node holds no such name;
    /// [`ClusterError::InvalidName`] for an empty or oversized group.
    pub async fn join_group(&self, name: &str, group: &str) -> Result<()> {
        check_name(group)?;
        self.group(name, group, true).await
    }

    /// Takes `name`, registered on this node, out of `group`.
    ///
    /// # Errors
    /// [`ClusterError::UnknownName`] if this node holds no such name.
    pub async fn leave_group(&self, name: &str, group: &str) -> Result<()> {
        self.group(name, group, false).await
    }

    async fn group(&self, name: &str, group: &str, join: bool) -> Result<()> {
        let (name, group) = (name.to_owned(), group.to_owned());
        gateway::call(&self.inner.gateway, |reply| GatewayMsg::Group {
            name,
            group,
            join,
            reply,
        })
        .await?
    }

    /// Adds `actor`, an actor of this node that need not have a name, to
    /// `group`, and answers a [`Ref`] to it. It is registered under a name
    /// made for it, `~<node>/<actor id>` (the same whichever groups it
    /// joins), which [`members`](Self::members) lists on every node and
    /// which a [`Ref`] reaches from any of them. It is in the group until
    /// it [`leave`](Self::leave)s it or stops; its name goes when it
    /// stops, as any name does.
    ///
    /// # Errors
    /// [`ClusterError::InvalidName`] for an empty or oversized group, or
    /// an actor of another node; as [`register`](Self::register).
    pub async fn join<M: Message>(&self, group: &str, actor: &ActorRef<Request<M>>) -> Result<Ref> {
        let name = self.unnamed(actor)?;
        // Both ways check the group's name.
        match self.join_group(&name, group).await {
            Err(ClusterError::UnknownName(_)) => self.register_in(&name, [group], actor).await?,
            joined => joined?,
        }
        self.lookup(&name).await
    }

    /// Takes `actor`, added by [`join`](Self::join), out of `group`. Its
    /// name stays (a [`Ref`] to it still reaches it) until it stops.
    ///
    /// # Errors
    /// [`ClusterError::UnknownName`] if it never joined a group;
    /// [`ClusterError::InvalidName`] for an actor of another node.
    pub async fn leave<M: Message>(&self, group: &str, actor: &ActorRef<Request<M>>) -> Result<()> {
        let name = self.unnamed(actor)?;
        self.leave_group(&name, group).await
    }

    /// The name [`join`](Self::join) registers a local actor under.
    fn unnamed<M: Message>(&self, actor: &ActorRef<Request<M>>) -> Result<String> {
        let id = actor.get_id();
        if !id.is_local() {
            return Err(ClusterError::InvalidName {
                name: id.to_string(),
                reason: "only an actor of this node joins a group through it".into(),
            });
        }
        Ok(format!("~{}/{}", self.name(), id.pid()))
    }

    /// Subscribes the actor registered on this node as `name` to `topic`:
    /// every message [`publish`](Self::publish)ed on it, from any node, is
    /// told to it. A subscriber that stops is no longer one.
    ///
    /// # Errors
    /// As [`join_group`](Self::join_group).
    pub async fn subscribe_topic(&self, topic: &str, name: &str) -> Result<()> {
        self.join_group(name, &gateway::topic_group(topic)).await
    }

    /// Ends `name`'s subscription to `topic`.
    ///
    /// # Errors
    /// As [`leave_group`](Self::leave_group).
    pub async fn unsubscribe_topic(&self, topic: &str, name: &str) -> Result<()> {
        self.leave_group(name, &gateway::topic_group(topic)).await
    }

    /// Tells `msg` to every subscriber of `topic` on every node, and
    /// answers how many subscribers this node knows of. The message is
    /// encoded once and sent once to each node with subscribers (not once
    /// per subscriber), whose gateway hands it to its own; the messages
    /// of one publisher reach each subscriber in the order published. A
    /// subscriber that does not answer `M` is skipped (and logged).
    ///
    /// # Errors
    /// [`ClusterError::Encode`] if `msg` does not encode or exceeds the
    /// payload limit; [`ClusterError::NodeStopped`].
    pub async fn publish<M: Message>(&self, topic: &str, msg: &M) -> Result<usize> {
        let payload = rmp_serde::to_vec_named(msg).map_err(|e| ClusterError::Encode {
            name: format!("topic {topic}"),
            reason: e.to_string(),
        })?;
        if payload.len() > crate::wire::MAX_PAYLOAD_BYTES {
            return Err(ClusterError::Encode {
                name: format!("topic {topic}"),
                reason: format!(
                    "{} bytes exceed the {}-byte limit",
                    payload.len(),
                    crate::wire::MAX_PAYLOAD_BYTES
                ),
            });
        }
        let topic = topic.to_owned();
        gateway::call(&self.inner.gateway, |reply| GatewayMsg::Publish {
            topic,
            tag: M::TAG,
            payload,
            reply,
        })
        .await
    }

    /// The changes of the cluster's name table from now on, as this node
    /// applies them: a name registered (or its holder, groups or labels
    /// changed), a name gone. A watcher more than 16,384 changes behind
    /// is told how many it missed and reads [`names`](Self::names) again.
    pub fn watch_names(&self) -> broadcast::Receiver<NameEvent> {
        self.inner.names.subscribe()
    }

    /// A passivated server registered as `name` woke in a new actor: the
    /// gateway watches that actor now.
    pub(crate) fn rebind(&self, name: &str) {
        let _ = gateway::send(&self.inner.gateway, GatewayMsg::Rebind(name.to_owned()));
    }

    /// A passivated server registered as `name` was dropped while asleep:
    /// its name is released, if `target` (the address of its target) is
    /// what holds it.
    pub(crate) fn release_dormant(&self, name: &str, target: usize) {
        let _ = gateway::send(
            &self.inner.gateway,
            GatewayMsg::ReleaseDormant(name.to_owned(), target),
        );
    }

    /// Releases a name this node holds.
    ///
    /// # Errors
    /// [`ClusterError::UnknownName`] if this node holds no such name.
    pub async fn unregister(&self, name: &str) -> Result<()> {
        let name = name.to_owned();
        gateway::call(&self.inner.gateway, |reply| GatewayMsg::Unregister {
            name,
            reply,
        })
        .await?
    }

    /// A reference to the actor registered under `name`, wherever it lives.
    ///
    /// # Errors
    /// [`ClusterError::UnknownName`] if no node holds the name. Which
    /// messages it answers is checked with each message
    /// ([`Ref::accepts`] lists them).
    pub async fn lookup(&self, name: &str) -> Result<Ref> {
        let mut found = self
            .lookup_many(std::slice::from_ref(&name.to_owned()))
            .await?;
        found
            .pop()
            .unwrap_or_else(|| Err(ClusterError::UnknownName(name.to_owned())))
    }

    /// References to the actors registered under `names`, in order, each
    /// resolved as [`lookup`](Self::lookup) would, in one round trip to the
    /// gateway (a protocol inviting a thousand agents looks them up at once).
    ///
    /// # Errors
    /// [`ClusterError::NodeStopped`] if this node is shutting down; each
    /// name's own failure is in its place in the list.
    pub async fn lookup_many(&self, names: &[String]) -> Result<Vec<Result<Ref>>> {
        let resolved = gateway::call(&self.inner.gateway, |reply| GatewayMsg::Lookup {
            names: names.to_vec(),
            reply,
        })
        .await?;
        Ok(names
            .iter()
            .zip(resolved)
            .map(|(name, found)| reference::resolved(&self.inner.gateway, name, found))
            .collect())
    }

    /// Every registered name in the cluster, sorted.
    ///
    /// # Errors
    /// [`ClusterError::NodeStopped`] if this node is shutting down.
    pub async fn names(&self) -> Result<Vec<NameInfo>> {
        gateway::call(&self.inner.gateway, |reply| GatewayMsg::Names {
            group: None,
            reply,
        })
        .await
    }

    /// The names registered in `group`, on any node, sorted.
    ///
    /// # Errors
    /// [`ClusterError::NodeStopped`] if this node is shutting down.
    pub async fn members(&self, group: &str) -> Result<Vec<NameInfo>> {
        let group = Some(group.to_owned());
        gateway::call(&self.inner.gateway, |reply| GatewayMsg::Names {
            group,
            reply,
        })
        .await
    }

    /// Whether this node is on the side of a partition that keeps working
    /// (see [`PartitionPolicy`]).
    ///
    /// # Errors
    /// [`ClusterError::NoQuorum`] naming the policy and the members this
    /// node sees; [`ClusterError::NodeStopped`] if it is shutting down.
    pub async fn quorum(&self) -> Result<()> {
        gateway::call(&self.inner.gateway, GatewayMsg::Quorum).await?
    }

    /// The peers currently up, sorted by name.
    ///
    /// # Errors
    /// [`ClusterError::NodeStopped`] if this node is shutting down.
    pub async fn peers(&self) -> Result<Vec<PeerInfo>> {
        gateway::call(&self.inner.gateway, GatewayMsg::Peers).await
    }

    /// Stops the node: tells its peers it is leaving (a departure, not a
    /// failure: they do not redial it, nor count it for a quorum), then
    /// stops connector, gateway and listener, in reverse order.
    pub async fn shutdown(&self) {
        if gateway::call(&self.inner.gateway, GatewayMsg::Leave)
            .await
            .is_ok()
        {
            // Give the goodbye a moment to leave before the sockets close.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.inner.supervisor.stop().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A builder that passes every check before the listen address is bound.
    fn builder() -> NodeBuilder {
        Node::builder()
            .name("test")
            .cookie("secret")
            .listen("127.0.0.1:0".parse().unwrap())
            .no_discovery()
    }

    #[tokio::test]
    async fn a_builder_without_a_cookie_is_refused() {
        let err = Node::builder().no_discovery().start().await.unwrap_err();
        assert!(
            matches!(err, ClusterError::Config(ConfigError::MissingCookie)),
            "{err}"
        );
        let err = builder().cookie("").start().await.unwrap_err();
        assert!(
            matches!(err, ClusterError::Config(ConfigError::MissingCookie)),
            "{err}"
        );
    }

    #[tokio::test]
    async fn bad_names_and_timeouts_are_refused_with_their_reason() {
        let err = builder().name("a@b").start().await.unwrap_err();
        assert!(
            matches!(&err, ClusterError::Config(ConfigError::InvalidNodeName { name }) if name == "a@b"),
            "{err}"
        );
        let err = builder().cluster("").start().await.unwrap_err();
        assert!(
            matches!(err, ClusterError::Config(ConfigError::EmptyClusterName)),
            "{err}"
        );
        let err = builder()
            .handshake_timeout(Duration::ZERO)
            .start()
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                ClusterError::Config(ConfigError::InvalidTimeouts {
                    handshake_timeout: Duration::ZERO,
                    ..
                })
            ),
            "{err}"
        );
    }

    #[tokio::test]
    async fn an_address_in_use_gives_the_bind_error_with_its_source() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = taken.local_addr().unwrap();
        let err = builder().listen(addr).start().await.unwrap_err();
        let ClusterError::Start(StartError::Bind {
            addr: reported,
            source,
        }) = &err
        else {
            panic!("expected a bind error, got {err:?}");
        };
        assert_eq!(*reported, addr);
        assert_eq!(source.kind(), std::io::ErrorKind::AddrInUse);
        assert!(
            err.to_string().contains(&format!("(is {addr} free?)")),
            "{err}"
        );
        // The chain: ClusterError -> StartError -> the io::Error (in its Arc).
        let start = std::error::Error::source(&err).expect("a source");
        let io = start.source().expect("the io::Error");
        let io = io
            .downcast_ref::<Arc<std::io::Error>>()
            .expect("an io::Error");
        assert_eq!(io.kind(), std::io::ErrorKind::AddrInUse);
    }
}
