//! Byzantine-tolerant agreement across nodes: every invited agent proposes
//! a value, and a value is decided as soon as `q = ⌈(n+f+1)/2⌉` matching
//! proposals have arrived ([`byzantine_agreement`] decides).
//!
//! Values are compared exactly: `Float(0.1)` and `Float(0.10)` match, as
//! do two texts with the same characters; `Int(1)` and `Float(1.0)` do
//! not. A proposal that is not a finite number is rejected and told so.

mod coordinator;
mod rules;
mod wire;

pub use coordinator::{AgreementResult, AgreementSpec, Proposed};
pub use rules::{
    byzantine_agreement, byzantine_quorum, max_faulty, ByzantineOutcome, ByzantineVote, ValueCount,
};
pub use wire::Agreement;
