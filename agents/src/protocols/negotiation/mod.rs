//! Negotiation: the pure decision rules.
//!
//! * **Contract-net award** ([`award`]): the best proposal by a
//!   user-supplied score wins; refusals and invalid proposals are recorded.
//! * **Alternating offers** over a unit surplus ([`rubinstein`],
//!   [`alternating_offers`]): the subgame-perfect split, infinite horizon in
//!   closed form, finite horizon by backward induction.
//! * **Monotonic concession with the Zeuthen rule** ([`zeuthen_start`],
//!   [`zeuthen_step`], [`zeuthen`]): a step function over a
//!   [`ZeuthenState`] and a driver with a round limit, over a finite offer
//!   space whose utilities are given as a [`UtilityTable`] (built from
//!   tables or from functions).
//!
//! # Floating point
//!
//! Scores, shares and utilities are `f64`. Scores are ranked with
//! [`f64::total_cmp`] after non-finite ones are rejected; Zeuthen risks are
//! compared exactly as computed (with integer utilities, equal risks are
//! computed equal, since each is one subtraction and one correctly rounded
//! division). Shares of the alternating-offers game are computed, not
//! compared; tests check them to within 1e-12.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

mod run;
pub use run::{
    BargainResult, BargainSpec, CallRecord, Contract, ContractResult, ContractSpec, ContractStatus,
    NegotiationReply, NegotiationRequest, Revise, Score, Task, Tender, ZeuthenResult, ZeuthenSpec,
};

/// Why a participant's input was set aside, or why a run was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error, Serialize, Deserialize)]
#[non_exhaustive]
pub enum NegotiationError {
    /// The score function rejected a proposal.
    #[error("the proposal of `{agent}` is invalid: {reason}")]
    InvalidProposal {
        /// The proposing agent.
        agent: String,
        /// Why the score function rejected it.
        reason: String,
    },
    /// The score function gave a proposal a score that is NaN or infinite.
    #[error("the proposal of `{agent}` scored {score}, which is not a finite number")]
    NonFiniteScore {
        /// The proposing agent.
        agent: String,
        /// The score.
        score: f64,
    },
    /// An agent answered a call for proposals twice; its earliest answer
    /// counts.
    #[error("`{agent}` answered more than once; its earliest answer counts")]
    DuplicateReply {
        /// The agent.
        agent: String,
    },
    /// A discount factor is not in [0, 1).
    #[error("discount factor of agent {agent} is {delta}: it must satisfy 0 <= delta < 1")]
    InvalidDiscount {
        /// Which agent (1 or 2).
        agent: u8,
        /// The factor given.
        delta: f64,
    },
    /// A finite-horizon bargaining game with no rounds.
    #[error("a finite-horizon bargaining game needs at least one round")]
    NoRounds,
    /// The offer space is empty.
    #[error("the offer space is empty")]
    NoOffers,
    /// The two agents' utility tables cover different numbers of offers.
    #[error("agent 1 has utilities for {agent1} offers but agent 2 for {agent2}")]
    TableMismatch {
        /// Offers in agent 1's table.
        agent1: usize,
        /// Offers in agent 2's table.
        agent2: usize,
    },
    /// A utility is NaN or infinite.
    #[error("agent {agent} values offer {offer} at {utility}, which is not a finite number")]
    InvalidUtility {
        /// Which agent (1 or 2).
        agent: u8,
        /// The offer index.
        offer: usize,
        /// The utility given.
        utility: f64,
    },
    /// A state names an offer outside the offer space.
    #[error("agent {agent}'s offer {offer} is outside the offer space of {offers} offers")]
    OfferOutOfRange {
        /// Which agent (1 or 2).
        agent: u8,
        /// The offer index.
        offer: usize,
        /// The size of the offer space.
        offers: usize,
    },
}

// ---------------------------------------------------------------------------
// Contract-net
// ---------------------------------------------------------------------------

/// A participant's answer to a call for proposals.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum CnpReply<P> {
    /// A proposal.
    Propose(P),
    /// A refusal, with the participant's reason.
    Refuse {
        /// Why the participant declined.
        reason: String,
    },
}

/// One answer as it reached the initiator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CnpResponse<P> {
    /// The answering agent.
    pub agent: String,
    /// Arrival order at the initiator (0 = first).
    pub arrival: u64,
    /// Its answer.
    pub reply: CnpReply<P>,
}

/// A valid proposal with its score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoredProposal<P> {
    /// The proposing agent.
    pub agent: String,
    /// Arrival order at the initiator.
    pub arrival: u64,
    /// The proposal.
    pub proposal: P,
    /// Its score (higher is better).
    pub score: f64,
}

/// A participant that declined.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusal {
    /// The agent.
    pub agent: String,
    /// Its reason.
    pub reason: String,
}

/// The result of [`award`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AwardOutcome<P> {
    /// The contractor, if any proposal was valid. It gets the accept
    /// message; every other proposer gets a reject.
    pub winner: Option<String>,
    /// The valid proposals, best first (the first is the award).
    pub ranking: Vec<ScoredProposal<P>>,
    /// Participants that declined.
    pub refusals: Vec<Refusal>,
    /// Answers set aside: invalid proposals and repeated answers.
    pub rejected: Vec<NegotiationError>,
    /// How a tie for the best score was broken, if there was one.
    pub tie_break: Option<String>,
}

/// Awards a call for proposals to the best proposal.
///
/// `score` rates a proposal, higher being better (negate a cost), or
/// returns `Err(reason)` for a proposal that does not meet the call; a
/// score that is not finite also makes the proposal invalid. Answers are
/// taken in arrival order; an agent's later answers are set aside. Equal
/// best scores go to the earliest arrival, then to the lowest agent id.
///
/// # Examples
///
/// ```
/// use agents::protocols::negotiation::{award, CnpReply, CnpResponse};
///
/// let answers = vec![
///     CnpResponse { agent: "a".into(), arrival: 0, reply: CnpReply::Propose(30.0) },
///     CnpResponse { agent: "b".into(), arrival: 1, reply: CnpReply::Propose(20.0) },
/// ];
/// // The cheapest price wins: score = -price.
/// let out = award(&answers, |price: &f64| Ok(-price));
/// assert_eq!(out.winner.as_deref(), Some("b"));
/// ```
pub fn award<P, F>(responses: &[CnpResponse<P>], mut score: F) -> AwardOutcome<P>
where
    P: Clone,
    F: FnMut(&P) -> Result<f64, String>,
{
    let mut order: Vec<&CnpResponse<P>> = responses.iter().collect();
    order.sort_by_key(|r| r.arrival);
    let mut answered = HashSet::new();
    let mut ranking = Vec::new();
    let mut refusals = Vec::new();
    let mut rejected = Vec::new();
    for response in order {
        if !answered.insert(response.agent.as_str()) {
            rejected.push(NegotiationError::DuplicateReply {
                agent: response.agent.clone(),
            });
            continue;
        }
        match &response.reply {
            CnpReply::Refuse { reason } => refusals.push(Refusal {
                agent: response.agent.clone(),
                reason: reason.clone(),
            }),
            CnpReply::Propose(proposal) => match score(proposal) {
                Err(reason) => rejected.push(NegotiationError::InvalidProposal {
                    agent: response.agent.clone(),
                    reason,
                }),
                Ok(s) if !s.is_finite() => rejected.push(NegotiationError::NonFiniteScore {
                    agent: response.agent.clone(),
                    score: s,
                }),
                Ok(s) => ranking.push(ScoredProposal {
                    agent: response.agent.clone(),
                    arrival: response.arrival,
                    proposal: proposal.clone(),
                    score: s,
                }),
            },
        }
    }
    ranking.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then(a.arrival.cmp(&b.arrival))
            .then_with(|| a.agent.cmp(&b.agent))
    });
    let tie_break = match ranking.as_slice() {
        [first, second, ..] if first.score == second.score => Some(super::tie_break_text(
            &first.agent,
            &second.agent,
            &format!("scored {}", first.score),
            first.arrival == second.arrival,
        )),
        _ => None,
    };
    AwardOutcome {
        winner: ranking.first().map(|p| p.agent.clone()),
        ranking,
        refusals,
        rejected,
        tie_break,
    }
}

// ---------------------------------------------------------------------------
// Alternating offers
// ---------------------------------------------------------------------------

/// The subgame-perfect agreement of an alternating-offers game over a unit
/// surplus. Agent 1 proposes first; the agents agree at once, in round 1.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Split {
    /// Agent 1's (the first proposer's) share.
    pub first: f64,
    /// Agent 2's share, `1 − first`.
    pub second: f64,
    /// The number of rounds, `None` for the infinite horizon.
    pub horizon: Option<u32>,
}

fn check_discount(agent: u8, delta: f64) -> Result<(), NegotiationError> {
    if delta.is_finite() && (0.0..1.0).contains(&delta) {
        Ok(())
    } else {
        Err(NegotiationError::InvalidDiscount { agent, delta })
    }
}

/// Rubinstein's infinite-horizon alternating-offers game: the first
/// proposer gets `x* = (1−δ2)/(1−δ1·δ2)` and the responder accepts at once.
///
/// # Errors
///
/// [`NegotiationError::InvalidDiscount`] unless `0 ≤ δ < 1` for both.
pub fn rubinstein(delta1: f64, delta2: f64) -> Result<Split, NegotiationError> {
    check_discount(1, delta1)?;
    check_discount(2, delta2)?;
    let first = (1.0 - delta2) / (1.0 - delta1 * delta2);
    Ok(Split {
        first,
        second: 1.0 - first,
        horizon: None,
    })
}

/// The finite-horizon alternating-offers game over `rounds` rounds, solved
/// by backward induction.
///
/// Agent 1 proposes in odd rounds, agent 2 in even ones; an agent's payoff
/// for share `s` agreed in round `t` is `δ^(t−1)·s`; after a rejection in
/// the last round both get 0. A responder accepts when the offer is at
/// least what it would get by rejecting. So the proposer of the last round
/// keeps everything, and the proposer of round `t` keeps
/// `x_t = 1 − δ_r·x_{t+1}`, where `r` is the next round's proposer (the
/// responder now). The answer is `x_1`; the agreement is immediate. The
/// induction stops early once it reaches a fixed point (`x_t = x_{t+2}`
/// exactly), so a long horizon costs little.
///
/// # Errors
///
/// [`NegotiationError::InvalidDiscount`] unless `0 ≤ δ < 1` for both;
/// [`NegotiationError::NoRounds`] for `rounds = 0`.
pub fn alternating_offers(
    delta1: f64,
    delta2: f64,
    rounds: u32,
) -> Result<Split, NegotiationError> {
    check_discount(1, delta1)?;
    check_discount(2, delta2)?;
    if rounds == 0 {
        return Err(NegotiationError::NoRounds);
    }
    // next = x_{t+1}, after_next = x_{t+2}.
    let mut next = 1.0;
    let mut after_next: Option<f64> = None;
    let mut first = next;
    for t in (1..rounds).rev() {
        // The responder in round t proposes in round t+1: agent 1 if t+1 is odd.
        let responder_delta = if (t + 1) % 2 == 1 { delta1 } else { delta2 };
        let x = 1.0 - responder_delta * next;
        if after_next == Some(x) {
            // Fixed point: x_s = x_t for s ≡ t (mod 2), x_s = x_{t+1} otherwise.
            first = if (t - 1) % 2 == 0 { x } else { next };
            return Ok(Split {
                first,
                second: 1.0 - first,
                horizon: Some(rounds),
            });
        }
        after_next = Some(next);
        next = x;
        first = x;
    }
    Ok(Split {
        first,
        second: 1.0 - first,
        horizon: Some(rounds),
    })
}

// ---------------------------------------------------------------------------
// Monotonic concession, Zeuthen rule
// ---------------------------------------------------------------------------

/// The two agents' utilities over a finite offer space `0..offers()`.
///
/// Utilities are finite numbers measured so that the conflict deal (no
/// agreement) is worth 0 to both: a negative utility marks an offer worse
/// than conflict, which that agent never proposes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawTable")]
pub struct UtilityTable {
    agent1: Vec<f64>,
    agent2: Vec<f64>,
}

#[derive(Deserialize)]
struct RawTable {
    agent1: Vec<f64>,
    agent2: Vec<f64>,
}

impl TryFrom<RawTable> for UtilityTable {
    type Error = NegotiationError;
    fn try_from(raw: RawTable) -> Result<Self, Self::Error> {
        UtilityTable::new(raw.agent1, raw.agent2)
    }
}

impl UtilityTable {
    /// A table from each agent's utility of offers `0, 1, …`.
    ///
    /// # Errors
    ///
    /// [`NegotiationError::NoOffers`], [`NegotiationError::TableMismatch`]
    /// or [`NegotiationError::InvalidUtility`].
    pub fn new(agent1: Vec<f64>, agent2: Vec<f64>) -> Result<Self, NegotiationError> {
        if agent1.len() != agent2.len() {
            return Err(NegotiationError::TableMismatch {
                agent1: agent1.len(),
                agent2: agent2.len(),
            });
        }
        if agent1.is_empty() {
            return Err(NegotiationError::NoOffers);
        }
        for (agent, table) in [(1, &agent1), (2, &agent2)] {
            if let Some((offer, &utility)) = table.iter().enumerate().find(|(_, u)| !u.is_finite())
            {
                return Err(NegotiationError::InvalidUtility {
                    agent,
                    offer,
                    utility,
                });
            }
        }
        Ok(UtilityTable { agent1, agent2 })
    }

    /// A table from utility functions over a list of offers; offer `i` of
    /// the table is `offers[i]`.
    ///
    /// # Errors
    ///
    /// As [`UtilityTable::new`].
    pub fn from_fns<O>(
        offers: &[O],
        agent1: impl Fn(&O) -> f64,
        agent2: impl Fn(&O) -> f64,
    ) -> Result<Self, NegotiationError> {
        UtilityTable::new(
            offers.iter().map(agent1).collect(),
            offers.iter().map(agent2).collect(),
        )
    }

    /// The number of offers.
    pub fn offers(&self) -> usize {
        self.agent1.len()
    }

    /// What `offer` is worth to `agent`, or `None` outside the offer space.
    pub fn utility(&self, agent: Negotiator, offer: usize) -> Option<f64> {
        self.table(agent).get(offer).copied()
    }

    fn table(&self, agent: Negotiator) -> &[f64] {
        match agent {
            Negotiator::One => &self.agent1,
            Negotiator::Two => &self.agent2,
        }
    }

    fn u(&self, agent: Negotiator, offer: usize) -> f64 {
        self.table(agent)
            .get(offer)
            .copied()
            .unwrap_or(f64::NEG_INFINITY)
    }
}

/// One of the two negotiating agents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Negotiator {
    /// Agent 1.
    One,
    /// Agent 2.
    Two,
}

impl Negotiator {
    fn index(self) -> usize {
        match self {
            Negotiator::One => 0,
            Negotiator::Two => 1,
        }
    }

    fn other(self) -> Negotiator {
        match self {
            Negotiator::One => Negotiator::Two,
            Negotiator::Two => Negotiator::One,
        }
    }

    fn number(self) -> u8 {
        match self {
            Negotiator::One => 1,
            Negotiator::Two => 2,
        }
    }
}

/// How far a conceding agent moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Concession {
    /// The Zeuthen strategy: concede just enough that the opponent must
    /// concede next (its risk becomes no greater than the conceder's) or
    /// that the opponent would accept. Of the offers that do, the one best
    /// for the conceder; if none does, as [`Concession::Minimal`].
    #[default]
    Sufficient,
    /// The smallest step: the offer best for the conceder among those
    /// strictly better for the opponent.
    Minimal,
}

/// Where a Zeuthen negotiation stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ZeuthenStatus {
    /// Offers are on the table; nobody has accepted yet.
    Negotiating,
    /// An agent accepted the other's offer.
    Agreed {
        /// The deal (an offer index).
        offer: usize,
        /// What it is worth to agent 1 and agent 2.
        utilities: [f64; 2],
    },
    /// The negotiation ended without a deal (utility 0 to both).
    Conflict {
        /// Why, in words.
        reason: String,
    },
}

/// The state of a Zeuthen negotiation between rounds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ZeuthenState {
    /// Rounds played so far.
    pub round: u32,
    /// The offers on the table: agent 1's and agent 2's (offer indices).
    pub offers: [usize; 2],
    /// Where the negotiation stands.
    pub status: ZeuthenStatus,
}

/// What happened in one round of [`zeuthen_step`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ZeuthenRound {
    /// The round number (1 = first).
    pub round: u32,
    /// Offers at the start of the round.
    pub offers_before: [usize; 2],
    /// Both agents' risks, when they were computed (no agreement yet).
    pub risks: Option<[f64; 2]>,
    /// Who had to concede under the Zeuthen rule.
    pub to_concede: Vec<Negotiator>,
    /// Who actually conceded (an agent with no acceptable better offer for
    /// its opponent cannot).
    pub conceded: Vec<Negotiator>,
    /// Offers at the end of the round.
    pub offers_after: [usize; 2],
    /// The round in words, including how ties were broken.
    pub note: String,
}

/// The result of [`zeuthen`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ZeuthenOutcome {
    /// The final state (still [`ZeuthenStatus::Negotiating`] if the round
    /// limit was reached).
    pub state: ZeuthenState,
    /// Every round played.
    pub rounds: Vec<ZeuthenRound>,
    /// Whether the round limit stopped the negotiation.
    pub hit_round_limit: bool,
}

/// The opening state: each agent proposes its own best offer (ties by the
/// higher utility for the opponent, then lowest index). An agent with no
/// offer worth at least the conflict utility 0 cannot open, which is a
/// conflict at once.
pub fn zeuthen_start(table: &UtilityTable) -> ZeuthenState {
    let open = |me: Negotiator| {
        (0..table.offers()).max_by(|&a, &b| {
            table
                .u(me, a)
                .total_cmp(&table.u(me, b))
                .then(table.u(me.other(), a).total_cmp(&table.u(me.other(), b)))
                .then(b.cmp(&a))
        })
    };
    let offers = [
        open(Negotiator::One).unwrap_or(0),
        open(Negotiator::Two).unwrap_or(0),
    ];
    let status = match [Negotiator::One, Negotiator::Two]
        .into_iter()
        .find(|&me| table.u(me, offers[me.index()]) < 0.0)
    {
        Some(me) => ZeuthenStatus::Conflict {
            reason: format!(
                "agent {} has no offer worth at least the conflict deal",
                me.number()
            ),
        },
        None => ZeuthenStatus::Negotiating,
    };
    ZeuthenState {
        round: 0,
        offers,
        status,
    }
}

/// Zeuthen's risk of conflict for `me`: `(U(own) − U(other's)) / U(own)`,
/// and 1 when `U(own) = 0` (nothing to lose).
fn risk(table: &UtilityTable, me: Negotiator, own: usize, theirs: usize) -> f64 {
    let own_u = table.u(me, own);
    if own_u == 0.0 {
        1.0
    } else {
        (own_u - table.u(me, theirs)) / own_u
    }
}

/// The offer `me` concedes to, if any: individually rational for `me`
/// (utility ≥ 0) and strictly better for the opponent than `me`'s current
/// offer.
fn concede(
    table: &UtilityTable,
    me: Negotiator,
    offers: [usize; 2],
    how: Concession,
) -> Option<usize> {
    let them = me.other();
    let own = offers[me.index()];
    let theirs = offers[them.index()];
    let candidates: Vec<usize> = (0..table.offers())
        .filter(|&o| table.u(them, o) > table.u(them, own) && table.u(me, o) >= 0.0)
        .collect();
    let best_for_me = |set: &[usize]| {
        set.iter().copied().max_by(|&a, &b| {
            table
                .u(me, a)
                .total_cmp(&table.u(me, b))
                .then(table.u(them, a).total_cmp(&table.u(them, b)))
                .then(b.cmp(&a))
        })
    };
    match how {
        Concession::Minimal => best_for_me(&candidates),
        Concession::Sufficient => {
            let sufficient: Vec<usize> = candidates
                .iter()
                .copied()
                .filter(|&o| {
                    table.u(them, o) >= table.u(them, theirs)
                        || risk(table, them, theirs, o) <= risk(table, me, o, theirs)
                })
                .collect();
            best_for_me(&sufficient).or_else(|| best_for_me(&candidates))
        }
    }
}

/// Plays one round of monotonic concession with the Zeuthen rule.
///
/// 1. If an agent values the other's offer at least as much as its own, it
///    accepts: agreement on that offer (if both would, on agent 1's offer,
///    the lower id).
/// 2. Otherwise both compute their risk `(U_i(own) − U_i(other's)) /
///    U_i(own)` (1 if `U_i(own) = 0`); the agent with the lower risk
///    concedes, both on a tie (risks compared exactly).
/// 3. A conceder moves to an offer strictly better for its opponent and
///    worth at least 0 to itself, chosen by `how`; so offers never get worse
///    for the opponent. If no agent that has to concede can, nobody
///    concedes and the negotiation ends in conflict.
///
/// A state that is already agreed or in conflict is returned unchanged,
/// with no round.
///
/// # Errors
///
/// [`NegotiationError::OfferOutOfRange`] if the state names an offer
/// outside the table.
pub fn zeuthen_step(
    table: &UtilityTable,
    state: &ZeuthenState,
    how: Concession,
) -> Result<(ZeuthenState, Option<ZeuthenRound>), NegotiationError> {
    for me in [Negotiator::One, Negotiator::Two] {
        let offer = state.offers[me.index()];
        if offer >= table.offers() {
            return Err(NegotiationError::OfferOutOfRange {
                agent: me.number(),
                offer,
                offers: table.offers(),
            });
        }
    }
    if state.status != ZeuthenStatus::Negotiating {
        return Ok((state.clone(), None));
    }
    let round = state.round.saturating_add(1);
    let offers = state.offers;
    let [o1, o2] = offers;
    let accepts_1 = table.u(Negotiator::One, o2) >= table.u(Negotiator::One, o1);
    let accepts_2 = table.u(Negotiator::Two, o1) >= table.u(Negotiator::Two, o2);
    if accepts_1 || accepts_2 {
        let (offer, note) = match (accepts_1, accepts_2) {
            (true, true) => (
                o1,
                "both agents accept the other's offer; agent 1's offer (lower id) is the deal"
                    .to_owned(),
            ),
            (false, true) => (o1, "agent 2 accepts agent 1's offer".to_owned()),
            _ => (o2, "agent 1 accepts agent 2's offer".to_owned()),
        };
        let utilities = [
            table.u(Negotiator::One, offer),
            table.u(Negotiator::Two, offer),
        ];
        let next = ZeuthenState {
            round,
            offers,
            status: ZeuthenStatus::Agreed { offer, utilities },
        };
        let record = ZeuthenRound {
            round,
            offers_before: offers,
            risks: None,
            to_concede: Vec::new(),
            conceded: Vec::new(),
            offers_after: offers,
            note,
        };
        return Ok((next, Some(record)));
    }
    let r1 = risk(table, Negotiator::One, o1, o2);
    let r2 = risk(table, Negotiator::Two, o2, o1);
    let to_concede = if r1 < r2 {
        vec![Negotiator::One]
    } else if r2 < r1 {
        vec![Negotiator::Two]
    } else {
        vec![Negotiator::One, Negotiator::Two]
    };
    let mut after = offers;
    let mut conceded = Vec::new();
    for &me in &to_concede {
        if let Some(o) = concede(table, me, offers, how) {
            after[me.index()] = o;
            conceded.push(me);
        }
    }
    let who = |v: &[Negotiator]| {
        v.iter()
            .map(|n| format!("agent {}", n.number()))
            .collect::<Vec<_>>()
            .join(" and ")
    };
    let mut note = format!("risks {r1} and {r2}: ");
    if to_concede.len() == 2 {
        note.push_str("equal, both concede");
    } else {
        note.push_str(&format!(
            "{} has the lower risk and concedes",
            who(&to_concede)
        ));
    }
    let status = if conceded.is_empty() {
        note.push_str("; nobody can concede: conflict");
        ZeuthenStatus::Conflict {
            reason: format!(
                "{} must concede but has no offer that is better for the opponent and worth at least the conflict deal",
                who(&to_concede)
            ),
        }
    } else {
        if conceded.len() < to_concede.len() {
            note.push_str(&format!("; only {} can", who(&conceded)));
        }
        ZeuthenStatus::Negotiating
    };
    let record = ZeuthenRound {
        round,
        offers_before: offers,
        risks: Some([r1, r2]),
        to_concede,
        conceded,
        offers_after: after,
        note,
    };
    Ok((
        ZeuthenState {
            round,
            offers: after,
            status,
        },
        Some(record),
    ))
}

/// Runs a Zeuthen negotiation from [`zeuthen_start`] until agreement,
/// conflict, or `max_rounds` rounds.
///
/// Every concession makes an offer strictly better for the opponent, so
/// with `n` offers the negotiation ends by itself within `2n + 1` rounds.
pub fn zeuthen(table: &UtilityTable, how: Concession, max_rounds: u32) -> ZeuthenOutcome {
    let mut state = zeuthen_start(table);
    let mut rounds = Vec::new();
    while state.status == ZeuthenStatus::Negotiating && state.round < max_rounds {
        match zeuthen_step(table, &state, how) {
            Ok((next, Some(record))) => {
                state = next;
                rounds.push(record);
            }
            // Unreachable: the start state is in range and steps stay in it.
            _ => break,
        }
    }
    let hit_round_limit = state.status == ZeuthenStatus::Negotiating;
    ZeuthenOutcome {
        state,
        rounds,
        hit_round_limit,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn propose(agent: &str, arrival: u64, p: f64) -> CnpResponse<f64> {
        CnpResponse {
            agent: agent.into(),
            arrival,
            reply: CnpReply::Propose(p),
        }
    }

    // ----- contract-net -----

    #[test]
    fn award_picks_best_score_and_records_the_rest() {
        // Score = -price; valid prices ≤ 100. b (20) beats a (30); c refuses;
        // d's 500 is over budget; e's NaN scores NaN; a answers again.
        let answers = vec![
            propose("a", 0, 30.0),
            propose("b", 1, 20.0),
            CnpResponse {
                agent: "c".into(),
                arrival: 2,
                reply: CnpReply::Refuse {
                    reason: "busy".into(),
                },
            },
            propose("d", 3, 500.0),
            propose("e", 4, f64::NAN),
            propose("a", 5, 1.0),
        ];
        let out = award(&answers, |p: &f64| {
            if *p > 100.0 {
                Err("over budget".into())
            } else {
                Ok(-p)
            }
        });
        assert_eq!(out.winner.as_deref(), Some("b"));
        assert_eq!(out.ranking.len(), 2);
        assert_eq!(out.ranking[1].agent, "a");
        assert_eq!(
            out.refusals,
            vec![Refusal {
                agent: "c".into(),
                reason: "busy".into()
            }]
        );
        assert_eq!(out.rejected.len(), 3);
        assert!(out
            .rejected
            .contains(&NegotiationError::DuplicateReply { agent: "a".into() }));
        assert!(out.rejected.contains(&NegotiationError::InvalidProposal {
            agent: "d".into(),
            reason: "over budget".into()
        }));
        assert_eq!(out.tie_break, None);
    }

    #[test]
    fn award_ties_go_to_earliest_then_lowest_id() {
        let out = award(&[propose("b", 1, 5.0), propose("c", 0, 5.0)], |p: &f64| {
            Ok(*p)
        });
        assert_eq!(out.winner.as_deref(), Some("c"));
        assert!(out.tie_break.unwrap().contains("arrived first"));
        let out = award(&[propose("b", 3, 5.0), propose("a", 3, 5.0)], |p: &f64| {
            Ok(*p)
        });
        assert_eq!(out.winner.as_deref(), Some("a"));
        assert!(out.tie_break.unwrap().contains("lowest id a"));
        let none = award(&[] as &[CnpResponse<f64>], |p: &f64| Ok(*p));
        assert_eq!(none.winner, None);
    }

    // ----- alternating offers -----

    #[test]
    fn rubinstein_symmetric_split() {
        // δ1 = δ2 = 0.9: x* = (1 − 0.9)/(1 − 0.81) = 0.1/0.19 = 1/1.9 ≈ 0.526316.
        let s = rubinstein(0.9, 0.9).unwrap();
        assert!((s.first - 1.0 / 1.9).abs() < 1e-12);
        assert!((s.first + s.second - 1.0).abs() < 1e-12);
        // δ2 = 0: the responder is impatient, the proposer takes all.
        assert_eq!(rubinstein(0.5, 0.0).unwrap().first, 1.0);
        // δ1 = 0.5, δ2 = 0.8: (0.2)/(1 − 0.4) = 1/3.
        assert!((rubinstein(0.5, 0.8).unwrap().first - 1.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn finite_horizon_by_backward_induction() {
        // δ1 = δ2 = 0.9.
        // T = 1: the proposer keeps everything: 1.
        // T = 2: agent 2 would keep 1 in round 2, worth 0.9 now: x = 0.1.
        // T = 3: x_3 = 1, x_2 = 1 − 0.9·1 = 0.1, x_1 = 1 − 0.9·0.1 = 0.91.
        // T = 4: x_4 = 1, x_3 = 0.1, x_2 = 0.91, x_1 = 1 − 0.9·0.91 = 0.181.
        for (t, want) in [(1, 1.0), (2, 0.1), (3, 0.91), (4, 0.181)] {
            let s = alternating_offers(0.9, 0.9, t).unwrap();
            assert!((s.first - want).abs() < 1e-12, "T = {t}: {}", s.first);
            assert_eq!(s.horizon, Some(t));
        }
        // A long horizon converges to Rubinstein's split.
        let long = alternating_offers(0.9, 0.9, 10_000).unwrap();
        assert!((long.first - 1.0 / 1.9).abs() < 1e-12);
        let huge = alternating_offers(0.9, 0.8, u32::MAX).unwrap();
        assert!((huge.first - rubinstein(0.9, 0.8).unwrap().first).abs() < 1e-12);
    }

    #[test]
    fn bad_discounts_are_refused() {
        for d in [1.0, -0.1, f64::NAN, f64::INFINITY] {
            assert!(matches!(
                rubinstein(d, 0.5),
                Err(NegotiationError::InvalidDiscount { agent: 1, .. })
            ));
            assert!(matches!(
                alternating_offers(0.5, d, 3),
                Err(NegotiationError::InvalidDiscount { agent: 2, .. })
            ));
        }
        assert_eq!(
            alternating_offers(0.5, 0.5, 0),
            Err(NegotiationError::NoRounds)
        );
    }

    // ----- Zeuthen -----

    /// Offers A, B, C, D with U1 = 10, 9, 5, 2 and U2 = 1, 2, 6, 10.
    fn abcd() -> UtilityTable {
        UtilityTable::new(vec![10.0, 9.0, 5.0, 2.0], vec![1.0, 2.0, 6.0, 10.0]).unwrap()
    }

    #[test]
    fn zeuthen_minimal_concession_worked_example() {
        // Opening: agent 1 offers A (U1 = 10), agent 2 offers D (U2 = 10).
        // Round 1: U1(D) = 2 < 10, U2(A) = 1 < 10: no agreement.
        //   risk1 = (10 − 2)/10 = 0.8, risk2 = (10 − 1)/10 = 0.9: agent 1 concedes,
        //   to the offer best for itself that is better for agent 2: B.
        // Round 2: A→B. risk1 = (9 − 2)/9 = 0.778 < risk2 = (10 − 2)/10 = 0.8:
        //   agent 1 concedes again, to C.
        // Round 3: risk1 = (5 − 2)/5 = 0.6 > risk2 = (10 − 6)/10 = 0.4:
        //   agent 2 concedes: offers better for agent 1 than D are A, B, C;
        //   best for agent 2 is C (U2 = 6).
        // Round 4: both offer C: agreement on C, worth (5, 6).
        let out = zeuthen(&abcd(), Concession::Minimal, 100);
        assert_eq!(
            out.state.status,
            ZeuthenStatus::Agreed {
                offer: 2,
                utilities: [5.0, 6.0]
            }
        );
        assert_eq!(out.rounds.len(), 4);
        assert_eq!(out.rounds[0].offers_before, [0, 3]);
        assert_eq!(out.rounds[0].risks, Some([0.8, 0.9]));
        assert_eq!(out.rounds[0].offers_after, [1, 3]);
        assert_eq!(out.rounds[1].conceded, vec![Negotiator::One]);
        assert_eq!(out.rounds[2].conceded, vec![Negotiator::Two]);
        assert_eq!(out.rounds[2].offers_after, [2, 2]);
        assert!(!out.hit_round_limit);
    }

    #[test]
    fn zeuthen_sufficient_concession_worked_example() {
        // Round 1: agent 1 concedes (0.8 < 0.9). Moving to B would leave
        //   risk1' = (9 − 2)/9 = 0.778 < risk2' = (10 − 2)/10 = 0.8, so agent 1
        //   would have to concede again: not enough. C gives risk1' = 0.6 ≥
        //   risk2' = 0.4: enough, and better for agent 1 than D. A→C.
        // Round 2: agent 2 concedes (0.4 < 0.6); C is accepted by agent 1,
        //   so it is sufficient and the best such for agent 2. D→C.
        // Round 3: agreement on C.
        let out = zeuthen(&abcd(), Concession::Sufficient, 100);
        assert_eq!(
            out.state.status,
            ZeuthenStatus::Agreed {
                offer: 2,
                utilities: [5.0, 6.0]
            }
        );
        assert_eq!(out.rounds.len(), 3);
        assert_eq!(out.rounds[0].offers_after, [2, 3]);
        assert_eq!(out.rounds[1].offers_after, [2, 2]);
    }

    #[test]
    fn zeuthen_symmetric_tie_both_concede() {
        // Split 4 units: offer k gives agent 1 k and agent 2 4 − k.
        // Opening 4 and 0: risks (4−0)/4 = 1 each: both concede (minimal
        // steps): 3 and 1. Risks (3−1)/3 each: both concede: 2 and 2.
        // Round 3: agreement on 2.
        let table =
            UtilityTable::from_fns(&[0.0, 1.0, 2.0, 3.0, 4.0], |k: &f64| *k, |k: &f64| 4.0 - k)
                .unwrap();
        let out = zeuthen(&table, Concession::Minimal, 10);
        assert_eq!(
            out.rounds[0].to_concede,
            vec![Negotiator::One, Negotiator::Two]
        );
        assert!(out.rounds[0].note.contains("both concede"));
        assert_eq!(
            out.state.status,
            ZeuthenStatus::Agreed {
                offer: 2,
                utilities: [2.0, 2.0]
            }
        );
        assert_eq!(out.rounds.len(), 3);
    }

    #[test]
    fn zeuthen_conflict_when_nobody_can_concede() {
        // Offers: X worth (5, −1), Y worth (−1, 5). Each opens with its own;
        // neither accepts; risks (5 − (−1))/5 = 1.2 each; both must concede
        // but the only offer better for the opponent is worse than conflict.
        let table = UtilityTable::new(vec![5.0, -1.0], vec![-1.0, 5.0]).unwrap();
        let out = zeuthen(&table, Concession::Sufficient, 10);
        assert!(matches!(out.state.status, ZeuthenStatus::Conflict { .. }));
        assert_eq!(out.rounds.len(), 1);
        // An agent with no acceptable offer at all cannot open.
        let table = UtilityTable::new(vec![-1.0], vec![1.0]).unwrap();
        assert!(matches!(
            zeuthen_start(&table).status,
            ZeuthenStatus::Conflict { .. }
        ));
    }

    #[test]
    fn zeuthen_round_limit_and_bad_input() {
        let out = zeuthen(&abcd(), Concession::Minimal, 2);
        assert!(out.hit_round_limit);
        assert_eq!(out.state.round, 2);
        assert_eq!(
            UtilityTable::new(vec![], vec![]),
            Err(NegotiationError::NoOffers)
        );
        assert_eq!(
            UtilityTable::new(vec![1.0], vec![1.0, 2.0]),
            Err(NegotiationError::TableMismatch {
                agent1: 1,
                agent2: 2
            })
        );
        assert!(matches!(
            UtilityTable::new(vec![1.0, f64::NAN], vec![1.0, 2.0]),
            Err(NegotiationError::InvalidUtility {
                agent: 1,
                offer: 1,
                ..
            })
        ));
        let bad = ZeuthenState {
            round: 0,
            offers: [0, 9],
            status: ZeuthenStatus::Negotiating,
        };
        assert!(matches!(
            zeuthen_step(&abcd(), &bad, Concession::Minimal),
            Err(NegotiationError::OfferOutOfRange {
                agent: 2,
                offer: 9,
                offers: 4
            })
        ));
        // Deserialising a table validates it too.
        let json = r#"{"agent1":[1.0],"agent2":[]}"#;
        assert!(serde_json::from_str::<UtilityTable>(json).is_err());
    }

    fn table_strategy() -> impl Strategy<Value = UtilityTable> {
        (1usize..8).prop_flat_map(|n| {
            (
                proptest::collection::vec(-3i32..20, n),
                proptest::collection::vec(-3i32..20, n),
            )
                .prop_map(|(a, b)| {
                    UtilityTable::new(
                        a.into_iter().map(f64::from).collect(),
                        b.into_iter().map(f64::from).collect(),
                    )
                    .unwrap()
                })
        })
    }

    proptest! {
        #[test]
        fn zeuthen_offers_never_get_worse_for_the_opponent(table in table_strategy(), minimal in any::<bool>()) {
            let how = if minimal { Concession::Minimal } else { Concession::Sufficient };
            let n = table.offers() as u32;
            let out = zeuthen(&table, how, 2 * n + 1);
            // It ends by itself within 2n + 1 rounds.
            prop_assert!(!out.hit_round_limit);
            for r in &out.rounds {
                for me in [Negotiator::One, Negotiator::Two] {
                    let them = me.other();
                    let before = table.u(them, r.offers_before[me.index()]);
                    let after = table.u(them, r.offers_after[me.index()]);
                    if r.conceded.contains(&me) {
                        prop_assert!(after > before);
                        prop_assert!(table.u(me, r.offers_after[me.index()]) >= 0.0);
                    } else {
                        prop_assert_eq!(r.offers_before[me.index()], r.offers_after[me.index()]);
                    }
                }
                if let Some([r1, r2]) = r.risks {
                    // The lower-risk agent concedes, both on a tie.
                    let expected = if r1 < r2 { vec![Negotiator::One] } else if r2 < r1 { vec![Negotiator::Two] } else { vec![Negotiator::One, Negotiator::Two] };
                    prop_assert_eq!(&r.to_concede, &expected);
                }
            }
            if let ZeuthenStatus::Agreed { offer, utilities } = out.state.status {
                // Both offers were acceptable to their proposers: a deal is
                // worth at least the conflict utility to both.
                prop_assert!(utilities[0] >= 0.0 && utilities[1] >= 0.0);
                prop_assert!(out.state.offers.contains(&offer));
            }
        }

        #[test]
        fn finite_horizon_matches_closed_form(d1 in 0.0f64..0.999, d2 in 0.0f64..0.999, t in 1u32..400) {
            // T = 2k: (1−δ2)(1−D^k)/(1−D); T = 2k+1: that + D^k, with D = δ1δ2.
            let s = alternating_offers(d1, d2, t).unwrap();
            let d = d1 * d2;
            let k = (t / 2) as i32;
            let geometric = (1.0 - d2) * (1.0 - d.powi(k)) / (1.0 - d);
            let want = if t % 2 == 0 { geometric } else { geometric + d.powi(k) };
            prop_assert!((s.first - want).abs() < 1e-9, "{} vs {}", s.first, want);
            prop_assert!((0.0..=1.0).contains(&s.first));
            let r = rubinstein(d1, d2).unwrap();
            prop_assert!((0.0..=1.0).contains(&r.first));
        }

        #[test]
        fn negotiation_never_panics(d1 in any::<f64>(), d2 in any::<f64>(), t in 0u32..50, scores in proptest::collection::vec(any::<f64>(), 0..10)) {
            let _ = rubinstein(d1, d2);
            let _ = alternating_offers(d1, d2, t);
            let answers: Vec<CnpResponse<f64>> = scores.iter().enumerate().map(|(i, s)| propose(&format!("a{}", i % 4), (i % 3) as u64, *s)).collect();
            let out = award(&answers, |p: &f64| Ok(*p));
            prop_assert_eq!(out.ranking.len() + out.rejected.len() + out.refusals.len(), answers.len());
            if let Some(w) = &out.winner {
                prop_assert!(out.ranking.iter().all(|p| p.score <= out.ranking[0].score));
                prop_assert_eq!(w, &out.ranking[0].agent);
            }
        }
    }
}
