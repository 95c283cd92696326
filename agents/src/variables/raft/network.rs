//! openraft's network over the cluster layer: each RPC is a
//! [`Ref::ask`] to the target's `variables-raft@<node>` server, with the
//! deadline openraft gives.
//!
//! Cluster errors become openraft's network errors: a deadline that
//! passed is a [`Timeout`]; a node that is down, a server that is not
//! registered (yet, or any more) or a stopped local node is
//! [`Unreachable`] (openraft then backs off before trying that target
//! again); anything else (an encoding defect) is a [`NetworkError`].

use std::time::Duration;

use actor_cluster::{ClusterError, Message, Node, Ref};
use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Timeout, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::RPCTypes;

use super::wire::{AppendEntries, InstallSnapshot, RequestVote};
use super::{raft_server, Member, TypeConfig};

/// Makes a [`Peer`] for each target openraft replicates to.
#[derive(Debug, Clone)]
pub(crate) struct Network {
    node: Node,
    id: u64,
}

impl Network {
    /// The network of the node `node`, whose Raft id is `id`.
    pub(crate) fn new(node: Node, id: u64) -> Self {
        Self { node, id }
    }
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = Peer;

    async fn new_client(&mut self, target: u64, member: &Member) -> Peer {
        Peer {
            node: self.node.clone(),
            id: self.id,
            target,
            name: raft_server(&member.name),
            server: None,
        }
    }
}

/// The way to one target's Raft server.
#[derive(Debug)]
pub(crate) struct Peer {
    node: Node,
    id: u64,
    target: u64,
    name: String,
    /// Found on first use; it follows the name if the server restarts.
    server: Option<Ref>,
}

type RpcResult<T, E = openraft::error::Infallible> =
    Result<T, RPCError<u64, Member, RaftError<u64, E>>>;

impl Peer {
    /// Asks the target's server `msg` within `timeout`, and maps both the
    /// cluster's error and the remote Raft's refusal to openraft's.
    async fn call<M, T, E>(
        &mut self,
        action: RPCTypes,
        msg: M,
        timeout: Duration,
    ) -> RpcResult<T, E>
    where
        M: Message<Reply = Result<T, RaftError<u64, E>>>,
        E: std::error::Error,
    {
        let server = match &self.server {
            Some(server) => server.clone(),
            None => {
                let server = self
                    .node
                    .lookup(&self.name)
                    .await
                    .map_err(|e| self.cluster_error(action, timeout, e))?;
                self.server = Some(server.clone());
                server
            }
        };
        match server.ask(msg, timeout).await {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(refused)) => Err(RPCError::RemoteError(RemoteError::new(
                self.target,
                refused,
            ))),
            Err(e) => Err(self.cluster_error(action, timeout, e)),
        }
    }

    fn cluster_error<E: std::error::Error>(
        &self,
        action: RPCTypes,
        timeout: Duration,
        error: ClusterError,
    ) -> RPCError<u64, Member, E> {
        rpc_error(self.id, self.target, action, timeout, error)
    }
}

/// openraft's error for the cluster's `error` on an RPC `action` from `id`
/// to `target` (see the module docs).
fn rpc_error<E: std::error::Error>(
    id: u64,
    target: u64,
    action: RPCTypes,
    timeout: Duration,
    error: ClusterError,
) -> RPCError<u64, Member, E> {
    match error {
        ClusterError::Timeout { .. } => RPCError::Timeout(Timeout {
            action,
            id,
            target,
            timeout,
        }),
        ClusterError::NodeGone { .. }
        | ClusterError::UnknownName(_)
        | ClusterError::NoReply { .. }
        | ClusterError::NodeStopped => RPCError::Unreachable(Unreachable::new(&error)),
        _ => RPCError::Network(NetworkError::new(&error)),
    }
}

impl RaftNetwork<TypeConfig> for Peer {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<AppendEntriesResponse<u64>> {
        self.call(
            RPCTypes::AppendEntries,
            AppendEntries(rpc),
            option.hard_ttl(),
        )
        .await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<InstallSnapshotResponse<u64>, InstallSnapshotError> {
        self.call(
            RPCTypes::InstallSnapshot,
            InstallSnapshot(rpc),
            option.hard_ttl(),
        )
        .await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<u64>,
        option: RPCOption,
    ) -> RpcResult<VoteResponse<u64>> {
        self.call(RPCTypes::Vote, RequestVote(rpc), option.hard_ttl())
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mapped(error: ClusterError) -> RPCError<u64, Member> {
        rpc_error(1, 2, RPCTypes::Vote, Duration::from_millis(300), error)
    }

    #[test]
    fn cluster_errors_become_openraft_network_errors() {
        let timeout = ClusterError::Timeout {
            name: "variables-raft@n2".into(),
            timeout: Duration::from_millis(300),
        };
        assert!(matches!(
            mapped(timeout),
            RPCError::Timeout(Timeout {
                id: 1,
                target: 2,
                ..
            })
        ));
        let gone = ClusterError::NodeGone {
            node: "n2".into(),
            name: "variables-raft@n2".into(),
        };
        assert!(matches!(mapped(gone), RPCError::Unreachable(_)));
        let unknown = ClusterError::UnknownName("variables-raft@n2".into());
        assert!(matches!(mapped(unknown), RPCError::Unreachable(_)));
        let garbled = ClusterError::Decode {
            name: "variables-raft@n2".into(),
            reason: "bad".into(),
        };
        assert!(matches!(mapped(garbled), RPCError::Network(_)));
    }
}
