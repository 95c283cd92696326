//! Two-player normal-form games, the pure rules: equilibria, best
//! response, fictitious play.

use crate::protocols::argmax;
use serde::{Deserialize, Serialize};

/// Why a game or a query about it was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error, Serialize, Deserialize)]
#[non_exhaustive]
pub enum GameError {
    /// A player has no actions.
    #[error("a game needs at least one action per player")]
    Empty,
    /// The matrices are not rectangular or not of the same shape.
    #[error("the {player} player's payoff row {row} has {actual} entries, expected {expected}")]
    Shape {
        /// Whose matrix (`"row"` or `"column"`).
        player: String,
        /// The row index.
        row: usize,
        /// Entries found.
        actual: usize,
        /// Entries expected.
        expected: usize,
    },
    /// The two matrices have different numbers of rows.
    #[error("the row player's matrix has {row} rows but the column player's has {col}")]
    RowCount {
        /// Rows of the row player's matrix.
        row: usize,
        /// Rows of the column player's matrix.
        col: usize,
    },
    /// A payoff is NaN or infinite.
    #[error(
        "the {player} player's payoff at ({row}, {col}) is {value}, which is not a finite number"
    )]
    NonFinitePayoff {
        /// Whose payoff (`"row"` or `"column"`).
        player: String,
        /// Row index.
        row: usize,
        /// Column index.
        col: usize,
        /// The value.
        value: f64,
    },
    /// An action index is out of range.
    #[error("the {player} player has {actions} actions; action {action} does not exist")]
    NoSuchAction {
        /// Which player (`"row"` or `"column"`).
        player: String,
        /// The index given.
        action: usize,
        /// The number of actions.
        actions: usize,
    },
    /// A mixed strategy is not a probability vector over the player's actions.
    #[error("the {player} player's strategy is not a probability vector over its {actions} actions: {reason}")]
    NotAStrategy {
        /// Which player (`"row"` or `"column"`).
        player: String,
        /// The number of actions.
        actions: usize,
        /// What is wrong.
        reason: String,
    },
    /// Support enumeration would examine too many support pairs.
    #[error("support enumeration of a {rows}×{cols} game examines {pairs} support pairs, more than the limit {limit}")]
    TooLarge {
        /// Row player's actions.
        rows: usize,
        /// Column player's actions.
        cols: usize,
        /// Support pairs, `C(rows+cols, rows) − 1` (saturated).
        pairs: u64,
        /// [`MAX_SUPPORT_PAIRS`].
        limit: u64,
    },
    /// The stopping threshold of fictitious play is not a finite number ≥ 0.
    #[error("epsilon {0} is invalid: it must be a finite number >= 0")]
    InvalidEpsilon(f64),
}

/// A two-player game in normal form (a bimatrix game).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawGame")]
pub struct NormalFormGame {
    row: Vec<Vec<f64>>,
    col: Vec<Vec<f64>>,
}

#[derive(Deserialize)]
struct RawGame {
    row: Vec<Vec<f64>>,
    col: Vec<Vec<f64>>,
}

impl TryFrom<RawGame> for NormalFormGame {
    type Error = GameError;
    fn try_from(raw: RawGame) -> Result<Self, GameError> {
        NormalFormGame::new(raw.row, raw.col)
    }
}

/// One of the two players of a [`NormalFormGame`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Seat {
    /// Chooses the row.
    Row,
    /// Chooses the column.
    Col,
}

/// What each player expects to get.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Payoffs {
    /// The row player's payoff.
    pub row: f64,
    /// The column player's payoff.
    pub col: f64,
}

const ROW: &str = "row";
const COL: &str = "column";

impl NormalFormGame {
    /// A game from the row player's and the column player's payoff matrices
    /// (both indexed `[row action][column action]`).
    ///
    /// # Errors
    ///
    /// [`GameError::Empty`], [`GameError::Shape`], [`GameError::RowCount`]
    /// or [`GameError::NonFinitePayoff`].
    pub fn new(row: Vec<Vec<f64>>, col: Vec<Vec<f64>>) -> Result<Self, GameError> {
        if row.is_empty() || row[0].is_empty() {
            return Err(GameError::Empty);
        }
        if row.len() != col.len() {
            return Err(GameError::RowCount {
                row: row.len(),
                col: col.len(),
            });
        }
        let width = row[0].len();
        for (player, matrix) in [(ROW, &row), (COL, &col)] {
            for (i, r) in matrix.iter().enumerate() {
                if r.len() != width {
                    return Err(GameError::Shape {
                        player: player.into(),
                        row: i,
                        actual: r.len(),
                        expected: width,
                    });
                }
                if let Some((j, &value)) = r.iter().enumerate().find(|(_, v)| !v.is_finite()) {
                    return Err(GameError::NonFinitePayoff {
                        player: player.into(),
                        row: i,
                        col: j,
                        value,
                    });
                }
            }
        }
        Ok(NormalFormGame { row, col })
    }

    /// A game from a matrix of `(row payoff, column payoff)` pairs.
    ///
    /// # Errors
    ///
    /// As [`NormalFormGame::new`].
    pub fn bimatrix(cells: Vec<Vec<(f64, f64)>>) -> Result<Self, GameError> {
        let row = cells
            .iter()
            .map(|r| r.iter().map(|c| c.0).collect())
            .collect();
        let col = cells
            .iter()
            .map(|r| r.iter().map(|c| c.1).collect())
            .collect();
        NormalFormGame::new(row, col)
    }

    /// The row player's number of actions.
    pub fn rows(&self) -> usize {
        self.row.len()
    }

    /// The column player's number of actions.
    pub fn cols(&self) -> usize {
        self.row[0].len()
    }

    /// Payoffs of a pure profile, or `None` if an index is out of range.
    pub fn payoffs(&self, row: usize, col: usize) -> Option<Payoffs> {
        Some(Payoffs {
            row: *self.row.get(row)?.get(col)?,
            col: self.col[row][col],
        })
    }

    /// The tolerance used by support enumeration and deviation checks:
    /// `1e-9 · max(1, largest |payoff|)`.
    pub fn tolerance(&self) -> f64 {
        let largest = self
            .row
            .iter()
            .chain(&self.col)
            .flatten()
            .fold(1.0f64, |m, v| m.max(v.abs()));
        1e-9 * largest
    }

    fn check_strategy(&self, player: &str, s: &[f64], actions: usize) -> Result<(), GameError> {
        let fail = |reason: String| {
            Err(GameError::NotAStrategy {
                player: player.into(),
                actions,
                reason,
            })
        };
        if s.len() != actions {
            return fail(format!("it has {} entries", s.len()));
        }
        if let Some(p) = s.iter().find(|p| !p.is_finite() || **p < 0.0) {
            return fail(format!("probability {p} is not a finite number >= 0"));
        }
        let sum: f64 = s.iter().sum();
        if (sum - 1.0).abs() > 1e-9 {
            return fail(format!("the probabilities sum to {sum}, not 1"));
        }
        Ok(())
    }

    /// The row player's expected payoff of each action against `y`.
    fn row_values(&self, y: &[f64]) -> Vec<f64> {
        self.row
            .iter()
            .map(|r| r.iter().zip(y).map(|(a, q)| a * q).sum())
            .collect()
    }

    /// The column player's expected payoff of each action against `x`.
    fn col_values(&self, x: &[f64]) -> Vec<f64> {
        (0..self.cols())
            .map(|j| self.col.iter().zip(x).map(|(r, p)| r[j] * p).sum())
            .collect()
    }

    /// Expected payoffs when the row player mixes with `x` and the column
    /// player with `y`.
    ///
    /// # Errors
    ///
    /// [`GameError::NotAStrategy`] unless `x` and `y` are probability
    /// vectors of the right lengths (sum within 1e-9 of 1).
    pub fn expected_payoffs(&self, x: &[f64], y: &[f64]) -> Result<Payoffs, GameError> {
        self.check_strategy(ROW, x, self.rows())?;
        self.check_strategy(COL, y, self.cols())?;
        Ok(self.expected(x, y))
    }

    fn expected(&self, x: &[f64], y: &[f64]) -> Payoffs {
        let row = x.iter().zip(self.row_values(y)).map(|(p, v)| p * v).sum();
        let col = y.iter().zip(self.col_values(x)).map(|(q, v)| q * v).sum();
        Payoffs { row, col }
    }

    /// How much each player could gain by deviating from `(x, y)` to its
    /// best pure response (≥ 0 up to rounding). `(x, y)` is a Nash
    /// equilibrium when both are at most [`NormalFormGame::tolerance`].
    ///
    /// # Errors
    ///
    /// [`GameError::NotAStrategy`] as in [`NormalFormGame::expected_payoffs`].
    pub fn deviation_gains(&self, x: &[f64], y: &[f64]) -> Result<Payoffs, GameError> {
        self.check_strategy(ROW, x, self.rows())?;
        self.check_strategy(COL, y, self.cols())?;
        Ok(self.gains(x, y))
    }

    fn gains(&self, x: &[f64], y: &[f64]) -> Payoffs {
        let now = self.expected(x, y);
        let best_row = self
            .row_values(y)
            .into_iter()
            .fold(f64::NEG_INFINITY, f64::max);
        let best_col = self
            .col_values(x)
            .into_iter()
            .fold(f64::NEG_INFINITY, f64::max);
        Payoffs {
            row: best_row - now.row,
            col: best_col - now.col,
        }
    }

    /// The row player's best response to column action `j` (lowest index
    /// among equals).
    fn best_row_to(&self, j: usize) -> usize {
        argmax((0..self.rows()).map(|i| self.row[i][j]))
    }

    /// The column player's best response to row action `i`.
    fn best_col_to(&self, i: usize) -> usize {
        argmax(self.col[i].iter().copied())
    }

    /// `player`'s best response (lowest index among equals) when the
    /// opponent mixes its actions with the weights `opponent` (any
    /// non-negative weights, e.g. counts of past play; missing entries
    /// weigh 0).
    pub fn best_response(&self, player: Seat, opponent: &[f64]) -> usize {
        let weights = |n: usize| -> Vec<f64> {
            (0..n)
                .map(|k| opponent.get(k).copied().unwrap_or(0.0))
                .collect()
        };
        match player {
            Seat::Row => argmax(self.row_values(&weights(self.cols())).into_iter()),
            Seat::Col => argmax(self.col_values(&weights(self.rows())).into_iter()),
        }
    }

    /// The lowest and highest payoff `player` can get in this game.
    pub fn payoff_range(&self, player: Seat) -> (f64, f64) {
        let table = match player {
            Seat::Row => &self.row,
            Seat::Col => &self.col,
        };
        table
            .iter()
            .flatten()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
                (lo.min(*v), hi.max(*v))
            })
    }

    fn is_pure_equilibrium(&self, i: usize, j: usize) -> bool {
        (0..self.rows()).all(|k| self.row[k][j] <= self.row[i][j])
            && (0..self.cols()).all(|l| self.col[i][l] <= self.col[i][j])
    }

    fn action(&self, player: &str, action: usize) -> Result<usize, GameError> {
        let actions = if player == ROW {
            self.rows()
        } else {
            self.cols()
        };
        if action < actions {
            Ok(action)
        } else {
            Err(GameError::NoSuchAction {
                player: player.into(),
                action,
                actions,
            })
        }
    }
}

/// A pure Nash equilibrium.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PureEquilibrium {
    /// The row player's action.
    pub row: usize,
    /// The column player's action.
    pub col: usize,
    /// The payoffs.
    pub payoffs: Payoffs,
}

/// Every pure Nash equilibrium, in row-major order: the profiles where each
/// action is a best response to the other (payoffs compared exactly; an
/// equally good alternative is not a profitable deviation).
pub fn pure_equilibria(game: &NormalFormGame) -> Vec<PureEquilibrium> {
    let mut out = Vec::new();
    for i in 0..game.rows() {
        for j in 0..game.cols() {
            if game.is_pure_equilibrium(i, j) {
                out.push(PureEquilibrium {
                    row: i,
                    col: j,
                    payoffs: Payoffs {
                        row: game.row[i][j],
                        col: game.col[i][j],
                    },
                });
            }
        }
    }
    out
}

/// A Nash equilibrium in mixed strategies (pure ones included, as
/// one-action supports).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MixedEquilibrium {
    /// The row player's probabilities over its actions.
    pub row: Vec<f64>,
    /// The column player's probabilities over its actions.
    pub col: Vec<f64>,
    /// The actions the row player plays with positive probability.
    pub row_support: Vec<usize>,
    /// The actions the column player plays with positive probability.
    pub col_support: Vec<usize>,
    /// The expected payoffs.
    pub payoffs: Payoffs,
}

/// The result of [`support_enumeration`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SupportEnumeration {
    /// The equilibria found, by support size, then supports in
    /// lexicographic order.
    pub equilibria: Vec<MixedEquilibrium>,
    /// The tolerance used.
    pub tolerance: f64,
    /// Support pairs examined.
    pub supports_examined: u64,
    /// Whether the game showed itself degenerate: a solution with a
    /// probability within tolerance of 0, or an action outside a support
    /// that is an equally good response. The list may then be incomplete
    /// (a degenerate game can have infinitely many equilibria).
    pub degenerate: bool,
}

/// The largest number of support pairs [`support_enumeration`] examines
/// (about an 11×11 game).
pub const MAX_SUPPORT_PAIRS: u64 = 1 << 20;

/// `C(n, k)`, saturating at `u64::MAX`.
fn binomial(n: u64, k: u64) -> u64 {
    let k = k.min(n - k);
    let mut acc: u128 = 1;
    for i in 0..k {
        acc = acc * u128::from(n - i) / u128::from(i + 1);
        if acc > u128::from(u64::MAX) {
            return u64::MAX;
        }
    }
    acc as u64
}

/// Steps `c` to the next `k`-combination of `0..n` in lexicographic order;
/// false after the last.
fn next_combination(c: &mut [usize], n: usize) -> bool {
    let k = c.len();
    let mut i = k;
    while i > 0 {
        i -= 1;
        if c[i] < n - k + i {
            c[i] += 1;
            for t in i + 1..k {
                c[t] = c[t - 1] + 1;
            }
            return true;
        }
    }
    false
}

/// Solves `m · z = b` by Gaussian elimination with partial pivoting;
/// `None` if a pivot is smaller than `1e-12` times the largest entry.
fn solve(mut m: Vec<Vec<f64>>, mut b: Vec<f64>) -> Option<Vec<f64>> {
    let n = b.len();
    let scale = m.iter().flatten().fold(0.0f64, |s, v| s.max(v.abs()));
    if scale == 0.0 {
        return None;
    }
    for col in 0..n {
        let pivot = (col..n).max_by(|&a, &c| m[a][col].abs().total_cmp(&m[c][col].abs()))?;
        if m[pivot][col].abs() <= 1e-12 * scale {
            return None;
        }
        m.swap(col, pivot);
        b.swap(col, pivot);
        let (done, rest) = m.split_at_mut(col + 1);
        let pivot_row = &done[col];
        for (offset, row) in rest.iter_mut().enumerate() {
            let factor = row[col] / pivot_row[col];
            if factor != 0.0 {
                for (target, source) in row[col..].iter_mut().zip(&pivot_row[col..]) {
                    *target -= factor * source;
                }
                b[col + 1 + offset] -= factor * b[col];
            }
        }
    }
    let mut z = vec![0.0; n];
    for r in (0..n).rev() {
        let tail: f64 = (r + 1..n).map(|c| m[r][c] * z[c]).sum();
        z[r] = (b[r] - tail) / m[r][r];
    }
    z.iter().all(|v| v.is_finite()).then_some(z)
}

/// Finds the mixture over `mix` (the opponent's support) that makes every
/// action in `indifferent` equally good for the player whose payoff is
/// `payoff(own action, opponent action)`. Returns the probabilities over
/// `mix` and the common value.
fn indifference(
    indifferent: &[usize],
    mix: &[usize],
    payoff: impl Fn(usize, usize) -> f64,
) -> Option<(Vec<f64>, f64)> {
    let k = mix.len();
    // Unknowns: p_1..p_k, v. Rows: Σ_j payoff(i, j)·p_j − v = 0 for each
    // indifferent action i, and Σ p_j = 1.
    let mut m = Vec::with_capacity(k + 1);
    let mut b = Vec::with_capacity(k + 1);
    for &i in indifferent {
        let mut row: Vec<f64> = mix.iter().map(|&j| payoff(i, j)).collect();
        row.push(-1.0);
        m.push(row);
        b.push(0.0);
    }
    let mut ones = vec![1.0; k];
    ones.push(0.0);
    m.push(ones);
    b.push(1.0);
    let mut z = solve(m, b)?;
    let v = z.pop()?;
    Some((z, v))
}

/// All Nash equilibria of a non-degenerate game by support enumeration.
///
/// In a non-degenerate game both players' supports in an equilibrium have
/// the same size `k`. For every `k` and every pair of `k`-action supports
/// `(I, J)`, this solves the column player's mixture over `J` that makes
/// the row player indifferent across `I`, and the row player's mixture over
/// `I` that makes the column player indifferent across `J`; the pair is an
/// equilibrium when every probability is positive (more than the
/// tolerance) and no action outside a support does better (by more than the
/// tolerance). Singular systems are skipped. Pure equilibria appear with
/// `k = 1`.
///
/// For degenerate games (see [`SupportEnumeration::degenerate`]) the list
/// may miss equilibria.
///
/// # Errors
///
/// [`GameError::TooLarge`] when the game has more than
/// [`MAX_SUPPORT_PAIRS`] support pairs, `C(rows+cols, rows) − 1`.
pub fn support_enumeration(game: &NormalFormGame) -> Result<SupportEnumeration, GameError> {
    let (m, n) = (game.rows(), game.cols());
    let pairs = binomial((m + n) as u64, m as u64).saturating_sub(1);
    if pairs > MAX_SUPPORT_PAIRS {
        return Err(GameError::TooLarge {
            rows: m,
            cols: n,
            pairs,
            limit: MAX_SUPPORT_PAIRS,
        });
    }
    let tol = game.tolerance();
    let mut equilibria: Vec<MixedEquilibrium> = Vec::new();
    let mut degenerate = false;
    let mut examined = 0u64;
    for k in 1..=m.min(n) {
        let mut rows: Vec<usize> = (0..k).collect();
        loop {
            let mut cols: Vec<usize> = (0..k).collect();
            loop {
                examined += 1;
                if let Some(found) = check_supports(game, &rows, &cols, tol, &mut degenerate) {
                    let duplicate = equilibria.iter().any(|e| {
                        e.row
                            .iter()
                            .zip(&found.row)
                            .all(|(a, b)| (a - b).abs() <= tol)
                            && e.col
                                .iter()
                                .zip(&found.col)
                                .all(|(a, b)| (a - b).abs() <= tol)
                    });
                    if !duplicate {
                        equilibria.push(found);
                    }
                }
                if !next_combination(&mut cols, n) {
                    break;
                }
            }
            if !next_combination(&mut rows, m) {
                break;
            }
        }
    }
    Ok(SupportEnumeration {
        equilibria,
        tolerance: tol,
        supports_examined: examined,
        degenerate,
    })
}

/// Places `probabilities` over `support` in a vector of length `len`,
/// clamped at 0 and normalised to sum 1.
fn spread(len: usize, support: &[usize], probabilities: &[f64]) -> Vec<f64> {
    let mut out = vec![0.0; len];
    let total: f64 = probabilities.iter().map(|p| p.max(0.0)).sum();
    for (&a, &p) in support.iter().zip(probabilities) {
        out[a] = p.max(0.0) / total;
    }
    out
}

fn check_supports(
    game: &NormalFormGame,
    rows: &[usize],
    cols: &[usize],
    tol: f64,
    degenerate: &mut bool,
) -> Option<MixedEquilibrium> {
    // The column player's mixture makes the row player indifferent on `rows`.
    let (y_s, v) = indifference(rows, cols, |i, j| game.row[i][j])?;
    // The row player's mixture makes the column player indifferent on `cols`.
    let (x_s, u) = indifference(cols, rows, |j, i| game.col[i][j])?;
    for p in y_s.iter().chain(&x_s) {
        if *p < -tol {
            return None;
        }
        if *p <= tol {
            // Not a full support: in a non-degenerate game this profile is
            // found with a smaller support.
            *degenerate = true;
            return None;
        }
    }
    let x = spread(game.rows(), rows, &x_s);
    let y = spread(game.cols(), cols, &y_s);
    let row_values = game.row_values(&y);
    let col_values = game.col_values(&x);
    for (i, value) in row_values.iter().enumerate() {
        if !rows.contains(&i) {
            if *value > v + tol {
                return None;
            }
            if *value >= v - tol {
                *degenerate = true;
            }
        }
    }
    for (j, value) in col_values.iter().enumerate() {
        if !cols.contains(&j) {
            if *value > u + tol {
                return None;
            }
            if *value >= u - tol {
                *degenerate = true;
            }
        }
    }
    let payoffs = game.expected(&x, &y);
    Some(MixedEquilibrium {
        row: x,
        col: y,
        row_support: rows.to_vec(),
        col_support: cols.to_vec(),
        payoffs,
    })
}

/// The result of [`best_response_dynamics`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BestResponseOutcome {
    /// Every profile visited, the start first.
    pub path: Vec<(usize, usize)>,
    /// The last profile.
    pub profile: (usize, usize),
    /// Its payoffs.
    pub payoffs: Payoffs,
    /// Rounds played.
    pub rounds: u32,
    /// Whether the last profile is a pure Nash equilibrium.
    pub converged: bool,
}

/// Best-response dynamics from a pure profile, with a round limit.
///
/// In each round the row player, then the column player (seeing the row
/// player's new action), switches to a best response if its current action
/// is not one; among equal best responses it takes the lowest index. The
/// dynamics stop after a round in which nobody switched (a pure Nash
/// equilibrium) or after `max_rounds` rounds; they may cycle in games
/// without pure equilibria.
///
/// # Errors
///
/// [`GameError::NoSuchAction`] if `start` is out of range.
pub fn best_response_dynamics(
    game: &NormalFormGame,
    start: (usize, usize),
    max_rounds: u32,
) -> Result<BestResponseOutcome, GameError> {
    let (mut i, mut j) = (game.action(ROW, start.0)?, game.action(COL, start.1)?);
    let mut path = vec![(i, j)];
    let mut rounds = 0;
    while rounds < max_rounds {
        rounds += 1;
        let mut moved = false;
        let best_i = game.best_row_to(j);
        if game.row[best_i][j] > game.row[i][j] {
            i = best_i;
            moved = true;
            path.push((i, j));
        }
        let best_j = game.best_col_to(i);
        if game.col[i][best_j] > game.col[i][j] {
            j = best_j;
            moved = true;
            path.push((i, j));
        }
        if !moved {
            break;
        }
    }
    Ok(BestResponseOutcome {
        path,
        profile: (i, j),
        payoffs: Payoffs {
            row: game.row[i][j],
            col: game.col[i][j],
        },
        rounds,
        converged: game.is_pure_equilibrium(i, j),
    })
}

/// The result of [`fictitious_play`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FictitiousPlayOutcome {
    /// The row player's empirical frequencies of play.
    pub row: Vec<f64>,
    /// The column player's empirical frequencies of play.
    pub col: Vec<f64>,
    /// Expected payoffs of the empirical frequencies.
    pub payoffs: Payoffs,
    /// The actions played in the last round.
    pub last_play: (usize, usize),
    /// Rounds played (the opening play is round 1).
    pub rounds: u32,
    /// Sum of both players' gains from their best deviation against the
    /// empirical frequencies (0 at a Nash equilibrium).
    pub exploitability: f64,
    /// Whether the exploitability fell to `epsilon` or below.
    pub converged: bool,
}

/// Fictitious play: both players open with `start`; in each later round
/// each plays a best response (lowest index among equals, expected payoffs
/// compared exactly) to the opponent's empirical frequency of past play,
/// both at once. Stops once the empirical frequencies are an
/// `epsilon`-equilibrium (exploitability ≤ `epsilon`) or after
/// `max_rounds` rounds (at least the opening round is played).
///
/// # Errors
///
/// [`GameError::NoSuchAction`] if `start` is out of range,
/// [`GameError::InvalidEpsilon`] unless `epsilon` is a finite number ≥ 0.
pub fn fictitious_play(
    game: &NormalFormGame,
    start: (usize, usize),
    max_rounds: u32,
    epsilon: f64,
) -> Result<FictitiousPlayOutcome, GameError> {
    let (mut i, mut j) = (game.action(ROW, start.0)?, game.action(COL, start.1)?);
    if !epsilon.is_finite() || epsilon < 0.0 {
        return Err(GameError::InvalidEpsilon(epsilon));
    }
    let mut row_counts = vec![0u64; game.rows()];
    let mut col_counts = vec![0u64; game.cols()];
    row_counts[i] += 1;
    col_counts[j] += 1;
    let mut rounds = 1u32;
    let freq = |counts: &[u64], t: u32| -> Vec<f64> {
        counts.iter().map(|&c| c as f64 / f64::from(t)).collect()
    };
    loop {
        let (x, y) = (freq(&row_counts, rounds), freq(&col_counts, rounds));
        let gains = game.gains(&x, &y);
        let exploitability = (gains.row + gains.col).max(0.0);
        if exploitability <= epsilon || rounds >= max_rounds {
            return Ok(FictitiousPlayOutcome {
                payoffs: game.expected(&x, &y),
                row: x,
                col: y,
                last_play: (i, j),
                rounds,
                exploitability,
                converged: exploitability <= epsilon,
            });
        }
        // Best responses to the counts (a positive multiple of frequencies).
        let col_weights: Vec<f64> = col_counts.iter().map(|&c| c as f64).collect();
        let row_weights: Vec<f64> = row_counts.iter().map(|&c| c as f64).collect();
        i = argmax(game.row_values(&col_weights).into_iter());
        j = argmax(game.col_values(&row_weights).into_iter());
        row_counts[i] += 1;
        col_counts[j] += 1;
        rounds += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    /// Prisoner's dilemma, actions 0 = cooperate, 1 = defect.
    fn prisoners_dilemma() -> NormalFormGame {
        NormalFormGame::bimatrix(vec![
            vec![(3.0, 3.0), (0.0, 5.0)],
            vec![(5.0, 0.0), (1.0, 1.0)],
        ])
        .unwrap()
    }

    fn matching_pennies() -> NormalFormGame {
        NormalFormGame::bimatrix(vec![
            vec![(1.0, -1.0), (-1.0, 1.0)],
            vec![(-1.0, 1.0), (1.0, -1.0)],
        ])
        .unwrap()
    }

    /// Battle of the sexes: row prefers (0, 0), column prefers (1, 1).
    fn battle_of_the_sexes() -> NormalFormGame {
        NormalFormGame::bimatrix(vec![
            vec![(2.0, 1.0), (0.0, 0.0)],
            vec![(0.0, 0.0), (1.0, 2.0)],
        ])
        .unwrap()
    }

    #[test]
    fn prisoners_dilemma_defect_defect() {
        // Defecting is strictly dominant (5 > 3, 1 > 0) for both: the only
        // equilibrium is (defect, defect) with payoffs (1, 1).
        let g = prisoners_dilemma();
        let pure = pure_equilibria(&g);
        assert_eq!(pure.len(), 1);
        assert_eq!((pure[0].row, pure[0].col), (1, 1));
        assert_eq!(pure[0].payoffs, Payoffs { row: 1.0, col: 1.0 });
        let all = support_enumeration(&g).unwrap();
        assert_eq!(all.equilibria.len(), 1);
        assert_eq!(all.equilibria[0].row, vec![0.0, 1.0]);
        assert!(!all.degenerate);
    }

    #[test]
    fn matching_pennies_half_half() {
        // No pure equilibrium. Column mixes y so that row is indifferent:
        // y − (1 − y) = −y + (1 − y) ⇒ y = 1/2; likewise x = 1/2.
        // Expected payoffs 0 and 0.
        let g = matching_pennies();
        assert!(pure_equilibria(&g).is_empty());
        let all = support_enumeration(&g).unwrap();
        assert_eq!(all.equilibria.len(), 1);
        let e = &all.equilibria[0];
        assert!(close(e.row[0], 0.5) && close(e.row[1], 0.5));
        assert!(close(e.col[0], 0.5) && close(e.col[1], 0.5));
        assert!(close(e.payoffs.row, 0.0) && close(e.payoffs.col, 0.0));
        assert_eq!(
            (e.row_support.clone(), e.col_support.clone()),
            (vec![0, 1], vec![0, 1])
        );
    }

    #[test]
    fn battle_of_the_sexes_two_pure_one_mixed() {
        // Pure: (0,0) paying (2,1) and (1,1) paying (1,2).
        // Mixed: column indifferent: x·1 = (1−x)·2 ⇒ x = 2/3;
        //        row indifferent: 2y = (1−y)·1 ⇒ y = 1/3.
        //        Payoffs: row 2y = 2/3, column x = 2/3.
        let g = battle_of_the_sexes();
        let pure = pure_equilibria(&g);
        assert_eq!(
            pure.iter().map(|e| (e.row, e.col)).collect::<Vec<_>>(),
            vec![(0, 0), (1, 1)]
        );
        assert_eq!(pure[0].payoffs, Payoffs { row: 2.0, col: 1.0 });
        let all = support_enumeration(&g).unwrap();
        assert_eq!(all.equilibria.len(), 3);
        let mixed = &all.equilibria[2];
        assert!(close(mixed.row[0], 2.0 / 3.0) && close(mixed.row[1], 1.0 / 3.0));
        assert!(close(mixed.col[0], 1.0 / 3.0) && close(mixed.col[1], 2.0 / 3.0));
        assert!(close(mixed.payoffs.row, 2.0 / 3.0) && close(mixed.payoffs.col, 2.0 / 3.0));
    }

    #[test]
    fn rock_paper_scissors_uniform() {
        // Zero-sum, symmetric: the only equilibrium is (1/3, 1/3, 1/3) each.
        let a = vec![
            vec![0.0, -1.0, 1.0],
            vec![1.0, 0.0, -1.0],
            vec![-1.0, 1.0, 0.0],
        ];
        let b = a.iter().map(|r| r.iter().map(|v| -v).collect()).collect();
        let g = NormalFormGame::new(a, b).unwrap();
        let all = support_enumeration(&g).unwrap();
        assert_eq!(all.equilibria.len(), 1);
        assert!(all.equilibria[0].row.iter().all(|p| close(*p, 1.0 / 3.0)));
        // 3×3: C(6, 3) − 1 = 19 support pairs: 9 + 9 + 1.
        assert_eq!(all.supports_examined, 19);
    }

    #[test]
    fn degenerate_game_is_flagged() {
        // Every payoff 0: every profile is an equilibrium.
        let g = NormalFormGame::new(vec![vec![0.0; 2]; 2], vec![vec![0.0; 2]; 2]).unwrap();
        assert_eq!(pure_equilibria(&g).len(), 4);
        assert!(support_enumeration(&g).unwrap().degenerate);
    }

    #[test]
    fn best_response_dynamics_in_the_dilemma_and_pennies() {
        // PD from (cooperate, cooperate): round 1 row switches to defect
        // (5 > 3), then column to defect (1 > 0); round 2 nobody moves.
        let out = best_response_dynamics(&prisoners_dilemma(), (0, 0), 10).unwrap();
        assert_eq!(out.path, vec![(0, 0), (1, 0), (1, 1)]);
        assert_eq!(out.rounds, 2);
        assert!(out.converged);
        assert_eq!(out.payoffs, Payoffs { row: 1.0, col: 1.0 });
        // Matching pennies cycles: (0,0) → col to 1 → row to 1 → col to 0 → …
        let out = best_response_dynamics(&matching_pennies(), (0, 0), 5).unwrap();
        assert!(!out.converged);
        assert_eq!(out.rounds, 5);
        assert_eq!(out.path[1], (0, 1));
        assert!(best_response_dynamics(&matching_pennies(), (2, 0), 5).is_err());
    }

    #[test]
    fn fictitious_play_in_pennies_and_the_dilemma() {
        // PD: from (0,0), both best-respond with defect from round 2 on; after
        // 4 rounds the frequencies are (1/4, 3/4) each.
        let out = fictitious_play(&prisoners_dilemma(), (0, 0), 4, 0.0).unwrap();
        assert_eq!(out.rounds, 4);
        assert_eq!(out.row, vec![0.25, 0.75]);
        assert_eq!(out.last_play, (1, 1));
        // Matching pennies: frequencies approach (1/2, 1/2) (zero-sum game).
        let out = fictitious_play(&matching_pennies(), (0, 0), 20_000, 0.0).unwrap();
        assert!(
            (out.row[0] - 0.5).abs() < 0.02 && (out.col[0] - 0.5).abs() < 0.02,
            "{out:?}"
        );
        assert!(out.exploitability < 0.05);
        // With a target, it stops once the frequencies are 0.1-close.
        let out = fictitious_play(&matching_pennies(), (0, 0), 20_000, 0.1).unwrap();
        assert!(out.converged && out.rounds < 20_000 && out.exploitability <= 0.1);
        assert!(fictitious_play(&matching_pennies(), (0, 0), 5, f64::NAN).is_err());
    }

    #[test]
    fn bad_games_are_refused() {
        assert_eq!(NormalFormGame::new(vec![], vec![]), Err(GameError::Empty));
        assert!(matches!(
            NormalFormGame::new(
                vec![vec![1.0, 2.0], vec![1.0]],
                vec![vec![1.0, 2.0], vec![1.0, 2.0]]
            ),
            Err(GameError::Shape { row: 1, .. })
        ));
        assert!(matches!(
            NormalFormGame::new(vec![vec![1.0]], vec![vec![f64::NAN]]),
            Err(GameError::NonFinitePayoff { .. })
        ));
        let g = matching_pennies();
        assert!(g.expected_payoffs(&[0.5, 0.6], &[0.5, 0.5]).is_err());
        assert!(g.expected_payoffs(&[1.0], &[0.5, 0.5]).is_err());
        let big = NormalFormGame::new(vec![vec![0.0; 12]; 12], vec![vec![0.0; 12]; 12]).unwrap();
        assert!(matches!(
            support_enumeration(&big),
            Err(GameError::TooLarge { .. })
        ));
        assert!(serde_json::from_str::<NormalFormGame>(r#"{"row":[[1.0]],"col":[]}"#).is_err());
    }

    fn game_strategy(max: usize) -> impl Strategy<Value = NormalFormGame> {
        (1..=max, 1..=max).prop_flat_map(|(m, n)| {
            (
                proptest::collection::vec(proptest::collection::vec(-10.0f64..10.0, n), m),
                proptest::collection::vec(proptest::collection::vec(-10.0f64..10.0, n), m),
            )
                .prop_map(|(a, b)| NormalFormGame::new(a, b).unwrap())
        })
    }

    fn integer_game_strategy(max: usize) -> impl Strategy<Value = NormalFormGame> {
        (1..=max, 1..=max).prop_flat_map(|(m, n)| {
            (
                proptest::collection::vec(proptest::collection::vec(-3i8..4, n), m),
                proptest::collection::vec(proptest::collection::vec(-3i8..4, n), m),
            )
                .prop_map(|(a, b)| {
                    let f = |v: Vec<Vec<i8>>| {
                        v.into_iter()
                            .map(|r| r.into_iter().map(f64::from).collect())
                            .collect()
                    };
                    NormalFormGame::new(f(a), f(b)).unwrap()
                })
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        #[test]
        fn equilibria_have_no_profitable_deviation(g in game_strategy(4)) {
            let all = support_enumeration(&g).unwrap();
            let tol = all.tolerance;
            for e in &all.equilibria {
                // Probability vectors.
                prop_assert!(e.row.iter().chain(&e.col).all(|p| (0.0..=1.0).contains(p)));
                prop_assert!((e.row.iter().sum::<f64>() - 1.0).abs() < 1e-9);
                prop_assert!((e.col.iter().sum::<f64>() - 1.0).abs() < 1e-9);
                let gains = g.deviation_gains(&e.row, &e.col).unwrap();
                prop_assert!(gains.row <= 10.0 * tol && gains.col <= 10.0 * tol, "{gains:?}");
                let p = g.expected_payoffs(&e.row, &e.col).unwrap();
                prop_assert!((p.row - e.payoffs.row).abs() <= tol && (p.col - e.payoffs.col).abs() <= tol);
            }
            if !all.degenerate {
                // A non-degenerate game has an odd number of equilibria.
                prop_assert_eq!(all.equilibria.len() % 2, 1);
                // The pure equilibria are among them.
                for p in pure_equilibria(&g) {
                    prop_assert!(all.equilibria.iter().any(|e| e.row[p.row] == 1.0 && e.col[p.col] == 1.0));
                }
            }
        }

        #[test]
        fn pure_equilibria_are_exactly_the_mutual_best_responses(g in integer_game_strategy(4)) {
            let pure = pure_equilibria(&g);
            for i in 0..g.rows() {
                for j in 0..g.cols() {
                    let mut x = vec![0.0; g.rows()];
                    let mut y = vec![0.0; g.cols()];
                    x[i] = 1.0;
                    y[j] = 1.0;
                    let gains = g.deviation_gains(&x, &y).unwrap();
                    let listed = pure.iter().any(|e| (e.row, e.col) == (i, j));
                    prop_assert_eq!(listed, gains.row <= 0.0 && gains.col <= 0.0);
                }
            }
            // Mixed equilibria of degenerate integer games are still equilibria.
            for e in support_enumeration(&g).unwrap().equilibria {
                let gains = g.deviation_gains(&e.row, &e.col).unwrap();
                prop_assert!(gains.row <= 1e-7 && gains.col <= 1e-7);
            }
        }

        #[test]
        fn dynamics_report_valid_results(g in integer_game_strategy(5), start in (0usize..5, 0usize..5), rounds in 0u32..60) {
            let start = (start.0 % g.rows(), start.1 % g.cols());
            let br = best_response_dynamics(&g, start, rounds).unwrap();
            prop_assert!(br.rounds <= rounds);
            if br.converged {
                prop_assert!(pure_equilibria(&g).iter().any(|e| (e.row, e.col) == br.profile));
            }
            prop_assert_eq!(br.path[0], start);
            let fp = fictitious_play(&g, start, rounds, 0.0).unwrap();
            prop_assert!(fp.rounds >= 1 && fp.rounds <= rounds.max(1));
            prop_assert!(fp.row.iter().chain(&fp.col).all(|p| (0.0..=1.0).contains(p)));
            prop_assert!((fp.row.iter().sum::<f64>() - 1.0).abs() < 1e-9);
            prop_assert!((fp.col.iter().sum::<f64>() - 1.0).abs() < 1e-9);
            prop_assert!(fp.exploitability >= 0.0);
        }

        #[test]
        fn games_never_panic(
            a in proptest::collection::vec(proptest::collection::vec(any::<f64>(), 0..4), 0..4),
            b in proptest::collection::vec(proptest::collection::vec(any::<f64>(), 0..4), 0..4),
            x in proptest::collection::vec(any::<f64>(), 0..4),
        ) {
            if let Ok(g) = NormalFormGame::new(a, b) {
                let _ = pure_equilibria(&g);
                let _ = support_enumeration(&g);
                let _ = g.deviation_gains(&x, &x);
                let _ = best_response_dynamics(&g, (0, 0), 10);
                let _ = fictitious_play(&g, (0, 0), 10, 0.0);
            }
        }
    }
}
