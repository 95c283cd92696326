//! Yes/no voting: the pure decision rule.

use serde::{Deserialize, Serialize};

/// One voter's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ballot {
    /// The voting agent.
    pub voter: String,
    /// `Some(true)` for yes, `Some(false)` for no, `None` for an explicit abstention.
    pub choice: Option<bool>,
}

/// The result of [`majority`].
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

/// Simple majority over the **eligible** voters: the proposal passes when
/// yes votes are strictly more than half of everyone invited. Absent voters
/// and abstentions count as not voting yes; a tie fails. Ballots from
/// voters not invited, and second ballots, are ignored.
///
/// Weights, supermajority and unanimity thresholds and a quorum are in
/// [`super::voting::yes_no_vote`], of which this is the unit-weight,
/// quorum-free case.
pub fn majority(eligible: &[String], ballots: &[Ballot]) -> VoteTally {
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

#[cfg(test)]
mod tests {
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
        let t = majority(
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
        let t = majority(&voters(5), &[ballot(0, Some(true)), ballot(1, Some(true))]);
        assert!(!t.passed);
        assert_eq!((t.yes, t.no, t.absent), (2, 0, 3));
    }

    #[test]
    fn a_tie_fails() {
        let t = majority(
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
        let t = majority(&voters(3), &ballots);
        assert_eq!(t.yes, 1);
        assert!(!t.passed);
    }

    #[test]
    fn nobody_eligible_fails() {
        assert!(!majority(&[], &[]).passed);
    }
}
