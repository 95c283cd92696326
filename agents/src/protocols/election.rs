//! Ranked-ballot elections: which counting rule to run, and the glue that
//! runs it over the ballots a coordinator collected.
//!
//! The rules themselves are in [`super::voting`]; this module only picks
//! one ([`ElectionMethod`]), wraps its record ([`ElectionOutcome`]) and
//! summarises it (winner, tie-breaks, rejected ballots) the same way for
//! every method.

use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::voting::{self, CondorcetOutcome, IrvOutcome, RankedBallot, RankedOutcome, VoteError};

/// How a ranked-ballot election is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum ElectionMethod {
    /// Most first preferences wins ([`voting::plurality`]).
    Plurality,
    /// Borda count, `n−1 … 0` points ([`voting::borda`]).
    Borda,
    /// Instant-runoff ([`voting::instant_runoff`]).
    InstantRunoff,
    /// Condorcet check ([`voting::condorcet`]): the candidate who beats
    /// every other pairwise, or none.
    Condorcet,
}

impl ElectionMethod {
    /// The method's short name, as [`FromStr`] accepts it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Plurality => "plurality",
            Self::Borda => "borda",
            Self::InstantRunoff => "irv",
            Self::Condorcet => "condorcet",
        }
    }
}

impl std::fmt::Display for ElectionMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is not an [`ElectionMethod`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown election method `{name}`: use plurality, borda, irv or condorcet")]
pub struct UnknownMethod {
    /// The name given.
    pub name: String,
}

impl FromStr for ElectionMethod {
    type Err = UnknownMethod;

    /// Parses `plurality`, `borda`, `irv` (or `instant-runoff`) and
    /// `condorcet`, in any case.
    fn from_str(s: &str) -> Result<Self, UnknownMethod> {
        match s.to_ascii_lowercase().as_str() {
            "plurality" => Ok(Self::Plurality),
            "borda" => Ok(Self::Borda),
            "irv" | "instant-runoff" | "instant_runoff" => Ok(Self::InstantRunoff),
            "condorcet" => Ok(Self::Condorcet),
            _ => Err(UnknownMethod { name: s.to_owned() }),
        }
    }
}

/// The full record of the rule an election ran.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum ElectionOutcome {
    /// Scores by first preferences.
    Plurality(RankedOutcome),
    /// Borda points.
    Borda(RankedOutcome),
    /// Every instant-runoff round.
    InstantRunoff(IrvOutcome),
    /// The pairwise matrix.
    Condorcet(CondorcetOutcome),
}

impl ElectionOutcome {
    /// The winner, if the rule found one.
    pub fn winner(&self) -> Option<&str> {
        match self {
            Self::Plurality(o) | Self::Borda(o) => o.winner.as_deref(),
            Self::InstantRunoff(o) => o.winner.as_deref(),
            Self::Condorcet(o) => o.winner.as_deref(),
        }
    }

    /// Ballots the rule set aside (unknown or repeated candidates, second
    /// ballots), and why.
    pub fn rejected(&self) -> &[VoteError] {
        match self {
            Self::Plurality(o) | Self::Borda(o) => &o.rejected,
            Self::InstantRunoff(o) => &o.rejected,
            Self::Condorcet(o) => &o.rejected,
        }
    }

    /// How ties were broken, in words: the tie for first place (plurality,
    /// Borda), each elimination tie (instant-runoff, prefixed with its
    /// round), or, for a Condorcet check without a winner, that the cycle
    /// or pairwise tie is left unbroken. Empty when no tie arose.
    pub fn tie_breaks(&self) -> Vec<String> {
        match self {
            Self::Plurality(o) | Self::Borda(o) => o.tie_break.iter().cloned().collect(),
            Self::InstantRunoff(o) => o
                .rounds
                .iter()
                .enumerate()
                .filter_map(|(i, r)| {
                    r.tie_break
                        .as_ref()
                        .map(|t| format!("round {}: {t}", i + 1))
                })
                .collect(),
            Self::Condorcet(o) if o.winner.is_none() && o.ballots_counted > 0 => vec![
                "no Condorcet winner (a cycle or a pairwise tie); a Condorcet check breaks no ties"
                    .to_owned(),
            ],
            Self::Condorcet(_) => Vec::new(),
        }
    }
}

/// Counts `ballots` for `candidates` with `method`.
///
/// Invalid ballots are set aside by the rule and listed in
/// [`ElectionOutcome::rejected`]; they never make this fail.
///
/// # Errors
///
/// [`VoteError::NoCandidates`] or [`VoteError::RepeatedCandidate`] when the
/// candidate list is empty or repeats a name.
///
/// # Examples
///
/// ```
/// use agents::protocols::election::{count, ElectionMethod};
/// use agents::protocols::voting::RankedBallot;
///
/// let candidates = ["x".to_owned(), "y".to_owned()];
/// let ballots = [RankedBallot { voter: "v".into(), ranking: vec!["y".into()] }];
/// let outcome = count(ElectionMethod::Plurality, &candidates, &ballots).unwrap();
/// assert_eq!(outcome.winner(), Some("y"));
/// ```
pub fn count(
    method: ElectionMethod,
    candidates: &[String],
    ballots: &[RankedBallot],
) -> Result<ElectionOutcome, VoteError> {
    Ok(match method {
        ElectionMethod::Plurality => {
            ElectionOutcome::Plurality(voting::plurality(candidates, ballots)?)
        }
        ElectionMethod::Borda => ElectionOutcome::Borda(voting::borda(candidates, ballots)?),
        ElectionMethod::InstantRunoff => {
            ElectionOutcome::InstantRunoff(voting::instant_runoff(candidates, ballots)?)
        }
        ElectionMethod::Condorcet => {
            ElectionOutcome::Condorcet(voting::condorcet(candidates, ballots)?)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(s: &str) -> Vec<String> {
        s.split(',').map(str::to_owned).collect()
    }

    fn ballot(voter: &str, ranking: &str) -> RankedBallot {
        RankedBallot {
            voter: voter.into(),
            ranking: if ranking.is_empty() {
                Vec::new()
            } else {
                ranking.split('>').map(str::to_owned).collect()
            },
        }
    }

    #[test]
    fn methods_parse_and_print() {
        for m in [
            ElectionMethod::Plurality,
            ElectionMethod::Borda,
            ElectionMethod::InstantRunoff,
            ElectionMethod::Condorcet,
        ] {
            assert_eq!(m.name().parse::<ElectionMethod>(), Ok(m));
        }
        assert_eq!("IRV".parse(), Ok(ElectionMethod::InstantRunoff));
        assert_eq!(
            "approval".parse::<ElectionMethod>(),
            Err(UnknownMethod {
                name: "approval".into()
            })
        );
    }

    #[test]
    fn count_dispatches_and_summarises_ties() {
        // Plurality: x 1, y 1 → tie, lowest id x wins.
        let c = names("x,y,z");
        let ballots = [ballot("1", "x>y"), ballot("2", "y>x"), ballot("3", "w")];
        let o = count(ElectionMethod::Plurality, &c, &ballots).unwrap();
        assert_eq!(o.winner(), Some("x"));
        assert_eq!(o.tie_breaks().len(), 1);
        assert!(o.tie_breaks()[0].contains("lowest id x wins"));
        assert!(matches!(
            o.rejected(),
            [VoteError::UnknownCandidate { voter, candidate }] if voter == "3" && candidate == "w"
        ));

        // IRV: round 1 x 1, y 1, z 0 → z out (no tie); round 2 x 1, y 1 →
        // tie for fewest, lowest id x out; round 3 y wins 2 of 2 (x's ballot moves to y).
        let o = count(ElectionMethod::InstantRunoff, &c, &ballots[..2]).unwrap();
        assert_eq!(o.winner(), Some("y"));
        assert_eq!(o.tie_breaks().len(), 1);
        assert!(
            o.tie_breaks()[0].starts_with("round 2:"),
            "{:?}",
            o.tie_breaks()
        );

        // Condorcet: x and y tie 1–1 pairwise, so nobody wins, and says so.
        let o = count(ElectionMethod::Condorcet, &c, &ballots[..2]).unwrap();
        assert_eq!(o.winner(), None);
        assert_eq!(o.tie_breaks().len(), 1);
        // No ballots at all: nothing to break.
        let o = count(ElectionMethod::Condorcet, &c, &[]).unwrap();
        assert!(o.tie_breaks().is_empty());

        // Borda (3 candidates: 2, 1, 0 points): x 2+1 = 3, y 1+2 = 3 → x.
        let o = count(ElectionMethod::Borda, &c, &ballots[..2]).unwrap();
        assert_eq!(o.winner(), Some("x"));
    }

    #[test]
    fn bad_candidate_lists_are_errors() {
        assert_eq!(
            count(ElectionMethod::Borda, &[], &[]),
            Err(VoteError::NoCandidates)
        );
        assert_eq!(
            count(ElectionMethod::Condorcet, &names("x,x"), &[]),
            Err(VoteError::RepeatedCandidate {
                candidate: "x".into()
            })
        );
    }
}
