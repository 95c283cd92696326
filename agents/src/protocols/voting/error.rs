//! The error of the voting rules, shared by yes/no votes, elections and
//! Byzantine agreement.

use serde::{Deserialize, Serialize};

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
