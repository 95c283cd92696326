//! What Byzantine agreement asks an agent.

use serde::{Deserialize, Serialize};

/// A question put to agents in Byzantine-tolerant agreement: each answers
/// with the value it proposes for `subject` ([`Voter::agree`](crate::Voter::agree)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Agreement {
    /// What is being agreed, e.g. a variable name.
    pub subject: String,
    /// How many faulty agents the agreement tolerates.
    pub f: usize,
    /// Matching proposals needed to decide.
    pub quorum: usize,
}

crate::protocol_messages! {
    Agreement => Option<crate::Value>, "foundation.agree/1";
}
