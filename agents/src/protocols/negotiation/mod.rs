//! Negotiation across nodes: contract-net ([`ContractSpec`]), alternating
//! offers ([`BargainSpec`]) and monotonic concession with the Zeuthen rule
//! ([`ZeuthenSpec`]), each a spec that [`Agents::run`](crate::Agents::run)
//! starts; agents take part as [`Negotiator`](crate::Negotiator)s. The
//! pure rules:
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

mod bargaining;
mod contract_net;
mod coordinator;
mod error;
mod wire;
mod zeuthen;

pub use bargaining::{alternating_offers, rubinstein, Split};
pub use contract_net::{award, AwardOutcome, CnpReply, CnpResponse, Refusal, ScoredProposal};
pub use coordinator::{
    BargainResult, BargainSpec, CallRecord, ContractResult, ContractSpec, ContractStatus, Revise,
    Score, ZeuthenResult, ZeuthenSpec,
};
pub use error::NegotiationError;
pub use wire::{Award, CallForProposals, Cancel, Lost, Propose, Respond, Task, Tender, Utilities};
pub use zeuthen::{
    zeuthen, zeuthen_start, zeuthen_step, Concession, Party, UtilityTable, ZeuthenOutcome,
    ZeuthenRound, ZeuthenState, ZeuthenStatus,
};
