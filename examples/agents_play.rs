//! Games among agents on one node: best response against fictitious play
//! in the prisoner's dilemma, and a UCB1 learner choosing its action.
//!
//! `cargo run --example agents_play`
//!
//! The same calls work across nodes (see `tests/games.rs`, with a late
//! player and a player whose node dies).

use std::time::Duration;

use agents::protocols::bandit::Ucb1;
use agents::protocols::games::{MatchSpec, Move, NormalFormGame, Played, Seat};
use foundation::prelude::*;

/// How a player picks its action.
enum Strategy {
    /// The best response to the opponent's past play (uniform at first).
    Fictitious,
    /// UCB1 over its own actions, rewarded by its normalised payoff.
    Learner(Option<Ucb1>),
    /// Always this action.
    Fixed(usize),
}

/// An agent that plays games with a strategy.
struct Gamer {
    id: &'static str,
    strategy: Strategy,
}

impl Server for Gamer {}

impl Agent for Gamer {
    fn id(&self) -> String {
        self.id.to_owned()
    }

    fn families(families: &mut Families<Self>) {
        families.player();
    }
}

impl Player for Gamer {
    async fn play(&mut self, turn: &Move) -> Option<usize> {
        let Move {
            game,
            player,
            history,
            ..
        } = turn;
        type Pick = fn(&Played) -> Option<usize>;
        let (mine, theirs): (Pick, Pick) = match player {
            Seat::Row => (|p| p.row, |p| p.col),
            Seat::Col => (|p| p.col, |p| p.row),
        };
        Some(match &mut self.strategy {
            Strategy::Fixed(a) => *a,
            Strategy::Fictitious => {
                let n = if *player == Seat::Row {
                    game.cols()
                } else {
                    game.rows()
                };
                let mut counts = vec![0.0; n];
                for a in history.iter().filter_map(theirs) {
                    counts[a] += 1.0;
                }
                if history.is_empty() {
                    counts = vec![1.0; n];
                }
                game.best_response(*player, &counts)
            }
            Strategy::Learner(state) => {
                let arms = if *player == Seat::Row {
                    game.rows()
                } else {
                    game.cols()
                };
                let ucb = state.get_or_insert_with(|| Ucb1::new(arms).expect("arms"));
                if let Some(last) = history.last() {
                    if let (Some(arm), Some(p)) = (mine(last), last.payoffs) {
                        let (lo, hi) = game.payoff_range(*player);
                        let got = if *player == Seat::Row { p.row } else { p.col };
                        let _ = ucb.update(arm, (got - lo) / (hi - lo));
                    }
                }
                ucb.choose()
            }
        })
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let node = Node::builder()
        .name("games-demo")
        .cookie("demo")
        .listen("127.0.0.1:7214".parse()?)
        .no_discovery()
        .start()
        .await?;
    let agents = Agents::start(&node).await?;
    agents
        .spawn(|| Gamer {
            id: "ana",
            strategy: Strategy::Fictitious,
        })
        .await?;
    agents
        .spawn(|| Gamer {
            id: "ben",
            strategy: Strategy::Fictitious,
        })
        .await?;
    agents
        .spawn(|| Gamer {
            id: "cai",
            strategy: Strategy::Learner(None),
        })
        .await?;
    agents
        .spawn(|| Gamer {
            id: "dee",
            strategy: Strategy::Fixed(0),
        })
        .await?;

    // Prisoner's dilemma: defecting (1) is the best response to anything,
    // so both defect from the first round and earn 1 a round.
    let dilemma = NormalFormGame::bimatrix(vec![
        vec![(3.0, 3.0), (0.0, 5.0)],
        vec![(5.0, 0.0), (1.0, 1.0)],
    ])?;
    let pd = agents
        .run(MatchSpec::new(
            "ana",
            "ben",
            dilemma,
            5,
            Duration::from_secs(1),
        ))
        .await?;
    println!(
        "prisoner's dilemma: totals {:?}, settled on {:?}",
        pd.totals, pd.settled_on
    );
    assert_eq!(pd.totals.row, 5.0);

    // cai learns against dee, who always plays 0: action 0 pays 1, action 1
    // pays 3. UCB1 tries both, then mostly plays 1: 0, 1, 1, 1, 0, 1, ...
    let learn = NormalFormGame::bimatrix(vec![vec![(1.0, 0.0)], vec![(3.0, 0.0)]])?;
    let run = agents
        .run(MatchSpec::new(
            "cai",
            "dee",
            learn,
            20,
            Duration::from_secs(1),
        ))
        .await?;
    println!(
        "UCB1: action frequencies {:?}, payoff {}",
        run.row_frequencies, run.totals.row
    );
    assert!(run.row_frequencies[1] > run.row_frequencies[0]);
    node.shutdown().await;
    Ok(())
}
