//! Discovery strategies: actors under the node's supervisor that find
//! candidate peers and hand their addresses to the connector.
//!
//! * [`Discovery::Seeds`]: a fixed list of `host:port`.
//! * [`Discovery::Dns`]: the A/AAAA records of a name, re-resolved on an
//!   interval (a Kubernetes headless service).
//! * [`Discovery::Mdns`]: multicast DNS on the LAN; nodes advertise
//!   `_foundation._tcp.local.` with their cluster and node names in TXT
//!   records and connect to peers of the same cluster.
//!
//! A strategy that fails (no multicast interface, a name that does not
//! resolve) logs, waits and tries again; it never takes the node down.

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use mdns_sd::{ServiceDaemon, ServiceEvent, ServiceInfo};
use ractor::{Actor, ActorProcessingErr, ActorRef, Message};
use tokio::time::Instant;

use crate::connector::ConnectorMsg;
use crate::gateway::MESH_FALLBACK;

/// The mDNS service type nodes advertise unless told otherwise.
pub const DEFAULT_MDNS_SERVICE: &str = "_foundation._tcp.local.";

/// How a node finds its peers. Several can run at once.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Discovery {
    /// Connect to these `host:port` addresses, retrying until they answer.
    Seeds(Vec<String>),
    /// Resolve `name` (A/AAAA records) every `interval` and connect to each
    /// address at `port`.
    Dns {
        /// The name to resolve, e.g. a Kubernetes headless service.
        name: String,
        /// The port peers listen on.
        port: u16,
        /// How often to resolve again.
        interval: Duration,
    },
    /// Advertise this node and browse for peers of the same cluster with
    /// multicast DNS.
    Mdns {
        /// The service type, normally [`DEFAULT_MDNS_SERVICE`].
        service_type: String,
    },
}

impl Discovery {
    /// DNS discovery of `name:port`, re-resolved every 5 s.
    pub fn dns(name: impl Into<String>, port: u16) -> Self {
        Self::Dns {
            name: name.into(),
            port,
            interval: Duration::from_secs(5),
        }
    }

    /// mDNS discovery with the default service type.
    pub fn mdns() -> Self {
        Self::Mdns {
            service_type: DEFAULT_MDNS_SERVICE.to_owned(),
        }
    }

    /// A short name for logs and child ids.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Self::Seeds(_) => "seeds",
            Self::Dns { .. } => "dns",
            Self::Mdns { .. } => "mdns",
        }
    }
}

/// What every discovery actor needs to know.
#[derive(Debug, Clone)]
pub(crate) struct DiscoveryArgs {
    pub(crate) strategy: Discovery,
    pub(crate) cluster: String,
    pub(crate) node: String,
    /// The address peers should dial to reach this node.
    pub(crate) advertised: SocketAddr,
    pub(crate) connector: String,
    /// How long a discovered peer is dialed before it is given up.
    pub(crate) dial_for: Duration,
}

impl DiscoveryArgs {
    /// Hands `addr` to the connector, to be dialed `after` from now.
    fn want(&self, addr: String, after: Duration) {
        if addr == self.advertised.to_string() {
            return;
        }
        if let Some(cell) = ractor::registry::where_is(self.connector.clone()) {
            let connector: ActorRef<ConnectorMsg> = cell.into();
            let until = Some(Instant::now() + self.dial_for);
            let _ = connector.send_message(ConnectorMsg::Want { addr, until, after });
        }
    }
}

#[derive(Debug)]
pub(crate) enum DiscoveryMsg {
    /// Resolve / drain / start again, depending on the strategy.
    Poll,
}

impl Message for DiscoveryMsg {}

/// The actor behind every strategy.
pub(crate) struct DiscoveryActor;

pub(crate) struct DiscoveryState {
    args: DiscoveryArgs,
    mdns: Option<Mdns>,
    /// Addresses handed to the connector last time (DNS), to log changes.
    last: HashSet<String>,
    failing: bool,
}

struct Mdns {
    daemon: ServiceDaemon,
    events: mdns_sd::Receiver<ServiceEvent>,
    fullname: String,
}

const MDNS_POLL: Duration = Duration::from_millis(50);
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(5);

impl DiscoveryState {
    fn start_mdns(&self, service_type: &str) -> Result<Mdns, mdns_sd::Error> {
        let args = &self.args;
        let daemon = ServiceDaemon::new()?;
        let instance = format!("{}-{}", args.cluster, args.node);
        let host = format!("{}.local.", args.node);
        let properties = [
            ("cluster", args.cluster.as_str()),
            ("node", args.node.as_str()),
            ("addr", &args.advertised.to_string()),
        ];
        let info = ServiceInfo::new(
            service_type,
            &instance,
            &host,
            args.advertised.ip(),
            args.advertised.port(),
            &properties[..],
        )?;
        let fullname = info.get_fullname().to_owned();
        daemon.register(info)?;
        let events = daemon.browse(service_type)?;
        tracing::info!(service = %service_type, cluster = %args.cluster, "mDNS: advertising and browsing");
        Ok(Mdns {
            daemon,
            events,
            fullname,
        })
    }

    fn drain_mdns(&mut self) {
        let Some(mdns) = &self.mdns else { return };
        while let Ok(event) = mdns.events.try_recv() {
            let ServiceEvent::ServiceResolved(service) = event else {
                continue;
            };
            let cluster = service.get_property_val_str("cluster");
            let node = service.get_property_val_str("node");
            if cluster != Some(self.args.cluster.as_str()) || node == Some(self.args.node.as_str())
            {
                continue;
            }
            let addr = service
                .get_property_val_str("addr")
                .map(str::to_owned)
                .or_else(|| {
                    let ip: IpAddr = service.get_addresses_v4().into_iter().next()?.into();
                    Some(SocketAddr::new(ip, service.port).to_string())
                });
            if let Some(addr) = addr {
                tracing::debug!(peer = ?node, %addr, "mDNS: found a peer");
                // Both nodes find each other: the larger name dials, the
                // smaller only if no connection came meanwhile.
                let after = match node {
                    Some(node) if node > self.args.node.as_str() => MESH_FALLBACK,
                    _ => Duration::ZERO,
                };
                self.args.want(addr, after);
            }
        }
    }

    async fn resolve_dns(&mut self, name: &str, port: u16) {
        match tokio::net::lookup_host((name, port)).await {
            Ok(addrs) => {
                let found: HashSet<String> = addrs.map(|a| a.to_string()).collect();
                if found != self.last || self.failing {
                    tracing::info!(%name, peers = ?found, "DNS: resolved");
                }
                self.failing = false;
                for addr in &found {
                    self.args.want(addr.clone(), Duration::ZERO);
                }
                self.last = found;
            }
            Err(e) => {
                if !self.failing {
                    tracing::warn!(%name, "DNS: cannot resolve ({e}); will retry");
                }
                self.failing = true;
            }
        }
    }
}

impl Actor for DiscoveryActor {
    type Msg = DiscoveryMsg;
    type State = DiscoveryState;
    type Arguments = DiscoveryArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<DiscoveryMsg>,
        args: DiscoveryArgs,
    ) -> Result<DiscoveryState, ActorProcessingErr> {
        match &args.strategy {
            Discovery::Seeds(seeds) => {
                for addr in seeds {
                    // Seeds are dialed until they first answer, however long.
                    if let Some(cell) = ractor::registry::where_is(args.connector.clone()) {
                        let connector: ActorRef<ConnectorMsg> = cell.into();
                        connector.send_message(ConnectorMsg::Want {
                            addr: addr.clone(),
                            until: None,
                            after: Duration::ZERO,
                        })?;
                    }
                }
            }
            Discovery::Dns { interval, .. } => {
                myself.send_message(DiscoveryMsg::Poll)?;
                myself.send_interval(*interval, || DiscoveryMsg::Poll);
            }
            Discovery::Mdns { .. } => {
                myself.send_message(DiscoveryMsg::Poll)?;
            }
        }
        Ok(DiscoveryState {
            args,
            mdns: None,
            last: HashSet::new(),
            failing: false,
        })
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<DiscoveryMsg>,
        state: &mut DiscoveryState,
    ) -> Result<(), ActorProcessingErr> {
        if let Some(mdns) = state.mdns.take() {
            let _ = mdns.daemon.unregister(&mdns.fullname);
            let _ = mdns.daemon.shutdown();
        }
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<DiscoveryMsg>,
        _msg: DiscoveryMsg,
        state: &mut DiscoveryState,
    ) -> Result<(), ActorProcessingErr> {
        match state.args.strategy.clone() {
            Discovery::Seeds(_) => {}
            Discovery::Dns { name, port, .. } => state.resolve_dns(&name, port).await,
            Discovery::Mdns { service_type } => {
                if state.mdns.is_none() {
                    match state.start_mdns(&service_type) {
                        Ok(mdns) => state.mdns = Some(mdns),
                        Err(e) => {
                            tracing::warn!(
                                "mDNS: cannot start ({e}); retrying in {RETRY_AFTER_FAILURE:?}"
                            );
                            myself.send_after(RETRY_AFTER_FAILURE, || DiscoveryMsg::Poll);
                            return Ok(());
                        }
                    }
                }
                state.drain_mdns();
                myself.send_after(MDNS_POLL, || DiscoveryMsg::Poll);
            }
        }
        Ok(())
    }
}
