//! Monotonic concession with the Zeuthen rule, the pure rules
//! ([`zeuthen_start`], [`zeuthen_step`], [`zeuthen`]): a step function over
//! a [`ZeuthenState`] and a driver with a round limit, over a finite offer
//! space whose utilities are given as a [`UtilityTable`] (built from
//! tables or from functions).
//!
//! Risks are compared exactly as computed (with integer utilities, equal
//! risks are computed equal, since each is one subtraction and one
//! correctly rounded division).

use serde::{Deserialize, Serialize};

use super::NegotiationError;

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
    pub fn utility(&self, agent: Party, offer: usize) -> Option<f64> {
        self.table(agent).get(offer).copied()
    }

    fn table(&self, agent: Party) -> &[f64] {
        match agent {
            Party::One => &self.agent1,
            Party::Two => &self.agent2,
        }
    }

    fn u(&self, agent: Party, offer: usize) -> f64 {
        self.table(agent)
            .get(offer)
            .copied()
            .unwrap_or(f64::NEG_INFINITY)
    }
}

/// One of the two negotiating agents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Party {
    /// Agent 1.
    One,
    /// Agent 2.
    Two,
}

impl Party {
    fn index(self) -> usize {
        match self {
            Party::One => 0,
            Party::Two => 1,
        }
    }

    fn other(self) -> Party {
        match self {
            Party::One => Party::Two,
            Party::Two => Party::One,
        }
    }

    fn number(self) -> u8 {
        match self {
            Party::One => 1,
            Party::Two => 2,
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
    pub to_concede: Vec<Party>,
    /// Who actually conceded (an agent with no acceptable better offer for
    /// its opponent cannot).
    pub conceded: Vec<Party>,
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
    let open = |me: Party| {
        (0..table.offers()).max_by(|&a, &b| {
            table
                .u(me, a)
                .total_cmp(&table.u(me, b))
                .then(table.u(me.other(), a).total_cmp(&table.u(me.other(), b)))
                .then(b.cmp(&a))
        })
    };
    let offers = [open(Party::One).unwrap_or(0), open(Party::Two).unwrap_or(0)];
    let status = match [Party::One, Party::Two]
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
fn risk(table: &UtilityTable, me: Party, own: usize, theirs: usize) -> f64 {
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
fn concede(table: &UtilityTable, me: Party, offers: [usize; 2], how: Concession) -> Option<usize> {
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
    for me in [Party::One, Party::Two] {
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
    let accepts_1 = table.u(Party::One, o2) >= table.u(Party::One, o1);
    let accepts_2 = table.u(Party::Two, o1) >= table.u(Party::Two, o2);
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
        let utilities = [table.u(Party::One, offer), table.u(Party::Two, offer)];
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
    let r1 = risk(table, Party::One, o1, o2);
    let r2 = risk(table, Party::Two, o2, o1);
    let to_concede = if r1 < r2 {
        vec![Party::One]
    } else if r2 < r1 {
        vec![Party::Two]
    } else {
        vec![Party::One, Party::Two]
    };
    let mut after = offers;
    let mut conceded = Vec::new();
    for &me in &to_concede {
        if let Some(o) = concede(table, me, offers, how) {
            after[me.index()] = o;
            conceded.push(me);
        }
    }
    let who = |v: &[Party]| {
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
        assert_eq!(out.rounds[1].conceded, vec![Party::One]);
        assert_eq!(out.rounds[2].conceded, vec![Party::Two]);
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
        assert_eq!(out.rounds[0].to_concede, vec![Party::One, Party::Two]);
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
                for me in [Party::One, Party::Two] {
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
                    let expected = if r1 < r2 { vec![Party::One] } else if r2 < r1 { vec![Party::Two] } else { vec![Party::One, Party::Two] };
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
    }
}
