//! Where agents run: kinds registered by name on every node, started on a
//! node of the caller's choice ([`Agents::spawn_on`]) or on the node a
//! consistent-hash ring gives a key ([`Agents::spawn_for_key`]), under
//! placement constraints ([`Placement`]). Plain actors (any `Server`) have
//! kinds too ([`Agents::register_actor_kind`], [`Agents::spawn_actor_on`],
//! [`Agents::spawn_actor_for_key`]).
//!
//! # The ring
//!
//! Every node that runs [`Agents`] (its lifecycle manager `agents@<node>`
//! is registered) is a member of the ring, with 64 virtual points: the
//! FNV-1a hash of `<node>#<i>`, mixed by splitmix64's finalizer. A key's
//! owner is the first member clockwise from the key's hash that meets the
//! placement's constraints. Every node computes the same ring from its copy
//! of the name table, so every node names the same owner once their tables
//! agree; a node joining takes about 1/n of the keys, a node leaving
//! hands its keys to the next points clockwise.
//!
//! # Rebalancing: none; failover: to the ring's next live node
//!
//! An agent stays on the node that started it while that node is up. When
//! members join, a key's owner may change, and [`Agents::spawn_for_key`]
//! for a key whose agent already runs answers that agent, wherever it is,
//! rather than start a second one: nothing moves, and no agent runs
//! twice. When a node goes down, its agents started from a kind with a
//! permanent or transient policy move to the owner of their id among the
//! live members, with their last replicated state where they copy it (see
//! [`Replication`](crate::Replication)). An agent started by
//! [`Agents::spawn_for_key`] keeps its key and its [`Placement`] through
//! every move: it goes to the ring's owner of its key among the live
//! members that meet the constraints, judged from the surviving holder's
//! copy of the name table (where the other agents run, each node's
//! attributes and load before the move). An agent whose constraints no
//! live member meets is not started anywhere: its holders keep its record
//! and place it when the ring's members or their attributes next change
//! (a node joins, or sets attributes that fit). Other agents go to the
//! ring's owner of their id among the live members.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use actor_cluster::{ClusterError, NameInfo, Node, Ref, Server};
use actor_core::{Restart, Supervisor};
use futures::FutureExt;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_bytes::ByteBuf;

use crate::agent::{Agent, AGENT_PREFIX};
use crate::error::{AgentError, Result};
use crate::lifecycle::manager::{is_manager, manager_name, Control, Refused, MANAGERS_GROUP};
use crate::lifecycle::replica::{Origin, Placed};
use crate::lifecycle::{start_agent, AgentSpec, Kind, Start, Started};
use crate::system::{AgentRef, Agents, CONTROL_TIMEOUT};

/// Virtual points per member on the ring.
const POINTS: u32 = 64;
/// The label prefix of a node's attributes, on its manager's name.
const ATTRIBUTE: &str = "node.";

/// Constraints on where an agent may run ([`Agents::spawn_for_key`]).
///
/// ```
/// use agents::Placement;
///
/// // In zone eu, on a node running fewer than 100 agents, and not next to
/// // the agents `db-primary` or `db-replica` (anti-affinity).
/// let placement = Placement::new()
///     .require("zone", "eu")
///     .capacity(100)
///     .apart_from(["db-primary", "db-replica"]);
/// # let _ = placement;
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Placement {
    required: BTreeMap<String, String>,
    capacity: Option<usize>,
    apart_from: BTreeSet<String>,
}

impl Placement {
    /// Anywhere.
    pub fn new() -> Self {
        Self::default()
    }

    /// Only on nodes whose attribute `key` is `value`
    /// ([`Agents::set_attributes`]).
    #[must_use]
    pub fn require(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.required.insert(key.into(), value.into());
        self
    }

    /// Only on nodes running fewer than `agents` agents.
    #[must_use]
    pub fn capacity(self, agents: usize) -> Self {
        Self {
            capacity: Some(agents),
            ..self
        }
    }

    /// Not on a node that runs any of these agents.
    #[must_use]
    pub fn apart_from(mut self, agents: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.apart_from.extend(agents.into_iter().map(Into::into));
        self
    }
}

/// The arguments of kind `kind`, decoded from what the caller sent.
fn decode_args<Args: DeserializeOwned>(kind: &str, bytes: &[u8]) -> Result<Args> {
    rmp_serde::from_slice(bytes).map_err(|e| {
        AgentError::InvalidParameters(crate::InvalidParameter::Other(format!(
            "the arguments of kind `{kind}` do not decode: {e}"
        )))
    })
}

/// A member of the ring: a node running [`Agents`], with its attributes.
#[derive(Debug, Clone)]
struct Member {
    node: String,
    attributes: BTreeMap<String, String>,
}

impl Agents {
    /// Registers agent kind `kind` on this node: `make` builds the agent's
    /// spec from its arguments, which arrive encoded from whichever node
    /// asks ([`spawn_on`](Self::spawn_on)), or refuses them (its error is
    /// the caller's). Register the same kinds on every node that is to run
    /// them. Registering a kind again replaces it.
    pub fn register_kind<A, Args, F>(&self, kind: &str, make: F)
    where
        A: Agent,
        Args: DeserializeOwned + Send + 'static,
        F: Fn(Args) -> Result<AgentSpec<A>> + Send + Sync + 'static,
    {
        let make = Arc::new(make);
        let kind_name = kind.to_owned();
        let start = Arc::new(move |start: Start, node, supervisor| {
            let make = Arc::clone(&make);
            let kind = kind_name.clone();
            async move {
                let args: Args = decode_args(&kind, &start.args)?;
                let mut spec = make(args)?;
                spec.origin = Some(Origin {
                    kind,
                    args: ByteBuf::from(start.args),
                    placed: start.placed,
                });
                spec.resume = start.resume;
                start_agent(&node, &supervisor, spec)
                    .await
                    .map(|tracking| Started::Agent(Box::new(tracking)))
            }
            .boxed()
        });
        self.kinds.insert(
            kind,
            Kind {
                actor: false,
                start,
            },
        );
    }

    /// Registers actor kind `kind` on this node: a plain actor (any
    /// [`Server`]) that [`spawn_actor_on`](Self::spawn_actor_on) starts on
    /// whichever node is asked. `make` answers, from the arguments, the
    /// name to serve the actor under and its initial state, or refuses
    /// them (its error is the caller's). The actor runs under this node's
    /// agent supervisor, which restarts it (permanent) from a clone of
    /// that initial state; it is not moved when its node goes down (an
    /// agent is, see the module docs). Register the same kinds on every
    /// node that is to run them. Registering a kind again replaces it.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use actor_cluster::{Accepts, Handler, Message, Node, Server};
    /// # use agents::Agents;
    /// #[derive(Clone)]
    /// struct Counter(u64);
    ///
    /// #[derive(serde::Serialize, serde::Deserialize)]
    /// struct Add(u64);
    /// impl Message for Add {
    ///     type Reply = u64;
    ///     const TAG: &'static str = "doc.add/1";
    /// }
    /// impl Server for Counter {
    ///     fn accepts(accepts: &mut Accepts<Self>) {
    ///         accepts.add::<Add>();
    ///     }
    /// }
    /// impl Handler<Add> for Counter {
    ///     async fn handle(&mut self, Add(n): Add) -> u64 {
    ///         self.0 += n;
    ///         self.0
    ///     }
    /// }
    ///
    /// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let node = Node::builder()
    ///     .name("doc").cookie("secret").listen("127.0.0.1:0".parse()?).no_discovery()
    ///     .start().await?;
    /// let agents = Agents::start(&node).await?;
    /// // The name and the start value come from the caller's arguments.
    /// agents.register_actor_kind("counter", |(name, start): (String, u64)| {
    ///     Ok((name, Counter(start)))
    /// });
    /// let counter = agents.spawn_actor_on("doc", "counter", &("hits", 40)).await?;
    /// assert_eq!(counter.ask(Add(2), Duration::from_secs(1)).await?, 42);
    /// node.shutdown().await;
    /// # Ok(()) }
    /// ```
    pub fn register_actor_kind<S, Args, F>(&self, kind: &str, make: F)
    where
        S: Server + Clone + Send + Sync,
        Args: DeserializeOwned + Send + 'static,
        F: Fn(Args) -> Result<(String, S)> + Send + Sync + 'static,
    {
        let make = Arc::new(make);
        let kind_name = kind.to_owned();
        let start = Arc::new(move |start: Start, node: Node, supervisor: Supervisor| {
            let make = Arc::clone(&make);
            let kind = kind_name.clone();
            async move {
                let args: Args = decode_args(&kind, &start.args)?;
                let (name, first) = make(args)?;
                if let Ok(held) = node.lookup(&name).await {
                    return Err(ClusterError::NameTaken {
                        name,
                        node: held.node().unwrap_or_else(|| node.name().to_owned()),
                    }
                    .into());
                }
                let child = node
                    .server_spec(&name, Vec::<String>::new(), move || first.clone())
                    .restart(Restart::Permanent);
                supervisor.start_child(child).await?;
                tracing::info!(actor = %name, kind = %kind, node = %node.name(), "actor started");
                Ok(Started::Actor(name))
            }
            .boxed()
        });
        self.kinds.insert(kind, Kind { actor: true, start });
    }

    /// Starts an agent of kind `kind` (registered on `node` with
    /// [`register_kind`](Self::register_kind)) on node `node`, from
    /// `args`, and answers a reference to it once it is registered.
    ///
    /// # Errors
    /// [`AgentError::UnknownKind`] if `node` has no such kind;
    /// [`AgentError::Cluster`] if `node` does not run agents or cannot be
    /// reached; the start's own errors (a taken id, arguments that do not
    /// decode).
    pub async fn spawn_on<Args: Serialize>(
        &self,
        node: &str,
        kind: &str,
        args: &Args,
    ) -> Result<AgentRef> {
        let id = self.start_on(node, kind, args, false, None).await?;
        self.find(&id).await
    }

    /// Starts an actor of kind `kind` (registered on `node` with
    /// [`register_actor_kind`](Self::register_actor_kind)) on node `node`,
    /// from `args`, and answers a reference to it once it is registered.
    ///
    /// # Errors
    /// As [`spawn_on`](Self::spawn_on); the actor's name taken is
    /// [`AgentError::Spawn`] naming the node that holds it.
    pub async fn spawn_actor_on<Args: Serialize>(
        &self,
        node: &str,
        kind: &str,
        args: &Args,
    ) -> Result<Ref> {
        let name = self.start_on(node, kind, args, true, None).await?;
        Ok(self.node().lookup(&name).await?)
    }

    /// The actor named `name`: if it runs already, anywhere, a reference
    /// to it; otherwise it is started from `args`, as actor kind `kind`,
    /// on the node the ring gives `key` under `placement`. The kind must
    /// serve it as `name`, so that a second call finds it.
    ///
    /// # Errors
    /// As [`owner_of`](Self::owner_of) and
    /// [`spawn_actor_on`](Self::spawn_actor_on).
    pub async fn spawn_actor_for_key<Args: Serialize>(
        &self,
        key: &str,
        name: &str,
        kind: &str,
        args: &Args,
        placement: &Placement,
    ) -> Result<Ref> {
        if let Ok(running) = self.node().lookup(name).await {
            return Ok(running);
        }
        let node = self.owner_of(key, placement).await?;
        match self.spawn_actor_on(&node, kind, args).await {
            // Refused because another caller started it meanwhile: that one.
            Err(refused) => self.node().lookup(name).await.map_err(|_| refused),
            started => started,
        }
    }

    /// Asks `node`'s manager to start kind `kind` (an actor kind if
    /// `actor`) from `args`, placed by a key if `placed`; answers the
    /// agent's id or the actor's name.
    async fn start_on<Args: Serialize>(
        &self,
        node: &str,
        kind: &str,
        args: &Args,
        actor: bool,
        placed: Option<Placed>,
    ) -> Result<String> {
        let bytes = rmp_serde::to_vec_named(args).map_err(|e| {
            AgentError::InvalidParameters(crate::InvalidParameter::Other(format!(
                "the arguments of kind `{kind}` do not encode: {e}"
            )))
        })?;
        let manager = self.node().lookup(&manager_name(node)).await?;
        let spawn = Control::Spawn {
            kind: kind.to_owned(),
            args: ByteBuf::from(bytes),
            actor,
            placed,
        };
        match manager.ask(spawn, CONTROL_TIMEOUT).await? {
            Ok(started) => Ok(started),
            Err(Refused::UnknownKind(kind)) => Err(AgentError::UnknownKind {
                kind,
                node: node.to_owned(),
            }),
            // A spawn names no agent: `Unknown` does not come back from it.
            Err(refused) => {
                let reason = match refused {
                    Refused::Cannot(reason) => reason,
                    other => format!("{other:?}"),
                };
                Err(AgentError::Spawn {
                    kind: kind.to_owned(),
                    node: node.to_owned(),
                    reason,
                })
            }
        }
    }

    /// The node the ring gives `key` under `placement` (see the module
    /// docs), from this node's copy of the name table.
    ///
    /// # Errors
    /// [`AgentError::NoPlacement`] if no member meets the constraints.
    pub async fn owner_of(&self, key: &str, placement: &Placement) -> Result<String> {
        let names = self.node().names().await?;
        placed_owner(key, placement, &names)
    }

    /// The agent for `key`: if the agent `id_of(key)` runs already,
    /// anywhere, a reference to it; otherwise it is started from `args`,
    /// as kind `kind`, on the node the ring gives `key` under `placement`.
    /// The agent's id must be `id_of(key)` (the factory's `Agent::id`), so
    /// that a second call finds it.
    ///
    /// # Errors
    /// As [`owner_of`](Self::owner_of) and [`spawn_on`](Self::spawn_on).
    pub async fn spawn_for_key<Args: Serialize>(
        &self,
        key: &str,
        id: &str,
        kind: &str,
        args: &Args,
        placement: &Placement,
    ) -> Result<AgentRef> {
        if let Ok(running) = self.find(id).await {
            return Ok(running);
        }
        let node = self.owner_of(key, placement).await?;
        let placed = Placed {
            key: key.to_owned(),
            placement: placement.clone(),
        };
        let started = self.start_on(&node, kind, args, false, Some(placed)).await;
        match started {
            // Refused because another caller started it meanwhile: that one.
            Err(refused) => self.find(id).await.map_err(|_| refused),
            Ok(started) => self.find(&started).await,
        }
    }

    /// Sets this node's attributes (a zone, a rack, a capacity class),
    /// which [`Placement::require`] matches; they travel with the name of
    /// the node's lifecycle manager to every node.
    ///
    /// # Errors
    /// [`AgentError::Cluster`] if they exceed the labels' size limit.
    pub async fn set_attributes<K, V>(
        &self,
        attributes: impl IntoIterator<Item = (K, V)>,
    ) -> Result<()>
    where
        K: Into<String>,
        V: Into<String>,
    {
        let labels = attributes
            .into_iter()
            .map(|(k, v)| (format!("{ATTRIBUTE}{}", k.into()), v.into()));
        let node = self.node();
        Ok(node.set_labels(&manager_name(node.name()), labels).await?)
    }
}

/// The names of the lifecycle managers registered in the cluster: one per
/// node that runs [`Agents`], the members of the ring.
pub(crate) async fn managers(node: &actor_cluster::Node) -> Result<Vec<actor_cluster::NameInfo>> {
    Ok(node
        .members(MANAGERS_GROUP)
        .await?
        .into_iter()
        .filter(|info| is_manager(&info.name, &info.node))
        .collect())
}

/// The node the ring gives `key` under `placement`, from a copy of the
/// name table (`names`): the owner of `key` among the members that meet
/// the constraints, given where the agents listed there run.
///
/// # Errors
/// [`AgentError::NoPlacement`] if no member meets them.
pub(crate) fn placed_owner(key: &str, placement: &Placement, names: &[NameInfo]) -> Result<String> {
    let members: Vec<Member> = names
        .iter()
        .filter(|info| is_manager(&info.name, &info.node))
        .map(|info| Member {
            attributes: info
                .labels
                .iter()
                .filter_map(|(k, v)| Some((k.strip_prefix(ATTRIBUTE)?.to_owned(), v.clone())))
                .collect(),
            node: info.node.clone(),
        })
        .collect();
    let mut load: BTreeMap<&str, usize> = BTreeMap::new();
    let mut avoid = BTreeSet::new();
    for info in names {
        let Some(id) = info.name.strip_prefix(AGENT_PREFIX) else {
            continue;
        };
        *load.entry(info.node.as_str()).or_default() += 1;
        if placement.apart_from.contains(id) {
            avoid.insert(info.node.as_str());
        }
    }
    let fits = |m: &Member| {
        placement
            .required
            .iter()
            .all(|(k, v)| m.attributes.get(k) == Some(v))
            && placement
                .capacity
                .is_none_or(|cap| load.get(m.node.as_str()).copied().unwrap_or(0) < cap)
            && !avoid.contains(m.node.as_str())
    };
    let eligible: Vec<&str> = members
        .iter()
        .filter(|m| fits(m))
        .map(|m| m.node.as_str())
        .collect();
    owner(key, &eligible).map(str::to_owned).ok_or_else(|| {
        AgentError::NoPlacement(format!(
            "none of the {} nodes running agents meets {placement:?}",
            members.len()
        ))
    })
}

/// The owner of `key` among `nodes` on the ring; `None` if there is none.
pub(crate) fn owner<'a>(key: &str, nodes: &[&'a str]) -> Option<&'a str> {
    successors(key, nodes, 1).into_iter().next()
}

/// The first `n` distinct nodes of `nodes` clockwise from `key` on the
/// ring: its owner, then the nodes that would own it next.
pub(crate) fn successors<'a>(key: &str, nodes: &[&'a str], n: usize) -> Vec<&'a str> {
    let point = position(key.as_bytes());
    let mut points: Vec<(u64, &str)> = nodes
        .iter()
        .flat_map(|node| {
            (0..POINTS).map(move |i| (position(format!("{node}#{i}").as_bytes()), *node))
        })
        .collect();
    points.sort_unstable();
    // From the first point at or after the key's, wrapping around.
    let start = points.partition_point(|(p, _)| *p < point);
    let mut found: Vec<&str> = Vec::with_capacity(n);
    for (_, node) in points[start..].iter().chain(&points[..start]) {
        if found.len() == n {
            break;
        }
        if !found.contains(node) {
            found.push(node);
        }
    }
    found
}

/// A point on the ring: FNV-1a, mixed by splitmix64's finalizer so that
/// similar strings spread over the whole ring.
fn position(bytes: &[u8]) -> u64 {
    let mut z = crate::hash::fnv1a(bytes);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_spread_and_move_little_when_a_node_joins() {
        let three = ["a", "b", "c"];
        let four = ["a", "b", "c", "d"];
        let keys: Vec<String> = (0..3000).map(|i| format!("key-{i}")).collect();
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        let mut moved = 0;
        for key in &keys {
            let before = owner(key, &three).expect("an owner");
            *counts.entry(before).or_default() += 1;
            let after = owner(key, &four).expect("an owner");
            if before != after {
                // Only to the newcomer.
                assert_eq!(after, "d", "{key}");
                moved += 1;
            }
        }
        for (node, n) in &counts {
            assert!(
                (600..=1400).contains(n),
                "{node} owns {n} of 3000: {counts:?}"
            );
        }
        assert!((400..=1200).contains(&moved), "{moved} of 3000 moved");
        // Deterministic, and nobody owns a key of an empty ring.
        assert_eq!(owner("x", &three), owner("x", &["c", "b", "a"]));
        assert_eq!(owner("x", &[]), None);
    }

    #[test]
    fn successors_start_at_the_owner_and_are_distinct() {
        let nodes = ["a", "b", "c", "d"];
        for i in 0..500 {
            let key = format!("agent-{i}");
            let next = successors(&key, &nodes, 3);
            assert_eq!(next.len(), 3);
            assert_eq!(Some(next[0]), owner(&key, &nodes));
            let mut distinct = next.clone();
            distinct.sort_unstable();
            distinct.dedup();
            assert_eq!(distinct.len(), 3, "{key}: {next:?}");
            // Without the owner, the next one owns the key.
            let rest: Vec<&str> = nodes.iter().copied().filter(|n| *n != next[0]).collect();
            assert_eq!(owner(&key, &rest), Some(next[1]), "{key}");
        }
        assert_eq!(successors("k", &["a"], 3), vec!["a"]);
    }

    #[test]
    fn a_manager_is_known_by_its_name_and_node() {
        assert!(is_manager(&manager_name("a"), "a"));
        assert!(!is_manager(&manager_name("a"), "b"));
        assert!(!is_manager("agent/a", "a"));
    }
}
