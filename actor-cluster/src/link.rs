//! Data links: the gateways' own connections, one each way between two
//! nodes, that carry their envelopes instead of ractor_cluster's sessions.
//!
//! ractor_cluster hands a remote message to the local actor without saying
//! which session it came on, so a gateway cannot tell which peer sent an
//! envelope (any authenticated node may write any `from`); and every
//! message takes the session actors and their protobuf framing at both
//! ends. So between nodes of wire version 5, each gateway dials a link to
//! each peer once the peer's session is up, through the peer's acceptor
//! (with TLS when the cluster uses it), and sends every envelope on it.
//! The receiving gateway knows which node each link authenticated as and
//! refuses an envelope whose `from` names another. ractor_cluster keeps
//! sessions, authentication and membership (process groups).
//!
//! A link opens with a handshake in which each side proves it holds the
//! cluster's key over both sides' names and random nonces:
//!
//! 1. dialer: [`MAGIC`], then a frame `Hello { node, nonce, wire }`;
//! 2. acceptor: `Welcome { node, nonce, wire, proof }`;
//! 3. dialer: `Proof { proof }`.
//!
//! Then only the dialer writes: frames of a big-endian `u32` length and a
//! sealed envelope. An older node reads the magic as an impossible frame
//! length and closes the connection; the dialer then uses the session.

use std::io;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_rustls::TlsConnector;

use crate::wire::{self, WireKey};

/// The first bytes a dialer sends. Read as ractor_cluster's frame header
/// (a big-endian u64 length) it declares an exabyte-sized frame, which
/// every listener refuses.
pub(crate) const MAGIC: [u8; 8] = *b"\xffFNDLNK\x01";

/// The wire version from which nodes open links.
pub(crate) const LINK_WIRE: u8 = 5;

/// The largest handshake frame (they are well under 200 bytes).
const MAX_HANDSHAKE_FRAME: usize = 1024;

const NONCE_BYTES: usize = 16;

/// A byte stream a link runs on: TCP, or TLS over TCP.
pub(crate) trait Conn: AsyncRead + AsyncWrite + Send + Unpin {}

impl<T: AsyncRead + AsyncWrite + Send + Unpin> Conn for T {}

/// A link's connection.
pub(crate) type BoxConn = Box<dyn Conn>;

#[derive(Serialize, Deserialize)]
struct Hello {
    node: String,
    nonce: ByteBuf,
    wire: u8,
}

#[derive(Serialize, Deserialize)]
struct Welcome {
    node: String,
    nonce: ByteBuf,
    wire: u8,
    proof: ByteBuf,
}

#[derive(Serialize, Deserialize)]
struct Proof {
    proof: ByteBuf,
}

/// What each side signs: its role, both names and both nonces.
fn signed<'a>(
    role: &'a str,
    dialer: &'a str,
    acceptor: &'a str,
    dialer_nonce: &'a [u8],
    acceptor_nonce: &'a [u8],
) -> [&'a [u8]; 5] {
    [
        role.as_bytes(),
        dialer.as_bytes(),
        acceptor.as_bytes(),
        dialer_nonce,
        acceptor_nonce,
    ]
}

const DIALER: &str = "foundation link: dialer";
const ACCEPTOR: &str = "foundation link: acceptor";

fn nonce() -> io::Result<Vec<u8>> {
    let mut nonce = vec![0; NONCE_BYTES];
    getrandom::fill(&mut nonce).map_err(|e| io::Error::other(format!("no random bytes: {e}")))?;
    Ok(nonce)
}

fn invalid(why: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, why.into())
}

/// Writes one frame: its length as a big-endian `u32`, then the bytes.
pub(crate) fn put_frame(buf: &mut Vec<u8>, bytes: &[u8]) {
    let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
    buf.extend_from_slice(&len.to_be_bytes());
    buf.extend_from_slice(bytes);
}

/// Reads one frame of at most `max` bytes; `None` if the stream ended
/// between frames.
pub(crate) async fn read_frame<R: AsyncRead + Unpin>(
    read: &mut R,
    max: usize,
) -> io::Result<Option<Vec<u8>>> {
    let mut len = [0u8; 4];
    match read.read_exact(&mut len).await {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = u32::from_be_bytes(len) as usize;
    if len > max {
        return Err(invalid(format!(
            "a frame of {len} bytes (at most {max} are taken)"
        )));
    }
    let mut bytes = vec![0; len];
    read.read_exact(&mut bytes).await?;
    Ok(Some(bytes))
}

async fn send<W: AsyncWrite + Unpin, T: Serialize>(write: &mut W, msg: &T) -> io::Result<()> {
    let bytes = rmp_serde::to_vec_named(msg).map_err(|e| invalid(e.to_string()))?;
    let mut frame = Vec::with_capacity(bytes.len() + 4);
    put_frame(&mut frame, &bytes);
    write.write_all(&frame).await?;
    write.flush().await
}

async fn receive<R: AsyncRead + Unpin, T: for<'de> Deserialize<'de>>(
    read: &mut R,
) -> io::Result<T> {
    let bytes = read_frame(read, MAX_HANDSHAKE_FRAME)
        .await?
        .ok_or_else(|| invalid("the connection closed in the link handshake"))?;
    wire::from_slice(&bytes).map_err(|e| invalid(format!("a malformed link handshake: {e}")))
}

/// Where and as whom to dial a link.
#[derive(Clone)]
pub(crate) struct Dial {
    /// The peer's listen address.
    pub(crate) addr: String,
    /// This node's name.
    pub(crate) me: String,
    /// The peer's name: the acceptor must prove it is that node.
    pub(crate) peer: String,
    pub(crate) key: WireKey,
    pub(crate) tls: Option<TlsConnector>,
    /// The whole dial (connection, TLS and handshake) must end by then.
    pub(crate) timeout: Duration,
    /// The wire version this node speaks.
    pub(crate) wire: u8,
}

/// Dials a link to `dial.peer` and runs the dialer's half of the
/// handshake; the connection, ready for frames, and the version the peer
/// speaks.
pub(crate) async fn dial(dial: &Dial) -> io::Result<(BoxConn, u8)> {
    let attempt = async {
        let tcp = tokio::net::TcpStream::connect(&dial.addr).await?;
        let _ = tcp.set_nodelay(true);
        let mut conn: BoxConn = match &dial.tls {
            Some(tls) => Box::new(
                tls.connect(crate::tls::TlsSetup::server_name(), tcp)
                    .await?,
            ),
            None => Box::new(tcp),
        };
        let mine = nonce()?;
        let mut first = MAGIC.to_vec();
        let hello = rmp_serde::to_vec_named(&Hello {
            node: dial.me.clone(),
            nonce: ByteBuf::from(mine.clone()),
            wire: dial.wire,
        })
        .map_err(|e| invalid(e.to_string()))?;
        put_frame(&mut first, &hello);
        conn.write_all(&first).await?;
        conn.flush().await?;
        let welcome: Welcome = receive(&mut conn).await.map_err(|e| {
            if e.kind() == io::ErrorKind::InvalidData {
                e
            } else {
                // An older node closes the connection at the magic.
                invalid(format!(
                    "the peer has no links (it closed the connection: {e})"
                ))
            }
        })?;
        if welcome.node != dial.peer {
            return Err(invalid(format!(
                "dialed {} at {} and {} answered",
                dial.peer, dial.addr, welcome.node
            )));
        }
        let signed_by_acceptor = signed(ACCEPTOR, &dial.me, &welcome.node, &mine, &welcome.nonce);
        if !dial.key.verify(&signed_by_acceptor, &welcome.proof) {
            return Err(invalid("the peer does not hold this cluster's key"));
        }
        let tag = dial.key.sign(&signed(
            DIALER,
            &dial.me,
            &welcome.node,
            &mine,
            &welcome.nonce,
        ));
        send(
            &mut conn,
            &Proof {
                proof: ByteBuf::from(tag),
            },
        )
        .await?;
        Ok((conn, welcome.wire))
    };
    tokio::time::timeout(dial.timeout, attempt)
        .await
        .map_err(|_| {
            io::Error::new(
                io::ErrorKind::TimedOut,
                "no link handshake within the handshake timeout",
            )
        })?
}

/// The acceptor's half of the handshake, once [`MAGIC`] has been read:
/// the name the dialer proved it holds the key as. The caller bounds it
/// in time.
pub(crate) async fn accept(
    conn: &mut BoxConn,
    me: &str,
    key: &WireKey,
    wire: u8,
) -> io::Result<String> {
    let hello: Hello = receive(conn).await?;
    if hello.node == me || hello.node.is_empty() {
        return Err(invalid(format!("a link from node {:?}", hello.node)));
    }
    let mine = nonce()?;
    let tag = key.sign(&signed(ACCEPTOR, &hello.node, me, &hello.nonce, &mine));
    send(
        conn,
        &Welcome {
            node: me.to_owned(),
            nonce: ByteBuf::from(mine.clone()),
            wire,
            proof: ByteBuf::from(tag),
        },
    )
    .await?;
    let reply: Proof = receive(conn).await?;
    let signed_by_dialer = signed(DIALER, &hello.node, me, &hello.nonce, &mine);
    if !key.verify(&signed_by_dialer, &reply.proof) {
        return Err(invalid(format!(
            "a link from {:?} without this cluster's key",
            hello.node
        )));
    }
    Ok(hello.node)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(cookie: &str) -> WireKey {
        WireKey::new("test", cookie)
    }

    /// Runs both halves over an in-memory pipe; the acceptor's result.
    async fn handshake(
        dialer_key: WireKey,
        acceptor_key: WireKey,
        peer: &str,
    ) -> (io::Result<String>, io::Result<u8>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let accepting = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut conn: BoxConn = Box::new(tcp);
            let mut magic = [0u8; 8];
            conn.read_exact(&mut magic).await.unwrap();
            assert_eq!(magic, MAGIC);
            accept(&mut conn, "b", &acceptor_key, 5).await
        });
        let dialed = dial(&Dial {
            addr,
            me: "a".into(),
            peer: peer.into(),
            key: dialer_key,
            tls: None,
            timeout: Duration::from_secs(5),
            wire: 5,
        })
        .await
        .map(|(_, wire)| wire);
        (accepting.await.unwrap(), dialed)
    }

    #[tokio::test]
    async fn both_sides_prove_the_key() {
        let (accepted, dialed) = handshake(key("c"), key("c"), "b").await;
        assert_eq!(accepted.unwrap(), "a");
        assert_eq!(dialed.unwrap(), 5);
    }

    #[tokio::test]
    async fn another_key_is_refused_at_both_ends() {
        let (accepted, dialed) = handshake(key("c"), key("other"), "b").await;
        assert!(dialed
            .unwrap_err()
            .to_string()
            .contains("does not hold this cluster's key"));
        // The dialer gave up before its proof: the acceptor saw it close.
        assert!(accepted.is_err());
    }

    #[tokio::test]
    async fn the_wrong_node_answering_is_refused() {
        let (_, dialed) = handshake(key("c"), key("c"), "z").await;
        assert!(dialed.unwrap_err().to_string().contains("b answered"));
    }

    /// The acceptor's half fed `bytes` (after the magic) by a dialer that
    /// then hangs up.
    async fn accept_from(bytes: Vec<u8>) -> io::Result<String> {
        let (ours, mut theirs) = tokio::io::duplex(64 * 1024);
        theirs.write_all(&bytes).await.unwrap();
        // Done writing, still there to be written to.
        theirs.shutdown().await.unwrap();
        let mut conn: BoxConn = Box::new(ours);
        let result = accept(&mut conn, "b", &key("c"), 5).await;
        drop(theirs);
        result
    }

    #[tokio::test]
    async fn a_bad_handshake_is_an_error_never_a_panic() {
        let frame = |payload: &[u8]| {
            let mut f = Vec::new();
            put_frame(&mut f, payload);
            f
        };
        let hello = |node: &str| {
            let hello = Hello {
                node: node.into(),
                nonce: ByteBuf::from(vec![1; NONCE_BYTES]),
                wire: 5,
            };
            frame(&rmp_serde::to_vec_named(&hello).unwrap())
        };
        let mut deep = vec![0x91u8; 10_000];
        deep.push(0xc0);
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("nothing", vec![]),
            ("a cut length", vec![0, 0]),
            ("a huge frame", u32::MAX.to_be_bytes().to_vec()),
            (
                "a frame over the limit",
                frame(&[0; MAX_HANDSHAKE_FRAME + 1]),
            ),
            ("garbage", frame(b"\xde\xad\xbe\xef garbage")),
            ("nesting", frame(&deep)),
            ("a cut frame", hello("a")[..10].to_vec()),
            ("a hello as this node", hello("b")),
            ("a hello and no proof", hello("a")),
            ("a hello and a wrong proof", {
                let mut bytes = hello("a");
                let proof = Proof {
                    proof: ByteBuf::from(vec![0; 32]),
                };
                bytes.extend(frame(&rmp_serde::to_vec_named(&proof).unwrap()));
                bytes
            }),
        ];
        for (what, bytes) in cases {
            let result = accept_from(bytes).await;
            assert!(result.is_err(), "{what} was accepted");
            if what == "a hello and a wrong proof" {
                let why = result.unwrap_err().to_string();
                assert!(why.contains("without this cluster's key"), "{why}");
            }
        }
    }

    #[tokio::test]
    async fn frames_have_a_bound() {
        let mut buf = Vec::new();
        put_frame(&mut buf, &[7; 10]);
        put_frame(&mut buf, &[8; 3]);
        let mut read = buf.as_slice();
        assert_eq!(read_frame(&mut read, 10).await.unwrap().unwrap(), [7; 10]);
        assert_eq!(read_frame(&mut read, 10).await.unwrap().unwrap(), [8; 3]);
        assert!(read_frame(&mut read, 10).await.unwrap().is_none());
        let mut big = Vec::new();
        put_frame(&mut big, &[0; 11]);
        assert!(read_frame(&mut big.as_slice(), 10).await.is_err());
    }
}
