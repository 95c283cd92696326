//! What a study asks the agents that evaluate its trials, one message
//! per step ([`Evaluator`](crate::Evaluator)).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::agent::Value;

crate::protocol_messages! {
    TrialStep => Option<Evaluation>, "foundation.study.step/1";
    TrialStopped => (), "foundation.study.stopped/1";
}

/// Asks an evaluator to run one step of a trial: step 0 starts it with
/// `params`, each later step goes on from where the previous one left
/// it. The answer is the objective's value after the step
/// ([`Evaluation`]), or `None` to decline (the trial fails).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrialStep {
    /// The study.
    pub study: String,
    /// The trial's number in the study (0 first).
    pub trial: u64,
    /// The step, counted from 0.
    pub step: u64,
    /// The configuration under trial: a value for each variable of the
    /// search space, by name.
    pub params: BTreeMap<String, Value>,
    /// The metric the study optimises, e.g. `loss`.
    pub metric: String,
}

impl TrialStep {
    /// The value of parameter `name`, if it is one.
    pub fn param(&self, name: &str) -> Option<&Value> {
        self.params.get(name)
    }

    /// Parameter `name` as a number (an integer widened to a float).
    pub fn number(&self, name: &str) -> Option<f64> {
        match self.params.get(name)? {
            Value::Float(v) => Some(*v),
            Value::Int(v) => Some(*v as f64),
            _ => None,
        }
    }
}

/// An evaluator's answer to a [`TrialStep`]: the metric's value after
/// the step, and whether the trial is over.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Evaluation {
    /// An intermediate value: ask for the next step. The study may stop
    /// the trial here instead (its pruner), and says so with a
    /// [`TrialStopped`].
    Step(f64),
    /// The trial's final value.
    Done(f64),
}

impl Evaluation {
    /// The value reported.
    pub fn value(&self) -> f64 {
        match self {
            Evaluation::Step(v) | Evaluation::Done(v) => *v,
        }
    }
}

/// Tells an evaluator that the study stopped a trial it was evaluating
/// and will not ask for more steps of it: whatever it holds for the
/// trial can go.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrialStopped {
    /// The study.
    pub study: String,
    /// The trial's number.
    pub trial: u64,
    /// Why: `pruned at step 3`, `no answer before the trial's deadline`, ...
    pub reason: String,
}
