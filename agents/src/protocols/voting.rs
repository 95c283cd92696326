//! Consensus and voting: the pure decision rules.
//!
//! Three families, each a plain function over plain data:
//!
//! * **Yes/no votes** ([`yes_no_vote`]): weighted ballots, a threshold over
//!   the *eligible* weight (simple majority, supermajority, unanimity) and a
//!   quorum of participating weight. [`super::vote::majority`] is the
//!   unweighted, quorum-free special case the coordinator runs today.
//! * **Ranked ballots**: [`plurality`], [`borda`], [`instant_runoff`] and a
//!   [`condorcet`] check.
//! * **Byzantine agreement** ([`byzantine_agreement`]): decide once
//!   `q = ⌈(n+f+1)/2⌉` matching votes have arrived.
//!
//! Invalid input from one participant (a weight that is not a finite number
//! ≥ 0, an unknown or repeated candidate, a second ballot) rejects that
//! participant's input with a [`VoteError`] recorded in the outcome; the
//! others are still counted. Only invalid *parameters* of the whole run (a
//! supermajority fraction outside (1/2, 1], a negative quorum, no candidates,
//! too few agents for the requested `f`) make a function return `Err`.
//!
//! # Floating point
//!
//! Weights are `f64`. Totals are summed in the order of the eligible list
//! and compared exactly, never with a tolerance: simple majority is
//! `2·yes > eligible`, a supermajority `p/q` is `q·yes ≥ p·eligible`. With
//! integer weights (and totals below 2⁵³ / q) every comparison is exact.
//! Ranked ballots and Byzantine votes are counted with integers.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::{Deserialize, Serialize};

use super::vote::Ballot;

/// Why a participant's input was set aside, or why a run was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error, Serialize, Deserialize)]
#[non_exhaustive]
pub enum VoteError {
    /// An eligible voter's weight is NaN, infinite or negative; the voter is
    /// left out of the electorate and its ballot is not counted.
    #[error("voter `{voter}` has weight {weight}: a weight must be a finite number >= 0")]
    InvalidWeight {
        /// The voter.
        voter: String,
        /// The weight it was given.
        weight: f64,
    },
    /// A voter appears twice in the eligible list; the first entry counts.
    #[error("voter `{voter}` is listed more than once among the eligible voters; the first entry counts")]
    DuplicateVoter {
        /// The voter.
        voter: String,
    },
    /// A ballot came from someone who is not an eligible voter.
    #[error("`{voter}` is not an eligible voter; its ballot is not counted")]
    NotEligible {
        /// The sender of the ballot.
        voter: String,
    },
    /// A voter sent a second ballot; only the first (earliest) one counts.
    #[error("`{voter}` already voted; only its first ballot counts")]
    DuplicateBallot {
        /// The voter.
        voter: String,
    },
    /// A ranked ballot names something that is not a candidate.
    #[error("the ballot of `{voter}` ranks `{candidate}`, which is not a candidate")]
    UnknownCandidate {
        /// The voter.
        voter: String,
        /// The unknown name.
        candidate: String,
    },
    /// A ranked ballot lists the same candidate twice.
    #[error("the ballot of `{voter}` ranks `{candidate}` more than once")]
    DuplicateCandidate {
        /// The voter.
        voter: String,
        /// The repeated candidate.
        candidate: String,
    },
    /// More distinct voters sent a Byzantine vote than the `n` agents taking
    /// part; votes from the extra voters are not counted.
    #[error("`{voter}` would be voter number {position} but only n = {n} agents take part; its vote is not counted")]
    TooManyVoters {
        /// The voter.
        voter: String,
        /// Its position among distinct voters (1-based).
        position: usize,
        /// The number of agents taking part.
        n: usize,
    },
    /// The supermajority fraction is not in (1/2, 1].
    #[error("supermajority fraction {numerator}/{denominator} is invalid: it must be more than 1/2 and at most 1")]
    InvalidFraction {
        /// Numerator of the fraction.
        numerator: u32,
        /// Denominator of the fraction.
        denominator: u32,
    },
    /// The quorum is NaN, infinite or negative.
    #[error("quorum {quorum} is invalid: it must be a finite number >= 0")]
    InvalidQuorum {
        /// The quorum asked for.
        quorum: f64,
    },
    /// A ranked vote was asked for with no candidates.
    #[error("a ranked vote needs at least one candidate")]
    NoCandidates,
    /// The candidate list names a candidate twice.
    #[error("candidate `{candidate}` is listed more than once")]
    RepeatedCandidate {
        /// The repeated candidate.
        candidate: String,
    },
    /// Byzantine agreement was asked to tolerate more faulty agents than
    /// `n` allows.
    #[error("tolerating f = {f} faulty agents needs at least 3f+1 = {required} agents, but only {actual} take part")]
    TooFewAgents {
        /// The requested number of faulty agents.
        f: usize,
        /// The number of agents needed, 3f+1 (saturated at `usize::MAX`).
        required: usize,
        /// The number of agents taking part.
        actual: usize,
    },
}

// ---------------------------------------------------------------------------
// Yes/no votes
// ---------------------------------------------------------------------------

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
/// use agents::protocols::vote::Ballot;
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
    rule.threshold.validate()?;
    if !rule.quorum.is_finite() || rule.quorum < 0.0 {
        return Err(VoteError::InvalidQuorum {
            quorum: rule.quorum,
        });
    }
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

// ---------------------------------------------------------------------------
// Ranked ballots
// ---------------------------------------------------------------------------

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
// Byzantine agreement
// ---------------------------------------------------------------------------

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
/// use agents::protocols::voting::{byzantine_agreement, ByzantineVote};
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

    fn ranked(voter: &str, ranking: &[&str]) -> RankedBallot {
        RankedBallot {
            voter: voter.into(),
            ranking: names(ranking),
        }
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
        let old = super::super::vote::majority(&ids, &ballots);
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
