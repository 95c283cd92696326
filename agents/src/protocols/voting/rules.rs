//! Yes/no votes, the pure decision rule: weighted ballots, a threshold
//! over the *eligible* weight (simple majority, supermajority, unanimity)
//! and a quorum of participating weight ([`yes_no_vote`]).
//!
//! Invalid input from one voter (a weight that is not a finite number
//! ≥ 0, a second ballot, a ballot from a stranger) rejects that voter's
//! input with a [`VoteError`] recorded in the tally; the others are still
//! counted. Only an invalid rule (a supermajority fraction outside
//! (1/2, 1], a negative quorum) makes [`yes_no_vote`] return `Err`.
//!
//! # Floating point
//!
//! Weights are `f64`. Totals are summed in the order of the eligible list
//! and compared exactly, never with a tolerance: simple majority is
//! `2·yes > eligible`, a supermajority `p/q` is `q·yes ≥ p·eligible`. With
//! integer weights (and totals below 2⁵³ / q) every comparison is exact.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use super::VoteError;

/// One voter's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ballot {
    /// The voting agent.
    pub voter: String,
    /// `Some(true)` for yes, `Some(false)` for no, `None` for an explicit abstention.
    pub choice: Option<bool>,
}

/// The head count of a yes/no vote: one agent, one vote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VoteTally {
    /// Invited voters (absentees included).
    pub eligible: usize,
    /// Yes votes.
    pub yes: usize,
    /// No votes.
    pub no: usize,
    /// Explicit abstentions.
    pub abstained: usize,
    /// Invited voters who did not answer before the deadline.
    pub absent: usize,
    /// Whether the proposal passed.
    pub passed: bool,
}

/// The head count over the **eligible** voters; `passed` is a simple
/// majority of heads (yes strictly more than half of everyone invited;
/// absent voters and abstentions count as not voting yes; a tie fails).
/// Ballots from voters not invited, and second ballots, are ignored. The
/// decision of a vote is [`yes_no_vote`]'s; this is its unit-weight,
/// quorum-free case, kept for the head count in a
/// [`VoteResult`](super::VoteResult).
pub(crate) fn head_count(eligible: &[String], ballots: &[Ballot]) -> VoteTally {
    let mut seen = std::collections::HashSet::new();
    let (mut yes, mut no, mut abstained) = (0, 0, 0);
    for ballot in ballots {
        if !eligible.contains(&ballot.voter) || !seen.insert(ballot.voter.as_str()) {
            continue;
        }
        match ballot.choice {
            Some(true) => yes += 1,
            Some(false) => no += 1,
            None => abstained += 1,
        }
    }
    let n = eligible.len();
    VoteTally {
        eligible: n,
        yes,
        no,
        abstained,
        absent: n - yes - no - abstained,
        passed: 2 * yes > n,
    }
}

/// The share of the eligible weight a proposal needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Threshold {
    /// Yes weight strictly more than half the eligible weight.
    SimpleMajority,
    /// Yes weight at least `numerator/denominator` of the eligible weight.
    /// The fraction must be more than 1/2 and at most 1 (so a tie can never
    /// pass); [`Threshold::TWO_THIRDS`] is the usual choice.
    Supermajority {
        /// Numerator of the fraction.
        numerator: u32,
        /// Denominator of the fraction.
        denominator: u32,
    },
    /// Every eligible voter with a positive weight votes yes (zero-weight
    /// voters have no say, absentees block).
    Unanimity,
}

impl Threshold {
    /// The default supermajority, two thirds of the eligible weight.
    pub const TWO_THIRDS: Threshold = Threshold::Supermajority {
        numerator: 2,
        denominator: 3,
    };

    fn validate(self) -> Result<(), VoteError> {
        if let Threshold::Supermajority {
            numerator,
            denominator,
        } = self
        {
            let (p, q) = (u64::from(numerator), u64::from(denominator));
            if q == 0 || p > q || 2 * p <= q {
                return Err(VoteError::InvalidFraction {
                    numerator,
                    denominator,
                });
            }
        }
        Ok(())
    }
}

/// An eligible voter and its weight.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Voter {
    /// The voting agent.
    pub id: String,
    /// Its weight: a finite number ≥ 0 (1 for one-agent-one-vote).
    pub weight: f64,
}

impl Voter {
    /// A voter with the given weight.
    pub fn new(id: impl Into<String>, weight: f64) -> Self {
        Voter {
            id: id.into(),
            weight,
        }
    }

    /// A voter with weight 1.
    pub fn unit(id: impl Into<String>) -> Self {
        Voter::new(id, 1.0)
    }
}

/// How a yes/no vote is decided.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct YesNoRule {
    /// The share of the eligible weight that must vote yes.
    pub threshold: Threshold,
    /// The minimum participating weight (yes + no + abstain); 0 for none.
    pub quorum: f64,
}

impl YesNoRule {
    /// Simple majority of the eligible weight, no quorum.
    pub fn simple_majority() -> Self {
        YesNoRule {
            threshold: Threshold::SimpleMajority,
            quorum: 0.0,
        }
    }

    /// Two-thirds supermajority of the eligible weight, no quorum.
    pub fn two_thirds() -> Self {
        YesNoRule {
            threshold: Threshold::TWO_THIRDS,
            quorum: 0.0,
        }
    }

    /// Unanimity of the eligible voters, no quorum.
    pub fn unanimity() -> Self {
        YesNoRule {
            threshold: Threshold::Unanimity,
            quorum: 0.0,
        }
    }

    /// Checks the rule: a supermajority fraction in (1/2, 1] and a quorum
    /// that is a finite number ≥ 0.
    ///
    /// # Errors
    /// [`VoteError::InvalidFraction`] or [`VoteError::InvalidQuorum`].
    pub fn validate(&self) -> Result<(), VoteError> {
        self.threshold.validate()?;
        if !self.quorum.is_finite() || self.quorum < 0.0 {
            return Err(VoteError::InvalidQuorum {
                quorum: self.quorum,
            });
        }
        Ok(())
    }

    /// The same rule with a quorum of participating weight.
    pub fn with_quorum(self, quorum: f64) -> Self {
        YesNoRule { quorum, ..self }
    }
}

/// The result of [`yes_no_vote`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WeightedTally {
    /// The rule that was applied.
    pub rule: YesNoRule,
    /// Total weight of the eligible voters with a valid weight, absentees
    /// included.
    pub eligible_weight: f64,
    /// Weight voting yes.
    pub yes_weight: f64,
    /// Weight voting no.
    pub no_weight: f64,
    /// Weight explicitly abstaining.
    pub abstain_weight: f64,
    /// Weight of eligible voters who sent no (valid) ballot.
    pub absent_weight: f64,
    /// Whether yes + no + abstain weight reached the quorum.
    pub quorum_met: bool,
    /// Whether the proposal passed: quorum met and threshold reached.
    pub passed: bool,
    /// Why it passed or failed, in words (names a tie when there was one).
    pub reason: String,
    /// Input set aside: invalid weights, repeated voters, strangers' and
    /// second ballots.
    pub rejected: Vec<VoteError>,
}

/// Decides a weighted yes/no vote.
///
/// Every eligible voter's weight counts towards the eligible weight,
/// whether it votes or not. The first ballot of each eligible voter counts
/// (`Some(true)` yes, `Some(false)` no, `None` abstain); later ballots,
/// ballots from non-eligible senders and voters with an invalid weight are
/// set aside with a [`VoteError`] in [`WeightedTally::rejected`]. The
/// proposal passes when the participating weight reaches the quorum *and*
/// the threshold is met; a tie (yes weight equal to no weight) always
/// fails, as does an electorate of total weight 0.
///
/// # Errors
///
/// [`VoteError::InvalidFraction`] for a supermajority fraction outside
/// (1/2, 1], [`VoteError::InvalidQuorum`] for a quorum that is not a finite
/// number ≥ 0.
///
/// # Examples
///
/// ```
/// use agents::protocols::voting::Ballot;
/// use agents::protocols::voting::{yes_no_vote, Voter, YesNoRule};
///
/// let eligible = [Voter::new("a", 3.0), Voter::new("b", 1.0), Voter::new("c", 1.0)];
/// let ballots = [Ballot { voter: "a".into(), choice: Some(true) }];
/// let tally = yes_no_vote(&YesNoRule::simple_majority(), &eligible, &ballots).unwrap();
/// // 3 > 5/2
/// assert!(tally.passed);
/// ```
pub fn yes_no_vote(
    rule: &YesNoRule,
    eligible: &[Voter],
    ballots: &[Ballot],
) -> Result<WeightedTally, VoteError> {
    rule.validate()?;
    let mut rejected = Vec::new();
    // Valid electorate, in the given order: id -> weight.
    let mut weights: HashMap<&str, f64> = HashMap::new();
    let mut order: Vec<(&str, f64)> = Vec::new();
    let mut listed: HashSet<&str> = HashSet::new();
    for voter in eligible {
        if !listed.insert(voter.id.as_str()) {
            rejected.push(VoteError::DuplicateVoter {
                voter: voter.id.clone(),
            });
            continue;
        }
        if !voter.weight.is_finite() || voter.weight < 0.0 {
            rejected.push(VoteError::InvalidWeight {
                voter: voter.id.clone(),
                weight: voter.weight,
            });
            continue;
        }
        weights.insert(voter.id.as_str(), voter.weight);
        order.push((voter.id.as_str(), voter.weight));
    }
    let mut choices: HashMap<&str, Option<bool>> = HashMap::new();
    for ballot in ballots {
        if !listed.contains(ballot.voter.as_str()) {
            rejected.push(VoteError::NotEligible {
                voter: ballot.voter.clone(),
            });
            continue;
        }
        if !weights.contains_key(ballot.voter.as_str()) {
            // Its invalid weight has already been reported.
            continue;
        }
        if choices.contains_key(ballot.voter.as_str()) {
            rejected.push(VoteError::DuplicateBallot {
                voter: ballot.voter.clone(),
            });
            continue;
        }
        choices.insert(ballot.voter.as_str(), ballot.choice);
    }
    let (mut total, mut yes, mut no, mut abstain, mut absent) = (0.0, 0.0, 0.0, 0.0, 0.0);
    let mut every_weighty_voter_said_yes = true;
    for (id, weight) in &order {
        total += weight;
        match choices.get(id) {
            Some(Some(true)) => yes += weight,
            Some(Some(false)) => no += weight,
            Some(None) => abstain += weight,
            None => absent += weight,
        }
        if *weight > 0.0 && choices.get(id) != Some(&Some(true)) {
            every_weighty_voter_said_yes = false;
        }
    }
    let participating = yes + no + abstain;
    let quorum_met = participating >= rule.quorum;
    let threshold_met = match rule.threshold {
        Threshold::SimpleMajority => 2.0 * yes > total,
        Threshold::Supermajority {
            numerator,
            denominator,
        } => f64::from(denominator) * yes >= f64::from(numerator) * total,
        Threshold::Unanimity => every_weighty_voter_said_yes,
    };
    let tie = yes == no;
    let passed = quorum_met && total > 0.0 && !tie && threshold_met;
    let needed = match rule.threshold {
        Threshold::SimpleMajority => "more than half of".to_owned(),
        Threshold::Supermajority {
            numerator,
            denominator,
        } => format!("at least {numerator}/{denominator} of"),
        Threshold::Unanimity => "all of".to_owned(),
    };
    let reason = if !quorum_met {
        format!(
            "quorum not met: participating weight {participating} < quorum {}",
            rule.quorum
        )
    } else if total <= 0.0 {
        "the eligible weight is 0: nothing can pass".to_owned()
    } else if tie {
        format!("tie: yes weight {yes} = no weight {no}; a tie fails")
    } else if passed {
        format!("passed: yes weight {yes} is {needed} the eligible weight {total}")
    } else {
        format!("failed: yes weight {yes} is not {needed} the eligible weight {total}")
    };
    Ok(WeightedTally {
        rule: *rule,
        eligible_weight: total,
        yes_weight: yes,
        no_weight: no,
        abstain_weight: abstain,
        absent_weight: absent,
        quorum_met,
        passed,
        reason,
        rejected,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn yes(v: &str) -> Ballot {
        Ballot {
            voter: v.into(),
            choice: Some(true),
        }
    }

    fn no(v: &str) -> Ballot {
        Ballot {
            voter: v.into(),
            choice: Some(false),
        }
    }

    fn abstain(v: &str) -> Ballot {
        Ballot {
            voter: v.into(),
            choice: None,
        }
    }

    fn units(ids: &[&str]) -> Vec<Voter> {
        ids.iter().map(|id| Voter::unit(*id)).collect()
    }

    fn names(ids: &[&str]) -> Vec<String> {
        ids.iter().map(|s| s.to_string()).collect()
    }

    // ----- yes/no -----

    #[test]
    fn weighted_majority_counts_absent_weight_against() {
        // Weights a=3, b=2, c=2, d=1: eligible 8. a and d vote yes: yes = 4,
        // which is exactly half: 2·4 > 8 is false, so it fails. b votes no,
        // c is absent: no = 2, absent = 2.
        let eligible = vec![
            Voter::new("a", 3.0),
            Voter::new("b", 2.0),
            Voter::new("c", 2.0),
            Voter::new("d", 1.0),
        ];
        let t = yes_no_vote(
            &YesNoRule::simple_majority(),
            &eligible,
            &[yes("a"), yes("d"), no("b")],
        )
        .unwrap();
        assert_eq!(
            (
                t.eligible_weight,
                t.yes_weight,
                t.no_weight,
                t.abstain_weight,
                t.absent_weight
            ),
            (8.0, 4.0, 2.0, 0.0, 2.0)
        );
        assert!(!t.passed);
        // c votes yes too: yes = 6 > 4, passes.
        let t = yes_no_vote(
            &YesNoRule::simple_majority(),
            &eligible,
            &[yes("a"), yes("d"), no("b"), yes("c")],
        )
        .unwrap();
        assert!(t.passed, "{}", t.reason);
    }

    #[test]
    fn a_tie_fails_and_says_so() {
        // 2 yes, 2 no of 4 eligible: 2·2 > 4 is false, and yes = no.
        let t = yes_no_vote(
            &YesNoRule::simple_majority(),
            &units(&["a", "b", "c", "d"]),
            &[yes("a"), yes("b"), no("c"), no("d")],
        )
        .unwrap();
        assert!(!t.passed);
        assert!(t.reason.contains("tie"), "{}", t.reason);
    }

    #[test]
    fn two_thirds_is_inclusive() {
        // 6 unit voters, 4 yes: 3·4 = 12 ≥ 2·6 = 12 passes; 3 yes: 9 < 12 fails.
        let voters = units(&["a", "b", "c", "d", "e", "f"]);
        let four = [yes("a"), yes("b"), yes("c"), yes("d"), no("e")];
        assert!(
            yes_no_vote(&YesNoRule::two_thirds(), &voters, &four)
                .unwrap()
                .passed
        );
        let three = [yes("a"), yes("b"), yes("c"), no("e")];
        assert!(
            !yes_no_vote(&YesNoRule::two_thirds(), &voters, &three)
                .unwrap()
                .passed
        );
        // A 3/4 supermajority: 4 of 6 is 16 < 18, fails; 5 of 6 is 20 ≥ 18.
        let rule = YesNoRule {
            threshold: Threshold::Supermajority {
                numerator: 3,
                denominator: 4,
            },
            quorum: 0.0,
        };
        assert!(!yes_no_vote(&rule, &voters, &four).unwrap().passed);
        let five = [yes("a"), yes("b"), yes("c"), yes("d"), yes("e")];
        assert!(yes_no_vote(&rule, &voters, &five).unwrap().passed);
    }

    #[test]
    fn unanimity_needs_every_weighted_voter() {
        let voters = vec![
            Voter::new("a", 1.0),
            Voter::new("b", 2.0),
            Voter::new("z", 0.0),
        ];
        // z has weight 0: it has no say, so a and b alone make it unanimous.
        let t = yes_no_vote(
            &YesNoRule::unanimity(),
            &voters,
            &[yes("a"), yes("b"), no("z")],
        )
        .unwrap();
        assert!(t.passed, "{}", t.reason);
        // b absent blocks it, even though yes (1) is not outweighed by no (0).
        let t = yes_no_vote(&YesNoRule::unanimity(), &voters, &[yes("a")]).unwrap();
        assert!(!t.passed);
        // An abstention blocks it too.
        let t = yes_no_vote(&YesNoRule::unanimity(), &voters, &[yes("a"), abstain("b")]).unwrap();
        assert!(!t.passed);
    }

    #[test]
    fn quorum_counts_abstentions_as_participation() {
        // 5 unit voters, quorum 3. a, b yes, c abstains: participating 3 ≥ 3,
        // but 2·2 > 5 fails. Add d yes: 3 yes passes.
        let voters = units(&["a", "b", "c", "d", "e"]);
        let rule = YesNoRule::simple_majority().with_quorum(3.0);
        let t = yes_no_vote(&rule, &voters, &[yes("a"), yes("b"), abstain("c")]).unwrap();
        assert!(t.quorum_met);
        assert!(!t.passed);
        // 3 yes but quorum 4 is not met: participating 3 < 4.
        let rule = YesNoRule::simple_majority().with_quorum(4.0);
        let t = yes_no_vote(&rule, &voters, &[yes("a"), yes("b"), yes("d")]).unwrap();
        assert!(!t.quorum_met);
        assert!(!t.passed);
        assert!(t.reason.contains("quorum"), "{}", t.reason);
    }

    #[test]
    fn invalid_weights_and_strangers_are_rejected_not_fatal() {
        let voters = vec![
            Voter::new("a", 1.0),
            Voter::new("nan", f64::NAN),
            Voter::new("neg", -1.0),
            Voter::new("inf", f64::INFINITY),
            Voter::new("a", 5.0),
        ];
        let t = yes_no_vote(
            &YesNoRule::simple_majority(),
            &voters,
            &[yes("a"), yes("nan"), yes("mallory"), no("a")],
        )
        .unwrap();
        // Only a (weight 1) is in the electorate and votes yes: 2 > 1 passes.
        assert_eq!(t.eligible_weight, 1.0);
        assert!(t.passed);
        assert_eq!(t.rejected.len(), 6, "{:?}", t.rejected);
        assert!(t.rejected.contains(&VoteError::NotEligible {
            voter: "mallory".into()
        }));
        assert!(t
            .rejected
            .contains(&VoteError::DuplicateBallot { voter: "a".into() }));
        assert!(t
            .rejected
            .contains(&VoteError::DuplicateVoter { voter: "a".into() }));
        assert!(t.rejected.contains(&VoteError::InvalidWeight {
            voter: "neg".into(),
            weight: -1.0
        }));
        let msg = VoteError::InvalidWeight {
            voter: "neg".into(),
            weight: -1.0,
        }
        .to_string();
        assert!(msg.contains("neg") && msg.contains("-1"), "{msg}");
    }

    #[test]
    fn bad_parameters_are_refused() {
        let voters = units(&["a"]);
        for (p, q) in [(1, 2), (3, 2), (0, 0), (1, 0), (0, 3)] {
            let rule = YesNoRule {
                threshold: Threshold::Supermajority {
                    numerator: p,
                    denominator: q,
                },
                quorum: 0.0,
            };
            assert_eq!(
                yes_no_vote(&rule, &voters, &[]),
                Err(VoteError::InvalidFraction {
                    numerator: p,
                    denominator: q
                })
            );
        }
        let rule = YesNoRule::simple_majority().with_quorum(-1.0);
        assert!(matches!(
            yes_no_vote(&rule, &voters, &[]),
            Err(VoteError::InvalidQuorum { .. })
        ));
        // 1/1 is allowed: it is unanimity of weight.
        let rule = YesNoRule {
            threshold: Threshold::Supermajority {
                numerator: 1,
                denominator: 1,
            },
            quorum: 0.0,
        };
        assert!(yes_no_vote(&rule, &voters, &[yes("a")]).unwrap().passed);
    }

    #[test]
    fn zero_weight_electorate_never_passes() {
        let voters = vec![Voter::new("a", 0.0)];
        for rule in [
            YesNoRule::simple_majority(),
            YesNoRule::two_thirds(),
            YesNoRule::unanimity(),
        ] {
            assert!(!yes_no_vote(&rule, &voters, &[yes("a")]).unwrap().passed);
            assert!(!yes_no_vote(&rule, &[], &[]).unwrap().passed);
        }
    }

    #[test]
    fn agrees_with_the_unweighted_majority() {
        // vote::majority is the unit-weight, no-quorum special case.
        let ids = names(&["a", "b", "c", "d", "e"]);
        let ballots = [yes("a"), no("b"), yes("c"), abstain("d"), yes("e")];
        let old = head_count(&ids, &ballots);
        let new = yes_no_vote(
            &YesNoRule::simple_majority(),
            &units(&["a", "b", "c", "d", "e"]),
            &ballots,
        )
        .unwrap();
        assert_eq!(old.passed, new.passed);
        assert_eq!(old.yes as f64, new.yes_weight);
        assert_eq!(old.absent as f64, new.absent_weight);
    }

    proptest! {
        #[test]
        fn weighted_majority_iff_more_than_half(
            weights in proptest::collection::vec(0u32..100, 0..20),
            choices in proptest::collection::vec(proptest::option::of(proptest::option::of(any::<bool>())), 20),
        ) {
            // Integer weights keep the sums exact.
            let voters: Vec<Voter> = weights.iter().enumerate().map(|(i, w)| Voter::new(format!("v{i}"), f64::from(*w))).collect();
            let ballots: Vec<Ballot> = voters.iter().zip(&choices)
                .filter_map(|(v, c)| c.map(|choice| Ballot { voter: v.id.clone(), choice }))
                .collect();
            let t = yes_no_vote(&YesNoRule::simple_majority(), &voters, &ballots).unwrap();
            let total: u32 = weights.iter().sum();
            let yes: u32 = weights.iter().zip(&choices).filter(|(_, c)| **c == Some(Some(true))).map(|(w, _)| *w).sum();
            prop_assert_eq!(t.passed, 2 * yes > total);
            prop_assert_eq!(t.yes_weight + t.no_weight + t.abstain_weight + t.absent_weight, t.eligible_weight);
            // Two-thirds passing implies simple majority passing.
            let s = yes_no_vote(&YesNoRule::two_thirds(), &voters, &ballots).unwrap();
            prop_assert!(!s.passed || t.passed);
            let u = yes_no_vote(&YesNoRule::unanimity(), &voters, &ballots).unwrap();
            prop_assert!(!u.passed || t.passed);
        }

        #[test]
        fn yes_no_never_panics(
            weights in proptest::collection::vec(any::<f64>(), 0..8),
            ballots in proptest::collection::vec((0usize..10, proptest::option::of(any::<bool>())), 0..12),
            quorum in any::<f64>(),
            p in any::<u32>(),
            q in any::<u32>(),
        ) {
            let voters: Vec<Voter> = weights.iter().enumerate().map(|(i, w)| Voter::new(format!("v{}", i % 6), *w)).collect();
            let ballots: Vec<Ballot> = ballots.iter().map(|(i, c)| Ballot { voter: format!("v{i}"), choice: *c }).collect();
            for threshold in [Threshold::SimpleMajority, Threshold::Unanimity, Threshold::Supermajority { numerator: p, denominator: q }] {
                if let Ok(t) = yes_no_vote(&YesNoRule { threshold, quorum }, &voters, &ballots) {
                    prop_assert!(!t.passed || t.yes_weight > t.no_weight);
                }
            }
        }

    }
}

#[cfg(test)]
mod head_count_tests {
    use super::*;

    fn voters(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("v{i}")).collect()
    }

    fn ballot(i: usize, choice: Option<bool>) -> Ballot {
        Ballot {
            voter: format!("v{i}"),
            choice,
        }
    }

    #[test]
    fn strict_majority_of_eligible() {
        let t = head_count(
            &voters(5),
            &[
                ballot(0, Some(true)),
                ballot(1, Some(true)),
                ballot(2, Some(true)),
            ],
        );
        assert!(t.passed);
        assert_eq!(t.absent, 2);
    }

    #[test]
    fn absentees_count_against() {
        // 2 yes out of 5 eligible fails even with nobody voting no.
        let t = head_count(&voters(5), &[ballot(0, Some(true)), ballot(1, Some(true))]);
        assert!(!t.passed);
        assert_eq!((t.yes, t.no, t.absent), (2, 0, 3));
    }

    #[test]
    fn a_tie_fails() {
        let t = head_count(
            &voters(4),
            &[
                ballot(0, Some(true)),
                ballot(1, Some(true)),
                ballot(2, Some(false)),
                ballot(3, Some(false)),
            ],
        );
        assert!(!t.passed);
    }

    #[test]
    fn strangers_and_double_votes_are_ignored() {
        let mut ballots = vec![ballot(0, Some(true)), ballot(0, Some(true))];
        ballots.push(Ballot {
            voter: "mallory".into(),
            choice: Some(true),
        });
        let t = head_count(&voters(3), &ballots);
        assert_eq!(t.yes, 1);
        assert!(!t.passed);
    }

    #[test]
    fn nobody_eligible_fails() {
        assert!(!head_count(&[], &[]).passed);
    }
}
