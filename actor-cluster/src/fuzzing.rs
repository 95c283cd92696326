//! Entry points for the fuzz targets in `fuzz/`, behind the feature
//! `fuzzing` (off by default, hidden from the docs, not part of the API).
//!
//! Thin wrappers over the crate's wire types, which stay `pub(crate)`: a
//! target hands in bytes or an [`Envelope`] and gets values back. Nothing
//! here may panic on any input; a panic is a bug in the code it wraps.
//! Everything uses one fixed cluster key, [`CLUSTER`] and [`COOKIE`].

use std::collections::{BTreeMap, HashMap};
use std::sync::LazyLock;

use arbitrary::{Arbitrary, Unstructured};
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

use crate::error::RemoteError;
use crate::gateway::check_claim;
use crate::reference::decode_reply;
use crate::server::{decode_for, tags_for};
use crate::wire::{self, Body, Claim, WireKey};
use crate::{Accepts, Handler, Message, Server};

/// The cluster name the fuzz targets seal with.
pub const CLUSTER: &str = "fuzz";
/// The cookie the fuzz targets seal with.
pub const COOKIE: &str = "fuzz-cookie";

static KEY: LazyLock<WireKey> = LazyLock::new(|| WireKey::new(CLUSTER, COOKIE));

/// A gateway envelope, as [`open`] gives it and [`seal`] takes it. Its
/// `Arbitrary` form is always of this build's version, so that a sealed
/// one opens.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope(wire::Envelope);

impl<'a> Arbitrary<'a> for Envelope {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        let from: String = u.arbitrary()?;
        let body: Body = u.arbitrary()?;
        Ok(Self(wire::Envelope::new(&from, body)))
    }
}

impl Envelope {
    /// The kind of its body (`hello`, `tell` …).
    pub fn kind(&self) -> &'static str {
        self.0.body.kind()
    }

    /// The envelope encoded as it travels inside the seal (not sealed).
    ///
    /// # Errors
    /// The encoder's message.
    pub fn encode(&self) -> Result<Vec<u8>, String> {
        rmp_serde::to_vec_named(&self.0).map_err(|e| e.to_string())
    }
}

/// Opens `bytes` as a gateway opens what a peer sent.
///
/// # Errors
/// Why it was refused: too large, malformed, another version, or not
/// sealed with the fuzz cluster's key.
pub fn open(bytes: &[u8]) -> Result<Envelope, String> {
    wire::Envelope::open(bytes, &KEY)
        .map(Envelope)
        .map_err(|e| e.to_string())
}

/// Encodes and seals `envelope` as a gateway sends it.
///
/// # Errors
/// Why it could not be: too large for the wire.
pub fn seal(envelope: &Envelope) -> Result<Vec<u8>, String> {
    envelope.0.seal(&KEY).map_err(|e| e.to_string())
}

/// Seals `bytes`, which need not encode an envelope, with the right key:
/// [`open`] takes the seal and decodes them.
///
/// # Errors
/// Why it could not be: too large for the wire.
pub fn seal_bytes(bytes: &[u8]) -> Result<Vec<u8>, String> {
    wire::Envelope::seal_encoded(bytes.to_vec(), &KEY).map_err(|e| e.to_string())
}

/// What a gateway does with an opened envelope, as far as it needs no
/// actor: checks the claims of a hello or a registration as it does
/// before it takes them, decodes the payload of a tell, an ask or a
/// publish as the target of the [probe server](tags) does, and a reply
/// to a probe message as the asker's `Ref` does. Answers every refusal.
pub fn receive(envelope: &Envelope) -> Vec<String> {
    let mut refused: Vec<String> = Vec::new();
    match &envelope.0.body {
        Body::Batch(bodies) => {
            for body in bodies {
                if matches!(body, Body::Batch(_)) {
                    refused.push("a batch inside a batch".to_owned());
                } else {
                    let one = Envelope(wire::Envelope {
                        version: envelope.0.version,
                        from: envelope.0.from.clone(),
                        body: body.clone(),
                    });
                    refused.extend(receive(&one));
                }
            }
        }
        Body::Hello { claims, .. } => {
            refused.extend(
                claims
                    .iter()
                    .filter_map(|c| check_claim(c).err().map(|e| e.to_string())),
            );
        }
        Body::Registered(claim) => refused.extend(check_claim(claim).err().map(|e| e.to_string())),
        Body::Tell { tag, payload, .. }
        | Body::Ask { tag, payload, .. }
        | Body::Publish { tag, payload, .. } => {
            refused.extend(decode_message(tag, payload).err());
        }
        // The asker knows what it asked; here, whatever the bytes fit. A
        // remote error reaches the asker as it came.
        Body::Reply {
            result: Ok(bytes), ..
        } => {
            refused.extend(
                tags()
                    .iter()
                    .filter_map(|t| decode_reply_to(t, bytes).err()),
            );
        }
        Body::Reply { result: Err(_), .. } => {}
        Body::Leaving
        | Body::PeerUp { .. }
        | Body::Ping
        | Body::Pong
        | Body::Unreachable { .. }
        | Body::Unregistered { .. } => {}
    }
    refused
}

/// Runs `f` on a thread with the stack of a tokio worker (2 MiB), where a
/// node decodes what comes from its peers, and hands back its result; a
/// panic there is resumed here, and an overflow aborts, as in a node.
pub fn on_worker_stack<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|scope| {
        let worker = std::thread::Builder::new()
            .stack_size(2 * 1024 * 1024)
            .spawn_scoped(scope, f)
            .expect("a thread for the decoder");
        worker
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// The tags of the messages the probe server answers: message types of
/// many serde shapes (numbers, strings, bytes, options, maps, recursive
/// structs, externally, internally and un-tagged enums).
pub fn tags() -> Vec<String> {
    tags_for::<Probe>()
}

/// Decodes `payload` as the probe server's message `tag`, as its target
/// does for a remote tell or ask.
///
/// # Errors
/// Why it was refused: a tag the server does not answer, or bytes that
/// are not such a message.
pub fn decode_message(tag: &str, payload: &[u8]) -> Result<(), String> {
    decode_for::<Probe>(tag, payload).map_err(|e| e.into_cluster("probe").to_string())
}

/// Decodes `payload` as the reply to the probe message `tag`, as a
/// `Ref::ask` does with what came back.
///
/// # Errors
/// Why it was refused: an unknown tag, or bytes that are not such a reply.
pub fn decode_reply_to(tag: &str, payload: &[u8]) -> Result<(), String> {
    fn reply<M: Message>(payload: &[u8]) -> Result<(), String> {
        decode_reply::<M>("probe", payload)
            .map(drop)
            .map_err(|e| e.to_string())
    }
    match tag {
        Count::TAG => reply::<Count>(payload),
        Greet::TAG => reply::<Greet>(payload),
        Command::TAG => reply::<Command>(payload),
        Tree::TAG => reply::<Tree>(payload),
        Record::TAG => reply::<Record>(payload),
        Event::TAG => reply::<Event>(payload),
        Value::TAG => reply::<Value>(payload),
        Ping::TAG => reply::<Ping>(payload),
        _ => Err(format!("no probe message `{tag}`")),
    }
}

/// One valid envelope of each kind of body, for seed corpora.
pub fn samples() -> Vec<Envelope> {
    let claim = Claim {
        name: "svc".into(),
        accepts: vec![Count::TAG.to_owned(), Greet::TAG.to_owned()].into(),
        groups: vec!["workers".into(), "topic/news".into()].into(),
        labels: [("kind".to_owned(), "probe".to_owned())]
            .into_iter()
            .collect(),
        epoch: 2,
    };
    let payload = |tag: &str| {
        let (_, bytes) = sample_messages()
            .into_iter()
            .find(|(t, _)| t == tag)
            .unwrap_or_default();
        ByteBuf::from(bytes)
    };
    let bodies = vec![
        Body::Hello {
            addr: "127.0.0.1:7400".into(),
            claims: vec![claim.clone()],
            started: 1_700_000_000_000,
            part: 0,
            parts: 1,
            wire: wire::WIRE_VERSION,
        },
        Body::Leaving,
        Body::PeerUp {
            node: "c".into(),
            addr: "127.0.0.1:7402".into(),
        },
        Body::Ping,
        Body::Pong,
        Body::Unreachable { node: "c".into() },
        Body::Registered(claim),
        Body::Unregistered { name: "svc".into() },
        Body::Tell {
            to: "probe".into(),
            tag: Greet::TAG.into(),
            payload: payload(Greet::TAG),
        },
        Body::Ask {
            id: 7,
            to: "probe".into(),
            tag: Tree::TAG.into(),
            payload: payload(Tree::TAG),
        },
        Body::Reply {
            id: 7,
            result: Ok(ByteBuf::from(
                rmp_serde::to_vec_named(&vec![1u32, 2, 3]).unwrap_or_default(),
            )),
        },
        Body::Reply {
            id: 8,
            result: Err(RemoteError::mismatch(vec![Count::TAG.into()], "other/1")),
        },
        Body::Publish {
            topic: "news".into(),
            tag: Event::TAG.into(),
            payload: payload(Event::TAG),
        },
    ];
    bodies
        .into_iter()
        .map(|body| Envelope(wire::Envelope::new("a", body)))
        .collect()
}

/// One valid encoded message of each type the probe server answers, by
/// tag, for seed corpora.
pub fn sample_messages() -> Vec<(String, Vec<u8>)> {
    fn encoded<M: Message>(msg: &M) -> (String, Vec<u8>) {
        (
            M::TAG.to_owned(),
            rmp_serde::to_vec_named(msg).unwrap_or_default(),
        )
    }
    let leaf = |value| Tree {
        value,
        label: None,
        children: Vec::new(),
    };
    let record = Record {
        id: -42,
        tags: [("a".to_owned(), 1), ("b".to_owned(), -2)]
            .into_iter()
            .collect(),
        data: ByteBuf::from(vec![0, 1, 255]),
        scores: vec![0.5, f32::NAN],
        pair: ('λ', 9),
        nested: Some(Box::new(Record {
            id: i128::MAX,
            tags: BTreeMap::new(),
            data: ByteBuf::new(),
            scores: Vec::new(),
            pair: ('x', 0),
            nested: None,
            unit: (),
        })),
        unit: (),
    };
    vec![
        encoded(&Count(u64::MAX)),
        encoded(&Greet {
            name: "ada".into(),
            times: 3,
            loud: true,
        }),
        encoded(&Command::Batch(vec![
            Command::Start,
            Command::Move(-1, 2),
            Command::Stop {
                reason: "done".into(),
            },
        ])),
        encoded(&Tree {
            value: 1.5,
            label: Some("root".into()),
            children: vec![leaf(2.0), leaf(-0.0)],
        }),
        encoded(&record),
        encoded(&Event::Left {
            node: "b".into(),
            at: 12,
        }),
        encoded(&Value::List(vec![
            Value::Num(1.0),
            Value::Text("two".into()),
            Value::List(Vec::new()),
        ])),
        encoded(&Ping),
    ]
}

/// A map of labels, as `Arbitrary` builds them for a [`Claim`].
pub(crate) fn labels(u: &mut Unstructured<'_>) -> arbitrary::Result<crate::gateway::Labels> {
    let pairs: Vec<(String, String)> = u.arbitrary()?;
    Ok(pairs.into_iter().collect())
}

/// A payload, as `Arbitrary` builds it for a [`Body`].
pub(crate) fn bytes(u: &mut Unstructured<'_>) -> arbitrary::Result<ByteBuf> {
    Ok(ByteBuf::from(Vec::<u8>::arbitrary(u)?))
}

/// A reply's result, as `Arbitrary` builds it for a [`Body`].
pub(crate) fn reply(u: &mut Unstructured<'_>) -> arbitrary::Result<Result<ByteBuf, RemoteError>> {
    Ok(if u.arbitrary()? {
        Ok(bytes(u)?)
    } else {
        Err(u.arbitrary()?)
    })
}

/// The probe server: it answers one message of each shape below.
struct Probe;

impl Server for Probe {
    fn accepts(accepts: &mut Accepts<Self>) {
        accepts
            .add::<Count>()
            .add::<Greet>()
            .add::<Command>()
            .add::<Tree>()
            .add::<Record>()
            .add::<Event>()
            .add::<Value>()
            .add::<Ping>();
    }
}

/// Declares a probe message with its reply and tag, answered by the probe
/// server with the reply's default.
macro_rules! probe {
    ($msg:ty, $reply:ty, $tag:literal) => {
        impl Message for $msg {
            type Reply = $reply;
            const TAG: &'static str = $tag;
        }
        impl Handler<$msg> for Probe {
            async fn handle(&mut self, _: $msg) -> $reply {
                <$reply>::default()
            }
        }
    };
}

#[derive(Debug, Serialize, Deserialize)]
struct Count(u64);
probe!(Count, u64, "fuzz.count/1");

#[derive(Debug, Serialize, Deserialize)]
struct Greet {
    name: String,
    times: u8,
    loud: bool,
}
probe!(Greet, String, "fuzz.greet/1");

#[derive(Debug, Serialize, Deserialize)]
enum Command {
    Start,
    Stop { reason: String },
    Move(i32, i32),
    Batch(Vec<Command>),
}
probe!(Command, Option<i64>, "fuzz.command/1");

#[derive(Debug, Serialize, Deserialize)]
struct Tree {
    value: f64,
    label: Option<String>,
    children: Vec<Tree>,
}
probe!(Tree, Vec<u32>, "fuzz.tree/1");

#[derive(Debug, Serialize, Deserialize)]
struct Record {
    id: i128,
    tags: BTreeMap<String, i64>,
    data: ByteBuf,
    scores: Vec<f32>,
    pair: (char, u16),
    nested: Option<Box<Record>>,
    unit: (),
}
probe!(Record, HashMap<String, Vec<u8>>, "fuzz.record/1");

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type")]
enum Event {
    Joined { node: String },
    Left { node: String, at: u64 },
}
probe!(Event, (bool, String), "fuzz.event/1");

#[derive(Debug, Serialize, Deserialize)]
#[serde(untagged)]
enum Value {
    Num(f64),
    Text(String),
    List(Vec<Value>),
}
probe!(Value, Vec<(u8, Option<char>)>, "fuzz.value/1");

#[derive(Debug, Serialize, Deserialize)]
struct Ping;
probe!(Ping, (), "fuzz.ping/1");

/// A data link dialed to a node as `me`, for tests that play a peer which
/// forges the sender of its envelopes (tests/impostor.rs).
pub struct Link {
    conn: crate::link::BoxConn,
    key: WireKey,
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Link(..)")
    }
}

impl Link {
    /// Dials node `peer` at `addr` (without TLS) as node `me` of cluster
    /// `cluster` with cookie `cookie`.
    pub async fn dial(
        addr: &str,
        cluster: &str,
        cookie: &str,
        me: &str,
        peer: &str,
    ) -> std::io::Result<Self> {
        let key = WireKey::new(cluster, cookie);
        let dial = crate::link::Dial {
            addr: addr.to_owned(),
            me: me.to_owned(),
            peer: peer.to_owned(),
            key: key.clone(),
            tls: None,
            timeout: std::time::Duration::from_secs(5),
            wire: wire::WIRE_VERSION,
        };
        let (conn, _) = crate::link::dial(&dial).await?;
        Ok(Self { conn, key })
    }

    /// Sends a tell of `message` (tagged `tag`) to the name `to`, in an
    /// envelope that says it is from `from`.
    pub async fn tell<M: Serialize>(
        &mut self,
        from: &str,
        to: &str,
        tag: &str,
        message: &M,
    ) -> std::io::Result<()> {
        use tokio::io::AsyncWriteExt;
        let payload = rmp_serde::to_vec_named(message).map_err(std::io::Error::other)?;
        let body = Body::Tell {
            to: to.to_owned(),
            tag: tag.to_owned(),
            payload: ByteBuf::from(payload),
        };
        let sealed = wire::Envelope::seal_body(wire::WIRE_VERSION, from, &body, &self.key)
            .map_err(std::io::Error::other)?;
        let mut frame = Vec::new();
        crate::link::put_frame(&mut frame, &sealed);
        self.conn.write_all(&frame).await?;
        self.conn.flush().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_seal_open_and_are_received_without_refusal() {
        let samples = samples();
        let kinds: std::collections::BTreeSet<_> = samples.iter().map(Envelope::kind).collect();
        assert_eq!(kinds.len(), 12, "one sample of each kind of body");
        for sample in samples {
            let opened = open(&seal(&sample).unwrap()).unwrap();
            assert_eq!(opened, sample);
            let refused = receive(&opened);
            match sample.kind() {
                // A reply is tried as the reply to every probe message.
                "reply" => assert!(refused.len() < tags().len(), "{refused:?}"),
                _ => assert!(refused.is_empty(), "{}: {refused:?}", sample.kind()),
            }
        }
    }

    #[test]
    fn sample_messages_decode_and_garbage_is_refused() {
        let samples = sample_messages();
        assert_eq!(samples.len(), tags().len());
        for (tag, bytes) in samples {
            assert_eq!(decode_message(&tag, &bytes), Ok(()), "{tag}");
            assert!(decode_message(&tag, &[0xc1]).is_err());
        }
        assert!(decode_message("no.such/1", &[]).is_err());
    }
}
