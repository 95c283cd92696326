//! The name table: every node's claims on every name, who wins a name,
//! conflicts after a partition heals, and the quorum that registering a
//! name needs (see [`PartitionPolicy`]).

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use litemap::LiteMap;
use ractor::ActorCell;
use serde::Serialize;
use tokio::time::Instant;

use super::{Deliver, GatewayState, Resolved};
use crate::error::{ClusterError, Result};
use crate::membership::{ConflictPolicy, NodeEvent, PartitionPolicy};
use crate::node::check_name;
use crate::wire::{Body, Claim};

/// A registered name as listed by [`crate::Node::members`] and
/// [`crate::Node::names`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct NameInfo {
    /// The registered name.
    pub name: String,
    /// The node that holds it.
    pub node: String,
    /// The groups it belongs to (one copy, shared by every name in the
    /// same groups).
    pub groups: Arc<[String]>,
    /// What its holder says about it ([`crate::Node::set_labels`]).
    pub labels: Labels,
}

/// The labels of a name, sorted by key: a flat sorted vector, where a
/// `BTreeMap` would take a 544-byte node for two labels in each of a
/// hundred thousand listed names, and one copy of each set of labels
/// however many names carry it (agents of one kind in the same state).
/// Serialises as a map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Labels(Arc<LiteMap<String, String>>);

impl Default for Labels {
    fn default() -> Self {
        std::iter::empty().collect()
    }
}

impl FromIterator<(String, String)> for Labels {
    fn from_iter<I: IntoIterator<Item = (String, String)>>(labels: I) -> Self {
        Self(crate::shared::labels(Arc::new(
            labels.into_iter().collect(),
        )))
    }
}

impl Labels {
    /// The value of label `key`.
    pub fn get(&self, key: &str) -> Option<&String> {
        self.0.get(key)
    }

    /// The labels, sorted by key.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &String)> {
        self.0.iter()
    }

    /// How many labels there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Serialize for Labels {
    fn serialize<S: serde::Serializer>(
        &self,
        serializer: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter())
    }
}

impl NameInfo {
    fn of(node: &str, claim: &Claim) -> Self {
        Self {
            name: claim.name.to_string(),
            node: node.to_owned(),
            groups: Arc::clone(&claim.groups),
            labels: claim.labels.clone(),
        }
    }
}

/// What a name is registered with besides its target: its groups, its
/// first labels and its epoch (see [`Hosting`](crate::Hosting)).
#[derive(Debug, Clone, Default)]
pub(crate) struct Listing {
    pub(crate) groups: Arc<[String]>,
    pub(crate) labels: Labels,
    pub(crate) epoch: u64,
}

impl Listing {
    /// Refuses an empty or oversized group ([`check_name`]) or labels over
    /// [`MAX_LABEL_BYTES`], for the name `name`.
    pub(crate) fn check(&self, name: &str) -> Result<()> {
        check_listed(name, &self.groups, &self.labels)
    }
}

/// Refuses an empty or oversized group or labels over
/// [`MAX_LABEL_BYTES`], for the name `name`: a claim's rules besides its
/// name.
fn check_listed(name: &str, groups: &[String], labels: &Labels) -> Result<()> {
    for group in groups {
        check_name(group)?;
    }
    check_labels(name, labels.iter())
}

/// A change in the cluster's name table, as one node applies it
/// ([`crate::Node::watch_names`]).
///
/// Serialises to one JSON object tagged by `event`, e.g.
/// `{"event":"name_registered","name":"svc","node":"b","groups":[],"labels":{}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
#[non_exhaustive]
pub enum NameEvent {
    /// A name was registered, moved to another holder, or its groups or
    /// labels changed: how it is now.
    NameRegistered(NameInfo),
    /// A name is no longer registered anywhere (released, its actor
    /// stopped, or its node gone).
    NameUnregistered {
        /// The name.
        name: String,
        /// The node that held it.
        node: String,
    },
}

/// The most bytes of labels (keys and values together) one name may carry:
/// they travel with the name to every node.
pub const MAX_LABEL_BYTES: usize = 4096;

/// Refuses labels of `name` over [`MAX_LABEL_BYTES`], keys and values
/// together.
fn check_labels<'a>(
    name: &str,
    labels: impl IntoIterator<Item = (&'a String, &'a String)>,
) -> Result<()> {
    let bytes: usize = labels.into_iter().map(|(k, v)| k.len() + v.len()).sum();
    if bytes > MAX_LABEL_BYTES {
        return Err(ClusterError::InvalidName {
            name: name.chars().take(64).collect(),
            reason: format!(
                "labels are at most {MAX_LABEL_BYTES} bytes per name; these are {bytes} bytes"
            ),
        });
    }
    Ok(())
}

/// Refuses a peer's claim that this node would not make for a name of its
/// own: an empty or oversized name or group ([`check_name`]), or labels
/// over [`MAX_LABEL_BYTES`]. Pure, so that the fuzz targets check claims as
/// the gateway does.
pub(crate) fn check_claim(claim: &Claim) -> Result<()> {
    check_name(&claim.name)?;
    check_listed(&claim.name, &claim.groups, &claim.labels)
}

/// The claims of a peer's hello or registration that this node takes:
/// those that pass [`check_claim`]. The others are dropped and logged (a
/// peer of this build never sends one: its own node refuses them).
pub(super) fn admitted(from: &str, claims: Vec<Claim>) -> Vec<Claim> {
    claims
        .into_iter()
        .filter(|claim| match check_claim(claim) {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(%from, "claim refused: {e}");
                false
            }
        })
        .collect()
}

/// A member of the cluster, up or not.
pub(super) struct Member {
    pub(super) started: u64,
    /// Since when it is down, if it is.
    pub(super) down_since: Option<Instant>,
}

/// Of several nodes' claims on one name, the one that holds it: the
/// highest epoch (an actor failed over to another node outranks the
/// instance it replaced), then the smallest node name.
fn best(claims: &LiteMap<Arc<str>, Claim>) -> Option<(&Arc<str>, &Claim)> {
    claims
        .iter()
        .max_by(|(a, ca), (b, cb)| ca.epoch.cmp(&cb.epoch).then_with(|| b.cmp(a)))
}

impl GatewayState {
    pub(super) fn winner(&self, name: &str) -> Option<(&Arc<str>, &Claim)> {
        self.claims.get(name).and_then(best)
    }

    pub(super) fn local_claims(&self) -> Vec<Claim> {
        self.claims
            .values()
            .filter_map(|c| c.get(self.node.as_str()).cloned())
            .collect()
    }

    /// How `name` is held now, as listed.
    fn held(&self, name: &str) -> Option<NameInfo> {
        self.winner(name)
            .map(|(node, claim)| NameInfo::of(node, claim))
    }

    /// Tells name watchers what became of `name`, held as `before` until
    /// now, if anything did.
    fn announce(&self, name: &str, before: Option<NameInfo>) {
        let now = self.held(name);
        if now == before {
            return;
        }
        if let Some(was) = &before {
            if now.as_ref().is_none_or(|now| now.node != was.node) {
                // `Ref`s that found it on `was.node` must ask the gateway.
                self.plane().moved();
            }
        }
        let event = match (now, before) {
            (Some(info), _) => NameEvent::NameRegistered(info),
            (None, Some(was)) => NameEvent::NameUnregistered {
                name: was.name,
                node: was.node,
            },
            (None, None) => return,
        };
        let _ = self.names.send(event);
    }

    pub(super) fn add_claim(&mut self, node: &str, mut claim: Claim) {
        // One copy of each list, however many names carry it (a peer's
        // claims arrive each with its own).
        // Labels are shared as they are built (`Labels: FromIterator`).
        claim.accepts = crate::shared::list(claim.accepts);
        claim.groups = crate::shared::list(claim.groups);
        let before = self.held(&claim.name);
        let name = claim.name.clone();
        self.insert_claim(node, claim);
        self.announce(&name, before);
    }

    fn insert_claim(&mut self, node: &str, claim: Claim) {
        let name = claim.name.clone();
        // Nearly every name has one claim: room for one, not a vector's
        // default four (480 bytes a name).
        let claims = self
            .claims
            .entry(name.clone())
            .or_insert_with(|| LiteMap::with_capacity(1));
        let holder = if node == self.node {
            Arc::clone(&self.node_shared)
        } else {
            crate::shared::node(node)
        };
        claims.insert(holder, claim);
        if claims.len() > 1 {
            let winner = best(claims).map(|(n, _)| n.to_string()).unwrap_or_default();
            tracing::warn!(%name, %winner, contenders = ?claims.keys().collect::<Vec<_>>(), "name claimed by several nodes; the highest epoch, then the smallest node name, wins");
            let lost = winner != self.node && claims.contains_key(self.node.as_str());
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
        let Some(target) = self.plane().remove_local(name) else {
            return;
        };
        self.broadcast(Body::Unregistered {
            name: name.to_owned(),
        });
        // A passivated server has no actor to stop: its host decides.
        let cell = target.cell();
        let stopped =
            self.conflicts == ConflictPolicy::Stop && target.stop_on_conflict() && cell.is_some();
        if let Some(cell) = cell.filter(|_| stopped) {
            cell.stop(Some(format!("name_conflict: `{name}` is held by {winner}")));
        }
        self.emit(NodeEvent::NameConflict {
            name: name.to_owned(),
            winner: winner.to_owned(),
            stopped,
        });
    }

    pub(super) fn remove_claim(&mut self, node: &str, name: &str) {
        let before = self.held(name);
        if let Some(claims) = self.claims.get_mut(name) {
            claims.remove(node);
            if claims.is_empty() {
                self.claims.remove(name);
            }
        }
        self.announce(name, before);
    }

    /// Removes every claim `node` holds; how many there were.
    pub(super) fn remove_claims_of(&mut self, node: &str) -> usize {
        let names: Vec<Arc<str>> = self
            .claims
            .iter()
            .filter(|(_, c)| c.contains_key(node))
            .map(|(n, _)| n.clone())
            .collect();
        for name in &names {
            self.remove_claim(node, name);
        }
        names.len()
    }

    /// Takes the claims of a peer's hello.
    pub(super) fn replace_claims(&mut self, from: &str, claims: Vec<Claim>) {
        // A hello lists every name the sender holds: forget the ones
        // it no longer does (it may have been away meanwhile).
        let listed: HashSet<&str> = claims.iter().map(|c| &*c.name).collect();
        let held: Vec<Arc<str>> = self
            .claims
            .iter()
            .filter(|(name, c)| c.contains_key(from) && !listed.contains(&***name))
            .map(|(name, _)| name.clone())
            .collect();
        for name in held {
            self.remove_claim(from, &name);
        }
        for claim in claims {
            self.add_claim(from, claim);
        }
    }

    /// Registers `target` under `name` on this node (see
    /// [`GatewayMsg::Register`](super::GatewayMsg::Register)).
    pub(super) fn register(
        &mut self,
        name: Arc<str>,
        listing: Listing,
        target: Arc<dyn Deliver>,
    ) -> Result<()> {
        let Listing {
            groups,
            labels,
            epoch,
        } = listing;
        // A passivating server's target outlives its actors: registered
        // again (by an incarnation after a failure), it is already here.
        if self
            .plane()
            .local(&name)
            .is_some_and(|held| std::ptr::addr_eq(Arc::as_ptr(&held), Arc::as_ptr(&target)))
        {
            self.watch_holder(&name, target.as_ref());
            return Ok(());
        }
        // A restarted actor re-registers before the old incarnation's
        // termination reaches us: a dead holder gives way.
        let stopping = |t: &dyn Deliver| {
            t.cell()
                .is_some_and(|c| c.get_status() >= ractor::ActorStatus::Stopping)
        };
        if self.plane().local(&name).is_some_and(|t| stopping(&*t)) {
            self.plane().remove_local(&name);
            let node = self.node.clone();
            self.remove_claim(&node, &name);
        }
        if let Some((node, _)) = self.winner(&name) {
            Err(ClusterError::NameTaken {
                name: name.to_string(),
                node: node.to_string(),
            })
        } else if let Err(e) = self.require_quorum() {
            Err(e)
        } else {
            let claim = Claim {
                name: Arc::clone(&name),
                accepts: target.accepts(),
                groups,
                labels,
                epoch,
            };
            let node = self.node.clone();
            self.add_claim(&node, claim.clone());
            // New here: its holder cannot list it yet (no search, which
            // one actor holding many names would make quadratic).
            if let Some(cell) = target.cell() {
                self.held_by
                    .entry(cell.get_id())
                    .or_default()
                    .push(Arc::clone(&name));
            }
            self.plane().insert_local(name, target);
            self.broadcast(Body::Registered(claim));
            Ok(())
        }
    }

    /// Replaces the labels of `name`, registered on this node, and tells
    /// every peer.
    pub(super) fn set_labels(
        &mut self,
        name: &str,
        labels: BTreeMap<String, String>,
    ) -> Result<()> {
        check_labels(name, &labels)?;
        self.update_claim(name, |claim| claim.labels = labels.into_iter().collect())
    }

    /// Adds `name`, registered on this node, to `group` (`join`) or takes
    /// it out, and tells every peer.
    pub(super) fn set_group(&mut self, name: &str, group: &str, join: bool) -> Result<()> {
        self.update_claim(name, |claim| {
            let others = claim.groups.iter().filter(|g| *g != group).cloned();
            let joined = join.then(|| group.to_owned());
            claim.groups = crate::shared::list_of(others.chain(joined));
        })
    }

    /// Changes this node's claim on `name` with `change` and, if it
    /// changed, tells every peer.
    fn update_claim(&mut self, name: &str, change: impl FnOnce(&mut Claim)) -> Result<()> {
        let mine = self
            .claims
            .get(name)
            .and_then(|c| c.get(self.node.as_str()))
            .filter(|_| self.plane().is_local(name))
            .cloned();
        let Some(mut claim) = mine else {
            return Err(ClusterError::UnknownName(name.to_owned()));
        };
        let before = claim.clone();
        change(&mut claim);
        if claim == before {
            return Ok(());
        }
        let node = self.node.clone();
        self.add_claim(&node, claim.clone());
        self.broadcast(Body::Registered(claim));
        Ok(())
    }

    /// The names in `group`, by the node that holds them.
    pub(super) fn members_by_node(
        &self,
        group: &str,
    ) -> std::collections::BTreeMap<String, Vec<String>> {
        let mut by_node: std::collections::BTreeMap<String, Vec<String>> = Default::default();
        for (node, claim) in self.claims.values().filter_map(best) {
            if claim.groups.iter().any(|g| g == group) {
                by_node
                    .entry(node.to_string())
                    .or_default()
                    .push(claim.name.to_string());
            }
        }
        by_node
    }

    /// Releases `name`, registered on this node.
    pub(super) fn unregister(&mut self, name: String) -> Result<()> {
        if self.plane().remove_local(&name).is_some() {
            let node = self.node.clone();
            self.remove_claim(&node, &name);
            self.broadcast(Body::Unregistered { name });
            Ok(())
        } else {
            Err(ClusterError::UnknownName(name))
        }
    }

    /// Resolves each of `names`, in order.
    pub(super) fn lookup(&self, names: &[String]) -> Vec<Option<Resolved>> {
        names
            .iter()
            .map(|name| {
                let (node, claim) = self.winner(name)?;
                if **node == *self.node {
                    self.plane().local(name).map(Resolved::Local)
                } else {
                    Some(Resolved::Remote {
                        node: Arc::clone(node),
                        accepts: claim.accepts.clone(),
                        moves: self.plane().moves(),
                    })
                }
            })
            .collect()
    }

    /// The names registered in the cluster (those of `group`, if given),
    /// sorted.
    pub(super) fn names(&self, group: Option<String>) -> Vec<NameInfo> {
        let mut list: Vec<NameInfo> = self
            .claims
            .values()
            .filter_map(best)
            .filter(|(_, claim)| group.as_ref().is_none_or(|g| claim.groups.contains(g)))
            .map(|(node, claim)| NameInfo::of(node, claim))
            .collect();
        list.sort_by(|a, b| a.name.cmp(&b.name));
        list
    }

    /// Notes which actor holds `name` now.
    fn watch_holder(&mut self, name: &Arc<str>, target: &dyn Deliver) {
        if let Some(cell) = target.cell() {
            let names = self.held_by.entry(cell.get_id()).or_default();
            if !names.contains(name) {
                names.push(Arc::clone(name));
            }
        }
    }

    /// An actor of this process stopped: the names it held are released
    /// (not those of a server that passivated: it sleeps in its target).
    pub(super) fn actor_stopped(&mut self, cell: &ActorCell) {
        let id = cell.get_id();
        let Some(names) = self.held_by.remove(&id) else {
            return;
        };
        for name in names {
            let held = self
                .plane()
                .local(&name)
                .is_some_and(|t| t.cell().is_some_and(|c| c.get_id() == id));
            if held {
                self.release_local(&name);
            }
        }
    }

    /// Releases `name`, held here, on every node.
    fn release_local(&mut self, name: &str) {
        self.plane().remove_local(name);
        let node = self.node.clone();
        self.remove_claim(&node, name);
        self.broadcast(Body::Unregistered {
            name: name.to_owned(),
        });
        tracing::debug!(%name, "registered actor stopped; name released");
    }

    /// A passivated server registered as `name` woke: its new actor holds
    /// the name (or, already stopped again, releases it).
    pub(super) fn rebind(&mut self, name: &str) {
        let Some(target) = self.plane().local(name) else {
            return;
        };
        match target.cell() {
            Some(cell) if cell.get_status() == ractor::ActorStatus::Stopped => {
                self.release_local(name);
            }
            Some(_) => {
                // The claim's copy of the name, not a new one.
                let name = match self.claims.get_key_value(name) {
                    Some((shared, _)) => Arc::clone(shared),
                    None => Arc::from(name),
                };
                self.watch_holder(&name, target.as_ref());
            }
            None => {}
        }
    }

    /// The passivated server registered as `name` was dropped asleep: its
    /// target (at address `target`) releases the name if it holds it (not
    /// if another server holds it, one whose start refused this one).
    pub(super) fn release_dormant(&mut self, name: &str, target: usize) {
        let holds = self
            .plane()
            .local(name)
            .is_some_and(|t| t.cell().is_none() && Arc::as_ptr(&t).cast::<()>() as usize == target);
        if holds {
            self.release_local(name);
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
    pub(super) fn quorum(&self) -> Result<()> {
        // Counted, not listed: every registration asks.
        let seen = 1 + self.peers.values().filter(|p| p.up).count();
        let known = self.members.len() + 1;
        let sees = |node: &str| node == self.node || self.peers.get(node).is_some_and(|p| p.up);
        let ok = match self.partitions {
            PartitionPolicy::KeepMajority => {
                let smallest = self
                    .members
                    .keys()
                    .next()
                    .map_or(self.node.as_str(), |m| m.as_str().min(self.node.as_str()));
                2 * seen > known || (2 * seen == known && sees(smallest))
            }
            PartitionPolicy::StaticQuorum(n) => seen >= n,
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
                visible: self.visible(),
                known,
            })
        }
    }

    /// [`quorum`](Self::quorum), for what needs the cluster: a node still
    /// forming (it never had a quorum) is not held back; the conflict rule
    /// settles the names it registers meanwhile.
    pub(super) fn require_quorum(&self) -> Result<()> {
        if self.ever_quorate {
            self.quorum()
        } else {
            Ok(())
        }
    }

    /// Tells subscribers when this node loses or regains its quorum.
    pub(super) fn check_quorum(&mut self) {
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MAX_NAME_BYTES;

    fn claim(name: &str, groups: &[&str], labels: &[(&str, &str)]) -> Claim {
        Claim {
            name: name.into(),
            accepts: Arc::from([]),
            groups: groups.iter().map(|g| (*g).to_owned()).collect(),
            labels: labels
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            epoch: 0,
        }
    }

    #[test]
    fn a_peers_claim_keeps_to_the_rules_of_this_nodes_own_names() {
        let long = "n".repeat(MAX_NAME_BYTES + 1);
        let big = "v".repeat(MAX_LABEL_BYTES);
        let at_limit = "v".repeat(MAX_LABEL_BYTES - 1);
        assert!(check_claim(&claim("svc", &["g"], &[("k", "v")])).is_ok());
        assert!(check_claim(&claim(&long[1..], &[], &[("k", &at_limit)])).is_ok());
        for bad in [
            claim("", &[], &[]),
            claim(&long, &[], &[]),
            claim("svc", &["g", ""], &[]),
            claim("svc", &[&long], &[]),
            claim("svc", &[], &[("k", &big)]),
        ] {
            let err = check_claim(&bad).unwrap_err();
            assert!(matches!(err, ClusterError::InvalidName { .. }), "{err}");
        }
    }

    #[test]
    fn a_registration_keeps_to_the_rules_of_a_claim() {
        let listing = |groups: &[&str], labels: &[(&str, &str)]| {
            let Claim { groups, labels, .. } = claim("svc", groups, labels);
            Listing {
                groups,
                labels,
                epoch: 0,
            }
        };
        let big = "v".repeat(MAX_LABEL_BYTES);
        assert!(listing(&["g"], &[("k", "v")]).check("svc").is_ok());
        for bad in [listing(&["g", ""], &[]), listing(&[], &[("k", &big)])] {
            let err = bad.check("svc").unwrap_err();
            assert!(matches!(err, ClusterError::InvalidName { .. }), "{err}");
        }
    }

    #[test]
    fn refused_claims_are_dropped_and_the_others_kept() {
        let kept = admitted(
            "b",
            vec![
                claim("a", &[], &[]),
                claim("", &[], &[]),
                claim("c", &[], &[]),
            ],
        );
        let names: Vec<&str> = kept.iter().map(|c| &*c.name).collect();
        assert_eq!(names, ["a", "c"]);
    }
}
