//! [`Agents`]: the agent supervisor of one node and the cluster-wide
//! agent directory.

use std::time::Duration;

use actor_cluster::{Node, Ref};
use actor_core::{ChildSpec, Supervisor, SupervisorSpec};
use serde::{Deserialize, Serialize};

use crate::agent::{
    agent_name, answer_protocols, Agent, AGENTS_GROUP, AGENT_PREFIX, CAPABILITY_PREFIX,
};
use crate::error::{AgentError, Result};
use crate::protocols::Participants;

/// An agent as the directory lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentEntry {
    /// The agent's id.
    pub id: String,
    /// The node it runs on.
    pub node: String,
    /// Its capabilities.
    pub capabilities: Vec<String>,
}

/// A reference to an agent, wherever it runs.
pub type AgentRef = Ref;

/// The agents of one node, and the door to every agent in the cluster.
#[derive(Debug, Clone)]
pub struct Agents {
    node: Node,
    supervisor: Supervisor,
}

impl Agents {
    /// Starts this node's agent supervisor (one-for-one, under the node's
    /// supervisor).
    ///
    /// # Errors
    /// [`AgentError::Core`] if the supervisor cannot start.
    pub async fn start(node: &Node) -> Result<Self> {
        let spec = SupervisorSpec::one_for_one().intensity(10, Duration::from_secs(10));
        let cell = node
            .supervisor()
            .start_child(ChildSpec::supervisor("agents", spec))
            .await?;
        Ok(Self {
            node: node.clone(),
            supervisor: Supervisor::from_actor(cell.into()),
        })
    }

    /// The node these agents run on.
    pub fn node(&self) -> &Node {
        &self.node
    }

    /// Starts an agent under supervision; `factory` builds it again for each
    /// restart. Returns its id once it is registered cluster-wide.
    ///
    /// # Errors
    /// [`AgentError::InvalidId`], or a duplicate id here
    /// ([`AgentError::Core`]) or anywhere in the cluster ([`AgentError::Cluster`]).
    pub async fn spawn<A, F>(&self, factory: F) -> Result<String>
    where
        A: Agent,
        F: Fn() -> A + Send + Sync + 'static,
    {
        let first = factory();
        let id = first.id();
        if id.is_empty() || id.chars().any(char::is_whitespace) {
            return Err(AgentError::InvalidId(id));
        }
        let groups: Vec<String> = std::iter::once(AGENTS_GROUP.to_owned())
            .chain(
                first
                    .capabilities()
                    .into_iter()
                    .map(|c| format!("{CAPABILITY_PREFIX}{c}")),
            )
            .collect();
        let spec =
            self.node
                .server_spec_with(&agent_name(&id), groups, answer_protocols::<A>, factory);
        self.supervisor.start_child(spec).await?;
        tracing::info!(agent = %id, node = %self.node.name(), "agent ready");
        Ok(id)
    }

    /// Stops an agent of this node and removes it from the directory.
    ///
    /// # Errors
    /// [`AgentError::UnknownAgent`] if no such agent runs here.
    pub async fn stop(&self, id: &str) -> Result<()> {
        self.supervisor
            .terminate_child(&agent_name(id))
            .await
            .map_err(|_| AgentError::UnknownAgent(id.to_owned()))
    }

    /// A reference to the agent `id`, on any node.
    ///
    /// # Errors
    /// [`AgentError::UnknownAgent`] if no node runs it.
    pub async fn find(&self, id: &str) -> Result<AgentRef> {
        self.node
            .lookup(&agent_name(id))
            .await
            .map_err(|e| match e {
                actor_cluster::ClusterError::UnknownName(_) => {
                    AgentError::UnknownAgent(id.to_owned())
                }
                other => other.into(),
            })
    }

    /// Every agent in the cluster, sorted by id.
    ///
    /// # Errors
    /// [`AgentError::Cluster`] if this node is shutting down.
    pub async fn list(&self) -> Result<Vec<AgentEntry>> {
        self.entries(AGENTS_GROUP).await
    }

    /// The agents with `capability`, on any node, sorted by id.
    ///
    /// # Errors
    /// [`AgentError::Cluster`] if this node is shutting down.
    pub async fn with_capability(&self, capability: &str) -> Result<Vec<AgentEntry>> {
        self.entries(&format!("{CAPABILITY_PREFIX}{capability}"))
            .await
    }

    async fn entries(&self, group: &str) -> Result<Vec<AgentEntry>> {
        Ok(self
            .node
            .members(group)
            .await?
            .into_iter()
            .filter_map(|info| {
                let id = info.name.strip_prefix(AGENT_PREFIX)?.to_owned();
                let capabilities = info
                    .groups
                    .iter()
                    .filter_map(|g| g.strip_prefix(CAPABILITY_PREFIX).map(str::to_owned))
                    .collect();
                Some(AgentEntry {
                    id,
                    node: info.node,
                    capabilities,
                })
            })
            .collect())
    }

    /// Every agent with `capability` that can be found now, sorted by id.
    ///
    /// # Errors
    /// [`AgentError::NoParticipants`] if there is none.
    pub(crate) async fn participants(&self, capability: &str) -> Result<Participants> {
        let entries = self.with_capability(capability).await?;
        if entries.is_empty() {
            return Err(AgentError::NoParticipants(capability.to_owned()));
        }
        let names: Vec<String> = entries.iter().map(|e| agent_name(&e.id)).collect();
        let found = self.node.lookup_many(&names).await?;
        // An agent that vanished between listing and lookup is simply not invited.
        Ok(entries
            .into_iter()
            .zip(found)
            .filter_map(|(entry, agent)| Some((entry.id, agent.ok()?)))
            .collect())
    }

    /// The cell of this node's agent supervisor, to which coordinators
    /// are linked.
    pub(crate) fn supervisor_cell(&self) -> ractor::ActorCell {
        self.supervisor.actor().get_cell()
    }
}
