//! What a yes/no vote asks an agent.

use serde::{Deserialize, Serialize};

use crate::agent::Value;

/// A proposal put to a vote: set `subject` to `value`. An agent answers
/// ([`Voter::vote`](crate::Voter::vote)) `Some(true)`, `Some(false)`, or
/// `None` to abstain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Proposal {
    /// What is being decided, e.g. a variable name.
    pub subject: String,
    /// The proposed value.
    pub value: Value,
}

crate::protocol_messages! {
    Proposal => Option<bool>, "foundation.vote/1";
}
