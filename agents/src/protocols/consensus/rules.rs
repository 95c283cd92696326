//! Byzantine agreement, the pure rule ([`byzantine_agreement`]): decide
//! once `q = ⌈(n+f+1)/2⌉` matching votes have arrived. Votes are counted
//! with integers.

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::protocols::voting::VoteError;

/// The most faulty agents `n` agents can tolerate: `f = ⌊(n−1)/3⌋` (0 for
/// `n = 0`).
pub fn max_faulty(n: usize) -> usize {
    n.saturating_sub(1) / 3
}

/// The number of matching votes needed to decide among `n` agents
/// tolerating `f` faulty ones: `q = ⌈(n+f+1)/2⌉` (saturating).
pub fn byzantine_quorum(n: usize, f: usize) -> usize {
    let sum = n.saturating_add(f).saturating_add(1);
    sum / 2 + sum % 2
}

/// One agent's vote for a value in Byzantine agreement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ByzantineVote<V> {
    /// The voting agent.
    pub voter: String,
    /// The value it votes for.
    pub value: V,
}

/// How many counted votes a value has.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValueCount<V> {
    /// The value.
    pub value: V,
    /// Counted votes for it.
    pub votes: usize,
}

/// The result of [`byzantine_agreement`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ByzantineOutcome<V> {
    /// Agents taking part.
    pub n: usize,
    /// Faulty agents tolerated.
    pub f: usize,
    /// Matching votes needed, `⌈(n+f+1)/2⌉`.
    pub quorum: usize,
    /// The decided value, once `quorum` votes for it have arrived.
    pub decided: Option<V>,
    /// How many votes had been counted when the decision was reached.
    pub decided_after: Option<usize>,
    /// Counted votes per value, most first, equal counts by smallest value.
    pub counts: Vec<ValueCount<V>>,
    /// Votes counted (first vote of each of at most `n` distinct voters).
    pub votes_counted: usize,
    /// Whether a decision is reached or still possible with the votes of
    /// the agents that have not voted yet.
    pub decidable: bool,
    /// Votes set aside: second votes of a voter (an equivocating agent
    /// cannot change its vote) and votes beyond `n` distinct voters.
    pub rejected: Vec<VoteError>,
}

/// Byzantine-tolerant agreement among `n` agents tolerating `f` faulty ones.
///
/// Votes are taken in arrival order (slice order). The first vote of each
/// voter counts; a later vote of the same voter is set aside (so an
/// equivocating agent counts once), as are votes from voters beyond the
/// first `n` distinct ones. The value decided is the first to collect
/// `q = ⌈(n+f+1)/2⌉` votes; since `2q > n + f`, no two values can both
/// reach `q`, so the decision never changes as more votes arrive.
///
/// # Errors
///
/// [`VoteError::TooFewAgents`], naming the required `3f+1` and the actual
/// `n`, when `n < 3f+1`.
///
/// # Examples
///
/// ```
/// use agents::protocols::consensus::{byzantine_agreement, ByzantineVote};
///
/// let votes: Vec<_> = ["a", "b", "c"]
///     .iter()
///     .map(|v| ByzantineVote { voter: v.to_string(), value: 7 })
///     .collect();
/// // n = 4, f = 1: q = ⌈6/2⌉ = 3.
/// let out = byzantine_agreement(4, 1, &votes).unwrap();
/// assert_eq!(out.decided, Some(7));
/// assert!(byzantine_agreement(3, 1, &votes).is_err());
/// ```
pub fn byzantine_agreement<V: Clone + Ord>(
    n: usize,
    f: usize,
    votes: &[ByzantineVote<V>],
) -> Result<ByzantineOutcome<V>, VoteError> {
    let required = f.saturating_mul(3).saturating_add(1);
    // Compared without overflow: 3f+1 may not fit in a usize.
    if (n as u128) < 3 * (f as u128) + 1 {
        return Err(VoteError::TooFewAgents {
            f,
            required,
            actual: n,
        });
    }
    let quorum = byzantine_quorum(n, f);
    let mut voters: HashSet<&str> = HashSet::new();
    let mut counts: BTreeMap<&V, usize> = BTreeMap::new();
    let mut rejected = Vec::new();
    let mut decided: Option<&V> = None;
    let mut decided_after = None;
    let mut counted = 0usize;
    for vote in votes {
        if voters.contains(vote.voter.as_str()) {
            rejected.push(VoteError::DuplicateBallot {
                voter: vote.voter.clone(),
            });
            continue;
        }
        if voters.len() >= n {
            rejected.push(VoteError::TooManyVoters {
                voter: vote.voter.clone(),
                position: voters.len() + 1,
                n,
            });
            continue;
        }
        voters.insert(vote.voter.as_str());
        counted += 1;
        let count = counts.entry(&vote.value).or_insert(0);
        *count += 1;
        if decided.is_none() && *count >= quorum {
            decided = Some(&vote.value);
            decided_after = Some(counted);
        }
    }
    let remaining = n - voters.len();
    let best = counts.values().copied().max().unwrap_or(0);
    let decidable = decided.is_some() || best.saturating_add(remaining) >= quorum;
    let mut counts: Vec<ValueCount<V>> = counts
        .into_iter()
        .map(|(value, votes)| ValueCount {
            value: value.clone(),
            votes,
        })
        .collect();
    counts.sort_by(|a, b| b.votes.cmp(&a.votes).then_with(|| a.value.cmp(&b.value)));
    Ok(ByzantineOutcome {
        n,
        f,
        quorum,
        decided: decided.cloned(),
        decided_after,
        counts,
        votes_counted: counted,
        decidable,
        rejected,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // ----- Byzantine -----

    #[test]
    fn byzantine_numbers() {
        // n = 4: f = ⌊3/3⌋ = 1, q = ⌈(4+1+1)/2⌉ = 3.
        assert_eq!((max_faulty(4), byzantine_quorum(4, 1)), (1, 3));
        // n = 7: f = 2, q = ⌈10/2⌉ = 5. n = 10: f = 3, q = ⌈14/2⌉ = 7.
        assert_eq!((max_faulty(7), byzantine_quorum(7, 2)), (2, 5));
        assert_eq!((max_faulty(10), byzantine_quorum(10, 3)), (3, 7));
        // n = 5, f = 1: q = ⌈7/2⌉ = 4.
        assert_eq!(byzantine_quorum(5, 1), 4);
        assert_eq!(max_faulty(0), 0);
        assert_eq!(max_faulty(1), 0);
    }

    #[test]
    fn byzantine_decides_at_q_matching_votes() {
        // n = 4, f = 1, q = 3. Votes: a→x, b→y, c→x, b→x (equivocation,
        // ignored), d→x. x reaches 3 at the 4th counted vote (d).
        let vote = |voter: &str, value: &str| ByzantineVote {
            voter: voter.into(),
            value: value.to_string(),
        };
        let votes = [
            vote("a", "x"),
            vote("b", "y"),
            vote("c", "x"),
            vote("b", "x"),
            vote("d", "x"),
        ];
        let out = byzantine_agreement(4, 1, &votes).unwrap();
        assert_eq!(out.quorum, 3);
        assert_eq!(out.decided.as_deref(), Some("x"));
        assert_eq!(out.decided_after, Some(4));
        assert_eq!(
            out.rejected,
            vec![VoteError::DuplicateBallot { voter: "b".into() }]
        );
        // Only the first three votes: x 2, y 1, one agent left: still decidable.
        let out = byzantine_agreement(4, 1, &votes[..3]).unwrap();
        assert_eq!(out.decided, None);
        assert!(out.decidable);
        // a→x, b→y, c→z: best 1 + 1 remaining < 3: undecidable.
        let split = [vote("a", "x"), vote("b", "y"), vote("c", "z")];
        assert!(!byzantine_agreement(4, 1, &split).unwrap().decidable);
        // A fifth voter among n = 4 is set aside.
        let five = [
            vote("a", "x"),
            vote("b", "x"),
            vote("c", "y"),
            vote("d", "y"),
            vote("e", "x"),
        ];
        let out = byzantine_agreement(4, 1, &five).unwrap();
        assert_eq!(out.decided, None);
        assert!(matches!(
            out.rejected[0],
            VoteError::TooManyVoters {
                position: 5,
                n: 4,
                ..
            }
        ));
    }

    #[test]
    fn byzantine_refuses_too_few_agents() {
        let err = byzantine_agreement::<u8>(6, 2, &[]).unwrap_err();
        assert_eq!(
            err,
            VoteError::TooFewAgents {
                f: 2,
                required: 7,
                actual: 6
            }
        );
        let msg = err.to_string();
        assert!(msg.contains('7') && msg.contains('6'), "{msg}");
        assert!(byzantine_agreement::<u8>(0, 0, &[]).is_err());
        assert!(byzantine_agreement::<u8>(usize::MAX, usize::MAX, &[]).is_err());
    }

    proptest! {
        #[test]
        fn byzantine_decision_is_unique_and_stable(
            n in 1usize..20,
            votes in proptest::collection::vec((0usize..25, 0u8..3), 0..40),
        ) {
            let f = max_faulty(n);
            let votes: Vec<ByzantineVote<u8>> = votes.iter().map(|(v, x)| ByzantineVote { voter: format!("a{v}"), value: *x }).collect();
            let out = byzantine_agreement(n, f, &votes).unwrap();
            prop_assert!(out.votes_counted <= n);
            prop_assert!(2 * out.quorum > n + f);
            let reaching = out.counts.iter().filter(|c| c.votes >= out.quorum).count();
            prop_assert!(reaching <= 1);
            if let Some(d) = out.decided {
                prop_assert_eq!(&out.counts[0].value, &d);
            } else {
                prop_assert_eq!(reaching, 0);
            }
            // Once decided, the decision stands whatever votes come after it.
            let mut earlier: Option<u8> = None;
            for k in 0..=votes.len() {
                let prefix = byzantine_agreement(n, f, &votes[..k]).unwrap();
                if earlier.is_some() {
                    prop_assert_eq!(prefix.decided, earlier);
                }
                earlier = prefix.decided;
            }
            prop_assert_eq!(earlier, out.decided);
            prop_assert!(byzantine_agreement(n, f + 1, &votes).is_err() == (n < 3 * (f + 1) + 1));
        }
    }
}
