//! The Universal Variable Orchestrator's model: typed variables with
//! bounds, constraints, a coordination rule and a conflict rule, and the
//! table of their committed values with versions and history; and
//! optimisation [`study`]s, which search variables for the best value of
//! a metric that agents evaluate, and commit it.
//!
//! [`Table`] is a deterministic state machine over [`Command`]s (define,
//! commit, delete): it is what the replicated log of committed values
//! builds on every node. Invalid input is refused with a
//! [`VariableError`] that says why, and changes nothing:
//!
//! ```
//! use agents::variables::{Command, Definition, Kind, Table, VariableError};
//! use agents::Value;
//!
//! let mut table = Table::new();
//! let lr = Definition::new("learning_rate", Kind::float(0.0, 2.0), Value::Float(0.1));
//! table.apply(Command::Define { definition: lr, at_ms: 0 }).unwrap();
//! let refused = table.apply(Command::Commit {
//!     name: "learning_rate".into(),
//!     value: Value::Float(3.0),
//!     seen: None,
//!     by: "trainer-1".into(),
//!     at_ms: 1,
//! });
//! assert_eq!(
//!     refused.unwrap_err().to_string(),
//!     "value 3 refused: outside range [0.0, 2.0]"
//! );
//! assert_eq!(table.get("learning_rate").unwrap().version, 0);
//! ```
//!
//! [`Variables`] replicates the table across the nodes of a cluster with a
//! Raft log (openraft, carried over the cluster layer's references): a
//! write from any node is confirmed once a quorum of voters holds it, reads
//! are linearizable unless a stale local read is asked for, and a node on
//! the minority side is refused with [`VariableError::NoQuorum`] within a
//! bounded time. With a data dir ([`VariablesBuilder::data_dir`]) each
//! node keeps its log and snapshots on disk (a redb database), so that
//! restarting every node keeps every committed value; without one they
//! are in memory, and a restarted node catches up from the others.
//!
//! Telemetry, through the `metrics` facade (whatever recorder the
//! application installs) and `tracing`:
//!
//! * `foundation_variables_operations_total{op, outcome}` and
//!   `foundation_variables_operation_seconds{op}`: every define, commit,
//!   delete and read, by outcome (`ok`, `refused`, `no_quorum`,
//!   `unavailable`);
//! * `foundation_variables_proposals_total{rule, outcome}`: proposals by
//!   agents (`committed`, `not_agreed`, `refused`, `no_quorum`), each also
//!   a `proposal decided` event;
//! * `foundation_study_trials_total{study, state}` (`complete`, `pruned`,
//!   `failed`) and `foundation_study_best_value{study}`: a study's
//!   progress, each trial also a `trial finished` event.

mod model;
mod propose;
mod raft;
pub mod study;

pub use model::{
    Command, Committed, Conflict, Constraint, Coordination, Definition, Kind, Op, Operand, Table,
};
pub use propose::Decision;
pub use raft::handle::{GroupStatus, Variables, VariablesBuilder};
pub use study::{
    BanditPolicy, Budget, Direction, Ended, Evaluation, Finished, MedianPruner, Objective, Param,
    Sampler, StudyResult, StudySpec, StudyStatus, TrialRecord, TrialState, TrialStep, TrialStopped,
};

use serde::{Deserialize, Serialize};

use crate::agent::Value;

/// A change to the variables table, as a node applies it
/// ([`Variables::subscribe`]): which variable, its value, its version and
/// who committed it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Change {
    /// A variable was defined, at version 0 with its default.
    Defined(Committed),
    /// A value was committed.
    Committed(Committed),
    /// A variable was deleted; its last value.
    Deleted(Committed),
}

impl Change {
    /// The value the change is about.
    pub fn value(&self) -> &Committed {
        match self {
            Change::Defined(c) | Change::Committed(c) | Change::Deleted(c) => c,
        }
    }
}

/// Why a variable operation was refused.
///
/// It is plain serde data: a refusal decided by the leader travels back
/// to the node that asked.
#[derive(Debug, Clone, PartialEq, thiserror::Error, Serialize, Deserialize)]
#[non_exhaustive]
pub enum VariableError {
    /// A name that is empty, holds whitespace or is longer than 200 bytes.
    #[error("invalid variable name `{0}`: use 1 to 200 bytes without whitespace")]
    InvalidName(String),
    /// No variable of this name.
    #[error("no variable `{0}`")]
    Unknown(String),
    /// A variable of this name exists already.
    #[error("variable `{0}` exists already")]
    Exists(String),
    /// The kind itself is invalid (an empty range, a zero step, ...).
    #[error("invalid variable kind: {reason}")]
    InvalidKind {
        /// What is wrong with it.
        reason: String,
    },
    /// A value does not fit the variable's kind.
    #[error("value {value} refused: {reason}")]
    InvalidValue {
        /// The value.
        value: Value,
        /// Why, e.g. `outside range [0.0, 2.0]`.
        reason: String,
    },
    /// A commit would break a constraint.
    #[error("constraint {constraint} would not hold ({values})")]
    ConstraintViolated {
        /// The constraint, e.g. `batch_size <= max_batch`.
        constraint: String,
        /// The values it was checked with.
        values: String,
    },
    /// A proposal against an old version, refused by the variable's
    /// conflict rule.
    #[error("variable `{name}` is at version {current}, not {seen}: read it and propose again")]
    Stale {
        /// The variable.
        name: String,
        /// The version the proposer saw.
        seen: u64,
        /// The current version.
        current: u64,
    },
    /// The replicated table could not reach a quorum of its voters within
    /// the operation's deadline (this node is on the minority side of a
    /// partition, or too many voters are down): a write is not confirmed,
    /// a linearizable read is not served. A write that reached a leader
    /// before the quorum was lost may still be applied if one returns
    /// (at most once); the reason then says so, and otherwise the write
    /// was not applied and will not be.
    #[error("no quorum: {reason}")]
    NoQuorum {
        /// What was missing, e.g. `no leader elected within 2s`.
        reason: String,
    },
    /// The voters given to [`Variables::start`] cannot form a group (none,
    /// this node not among them, a name that is not a node name, two names
    /// with the same Raft id).
    #[error("invalid voters: {reason}")]
    InvalidVoters {
        /// What is wrong with them.
        reason: String,
    },
    /// The coordination rule could not run (no agents with the
    /// capability, a protocol error). Nothing is committed.
    #[error("coordinating `{name}` failed: {reason}")]
    Coordination {
        /// The variable.
        name: String,
        /// What failed.
        reason: String,
    },
    /// An optimisation study was refused before anybody was asked: an
    /// invalid spec, a space that does not fit the variables, a name
    /// taken, no such study to resume.
    #[error("invalid study `{name}`: {reason}")]
    InvalidStudy {
        /// The study.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// An optimisation study stopped before its end: its journal could
    /// not be written, or another node resumed it. Its finished trials
    /// are kept; [`Variables::resume_study`] goes on.
    #[error("study `{name}` stopped: {reason}")]
    StudyStopped {
        /// The study.
        name: String,
        /// Why.
        reason: String,
    },
    /// The replicated table is not running on this node (it was shut
    /// down, or its Raft engine stopped on an error).
    #[error("variables unavailable: {reason}")]
    Unavailable {
        /// Why.
        reason: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocols::voting::YesNoRule;

    fn define(table: &mut Table, definition: Definition) -> Result<Committed, VariableError> {
        table.apply(Command::Define {
            definition,
            at_ms: 0,
        })
    }

    fn commit(table: &mut Table, name: &str, value: Value) -> Result<Committed, VariableError> {
        commit_seen(table, name, value, None)
    }

    fn commit_seen(
        table: &mut Table,
        name: &str,
        value: Value,
        seen: Option<u64>,
    ) -> Result<Committed, VariableError> {
        table.apply(Command::Commit {
            name: name.into(),
            value,
            seen,
            by: "a1".into(),
            at_ms: 7,
        })
    }

    #[test]
    fn kinds_check_values_and_say_why() {
        let f = Kind::float(0.0, 2.0);
        assert_eq!(f.check(&Value::Float(1.5)), Ok(Value::Float(1.5)));
        assert_eq!(f.check(&Value::Int(1)), Ok(Value::Float(1.0)));
        let e = f.check(&Value::Float(3.0)).unwrap_err();
        assert_eq!(e.to_string(), "value 3 refused: outside range [0.0, 2.0]");
        assert!(f.check(&Value::Float(f64::NAN)).is_err());
        assert!(f.check(&Value::Text("x".into())).is_err());

        let p = Kind::Float {
            min: 0.0,
            max: 1.0,
            precision: Some(2),
            log: false,
        };
        assert_eq!(p.check(&Value::Float(0.12345)), Ok(Value::Float(0.12)));
        // Rounded into range counts as in range.
        assert_eq!(p.check(&Value::Float(1.004)), Ok(Value::Float(1.0)));

        let i = Kind::Int {
            min: 8,
            max: 512,
            step: 8,
        };
        assert_eq!(i.check(&Value::Int(64)), Ok(Value::Int(64)));
        let e = i.check(&Value::Int(60)).unwrap_err().to_string();
        assert!(e.contains("multiple of the step 8"), "{e}");
        assert!(i.check(&Value::Int(520)).is_err());
        assert!(i.check(&Value::Float(64.0)).is_err());

        let c = Kind::choice(["adam", "sgd"]);
        assert!(c.check(&Value::Text("sgd".into())).is_ok());
        let e = c
            .check(&Value::Text("lion".into()))
            .unwrap_err()
            .to_string();
        assert!(e.contains("not one of adam, sgd"), "{e}");
        assert!(Kind::Bool.check(&Value::Bool(true)).is_ok());
        assert!(Kind::Bool.check(&Value::Int(1)).is_err());
    }

    #[test]
    fn invalid_kinds_are_refused() {
        assert!(Kind::float(2.0, 1.0).validate().is_err());
        assert!(Kind::float(f64::NEG_INFINITY, 1.0).validate().is_err());
        let log = Kind::Float {
            min: 0.0,
            max: 1.0,
            precision: None,
            log: true,
        };
        assert!(log.validate().is_err());
        assert!(Kind::Int {
            min: 0,
            max: 10,
            step: 0
        }
        .validate()
        .is_err());
        assert!(Kind::choice(Vec::<String>::new()).validate().is_err());
        assert!(Kind::choice(["a", "a"]).validate().is_err());
        let mut t = Table::new();
        assert!(matches!(
            define(&mut t, Definition::new("x", Kind::int(5, 1), Value::Int(3))),
            Err(VariableError::InvalidKind { .. })
        ));
        // A default outside the kind is refused too.
        assert!(matches!(
            define(&mut t, Definition::new("x", Kind::int(1, 5), Value::Int(9))),
            Err(VariableError::InvalidValue { .. })
        ));
        assert!(matches!(
            define(
                &mut t,
                Definition::new("has space", Kind::Bool, Value::Bool(true))
            ),
            Err(VariableError::InvalidName(_))
        ));
        assert_eq!(t.names().count(), 0);
    }

    #[test]
    fn versions_grow_and_history_is_bounded() {
        let mut t = Table::new();
        let d = Definition::new("lr", Kind::float(0.0, 1.0), Value::Float(0.1)).history(3);
        assert_eq!(define(&mut t, d.clone()).unwrap().version, 0);
        assert_eq!(define(&mut t, d), Err(VariableError::Exists("lr".into())));
        for (i, v) in [0.2, 0.3, 0.4, 0.5].into_iter().enumerate() {
            let c = commit(&mut t, "lr", Value::Float(v)).unwrap();
            assert_eq!(c.version, i as u64 + 1);
            assert_eq!((c.by.as_str(), c.at_ms), ("a1", 7));
        }
        // A refused commit changes nothing.
        assert!(commit(&mut t, "lr", Value::Float(9.0)).is_err());
        assert_eq!(t.get("lr").unwrap().version, 4);
        let h: Vec<u64> = t.history("lr").unwrap().iter().map(|c| c.version).collect();
        assert_eq!(h, [2, 3, 4]);
        assert_eq!(
            commit(&mut t, "nope", Value::Int(1)),
            Err(VariableError::Unknown("nope".into()))
        );
        assert!(t.apply(Command::Delete { name: "lr".into() }).is_ok());
        assert!(t.get("lr").is_none());
        assert!(t.apply(Command::Delete { name: "lr".into() }).is_err());
    }

    #[test]
    fn stale_proposals_follow_the_conflict_rule() {
        let mut t = Table::new();
        define(
            &mut t,
            Definition::new("strict", Kind::int(0, 100), Value::Int(0)).conflict(Conflict::Refuse),
        )
        .unwrap();
        define(
            &mut t,
            Definition::new("lax", Kind::int(0, 100), Value::Int(0)),
        )
        .unwrap();
        assert!(commit_seen(&mut t, "strict", Value::Int(1), Some(0)).is_ok());
        assert_eq!(
            commit_seen(&mut t, "strict", Value::Int(2), Some(0)),
            Err(VariableError::Stale {
                name: "strict".into(),
                seen: 0,
                current: 1
            })
        );
        assert!(commit_seen(&mut t, "lax", Value::Int(1), Some(0)).is_ok());
        assert_eq!(
            commit_seen(&mut t, "lax", Value::Int(2), Some(0))
                .unwrap()
                .version,
            2
        );
    }

    #[test]
    fn constraints_span_variables_both_ways() {
        let mut t = Table::new();
        define(
            &mut t,
            Definition::new("max_batch", Kind::int(1, 1024), Value::Int(256)),
        )
        .unwrap();
        define(
            &mut t,
            Definition::new("batch", Kind::int(1, 1024), Value::Int(64))
                .constraint(Constraint::vars("batch", Op::Le, "max_batch")),
        )
        .unwrap();
        assert!(commit(&mut t, "batch", Value::Int(256)).is_ok());
        let e = commit(&mut t, "batch", Value::Int(512)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "constraint batch <= max_batch would not hold (batch = 512, max_batch = 256)"
        );
        // Lowering max_batch below batch breaks batch's constraint too.
        assert!(matches!(
            commit(&mut t, "max_batch", Value::Int(128)),
            Err(VariableError::ConstraintViolated { .. })
        ));
        assert!(commit(&mut t, "max_batch", Value::Int(512)).is_ok());
        // A text compared with < never holds; == works on any value.
        define(
            &mut t,
            Definition::new(
                "opt",
                Kind::choice(["adam", "sgd"]),
                Value::Text("adam".into()),
            )
            .constraint(Constraint::constant(
                "opt",
                Op::Ne,
                Value::Text("sgd".into()),
            )),
        )
        .unwrap();
        assert!(commit(&mut t, "opt", Value::Text("sgd".into())).is_err());
    }

    #[test]
    fn definitions_carry_their_coordination() {
        let d = Definition::new("lr", Kind::float(0.0, 1.0), Value::Float(0.1)).coordination(
            Coordination::vote(
                "trainer",
                YesNoRule::two_thirds(),
                std::time::Duration::from_secs(2),
            ),
        );
        let bytes = rmp_serde::to_vec(&d).unwrap();
        let back: Definition = rmp_serde::from_slice(&bytes).unwrap();
        assert_eq!(back, d);
    }
}
