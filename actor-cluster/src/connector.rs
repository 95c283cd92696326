//! Dials peers: the static seeds at start, and peers that other peers
//! announce, retrying failed connects with capped exponential backoff.

use std::collections::HashSet;
use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef, Message};
use ractor_cluster::NodeServerMessage;

const MAX_BACKOFF: Duration = Duration::from_secs(5);

#[derive(Debug)]
pub(crate) enum ConnectorMsg {
    /// Connect to this `host:port` (no-op if a dial is already under way).
    Dial(String),
    /// A scheduled retry.
    Retry(String, u32),
}

impl Message for ConnectorMsg {}

pub(crate) struct ConnectorArgs {
    pub(crate) server: String,
    pub(crate) own_addr: String,
    pub(crate) seeds: Vec<String>,
}

pub(crate) struct Connector;

pub(crate) struct ConnectorState {
    server: String,
    own_addr: String,
    /// Addresses with a retry scheduled.
    retrying: HashSet<String>,
}

impl ConnectorState {
    async fn attempt(&mut self, myself: &ActorRef<ConnectorMsg>, addr: String, attempt: u32) {
        let Some(cell) = ractor::registry::where_is(self.server.clone()) else {
            return;
        };
        let server: ActorRef<NodeServerMessage> = cell.into();
        match ractor_cluster::client_connect(&server, addr.as_str()).await {
            Ok(()) => {
                self.retrying.remove(&addr);
                tracing::debug!(%addr, "connected; handshake under way");
            }
            Err(e) => {
                let delay = backoff(attempt);
                if attempt == 0 || attempt % 10 == 0 {
                    tracing::warn!(%addr, attempt, "cannot connect ({e}); retrying in {delay:?}");
                }
                self.retrying.insert(addr.clone());
                myself.send_after(delay, move || ConnectorMsg::Retry(addr, attempt + 1));
            }
        }
    }
}

fn backoff(attempt: u32) -> Duration {
    let base = Duration::from_millis(100).saturating_mul(1 << attempt.min(6));
    base.min(MAX_BACKOFF)
}

impl Actor for Connector {
    type Msg = ConnectorMsg;
    type State = ConnectorState;
    type Arguments = ConnectorArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<ConnectorMsg>,
        args: ConnectorArgs,
    ) -> Result<ConnectorState, ActorProcessingErr> {
        for seed in args.seeds {
            myself.send_message(ConnectorMsg::Dial(seed))?;
        }
        Ok(ConnectorState {
            server: args.server,
            own_addr: args.own_addr,
            retrying: HashSet::new(),
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<ConnectorMsg>,
        msg: ConnectorMsg,
        state: &mut ConnectorState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            ConnectorMsg::Dial(addr) => {
                if addr != state.own_addr && !state.retrying.contains(&addr) {
                    state.attempt(&myself, addr, 0).await;
                }
            }
            ConnectorMsg::Retry(addr, attempt) => state.attempt(&myself, addr, attempt).await,
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_caps() {
        assert_eq!(backoff(0), Duration::from_millis(100));
        assert_eq!(backoff(1), Duration::from_millis(200));
        assert_eq!(backoff(30), MAX_BACKOFF);
    }
}
