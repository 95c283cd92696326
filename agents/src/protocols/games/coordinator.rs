//! The coordinator of a match: two agents play a normal-form game for a
//! number of rounds. Each round both are asked at once for an action;
//! payoffs are those of the game. The record also holds the game's
//! equilibria, so a user sees whether play settled on one.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::wire::{Move, Played};
use super::{
    pure_equilibria, support_enumeration, NormalFormGame, Payoffs, PureEquilibrium, Seat,
    SupportEnumeration,
};
use crate::error::{InvalidParameter, Result};
use crate::protocols::{positive, Invite, Missing, Protocol, Run};

/// A match: who plays which side of which game, how long.
#[derive(Debug, Clone)]
#[non_exhaustive]
#[must_use]
pub struct MatchSpec {
    /// The row player's agent id.
    pub row: String,
    /// The column player's agent id.
    pub col: String,
    /// The game.
    pub game: NormalFormGame,
    /// How many rounds.
    pub rounds: u32,
    /// How long each round waits for both actions.
    pub round_deadline: Duration,
}

impl MatchSpec {
    /// A match of `game` between agents `row` and `col`, for `rounds`
    /// rounds, each waiting at most `round_deadline` for both actions.
    pub fn new(
        row: impl Into<String>,
        col: impl Into<String>,
        game: NormalFormGame,
        rounds: u32,
        round_deadline: Duration,
    ) -> Self {
        Self {
            row: row.into(),
            col: col.into(),
            game,
            rounds,
            round_deadline,
        }
    }
}

/// The record of a match.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MatchResult {
    /// The row player.
    pub row: String,
    /// The column player.
    pub col: String,
    /// Every round, in order.
    pub rounds: Vec<Played>,
    /// Summed payoffs over the rounds played.
    pub totals: Payoffs,
    /// Rounds without payoffs: a player was late or chose an invalid action.
    pub void_rounds: u32,
    /// How often each player chose each action (over rounds it acted in).
    pub row_frequencies: Vec<f64>,
    /// Likewise for the column player.
    pub col_frequencies: Vec<f64>,
    /// The game's pure Nash equilibria.
    pub pure_equilibria: Vec<PureEquilibrium>,
    /// Its mixed equilibria by support enumeration, or why there are none
    /// listed (a degenerate game, too large to enumerate).
    pub mixed_equilibria: std::result::Result<SupportEnumeration, String>,
    /// The pure equilibrium both played in each of the last three rounds
    /// (every round, if fewer were played), if there is one.
    pub settled_on: Option<PureEquilibrium>,
    /// Actions refused (out of range), with the round.
    pub rejected: Vec<Missing>,
    /// Answers missing, by round order (late, or a node gone).
    pub missing: Vec<Missing>,
    /// Why the match ended before its last round (a player's node went away).
    pub ended_early: Option<String>,
    /// How long the match took.
    pub duration_ms: u64,
}

/// Why a player made no move in a round.
enum NoMove {
    /// Late (`gone: false`), or its node is gone (`gone: true`).
    Absent { missing: Missing, gone: bool },
    /// An action out of range, or an answer that is not a move.
    Invalid(Missing),
}

/// The action of `player` this round, or why there is none.
async fn ask_move(
    run: &Run,
    id: &str,
    spec: &MatchSpec,
    player: Seat,
    round: u32,
    history: &[Played],
) -> std::result::Result<usize, NoMove> {
    let request = Move {
        game: spec.game.clone(),
        player,
        round,
        history: history.to_vec(),
    };
    let actions = match player {
        Seat::Row => spec.game.rows(),
        Seat::Col => spec.game.cols(),
    };
    match run.ask(id, request, spec.round_deadline).await {
        Ok(Some(a)) if a < actions => Ok(a),
        Ok(Some(a)) => {
            let reason = format!("round {round}: action {a} is out of range (0..{actions})");
            run.reject(id, reason.clone());
            Err(NoMove::Invalid(Missing {
                agent: id.to_owned(),
                reason,
            }))
        }
        Ok(None) => Err(NoMove::Invalid(Missing {
            agent: id.to_owned(),
            reason: format!("round {round}: sat the round out"),
        })),
        Err(_) => Err(NoMove::Absent {
            missing: Missing {
                agent: id.to_owned(),
                reason: format!(
                    "round {round}: {}",
                    run.missing_reason(id).unwrap_or_default()
                ),
            },
            gone: run.is_gone(id),
        }),
    }
}

/// A match between agents `row` and `col`, wherever they run: each round
/// both are asked at once ([`Player::play`](crate::Player::play)) with the
/// history so far; a player that is late or picks an action out of range
/// leaves the round void (no payoffs; an invalid action is told so), and a
/// player whose node dies ends the match.
///
/// Errors: [`AgentError::UnknownAgent`](crate::AgentError::UnknownAgent) if either player is not found;
/// [`AgentError::InvalidParameters`](crate::AgentError::InvalidParameters) for zero rounds, a zero deadline, or
/// one agent playing both sides.
impl Protocol for MatchSpec {
    type Output = MatchResult;
    const NAME: &'static str = "game";

    fn validate(&self) -> Result<()> {
        positive("round deadline", self.round_deadline)?;
        if self.rounds == 0 {
            return Err(InvalidParameter::NoneOf {
                protocol: "a match",
                what: "round",
            }
            .into());
        }
        if self.row == self.col {
            return Err(InvalidParameter::SameAgent {
                agent: self.row.clone(),
                protocol: "a match",
            }
            .into());
        }
        Ok(())
    }

    fn invite(&self) -> Invite {
        Invite::Agents(vec![self.row.clone(), self.col.clone()])
    }

    async fn run(self, run: &Run) -> Result<MatchResult> {
        let spec = self;
        let mut rounds: Vec<Played> = Vec::new();
        let mut rejected = Vec::new();
        let mut absent = Vec::new();
        let mut ended_early = None;
        for round in 0..spec.rounds {
            let (r, c) = futures::join!(
                ask_move(run, &spec.row, &spec, Seat::Row, round, &rounds),
                ask_move(run, &spec.col, &spec, Seat::Col, round, &rounds),
            );
            let mut gone = Vec::new();
            let mut action = |result: std::result::Result<usize, NoMove>| match result {
                Ok(a) => Some(a),
                Err(NoMove::Absent {
                    missing,
                    gone: dead,
                }) => {
                    if dead {
                        gone.push(missing.agent.clone());
                    }
                    absent.push(missing);
                    None
                }
                Err(NoMove::Invalid(m)) => {
                    rejected.push(m);
                    None
                }
            };
            let (r, c) = (action(r), action(c));
            let payoffs = r.zip(c).and_then(|(i, j)| spec.game.payoffs(i, j));
            rounds.push(Played {
                round,
                row: r,
                col: c,
                payoffs,
            });
            if !gone.is_empty() {
                ended_early = Some(format!("{} went away in round {round}", gone.join(" and ")));
                break;
            }
        }
        let totals =
            rounds
                .iter()
                .filter_map(|p| p.payoffs)
                .fold(Payoffs { row: 0.0, col: 0.0 }, |t, p| Payoffs {
                    row: t.row + p.row,
                    col: t.col + p.col,
                });
        let void_rounds = rounds.iter().filter(|p| p.payoffs.is_none()).count() as u32;
        let frequencies = |actions: usize, pick: fn(&Played) -> Option<usize>| -> Vec<f64> {
            let mut counts = vec![0.0; actions];
            for a in rounds.iter().filter_map(pick) {
                counts[a] += 1.0;
            }
            let total: f64 = counts.iter().sum();
            if total > 0.0 {
                counts.iter_mut().for_each(|c| *c /= total);
            }
            counts
        };
        let row_frequencies = frequencies(spec.game.rows(), |p| p.row);
        let col_frequencies = frequencies(spec.game.cols(), |p| p.col);
        let pure = pure_equilibria(&spec.game);
        let tail = &rounds[rounds.len().saturating_sub(3)..];
        let settled_on = pure
            .iter()
            .find(|e| {
                !tail.is_empty()
                    && tail
                        .iter()
                        .all(|p| p.row == Some(e.row) && p.col == Some(e.col))
            })
            .copied();
        tracing::info!(played = rounds.len(), void_rounds, settled = ?settled_on, "match over");
        run.record_outcome(
            rounds.len() as u64,
            if ended_early.is_some() {
                "ended_early"
            } else {
                "played"
            },
        );
        Ok(MatchResult {
            row: spec.row,
            col: spec.col,
            totals,
            void_rounds,
            row_frequencies,
            col_frequencies,
            mixed_equilibria: support_enumeration(&spec.game).map_err(|e| e.to_string()),
            pure_equilibria: pure,
            settled_on,
            rejected,
            missing: absent,
            ended_early,
            rounds,
            duration_ms: run.elapsed_ms(),
        })
    }
}
