//! Contract-net, the pure rule ([`award`]): the best proposal by a
//! user-supplied score wins; refusals and invalid proposals are recorded.
//! Scores are ranked with [`f64::total_cmp`] after non-finite ones are
//! rejected.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use super::NegotiationError;

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
        [first, second, ..] if first.score == second.score => {
            Some(crate::protocols::tie_break_text(
                &first.agent,
                &second.agent,
                &format!("scored {}", first.score),
                first.arrival == second.arrival,
            ))
        }
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

    proptest! {
        #[test]
        fn award_never_panics(scores in proptest::collection::vec(any::<f64>(), 0..10)) {
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
