//! Games across nodes: two agents, wherever they run, play a normal-form
//! game for a number of rounds ([`MatchSpec`], run by
//! [`Agents::run`](crate::Agents::run)); agents take part as
//! [`Player`](crate::Player)s. The pure rules:
//!
//! A [`NormalFormGame`] is a pair of payoff matrices: `row[i][j]` is what
//! the row player gets and `col[i][j]` what the column player gets when the
//! row player plays `i` and the column player `j`. On it:
//!
//! * [`pure_equilibria`]: every pure Nash equilibrium (exact);
//! * [`support_enumeration`]: the Nash equilibria of a non-degenerate game,
//!   pure and mixed, by enumerating pairs of equal-size supports and solving
//!   the indifference equations with Gaussian elimination;
//! * [`best_response_dynamics`] and [`fictitious_play`]: iterative
//!   procedures with a round limit.
//!
//! Every result reports the payoffs.
//!
//! # Floating point
//!
//! Pure equilibria and best responses compare payoffs exactly (ties go to
//! the lowest action index). Support enumeration solves linear systems, so
//! it works to the tolerance [`NormalFormGame::tolerance`],
//! `1e-9 · max(1, largest |payoff|)`: a probability within it of 0 counts as
//! 0, and a deviation gaining no more than it is not profitable. Reported
//! mixed strategies are exact probability vectors (non-negative, summing to
//! 1 up to rounding of the final normalisation).

mod coordinator;
mod rules;
mod wire;

pub use coordinator::{MatchResult, MatchSpec};
pub use rules::{
    best_response_dynamics, fictitious_play, pure_equilibria, support_enumeration,
    BestResponseOutcome, FictitiousPlayOutcome, GameError, MixedEquilibrium, NormalFormGame,
    Payoffs, PureEquilibrium, Seat, SupportEnumeration, MAX_SUPPORT_PAIRS,
};
pub use wire::{Move, Played};
