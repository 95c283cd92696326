//! Adaptive choice among strategies: multi-armed bandits.
//!
//! Three policies, each a state type with `choose` and `update`:
//!
//! * [`Ucb1`]: play each arm once (lowest index first), then the arm with
//!   the largest `mean_j + sqrt(2 ln n / n_j)`, ties to the lowest index.
//!   Deterministic: [`Ucb1::choose`] takes no random number generator.
//! * [`EpsilonGreedy`]: with probability ε a uniformly random arm, else the
//!   arm with the best mean so far.
//! * [`Thompson`]: Thompson sampling with Beta-Bernoulli posteriors.
//!
//! [`Bandit`] wraps any of them behind one `choose(rng)` / `update`. All
//! randomness comes from the generator passed in, so a seeded
//! [`rand::rngs::StdRng`] replays a run exactly.
//!
//! Rewards must be finite; [`Ucb1`] and [`Thompson`] also need them in
//! [0, 1] (a fractional reward `r` adds `r` to α and `1 − r` to β). An
//! invalid arm or reward is refused with a [`BanditError`] and leaves the
//! state unchanged. Index and mean comparisons are exact; ties go to the
//! lowest arm index.
//!
//! # Examples
//!
//! ```
//! use agents::protocols::bandit::Ucb1;
//!
//! let mut ucb = Ucb1::new(2).unwrap();
//! assert_eq!(ucb.choose(), 0); // every arm once first
//! ucb.update(0, 1.0).unwrap();
//! assert_eq!(ucb.choose(), 1);
//! ucb.update(1, 0.0).unwrap();
//! assert_eq!(ucb.choose(), 0); // 1 + sqrt(2 ln 2) beats 0 + sqrt(2 ln 2)
//! ```

use super::argmax;
use rand::Rng;
use rand_distr::{Beta, Distribution};
use serde::{Deserialize, Serialize};

/// Why a bandit or an update was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error, Serialize, Deserialize)]
#[non_exhaustive]
pub enum BanditError {
    /// A bandit needs at least one arm.
    #[error("a bandit needs at least one arm")]
    NoArms,
    /// The arm does not exist.
    #[error("arm {arm} does not exist: the bandit has {arms} arms")]
    NoSuchArm {
        /// The arm given.
        arm: usize,
        /// The number of arms.
        arms: usize,
    },
    /// The reward is outside what the policy accepts.
    #[error("reward {reward} for arm {arm} is invalid: {policy} needs {expected}")]
    InvalidReward {
        /// The arm.
        arm: usize,
        /// The reward given.
        reward: f64,
        /// The policy.
        policy: String,
        /// What it accepts.
        expected: String,
    },
    /// The exploration probability is not in [0, 1].
    #[error("epsilon {0} is invalid: it must be a probability in [0, 1]")]
    InvalidEpsilon(f64),
    /// A state given whole (deserialised, or built from per-arm
    /// statistics) is inconsistent.
    #[error("inconsistent bandit state: {0}")]
    InvalidState(String),
}

/// What a bandit has seen of one arm.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct ArmStats {
    /// Times the arm was played.
    pub pulls: u64,
    /// Sum of its rewards.
    pub total_reward: f64,
}

impl ArmStats {
    /// The mean reward, 0 for an arm never played.
    pub fn mean(&self) -> f64 {
        if self.pulls == 0 {
            0.0
        } else {
            self.total_reward / self.pulls as f64
        }
    }

    fn record(&mut self, reward: f64) {
        self.pulls = self.pulls.saturating_add(1);
        self.total_reward += reward;
    }
}

fn check_arms(arms: usize) -> Result<(), BanditError> {
    if arms == 0 {
        Err(BanditError::NoArms)
    } else {
        Ok(())
    }
}

fn check_arm(arm: usize, arms: usize) -> Result<(), BanditError> {
    if arm < arms {
        Ok(())
    } else {
        Err(BanditError::NoSuchArm { arm, arms })
    }
}

fn check_unit_reward(policy: &str, arm: usize, reward: f64) -> Result<(), BanditError> {
    if reward.is_finite() && (0.0..=1.0).contains(&reward) {
        Ok(())
    } else {
        Err(BanditError::InvalidReward {
            arm,
            reward,
            policy: policy.into(),
            expected: "a reward in [0, 1]".into(),
        })
    }
}

fn check_stats(stats: &[ArmStats], unit: bool) -> Result<(), BanditError> {
    check_arms(stats.len()).map_err(|_| BanditError::InvalidState("no arms".into()))?;
    for (arm, s) in stats.iter().enumerate() {
        let limit = if unit { s.pulls as f64 } else { f64::INFINITY };
        if !s.total_reward.is_finite()
            || (unit && !(0.0..=limit).contains(&s.total_reward))
            || (s.pulls == 0 && s.total_reward != 0.0)
        {
            return Err(BanditError::InvalidState(format!(
                "arm {arm} has total reward {} over {} pulls",
                s.total_reward, s.pulls
            )));
        }
    }
    Ok(())
}

/// The UCB1 policy for rewards in [0, 1].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawStats")]
pub struct Ucb1 {
    arms: Vec<ArmStats>,
}

#[derive(Deserialize)]
struct RawStats {
    arms: Vec<ArmStats>,
}

impl TryFrom<RawStats> for Ucb1 {
    type Error = BanditError;
    fn try_from(raw: RawStats) -> Result<Self, BanditError> {
        check_stats(&raw.arms, true)?;
        Ok(Ucb1 { arms: raw.arms })
    }
}

impl Ucb1 {
    /// A fresh UCB1 bandit over `arms` arms.
    ///
    /// # Errors
    ///
    /// [`BanditError::NoArms`] for 0 arms.
    pub fn new(arms: usize) -> Result<Self, BanditError> {
        check_arms(arms)?;
        Ok(Ucb1 {
            arms: vec![ArmStats::default(); arms],
        })
    }

    /// A UCB1 bandit that has already been played: one `(pulls, mean)` pair
    /// per arm, in arm order, gives how often the arm was played and its
    /// mean reward. An arm never played is `(0, 0.0)`.
    ///
    /// The arm's total reward is stored as `pulls × mean`, so
    /// [`ArmStats::mean`] gives back `mean` up to rounding of that product
    /// and the division.
    ///
    /// # Errors
    ///
    /// [`BanditError::NoArms`] for no pairs; [`BanditError::InvalidState`]
    /// for a mean that is not a finite number in [0, 1], or not `0.0` for
    /// an arm with no pulls.
    ///
    /// # Examples
    ///
    /// ```
    /// use agents::protocols::bandit::Ucb1;
    ///
    /// let ucb = Ucb1::from_means([(10, 0.5), (2, 0.25), (0, 0.0)])?;
    /// assert_eq!(ucb.pulls(), 12);
    /// assert_eq!(ucb.choose(), 2); // an arm never played comes first
    /// # Ok::<(), agents::protocols::bandit::BanditError>(())
    /// ```
    pub fn from_means(arms: impl IntoIterator<Item = (u64, f64)>) -> Result<Self, BanditError> {
        let mut stats = Vec::new();
        for (arm, (pulls, mean)) in arms.into_iter().enumerate() {
            let valid = if pulls == 0 {
                mean == 0.0
            } else {
                mean.is_finite() && (0.0..=1.0).contains(&mean)
            };
            if !valid {
                return Err(BanditError::InvalidState(format!(
                    "arm {arm} has mean {mean} over {pulls} pulls; UCB1 needs a mean in [0, 1], \
                     and 0 for an arm never played"
                )));
            }
            stats.push(ArmStats {
                pulls,
                // `+ 0.0` turns a mean of -0.0 into a total of 0.0.
                total_reward: pulls as f64 * mean + 0.0,
            });
        }
        check_arms(stats.len())?;
        check_stats(&stats, true)?;
        Ok(Ucb1 { arms: stats })
    }

    /// What has been seen of each arm.
    pub fn arms(&self) -> &[ArmStats] {
        &self.arms
    }

    /// Total plays `n`.
    pub fn pulls(&self) -> u64 {
        self.arms
            .iter()
            .map(|a| a.pulls)
            .fold(0, u64::saturating_add)
    }

    /// Each arm's index `mean_j + sqrt(2 ln n / n_j)`; infinite for an arm
    /// never played.
    pub fn indices(&self) -> Vec<f64> {
        let ln_n = (self.pulls() as f64).ln();
        self.arms
            .iter()
            .map(|a| {
                if a.pulls == 0 {
                    f64::INFINITY
                } else {
                    a.mean() + (2.0 * ln_n / a.pulls as f64).sqrt()
                }
            })
            .collect()
    }

    /// The arm to play next: the lowest-index arm never played, else the
    /// largest index (ties to the lowest arm).
    pub fn choose(&self) -> usize {
        if let Some(unplayed) = self.arms.iter().position(|a| a.pulls == 0) {
            return unplayed;
        }
        argmax(self.indices().into_iter())
    }

    /// Records `reward` for `arm`.
    ///
    /// # Errors
    ///
    /// [`BanditError::NoSuchArm`], or [`BanditError::InvalidReward`] for a
    /// reward outside [0, 1]; the state is then unchanged.
    pub fn update(&mut self, arm: usize, reward: f64) -> Result<(), BanditError> {
        check_arm(arm, self.arms.len())?;
        check_unit_reward("UCB1", arm, reward)?;
        self.arms[arm].record(reward);
        Ok(())
    }
}

/// The epsilon-greedy policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawEpsilon")]
pub struct EpsilonGreedy {
    epsilon: f64,
    arms: Vec<ArmStats>,
}

#[derive(Deserialize)]
struct RawEpsilon {
    epsilon: f64,
    arms: Vec<ArmStats>,
}

impl TryFrom<RawEpsilon> for EpsilonGreedy {
    type Error = BanditError;
    fn try_from(raw: RawEpsilon) -> Result<Self, BanditError> {
        check_stats(&raw.arms, false)?;
        let mut out = EpsilonGreedy::new(raw.arms.len(), raw.epsilon)?;
        out.arms = raw.arms;
        Ok(out)
    }
}

impl EpsilonGreedy {
    /// A fresh epsilon-greedy bandit over `arms` arms exploring with
    /// probability `epsilon`.
    ///
    /// # Errors
    ///
    /// [`BanditError::NoArms`], or [`BanditError::InvalidEpsilon`] unless
    /// `0 ≤ epsilon ≤ 1`.
    pub fn new(arms: usize, epsilon: f64) -> Result<Self, BanditError> {
        check_arms(arms)?;
        if !(0.0..=1.0).contains(&epsilon) {
            return Err(BanditError::InvalidEpsilon(epsilon));
        }
        Ok(EpsilonGreedy {
            epsilon,
            arms: vec![ArmStats::default(); arms],
        })
    }

    /// The exploration probability.
    pub fn epsilon(&self) -> f64 {
        self.epsilon
    }

    /// What has been seen of each arm.
    pub fn arms(&self) -> &[ArmStats] {
        &self.arms
    }

    /// The greedy arm: best mean so far (0 for an arm never played), ties
    /// to the lowest index.
    pub fn greedy(&self) -> usize {
        argmax(self.arms.iter().map(ArmStats::mean))
    }

    /// The probability of choosing each arm next: `ε/k` each, plus `1 − ε`
    /// for the greedy arm.
    pub fn probabilities(&self) -> Vec<f64> {
        let k = self.arms.len() as f64;
        let greedy = self.greedy();
        (0..self.arms.len())
            .map(|a| self.epsilon / k + if a == greedy { 1.0 - self.epsilon } else { 0.0 })
            .collect()
    }

    /// The arm to play next. Draws one `f64` in [0, 1); below ε it
    /// explores, drawing a uniform arm; otherwise it plays the greedy arm.
    pub fn choose<R: Rng + ?Sized>(&self, rng: &mut R) -> usize {
        if rng.random::<f64>() < self.epsilon {
            rng.random_range(0..self.arms.len())
        } else {
            self.greedy()
        }
    }

    /// Records `reward` for `arm`.
    ///
    /// # Errors
    ///
    /// [`BanditError::NoSuchArm`], or [`BanditError::InvalidReward`] for a
    /// reward that is not finite or would make the arm's total reward
    /// overflow; the state is then unchanged.
    pub fn update(&mut self, arm: usize, reward: f64) -> Result<(), BanditError> {
        check_arm(arm, self.arms.len())?;
        if !reward.is_finite() || !(self.arms[arm].total_reward + reward).is_finite() {
            return Err(BanditError::InvalidReward {
                arm,
                reward,
                policy: "epsilon-greedy".into(),
                expected: "a finite reward whose running total stays finite".into(),
            });
        }
        self.arms[arm].record(reward);
        Ok(())
    }
}

/// Thompson sampling with a Beta(1, 1) prior per arm and Bernoulli
/// rewards in [0, 1].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawStats")]
pub struct Thompson {
    arms: Vec<ArmStats>,
}

impl TryFrom<RawStats> for Thompson {
    type Error = BanditError;
    fn try_from(raw: RawStats) -> Result<Self, BanditError> {
        check_stats(&raw.arms, true)?;
        Ok(Thompson { arms: raw.arms })
    }
}

impl Thompson {
    /// A fresh Thompson-sampling bandit over `arms` arms.
    ///
    /// # Errors
    ///
    /// [`BanditError::NoArms`] for 0 arms.
    pub fn new(arms: usize) -> Result<Self, BanditError> {
        check_arms(arms)?;
        Ok(Thompson {
            arms: vec![ArmStats::default(); arms],
        })
    }

    /// What has been seen of each arm.
    pub fn arms(&self) -> &[ArmStats] {
        &self.arms
    }

    /// Each arm's posterior `(α, β)`: `1 + successes`, `1 + failures`.
    pub fn posteriors(&self) -> Vec<(f64, f64)> {
        self.arms
            .iter()
            .map(|a| {
                (
                    1.0 + a.total_reward,
                    1.0 + (a.pulls as f64 - a.total_reward),
                )
            })
            .collect()
    }

    /// Each arm's posterior mean `α / (α + β)`.
    pub fn posterior_means(&self) -> Vec<f64> {
        self.posteriors()
            .into_iter()
            .map(|(a, b)| a / (a + b))
            .collect()
    }

    /// The arm to play next: draws `θ_j ~ Beta(α_j, β_j)` for each arm in
    /// order and plays the largest, ties to the lowest index.
    pub fn choose<R: Rng + ?Sized>(&self, rng: &mut R) -> usize {
        let samples: Vec<f64> = self
            .posteriors()
            .into_iter()
            .map(|(a, b)| match Beta::new(a, b) {
                Ok(beta) => beta.sample(rng),
                // Unreachable for a valid state (α, β ≥ 1): fall back to the mean.
                Err(_) => a / (a + b),
            })
            .collect();
        argmax(samples.into_iter())
    }

    /// Records `reward` for `arm`.
    ///
    /// # Errors
    ///
    /// [`BanditError::NoSuchArm`], or [`BanditError::InvalidReward`] for a
    /// reward outside [0, 1]; the state is then unchanged.
    pub fn update(&mut self, arm: usize, reward: f64) -> Result<(), BanditError> {
        check_arm(arm, self.arms.len())?;
        check_unit_reward("Thompson sampling", arm, reward)?;
        self.arms[arm].record(reward);
        Ok(())
    }
}

/// Any of the bandit policies behind one interface.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Bandit {
    /// UCB1.
    Ucb1(Ucb1),
    /// Epsilon-greedy.
    EpsilonGreedy(EpsilonGreedy),
    /// Thompson sampling (Beta-Bernoulli).
    Thompson(Thompson),
}

impl Bandit {
    /// The arm to play next. UCB1 draws nothing from `rng`.
    pub fn choose<R: Rng + ?Sized>(&self, rng: &mut R) -> usize {
        match self {
            Bandit::Ucb1(b) => b.choose(),
            Bandit::EpsilonGreedy(b) => b.choose(rng),
            Bandit::Thompson(b) => b.choose(rng),
        }
    }

    /// Records `reward` for `arm`.
    ///
    /// # Errors
    ///
    /// As the wrapped policy's `update`.
    pub fn update(&mut self, arm: usize, reward: f64) -> Result<(), BanditError> {
        match self {
            Bandit::Ucb1(b) => b.update(arm, reward),
            Bandit::EpsilonGreedy(b) => b.update(arm, reward),
            Bandit::Thompson(b) => b.update(arm, reward),
        }
    }

    /// What has been seen of each arm.
    pub fn arms(&self) -> &[ArmStats] {
        match self {
            Bandit::Ucb1(b) => b.arms(),
            Bandit::EpsilonGreedy(b) => b.arms(),
            Bandit::Thompson(b) => b.arms(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    #[test]
    fn ucb1_worked_example() {
        // Arms 0 and 1. Each once first: arm 0 pays 1, arm 1 pays 0.
        let mut ucb = Ucb1::new(2).unwrap();
        assert_eq!(ucb.choose(), 0);
        ucb.update(0, 1.0).unwrap();
        assert_eq!(ucb.choose(), 1);
        ucb.update(1, 0.0).unwrap();
        // n = 2: arm 0: 1 + sqrt(2 ln 2 / 1) = 1 + 1.1774 = 2.1774;
        //        arm 1: 0 + 1.1774. Play 0; it pays 0.
        assert_eq!(ucb.choose(), 0);
        ucb.update(0, 0.0).unwrap();
        // n = 3: arm 0: 0.5 + sqrt(2 ln 3 / 2) = 0.5 + 1.0481 = 1.5481;
        //        arm 1: 0 + sqrt(2 ln 3) = 1.4823. Play 0; it pays 0.
        let idx = ucb.indices();
        assert!(
            (idx[0] - 1.548_147).abs() < 1e-6 && (idx[1] - 1.482_304).abs() < 1e-6,
            "{idx:?}"
        );
        assert_eq!(ucb.choose(), 0);
        ucb.update(0, 0.0).unwrap();
        // n = 4: arm 0: 1/3 + sqrt(2 ln 4 / 3) = 0.3333 + 0.9613 = 1.2947;
        //        arm 1: 0 + sqrt(2 ln 4) = 1.6651. Play 1.
        assert_eq!(ucb.choose(), 1);
    }

    #[test]
    fn ucb1_from_means_matches_the_played_state() {
        // Arm 0: 4 pulls, rewards 1, 1, 0, 0 (mean 0.5); arm 1: 2 pulls, 1 and 0.
        let mut played = Ucb1::new(2).unwrap();
        for (arm, reward) in [(0, 1.0), (0, 1.0), (0, 0.0), (0, 0.0), (1, 1.0), (1, 0.0)] {
            played.update(arm, reward).unwrap();
        }
        let built = Ucb1::from_means([(4, 0.5), (2, 0.5)]).unwrap();
        assert_eq!(built, played);
        assert_eq!(built.indices(), played.indices());
        // -0.0 is an unplayed arm's mean too.
        assert_eq!(Ucb1::from_means([(0, -0.0)]).unwrap().choose(), 0);
    }

    #[test]
    fn ucb1_from_means_refuses_bad_arms() {
        assert_eq!(Ucb1::from_means([]), Err(BanditError::NoArms));
        for bad in [
            (1, f64::NAN),
            (1, f64::INFINITY),
            (1, -0.1),
            (1, 1.5),
            (0, 0.5),
        ] {
            assert!(
                matches!(
                    Ucb1::from_means([(1, 0.0), bad]),
                    Err(BanditError::InvalidState(msg)) if msg.starts_with("arm 1 ")
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn ucb1_ties_go_to_the_lowest_arm() {
        // Three arms each played once with reward 0.5: equal indices.
        let mut ucb = Ucb1::new(3).unwrap();
        for arm in 0..3 {
            ucb.update(arm, 0.5).unwrap();
        }
        assert_eq!(ucb.choose(), 0);
    }

    #[test]
    fn bad_updates_are_refused_and_change_nothing() {
        let mut ucb = Ucb1::new(2).unwrap();
        assert_eq!(
            ucb.update(2, 0.5),
            Err(BanditError::NoSuchArm { arm: 2, arms: 2 })
        );
        assert!(matches!(
            ucb.update(0, 1.5),
            Err(BanditError::InvalidReward { arm: 0, .. })
        ));
        assert!(matches!(
            ucb.update(0, f64::NAN),
            Err(BanditError::InvalidReward { .. })
        ));
        assert_eq!(ucb.pulls(), 0);
        let mut eg = EpsilonGreedy::new(2, 0.1).unwrap();
        assert!(eg.update(0, -7.5).is_ok());
        assert!(eg.update(0, f64::INFINITY).is_err());
        assert_eq!(eg.arms()[0].pulls, 1);
        let mut ts = Thompson::new(2).unwrap();
        assert!(ts.update(1, -0.1).is_err());
        assert_eq!(Ucb1::new(0), Err(BanditError::NoArms));
        assert_eq!(
            EpsilonGreedy::new(1, 1.5),
            Err(BanditError::InvalidEpsilon(1.5))
        );
        assert!(EpsilonGreedy::new(1, f64::NAN).is_err());
        // Deserialising checks the state too.
        assert!(serde_json::from_str::<EpsilonGreedy>(
            r#"{"epsilon":2.0,"arms":[{"pulls":0,"total_reward":0.0}]}"#
        )
        .is_err());
        assert!(
            serde_json::from_str::<Thompson>(r#"{"arms":[{"pulls":1,"total_reward":3.0}]}"#)
                .is_err()
        );
        assert!(serde_json::from_str::<Ucb1>(r#"{"arms":[]}"#).is_err());
    }

    #[test]
    fn epsilon_greedy_probabilities_and_extremes() {
        // 4 arms, ε = 0.2, arm 2 best: probabilities 0.05 each + 0.8 for arm 2.
        let mut eg = EpsilonGreedy::new(4, 0.2).unwrap();
        eg.update(2, 3.0).unwrap();
        eg.update(1, 1.0).unwrap();
        let p = eg.probabilities();
        assert!((p[2] - 0.85).abs() < 1e-12 && (p[0] - 0.05).abs() < 1e-12);
        assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        // ε = 0 always exploits.
        let mut rng = StdRng::seed_from_u64(7);
        let mut greedy = EpsilonGreedy::new(4, 0.0).unwrap();
        greedy.update(3, 1.0).unwrap();
        assert!((0..100).all(|_| greedy.choose(&mut rng) == 3));
        // ε = 1 explores uniformly: each of 4 arms about 2,500 times in 10,000.
        let explorer = EpsilonGreedy::new(4, 1.0).unwrap();
        let mut counts = [0u32; 4];
        for _ in 0..10_000 {
            counts[explorer.choose(&mut rng)] += 1;
        }
        assert!(
            counts.iter().all(|&c| (2_200..2_800).contains(&c)),
            "{counts:?}"
        );
    }

    /// Plays `rounds` rounds against Bernoulli arms with success
    /// probabilities `p`, rewards drawn from the same seeded generator.
    fn simulate(bandit: &mut Bandit, p: &[f64], rounds: usize, seed: u64) -> Vec<u64> {
        let mut rng = StdRng::seed_from_u64(seed);
        for _ in 0..rounds {
            let arm = bandit.choose(&mut rng);
            let reward = if rng.random::<f64>() < p[arm] {
                1.0
            } else {
                0.0
            };
            bandit.update(arm, reward).unwrap();
        }
        bandit.arms().iter().map(|a| a.pulls).collect()
    }

    #[test]
    fn policies_find_the_better_arm_reproducibly() {
        let p = [0.2, 0.8];
        let makers: [fn() -> Bandit; 3] = [
            || Bandit::Ucb1(Ucb1::new(2).unwrap()),
            || Bandit::EpsilonGreedy(EpsilonGreedy::new(2, 0.1).unwrap()),
            || Bandit::Thompson(Thompson::new(2).unwrap()),
        ];
        for make in makers {
            let mut a = make();
            let pulls = simulate(&mut a, &p, 2_000, 42);
            assert!(pulls[1] > 1_600, "{a:?}: {pulls:?}");
            // The same seed replays the same run.
            let mut b = make();
            assert_eq!(simulate(&mut b, &p, 2_000, 42), pulls);
            assert_eq!(a, b);
        }
    }

    #[test]
    fn thompson_posteriors() {
        // Arm 0: rewards 1, 1, 0 → Beta(3, 2), mean 3/5. Arm 1 unplayed: Beta(1, 1).
        let mut ts = Thompson::new(2).unwrap();
        for r in [1.0, 1.0, 0.0] {
            ts.update(0, r).unwrap();
        }
        assert_eq!(ts.posteriors(), vec![(3.0, 2.0), (1.0, 1.0)]);
        assert_eq!(ts.posterior_means(), vec![0.6, 0.5]);
        // Fractional rewards split: 0.25 adds 0.25 to α and 0.75 to β.
        ts.update(1, 0.25).unwrap();
        assert_eq!(ts.posteriors()[1], (1.25, 1.75));
    }

    #[derive(Debug, Clone)]
    enum Op {
        Choose,
        Update(usize, f64),
    }

    fn ops() -> impl Strategy<Value = Vec<Op>> {
        proptest::collection::vec(
            prop_oneof![
                Just(Op::Choose),
                (0usize..6, prop_oneof![0.0f64..=1.0, any::<f64>()])
                    .prop_map(|(a, r)| Op::Update(a, r)),
            ],
            0..60,
        )
    }

    proptest! {
        #[test]
        fn ucb1_plays_every_arm_once_first(arms in 1usize..10, rewards in proptest::collection::vec(0.0f64..=1.0, 10)) {
            let mut ucb = Ucb1::new(arms).unwrap();
            for (expected, reward) in (0..arms).zip(&rewards) {
                let arm = ucb.choose();
                prop_assert_eq!(arm, expected);
                ucb.update(arm, *reward).unwrap();
            }
            prop_assert!(ucb.arms().iter().all(|a| a.pulls == 1));
        }

        #[test]
        fn bandits_stay_valid_whatever_happens(arms in 1usize..5, epsilon in 0.0f64..=1.0, seed in any::<u64>(), ops in ops()) {
            let mut rng = StdRng::seed_from_u64(seed);
            let mut bandits = [
                Bandit::Ucb1(Ucb1::new(arms).unwrap()),
                Bandit::EpsilonGreedy(EpsilonGreedy::new(arms, epsilon).unwrap()),
                Bandit::Thompson(Thompson::new(arms).unwrap()),
            ];
            for op in &ops {
                for b in bandits.iter_mut() {
                    match op {
                        Op::Choose => prop_assert!(b.choose(&mut rng) < arms),
                        Op::Update(arm, reward) => {
                            let before = b.clone();
                            if b.update(*arm, *reward).is_err() {
                                prop_assert_eq!(&before, b);
                            }
                        }
                    }
                }
            }
            for b in &bandits {
                match b {
                    Bandit::EpsilonGreedy(eg) => {
                        let p = eg.probabilities();
                        prop_assert!(p.iter().all(|x| (0.0..=1.0).contains(x)));
                        prop_assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-9);
                    }
                    Bandit::Thompson(ts) => {
                        for (a, bb) in ts.posteriors() {
                            prop_assert!(a >= 1.0 && bb >= 1.0);
                        }
                        prop_assert!(ts.posterior_means().iter().all(|m| (0.0..=1.0).contains(m)));
                        prop_assert!(ts.arms().iter().all(|s| (0.0..=1.0).contains(&s.mean())));
                    }
                    Bandit::Ucb1(u) => {
                        prop_assert!(u.arms().iter().all(|s| (0.0..=1.0).contains(&s.mean())));
                        prop_assert!(u.indices().iter().all(|i| !i.is_nan()));
                    }
                }
                // A state survives a serde round trip.
                let json = serde_json::to_string(b).unwrap();
                let back: Bandit = serde_json::from_str(&json).unwrap();
                prop_assert_eq!(back.arms().len(), arms);
            }
        }
    }
}
