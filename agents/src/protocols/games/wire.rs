//! What a game asks an agent, and what the agent answers.

use serde::{Deserialize, Serialize};

use super::{NormalFormGame, Payoffs, Seat};

/// Your move in round `round` ([`Player::play`](crate::Player::play)): a
/// row index for the row player, a column index for the column player, or
/// `None` to sit the round out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Move {
    /// The game.
    pub game: NormalFormGame,
    /// Which player you are.
    pub player: Seat,
    /// The round, from 0.
    pub round: u32,
    /// Every earlier round, with both actions and payoffs.
    pub history: Vec<Played>,
}

crate::protocol_messages! {
    Move => Option<usize>, "foundation.game.move/1";
}

/// One round as played.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Played {
    /// The round, from 0.
    pub round: u32,
    /// The row player's action, `None` if it gave none (late, invalid).
    pub row: Option<usize>,
    /// The column player's action, likewise.
    pub col: Option<usize>,
    /// The payoffs, `None` for a void round (a player gave no valid action).
    pub payoffs: Option<Payoffs>,
}
