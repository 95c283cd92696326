//! The variable model: what a variable may hold, how a value is checked
//! against its kind and its constraints, and the table of variables with
//! their committed values, versions and history.
//!
//! Everything here is pure and deterministic: the same definitions and the
//! same commands, applied in the same order, give the same table on every
//! node. That is what a replicated log needs of its state machine; the
//! time of a commit is carried in the command, never read from a clock.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::VariableError;
use crate::agent::Value;
use crate::protocols::voting::YesNoRule;

/// What a variable may hold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Kind {
    /// A float in `[min, max]`. With `precision`, values are rounded to
    /// that many decimal places when committed; with `log`, the range is
    /// searched on a log scale (studies), which needs `min > 0`.
    Float {
        /// The least value.
        min: f64,
        /// The greatest value.
        max: f64,
        /// Decimal places kept, if any.
        precision: Option<u32>,
        /// Whether the range is searched on a log scale.
        log: bool,
    },
    /// An integer in `[min, max]` that is `min` plus a multiple of `step`.
    Int {
        /// The least value.
        min: i64,
        /// The greatest value.
        max: i64,
        /// The distance between allowed values (1 for any integer).
        step: i64,
    },
    /// One of the listed options.
    Choice {
        /// The options, in the order given.
        options: Vec<String>,
    },
    /// `true` or `false`.
    Bool,
    /// Any text of at most `max_len` bytes: a free-form setting (a path, a
    /// model name), or a record such as the journal an optimisation study
    /// keeps ([`Variables::study`](crate::variables::Variables::study)).
    /// Studies do not search text variables.
    Text {
        /// The longest text allowed, in bytes.
        max_len: usize,
    },
}

impl Kind {
    /// A float in `[min, max]`, linear scale, full precision.
    pub fn float(min: f64, max: f64) -> Self {
        Kind::Float {
            min,
            max,
            precision: None,
            log: false,
        }
    }

    /// An integer in `[min, max]`, any integer.
    pub fn int(min: i64, max: i64) -> Self {
        Kind::Int { min, max, step: 1 }
    }

    /// One of `options`.
    pub fn choice(options: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Kind::Choice {
            options: options.into_iter().map(Into::into).collect(),
        }
    }

    /// Any text of at most `max_len` bytes.
    pub fn text(max_len: usize) -> Self {
        Kind::Text { max_len }
    }

    /// Checks the kind itself: a non-empty range of finite bounds, a
    /// positive step, a positive lower bound on a log scale, options
    /// present and distinct, a text that may hold at least one byte.
    ///
    /// # Errors
    /// [`VariableError::InvalidKind`] saying what is wrong.
    pub fn validate(&self) -> Result<(), VariableError> {
        let bad = |reason: String| Err(VariableError::InvalidKind { reason });
        match self {
            Kind::Float { min, max, log, .. } => {
                if !min.is_finite() || !max.is_finite() || min > max {
                    return bad(format!("[{min}, {max}] is not a range of finite numbers"));
                }
                if *log && *min <= 0.0 {
                    return bad(format!("a log scale needs min > 0, not {min}"));
                }
            }
            Kind::Int { min, max, step } => {
                if min > max {
                    return bad(format!("[{min}, {max}] is empty"));
                }
                if *step <= 0 {
                    return bad(format!("the step must be positive, not {step}"));
                }
            }
            Kind::Choice { options } => {
                if options.is_empty() {
                    return bad("a choice needs at least one option".into());
                }
                for (i, o) in options.iter().enumerate() {
                    if options[..i].contains(o) {
                        return bad(format!("option `{o}` is listed twice"));
                    }
                }
            }
            Kind::Bool => {}
            Kind::Text { max_len } => {
                if *max_len == 0 {
                    return bad("a text kind needs a positive max_len".into());
                }
            }
        }
        Ok(())
    }

    /// Checks `value` against the kind and returns it as it would be
    /// stored: an integer given for a float becomes a float, a float is
    /// rounded to the kind's precision.
    ///
    /// # Errors
    /// [`VariableError::InvalidValue`], e.g. `value 3.0 outside range [0.0, 2.0]`.
    pub fn check(&self, value: &Value) -> Result<Value, VariableError> {
        let refuse = |reason: String| {
            Err(VariableError::InvalidValue {
                value: value.clone(),
                reason,
            })
        };
        match (self, value) {
            (
                Kind::Float {
                    min,
                    max,
                    precision,
                    ..
                },
                Value::Float(_) | Value::Int(_),
            ) => {
                let Some(v) = number(value) else {
                    return refuse(format!("not {}", self.describe()));
                };
                if !v.is_finite() {
                    return refuse("not a finite number".into());
                }
                let v = match precision {
                    Some(p) => round_to(v, *p),
                    None => v,
                };
                if v < *min || v > *max {
                    return refuse(format!("outside range [{min:?}, {max:?}]"));
                }
                Ok(Value::Float(v + 0.0))
            }
            (Kind::Int { min, max, step }, Value::Int(v)) => {
                if v < min || v > max {
                    return refuse(format!("outside range [{min}, {max}]"));
                }
                if (v - min) % step != 0 {
                    return refuse(format!("not {min} plus a multiple of the step {step}"));
                }
                Ok(Value::Int(*v))
            }
            (Kind::Choice { options }, Value::Text(t)) => {
                if options.contains(t) {
                    Ok(value.clone())
                } else {
                    refuse(format!("not one of {}", options.join(", ")))
                }
            }
            (Kind::Bool, Value::Bool(_)) => Ok(value.clone()),
            (Kind::Text { max_len }, Value::Text(t)) => {
                if t.len() <= *max_len {
                    Ok(value.clone())
                } else {
                    refuse(format!("{} bytes, more than {max_len}", t.len()))
                }
            }
            _ => refuse(format!("not {}", self.describe())),
        }
    }

    /// The kind in words, for errors: `a float`, `an integer`, ...
    fn describe(&self) -> &'static str {
        match self {
            Kind::Float { .. } => "a float",
            Kind::Int { .. } => "an integer",
            Kind::Choice { .. } => "one of the options (text)",
            Kind::Bool => "a bool",
            Kind::Text { .. } => "a text",
        }
    }
}

/// `v` rounded to `places` decimal places (half away from zero).
fn round_to(v: f64, places: u32) -> f64 {
    let scale = 10f64.powi(places.min(15) as i32);
    (v * scale).round() / scale
}

/// A comparison between two operands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Op {
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `==`
    Eq,
    /// `!=`
    Ne,
}

impl std::fmt::Display for Op {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Eq => "==",
            Op::Ne => "!=",
        })
    }
}

/// One side of a [`Constraint`]: another variable's value, or a constant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Operand {
    /// The committed value of this variable (the proposed one, for the
    /// variable being committed).
    Var(String),
    /// A constant.
    Const(Value),
}

impl std::fmt::Display for Operand {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Operand::Var(name) => f.write_str(name),
            Operand::Const(v) => write!(f, "{v}"),
        }
    }
}

/// A predicate every commit must keep true, over the variable's own value
/// and other variables' committed values: `batch_size <= max_batch`.
/// Numbers compare as numbers (an integer with a float too); other values
/// only with `==` and `!=`. A constraint naming a variable that does not
/// exist (yet) holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Constraint {
    /// The left operand.
    pub left: Operand,
    /// The comparison.
    pub op: Op,
    /// The right operand.
    pub right: Operand,
}

impl Constraint {
    /// `variable op other`: this variable compared with another one.
    pub fn vars(variable: impl Into<String>, op: Op, other: impl Into<String>) -> Self {
        Constraint {
            left: Operand::Var(variable.into()),
            op,
            right: Operand::Var(other.into()),
        }
    }

    /// `variable op constant`.
    pub fn constant(variable: impl Into<String>, op: Op, constant: Value) -> Self {
        Constraint {
            left: Operand::Var(variable.into()),
            op,
            right: Operand::Const(constant),
        }
    }

    /// Whether the constraint holds when each variable has the value
    /// `lookup` gives it (`None`: no such variable, the constraint holds).
    ///
    /// # Errors
    /// [`VariableError::ConstraintViolated`] saying which values broke it;
    /// comparing a text or a bool with `<` and the like also breaks it.
    fn check<'a>(&self, lookup: impl Fn(&str) -> Option<&'a Value>) -> Result<(), VariableError> {
        let resolve = |operand: &Operand| -> Option<Value> {
            match operand {
                Operand::Var(name) => lookup(name).cloned(),
                Operand::Const(v) => Some(v.clone()),
            }
        };
        let (Some(l), Some(r)) = (resolve(&self.left), resolve(&self.right)) else {
            return Ok(());
        };
        let holds = match (number(&l), number(&r)) {
            (Some(a), Some(b)) => match self.op {
                Op::Lt => a < b,
                Op::Le => a <= b,
                Op::Gt => a > b,
                Op::Ge => a >= b,
                Op::Eq => a == b,
                Op::Ne => a != b,
            },
            _ => match self.op {
                Op::Eq => l == r,
                Op::Ne => l != r,
                _ => false,
            },
        };
        if holds {
            Ok(())
        } else {
            Err(VariableError::ConstraintViolated {
                constraint: self.to_string(),
                values: format!("{} = {l}, {} = {r}", self.left, self.right),
            })
        }
    }
}

impl std::fmt::Display for Constraint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} {}", self.left, self.op, self.right)
    }
}

/// A value as a number, if it is one.
fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Float(f) => Some(*f),
        Value::Int(i) => Some(*i as f64),
        _ => None,
    }
}

/// How a proposed value becomes the committed one
/// ([`Variables::propose`](crate::variables::Variables::propose)).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Coordination {
    /// A valid proposal is committed as it comes (the last writer wins).
    LastWriterWins,
    /// The agents with `capability` vote yes/no on the proposal by `rule`
    /// ([`Voter::vote`](crate::Voter::vote)), within `deadline_ms`; it is
    /// committed if the vote passes.
    Vote {
        /// Who votes.
        capability: String,
        /// The threshold and quorum.
        rule: YesNoRule,
        /// How long the vote stays open, in milliseconds.
        deadline_ms: u64,
    },
    /// The agents with `capability` each propose a value
    /// ([`Voter::agree`](crate::Voter::agree)) within `deadline_ms`; the
    /// value Byzantine agreement decides is committed, the proposal only
    /// starting it.
    Byzantine {
        /// Who proposes.
        capability: String,
        /// Faulty agents to tolerate; `None` for the most n allows.
        faulty: Option<usize>,
        /// How long proposals are collected, in milliseconds.
        deadline_ms: u64,
    },
    /// A rule of the application's own: a [`Protocol`](crate::Protocol)
    /// it runs with
    /// [`Variables::propose_with`](crate::variables::Variables::propose_with),
    /// whose output decides the value. `name` says which, for whoever
    /// reads the definition; a plain `propose` is refused.
    Custom {
        /// The rule's name, e.g. `median-of-trainers`.
        name: String,
    },
}

impl Coordination {
    /// A yes/no vote among the agents with `capability` by `rule`, open
    /// for `deadline`.
    pub fn vote(capability: impl Into<String>, rule: YesNoRule, deadline: Duration) -> Self {
        Coordination::Vote {
            capability: capability.into(),
            rule,
            deadline_ms: millis(deadline),
        }
    }

    /// Byzantine agreement among the agents with `capability`, tolerating
    /// the most faulty agents their number allows, collecting proposals
    /// for `deadline`.
    pub fn byzantine(capability: impl Into<String>, deadline: Duration) -> Self {
        Coordination::Byzantine {
            capability: capability.into(),
            faulty: None,
            deadline_ms: millis(deadline),
        }
    }
}

/// `d` in whole milliseconds, saturating.
fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// What happens to a proposal made against a version that is no longer
/// the current one (another commit came first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Conflict {
    /// It is committed anyway, on top of the newer value.
    #[default]
    Overwrite,
    /// It is refused ([`VariableError::Stale`]); the proposer reads the
    /// new value and proposes again.
    Refuse,
}

/// A variable's definition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Definition {
    /// Its name, unique in the cluster.
    pub name: String,
    /// What it may hold.
    pub kind: Kind,
    /// Its value until the first commit (version 0).
    pub default: Value,
    /// Predicates every commit keeps true.
    pub constraints: Vec<Constraint>,
    /// How proposals are decided.
    pub coordination: Coordination,
    /// What happens to a proposal against an old version.
    pub conflict: Conflict,
    /// How many committed values its history keeps (the oldest go first).
    pub history: usize,
}

impl Definition {
    /// Variable `name` of `kind` starting at `default`, committed as
    /// proposed (last writer wins), keeping 100 values of history.
    pub fn new(name: impl Into<String>, kind: Kind, default: Value) -> Self {
        Definition {
            name: name.into(),
            kind,
            default,
            constraints: Vec::new(),
            coordination: Coordination::LastWriterWins,
            conflict: Conflict::Overwrite,
            history: 100,
        }
    }

    /// The same variable with one more constraint.
    #[must_use]
    pub fn constraint(mut self, constraint: Constraint) -> Self {
        self.constraints.push(constraint);
        self
    }

    /// The same variable decided by `coordination`.
    #[must_use]
    pub fn coordination(self, coordination: Coordination) -> Self {
        Self {
            coordination,
            ..self
        }
    }

    /// The same variable with conflict rule `conflict`.
    #[must_use]
    pub fn conflict(self, conflict: Conflict) -> Self {
        Self { conflict, ..self }
    }

    /// The same variable keeping `values` committed values of history.
    #[must_use]
    pub fn history(self, values: usize) -> Self {
        Self {
            history: values,
            ..self
        }
    }
}

/// A committed value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Committed {
    /// The variable.
    pub name: String,
    /// The value.
    pub value: Value,
    /// Its version: 0 for the default, then one more per commit.
    pub version: u64,
    /// Who committed it (an agent id, a node, `default`).
    pub by: String,
    /// When, in milliseconds since the Unix epoch, as the proposer's node
    /// stamped it.
    pub at_ms: u64,
}

/// A variable with its definition, current value and history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Entry {
    definition: Definition,
    current: Committed,
    /// Earlier values, oldest first; with `current`, at most
    /// `definition.history` values.
    past: VecDeque<Committed>,
}

impl Entry {
    fn current(&self) -> &Committed {
        &self.current
    }
}

/// Every variable with its committed values: the state a replicated log of
/// [`Command`]s builds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Table {
    entries: BTreeMap<String, Entry>,
}

/// A change to the table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Command {
    /// Define a variable (refused if one of that name exists).
    Define {
        /// The definition.
        definition: Definition,
        /// When, in milliseconds since the Unix epoch.
        at_ms: u64,
    },
    /// Commit a value.
    Commit {
        /// The variable.
        name: String,
        /// The value.
        value: Value,
        /// The version the proposer saw, if it cares (the conflict rule).
        seen: Option<u64>,
        /// Who commits it.
        by: String,
        /// When, in milliseconds since the Unix epoch.
        at_ms: u64,
    },
    /// Delete a variable and its history.
    Delete {
        /// The variable.
        name: String,
    },
}

impl Table {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Applies `command`, or refuses it and changes nothing.
    ///
    /// # Errors
    /// [`VariableError`]: an invalid definition or value, an unknown or
    /// duplicate name, a broken constraint, a stale proposal refused by
    /// the conflict rule.
    pub fn apply(&mut self, command: Command) -> Result<Committed, VariableError> {
        match command {
            Command::Define { definition, at_ms } => self.define(definition, at_ms),
            Command::Commit {
                name,
                value,
                seen,
                by,
                at_ms,
            } => self.commit(&name, &value, seen, by, at_ms),
            Command::Delete { name } => self
                .entries
                .remove(&name)
                .map(|e| e.current().clone())
                .ok_or(VariableError::Unknown(name)),
        }
    }

    fn define(&mut self, definition: Definition, at_ms: u64) -> Result<Committed, VariableError> {
        check_name(&definition.name)?;
        if self.entries.contains_key(&definition.name) {
            return Err(VariableError::Exists(definition.name));
        }
        definition.kind.validate()?;
        let default = definition.kind.check(&definition.default)?;
        let name = definition.name.clone();
        self.check_constraints(&definition, &default)?;
        let first = Committed {
            name: name.clone(),
            value: default,
            version: 0,
            by: "default".into(),
            at_ms,
        };
        self.entries.insert(
            name,
            Entry {
                definition,
                current: first.clone(),
                past: VecDeque::new(),
            },
        );
        Ok(first)
    }

    fn commit(
        &mut self,
        name: &str,
        value: &Value,
        seen: Option<u64>,
        by: String,
        at_ms: u64,
    ) -> Result<Committed, VariableError> {
        let entry = self
            .entries
            .get(name)
            .ok_or_else(|| VariableError::Unknown(name.to_owned()))?;
        let current = entry.current().version;
        if let (Some(seen), Conflict::Refuse) = (seen, entry.definition.conflict) {
            if seen != current {
                return Err(VariableError::Stale {
                    name: name.to_owned(),
                    seen,
                    current,
                });
            }
        }
        let value = self.check(name, value)?;
        let committed = Committed {
            name: name.to_owned(),
            value,
            version: current + 1,
            by,
            at_ms,
        };
        if let Some(entry) = self.entries.get_mut(name) {
            let previous = std::mem::replace(&mut entry.current, committed.clone());
            entry.past.push_back(previous);
            while entry.past.len() + 1 > entry.definition.history.max(1) {
                entry.past.pop_front();
            }
        }
        Ok(committed)
    }

    /// Whether `value` could be committed to `name` now: the value as it
    /// would be stored (a float rounded to the kind's precision, an
    /// integer given for a float widened), or why it would be refused
    /// (an unknown name, a value outside the kind, a broken constraint).
    /// The conflict rule is not checked: it depends on the version a
    /// proposer read. Nothing changes.
    ///
    /// # Errors
    /// As [`apply`](Self::apply) of a commit.
    pub fn check(&self, name: &str, value: &Value) -> Result<Value, VariableError> {
        let entry = self
            .entries
            .get(name)
            .ok_or_else(|| VariableError::Unknown(name.to_owned()))?;
        let value = entry.definition.kind.check(value)?;
        self.check_constraints(&entry.definition, &value)?;
        Ok(value)
    }

    /// Every constraint of `definition`, and every constraint of another
    /// variable that names it, with `value` as its value.
    fn check_constraints(
        &self,
        definition: &Definition,
        value: &Value,
    ) -> Result<(), VariableError> {
        let name = definition.name.as_str();
        let lookup = |var: &str| -> Option<&Value> {
            if var == name {
                Some(value)
            } else {
                self.entries.get(var).map(|e| &e.current().value)
            }
        };
        for c in &definition.constraints {
            c.check(lookup)?;
        }
        for (other, entry) in &self.entries {
            if other == name {
                continue;
            }
            for c in &entry.definition.constraints {
                let names_it = [&c.left, &c.right]
                    .iter()
                    .any(|o| matches!(o, Operand::Var(v) if v == name));
                if names_it {
                    c.check(lookup)?;
                }
            }
        }
        Ok(())
    }

    /// The current value of `name`.
    pub fn get(&self, name: &str) -> Option<&Committed> {
        self.entries.get(name).map(Entry::current)
    }

    /// The definition of `name`.
    pub fn definition(&self, name: &str) -> Option<&Definition> {
        self.entries.get(name).map(|e| &e.definition)
    }

    /// The kept history of `name`, oldest first (the current value last).
    pub fn history(&self, name: &str) -> Option<Vec<Committed>> {
        self.entries.get(name).map(|e| {
            e.past
                .iter()
                .chain(std::iter::once(&e.current))
                .cloned()
                .collect()
        })
    }

    /// Every variable's name, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }
}

/// A variable name: non-empty, without whitespace, at most 200 bytes.
fn check_name(name: &str) -> Result<(), VariableError> {
    if name.is_empty() || name.len() > 200 || name.chars().any(char::is_whitespace) {
        return Err(VariableError::InvalidName(name.to_owned()));
    }
    Ok(())
}
