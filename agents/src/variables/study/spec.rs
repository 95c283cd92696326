//! What a study is asked to do: its search space, objective, sampler,
//! budget and pruner, checked before anybody is asked.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::space::{grid_size, MAX_GRID};
use crate::variables::{Kind, VariableError};

/// The longest study name: its journal, `study:<name>`, is a variable
/// name of at most 200 bytes.
const MAX_NAME: usize = 200 - JOURNAL_PREFIX.len();

/// The prefix of a study's journal variable.
pub(crate) const JOURNAL_PREFIX: &str = "study:";

/// An optimisation study: which variables to search, for which
/// objective, how, with what budget; run by
/// [`Variables::study`](crate::variables::Variables::study).
///
/// Build one with [`new`](Self::new) and the methods that follow it; the
/// fields are public to read. The spec is plain serde data: it is kept
/// in the study's journal, so that another node can
/// [resume](crate::variables::Variables::resume_study) the study.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[must_use]
#[non_exhaustive]
pub struct StudySpec {
    /// The study's name, unique in the cluster (its journal is the
    /// variable `study:<name>`).
    pub name: String,
    /// The variables searched, in order.
    pub space: Vec<Param>,
    /// What is optimised.
    pub objective: Objective,
    /// How configurations are chosen.
    pub sampler: Sampler,
    /// How much the study may spend.
    pub budget: Budget,
    /// Stops unpromising trials early, if set.
    pub pruner: Option<MedianPruner>,
    /// The agents with this capability evaluate the trials
    /// ([`Evaluator`](crate::Evaluator)).
    pub capability: String,
    /// A trial not finished this long after it started fails.
    pub trial_deadline: Duration,
}

/// One variable of the search space.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Param {
    /// The variable; it must be defined before the study starts.
    pub name: String,
    /// The part of the variable's kind to search (a narrower range, a
    /// log scale, fewer options); `None` searches the whole kind. Every
    /// value it allows must be one the variable allows.
    pub kind: Option<Kind>,
}

/// The metric a study optimises and in which direction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Objective {
    /// Its name, told to the evaluators (`loss`, `accuracy`).
    pub metric: String,
    /// Whether larger or smaller is better.
    pub direction: Direction,
}

impl Objective {
    /// Make `metric` as small as possible.
    pub fn minimize(metric: impl Into<String>) -> Self {
        Self {
            metric: metric.into(),
            direction: Direction::Minimize,
        }
    }

    /// Make `metric` as large as possible.
    pub fn maximize(metric: impl Into<String>) -> Self {
        Self {
            metric: metric.into(),
            direction: Direction::Maximize,
        }
    }
}

/// Whether larger or smaller values are better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Direction {
    /// Larger is better.
    Maximize,
    /// Smaller is better.
    Minimize,
}

impl Direction {
    /// Whether `a` is strictly better than `b`.
    pub fn better(self, a: f64, b: f64) -> bool {
        match self {
            Direction::Maximize => a > b,
            Direction::Minimize => a < b,
        }
    }
}

/// How a study chooses the configuration of each trial.
///
/// The grid and the bandit discretise the space the same way: a float
/// gets `points` values evenly spaced from its least to its greatest
/// (geometrically on a log scale), rounded to its precision; an integer
/// gets every allowed value if there are at most `points`, else `points`
/// of them evenly spaced (rounded to the step); a choice gets every
/// option and a bool both values. Duplicates after rounding count once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Sampler {
    /// Each variable drawn uniformly from its kind (on a log scale for a
    /// log float; integers on their steps; floats rounded to their
    /// precision). Trial `k` of seed `s` always draws the same
    /// configuration, so a resumed study draws what the lost one would
    /// have.
    Random {
        /// The seed.
        seed: u64,
    },
    /// Every point of the grid, in order (the last variable of the space
    /// changing fastest): trial `k` is point `k`. The study ends when the
    /// grid is covered, if its trial budget has not ended it before.
    Grid {
        /// Values per numeric variable (at least 2).
        points: u32,
    },
    /// A multi-armed bandit whose arms are the points of the grid: each
    /// trial plays the arm the policy chooses; a finished trial rewards
    /// its arm with its value scaled to [0, 1] between the worst and the
    /// best value seen so far (1 is the best; 0.5 while all are equal);
    /// a pruned trial rewards it 0; a failed trial is not counted. A
    /// trial still running counts as a pull at its arm's mean so far
    /// (0.5 for an arm not yet paid), so that concurrent trials spread.
    /// Suits a small grid against the budget (a few options).
    Bandit {
        /// The policy.
        policy: BanditPolicy,
        /// Values per numeric variable (at least 2).
        points: u32,
    },
}

/// The bandit policy of [`Sampler::Bandit`] (see
/// [`bandit`](crate::protocols::bandit)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum BanditPolicy {
    /// UCB1: every arm once, then the largest upper confidence bound.
    Ucb1,
    /// Thompson sampling; trial `k` draws from a generator seeded by
    /// `seed` and `k`.
    Thompson {
        /// The seed.
        seed: u64,
    },
}

/// What a study may spend.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Budget {
    /// How many trials, finished in any state (complete, pruned, failed).
    pub trials: u64,
    /// No trial starts this long after the study started (counted from
    /// its start on the node that started it, across resumptions);
    /// trials under way finish.
    pub time: Option<Duration>,
    /// How many trials run at once, at most; each evaluator runs one
    /// trial at a time, so fewer run when fewer evaluators are free.
    pub concurrency: usize,
}

/// Optuna's `MedianPruner`: a trial is stopped at step `s` when its best
/// intermediate value so far is worse than the median of the values the
/// completed trials reported at step `s`; never before `startup_trials`
/// trials have completed, nor before step `warmup_steps`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MedianPruner {
    /// Completed trials needed before any trial is pruned (Optuna's
    /// `n_startup_trials`, 5 by default there).
    pub startup_trials: usize,
    /// Steps `0..warmup_steps` of every trial are never pruned (Optuna's
    /// `n_warmup_steps`).
    pub warmup_steps: u64,
}

impl MedianPruner {
    /// A median pruner after `startup_trials` completed trials, from step
    /// `warmup_steps` of each trial.
    pub fn new(startup_trials: usize, warmup_steps: u64) -> Self {
        Self {
            startup_trials,
            warmup_steps,
        }
    }
}

impl StudySpec {
    /// A study named `name` of `objective`, evaluated by the agents with
    /// `capability`; add variables with [`param`](Self::param). Until
    /// told otherwise: random search with seed 0, 20 trials one at a
    /// time with no time limit, no pruner, 60 s per trial.
    pub fn new(
        name: impl Into<String>,
        objective: Objective,
        capability: impl Into<String>,
    ) -> Self {
        Self {
            name: name.into(),
            space: Vec::new(),
            objective,
            sampler: Sampler::Random { seed: 0 },
            budget: Budget {
                trials: 20,
                time: None,
                concurrency: 1,
            },
            pruner: None,
            capability: capability.into(),
            trial_deadline: Duration::from_secs(60),
        }
    }

    /// Searches variable `name` over its whole kind.
    pub fn param(mut self, name: impl Into<String>) -> Self {
        self.space.push(Param {
            name: name.into(),
            kind: None,
        });
        self
    }

    /// Searches variable `name` over `kind`, a part of its own kind (a
    /// narrower range, a log scale).
    pub fn param_in(mut self, name: impl Into<String>, kind: Kind) -> Self {
        self.space.push(Param {
            name: name.into(),
            kind: Some(kind),
        });
        self
    }

    /// Chooses configurations with `sampler`.
    pub fn sampler(self, sampler: Sampler) -> Self {
        Self { sampler, ..self }
    }

    /// Runs `trials` trials in all.
    pub fn trials(mut self, trials: u64) -> Self {
        self.budget.trials = trials;
        self
    }

    /// Runs at most `concurrency` trials at once.
    pub fn concurrency(mut self, concurrency: usize) -> Self {
        self.budget.concurrency = concurrency;
        self
    }

    /// Starts no trial `time` after the study started.
    pub fn time(mut self, time: Duration) -> Self {
        self.budget.time = Some(time);
        self
    }

    /// Stops unpromising trials with `pruner`.
    pub fn pruner(self, pruner: MedianPruner) -> Self {
        Self {
            pruner: Some(pruner),
            ..self
        }
    }

    /// Fails a trial not finished `deadline` after it started.
    pub fn trial_deadline(self, deadline: Duration) -> Self {
        Self {
            trial_deadline: deadline,
            ..self
        }
    }

    /// The points per numeric variable of a grid or bandit sampler.
    pub(crate) fn grid_points(&self) -> Option<u32> {
        match self.sampler {
            Sampler::Grid { points } | Sampler::Bandit { points, .. } => Some(points),
            Sampler::Random { .. } => None,
        }
    }

    /// The name of the study's journal variable: `study:<name>`.
    pub fn journal(&self) -> String {
        journal_name(&self.name)
    }

    /// Checks everything that does not depend on the variables table: a
    /// usable name, a non-empty space of distinct names, valid narrowed
    /// kinds (no text), a positive budget, concurrency and deadline, a
    /// grid of at least 2 points per numeric variable and at most
    /// 100,000 points, a metric and a capability.
    ///
    /// # Errors
    /// [`VariableError::InvalidStudy`] saying what is wrong.
    pub fn validate(&self) -> Result<(), VariableError> {
        let bad = |reason: String| {
            Err(VariableError::InvalidStudy {
                name: self.name.clone(),
                reason,
            })
        };
        if self.name.is_empty()
            || self.name.len() > MAX_NAME
            || self.name.chars().any(char::is_whitespace)
        {
            return bad(format!(
                "a study name has 1 to {MAX_NAME} bytes without whitespace"
            ));
        }
        if self.space.is_empty() {
            return bad("the search space is empty: add at least one variable".into());
        }
        for (i, param) in self.space.iter().enumerate() {
            if self.space[..i].iter().any(|p| p.name == param.name) {
                return bad(format!("variable `{}` is in the space twice", param.name));
            }
            if let Some(kind) = &param.kind {
                if let Err(e) = kind.validate() {
                    return bad(format!("variable `{}`: {e}", param.name));
                }
                if matches!(kind, Kind::Text { .. }) {
                    return bad(format!(
                        "variable `{}`: a text variable cannot be searched",
                        param.name
                    ));
                }
            }
        }
        if self.budget.trials == 0 {
            return bad("the budget allows no trial".into());
        }
        if self.budget.concurrency == 0 {
            return bad("the concurrency must be at least 1".into());
        }
        if self.budget.time == Some(Duration::ZERO) {
            return bad("the time budget must be positive".into());
        }
        if self.trial_deadline.is_zero() {
            return bad("the trial deadline must be positive".into());
        }
        if self.objective.metric.is_empty() {
            return bad("the objective needs a metric name".into());
        }
        if self.capability.is_empty() {
            return bad("the evaluators' capability is empty".into());
        }
        if let Sampler::Grid { points } | Sampler::Bandit { points, .. } = self.sampler {
            if points < 2 {
                return bad(format!(
                    "a grid needs at least 2 points per numeric variable, not {points}"
                ));
            }
            // Where every kind is known already, the grid's size too.
            let kinds: Option<Vec<&Kind>> = self.space.iter().map(|p| p.kind.as_ref()).collect();
            if let Some(kinds) = kinds {
                let size = grid_size(kinds.into_iter(), points);
                if size > MAX_GRID {
                    return bad(format!(
                        "the grid has {size} points, more than {MAX_GRID}: use fewer points"
                    ));
                }
            }
        }
        Ok(())
    }
}

/// The journal variable of study `name`.
pub(crate) fn journal_name(name: &str) -> String {
    format!("{JOURNAL_PREFIX}{name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> StudySpec {
        StudySpec::new("s", Objective::minimize("loss"), "evaluator").param("lr")
    }

    fn refusal(spec: &StudySpec) -> String {
        match spec.validate() {
            Err(VariableError::InvalidStudy { reason, .. }) => reason,
            other => panic!("not refused as an invalid study: {other:?}"),
        }
    }

    #[test]
    fn invalid_specs_are_refused_with_a_reason() {
        assert!(spec().validate().is_ok());
        let empty = StudySpec::new("s", Objective::minimize("loss"), "e");
        assert!(refusal(&empty).contains("search space is empty"));
        assert!(refusal(&spec().trials(0)).contains("no trial"));
        assert!(refusal(&spec().concurrency(0)).contains("concurrency"));
        assert!(refusal(&spec().time(Duration::ZERO)).contains("time budget"));
        assert!(refusal(&spec().trial_deadline(Duration::ZERO)).contains("deadline"));
        assert!(refusal(&spec().param("lr")).contains("twice"));
        let mut named = spec();
        named.name = "two words".into();
        assert!(refusal(&named).contains("without whitespace"));
        named.name = "x".repeat(MAX_NAME + 1);
        assert!(refusal(&named).contains("bytes"));
        let infinite = spec().param_in("x", Kind::float(0.0, f64::INFINITY));
        assert!(
            refusal(&infinite).contains("finite"),
            "{}",
            refusal(&infinite)
        );
        assert!(refusal(&spec().param_in("note", Kind::text(8))).contains("text"));
        let no_metric = StudySpec::new("s", Objective::minimize(""), "e").param("x");
        assert!(refusal(&no_metric).contains("metric"));
        let no_capability = StudySpec::new("s", Objective::minimize("m"), "").param("x");
        assert!(refusal(&no_capability).contains("capability"));
    }

    #[test]
    fn grids_need_two_points_and_a_bounded_size() {
        let grid = |points| spec().sampler(Sampler::Grid { points });
        assert!(grid(2).validate().is_ok());
        assert!(refusal(&grid(1)).contains("at least 2 points"));
        let bandit = spec().sampler(Sampler::Bandit {
            policy: BanditPolicy::Ucb1,
            points: 0,
        });
        assert!(refusal(&bandit).contains("at least 2 points"));
        // Known kinds: the size is checked now (20^4 = 160,000 points).
        let mut big = StudySpec::new("s", Objective::minimize("loss"), "e")
            .sampler(Sampler::Grid { points: 20 });
        for name in ["a", "b", "c", "d"] {
            big = big.param_in(name, Kind::float(0.0, 1.0));
        }
        assert!(refusal(&big).contains("160000 points"), "{}", refusal(&big));
    }

    #[test]
    fn specs_travel_as_json() {
        let spec = spec()
            .param_in("batch", Kind::int(8, 64))
            .sampler(Sampler::Bandit {
                policy: BanditPolicy::Thompson { seed: 3 },
                points: 4,
            })
            .time(Duration::from_secs(30))
            .pruner(MedianPruner::new(5, 2));
        let text = serde_json::to_string(&spec).expect("json");
        assert_eq!(
            serde_json::from_str::<StudySpec>(&text).expect("back"),
            spec
        );
    }
}
