//! Ranked-ballot elections across nodes: every invited agent ranks the
//! candidates, and the rankings are counted by plurality, Borda,
//! instant-runoff or a Condorcet check ([`count`] picks the rule and
//! summarises its record the same way for every method).

mod coordinator;
mod rules;
mod wire;

pub use coordinator::{ElectionResult, ElectionSpec};
pub use rules::{
    borda, condorcet, count, instant_runoff, plurality, CandidateScore, CondorcetOutcome,
    ElectionMethod, ElectionOutcome, IrvOutcome, IrvRound, RankedBallot, RankedOutcome,
    UnknownMethod,
};
pub use wire::Election;
