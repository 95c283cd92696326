//! What a study records: each finished trial, the study's journal of
//! them, and the status and result read from it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::space::Space;
use super::spec::{journal_name, Direction, StudySpec};
use crate::agent::Value;
use crate::variables::{Change, Committed, VariableError};

/// A finished trial.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TrialRecord {
    /// Its number in the study (0 first); a configuration is fixed by it
    /// for the random and grid samplers.
    pub number: u64,
    /// The configuration tried.
    pub params: BTreeMap<String, Value>,
    /// The grid point tried (grid and bandit samplers).
    pub point: Option<u64>,
    /// How it ended.
    pub state: TrialState,
    /// The intermediate values reported, step 0 first.
    pub intermediate: Vec<f64>,
    /// The agent that evaluated it.
    pub agent: String,
    /// The node that agent ran on, if known.
    pub node: Option<String>,
    /// How long it ran, in milliseconds.
    pub duration_ms: u64,
}

impl TrialRecord {
    /// Its final value, if it completed.
    pub fn value(&self) -> Option<f64> {
        match self.state {
            TrialState::Complete { value } => Some(value),
            _ => None,
        }
    }
}

/// How a trial ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum TrialState {
    /// It reported a final value.
    Complete {
        /// The value.
        value: f64,
    },
    /// The pruner stopped it after this step.
    Pruned {
        /// The last step it reported.
        step: u64,
    },
    /// It gave no final value: its agent declined, died, answered late
    /// or reported a value that is not a finite number.
    Failed {
        /// Why.
        reason: String,
    },
}

/// Why a study stopped handing out trials.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Ended {
    /// Its trial budget is spent.
    Trials,
    /// Every point of its grid was tried.
    Grid,
    /// Its time budget ran out.
    Time,
    /// No evaluator was left to ask: every invited agent is gone, late
    /// or declined.
    NoEvaluators,
}

/// The end of a study as its journal records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Finished {
    /// Why it ended.
    pub ended: Ended,
    /// The best trial's values as committed to the variables (none if
    /// no trial completed).
    pub committed: Vec<Committed>,
}

/// One entry of a study's journal: the value of one version of its
/// journal variable `study:<name>` (JSON text).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) enum Entry {
    /// Version 0: what the study is, and who started it.
    Started {
        spec: StudySpec,
        space: Space,
        by: String,
    },
    /// A finished trial.
    Trial(TrialRecord),
    /// Another node took the study over.
    Resumed { by: String },
    /// The study ended and its best was committed.
    Finished(Finished),
}

impl Entry {
    /// The entry as the journal stores it.
    pub(crate) fn to_value(&self) -> Result<Value, VariableError> {
        serde_json::to_string(self)
            .map(Value::Text)
            .map_err(|e| VariableError::InvalidValue {
                value: Value::Text(String::new()),
                reason: format!("a study record cannot be written: {e}"),
            })
    }

    /// The entry a journal value holds.
    fn from_value(study: &str, value: &Value) -> Result<Self, VariableError> {
        let Value::Text(text) = value else {
            return Err(corrupt(study, "a record is not text"));
        };
        serde_json::from_str(text).map_err(|e| corrupt(study, &e.to_string()))
    }
}

fn corrupt(study: &str, reason: &str) -> VariableError {
    VariableError::InvalidStudy {
        name: study.to_owned(),
        reason: format!(
            "its journal `{}` is unreadable: {reason}",
            journal_name(study)
        ),
    }
}

/// A study as its journal tells it, on any node
/// ([`Variables::study_status`](crate::variables::Variables::study_status)):
/// its spec, the trials finished so far, the best of them, who runs it
/// and whether it has ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct StudyStatus {
    /// What the study is.
    pub spec: StudySpec,
    /// The finished trials, in the order they finished.
    pub trials: Vec<TrialRecord>,
    /// The completed trial with the best value (the earliest of equals).
    pub best: Option<TrialRecord>,
    /// The nodes that ran it: the one that started it, then each that
    /// resumed it; the last runs it now.
    pub owners: Vec<String>,
    /// When it started, in milliseconds since the Unix epoch.
    pub started_ms: u64,
    /// How it ended, once it has.
    pub finished: Option<Finished>,
    /// The journal's version this status has read.
    pub version: u64,
    #[serde(skip)]
    pub(crate) space: Option<Space>,
}

impl StudyStatus {
    /// The status of study `study` its journal's history tells: the
    /// values of the variable `study:<study>`, oldest first, as
    /// [`Variables::history`](crate::variables::Variables::history)
    /// answers them (the first alone, from a
    /// [`Change::Defined`], is a study that has just started).
    ///
    /// # Errors
    /// [`VariableError::InvalidStudy`] for a history that is not a
    /// study's journal.
    pub fn from_history(study: &str, history: &[Committed]) -> Result<Self, VariableError> {
        let (first, rest) = history
            .split_first()
            .ok_or_else(|| corrupt(study, "it is empty"))?;
        if first.version != 0 {
            return Err(corrupt(
                study,
                "its first record is gone (the history kept is too short)",
            ));
        }
        let Entry::Started { spec, space, by } = Entry::from_value(study, &first.value)? else {
            return Err(corrupt(study, "it does not start with the study's spec"));
        };
        let mut status = StudyStatus {
            spec,
            trials: Vec::new(),
            best: None,
            owners: vec![by],
            started_ms: first.at_ms,
            finished: None,
            version: 0,
            space: Some(space),
        };
        for committed in rest {
            status.apply(
                Entry::from_value(study, &committed.value)?,
                committed.version,
            );
        }
        Ok(status)
    }

    /// Folds in `entry`, the journal's version `version`.
    pub(crate) fn apply(&mut self, entry: Entry, version: u64) {
        self.version = version;
        match entry {
            Entry::Started { .. } => {}
            Entry::Trial(record) => {
                let direction = self.spec.objective.direction;
                if is_better(direction, &record, self.best.as_ref()) {
                    self.best = Some(record.clone());
                }
                self.trials.push(record);
            }
            Entry::Resumed { by } => self.owners.push(by),
            Entry::Finished(finished) => self.finished = Some(finished),
        }
    }

    /// Folds in `change` if it is a new record of this study's journal
    /// (from [`Variables::subscribe`](crate::variables::Variables::subscribe)),
    /// and answers the trial it recorded, if it recorded one. A change
    /// of anything else, or one already read, changes nothing. A
    /// subscriber that fell behind reads the status again instead.
    pub fn follow(&mut self, change: &Change) -> Option<&TrialRecord> {
        let Change::Committed(committed) = change else {
            return None;
        };
        if committed.name != self.spec.journal() || committed.version <= self.version {
            return None;
        }
        let entry = Entry::from_value(&self.spec.name, &committed.value).ok()?;
        let recorded = matches!(entry, Entry::Trial(_));
        self.apply(entry, committed.version);
        if recorded {
            self.trials.last()
        } else {
            None
        }
    }

    /// How many trials finished in each state: complete, pruned, failed.
    pub fn counts(&self) -> (usize, usize, usize) {
        counts(&self.trials)
    }
}

/// How many of `trials` completed, were pruned, failed.
fn counts(trials: &[TrialRecord]) -> (usize, usize, usize) {
    trials.iter().fold((0, 0, 0), |(c, p, f), t| match t.state {
        TrialState::Complete { .. } => (c + 1, p, f),
        TrialState::Pruned { .. } => (c, p + 1, f),
        TrialState::Failed { .. } => (c, p, f + 1),
    })
}

/// Whether `trial` is better than `best`: it completed, with a better
/// value, or an equal one and a smaller number.
pub(crate) fn is_better(
    direction: Direction,
    trial: &TrialRecord,
    best: Option<&TrialRecord>,
) -> bool {
    let Some(value) = trial.value() else {
        return false;
    };
    match best.and_then(|b| Some((b.value()?, b.number))) {
        None => true,
        Some((best, number)) => {
            direction.better(value, best) || (value == best && trial.number < number)
        }
    }
}

/// What a study came to ([`Variables::study`](crate::variables::Variables::study)).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct StudyResult {
    /// The study.
    pub name: String,
    /// Every finished trial, in the order they finished (those finished
    /// before a resumption first).
    pub trials: Vec<TrialRecord>,
    /// The completed trial with the best value (the earliest of equals);
    /// `None` if none completed.
    pub best: Option<TrialRecord>,
    /// The best trial's values as committed, one per variable of the
    /// space, by `study:<name>`; empty if no trial completed.
    pub committed: Vec<Committed>,
    /// Why it stopped handing out trials.
    pub ended: Ended,
    /// The nodes that ran it, the one that started it first.
    pub owners: Vec<String>,
}

impl StudyResult {
    /// How many trials completed.
    pub fn completed(&self) -> usize {
        counts(&self.trials).0
    }

    /// How many trials the pruner stopped.
    pub fn pruned(&self) -> usize {
        counts(&self.trials).1
    }

    /// How many trials failed.
    pub fn failed(&self) -> usize {
        counts(&self.trials).2
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(number: u64, state: TrialState) -> TrialRecord {
        TrialRecord {
            number,
            params: BTreeMap::new(),
            point: None,
            state,
            intermediate: Vec::new(),
            agent: "a".into(),
            node: None,
            duration_ms: 0,
        }
    }

    fn complete(number: u64, value: f64) -> TrialRecord {
        record(number, TrialState::Complete { value })
    }

    #[test]
    fn the_best_is_the_best_completed_value_and_the_earliest_of_equals() {
        let min = Direction::Minimize;
        assert!(is_better(min, &complete(3, 1.0), None));
        assert!(!is_better(
            min,
            &record(3, TrialState::Pruned { step: 1 }),
            None
        ));
        assert!(is_better(min, &complete(3, 0.5), Some(&complete(1, 1.0))));
        assert!(!is_better(min, &complete(3, 1.5), Some(&complete(1, 1.0))));
        assert!(!is_better(min, &complete(3, 1.0), Some(&complete(1, 1.0))));
        assert!(is_better(min, &complete(0, 1.0), Some(&complete(1, 1.0))));
        let max = Direction::Maximize;
        assert!(is_better(max, &complete(3, 1.5), Some(&complete(1, 1.0))));
    }

    #[test]
    fn a_journal_replays_into_its_status() {
        use crate::variables::Objective;
        let spec = StudySpec::new("s", Objective::maximize("acc"), "e").param("x");
        let space = Space { dims: Vec::new() };
        let entries = [
            Entry::Started {
                spec: spec.clone(),
                space,
                by: "n1".into(),
            },
            Entry::Trial(complete(0, 0.5)),
            Entry::Trial(record(
                1,
                TrialState::Failed {
                    reason: "late".into(),
                },
            )),
            Entry::Resumed { by: "n2".into() },
            Entry::Trial(complete(2, 0.7)),
            Entry::Trial(record(3, TrialState::Pruned { step: 2 })),
        ];
        let history: Vec<Committed> = entries
            .iter()
            .enumerate()
            .map(|(v, e)| Committed {
                name: "study:s".into(),
                value: e.to_value().expect("json"),
                version: v as u64,
                by: "n1".into(),
                at_ms: 1000 + v as u64,
            })
            .collect();
        let status = StudyStatus::from_history("s", &history).expect("status");
        assert_eq!(status.owners, ["n1", "n2"]);
        assert_eq!(status.started_ms, 1000);
        assert_eq!(status.version, 5);
        assert_eq!(status.counts(), (2, 1, 1));
        assert_eq!(status.best.as_ref().map(|b| b.number), Some(2));

        // Following the journal's changes gives the same status.
        let mut followed = StudyStatus::from_history("s", &history[..1]).expect("status");
        for c in &history[1..] {
            followed.follow(&Change::Committed(c.clone()));
        }
        // A change seen twice, or of another variable, changes nothing.
        assert!(followed
            .follow(&Change::Committed(history[2].clone()))
            .is_none());
        assert_eq!(followed, status);

        let mut bad = history.clone();
        bad[2].value = Value::Text("{".into());
        let e = StudyStatus::from_history("s", &bad)
            .unwrap_err()
            .to_string();
        assert!(e.contains("journal `study:s` is unreadable"), "{e}");
    }
}
