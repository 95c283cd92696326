//! Ranked ballots, the pure counting rules: [`plurality`], [`borda`],
//! [`instant_runoff`] and a [`condorcet`] check.
//!
//! A ballot naming an unknown candidate, or one candidate twice, or a
//! second ballot of the same voter, is set aside with a [`VoteError`]
//! recorded in the outcome; the others are still counted. Only an invalid
//! candidate list (empty, or naming a candidate twice) makes a rule return
//! `Err`. Ballots are counted with integers.

use std::collections::{HashMap, HashSet};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::protocols::voting::VoteError;

/// One voter's ranking, most preferred first. A ballot may rank only some
/// of the candidates (a partial ranking) or none (it then counts for
/// nobody).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RankedBallot {
    /// The voting agent.
    pub voter: String,
    /// Candidates, most preferred first.
    pub ranking: Vec<String>,
}

/// A candidate and its score under a counting rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CandidateScore {
    /// The candidate.
    pub candidate: String,
    /// First preferences (plurality, instant-runoff) or points (Borda).
    pub score: u64,
}

/// The result of [`plurality`] and [`borda`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RankedOutcome {
    /// The winner; `None` when no valid ballot ranks anybody.
    pub winner: Option<String>,
    /// Every candidate's score, highest first, equal scores by lowest id.
    pub scores: Vec<CandidateScore>,
    /// Valid ballots counted (empty ones included).
    pub ballots_counted: usize,
    /// Ballots set aside, and why.
    pub rejected: Vec<VoteError>,
    /// How a tie for first place was broken, if there was one.
    pub tie_break: Option<String>,
}

impl RankedOutcome {
    /// The score of `candidate` (first preferences or points), `None` if it
    /// was not a candidate. [`scores`](Self::scores) lists every candidate,
    /// highest score first, so this looks it up by name.
    ///
    /// # Examples
    ///
    /// ```
    /// use agents::protocols::election::{borda, RankedBallot};
    ///
    /// let candidates = ["x".to_string(), "y".to_string(), "z".to_string()];
    /// let ballot = |voter: &str, ranking: [&str; 3]| RankedBallot {
    ///     voter: voter.into(),
    ///     ranking: ranking.map(String::from).to_vec(),
    /// };
    /// let out = borda(&candidates, &[ballot("v1", ["y", "x", "z"]), ballot("v2", ["x", "z", "y"])])?;
    /// assert_eq!(out.score_of("x"), Some(3)); // 1 + 2
    /// assert_eq!(out.score_of("z"), Some(1));
    /// assert_eq!(out.score_of("w"), None);
    /// # Ok::<(), agents::protocols::voting::VoteError>(())
    /// ```
    #[must_use]
    pub fn score_of(&self, candidate: &str) -> Option<u64> {
        self.scores
            .iter()
            .find(|s| s.candidate == candidate)
            .map(|s| s.score)
    }
}

/// One round of [`instant_runoff`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IrvRound {
    /// First preferences among the continuing candidates, highest first,
    /// equal counts by lowest id.
    pub tallies: Vec<CandidateScore>,
    /// Ballots that still rank a continuing candidate.
    pub continuing_ballots: usize,
    /// Ballots that rank no continuing candidate any more.
    pub exhausted_ballots: usize,
    /// The candidate eliminated at the end of this round (none in the last).
    pub eliminated: Option<String>,
    /// How a tie for fewest first preferences was broken, if there was one.
    pub tie_break: Option<String>,
}

/// The result of [`instant_runoff`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IrvOutcome {
    /// The winner; `None` when no valid ballot ranks anybody.
    pub winner: Option<String>,
    /// The rounds, first to last.
    pub rounds: Vec<IrvRound>,
    /// Valid ballots counted (empty ones included).
    pub ballots_counted: usize,
    /// Ballots set aside, and why.
    pub rejected: Vec<VoteError>,
}

/// The result of [`condorcet`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CondorcetOutcome {
    /// The candidate who beats every other one pairwise, if there is one.
    pub winner: Option<String>,
    /// The candidates, in the order given; rows and columns of `pairwise`.
    pub candidates: Vec<String>,
    /// `pairwise[i][j]`: ballots that rank candidate `i` above candidate `j`.
    pub pairwise: Vec<Vec<u64>>,
    /// Valid ballots counted (empty ones included).
    pub ballots_counted: usize,
    /// Ballots set aside, and why.
    pub rejected: Vec<VoteError>,
}

/// Checked ballots: each ranking as candidate indices.
struct Checked {
    rankings: Vec<Vec<usize>>,
    rejected: Vec<VoteError>,
}

fn check_ballots(candidates: &[String], ballots: &[RankedBallot]) -> Result<Checked, VoteError> {
    if candidates.is_empty() {
        return Err(VoteError::NoCandidates);
    }
    let mut index = HashMap::new();
    for (i, c) in candidates.iter().enumerate() {
        if index.insert(c.as_str(), i).is_some() {
            return Err(VoteError::RepeatedCandidate {
                candidate: c.clone(),
            });
        }
    }
    let mut voted = HashSet::new();
    let mut rankings = Vec::new();
    let mut rejected = Vec::new();
    'ballots: for ballot in ballots {
        let mut seen = vec![false; candidates.len()];
        let mut ranking = Vec::with_capacity(ballot.ranking.len());
        for name in &ballot.ranking {
            let Some(&i) = index.get(name.as_str()) else {
                rejected.push(VoteError::UnknownCandidate {
                    voter: ballot.voter.clone(),
                    candidate: name.clone(),
                });
                continue 'ballots;
            };
            if std::mem::replace(&mut seen[i], true) {
                rejected.push(VoteError::DuplicateCandidate {
                    voter: ballot.voter.clone(),
                    candidate: name.clone(),
                });
                continue 'ballots;
            }
            ranking.push(i);
        }
        if !voted.insert(ballot.voter.as_str()) {
            rejected.push(VoteError::DuplicateBallot {
                voter: ballot.voter.clone(),
            });
            continue;
        }
        rankings.push(ranking);
    }
    Ok(Checked { rankings, rejected })
}

/// Scores sorted highest first, equal scores by lowest candidate id.
fn sorted_scores(
    candidates: &[String],
    scores: &[u64],
    include: impl Fn(usize) -> bool,
) -> Vec<CandidateScore> {
    let mut out: Vec<CandidateScore> = (0..candidates.len())
        .filter(|&i| include(i))
        .map(|i| CandidateScore {
            candidate: candidates[i].clone(),
            score: scores[i],
        })
        .collect();
    out.sort_by(|a, b| {
        b.score
            .cmp(&a.score)
            .then_with(|| a.candidate.cmp(&b.candidate))
    });
    out
}

/// Describes a tie among the leading entries of `sorted` (which is sorted
/// highest first, lowest id first among equals).
fn top_tie(sorted: &[CandidateScore], unit: &str) -> Option<String> {
    let first = sorted.first()?;
    let tied: Vec<&str> = sorted
        .iter()
        .take_while(|s| s.score == first.score)
        .map(|s| s.candidate.as_str())
        .collect();
    (tied.len() > 1).then(|| {
        format!(
            "{} tied with {} {unit}; lowest id {} wins",
            tied.join(", "),
            first.score,
            first.candidate
        )
    })
}

fn scored_outcome(
    candidates: &[String],
    scores: &[u64],
    checked: Checked,
    unit: &str,
) -> RankedOutcome {
    let scores = sorted_scores(candidates, scores, |_| true);
    let anybody_ranked = checked.rankings.iter().any(|r| !r.is_empty());
    let (winner, tie_break) = if anybody_ranked {
        (
            scores.first().map(|s| s.candidate.clone()),
            top_tie(&scores, unit),
        )
    } else {
        (None, None)
    };
    RankedOutcome {
        winner,
        scores,
        ballots_counted: checked.rankings.len(),
        rejected: checked.rejected,
        tie_break,
    }
}

/// Plurality: each valid ballot gives one point to its first choice; most
/// points wins, a tie goes to the lowest candidate id.
///
/// A ballot naming an unknown candidate or one candidate twice, and a
/// voter's second ballot, are set aside with an error in
/// [`RankedOutcome::rejected`].
///
/// # Errors
///
/// [`VoteError::NoCandidates`] or [`VoteError::RepeatedCandidate`] when the
/// candidate list is empty or repeats a name.
pub fn plurality(
    candidates: &[String],
    ballots: &[RankedBallot],
) -> Result<RankedOutcome, VoteError> {
    let checked = check_ballots(candidates, ballots)?;
    let mut scores = vec![0u64; candidates.len()];
    for ranking in &checked.rankings {
        if let Some(&first) = ranking.first() {
            scores[first] += 1;
        }
    }
    Ok(scored_outcome(
        candidates,
        &scores,
        checked,
        "first preferences",
    ))
}

/// Borda count: with `n` candidates, a ballot gives `n−1` points to its
/// first choice, `n−2` to its second, … and 0 to the last.
///
/// **Partial rankings**: a ballot that ranks only `k < n` candidates gives
/// the candidate in position `p` (0-based) `n−1−p` points, exactly as a full
/// ballot would, and 0 points to every candidate it leaves out. Listing a
/// candidate therefore never earns it fewer points than leaving it out, and
/// a truncated ballot gives out fewer points in total than a full one. Most
/// points wins, a tie goes to the lowest candidate id. Invalid ballots are
/// set aside as in [`plurality`].
///
/// # Errors
///
/// [`VoteError::NoCandidates`] or [`VoteError::RepeatedCandidate`] when the
/// candidate list is empty or repeats a name.
pub fn borda(candidates: &[String], ballots: &[RankedBallot]) -> Result<RankedOutcome, VoteError> {
    let checked = check_ballots(candidates, ballots)?;
    let n = candidates.len() as u64;
    let mut scores = vec![0u64; candidates.len()];
    for ranking in &checked.rankings {
        for (position, &c) in ranking.iter().enumerate() {
            scores[c] += n - 1 - position as u64;
        }
    }
    Ok(scored_outcome(candidates, &scores, checked, "points"))
}

/// Instant-runoff voting.
///
/// Each round counts every valid ballot for its highest-ranked continuing
/// candidate; ballots ranking no continuing candidate are *exhausted*. A
/// candidate with strictly more than half of the continuing ballots wins.
/// Otherwise the candidate with the fewest first preferences is eliminated;
/// **among candidates tied for fewest, the one with the lowest candidate id
/// is eliminated**. Every round is reported. Invalid ballots are set aside
/// as in [`plurality`].
///
/// # Errors
///
/// [`VoteError::NoCandidates`] or [`VoteError::RepeatedCandidate`] when the
/// candidate list is empty or repeats a name.
pub fn instant_runoff(
    candidates: &[String],
    ballots: &[RankedBallot],
) -> Result<IrvOutcome, VoteError> {
    let checked = check_ballots(candidates, ballots)?;
    let mut continuing = vec![true; candidates.len()];
    let mut rounds = Vec::new();
    let mut winner = None;
    // Each round either finds a winner or eliminates one candidate, so there
    // are at most as many rounds as candidates.
    for _ in 0..candidates.len() {
        let mut counts = vec![0u64; candidates.len()];
        let mut exhausted = 0usize;
        for ranking in &checked.rankings {
            match ranking.iter().find(|&&c| continuing[c]) {
                Some(&c) => counts[c] += 1,
                None => exhausted += 1,
            }
        }
        let live = checked.rankings.len() - exhausted;
        let tallies = sorted_scores(candidates, &counts, |i| continuing[i]);
        let mut round = IrvRound {
            tallies,
            continuing_ballots: live,
            exhausted_ballots: exhausted,
            eliminated: None,
            tie_break: None,
        };
        if live == 0 {
            rounds.push(round);
            break;
        }
        let leader = &round.tallies[0];
        if 2 * leader.score > live as u64 {
            winner = Some(leader.candidate.clone());
            rounds.push(round);
            break;
        }
        let fewest = round.tallies.last().map_or(0, |s| s.score);
        let mut tied: Vec<&CandidateScore> =
            round.tallies.iter().filter(|s| s.score == fewest).collect();
        tied.sort_by(|a, b| a.candidate.cmp(&b.candidate));
        let out = tied[0].candidate.clone();
        if tied.len() > 1 {
            let names: Vec<&str> = tied.iter().map(|s| s.candidate.as_str()).collect();
            round.tie_break = Some(format!(
                "{} tied for fewest with {fewest} first preferences; lowest id {out} is eliminated",
                names.join(", ")
            ));
        }
        if let Some(i) = candidates.iter().position(|c| *c == out) {
            continuing[i] = false;
        }
        round.eliminated = Some(out);
        rounds.push(round);
    }
    Ok(IrvOutcome {
        winner,
        rounds,
        ballots_counted: checked.rankings.len(),
        rejected: checked.rejected,
    })
}

/// Condorcet check: candidate `a` beats `b` when more valid ballots rank `a`
/// above `b` than `b` above `a`. A ranked candidate counts as above every
/// candidate the ballot leaves out; two left-out candidates are not
/// compared. The Condorcet winner beats every other candidate; there may be
/// none (a cycle, or a pairwise tie). Invalid ballots are set aside as in
/// [`plurality`]. With no ballot ranking anybody there is no winner.
///
/// # Errors
///
/// [`VoteError::NoCandidates`] or [`VoteError::RepeatedCandidate`] when the
/// candidate list is empty or repeats a name.
pub fn condorcet(
    candidates: &[String],
    ballots: &[RankedBallot],
) -> Result<CondorcetOutcome, VoteError> {
    let checked = check_ballots(candidates, ballots)?;
    let n = candidates.len();
    let mut pairwise = vec![vec![0u64; n]; n];
    for ranking in &checked.rankings {
        let mut ranked = vec![false; n];
        for (position, &a) in ranking.iter().enumerate() {
            for &b in &ranking[position + 1..] {
                pairwise[a][b] += 1;
            }
            ranked[a] = true;
        }
        for &a in ranking {
            for b in 0..n {
                if !ranked[b] {
                    pairwise[a][b] += 1;
                }
            }
        }
    }
    let anybody_ranked = checked.rankings.iter().any(|r| !r.is_empty());
    let winner = (0..n)
        .find(|&a| (0..n).all(|b| a == b || pairwise[a][b] > pairwise[b][a]))
        .filter(|_| anybody_ranked)
        .map(|a| candidates[a].clone());
    Ok(CondorcetOutcome {
        winner,
        candidates: candidates.to_vec(),
        pairwise,
        ballots_counted: checked.rankings.len(),
        rejected: checked.rejected,
    })
}

// ---------------------------------------------------------------------------
// Choosing a rule
// ---------------------------------------------------------------------------

/// How a ranked-ballot election is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum ElectionMethod {
    /// Most first preferences wins ([`plurality`]).
    Plurality,
    /// Borda count, `n−1 … 0` points ([`borda`]).
    Borda,
    /// Instant-runoff ([`instant_runoff`]).
    InstantRunoff,
    /// Condorcet check ([`condorcet`]): the candidate who beats
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
/// use agents::protocols::election::{count, ElectionMethod, RankedBallot};
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
        ElectionMethod::Plurality => ElectionOutcome::Plurality(plurality(candidates, ballots)?),
        ElectionMethod::Borda => ElectionOutcome::Borda(borda(candidates, ballots)?),
        ElectionMethod::InstantRunoff => {
            ElectionOutcome::InstantRunoff(instant_runoff(candidates, ballots)?)
        }
        ElectionMethod::Condorcet => ElectionOutcome::Condorcet(condorcet(candidates, ballots)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn names(ids: &[&str]) -> Vec<String> {
        ids.iter().map(|s| s.to_string()).collect()
    }

    fn ranked(voter: &str, ranking: &[&str]) -> RankedBallot {
        RankedBallot {
            voter: voter.into(),
            ranking: names(ranking),
        }
    }

    // ----- ranked -----

    #[test]
    fn plurality_tie_goes_to_lowest_id() {
        // First preferences: b 2, c 2, a 1. b and c tie; lowest id b wins.
        let c = names(&["a", "b", "c"]);
        let ballots = [
            ranked("1", &["c", "a"]),
            ranked("2", &["b"]),
            ranked("3", &["c"]),
            ranked("4", &["b", "c"]),
            ranked("5", &["a"]),
        ];
        let out = plurality(&c, &ballots).unwrap();
        assert_eq!(out.winner.as_deref(), Some("b"));
        assert_eq!(
            out.scores[0],
            CandidateScore {
                candidate: "b".into(),
                score: 2
            }
        );
        assert!(out.tie_break.unwrap().contains("lowest id b"));
    }

    #[test]
    fn borda_on_four_voters() {
        // 4 candidates: first 3 points, second 2, third 1, fourth 0.
        // v1: a b c d -> a3 b2 c1 d0
        // v2: b c d a -> b3 c2 d1 a0
        // v3: b a c d -> b3 a2 c1 d0
        // v4: c b     -> c3 b2 (partial: a, d get 0)
        // Totals: a 5, b 10, c 7, d 1. Winner b.
        let c = names(&["a", "b", "c", "d"]);
        let ballots = [
            ranked("v1", &["a", "b", "c", "d"]),
            ranked("v2", &["b", "c", "d", "a"]),
            ranked("v3", &["b", "a", "c", "d"]),
            ranked("v4", &["c", "b"]),
        ];
        let out = borda(&c, &ballots).unwrap();
        assert_eq!(out.winner.as_deref(), Some("b"));
        let scores: Vec<(&str, u64)> = out
            .scores
            .iter()
            .map(|s| (s.candidate.as_str(), s.score))
            .collect();
        assert_eq!(scores, vec![("b", 10), ("c", 7), ("a", 5), ("d", 1)]);
        assert_eq!(out.tie_break, None);
    }

    #[test]
    fn irv_with_an_elimination_tie() {
        // Candidates a, b, c; 7 ballots:
        //   3 × a      2 × b c      2 × c b
        // Round 1: a 3, b 2, c 2 of 7 continuing; nobody has > 3.5.
        //   b and c tie for fewest; lowest id b is eliminated.
        // Round 2: b's ballots go to c: a 3, c 4 of 7; 4 > 3.5, c wins.
        let c = names(&["a", "b", "c"]);
        let ballots = [
            ranked("1", &["a"]),
            ranked("2", &["a"]),
            ranked("3", &["a"]),
            ranked("4", &["b", "c"]),
            ranked("5", &["b", "c"]),
            ranked("6", &["c", "b"]),
            ranked("7", &["c", "b"]),
        ];
        let out = instant_runoff(&c, &ballots).unwrap();
        assert_eq!(out.winner.as_deref(), Some("c"));
        assert_eq!(out.rounds.len(), 2);
        assert_eq!(out.rounds[0].eliminated.as_deref(), Some("b"));
        assert!(out.rounds[0]
            .tie_break
            .as_ref()
            .unwrap()
            .contains("lowest id b"));
        assert_eq!(
            out.rounds[1].tallies[0],
            CandidateScore {
                candidate: "c".into(),
                score: 4
            }
        );
        assert_eq!(out.rounds[1].continuing_ballots, 7);
    }

    #[test]
    fn irv_exhausted_ballots_leave_the_count() {
        // a b c; ballots: 2 × a, 2 × b, 1 × c (c ranks nobody else).
        // Round 1: a 2, b 2, c 1 of 5; c eliminated, its ballot exhausts.
        // Round 2: a 2, b 2 of 4; tie for fewest, lowest id a eliminated.
        // Round 3: b 2 of 2 continuing (a's ballots exhaust) -> b wins.
        let c = names(&["a", "b", "c"]);
        let ballots = [
            ranked("1", &["a"]),
            ranked("2", &["a"]),
            ranked("3", &["b"]),
            ranked("4", &["b"]),
            ranked("5", &["c"]),
        ];
        let out = instant_runoff(&c, &ballots).unwrap();
        assert_eq!(out.winner.as_deref(), Some("b"));
        let last = out.rounds.last().unwrap();
        assert_eq!((last.continuing_ballots, last.exhausted_ballots), (2, 3));
        assert_eq!(out.rounds[1].eliminated.as_deref(), Some("a"));
    }

    #[test]
    fn condorcet_cycle_has_no_winner() {
        // a > b > c, b > c > a, c > a > b: a beats b 2-1, b beats c 2-1,
        // c beats a 2-1. A cycle: no Condorcet winner.
        let c = names(&["a", "b", "c"]);
        let ballots = [
            ranked("1", &["a", "b", "c"]),
            ranked("2", &["b", "c", "a"]),
            ranked("3", &["c", "a", "b"]),
        ];
        let out = condorcet(&c, &ballots).unwrap();
        assert_eq!(out.winner, None);
        assert_eq!(out.pairwise[0][1], 2);
        assert_eq!(out.pairwise[1][0], 1);
    }

    #[test]
    fn condorcet_winner_with_partial_ballots() {
        // a b; b; a c. Pairwise: a>b on ballots 1 and 3 (b unranked on 3) = 2,
        // b>a on ballot 2 = 1; a>c on 1, 3 = 2, c>a 0. a wins.
        let c = names(&["a", "b", "c"]);
        let ballots = [
            ranked("1", &["a", "b"]),
            ranked("2", &["b"]),
            ranked("3", &["a", "c"]),
        ];
        let out = condorcet(&c, &ballots).unwrap();
        assert_eq!(out.winner.as_deref(), Some("a"));
        // b vs c: ballot 1 b>c, ballot 2 b>c, ballot 3 c>b: 2 to 1.
        assert_eq!((out.pairwise[1][2], out.pairwise[2][1]), (2, 1));
    }

    #[test]
    fn bad_ranked_ballots_are_rejected_others_counted() {
        let c = names(&["a", "b"]);
        let ballots = [
            ranked("1", &["a", "x"]),
            ranked("2", &["b", "b"]),
            ranked("3", &["b"]),
            ranked("3", &["a"]),
        ];
        let out = plurality(&c, &ballots).unwrap();
        assert_eq!(out.winner.as_deref(), Some("b"));
        assert_eq!(out.ballots_counted, 1);
        assert_eq!(
            out.rejected,
            vec![
                VoteError::UnknownCandidate {
                    voter: "1".into(),
                    candidate: "x".into()
                },
                VoteError::DuplicateCandidate {
                    voter: "2".into(),
                    candidate: "b".into()
                },
                VoteError::DuplicateBallot { voter: "3".into() },
            ]
        );
        assert_eq!(plurality(&[], &ballots), Err(VoteError::NoCandidates));
        assert_eq!(
            borda(&names(&["a", "a"]), &ballots),
            Err(VoteError::RepeatedCandidate {
                candidate: "a".into()
            })
        );
    }

    #[test]
    fn no_ranked_ballots_no_winner() {
        let c = names(&["a", "b"]);
        let empty = [ranked("1", &[])];
        assert_eq!(plurality(&c, &empty).unwrap().winner, None);
        assert_eq!(borda(&c, &[]).unwrap().winner, None);
        assert_eq!(instant_runoff(&c, &empty).unwrap().winner, None);
        assert_eq!(condorcet(&c, &[]).unwrap().winner, None);
    }

    // ----- properties -----

    fn ballots_strategy(
        candidates: usize,
        voters: usize,
    ) -> impl Strategy<Value = Vec<Vec<usize>>> {
        proptest::collection::vec(
            Just((0..candidates).collect::<Vec<usize>>())
                .prop_shuffle()
                .prop_flat_map(move |perm| (Just(perm), 0..=candidates))
                .prop_map(|(perm, k)| perm[..k].to_vec()),
            0..voters,
        )
    }

    fn to_ballots(candidates: &[String], rankings: &[Vec<usize>]) -> Vec<RankedBallot> {
        rankings
            .iter()
            .enumerate()
            .map(|(v, r)| RankedBallot {
                voter: format!("v{v}"),
                ranking: r.iter().map(|&c| candidates[c].clone()).collect(),
            })
            .collect()
    }

    proptest! {
        #[test]
        fn irv_winner_has_a_final_round_majority(rankings in ballots_strategy(5, 30)) {
            let c = names(&["a", "b", "c", "d", "e"]);
            let out = instant_runoff(&c, &to_ballots(&c, &rankings)).unwrap();
            prop_assert!(out.rounds.len() <= c.len());
            match &out.winner {
                Some(w) => {
                    prop_assert!(c.contains(w));
                    let last = out.rounds.last().unwrap();
                    let top = &last.tallies[0];
                    prop_assert_eq!(&top.candidate, w);
                    prop_assert!(2 * top.score > last.continuing_ballots as u64);
                    prop_assert!(last.eliminated.is_none());
                }
                None => prop_assert!(rankings.iter().all(|r| r.is_empty())),
            }
        }

        #[test]
        fn condorcet_winner_beats_everyone(rankings in ballots_strategy(4, 25)) {
            let c = names(&["a", "b", "c", "d"]);
            let out = condorcet(&c, &to_ballots(&c, &rankings)).unwrap();
            if let Some(w) = &out.winner {
                let i = c.iter().position(|x| x == w).unwrap();
                for j in 0..c.len() {
                    if i != j {
                        prop_assert!(out.pairwise[i][j] > out.pairwise[j][i]);
                    }
                }
                // A Condorcet winner with full ballots also wins any two-way IRV.
            }
            // At most one candidate can beat all others.
            let beaters = (0..c.len()).filter(|&a| (0..c.len()).all(|b| a == b || out.pairwise[a][b] > out.pairwise[b][a])).count();
            prop_assert!(beaters <= 1);
        }

        #[test]
        fn scores_add_up(rankings in ballots_strategy(4, 25)) {
            let c = names(&["a", "b", "c", "d"]);
            let ballots = to_ballots(&c, &rankings);
            let p = plurality(&c, &ballots).unwrap();
            let firsts = rankings.iter().filter(|r| !r.is_empty()).count() as u64;
            prop_assert_eq!(p.scores.iter().map(|s| s.score).sum::<u64>(), firsts);
            let b = borda(&c, &ballots).unwrap();
            let points: u64 = rankings.iter().map(|r| (0..r.len() as u64).map(|p| 3 - p).sum::<u64>()).sum();
            prop_assert_eq!(b.scores.iter().map(|s| s.score).sum::<u64>(), points);
            if let Some(w) = &b.winner {
                prop_assert_eq!(&b.scores[0].candidate, w);
            }
        }

        #[test]
        fn ranked_rules_never_panic(
            candidates in proptest::collection::vec("[a-d]", 0..5),
            ballots in proptest::collection::vec(("[a-c]", proptest::collection::vec("[a-e]", 0..6)), 0..10),
        ) {
            let ballots: Vec<RankedBallot> = ballots.into_iter().map(|(voter, ranking)| RankedBallot { voter, ranking }).collect();
            let _ = plurality(&candidates, &ballots);
            let _ = borda(&candidates, &ballots);
            let _ = condorcet(&candidates, &ballots);
            if let Ok(out) = instant_runoff(&candidates, &ballots) {
                prop_assert_eq!(out.ballots_counted + out.rejected.len(), ballots.len());
            }
        }

    }
}

#[cfg(test)]
mod method_tests {
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
