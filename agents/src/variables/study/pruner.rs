//! The median pruner's rule, as Optuna's `MedianPruner` decides it.

use super::spec::{Direction, MedianPruner};

impl MedianPruner {
    /// Whether a trial that has reported `values` (its intermediate
    /// values, step 0 first, the last one at step `values.len() - 1`) is
    /// stopped now, given `completed`: the intermediate values of every
    /// completed trial (pruned and failed trials do not count).
    ///
    /// As Optuna's `MedianPruner` (a percentile pruner at 50 %, one
    /// trial at least per step, an interval of one step):
    ///
    /// * never while fewer than `startup_trials` trials have completed,
    ///   nor when none has;
    /// * never at a step before `warmup_steps`;
    /// * otherwise the trial's best value so far (the largest when
    ///   maximizing) is compared with the median of the values the
    ///   completed trials reported at this step (the mean of the middle
    ///   two for an even count); worse is pruned, equal is not. When no
    ///   completed trial reported this step, it is not pruned.
    ///
    /// NaN values are skipped on both sides (as NumPy's `nanmedian`); a
    /// trial with no other value is pruned, as Optuna does.
    pub fn prunes<'a>(
        &self,
        direction: Direction,
        values: &[f64],
        completed: impl IntoIterator<Item = &'a [f64]>,
    ) -> bool {
        let Some(step) = values.len().checked_sub(1) else {
            return false;
        };
        if (step as u64) < self.warmup_steps {
            return false;
        }
        let mut at_step = Vec::new();
        let mut count = 0;
        for trial in completed {
            count += 1;
            if let Some(v) = trial.get(step) {
                if !v.is_nan() {
                    at_step.push(*v);
                }
            }
        }
        if count == 0 || count < self.startup_trials {
            return false;
        }
        let best = values
            .iter()
            .copied()
            .filter(|v| !v.is_nan())
            .reduce(|a, b| if direction.better(b, a) { b } else { a });
        let Some(best) = best else {
            return true;
        };
        match median(&mut at_step) {
            Some(median) => direction.better(median, best),
            None => false,
        }
    }
}

/// The median of `values` (none are NaN), the mean of the middle two for
/// an even count; `None` for none.
fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MIN: Direction = Direction::Minimize;
    const MAX: Direction = Direction::Maximize;

    fn prunes(p: MedianPruner, dir: Direction, values: &[f64], done: &[Vec<f64>]) -> bool {
        p.prunes(dir, values, done.iter().map(Vec::as_slice))
    }

    #[test]
    fn worse_than_the_median_at_the_step_is_pruned() {
        let p = MedianPruner::new(0, 0);
        let done = vec![vec![1.0, 0.5], vec![3.0, 0.7], vec![2.0, 0.9]];
        // Medians: step 0 → 2.0, step 1 → 0.7.
        assert!(prunes(p, MIN, &[2.5], &done));
        assert!(!prunes(p, MIN, &[2.0], &done), "equal is not worse");
        assert!(!prunes(p, MIN, &[1.5], &done));
        // Its best so far counts, not its last value (Optuna).
        assert!(!prunes(p, MIN, &[0.6, 5.0], &done));
        assert!(prunes(p, MIN, &[2.5, 0.8], &done));
        // Maximizing: smaller is worse.
        assert!(prunes(p, MAX, &[1.5], &done));
        assert!(!prunes(p, MAX, &[2.5], &done));
    }

    #[test]
    fn an_even_count_takes_the_mean_of_the_middle_two() {
        let p = MedianPruner::new(0, 0);
        let done = vec![vec![1.0], vec![2.0], vec![4.0], vec![10.0]];
        // Median 3.0.
        assert!(prunes(p, MIN, &[3.1], &done));
        assert!(!prunes(p, MIN, &[3.0], &done));
    }

    #[test]
    fn startup_trials_and_warmup_steps_hold_it_back() {
        let done = vec![vec![1.0, 1.0, 1.0], vec![1.0, 1.0, 1.0]];
        let bad = [9.0, 9.0, 9.0];
        assert!(!prunes(MedianPruner::new(3, 0), MIN, &bad[..1], &done));
        assert!(prunes(MedianPruner::new(2, 0), MIN, &bad[..1], &done));
        // Warm-up 2: steps 0 and 1 are never pruned, step 2 is.
        let p = MedianPruner::new(0, 2);
        assert!(!prunes(p, MIN, &bad[..1], &done));
        assert!(!prunes(p, MIN, &bad[..2], &done));
        assert!(prunes(p, MIN, &bad[..3], &done));
        // No completed trial at all: nothing to compare with.
        assert!(!prunes(MedianPruner::new(0, 0), MIN, &bad, &[]));
        // No report yet.
        assert!(!prunes(MedianPruner::new(0, 0), MIN, &[], &done));
    }

    #[test]
    fn a_step_no_completed_trial_reached_is_not_pruned() {
        let done = vec![vec![1.0], vec![1.0]];
        assert!(!prunes(MedianPruner::new(0, 0), MIN, &[0.0, 9.0], &done));
    }

    #[test]
    fn nan_is_skipped_and_a_trial_of_only_nan_is_pruned() {
        let p = MedianPruner::new(0, 0);
        let done = vec![vec![f64::NAN], vec![1.0], vec![3.0]];
        // Median of 1 and 3 (NaN skipped) is 2.
        assert!(prunes(p, MIN, &[2.5], &done));
        assert!(prunes(p, MIN, &[f64::NAN], &done));
        assert!(!prunes(p, MIN, &[f64::NAN, 1.0], &done));
    }

    proptest! {
        /// The best trial at a step is never pruned, the worst of at
        /// least three distinct values always is.
        #[test]
        fn the_best_is_kept_and_the_worst_pruned(
            mut values in proptest::collection::vec(-1e6f64..1e6, 3..20),
        ) {
            values.sort_by(f64::total_cmp);
            values.dedup();
            prop_assume!(values.len() >= 3);
            let done: Vec<Vec<f64>> = values.iter().map(|v| vec![*v]).collect();
            let p = MedianPruner::new(1, 0);
            let (least, most) = (values[0], values[values.len() - 1]);
            prop_assert!(!prunes(p, MIN, &[least], &done));
            prop_assert!(prunes(p, MIN, &[most], &done));
            prop_assert!(!prunes(p, MAX, &[most], &done));
            prop_assert!(prunes(p, MAX, &[least], &done));
        }
    }
}
