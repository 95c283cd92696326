//! Cluster-wide queries of the agent directory ([`Agents::query`](crate::Agents::query)).

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::agent::Value;
use crate::error::{AgentError, Result};
use crate::lifecycle::Status;
use crate::system::AgentEntry;

/// How a metadata value is compared ([`Query::meta`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Cmp {
    /// Equal to the one value.
    Eq,
    /// Not equal to the one value.
    Neq,
    /// Greater than the one number.
    Gt,
    /// Greater than or equal to the one number.
    Gte,
    /// Less than the one number.
    Lt,
    /// Less than or equal to the one number.
    Lte,
    /// Equal to one of the values.
    In,
    /// Equal to none of the values.
    NotIn,
}

impl Cmp {
    fn as_str(self) -> &'static str {
        match self {
            Cmp::Eq => "eq",
            Cmp::Neq => "neq",
            Cmp::Gt => "gt",
            Cmp::Gte => "gte",
            Cmp::Lt => "lt",
            Cmp::Lte => "lte",
            Cmp::In => "in",
            Cmp::NotIn => "not_in",
        }
    }
}

impl fmt::Display for Cmp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Cmp {
    type Err = AgentError;

    fn from_str(word: &str) -> Result<Self> {
        [
            Cmp::Eq,
            Cmp::Neq,
            Cmp::Gt,
            Cmp::Gte,
            Cmp::Lt,
            Cmp::Lte,
            Cmp::In,
            Cmp::NotIn,
        ]
        .into_iter()
        .find(|c| c.as_str() == word)
        .ok_or_else(|| {
            AgentError::InvalidQuery(format!(
                "`{word}` is not a comparison (eq, neq, gt, gte, lt, lte, in, not_in)"
            ))
        })
    }
}

/// One condition on an agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Predicate {
    /// Its id is this one.
    Id(String),
    /// Its kind is this one.
    Kind(String),
    /// It has this capability.
    Capability(String),
    /// It runs on this node.
    Node(String),
    /// It is in this status.
    Status(Status),
    /// Its metadata value `key` compares with `values` by `cmp` (an agent
    /// without `key` does not match).
    Meta {
        /// The metadata key.
        key: String,
        /// The comparison.
        cmp: Cmp,
        /// One value, or the list of `in` / `not_in`.
        values: Vec<Value>,
    },
}

/// A query of the agent directory: every predicate must hold (they are
/// ANDed; several capabilities mean all of them).
///
/// ```
/// use agents::{Cmp, Query, Status, Value};
///
/// let gpus_in_europe = Query::new()
///     .kind("Trainer")
///     .capability("gpu")
///     .status(Status::Ready)
///     .meta("zone", Cmp::In, [Value::Text("eu-west".into()), Value::Text("eu-north".into())])
///     .meta("gpus", Cmp::Gte, [Value::Int(2)]);
/// assert!(gpus_in_europe.validate().is_ok());
/// // `gt` compares numbers only: refused before anything is read.
/// let wrong = Query::new().meta("zone", Cmp::Gt, [Value::Text("eu".into())]);
/// assert!(wrong.validate().is_err());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Query {
    /// The predicates, all of which must hold.
    pub predicates: Vec<Predicate>,
}

impl Query {
    /// Every agent.
    pub fn new() -> Self {
        Self::default()
    }

    fn and(mut self, predicate: Predicate) -> Self {
        self.predicates.push(predicate);
        self
    }

    /// The agent with this id.
    #[must_use]
    pub fn id(self, id: impl Into<String>) -> Self {
        self.and(Predicate::Id(id.into()))
    }

    /// Agents of this kind ([`Agent::kind`](crate::Agent::kind)).
    #[must_use]
    pub fn kind(self, kind: impl Into<String>) -> Self {
        self.and(Predicate::Kind(kind.into()))
    }

    /// Agents with this capability (and every other one asked for).
    #[must_use]
    pub fn capability(self, capability: impl Into<String>) -> Self {
        self.and(Predicate::Capability(capability.into()))
    }

    /// Agents on this node.
    #[must_use]
    pub fn node(self, node: impl Into<String>) -> Self {
        self.and(Predicate::Node(node.into()))
    }

    /// Agents in this status.
    #[must_use]
    pub fn status(self, status: Status) -> Self {
        self.and(Predicate::Status(status))
    }

    /// Agents whose metadata value `key` compares with `values` by `cmp`:
    /// one value for `eq`, `neq`, `gt`, `gte`, `lt`, `lte` (a number for
    /// the last four; integers and floats compare as numbers), one or more
    /// for `in` and `not_in`.
    #[must_use]
    pub fn meta(
        self,
        key: impl Into<String>,
        cmp: Cmp,
        values: impl IntoIterator<Item = Value>,
    ) -> Self {
        self.and(Predicate::Meta {
            key: key.into(),
            cmp,
            values: values.into_iter().collect(),
        })
    }

    /// Checks that every predicate can be evaluated.
    ///
    /// # Errors
    /// [`AgentError::InvalidQuery`] saying which predicate and why.
    pub fn validate(&self) -> Result<()> {
        for predicate in &self.predicates {
            let Predicate::Meta { key, cmp, values } = predicate else {
                continue;
            };
            let invalid = |why: String| {
                Err(AgentError::InvalidQuery(format!(
                    "meta `{key}` {cmp}: {why}"
                )))
            };
            match cmp {
                Cmp::In | Cmp::NotIn if values.is_empty() => {
                    return invalid("needs at least one value".into())
                }
                Cmp::In | Cmp::NotIn => {}
                _ if values.len() != 1 => {
                    return invalid(format!("takes one value, not {}", values.len()))
                }
                Cmp::Gt | Cmp::Gte | Cmp::Lt | Cmp::Lte if number(&values[0]).is_none() => {
                    return invalid(format!("compares numbers, not {}", values[0]));
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Whether `agent` matches.
    pub fn matches(&self, agent: &AgentEntry) -> bool {
        self.predicates.iter().all(|p| holds(p, agent))
    }
}

fn holds(predicate: &Predicate, agent: &AgentEntry) -> bool {
    match predicate {
        Predicate::Id(id) => agent.id == *id,
        Predicate::Kind(kind) => agent.kind.as_deref() == Some(kind),
        Predicate::Capability(c) => agent.capabilities.contains(c),
        Predicate::Node(node) => agent.node == *node,
        Predicate::Status(status) => agent.status == *status,
        Predicate::Meta { key, cmp, values } => agent
            .metadata
            .get(key)
            .is_some_and(|have| compare(have, *cmp, values)),
    }
}

fn compare(have: &Value, cmp: Cmp, values: &[Value]) -> bool {
    let same = |v: &Value| order(have, v) == Some(Ordering::Equal);
    let first = values.first();
    let ordered = |want: fn(Ordering) -> bool| first.and_then(|v| order(have, v)).is_some_and(want);
    match cmp {
        Cmp::Eq => first.is_some_and(same),
        Cmp::Neq => first.is_some_and(|v| !same(v)),
        Cmp::Gt => ordered(|o| o == Ordering::Greater),
        Cmp::Gte => ordered(|o| o != Ordering::Less),
        Cmp::Lt => ordered(|o| o == Ordering::Less),
        Cmp::Lte => ordered(|o| o != Ordering::Greater),
        Cmp::In => values.iter().any(same),
        Cmp::NotIn => !values.iter().any(same),
    }
}

/// How `a` compares with `b`: numbers as numbers, otherwise only values
/// of one type (`None` for a text against a number).
fn order(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Text(x), Value::Text(y)) => Some(x.cmp(y)),
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        _ => number(a)?.partial_cmp(&number(b)?),
    }
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Float(f) => Some(*f),
        Value::Int(i) => Some(*i as f64),
        _ => None,
    }
}

/// The metadata of a directory entry, from its labels.
pub(crate) fn metadata_of(labels: &actor_cluster::Labels) -> BTreeMap<String, Value> {
    labels
        .iter()
        .filter_map(|(k, v)| {
            let key = k.strip_prefix(crate::lifecycle::label::META)?;
            Some((key.to_owned(), crate::lifecycle::decode_value(v)?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> AgentEntry {
        AgentEntry {
            id: "t1".into(),
            node: "a".into(),
            capabilities: vec!["gpu".into(), "trainer".into()],
            kind: Some("Trainer".into()),
            status: Status::Ready,
            restarts: 0,
            health: Some("healthy".into()),
            metadata: BTreeMap::from([
                ("zone".to_owned(), Value::Text("eu".into())),
                ("gpus".to_owned(), Value::Int(4)),
                ("spot".to_owned(), Value::Bool(false)),
            ]),
            epoch: 0,
            state_version: 0,
            copies: Vec::new(),
        }
    }

    #[test]
    fn predicates_are_anded() {
        let e = entry();
        let q = Query::new()
            .kind("Trainer")
            .capability("gpu")
            .capability("trainer");
        assert!(q.matches(&e));
        assert!(!q.clone().capability("cpu").matches(&e));
        assert!(Query::new()
            .node("a")
            .status(Status::Ready)
            .id("t1")
            .matches(&e));
        assert!(!Query::new().status(Status::Busy).matches(&e));
        assert!(!Query::new().kind("Bidder").matches(&e));
    }

    #[test]
    fn metadata_compares_by_type() {
        let e = entry();
        let m =
            |key: &str, cmp, values: Vec<Value>| Query::new().meta(key, cmp, values).matches(&e);
        assert!(m("gpus", Cmp::Gte, vec![Value::Int(4)]));
        assert!(m("gpus", Cmp::Gt, vec![Value::Float(3.5)]));
        assert!(!m("gpus", Cmp::Lt, vec![Value::Int(4)]));
        assert!(m("gpus", Cmp::Lte, vec![Value::Int(4)]));
        assert!(m("zone", Cmp::Eq, vec![Value::Text("eu".into())]));
        assert!(m("zone", Cmp::Neq, vec![Value::Text("us".into())]));
        assert!(m(
            "zone",
            Cmp::In,
            vec![Value::Text("us".into()), Value::Text("eu".into())]
        ));
        assert!(!m("zone", Cmp::NotIn, vec![Value::Text("eu".into())]));
        assert!(m("spot", Cmp::Eq, vec![Value::Bool(false)]));
        // A text is not equal to a number, and a missing key never matches.
        assert!(!m("zone", Cmp::Eq, vec![Value::Int(1)]));
        assert!(!m("rack", Cmp::NotIn, vec![Value::Int(1)]));
    }

    #[test]
    fn invalid_predicates_are_refused() {
        let bad = [
            Query::new().meta("zone", Cmp::Gt, [Value::Text("eu".into())]),
            Query::new().meta("zone", Cmp::In, []),
            Query::new().meta("zone", Cmp::Eq, [Value::Int(1), Value::Int(2)]),
            Query::new().meta("spot", Cmp::Lte, [Value::Bool(true)]),
        ];
        for q in bad {
            assert!(
                matches!(q.validate(), Err(AgentError::InvalidQuery(_))),
                "{q:?}"
            );
        }
        assert!("between".parse::<Cmp>().is_err());
        assert_eq!("not_in".parse::<Cmp>().unwrap(), Cmp::NotIn);
    }
}
