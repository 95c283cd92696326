//! The wire format between gateways: a versioned envelope in MessagePack,
//! sealed with an HMAC-SHA256 keyed by the cluster's cookie and name.
//!
//! Only gateways exchange these; user messages travel inside as opaque
//! rmp-serde bytes tagged with their type. The seal matters when one
//! process is a member of several clusters: ractor_cluster shows every
//! session all of the process's remotable actors, so a peer of cluster A
//! can address the gateway of cluster B; without B's cookie it cannot
//! produce an envelope that gateway accepts.

use std::ops::RangeInclusive;
use std::sync::Arc;

use aws_lc_rs::hmac;
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

use crate::error::RemoteError;
use crate::gateway::Labels;

/// The envelope format this build speaks. A node also reads and writes
/// [`PREVIOUS_WIRE_VERSION`], so that a cluster can be upgraded one node at
/// a time (docs/runtime-semantics.md, *Mixed versions*).
///
/// 5: hellos come in parts and say which version their sender speaks;
/// bodies travel in batches.
pub(crate) const WIRE_VERSION: u8 = 5;

/// The version before [`WIRE_VERSION`], still read and, to peers that
/// speak no newer one, written.
pub(crate) const PREVIOUS_WIRE_VERSION: u8 = WIRE_VERSION - 1;

/// Upper bound on one encoded envelope; larger user messages are refused
/// before they reach the socket (ractor_cluster drops the whole session for
/// frames over 16 MiB).
pub(crate) const MAX_ENVELOPE_BYTES: usize = 8 * 1024 * 1024;

/// Upper bound on one encoded user message or reply, leaving room for the
/// envelope around it.
pub(crate) const MAX_PAYLOAD_BYTES: usize = MAX_ENVELOPE_BYTES - 64 * 1024;

/// How deep a value read from a peer may nest, counting each array and
/// map (serde_json's default limit too). rmp-serde's own limit, 1024,
/// lets a recursive message overflow the 2 MiB stack of the tokio worker
/// that decodes it and abort the whole node; deeper values are refused.
pub(crate) const MAX_DEPTH: usize = 128;

/// Decodes MessagePack from a peer, refusing values nested deeper than
/// [`MAX_DEPTH`]: the one decoder of envelopes, messages and replies.
pub(crate) fn from_slice<'a, T: Deserialize<'a>>(
    bytes: &'a [u8],
) -> Result<T, rmp_serde::decode::Error> {
    let mut decoder = rmp_serde::Deserializer::from_read_ref(bytes);
    decoder.set_max_depth(MAX_DEPTH);
    T::deserialize(&mut decoder)
}

/// A name as announced to peers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "fuzzing", derive(arbitrary::Arbitrary))]
pub(crate) struct Claim {
    pub(crate) name: Arc<str>,
    /// The wire tags of the messages its actor answers (shared by the
    /// claims of every actor of one type).
    pub(crate) accepts: Arc<[String]>,
    /// Its groups (shared by the claims of every name in the same groups).
    pub(crate) groups: Arc<[String]>,
    /// What the holder says about it ([`crate::Node::set_labels`]); absent
    /// in the claims of builds before labels, hence the default.
    #[serde(default, deserialize_with = "labels")]
    #[cfg_attr(feature = "fuzzing", arbitrary(with = crate::fuzzing::labels))]
    pub(crate) labels: Labels,
    /// How many times the named actor has moved to another node by
    /// failover: of two claims, the higher epoch wins (absent in the claims
    /// of builds before epochs, hence the default).
    #[serde(default)]
    pub(crate) epoch: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Envelope {
    pub(crate) version: u8,
    /// The sending node's name.
    pub(crate) from: String,
    pub(crate) body: Body,
}

/// Reads a claim's labels through a `BTreeMap`: litemap's own decoder
/// reserves the length a map declares, so that a 65-byte envelope
/// declaring 2.7 billion labels made the node allocate 130 GB and abort
/// (found by the `sealed_body` fuzz target).
fn labels<'de, D: serde::Deserializer<'de>>(decoder: D) -> Result<Labels, D::Error> {
    let labels: std::collections::BTreeMap<String, String> = Deserialize::deserialize(decoder)?;
    Ok(labels.into_iter().collect())
}

/// The most bytes of claims one hello carries: a node with more names
/// sends them in several (each envelope is one ractor_cluster frame).
pub(crate) const HELLO_BYTES: usize = 512 * 1024;

fn one() -> u32 {
    1
}

fn previous() -> u8 {
    PREVIOUS_WIRE_VERSION
}

impl Body {
    /// About how many bytes the body takes on the wire (for sizing
    /// batches and hellos).
    pub(crate) fn wire_size(&self) -> usize {
        32 + match self {
            Self::Hello { claims, addr, .. } => {
                addr.len() + claims.iter().map(Claim::wire_size).sum::<usize>()
            }
            Self::Registered(claim) => claim.wire_size(),
            Self::Tell {
                to, tag, payload, ..
            }
            | Self::Ask {
                to, tag, payload, ..
            }
            | Self::Publish {
                topic: to,
                tag,
                payload,
            } => to.len() + tag.len() + payload.len(),
            Self::Reply { result: Ok(b), .. } => b.len(),
            Self::Reply { result: Err(_), .. } => 256,
            Self::PeerUp { node, addr } => node.len() + addr.len(),
            Self::Unreachable { node } | Self::Unregistered { name: node } => node.len(),
            Self::Batch(bodies) => bodies.iter().map(Self::wire_size).sum(),
            Self::Leaving | Self::Ping | Self::Pong => 0,
        }
    }
}

impl Claim {
    /// About how many bytes the claim takes on the wire.
    pub(crate) fn wire_size(&self) -> usize {
        let strings = |v: &[String]| v.iter().map(|s| s.len() + 2).sum::<usize>();
        16 + self.name.len()
            + strings(&self.accepts)
            + strings(&self.groups)
            + self
                .labels
                .iter()
                .map(|(k, v)| k.len() + v.len() + 4)
                .sum::<usize>()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "fuzzing", derive(arbitrary::Arbitrary))]
pub(crate) enum Body {
    /// First words after a gateway sees a peer: who I am, where I listen,
    /// which names I hold.
    ///
    /// A long list of names comes in several hellos, `part` 0 to
    /// `parts - 1`, each within [`HELLO_BYTES`] (absent in the hellos of
    /// builds before parts, hence the defaults: one part).
    Hello {
        addr: String,
        claims: Vec<Claim>,
        /// When the sender started (Unix milliseconds), for keep-oldest.
        started: u64,
        #[serde(default)]
        part: u32,
        #[serde(default = "one")]
        parts: u32,
        /// The newest envelope version the sender speaks (absent before
        /// version 5, hence the default).
        #[serde(default = "previous")]
        wire: u8,
    },
    /// The sender is shutting down: a departure, not a failure.
    Leaving,
    /// A peer I know of, so the receiver can connect to it too.
    PeerUp {
        node: String,
        addr: String,
    },
    /// Heartbeat; answered with `Pong`. Any envelope counts as a sign of life.
    Ping,
    Pong,
    /// The sender, which watches `node`, has not heard from it for most of
    /// the failure timeout: the receiver checks it with a ping of its own.
    Unreachable {
        node: String,
    },
    Registered(Claim),
    Unregistered {
        name: String,
    },
    Tell {
        to: String,
        /// The message's [`crate::Message::TAG`].
        tag: String,
        #[cfg_attr(feature = "fuzzing", arbitrary(with = crate::fuzzing::bytes))]
        payload: ByteBuf,
    },
    Ask {
        id: u64,
        to: String,
        /// The message's [`crate::Message::TAG`].
        tag: String,
        #[cfg_attr(feature = "fuzzing", arbitrary(with = crate::fuzzing::bytes))]
        payload: ByteBuf,
    },
    Reply {
        id: u64,
        #[cfg_attr(feature = "fuzzing", arbitrary(with = crate::fuzzing::reply))]
        result: Result<ByteBuf, RemoteError>,
    },
    /// A message published on `topic`, sent once to each node with
    /// subscribers; the receiver delivers it to its own.
    Publish {
        topic: String,
        /// The message's [`crate::Message::TAG`].
        tag: String,
        #[cfg_attr(feature = "fuzzing", arbitrary(with = crate::fuzzing::bytes))]
        payload: ByteBuf,
    },
    /// Several bodies for one peer in one envelope (version 5): what a
    /// gateway had queued for that peer when it last sent. A batch inside
    /// a batch is refused.
    Batch(Vec<Body>),
}

impl Body {
    /// A short name of the variant, for metrics and logs.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Self::Hello { .. } => "hello",
            Self::Leaving => "leaving",
            Self::PeerUp { .. } => "peer_up",
            Self::Ping => "ping",
            Self::Pong => "pong",
            Self::Unreachable { .. } => "unreachable",
            Self::Registered(_) => "registered",
            Self::Unregistered { .. } => "unregistered",
            Self::Tell { .. } => "tell",
            Self::Ask { .. } => "ask",
            Self::Reply { .. } => "reply",
            Self::Publish { .. } => "publish",
            Self::Batch(_) => "batch",
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
    #[error("envelope version {0} is not supported (this node speaks {PREVIOUS_WIRE_VERSION} and {WIRE_VERSION})")]
    Version(u8),
    #[error("envelope not sealed with this cluster's cookie")]
    Forged,
}

/// The key that seals and opens the envelopes of one cluster.
#[derive(Clone)]
pub(crate) struct WireKey(hmac::Key);

impl std::fmt::Debug for WireKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WireKey(..)")
    }
}

impl WireKey {
    /// The key of cluster `cluster` with cookie `cookie`: clusters that
    /// share a cookie still do not accept each other's envelopes.
    pub(crate) fn new(cluster: &str, cookie: &str) -> Self {
        let mut material = Vec::with_capacity(cluster.len() + cookie.len() + 1);
        material.extend_from_slice(cluster.as_bytes());
        material.push(0);
        material.extend_from_slice(cookie.as_bytes());
        Self(hmac::Key::new(hmac::HMAC_SHA256, &material))
    }

    /// The HMAC of `parts`, each prefixed with its length (so that no two
    /// different lists of parts sign alike).
    pub(crate) fn sign(&self, parts: &[&[u8]]) -> Vec<u8> {
        let mut ctx = hmac::Context::with_key(&self.0);
        for part in parts {
            ctx.update(&(part.len() as u64).to_be_bytes());
            ctx.update(part);
        }
        ctx.sign().as_ref().to_vec()
    }

    /// Whether `tag` is the HMAC of `parts` (see [`sign`](Self::sign)), in
    /// constant time.
    pub(crate) fn verify(&self, parts: &[&[u8]], tag: &[u8]) -> bool {
        aws_lc_rs::constant_time::verify_slices_are_equal(&self.sign(parts), tag).is_ok()
    }
}

/// What travels: the version, the seal, and the envelope it covers.
#[derive(Serialize, Deserialize)]
struct Sealed {
    version: u8,
    seal: ByteBuf,
    envelope: ByteBuf,
}

impl Envelope {
    /// An envelope of this build's version (the gateway seals bodies
    /// directly with [`seal_body`](Self::seal_body)).
    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn new(from: &str, body: Body) -> Self {
        Self {
            version: WIRE_VERSION,
            from: from.to_owned(),
            body,
        }
    }

    /// Encodes and seals an envelope of `version` from `from` carrying
    /// `body` (as [`seal`](Self::seal) would, without owning the body).
    pub(crate) fn seal_body(
        version: u8,
        from: &str,
        body: &Body,
        key: &WireKey,
    ) -> Result<Vec<u8>, WireError> {
        /// The same fields as [`Envelope`], borrowed.
        #[derive(Serialize)]
        struct View<'a> {
            version: u8,
            from: &'a str,
            body: &'a Body,
        }
        let view = View {
            version,
            from,
            body,
        };
        let envelope =
            rmp_serde::to_vec_named(&view).map_err(|e| WireError::Malformed(e.to_string()))?;
        Self::seal_encoded_as(version, envelope, key)
    }

    /// Encodes and seals the envelope with `key`.
    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn seal(&self, key: &WireKey) -> Result<Vec<u8>, WireError> {
        let envelope =
            rmp_serde::to_vec_named(self).map_err(|e| WireError::Malformed(e.to_string()))?;
        Self::seal_encoded_as(self.version, envelope, key)
    }

    /// Seals `envelope`, an encoded envelope, with `key`. Tests and fuzz
    /// targets seal other bytes too, to reach the decoder behind the seal.
    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn seal_encoded(envelope: Vec<u8>, key: &WireKey) -> Result<Vec<u8>, WireError> {
        Self::seal_encoded_as(WIRE_VERSION, envelope, key)
    }

    fn seal_encoded_as(
        version: u8,
        envelope: Vec<u8>,
        key: &WireKey,
    ) -> Result<Vec<u8>, WireError> {
        let seal = hmac::sign(&key.0, &envelope);
        let sealed = Sealed {
            version,
            seal: ByteBuf::from(seal.as_ref().to_vec()),
            envelope: ByteBuf::from(envelope),
        };
        let bytes =
            rmp_serde::to_vec_named(&sealed).map_err(|e| WireError::Malformed(e.to_string()))?;
        if bytes.len() > MAX_ENVELOPE_BYTES {
            return Err(WireError::TooLarge(bytes.len()));
        }
        Ok(bytes)
    }

    /// Checks the version (this build's or the previous one) and the seal,
    /// then decodes the envelope.
    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn open(bytes: &[u8], key: &WireKey) -> Result<Self, WireError> {
        Self::open_within(bytes, key, PREVIOUS_WIRE_VERSION..=WIRE_VERSION)
    }

    /// Like [`open`](Self::open), taking the versions in `versions`.
    pub(crate) fn open_within(
        bytes: &[u8],
        key: &WireKey,
        versions: RangeInclusive<u8>,
    ) -> Result<Self, WireError> {
        if bytes.len() > MAX_ENVELOPE_BYTES {
            return Err(WireError::TooLarge(bytes.len()));
        }
        let sealed: Sealed = from_slice(bytes).map_err(|e| WireError::Malformed(e.to_string()))?;
        if !versions.contains(&sealed.version) {
            return Err(WireError::Version(sealed.version));
        }
        hmac::verify(&key.0, &sealed.envelope, &sealed.seal).map_err(|_| WireError::Forged)?;
        let env: Envelope =
            from_slice(&sealed.envelope).map_err(|e| WireError::Malformed(e.to_string()))?;
        // The seal covers the envelope, so its version is the one sealed.
        if env.version != sealed.version {
            return Err(WireError::Version(env.version));
        }
        Ok(env)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::collection::{btree_map, vec};
    use proptest::prelude::*;
    use proptest::sample::Index;
    use proptest::strategy::ValueTree;

    fn key() -> WireKey {
        WireKey::new("demo", "secret")
    }

    #[test]
    fn round_trip() {
        let env = Envelope::new(
            "a",
            Body::Ask {
                id: 7,
                to: "counter".into(),
                tag: "test.add/1".into(),
                payload: ByteBuf::from(vec![1, 2, 3]),
            },
        );
        assert_eq!(
            Envelope::open(&env.seal(&key()).unwrap(), &key()).unwrap(),
            env
        );
    }

    #[test]
    fn this_version_and_the_previous_one_are_read_and_no_other() {
        let body = Body::Unregistered { name: "x".into() };
        for version in [PREVIOUS_WIRE_VERSION, WIRE_VERSION] {
            let bytes = Envelope::seal_body(version, "a", &body, &key()).unwrap();
            let env = Envelope::open(&bytes, &key()).unwrap();
            assert_eq!((env.version, env.body), (version, body.clone()));
        }
        let older = Envelope::seal_body(PREVIOUS_WIRE_VERSION - 1, "a", &body, &key()).unwrap();
        assert!(matches!(
            Envelope::open(&older, &key()),
            Err(WireError::Version(v)) if v == PREVIOUS_WIRE_VERSION - 1
        ));
        // A node playing the previous build reads only that version.
        let newer = Envelope::seal_body(WIRE_VERSION, "a", &body, &key()).unwrap();
        let previous = PREVIOUS_WIRE_VERSION..=PREVIOUS_WIRE_VERSION;
        assert!(matches!(
            Envelope::open_within(&newer, &key(), previous),
            Err(WireError::Version(WIRE_VERSION))
        ));
    }

    #[test]
    fn a_hello_of_the_previous_version_reads_as_one_whole_part() {
        // Version 4's hello: no part, parts or wire.
        #[derive(Serialize)]
        enum OldBody {
            Hello {
                addr: String,
                claims: Vec<Claim>,
                started: u64,
            },
        }
        #[derive(Serialize)]
        struct OldEnvelope {
            version: u8,
            from: String,
            body: OldBody,
        }
        let old = OldEnvelope {
            version: PREVIOUS_WIRE_VERSION,
            from: "a".into(),
            body: OldBody::Hello {
                addr: "127.0.0.1:7400".into(),
                claims: Vec::new(),
                started: 7,
            },
        };
        let sealed = Envelope::seal_encoded_as(
            PREVIOUS_WIRE_VERSION,
            rmp_serde::to_vec_named(&old).unwrap(),
            &key(),
        )
        .unwrap();
        let env = Envelope::open(&sealed, &key()).unwrap();
        assert_eq!(
            env.body,
            Body::Hello {
                addr: "127.0.0.1:7400".into(),
                claims: Vec::new(),
                started: 7,
                part: 0,
                parts: 1,
                wire: PREVIOUS_WIRE_VERSION,
            }
        );
    }

    #[test]
    fn wrong_version_is_refused() {
        let env = Envelope::new("a", Body::Unregistered { name: "x".into() });
        let sealed = Sealed {
            version: 99,
            seal: ByteBuf::new(),
            envelope: ByteBuf::from(rmp_serde::to_vec_named(&env).unwrap()),
        };
        let bytes = rmp_serde::to_vec_named(&sealed).unwrap();
        assert!(matches!(
            Envelope::open(&bytes, &key()),
            Err(WireError::Version(99))
        ));
    }

    #[test]
    fn another_clusters_or_a_tampered_envelope_is_refused() {
        let env = Envelope::new("a", Body::Ping);
        let bytes = env.seal(&key()).unwrap();
        for other in [
            WireKey::new("demo", "guess"),
            WireKey::new("other", "secret"),
        ] {
            assert!(matches!(
                Envelope::open(&bytes, &other),
                Err(WireError::Forged)
            ));
        }
        let mut sealed: Sealed = rmp_serde::from_slice(&bytes).unwrap();
        let forged = Envelope::new("b", Body::Ping);
        sealed.envelope = ByteBuf::from(rmp_serde::to_vec_named(&forged).unwrap());
        let bytes = rmp_serde::to_vec_named(&sealed).unwrap();
        assert!(matches!(
            Envelope::open(&bytes, &key()),
            Err(WireError::Forged)
        ));
    }

    #[test]
    fn a_claim_without_labels_reads_as_unlabelled() {
        /// A claim as builds before labels encode it.
        #[derive(Serialize)]
        struct OldClaim {
            name: String,
            accepts: Vec<String>,
            groups: Vec<String>,
        }
        let old = OldClaim {
            name: "svc".into(),
            accepts: vec!["t/1".into()],
            groups: vec!["g".into()],
        };
        let bytes = rmp_serde::to_vec_named(&old).unwrap();
        let claim: Claim = rmp_serde::from_slice(&bytes).unwrap();
        assert_eq!(&*claim.name, "svc");
        assert!(claim.labels.is_empty());
    }

    /// Names, tags, addresses: short, of any characters.
    fn text() -> impl Strategy<Value = String> {
        ".{0,12}"
    }

    fn bytes() -> impl Strategy<Value = ByteBuf> {
        vec(any::<u8>(), 0..64).prop_map(ByteBuf::from)
    }

    fn claim() -> impl Strategy<Value = Claim> {
        (
            text(),
            vec(text(), 0..4),
            vec(text(), 0..4),
            btree_map(text(), text(), 0..4),
            any::<u64>(),
        )
            .prop_map(|(name, accepts, groups, labels, epoch)| Claim {
                name: name.into(),
                accepts: accepts.into(),
                groups: groups.into(),
                labels: labels.into_iter().collect(),
                epoch,
            })
    }

    fn remote_error() -> impl Strategy<Value = RemoteError> {
        prop_oneof![
            Just(RemoteError::UnknownName),
            (vec(text(), 0..3), text())
                .prop_map(|(accepts, requested)| RemoteError::TypeMismatch { accepts, requested }),
            text().prop_map(RemoteError::Decode),
            text().prop_map(RemoteError::Encode),
            text().prop_map(RemoteError::NoReply),
            any::<usize>().prop_map(RemoteError::TooLarge),
        ]
    }

    /// Every variant of [`Body`] (`every_kind_of_body_is_generated`
    /// checks that none is missing).
    fn body() -> impl Strategy<Value = Body> {
        prop_oneof![
            (
                text(),
                vec(claim(), 0..3),
                any::<u64>(),
                any::<u32>(),
                any::<u32>(),
                any::<u8>()
            )
                .prop_map(|(addr, claims, started, part, parts, wire)| Body::Hello {
                    addr,
                    claims,
                    started,
                    part,
                    parts,
                    wire,
                }),
            Just(Body::Leaving),
            (text(), text()).prop_map(|(node, addr)| Body::PeerUp { node, addr }),
            Just(Body::Ping),
            Just(Body::Pong),
            text().prop_map(|node| Body::Unreachable { node }),
            claim().prop_map(Body::Registered),
            text().prop_map(|name| Body::Unregistered { name }),
            (text(), text(), bytes()).prop_map(|(to, tag, payload)| Body::Tell {
                to,
                tag,
                payload
            }),
            (any::<u64>(), text(), text(), bytes()).prop_map(|(id, to, tag, payload)| Body::Ask {
                id,
                to,
                tag,
                payload
            }),
            (
                any::<u64>(),
                prop_oneof![bytes().prop_map(Ok), remote_error().prop_map(Err)]
            )
                .prop_map(|(id, result)| Body::Reply { id, result }),
            (text(), text(), bytes()).prop_map(|(topic, tag, payload)| Body::Publish {
                topic,
                tag,
                payload
            }),
            vec(
                prop_oneof![
                    Just(Body::Ping),
                    text().prop_map(|name| Body::Unregistered { name }),
                    (text(), text(), bytes()).prop_map(|(to, tag, payload)| Body::Tell {
                        to,
                        tag,
                        payload
                    }),
                ],
                0..4
            )
            .prop_map(Body::Batch),
        ]
    }

    fn envelope() -> impl Strategy<Value = Envelope> {
        (text(), body()).prop_map(|(from, body)| Envelope::new(&from, body))
    }

    #[test]
    fn every_kind_of_body_is_generated() {
        let mut runner = proptest::test_runner::TestRunner::deterministic();
        let kinds: std::collections::BTreeSet<&str> = (0..1000)
            .map(|_| body().new_tree(&mut runner).unwrap().current().kind())
            .collect();
        assert_eq!(kinds.len(), 13, "{kinds:?}");
    }

    #[test]
    fn a_deeply_nested_unknown_field_is_refused_on_a_worker_stack() {
        // {"x": [[[…]]], "version": 4, "from": "a", "body": "Ping"}: the
        // unknown field is skipped by recursion, nested 100,000 deep.
        let mut inner = vec![0x84, 0xa1, b'x'];
        inner.extend(std::iter::repeat_n(0x91, 100_000));
        inner.push(0x90);
        inner.extend([0xa7]);
        inner.extend(b"version");
        inner.extend([WIRE_VERSION, 0xa4]);
        inner.extend(b"from");
        inner.extend([0xa1, b'a', 0xa4]);
        inner.extend(b"body");
        inner.extend([0xa4]);
        inner.extend(b"Ping");
        let sealed = Envelope::seal_encoded(inner, &key()).unwrap();
        // The gateway opens envelopes on a tokio worker: 2 MiB of stack.
        let opened = std::thread::Builder::new()
            .stack_size(2 * 1024 * 1024)
            .spawn(move || Envelope::open(&sealed, &key()).map(|_| ()))
            .unwrap()
            .join()
            .unwrap();
        assert!(
            matches!(&opened, Err(WireError::Malformed(e)) if e.contains("depth")),
            "{opened:?}"
        );
    }

    #[test]
    fn a_claim_declaring_billions_of_labels_is_refused_not_reserved() {
        // The sealed_body fuzz target's crash: a Registered claim whose
        // labels map (0xdf) declares 0xa161a462 entries.
        let inner = [
            0x83, 0xa7, 0x76, 0x66, 0x72, 0x73, 0x69, 0x6f, 0x6e, 0x04, 0xa4, 0x66, 0x72, 0x6f,
            0x6d, 0xa1, 0x61, 0xa4, 0x62, 0x6f, 0x64, 0x79, 0x81, 0xaa, 0x52, 0x65, 0x67, 0x69,
            0x73, 0x74, 0x65, 0x72, 0x65, 0x64, 0x85, 0xa4, 0x6e, 0xef, 0xff, 0x61, 0xa3, 0x73,
            0x67, 0xff, 0x03, 0xdf, 0xa1, 0x61, 0xa4, 0x62, 0x6f, 0x64, 0x79, 0x81, 0xaa, 0x52,
            0x65, 0x67, 0x69, 0x73, 0x74, 0x65, 0x72, 0x76,
        ];
        let sealed = Envelope::seal_encoded(inner.to_vec(), &key()).unwrap();
        assert!(matches!(
            Envelope::open(&sealed, &key()),
            Err(WireError::Malformed(_))
        ));
    }

    proptest! {
        #[test]
        fn decoding_garbage_never_panics(bytes in vec(any::<u8>(), 0..512)) {
            let _ = Envelope::open(&bytes, &key());
        }

        #[test]
        fn garbage_behind_a_good_seal_is_refused_not_a_panic(bytes in vec(any::<u8>(), 0..512)) {
            let sealed = Envelope::seal_encoded(bytes, &key()).unwrap();
            let _ = Envelope::open(&sealed, &key());
        }

        #[test]
        fn every_envelope_round_trips(env in envelope()) {
            let sealed = env.seal(&key()).unwrap();
            prop_assert_eq!(Envelope::open(&sealed, &key()).unwrap(), env);
        }

        #[test]
        fn claims_and_replies_round_trip(
            claim in claim(),
            result in prop_oneof![bytes().prop_map(Ok), remote_error().prop_map(Err)],
        ) {
            let bytes = rmp_serde::to_vec_named(&claim).unwrap();
            prop_assert_eq!(rmp_serde::from_slice::<Claim>(&bytes).unwrap(), claim);
            let bytes = rmp_serde::to_vec_named(&result).unwrap();
            let back: Result<ByteBuf, RemoteError> = rmp_serde::from_slice(&bytes).unwrap();
            prop_assert_eq!(back, result);
        }

        #[test]
        fn a_flipped_bit_anywhere_is_refused(env in envelope(), at in any::<Index>(), bit in 0..8u8) {
            let mut sealed = env.seal(&key()).unwrap();
            let at = at.index(sealed.len());
            sealed[at] ^= 1 << bit;
            prop_assert!(Envelope::open(&sealed, &key()).is_err(), "bit {} of byte {} flipped", bit, at);
        }

        #[test]
        fn a_truncated_envelope_is_refused(env in envelope(), cut in any::<Index>()) {
            let sealed = env.seal(&key()).unwrap();
            let cut = cut.index(sealed.len());
            prop_assert!(Envelope::open(&sealed[..cut], &key()).is_err(), "cut at {}", cut);
        }

        #[test]
        fn a_damaged_body_behind_a_good_seal_is_refused_or_reads_back(
            env in envelope(),
            at in any::<Index>(),
            byte in any::<u8>(),
        ) {
            let mut encoded = rmp_serde::to_vec_named(&env).unwrap();
            let at = at.index(encoded.len());
            encoded[at] = byte;
            let sealed = Envelope::seal_encoded(encoded, &key()).unwrap();
            // A change the decoder takes must give an envelope that
            // round-trips like any other.
            if let Ok(opened) = Envelope::open(&sealed, &key()) {
                let again = Envelope::open(&opened.seal(&key()).unwrap(), &key()).unwrap();
                prop_assert_eq!(again, opened);
            }
        }
    }
}
