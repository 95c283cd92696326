//! What an election asks an agent.

use serde::{Deserialize, Serialize};

use super::rules::ElectionMethod;

/// A ranked-ballot election: rank some or all of the candidates, most
/// preferred first ([`Voter::rank`](crate::Voter::rank)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Election {
    /// The candidates, in the order the organiser listed them.
    pub candidates: Vec<String>,
    /// How the ballots will be counted.
    pub method: ElectionMethod,
}

crate::protocol_messages! {
    Election => Option<Vec<String>>, "foundation.rank/1";
}
