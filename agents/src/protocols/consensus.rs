//! Byzantine-tolerant agreement across nodes: the question put to agents.

use serde::{Deserialize, Serialize};

/// A question put to agents in Byzantine-tolerant agreement: each answers
/// with the value it proposes for `subject`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Agreement {
    /// What is being agreed, e.g. a variable name.
    pub subject: String,
}
