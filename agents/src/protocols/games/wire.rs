//! What a game asks an agent, and what the agent answers.

use serde::{Deserialize, Serialize};

use super::{NormalFormGame, Payoffs, Seat};

/// What a game coordinator asks an agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum GameRequest {
    /// Choose your action for round `round` ([`GameReply::Action`]: a row
    /// index for the row player, a column index for the column player).
    Move {
        /// The game.
        game: NormalFormGame,
        /// Which player you are.
        player: Seat,
        /// The round, from 0.
        round: u32,
        /// Every earlier round, with both actions and payoffs.
        history: Vec<Played>,
    },
}

/// An agent's answer to a [`GameRequest`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum GameReply {
    /// The agent does not take part.
    Decline,
    /// The action chosen.
    Action(usize),
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
