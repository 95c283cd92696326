//! The sending end of a link dialed to a peer, shared by the link's
//! writer task and everyone who sends to that peer (the gateway, `Ref`s,
//! reply handles).
//!
//! A sender that finds the link idle on plain TCP seals its body and
//! writes it to the socket itself, without a non-blocking write's worth
//! of waiting: a lone ask or reply costs no wake-up of another task. Any
//! other time (the writer is busy, something is queued, the socket is
//! full, the link runs on TLS) the body is queued, and the writer task
//! seals what it finds queued into as few envelopes as it can and writes
//! them in one go. Either way the bytes reach the socket in the order the
//! bodies were sent.

use std::io;
use std::sync::{Arc, Mutex, PoisonError};

use metrics::{Counter, Histogram};
use tokio::io::{AsyncReadExt, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::net::TcpStream;
use tokio::sync::Notify;

use super::{count_bodies, BATCH_BYTES};
use crate::link::{self, BoxConn, Dialed};
use crate::wire::{Body, Envelope, WireKey};

/// How the envelopes to one peer are sealed and counted.
pub(super) struct Sealer {
    /// This node.
    pub(super) me: String,
    /// The peer, for logs.
    pub(super) peer: String,
    pub(super) key: WireKey,
    /// The wire version this node speaks.
    pub(super) wire: u8,
    /// Counts of what a sender writes itself, by kind (tell, ask, reply).
    direct: [Counter; 3],
    bytes: Histogram,
}

impl Sealer {
    pub(super) fn new(me: String, peer: String, key: WireKey, wire: u8) -> Self {
        let counter = |kind| metrics::counter!("foundation_gateway_envelopes_total", "direction" => "out", "kind" => kind);
        Self {
            me,
            peer,
            key,
            wire,
            direct: [counter("tell"), counter("ask"), counter("reply")],
            bytes: metrics::histogram!("foundation_gateway_envelope_bytes", "direction" => "out"),
        }
    }

    /// Seals `bodies` (taking them) into frames at the end of `buf`: one
    /// envelope per [`BATCH_BYTES`] of bodies, a batch if it holds more
    /// than one.
    pub(super) fn seal_into(&self, buf: &mut Vec<u8>, bodies: &mut Vec<Body>) {
        let mut seal = |batch: Vec<Body>| {
            let body = match <[Body; 1]>::try_from(batch) {
                Ok([one]) => one,
                Err(batch) => Body::Batch(batch),
            };
            self.seal_one(buf, &body);
        };
        let total: usize = bodies.iter().map(Body::wire_size).sum();
        if total <= BATCH_BYTES {
            seal(std::mem::take(bodies));
            return;
        }
        let (mut batch, mut size) = (Vec::new(), 0);
        for body in bodies.drain(..) {
            let more = body.wire_size();
            if size + more > BATCH_BYTES && !batch.is_empty() {
                seal(std::mem::take(&mut batch));
                size = 0;
            }
            size += more;
            batch.push(body);
        }
        if !batch.is_empty() {
            seal(batch);
        }
    }

    /// Seals `body` in an envelope of its own, framed at the end of `buf`.
    fn seal_one(&self, buf: &mut Vec<u8>, body: &Body) {
        match Envelope::seal_body(self.wire, &self.me, body, &self.key) {
            Ok(bytes) => {
                self.bytes.record(bytes.len() as f64);
                link::put_frame(buf, &bytes);
            }
            Err(e) => tracing::error!(node = %self.peer, "could not encode envelope: {e}"),
        }
    }

    /// Counts a body a sender wrote itself.
    fn count(&self, body: &Body) {
        match body {
            Body::Tell { .. } => self.direct[0].increment(1),
            Body::Ask { .. } => self.direct[1].increment(1),
            Body::Reply { .. } => self.direct[2].increment(1),
            other => count_bodies("out", std::slice::from_ref(other)),
        }
    }
}

/// See the module documentation.
pub(crate) struct Outlet {
    state: Mutex<State>,
    /// Tells the writer task there is work, or that it is to close.
    wake: Notify,
    sealer: Sealer,
}

#[derive(Default)]
struct State {
    /// Bodies waiting for the writer task.
    bodies: Vec<Body>,
    /// Framed bytes a sender's own write left unwritten (the socket was
    /// full): they go before `bodies`.
    bytes: Vec<u8>,
    /// The writer task is writing: senders queue.
    busy: bool,
    /// The connection, once dialed, if it is plain TCP.
    tcp: Option<Arc<TcpStream>>,
    /// The writer is to send what is queued and close the link.
    closing: bool,
    /// The link is closed: nothing more is taken.
    closed: bool,
}

impl Outlet {
    pub(super) fn new(sealer: Sealer) -> Self {
        Self {
            state: Mutex::default(),
            wake: Notify::new(),
            sealer,
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sends `body` on the link: written now if the link is idle on plain
    /// TCP, else queued for the writer. The body back once the link is
    /// closed or closing.
    pub(crate) fn send(&self, body: Body) -> Result<(), Body> {
        let mut state = self.state();
        if state.closed || state.closing {
            return Err(body);
        }
        let idle = !state.busy && state.bodies.is_empty() && state.bytes.is_empty();
        match state.tcp.as_ref().filter(|_| idle) {
            Some(tcp) => {
                self.sealer.count(&body);
                let mut frame = Vec::new();
                self.sealer.seal_one(&mut frame, &body);
                // Full, or broken: the writer finishes it, or finds out
                // why it cannot.
                let written: usize = tcp.try_write(&frame).unwrap_or_default();
                if written == frame.len() {
                    return Ok(());
                }
                frame.drain(..written);
                state.bytes = frame;
            }
            None => state.bodies.push(body),
        }
        drop(state);
        self.wake.notify_one();
        Ok(())
    }

    /// Takes what is queued for the writer.
    #[cfg(test)]
    pub(super) fn take_queued(&self) -> Vec<Body> {
        std::mem::take(&mut self.state().bodies)
    }

    /// The writer sends what is queued, then closes the link.
    pub(super) fn close(&self) {
        self.state().closing = true;
        self.wake.notify_one();
    }

    /// Nothing more is taken, and what is queued is dropped.
    pub(super) fn shut(&self) {
        let mut state = self.state();
        state.closed = true;
        state.tcp = None;
        state.bodies.clear();
        state.bytes.clear();
    }

    /// The writer task of a dialed link: writes what senders queue until
    /// the link closes; why it closed.
    pub(super) async fn write(&self, conn: Dialed) -> String {
        let mut conn = match conn {
            Dialed::Tcp(tcp) => {
                let tcp = Arc::new(tcp);
                self.state().tcp = Some(Arc::clone(&tcp));
                Conn::Tcp(tcp)
            }
            Dialed::Tls(conn) => {
                let (read, write) = tokio::io::split(conn);
                Conn::Stream(read, write)
            }
        };
        let why = self.write_on(&mut conn).await;
        self.shut();
        why
    }

    async fn write_on(&self, conn: &mut Conn) -> String {
        let mut buf = Vec::new();
        loop {
            match self.work(&mut buf) {
                Work::Close => {
                    conn.shutdown().await;
                    return "closed by this node".to_owned();
                }
                Work::Wait => {
                    if let Err(why) = conn.idle(&self.wake).await {
                        return why;
                    }
                }
                Work::Write(mut bodies) => {
                    count_bodies("out", &bodies);
                    self.sealer.seal_into(&mut buf, &mut bodies);
                    if let Err(e) = conn.write_all(&buf).await {
                        return e.to_string();
                    }
                    if buf.capacity() > 4 * 1024 * 1024 {
                        buf = Vec::new();
                    }
                }
            }
        }
    }

    /// What the writer does next: with something to write, the bytes left
    /// over go into `buf` and the bodies come out (and senders queue until
    /// it is written).
    fn work(&self, buf: &mut Vec<u8>) -> Work {
        let mut state = self.state();
        if state.bodies.is_empty() && state.bytes.is_empty() {
            state.busy = false;
            return if state.closing {
                Work::Close
            } else {
                Work::Wait
            };
        }
        state.busy = true;
        buf.clear();
        buf.append(&mut state.bytes);
        Work::Write(std::mem::take(&mut state.bodies))
    }
}

/// See [`Outlet::work`].
enum Work {
    Write(Vec<Body>),
    Wait,
    Close,
}

/// A dialed link's connection, as its writer uses it.
enum Conn {
    /// Plain TCP, shared with the senders that write to it directly.
    Tcp(Arc<TcpStream>),
    /// TLS: the writer alone writes.
    Stream(ReadHalf<BoxConn>, WriteHalf<BoxConn>),
}

impl Conn {
    /// Waits for work (`wake`) while watching for the peer closing the
    /// link (it never writes on it); why the link closed, if it did.
    async fn idle(&mut self, wake: &Notify) -> Result<(), String> {
        let mut probe = [0u8; 64];
        let read = match self {
            Self::Tcp(tcp) => {
                tokio::select! {
                    () = wake.notified() => return Ok(()),
                    r = tcp.readable() => match r {
                        Ok(()) => tcp.try_read(&mut probe),
                        Err(e) => Err(e),
                    },
                }
            }
            Self::Stream(read, _) => {
                tokio::select! {
                    () = wake.notified() => return Ok(()),
                    r = read.read(&mut probe) => r,
                }
            }
        };
        match read {
            Ok(0) => Err("closed by the peer".to_owned()),
            Ok(_) => Err("the peer wrote on a link it only reads".to_owned()),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
            Err(e) => Err(e.to_string()),
        }
    }

    async fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match self {
            Self::Tcp(tcp) => {
                let mut at = 0;
                while at < buf.len() {
                    tcp.writable().await?;
                    match tcp.try_write(&buf[at..]) {
                        Ok(n) => at += n,
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                        Err(e) => return Err(e),
                    }
                }
                Ok(())
            }
            Self::Stream(_, write) => {
                write.write_all(buf).await?;
                write.flush().await
            }
        }
    }

    /// Ends the link from this side, after what was written.
    async fn shutdown(&mut self) {
        // Plain TCP closes when the last holder drops it (after the
        // writer shut the outlet).
        if let Self::Stream(_, write) = self {
            let _ = write.shutdown().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::open;
    use crate::link::LINK_WIRE;
    use crate::wire::MAX_ENVELOPE_BYTES;
    use serde_bytes::ByteBuf;
    use tokio::io::BufReader;

    fn key() -> WireKey {
        WireKey::new("test", "cookie")
    }

    fn tell(n: u32) -> Body {
        Body::Tell {
            to: "counter".into(),
            tag: "t/1".into(),
            payload: ByteBuf::from(n.to_be_bytes().to_vec()),
        }
    }

    #[tokio::test]
    async fn what_is_sent_arrives_in_order_and_closing_writes_it_all_first() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        let outlet = Arc::new(Outlet::new(Sealer::new(
            "a".into(),
            "b".into(),
            key(),
            LINK_WIRE,
        )));
        // Sent before the link is dialed: queued.
        outlet.send(tell(0)).unwrap();
        let writer = tokio::spawn({
            let outlet = Arc::clone(&outlet);
            async move { outlet.write(Dialed::Tcp(client)).await }
        });
        // Sent from several tasks at once: some written directly, some
        // queued, some in between (each task's own order is kept).
        let senders: Vec<_> = (0..4u32)
            .map(|t| {
                let outlet = Arc::clone(&outlet);
                tokio::spawn(async move {
                    for i in 0..500u32 {
                        outlet.send(tell(1 + t * 1000 + i)).unwrap();
                        if i % 50 == 0 {
                            tokio::task::yield_now().await;
                        }
                    }
                })
            })
            .collect();
        for sender in senders {
            sender.await.unwrap();
        }
        outlet.close();
        assert!(
            outlet.send(tell(9999)).is_err(),
            "a closing link takes nothing"
        );
        let mut read = BufReader::new(server);
        let mut got = Vec::new();
        while let Some(frame) = link::read_frame(&mut read, MAX_ENVELOPE_BYTES)
            .await
            .unwrap()
        {
            let (from, bodies) = open(&key(), LINK_WIRE, &frame).expect("opens");
            assert_eq!(from, "a");
            for body in bodies {
                let Body::Tell { payload, .. } = body else {
                    panic!("not a tell");
                };
                got.push(u32::from_be_bytes(payload[..].try_into().unwrap()));
            }
        }
        assert_eq!(writer.await.unwrap(), "closed by this node");
        assert_eq!(got.len(), 2001, "every body, then the end of the link");
        assert_eq!(got[0], 0);
        for t in 0..4u32 {
            let mine: Vec<u32> = got
                .iter()
                .copied()
                .filter(|n| (1 + t * 1000..1 + t * 1000 + 500).contains(n))
                .collect();
            let expected: Vec<u32> = (0..500).map(|i| 1 + t * 1000 + i).collect();
            assert_eq!(mine, expected, "sender {t} in order");
        }
    }

    #[tokio::test]
    async fn the_peer_closing_ends_the_writer_and_the_outlet_refuses() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        let outlet = Arc::new(Outlet::new(Sealer::new(
            "a".into(),
            "b".into(),
            key(),
            LINK_WIRE,
        )));
        let writer = tokio::spawn({
            let outlet = Arc::clone(&outlet);
            async move { outlet.write(Dialed::Tcp(client)).await }
        });
        drop(server);
        let why = tokio::time::timeout(std::time::Duration::from_secs(5), writer)
            .await
            .expect("the writer saw the close")
            .unwrap();
        assert_eq!(why, "closed by the peer");
        assert!(outlet.send(tell(1)).is_err());
    }
}
