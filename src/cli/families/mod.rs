//! One module per protocol family: its agent spec keys and its commands.

pub(crate) mod auctions;
pub(crate) mod consensus;
pub(crate) mod games;
pub(crate) mod markets;
pub(crate) mod negotiation;
