//! Dials peers until they are up: the static seeds at start, peers that
//! other peers announce, and peers that were lost (reconnection). Failed
//! attempts are retried with capped exponential backoff; a peer that stays
//! away longer than its deadline is forgotten. An address that reaches a
//! peer that is up is not dialed again until that peer goes down: a second
//! connection to a connected peer only makes ractor_cluster close one.

use std::collections::HashMap;
use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef, Message};
use ractor_cluster::NodeServerMessage;
use tokio::time::Instant;

const FIRST_RETRY: Duration = Duration::from_millis(100);
/// Low enough that a healed partition reconnects within a couple of seconds.
const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// How long one connection attempt (TCP, and TLS when on) may take.
const DIAL_TIMEOUT: Duration = Duration::from_secs(3);
/// The pause after a peer refused us.
pub(crate) const REFUSED_BACKOFF: Duration = Duration::from_secs(30);

#[derive(Debug)]
pub(crate) enum ConnectorMsg {
    /// Keep dialing `addr` until it is up, or until `until` passes
    /// (`None`: for ever), starting `after` from now. Ignored while `addr`
    /// reaches a peer that is up.
    Want {
        addr: String,
        until: Option<Instant>,
        after: Duration,
    },
    /// `addr` reaches `node`, which is up: stop dialing it.
    Connected { node: String, addr: String },
    /// `node` went down: its addresses may be dialed again, and `redial`
    /// (its listen address, with a deadline) is.
    Lost {
        node: String,
        redial: Option<(String, Option<Instant>)>,
    },
    /// `addr` refused us (most likely our cookie): dial it again only after
    /// [`REFUSED_BACKOFF`], never in a tight loop.
    Refused(String),
    /// A scheduled attempt.
    Retry(String),
}

impl Message for ConnectorMsg {}

pub(crate) struct ConnectorArgs {
    pub(crate) server: String,
    pub(crate) own_addr: String,
    /// Dial with TLS when set.
    pub(crate) tls: Option<tokio_rustls::TlsConnector>,
}

pub(crate) struct Connector;

struct Wanted {
    attempt: u32,
    until: Option<Instant>,
    /// No dialing before this (after a refusal).
    not_before: Option<Instant>,
}

pub(crate) struct ConnectorState {
    server: String,
    own_addr: String,
    tls: Option<tokio_rustls::TlsConnector>,
    wanted: HashMap<String, Wanted>,
    /// Addresses that reach a peer that is up, and that peer.
    connected: HashMap<String, String>,
}

impl ConnectorState {
    async fn dial(&self, addr: &str, attempt: u32) {
        let Some(cell) = ractor::registry::where_is(self.server.clone()) else {
            return;
        };
        let server: ActorRef<NodeServerMessage> = cell.into();
        let connect = async {
            match &self.tls {
                None => ractor_cluster::client_connect(&server, addr).await,
                Some(tls) => {
                    let name = crate::tls::TlsSetup::server_name();
                    ractor_cluster::client_connect_enc(&server, addr, tls.clone(), name).await
                }
            }
        };
        // A black-holed address or a frozen peer must not stall the connector.
        let Ok(connected) = tokio::time::timeout(DIAL_TIMEOUT, connect).await else {
            tracing::debug!(%addr, attempt, "connect timed out after {DIAL_TIMEOUT:?}");
            return;
        };
        match connected {
            Ok(()) => tracing::debug!(%addr, attempt, "connected; handshake under way"),
            Err(e) if attempt == 0 => tracing::warn!(%addr, "cannot connect ({e}); will retry"),
            Err(e) => tracing::debug!(%addr, attempt, "cannot connect ({e})"),
        }
    }

    /// Dials `addr` (now, or `after` from now) and keeps at it.
    async fn want(
        &mut self,
        myself: &ActorRef<ConnectorMsg>,
        addr: String,
        until: Option<Instant>,
        after: Duration,
    ) {
        if let Some(wanted) = self.wanted.get_mut(&addr) {
            // Already dialing: keep the longer deadline.
            wanted.until = match (wanted.until, until) {
                (Some(a), Some(b)) => Some(a.max(b)),
                _ => None,
            };
            return;
        }
        self.wanted.insert(
            addr.clone(),
            Wanted {
                attempt: 0,
                until,
                not_before: None,
            },
        );
        if after.is_zero() {
            self.dial(&addr, 0).await;
            self.schedule(myself, &addr, 0);
        } else {
            let addr = addr.clone();
            myself.send_after(after, move || ConnectorMsg::Retry(addr));
        }
    }

    fn schedule(&self, myself: &ActorRef<ConnectorMsg>, addr: &str, attempt: u32) {
        let addr = addr.to_owned();
        myself.send_after(backoff(attempt), move || ConnectorMsg::Retry(addr));
    }
}

/// `host:port` as peers advertise it (`ip:port`), so that a seed given by
/// host name is recognised once that peer is up. Unresolvable names are
/// kept as given (dialing them reports the error).
async fn canonical(addr: &str) -> String {
    if addr.parse::<std::net::SocketAddr>().is_ok() {
        return addr.to_owned();
    }
    match tokio::time::timeout(DIAL_TIMEOUT, tokio::net::lookup_host(addr)).await {
        Ok(Ok(found)) => {
            // Nodes listen on IPv4 by default: prefer an IPv4 address.
            let found: Vec<std::net::SocketAddr> = found.collect();
            found
                .iter()
                .find(|a| a.is_ipv4())
                .or(found.first())
                .map_or_else(|| addr.to_owned(), ToString::to_string)
        }
        _ => addr.to_owned(),
    }
}

fn backoff(attempt: u32) -> Duration {
    FIRST_RETRY
        .saturating_mul(1 << attempt.min(6))
        .min(MAX_BACKOFF)
}

impl Actor for Connector {
    type Msg = ConnectorMsg;
    type State = ConnectorState;
    type Arguments = ConnectorArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<ConnectorMsg>,
        args: ConnectorArgs,
    ) -> Result<ConnectorState, ActorProcessingErr> {
        Ok(ConnectorState {
            server: args.server,
            own_addr: args.own_addr,
            tls: args.tls,
            wanted: HashMap::new(),
            connected: HashMap::new(),
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<ConnectorMsg>,
        msg: ConnectorMsg,
        state: &mut ConnectorState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            ConnectorMsg::Want { addr, until, after } => {
                let addr = canonical(&addr).await;
                if addr == state.own_addr || state.connected.contains_key(&addr) {
                    return Ok(());
                }
                state.want(&myself, addr, until, after).await;
            }
            ConnectorMsg::Connected { node, addr } => {
                state.wanted.remove(&addr);
                state.connected.insert(addr, node);
            }
            ConnectorMsg::Lost { node, redial } => {
                state.connected.retain(|_, n| *n != node);
                if let Some((addr, until)) = redial {
                    let addr = canonical(&addr).await;
                    if addr != state.own_addr {
                        state.want(&myself, addr, until, Duration::ZERO).await;
                    }
                }
            }
            ConnectorMsg::Retry(addr) => {
                let Some(wanted) = state.wanted.get_mut(&addr) else {
                    return Ok(());
                };
                if state.connected.contains_key(&addr) {
                    state.wanted.remove(&addr);
                    return Ok(());
                }
                if wanted.until.is_some_and(|t| Instant::now() >= t) {
                    state.wanted.remove(&addr);
                    tracing::info!(%addr, "peer stayed away; forgetting it");
                    return Ok(());
                }
                if wanted.not_before.is_some_and(|t| Instant::now() < t) {
                    let attempt = wanted.attempt;
                    state.schedule(&myself, &addr, attempt);
                    return Ok(());
                }
                wanted.attempt += 1;
                let attempt = wanted.attempt;
                state.dial(&addr, attempt).await;
                state.schedule(&myself, &addr, attempt);
            }
            ConnectorMsg::Refused(addr) => {
                if let Some(wanted) = state.wanted.get_mut(&addr) {
                    wanted.not_before = Some(Instant::now() + REFUSED_BACKOFF);
                    tracing::warn!(%addr, "the peer refused us (wrong cookie?); next attempt in {REFUSED_BACKOFF:?}");
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn host_names_become_addresses() {
        assert_eq!(canonical("127.0.0.1:7001").await, "127.0.0.1:7001");
        assert_eq!(canonical("localhost:7001").await, "127.0.0.1:7001");
        assert_eq!(
            canonical("no-such-host.invalid:1").await,
            "no-such-host.invalid:1"
        );
    }

    #[test]
    fn backoff_grows_and_caps() {
        assert_eq!(backoff(0), Duration::from_millis(100));
        assert_eq!(backoff(1), Duration::from_millis(200));
        assert_eq!(backoff(30), MAX_BACKOFF);
    }
}
