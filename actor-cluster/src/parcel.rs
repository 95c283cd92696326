//! Parcels: what a `Ref` hands a local actor. A message is
//! plain serde data ([`Payload`]); on its way to a local target it travels
//! with its way back as a type-erased parcel ([`AnyBox`]), not encoded,
//! and comes back ([`NotTaken`]) if the target does not take it.
//!
//! Both sides use these: `reference.rs`, which packs and unpacks parcels,
//! and the gateway's `Deliver` targets, which take them. It depends on
//! neither.

use std::any::Any;

use serde::de::DeserializeOwned;
use serde::Serialize;

/// What a cluster-addressable value must be: plain serde data.
pub trait Payload: Serialize + DeserializeOwned + Send + 'static {}
impl<T: Serialize + DeserializeOwned + Send + 'static> Payload for T {}

/// A type-erased parcel, `(M, Reply<M::Reply>)`: a message and its way
/// back, on their way to a local actor without being encoded.
pub(crate) type AnyBox = Box<dyn Any + Send>;

/// Why a local target did not take a parcel; the parcel comes back.
pub(crate) enum NotTaken {
    /// It answers no message of this type.
    Refused(AnyBox),
    /// The actor has stopped; the parcel, unless ractor kept it.
    Stopped(Option<AnyBox>),
}
