//! The command-line face of games and adaptive strategies: how a scripted
//! agent chooses its actions (`strategy=...`) and the `play` command.

use agents::protocols::bandit::{Bandit, EpsilonGreedy, Thompson, Ucb1};
use agents::protocols::games::{MatchSpec, Move, NormalFormGame, Played, Seat};
use agents::Agents;
use anyhow::{bail, Context};
use foundation::prelude::*;
use rand::rngs::StdRng;
use rand::SeedableRng;
use serde_json::{json, Value as Json};

use super::{millis, number};

/// The agent spec keys of this family, for `help`.
pub(crate) const KEYS: &[&str] = &[
    "strategy=fixed/N|best-response|fictitious|ucb1|epsilon/E/SEED|thompson/SEED (games; \
     bandits treat actions as arms and the normalised payoff as reward)",
];

/// The commands of this family, for `help`.
pub(crate) const USAGE: &[&str] = &[
    "play ROW_AGENT COL_AGENT prisoners-dilemma|matching-pennies|coordination|R,C;R,C/R,C;R,C ROUNDS ROUND_MS",
];

/// How a scripted agent picks its actions.
#[derive(Debug, Clone, Default)]
enum Strategy {
    /// Does not play.
    #[default]
    None,
    /// Always this action.
    Fixed(usize),
    /// The best response to the opponent's last action (to a uniform mix
    /// in the first round).
    BestResponse,
    /// The best response to the opponent's past frequencies (fictitious
    /// play; uniform in the first round).
    Fictitious,
    /// A bandit over its own actions; created at the first move.
    Learner(Box<Learner>),
}

/// Which bandit, and its state once the game is known.
#[derive(Debug, Clone)]
struct Learner {
    kind: LearnerKind,
    state: Option<(Bandit, StdRng)>,
}

#[derive(Debug, Clone, Copy)]
enum LearnerKind {
    Ucb1,
    Epsilon(f64, u64),
    Thompson(u64),
}

/// What a scripted agent plays.
#[derive(Debug, Clone, Default)]
pub(crate) struct Script {
    strategy: Strategy,
}

impl Script {
    /// Takes `strategy=...`; `Ok(false)` for any other key.
    pub(crate) fn parse_key(&mut self, key: &str, value: &str) -> anyhow::Result<bool> {
        if key != "strategy" {
            return Ok(false);
        }
        let parts: Vec<&str> = value.split('/').collect();
        let seed = |s: &str| -> anyhow::Result<u64> {
            s.parse()
                .with_context(|| format!("seed `{s}` is not a number"))
        };
        let learner = |kind| Strategy::Learner(Box::new(Learner { kind, state: None }));
        self.strategy = match parts.as_slice() {
            ["fixed", n] => Strategy::Fixed(
                n.parse()
                    .with_context(|| format!("`{n}` is not an action"))?,
            ),
            ["best-response"] => Strategy::BestResponse,
            ["fictitious"] => Strategy::Fictitious,
            ["ucb1"] => learner(LearnerKind::Ucb1),
            ["epsilon", e, s] => learner(LearnerKind::Epsilon(number(e)?, seed(s)?)),
            ["thompson", s] => learner(LearnerKind::Thompson(seed(s)?)),
            _ => bail!("unknown strategy `{value}`"),
        };
        Ok(true)
    }

    /// The agent's move.
    pub(crate) fn play(&mut self, turn: &Move) -> Option<usize> {
        let Move {
            game,
            player,
            history,
            ..
        } = turn;
        type Pick = fn(&Played) -> Option<usize>;
        let (own, theirs, opponent_actions): (Pick, Pick, usize) = match player {
            Seat::Row => (|p| p.row, |p| p.col, game.cols()),
            Seat::Col => (|p| p.col, |p| p.row, game.rows()),
        };
        let uniform = vec![1.0; opponent_actions];
        Some(match &mut self.strategy {
            Strategy::None => return None,
            Strategy::Fixed(a) => *a,
            Strategy::BestResponse => {
                let mix = match history.iter().rev().find_map(theirs) {
                    Some(last) => (0..opponent_actions)
                        .map(|k| if k == last { 1.0 } else { 0.0 })
                        .collect(),
                    None => uniform,
                };
                game.best_response(*player, &mix)
            }
            Strategy::Fictitious => {
                let mut counts = vec![0.0; opponent_actions];
                for a in history.iter().filter_map(theirs) {
                    counts[a] += 1.0;
                }
                if counts.iter().all(|c| *c == 0.0) {
                    counts = uniform;
                }
                game.best_response(*player, &counts)
            }
            Strategy::Learner(learner) => learner.choose(game, *player, history, own),
        })
    }
}

impl Learner {
    /// Learns from the last round, then picks an arm.
    fn choose(
        &mut self,
        game: &NormalFormGame,
        player: Seat,
        history: &[Played],
        own: fn(&Played) -> Option<usize>,
    ) -> usize {
        let arms = match player {
            Seat::Row => game.rows(),
            Seat::Col => game.cols(),
        };
        let kind = self.kind;
        let (bandit, rng) = self.state.get_or_insert_with(|| {
            let bandit = match kind {
                LearnerKind::Ucb1 => Ucb1::new(arms).map(Bandit::Ucb1),
                LearnerKind::Epsilon(e, _) => {
                    EpsilonGreedy::new(arms, e).map(Bandit::EpsilonGreedy)
                }
                LearnerKind::Thompson(_) => Thompson::new(arms).map(Bandit::Thompson),
            };
            let seed = match kind {
                LearnerKind::Epsilon(_, s) | LearnerKind::Thompson(s) => s,
                LearnerKind::Ucb1 => 0,
            };
            // A game has at least one action per player, so this cannot fail;
            // an epsilon outside [0, 1] falls back to UCB1 with a warning.
            let bandit = bandit.unwrap_or_else(|e| {
                tracing::warn!("bandit not usable ({e}); using UCB1");
                Bandit::Ucb1(Ucb1::new(arms.max(1)).expect("at least one arm"))
            });
            (bandit, StdRng::seed_from_u64(seed))
        });
        if let Some(last) = history.last() {
            if let (Some(arm), Some(payoffs)) = (own(last), last.payoffs) {
                let (lo, hi) = game.payoff_range(player);
                let got = match player {
                    Seat::Row => payoffs.row,
                    Seat::Col => payoffs.col,
                };
                let reward = if hi > lo { (got - lo) / (hi - lo) } else { 1.0 };
                if let Err(e) = bandit.update(arm, reward) {
                    tracing::warn!("bandit update refused: {e}");
                }
            }
        }
        bandit.choose(rng)
    }
}

/// A game by name, or a literal: rows separated by `/`, cells by `;`, each
/// cell `ROW_PAYOFF,COL_PAYOFF`.
fn game(word: &str) -> anyhow::Result<NormalFormGame> {
    let cells: Vec<Vec<(f64, f64)>> = match word {
        "prisoners-dilemma" => vec![vec![(3.0, 3.0), (0.0, 5.0)], vec![(5.0, 0.0), (1.0, 1.0)]],
        "matching-pennies" => vec![
            vec![(1.0, -1.0), (-1.0, 1.0)],
            vec![(-1.0, 1.0), (1.0, -1.0)],
        ],
        "coordination" => vec![vec![(2.0, 2.0), (0.0, 0.0)], vec![(0.0, 0.0), (1.0, 1.0)]],
        literal => literal
            .split('/')
            .map(|row| {
                row.split(';')
                    .map(|cell| {
                        let (r, c) = cell
                            .split_once(',')
                            .with_context(|| format!("cell `{cell}` is not ROW,COL"))?;
                        Ok((number(r)?, number(c)?))
                    })
                    .collect::<anyhow::Result<Vec<_>>>()
            })
            .collect::<anyhow::Result<_>>()?,
    };
    Ok(NormalFormGame::bimatrix(cells)?)
}

/// Runs `play`; `Ok(None)` for any other command.
pub(crate) async fn command(
    _node: &Node,
    agents: &Agents,
    words: &[&str],
) -> anyhow::Result<Option<Json>> {
    let ["play", row, col, name, rounds, ms] = words else {
        return Ok(None);
    };
    let rounds = rounds
        .parse()
        .with_context(|| format!("`{rounds}` is not a number of rounds"))?;
    let spec = MatchSpec::new(*row, *col, game(name)?, rounds, millis(ms)?);
    Ok(Some(
        json!({ "reply": "play", "result": agents.run(spec).await? }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn moved(script: &mut Script, player: Seat, history: Vec<Played>) -> usize {
        let turn = Move {
            game: game("prisoners-dilemma").unwrap(),
            player,
            round: history.len() as u32,
            history,
        };
        script.play(&turn).expect("a move")
    }

    #[test]
    fn strategies_pick_what_they_promise() {
        let mut s = Script::default();
        assert!(s.parse_key("strategy", "best-response").unwrap());
        // Defecting (1) is the best response to anything in the dilemma.
        assert_eq!(moved(&mut s, Seat::Row, vec![]), 1);
        assert!(s.parse_key("strategy", "fixed/0").unwrap());
        assert_eq!(moved(&mut s, Seat::Col, vec![]), 0);
        assert!(s.parse_key("strategy", "chaos").is_err());
        assert!(!s.parse_key("colour", "red").unwrap());
        assert!(game("1,2;3,4/5,6;7,8").is_ok());
        assert!(game("1,2;3").is_err());
    }
}
