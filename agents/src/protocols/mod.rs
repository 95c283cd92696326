//! Coordination protocols: a coordinator actor per run that invites agents
//! anywhere in the cluster, collects their answers until a deadline, and
//! decides with a pure rule.
//!
//! Each protocol family is a folder: its pure decision rules (unit- and
//! property-tested on their own), its wire messages (what it asks an
//! agent), and its coordinator, a spec type implementing [`Protocol`]
//! that [`Agents::run`](crate::Agents::run) starts on any node:
//!
//! * [`voting`]: yes/no votes with thresholds, weights and a quorum
//!   ([`VoteSpec`](voting::VoteSpec));
//! * [`election`]: ranked ballots, plurality, Borda, instant-runoff,
//!   Condorcet ([`ElectionSpec`](election::ElectionSpec));
//! * [`consensus`]: Byzantine-tolerant agreement
//!   ([`AgreementSpec`](consensus::AgreementSpec));
//! * [`auction`]: sealed-bid, English, Dutch, multi-unit, VCG,
//!   combinatorial;
//! * [`negotiation`]: contract-net, alternating offers, Zeuthen;
//! * [`market`]: call market, compute allocation, and the continuous
//!   double auction as a long-lived [`Market`](market::Market) service;
//! * [`games`]: repeated normal-form games, with Nash equilibria, best
//!   response and fictitious play as rules;
//! * [`bandit`]: UCB1, epsilon-greedy and Thompson sampling (rules only).
//!
//! Every run records its participants, the missing ones with reasons,
//! rejected input, how ties were broken, and telemetry (runs, duration,
//! participation). [`protocol`] is the machinery they share; a protocol of
//! your own implements [`Protocol`] the same way.

pub mod auction;
pub mod bandit;
pub mod consensus;
pub mod election;
pub mod games;
pub mod market;
pub mod negotiation;
pub mod protocol;
pub mod runs;
pub mod voting;

use std::time::Duration;

use serde::{Deserialize, Serialize};

pub(crate) use protocol::Participants;
pub use protocol::{Collected, Invite, Protocol, Run, Running};

/// Index of the largest value, the lowest index among equals (0 if empty).
pub(crate) fn argmax(values: impl Iterator<Item = f64>) -> usize {
    let mut best = 0;
    let mut best_value = f64::NEG_INFINITY;
    for (i, v) in values.enumerate() {
        if v > best_value {
            best = i;
            best_value = v;
        }
    }
    best
}

/// How a tie for first place between `first` and `second` (both reaching
/// `value`, e.g. "bid 10") was broken by the default rule: earliest
/// arrival, then lowest agent id.
pub(crate) fn tie_break_text(first: &str, second: &str, value: &str, same_arrival: bool) -> String {
    if same_arrival {
        format!("{first} and {second} {value} at the same time; lowest id {first} wins")
    } else {
        format!("{first} and {second} {value}; {first} arrived first")
    }
}

/// A participant that gave no usable answer, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Missing {
    /// The agent.
    pub agent: String,
    /// Why its answer is missing (deadline passed, node gone, ...).
    pub reason: String,
}

/// Refuses a zero `what` (a deadline) with a clear error.
pub(crate) fn positive(what: &'static str, d: Duration) -> crate::error::Result<()> {
    if d.is_zero() {
        return Err(crate::error::InvalidParameter::ZeroDeadline { what }.into());
    }
    Ok(())
}
