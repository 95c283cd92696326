//! Which trial runs next, with which configuration, and what the pruner
//! says of a trial under way: the study's decisions, pure and
//! deterministic, apart from the messages that carry them.

use std::collections::{BTreeMap, BTreeSet};

use rand::rngs::StdRng;
use rand::SeedableRng;

use super::space::{Grid, Params, Space};
use super::spec::{BanditPolicy, Direction, Sampler, StudySpec};
use super::trials::{is_better, TrialRecord, TrialState};
use crate::protocols::bandit::{BanditError, Thompson, Ucb1};
use crate::variables::VariableError;

/// A trial to start: its number and configuration.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Next {
    pub(crate) number: u64,
    pub(crate) params: Params,
    pub(crate) point: Option<u64>,
}

/// How configurations are drawn.
#[derive(Debug, Clone)]
enum Sampling {
    Random { seed: u64 },
    Grid(Grid),
    Bandit { grid: Grid, policy: BanditPolicy },
}

/// A study's schedule: the trials finished, the trials running, and the
/// numbers left.
#[derive(Debug, Clone)]
pub(crate) struct Schedule {
    spec: StudySpec,
    space: Space,
    sampling: Sampling,
    /// Trial numbers run from 0 to `limit - 1`.
    limit: u64,
    /// Finished trials, in the order they finished.
    finished: Vec<TrialRecord>,
    /// Their numbers.
    done: BTreeSet<u64>,
    /// Running trials: number → grid point.
    running: BTreeMap<u64, Option<u64>>,
    best: Option<usize>,
}

impl Schedule {
    /// The schedule of `spec` over `space`, with `finished` trials
    /// already done (a resumed study).
    ///
    /// # Errors
    /// [`VariableError::InvalidStudy`] if its grid cannot be built.
    pub(crate) fn new(
        spec: StudySpec,
        space: Space,
        finished: Vec<TrialRecord>,
    ) -> Result<Self, VariableError> {
        let invalid = |e: VariableError| VariableError::InvalidStudy {
            name: spec.name.clone(),
            reason: e.to_string(),
        };
        let sampling = match spec.sampler {
            Sampler::Random { seed } => Sampling::Random { seed },
            Sampler::Grid { points } => Sampling::Grid(space.grid(points).map_err(invalid)?),
            Sampler::Bandit { policy, points } => Sampling::Bandit {
                grid: space.grid(points).map_err(invalid)?,
                policy,
            },
        };
        let limit = match &sampling {
            Sampling::Grid(grid) => spec.budget.trials.min(grid.size()),
            _ => spec.budget.trials,
        };
        let mut schedule = Schedule {
            spec,
            space,
            sampling,
            limit,
            finished: Vec::new(),
            done: BTreeSet::new(),
            running: BTreeMap::new(),
            best: None,
        };
        for record in finished {
            schedule.finish(record);
        }
        Ok(schedule)
    }

    /// Whether every trial number is finished or running.
    pub(crate) fn exhausted(&self) -> bool {
        self.next_number().is_none()
    }

    /// Whether the grid, rather than the trial budget, bounds the study.
    pub(crate) fn grid_bound(&self) -> bool {
        matches!(self.sampling, Sampling::Grid(_)) && self.limit < self.spec.budget.trials
    }

    /// The finished trials, in the order they finished.
    pub(crate) fn finished(&self) -> &[TrialRecord] {
        &self.finished
    }

    /// The best completed trial.
    pub(crate) fn best(&self) -> Option<&TrialRecord> {
        self.best.map(|i| &self.finished[i])
    }

    /// The trial to start next, marked running; `None` when every
    /// number is finished or running. Numbers go up from the smallest
    /// not yet finished (a resumed study first runs again the trials
    /// that were under way when it stopped).
    ///
    /// # Errors
    /// [`VariableError::InvalidValue`] if a random draw is a value its
    /// variable refuses (a defect).
    pub(crate) fn next(&mut self) -> Option<Result<Next, VariableError>> {
        let number = self.next_number()?;
        let next = match &self.sampling {
            Sampling::Random { seed } => {
                let mut rng = StdRng::seed_from_u64(mix(*seed, number));
                self.space.draw(&mut rng).map(|params| Next {
                    number,
                    params,
                    point: None,
                })
            }
            Sampling::Grid(grid) => Ok(Next {
                number,
                params: grid.point(number),
                point: Some(number),
            }),
            Sampling::Bandit { grid, policy } => {
                let arm = self.choose_arm(grid.size(), *policy, number);
                arm.map(|arm| Next {
                    number,
                    params: grid.point(arm),
                    point: Some(arm),
                })
                .map_err(|e| VariableError::InvalidStudy {
                    name: self.spec.name.clone(),
                    reason: e.to_string(),
                })
            }
        };
        if let Ok(next) = &next {
            self.running.insert(number, next.point);
        }
        Some(next)
    }

    fn next_number(&self) -> Option<u64> {
        (0..self.limit).find(|n| !self.done.contains(n) && !self.running.contains_key(n))
    }

    /// Records a finished trial (it is no longer running).
    pub(crate) fn finish(&mut self, record: TrialRecord) {
        self.running.remove(&record.number);
        if !self.done.insert(record.number) {
            return;
        }
        if is_better(self.spec.objective.direction, &record, self.best()) {
            self.best = Some(self.finished.len());
        }
        self.finished.push(record);
    }

    /// Forgets that trial `number` runs, without finishing it (the study
    /// stops before it ends).
    pub(crate) fn abandon(&mut self, number: u64) {
        self.running.remove(&number);
    }

    /// Whether the pruner stops a trial that has reported `values` so far.
    pub(crate) fn prunes(&self, values: &[f64]) -> bool {
        let Some(pruner) = self.spec.pruner else {
            return false;
        };
        let completed = self
            .finished
            .iter()
            .filter(|t| matches!(t.state, TrialState::Complete { .. }))
            .map(|t| t.intermediate.as_slice());
        pruner.prunes(self.spec.objective.direction, values, completed)
    }

    /// The arm the bandit plays for trial `number` (see
    /// [`Sampler::Bandit`]).
    fn choose_arm(&self, arms: u64, policy: BanditPolicy, number: u64) -> Result<u64, BanditError> {
        let arms = usize::try_from(arms).unwrap_or(usize::MAX);
        let pulls = pulls(
            self.spec.objective.direction,
            &self.finished,
            self.running.values().filter_map(|p| *p),
        );
        Ok(match policy {
            BanditPolicy::Ucb1 => {
                let mut bandit = Ucb1::new(arms)?;
                for (arm, reward) in pulls {
                    bandit.update(arm, reward)?;
                }
                bandit.choose()
            }
            BanditPolicy::Thompson { seed } => {
                let mut bandit = Thompson::new(arms)?;
                for (arm, reward) in pulls {
                    bandit.update(arm, reward)?;
                }
                bandit.choose(&mut StdRng::seed_from_u64(mix(seed, number)))
            }
        } as u64)
    }
}

/// The bandit's pulls: each finished trial's arm and reward (a completed
/// trial's value scaled to [0, 1] between the worst and the best value
/// so far, 1 the best, 0.5 while they are equal; a pruned trial 0; a
/// failed one nothing), then each running trial's arm at that arm's mean
/// reward so far (0.5 for an arm without one).
fn pulls(
    direction: Direction,
    finished: &[TrialRecord],
    running: impl Iterator<Item = u64>,
) -> Vec<(usize, f64)> {
    let values = finished.iter().filter_map(TrialRecord::value);
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    let scaled = |v: f64| {
        if hi > lo {
            let up = (v - lo) / (hi - lo);
            match direction {
                Direction::Maximize => up,
                Direction::Minimize => 1.0 - up,
            }
            .clamp(0.0, 1.0)
        } else {
            0.5
        }
    };
    let mut pulls: Vec<(usize, f64)> = finished
        .iter()
        .filter_map(|t| {
            let arm = usize::try_from(t.point?).ok()?;
            match t.state {
                TrialState::Complete { value } => Some((arm, scaled(value))),
                TrialState::Pruned { .. } => Some((arm, 0.0)),
                TrialState::Failed { .. } => None,
            }
        })
        .collect();
    let mut means: BTreeMap<usize, (f64, u64)> = BTreeMap::new();
    for (arm, reward) in &pulls {
        let m = means.entry(*arm).or_default();
        *m = (m.0 + reward, m.1 + 1);
    }
    for arm in running.filter_map(|a| usize::try_from(a).ok()) {
        let mean = means.get(&arm).map_or(0.5, |(sum, n)| sum / *n as f64);
        pulls.push((arm, mean));
    }
    pulls
}

/// A seed for trial `number` of a study seeded `seed` (SplitMix64 of
/// both): nearby trials get unrelated generators.
fn mix(seed: u64, number: u64) -> u64 {
    let mut z = seed ^ number.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::Value;
    use crate::variables::study::MedianPruner;
    use crate::variables::{Command, Definition, Kind, Objective, Table};

    fn table() -> Table {
        let mut t = Table::new();
        for definition in [
            Definition::new("x", Kind::float(-1.0, 1.0), Value::Float(0.0)),
            Definition::new(
                "opt",
                Kind::choice(["adam", "sgd", "lion"]),
                Value::Text("adam".into()),
            ),
        ] {
            t.apply(Command::Define {
                definition,
                at_ms: 0,
            })
            .expect("define");
        }
        t
    }

    fn schedule(spec: StudySpec, finished: Vec<TrialRecord>) -> Schedule {
        let space = Space::resolve(&spec, &table()).expect("space");
        Schedule::new(spec, space, finished).expect("schedule")
    }

    fn spec() -> StudySpec {
        StudySpec::new("s", Objective::minimize("loss"), "e")
            .param("x")
            .param("opt")
    }

    fn record(next: &Next, state: TrialState, intermediate: Vec<f64>) -> TrialRecord {
        TrialRecord {
            number: next.number,
            params: next.params.clone(),
            point: next.point,
            state,
            intermediate,
            agent: "a".into(),
            node: None,
            duration_ms: 1,
        }
    }

    fn complete(next: &Next, value: f64) -> TrialRecord {
        record(next, TrialState::Complete { value }, vec![value])
    }

    #[test]
    fn random_trials_are_a_function_of_the_seed_and_the_number() {
        let mut a = schedule(spec().trials(5), Vec::new());
        let drawn: Vec<Next> = (0..5).map(|_| a.next().unwrap().unwrap()).collect();
        assert!(a.next().is_none(), "five trials, five numbers");
        assert_eq!(
            drawn.iter().map(|n| n.number).collect::<Vec<_>>(),
            [0, 1, 2, 3, 4]
        );
        assert_ne!(drawn[0].params, drawn[1].params);

        // Resumed with trials 0, 1 and 3 finished: 2 and 4 run again,
        // with the configurations the first run drew.
        let finished = [0, 1, 3]
            .iter()
            .map(|&i| complete(&drawn[i], 1.0))
            .collect();
        let mut b = schedule(spec().trials(5), finished);
        assert_eq!(b.next().unwrap().unwrap(), drawn[2]);
        assert_eq!(b.next().unwrap().unwrap(), drawn[4]);
        assert!(b.next().is_none());
        assert!(b.exhausted());

        let mut c = schedule(spec().sampler(Sampler::Random { seed: 9 }), Vec::new());
        assert_ne!(c.next().unwrap().unwrap().params, drawn[0].params);
    }

    #[test]
    fn a_grid_study_ends_with_its_grid() {
        let mut s = schedule(
            spec().sampler(Sampler::Grid { points: 3 }).trials(100),
            Vec::new(),
        );
        assert!(s.grid_bound());
        let mut n = 0;
        while let Some(next) = s.next() {
            let next = next.unwrap();
            assert_eq!(next.point, Some(n));
            s.finish(complete(&next, n as f64));
            n += 1;
        }
        assert_eq!(n, 9, "3 values of x times 3 options");
        assert_eq!(s.best().map(|b| b.number), Some(0));
        assert_eq!(s.finished().len(), 9);
    }

    #[test]
    fn ucb1_tries_every_arm_then_favours_the_best() {
        // x has 2 points, opt 3 options: 6 arms.
        let bandit = Sampler::Bandit {
            policy: BanditPolicy::Ucb1,
            points: 2,
        };
        let mut s = schedule(spec().sampler(bandit).trials(40), Vec::new());
        // Three at once: running trials count, so they spread.
        let first: Vec<Next> = (0..3).map(|_| s.next().unwrap().unwrap()).collect();
        let arms: Vec<Option<u64>> = first.iter().map(|n| n.point).collect();
        assert_eq!(arms, [Some(0), Some(1), Some(2)]);
        // Arm 4 (x = 1, opt = sgd) is the best: loss 0; the others 1.
        let loss = |next: &Next| if next.point == Some(4) { 0.0 } else { 1.0 };
        for next in first {
            let l = loss(&next);
            s.finish(complete(&next, l));
        }
        let mut plays = BTreeMap::new();
        while let Some(next) = s.next() {
            let next = next.unwrap();
            *plays.entry(next.point.unwrap()).or_insert(0) += 1;
            let l = loss(&next);
            s.finish(complete(&next, l));
        }
        let best = plays[&4];
        assert!(
            plays.iter().all(|(arm, n)| *arm == 4 || *n < best),
            "{plays:?}"
        );
        assert_eq!(s.best().and_then(|b| b.point), Some(4));
    }

    #[test]
    fn thompson_is_seeded_by_the_study_and_the_trial() {
        let bandit = |seed| Sampler::Bandit {
            policy: BanditPolicy::Thompson { seed },
            points: 2,
        };
        let run = |seed| {
            let mut s = schedule(spec().sampler(bandit(seed)).trials(12), Vec::new());
            let mut arms = Vec::new();
            while let Some(next) = s.next() {
                let next = next.unwrap();
                arms.push(next.point.unwrap());
                let value = next.point.unwrap() as f64;
                s.finish(complete(&next, value));
            }
            arms
        };
        assert_eq!(run(1), run(1));
        assert_ne!(run(1), run(2));
    }

    #[test]
    fn pruned_and_failed_trials_reward_the_bandit_as_documented() {
        let next = |point| Next {
            number: point,
            params: Params::new(),
            point: Some(point),
        };
        let finished = vec![
            complete(&next(0), 2.0),
            complete(&next(1), 4.0),
            record(&next(2), TrialState::Pruned { step: 1 }, vec![9.0]),
            record(
                &next(3),
                TrialState::Failed {
                    reason: "gone".into(),
                },
                vec![],
            ),
            complete(&next(0), 3.0),
        ];
        let got = pulls(Direction::Minimize, &finished, [0, 5].into_iter());
        // Minimize: 2 is the best (1), 4 the worst (0), 3 half-way.
        assert_eq!(
            got,
            [(0, 1.0), (1, 0.0), (2, 0.0), (0, 0.5), (0, 0.75), (5, 0.5)]
        );
    }

    #[test]
    fn the_pruner_sees_only_completed_trials() {
        let mut s = schedule(
            spec().pruner(MedianPruner::new(2, 0)).trials(10),
            Vec::new(),
        );
        let a = s.next().unwrap().unwrap();
        let b = s.next().unwrap().unwrap();
        let c = s.next().unwrap().unwrap();
        s.finish(record(
            &a,
            TrialState::Complete { value: 1.0 },
            vec![1.0, 1.0],
        ));
        // One completed: below the start-up count.
        assert!(!s.prunes(&[5.0]));
        s.finish(record(&b, TrialState::Pruned { step: 0 }, vec![0.0]));
        assert!(!s.prunes(&[5.0]), "a pruned trial does not count");
        s.finish(record(
            &c,
            TrialState::Complete { value: 3.0 },
            vec![3.0, 3.0],
        ));
        assert!(s.prunes(&[5.0]));
        assert!(!s.prunes(&[2.0]));
        assert_eq!(s.best().map(|t| t.number), Some(a.number));
    }
}
