//! The wire format between gateways: a versioned envelope in MessagePack.
//!
//! Only gateways exchange these; user messages travel inside as opaque
//! rmp-serde bytes tagged with their type.

use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

use crate::error::RemoteError;

/// The envelope format this build speaks.
pub(crate) const WIRE_VERSION: u8 = 1;

/// Upper bound on one encoded envelope; larger user messages are refused
/// before they reach the socket (ractor_cluster drops the whole session for
/// frames over 16 MiB).
pub(crate) const MAX_ENVELOPE_BYTES: usize = 8 * 1024 * 1024;

/// Upper bound on one encoded user message or reply, leaving room for the
/// envelope around it.
pub(crate) const MAX_PAYLOAD_BYTES: usize = MAX_ENVELOPE_BYTES - 64 * 1024;

/// A name as announced to peers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Claim {
    pub(crate) name: String,
    pub(crate) type_tag: String,
    pub(crate) groups: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Envelope {
    pub(crate) version: u8,
    /// The sending node's name.
    pub(crate) from: String,
    pub(crate) body: Body,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) enum Body {
    /// First words after a gateway sees a peer: who I am, where I listen,
    /// which names I hold.
    Hello {
        addr: String,
        claims: Vec<Claim>,
    },
    /// A peer I know of, so the receiver can connect to it too.
    PeerUp {
        node: String,
        addr: String,
    },
    /// Heartbeat; answered with `Pong`. Any envelope counts as a sign of life.
    Ping,
    Pong,
    Registered(Claim),
    Unregistered {
        name: String,
    },
    Tell {
        to: String,
        type_tag: String,
        payload: ByteBuf,
    },
    Ask {
        id: u64,
        to: String,
        type_tag: String,
        payload: ByteBuf,
    },
    Reply {
        id: u64,
        result: Result<ByteBuf, RemoteError>,
    },
}

impl Body {
    /// A short name of the variant, for metrics and logs.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Self::Hello { .. } => "hello",
            Self::PeerUp { .. } => "peer_up",
            Self::Ping => "ping",
            Self::Pong => "pong",
            Self::Registered(_) => "registered",
            Self::Unregistered { .. } => "unregistered",
            Self::Tell { .. } => "tell",
            Self::Ask { .. } => "ask",
            Self::Reply { .. } => "reply",
        }
    }
}

/// Why an envelope could not be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum WireError {
    #[error("envelope of {0} bytes exceeds the {MAX_ENVELOPE_BYTES}-byte limit")]
    TooLarge(usize),
    #[error("malformed envelope: {0}")]
    Malformed(String),
    #[error("envelope version {0} is not supported (this node speaks {WIRE_VERSION})")]
    Version(u8),
}

impl Envelope {
    pub(crate) fn new(from: &str, body: Body) -> Self {
        Self {
            version: WIRE_VERSION,
            from: from.to_owned(),
            body,
        }
    }

    pub(crate) fn encode(&self) -> Result<Vec<u8>, WireError> {
        let bytes =
            rmp_serde::to_vec_named(self).map_err(|e| WireError::Malformed(e.to_string()))?;
        if bytes.len() > MAX_ENVELOPE_BYTES {
            return Err(WireError::TooLarge(bytes.len()));
        }
        Ok(bytes)
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        if bytes.len() > MAX_ENVELOPE_BYTES {
            return Err(WireError::TooLarge(bytes.len()));
        }
        let env: Envelope =
            rmp_serde::from_slice(bytes).map_err(|e| WireError::Malformed(e.to_string()))?;
        if env.version != WIRE_VERSION {
            return Err(WireError::Version(env.version));
        }
        Ok(env)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn round_trip() {
        let env = Envelope::new(
            "a",
            Body::Ask {
                id: 7,
                to: "counter".into(),
                type_tag: "u64".into(),
                payload: ByteBuf::from(vec![1, 2, 3]),
            },
        );
        assert_eq!(Envelope::decode(&env.encode().unwrap()).unwrap(), env);
    }

    #[test]
    fn wrong_version_is_refused() {
        let mut env = Envelope::new("a", Body::Unregistered { name: "x".into() });
        env.version = 99;
        let bytes = rmp_serde::to_vec_named(&env).unwrap();
        assert!(matches!(
            Envelope::decode(&bytes),
            Err(WireError::Version(99))
        ));
    }

    proptest! {
        #[test]
        fn decoding_garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = Envelope::decode(&bytes);
        }

        #[test]
        fn tells_round_trip(from in ".{0,16}", to in ".{0,16}", payload in proptest::collection::vec(any::<u8>(), 0..256)) {
            let env = Envelope::new(&from, Body::Tell { to, type_tag: "t".into(), payload: ByteBuf::from(payload) });
            prop_assert_eq!(Envelope::decode(&env.encode().unwrap()).unwrap(), env);
        }
    }
}
