//! Yes/no votes across nodes: a proposal is put to every agent with a
//! capability, and decided by a threshold over the eligible weight and a
//! quorum ([`yes_no_vote`]). Its [`VoteError`] is shared with the other
//! voting protocols, [`election`](super::election) and
//! [`consensus`](super::consensus).

mod coordinator;
mod error;
mod rules;
mod wire;

pub use coordinator::{VoteResult, VoteSpec};
pub use error::VoteError;
pub use rules::{yes_no_vote, Ballot, Threshold, VoteTally, Voter, WeightedTally, YesNoRule};
pub use wire::Proposal;
