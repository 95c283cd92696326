//! The node's own listener: it accepts peers' connections, runs the TLS
//! handshake when TLS is on, and hands each connection to ractor_cluster's
//! node server as an external stream, bounded until it authenticates.
//!
//! ractor_cluster's listener accepts one connection at a time, runs the TLS
//! handshake inline (one silent client stops every other accept), lets each
//! unauthenticated connection buffer frames up to the inbound frame limit
//! (16 MiB), takes any number of them, and retries a failing `accept` (too
//! many open files) in a tight loop with a log line each time. Here:
//!
//! * at most [`MAX_HANDSHAKES`] connections are unauthenticated at once;
//!   more are closed as they arrive;
//! * TLS handshakes run side by side, each within the handshake deadline;
//! * until this node has acknowledged the peer's challenge reply, a
//!   connection may only carry authentication frames of at most
//!   [`MAX_PRE_AUTH_FRAME`] bytes, [`MAX_PRE_AUTH_BYTES`] in all, and is
//!   closed when the handshake deadline (from its accept) passes;
//! * `accept` errors back off (10 ms doubling to 1 s) and are logged at
//!   most once per [`LOG_EVERY`], with a count;
//! * a connection whose first bytes are a data link's magic is a link
//!   ([`crate::link`]): its handshake runs here, under the same deadline,
//!   and the authenticated connection goes to the gateway. Any other is
//!   ractor_cluster's, with its first bytes put back.
//!
//! ractor_cluster still opens a listener of its own (it has no setting to
//! go without one); it is bound to the loopback address on a port that is
//! told to nobody.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{ready, Context, Poll};
use std::time::Duration;

use ractor::{ActorProcessingErr, ActorRef};
use ractor_cluster::{BoxRead, BoxWrite, ClusterBidiStream, NodeServerMessage};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio::time::{Instant, Sleep};
use tokio_rustls::TlsAcceptor;

use crate::gateway::{self, GatewayId, GatewayMsg};
use crate::link::{self, BoxConn};
use crate::wire::WireKey;

/// The most connections that may be unauthenticated (in their TCP, TLS or
/// cookie handshake) at once.
pub(crate) const MAX_HANDSHAKES: usize = 256;
/// The largest frame a connection may send before it is authenticated.
/// ractor_cluster's handshake frames are well under 1 KiB.
pub(crate) const MAX_PRE_AUTH_FRAME: u64 = 4 * 1024;
/// The most bytes a connection may send before it is authenticated.
pub(crate) const MAX_PRE_AUTH_BYTES: usize = 16 * 1024;
/// Repeated accept errors and refusals are logged at most this often.
const LOG_EVERY: Duration = Duration::from_secs(10);
const FIRST_BACKOFF: Duration = Duration::from_millis(10);
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// What the acceptor needs to start (and to start again).
#[derive(Clone)]
pub(crate) struct AcceptorArgs {
    /// The socket bound at start, kept for the node's life.
    pub(crate) listener: Arc<std::net::TcpListener>,
    /// The registered name of ractor_cluster's node server.
    pub(crate) server: String,
    pub(crate) tls: Option<TlsAcceptor>,
    pub(crate) handshake_timeout: Duration,
    /// The port peers are told to dial.
    pub(crate) advertised_port: u16,
    /// Links are taken (the node speaks their version).
    pub(crate) link: Option<LinkSide>,
}

impl actor_core::Task for AcceptorArgs {
    const WHAT: &'static str = "the node's listener";

    /// Starts the accept loop (run by an [`actor_core::TaskActor`]: the
    /// loop ending by itself is a failure, and the supervisor starts it
    /// again); it ends only when the node server is gone.
    async fn start(
        self,
    ) -> Result<Pin<Box<dyn Future<Output = String> + Send>>, ActorProcessingErr> {
        let server: ActorRef<NodeServerMessage> = ractor::registry::where_is(self.server.clone())
            .ok_or_else(|| format!("no node server named {}", self.server))?
            .into();
        // ractor_cluster tells peers its own listener's port in its
        // greeting; peers must hear ours.
        server.send_message(NodeServerMessage::PortChanged {
            port: self.advertised_port,
        })?;
        let listener = tokio::net::TcpListener::from_std(self.listener.try_clone()?)?;
        let serve = Serve {
            listener,
            server,
            tls: self.tls,
            handshake_timeout: self.handshake_timeout,
            link: self.link,
        };
        Ok(Box::pin(serve.run()))
    }
}

struct Serve {
    listener: tokio::net::TcpListener,
    server: ActorRef<NodeServerMessage>,
    tls: Option<TlsAcceptor>,
    handshake_timeout: Duration,
    link: Option<LinkSide>,
}

/// What the acceptor needs to take links (see [`crate::link`]): none when
/// the node speaks a version without them.
#[derive(Clone)]
pub(crate) struct LinkSide {
    /// The gateway links are handed to.
    pub(crate) gateway: GatewayId,
    /// This node's name.
    pub(crate) node: String,
    pub(crate) key: WireKey,
    pub(crate) wire: u8,
}

/// A connection past its first bytes.
enum Opened {
    /// One for ractor_cluster: its first eight bytes, read already, and
    /// the connection.
    Session { prefix: [u8; 8], conn: BoxConn },
    /// A link, authenticated as `peer`.
    Link { peer: String, conn: BoxConn },
}

/// Runs the TLS handshake if there is one and reads the first bytes: a
/// link's are its magic (and its handshake follows), anything else is
/// ractor_cluster's. The error says why, with the refusal's metric reason.
async fn open(
    tcp: tokio::net::TcpStream,
    tls: Option<TlsAcceptor>,
    link: Option<LinkSide>,
) -> Result<Opened, (String, &'static str)> {
    let mut conn: BoxConn = match tls {
        Some(tls) => Box::new(tls.accept(tcp).await.map_err(|e| (e.to_string(), "tls"))?),
        None => Box::new(tcp),
    };
    let mut prefix = [0u8; 8];
    conn.read_exact(&mut prefix)
        .await
        .map_err(|e| (format!("before its first bytes: {e}"), "closed"))?;
    match link {
        Some(side) if prefix == link::MAGIC => {
            let peer = link::accept(&mut conn, &side.node, &side.key, side.wire)
                .await
                .map_err(|e| (format!("link handshake: {e}"), "link"))?;
            Ok(Opened::Link { peer, conn })
        }
        _ => Ok(Opened::Session { prefix, conn }),
    }
}

/// A connection accepted and holding one of the handshake places.
struct Accepted {
    peer: SocketAddr,
    local: SocketAddr,
    deadline: Instant,
    permit: OwnedSemaphorePermit,
}

impl Serve {
    /// Accepts until the node server is gone; why it stopped.
    async fn run(self) -> String {
        let places = Arc::new(Semaphore::new(MAX_HANDSHAKES));
        let mut handshakes = JoinSet::new();
        let mut errors = Tally::new("cannot accept connections");
        let mut full = Tally::new("closed connections: too many handshakes under way");
        let mut failed = Tally::new("connections closed before they authenticated");
        let mut backoff = FIRST_BACKOFF;
        loop {
            tokio::select! {
                accepted = self.listener.accept() => match accepted {
                    Ok((tcp, peer)) => {
                        backoff = FIRST_BACKOFF;
                        let Ok(permit) = Arc::clone(&places).try_acquire_owned() else {
                            metrics::counter!("foundation_cluster_connections_refused_total", "reason" => "handshakes_full").increment(1);
                            full.note(&peer);
                            continue;
                        };
                        let Ok(local) = tcp.local_addr() else { continue };
                        let _ = tcp.set_nodelay(true);
                        let accepted = Accepted {
                            peer,
                            local,
                            deadline: Instant::now() + self.handshake_timeout,
                            permit,
                        };
                        let (tls, link) = (self.tls.clone(), self.link.clone());
                        handshakes.spawn(async move {
                            let deadline = accepted.deadline;
                            match tokio::time::timeout_at(deadline, open(tcp, tls, link)).await {
                                Ok(Ok(opened)) => Ok((opened, accepted)),
                                Ok(Err((why, reason))) => Err((accepted.peer, why, reason)),
                                Err(_) => Err((
                                    accepted.peer,
                                    "no handshake within the handshake timeout".to_owned(),
                                    "handshake_timeout",
                                )),
                            }
                        });
                    }
                    Err(e) => {
                        metrics::counter!("foundation_cluster_accept_errors_total").increment(1);
                        errors.note(&e);
                        // Out of descriptors (or memory): accepting again at
                        // once only fails again.
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(MAX_BACKOFF);
                    }
                },
                Some(done) = handshakes.join_next(), if !handshakes.is_empty() => match done {
                    Ok(Ok((Opened::Session { prefix, conn }, accepted))) => {
                        let (read, write) = tokio::io::split(conn);
                        let read = io::Cursor::new(prefix).chain(read);
                        if !self.hand_over(read, write, accepted) {
                            return "the node server stopped".to_owned();
                        }
                    }
                    Ok(Ok((Opened::Link { peer, conn }, _accepted))) => {
                        if let Some(link) = &self.link {
                            let msg = GatewayMsg::Inbound { peer, conn };
                            if gateway::send(&link.gateway, msg).is_err() {
                                tracing::debug!("a link closed at once: the gateway is not running");
                            }
                        }
                    }
                    Ok(Err((peer, why, reason))) => {
                        metrics::counter!("foundation_cluster_connections_refused_total", "reason" => reason).increment(1);
                        tracing::debug!(%peer, %why, "connection closed before it authenticated");
                        failed.note(&why);
                    }
                    Err(e) => tracing::warn!("a handshake task ended abnormally: {e}"),
                },
            }
        }
    }

    /// Gives the connection to the node server; false if it is gone.
    fn hand_over<R, W>(&self, read: R, write: W, accepted: Accepted) -> bool
    where
        R: AsyncRead + Send + Unpin + 'static,
        W: AsyncWrite + Send + Unpin + 'static,
    {
        let gate = Arc::new(Gate {
            open: AtomicBool::new(false),
            permit: Mutex::new(Some(accepted.permit)),
        });
        let stream = Inbound {
            read: Box::new(GatedRead {
                inner: read,
                gate: Arc::clone(&gate),
                frames: Frames::default(),
                taken: 0,
                peer: accepted.peer,
                deadline: Box::pin(tokio::time::sleep_until(accepted.deadline)),
            }),
            write: Box::new(GatedWrite {
                inner: write,
                gate,
                frames: Frames::default(),
            }),
            peer: accepted.peer,
            local: accepted.local,
        };
        self.server
            .send_message(NodeServerMessage::ConnectionOpenedExternal {
                stream: Box::new(stream),
                is_server: true,
            })
            .is_ok()
    }
}

/// Counts a repeated condition and logs it at most once per [`LOG_EVERY`].
struct Tally {
    what: &'static str,
    count: u64,
    logged: Option<Instant>,
}

impl Tally {
    fn new(what: &'static str) -> Self {
        Self {
            what,
            count: 0,
            logged: None,
        }
    }

    fn note(&mut self, last: &dyn std::fmt::Display) {
        self.count += 1;
        let now = Instant::now();
        if self.logged.is_none_or(|t| now >= t + LOG_EVERY) {
            tracing::warn!(
                count = self.count,
                "{} ({} since the last report; the last: {last})",
                self.what,
                self.count
            );
            self.count = 0;
            self.logged = Some(now);
        }
    }
}

/// Whether a connection has authenticated, shared by its two halves; until
/// then it holds one of the handshake places.
struct Gate {
    open: AtomicBool,
    permit: Mutex<Option<OwnedSemaphorePermit>>,
}

impl Gate {
    fn is_open(&self) -> bool {
        self.open.load(Ordering::Acquire)
    }

    fn open(&self) {
        self.open.store(true, Ordering::Release);
        self.permit
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
    }
}

/// The outermost protobuf field tags of ractor_cluster's frames: a
/// `NetworkMessage` is `auth` (field 1), and in an authentication message
/// `server_ack` (field 6) is what a server sends once the peer's reply to
/// its challenge is right. Both are length-delimited (wire type 2).
const AUTH_TAG: u8 = (1 << 3) | 2;
const SERVER_ACK_TAG: u8 = (6 << 3) | 2;
/// Enough of a payload to read both tags: a tag, a length (a varint of up
/// to 10 bytes) and the inner tag.
const HEAD: usize = 12;

/// Follows ractor_cluster's framing (a big-endian u64 length, then that
/// many bytes of protobuf) through a byte stream, without keeping payloads.
#[derive(Default, Clone)]
struct Frames {
    header: [u8; 8],
    header_len: usize,
    /// The current frame's length.
    len: u64,
    /// Its payload bytes still to come.
    remaining: u64,
    head: [u8; HEAD],
    head_len: usize,
    /// Its head was reported.
    reported: bool,
}

/// What [`Frames`] reports of each frame.
enum Seen<'a> {
    /// A frame of this many bytes begins.
    Length(u64),
    /// Its first bytes (all of them for a frame shorter than [`HEAD`]).
    Head(&'a [u8]),
}

impl Frames {
    fn feed(
        &mut self,
        mut bytes: &[u8],
        mut on: impl FnMut(Seen<'_>) -> io::Result<()>,
    ) -> io::Result<()> {
        while !bytes.is_empty() {
            if self.header_len < 8 {
                let n = (8 - self.header_len).min(bytes.len());
                self.header[self.header_len..self.header_len + n].copy_from_slice(&bytes[..n]);
                self.header_len += n;
                bytes = &bytes[n..];
                if self.header_len == 8 {
                    self.len = u64::from_be_bytes(self.header);
                    self.remaining = self.len;
                    self.head_len = 0;
                    self.reported = false;
                    on(Seen::Length(self.len))?;
                    if self.len == 0 {
                        on(Seen::Head(&[]))?;
                        self.header_len = 0;
                    }
                }
                continue;
            }
            let n = usize::try_from(self.remaining).map_or(bytes.len(), |r| r.min(bytes.len()));
            if !self.reported {
                let want = usize::try_from(self.len).map_or(HEAD, |len| len.min(HEAD));
                let k = (want - self.head_len).min(n);
                self.head[self.head_len..self.head_len + k].copy_from_slice(&bytes[..k]);
                self.head_len += k;
                if self.head_len == want {
                    self.reported = true;
                    on(Seen::Head(&self.head[..want]))?;
                }
            }
            self.remaining -= n as u64;
            bytes = &bytes[n..];
            if self.remaining == 0 {
                self.header_len = 0;
            }
        }
        Ok(())
    }
}

/// Whether a frame's head is a server's acknowledgement of the peer's
/// challenge reply.
fn is_server_ack(head: &[u8]) -> bool {
    let [AUTH_TAG, rest @ ..] = head else {
        return false;
    };
    // Skip the varint length of the authentication message.
    let Some(end) = rest.iter().position(|b| b & 0x80 == 0) else {
        return false;
    };
    rest.get(end + 1) == Some(&SERVER_ACK_TAG)
}

fn refused(peer: SocketAddr, why: String) -> io::Error {
    metrics::counter!("foundation_cluster_connections_refused_total", "reason" => "pre_auth")
        .increment(1);
    tracing::debug!(%peer, "closing an unauthenticated connection: {why}");
    io::Error::new(io::ErrorKind::InvalidData, why)
}

/// The reading half of an inbound connection: until the gate opens it
/// checks every frame and the deadline.
struct GatedRead<R> {
    inner: R,
    gate: Arc<Gate>,
    frames: Frames,
    taken: usize,
    peer: SocketAddr,
    deadline: Pin<Box<Sleep>>,
}

impl<R: AsyncRead + Unpin> AsyncRead for GatedRead<R> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.gate.is_open() {
            return Pin::new(&mut this.inner).poll_read(cx, buf);
        }
        if this.deadline.as_mut().poll(cx).is_ready() {
            metrics::counter!("foundation_cluster_connections_refused_total", "reason" => "handshake_timeout").increment(1);
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "not authenticated within the handshake timeout",
            )));
        }
        let before = buf.filled().len();
        ready!(Pin::new(&mut this.inner).poll_read(cx, buf))?;
        let (new, peer) = (&buf.filled()[before..], this.peer);
        this.taken += new.len();
        if this.taken > MAX_PRE_AUTH_BYTES {
            return Poll::Ready(Err(refused(
                peer,
                format!("more than {MAX_PRE_AUTH_BYTES} bytes before authenticating"),
            )));
        }
        this.frames.feed(new, |seen| match seen {
            Seen::Length(n) if n > MAX_PRE_AUTH_FRAME => Err(refused(
                peer,
                format!(
                    "a frame of {n} bytes before authenticating (at most {MAX_PRE_AUTH_FRAME})"
                ),
            )),
            Seen::Head(head) if head.first() != Some(&AUTH_TAG) => Err(refused(
                peer,
                format!(
                "a frame other than the handshake's before authenticating (it begins {head:02x?})"
            ),
            )),
            _ => Ok(()),
        })?;
        Poll::Ready(Ok(()))
    }
}

/// The writing half of an inbound connection: it opens the gate when this
/// node acknowledges the peer's challenge reply.
struct GatedWrite<W> {
    inner: W,
    gate: Arc<Gate>,
    frames: Frames,
}

impl<W: AsyncWrite + Unpin> AsyncWrite for GatedWrite<W> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if !this.gate.is_open() {
            // Look before writing: once the acknowledgement is on the wire
            // the peer may answer it before this thread runs again.
            let mut ahead = this.frames.clone();
            let gate = &this.gate;
            ahead.feed(buf, |seen| {
                if matches!(seen, Seen::Head(head) if is_server_ack(head)) {
                    gate.open();
                }
                Ok(())
            })?;
        }
        let n = ready!(Pin::new(&mut this.inner).poll_write(cx, buf))?;
        if !this.gate.is_open() {
            this.frames.feed(&buf[..n], |_| Ok(()))?;
        }
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// An accepted connection, as ractor_cluster takes it.
struct Inbound {
    read: BoxRead,
    write: BoxWrite,
    peer: SocketAddr,
    local: SocketAddr,
}

impl ClusterBidiStream for Inbound {
    fn split(self: Box<Self>) -> (BoxRead, BoxWrite) {
        (self.read, self.write)
    }

    fn peer_label(&self) -> Option<String> {
        Some(self.peer.to_string())
    }

    fn local_label(&self) -> Option<String> {
        Some(self.local.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn frame(payload: &[u8]) -> Vec<u8> {
        let mut f = (payload.len() as u64).to_be_bytes().to_vec();
        f.extend_from_slice(payload);
        f
    }

    /// A ServerStatus, a ServerChallenge and a ServerAck, as ractor_cluster
    /// encodes them (auth = field 1 of NetworkMessage; 2, 4 and 6 inside).
    fn handshake() -> Vec<Vec<u8>> {
        let mut challenge = vec![0x0a, 0x2a, 0x22, 0x28];
        challenge.extend([0x0a; 40]);
        let mut ack = vec![0x0a, 0x24, 0x32, 0x22, 0x0a, 0x20];
        ack.extend([7; 32]);
        vec![
            frame(&[0x0a, 0x02, 0x12, 0x00]),
            frame(&challenge),
            frame(&ack),
        ]
    }

    fn heads(stream: &[u8], chunk: usize) -> Vec<(u64, Vec<u8>)> {
        let mut frames = Frames::default();
        let (mut seen, mut len) = (Vec::new(), 0);
        for part in stream.chunks(chunk) {
            frames
                .feed(part, |s| {
                    match s {
                        Seen::Length(n) => len = n,
                        Seen::Head(h) => seen.push((len, h.to_vec())),
                    }
                    Ok(())
                })
                .unwrap();
        }
        seen
    }

    #[test]
    fn frames_are_followed_across_any_split() {
        let stream: Vec<u8> = handshake().concat();
        let whole = heads(&stream, stream.len());
        assert_eq!(whole.len(), 3);
        assert_eq!(whole[0], (4, vec![0x0a, 0x02, 0x12, 0x00]));
        for chunk in 1..stream.len() {
            assert_eq!(heads(&stream, chunk), whole, "split every {chunk} bytes");
        }
        let acks: Vec<bool> = whole.iter().map(|(_, h)| is_server_ack(h)).collect();
        assert_eq!(acks, [false, false, true]);
    }

    fn gated(
        read: tokio::io::DuplexStream,
        timeout: Duration,
    ) -> (GatedRead<tokio::io::DuplexStream>, Arc<Gate>) {
        let places = Arc::new(Semaphore::new(1));
        let gate = Arc::new(Gate {
            open: AtomicBool::new(false),
            permit: Mutex::new(Some(places.try_acquire_owned().unwrap())),
        });
        let read = GatedRead {
            inner: read,
            gate: Arc::clone(&gate),
            frames: Frames::default(),
            taken: 0,
            peer: "127.0.0.1:1".parse().unwrap(),
            deadline: Box::pin(tokio::time::sleep(timeout)),
        };
        (read, gate)
    }

    async fn read_all(read: &mut GatedRead<tokio::io::DuplexStream>) -> io::Result<usize> {
        let mut buf = vec![0; 64 * 1024];
        let mut total = 0;
        loop {
            match read.read(&mut buf).await? {
                0 => return Ok(total),
                n => total += n,
            }
        }
    }

    #[tokio::test]
    async fn before_authentication_only_small_handshake_frames_pass() {
        // A 16 MiB frame is refused on its header.
        let (mut peer, ours) = tokio::io::duplex(1 << 20);
        let (mut read, _gate) = gated(ours, Duration::from_secs(5));
        peer.write_all(&(16u64 << 20).to_be_bytes()).await.unwrap();
        let err = read_all(&mut read).await.unwrap_err();
        assert!(err.to_string().contains("16777216 bytes"), "{err}");

        // A control message (field 3) before the handshake is refused.
        let (mut peer, ours) = tokio::io::duplex(1 << 20);
        let (mut read, _gate) = gated(ours, Duration::from_secs(5));
        peer.write_all(&frame(&[0x1a, 0x02, 0x0a, 0x00]))
            .await
            .unwrap();
        let err = read_all(&mut read).await.unwrap_err();
        assert!(
            err.to_string().contains("other than the handshake"),
            "{err}"
        );

        // Handshake frames pass; once the gate opens, anything does.
        let (mut peer, ours) = tokio::io::duplex(1 << 20);
        let (mut read, gate) = gated(ours, Duration::from_secs(5));
        peer.write_all(&handshake()[0]).await.unwrap();
        let mut buf = [0; 64];
        assert_eq!(read.read(&mut buf).await.unwrap(), 12);
        gate.open();
        assert!(
            gate.permit.lock().unwrap().is_none(),
            "the place is given back"
        );
        peer.write_all(&frame(&vec![0x1a; 100_000])).await.unwrap();
        drop(peer);
        assert_eq!(read_all(&mut read).await.unwrap(), 100_008);
    }

    #[tokio::test(start_paused = true)]
    async fn an_unauthenticated_connection_ends_at_the_deadline() {
        let (_peer, ours) = tokio::io::duplex(1024);
        let (mut read, _gate) = gated(ours, Duration::from_secs(3));
        let started = Instant::now();
        let err = read_all(&mut read).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert_eq!(started.elapsed(), Duration::from_secs(3));
    }

    #[tokio::test]
    async fn writing_the_acknowledgement_opens_the_gate() {
        let (ours, mut peer) = tokio::io::duplex(1 << 16);
        let gate = Arc::new(Gate {
            open: AtomicBool::new(false),
            permit: Mutex::new(None),
        });
        let mut write = GatedWrite {
            inner: ours,
            gate: Arc::clone(&gate),
            frames: Frames::default(),
        };
        let [status, challenge, ack] = handshake().try_into().unwrap();
        write
            .write_all(&[status, challenge].concat())
            .await
            .unwrap();
        assert!(!gate.is_open());
        write.write_all(&ack).await.unwrap();
        assert!(gate.is_open());
        let mut buf = vec![0; 4096];
        assert!(peer.read(&mut buf).await.unwrap() > 0);
    }
}
