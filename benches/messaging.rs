//! Messaging cost against baselines measured in the same run:
//!
//! * local `tell` + `ask` through a Foundation `Ref` vs a bare ractor
//!   `call` vs a raw tokio mpsc + oneshot round trip;
//! * remote `ask` to a node in another process vs a raw TCP round trip of
//!   the same size on loopback, to an echo in another process too.
//!
//! Each sample times a loop of operations inside a task spawned on the
//! multi-thread runtime (criterion's `iter_custom`): one `block_on` per
//! sample, not per operation, which would time a thread hand-off (15-30 µs
//! here) instead of the operation.
//!
//! `cargo bench --bench messaging` (add `-- --quick` for a shorter run).

#![allow(clippy::print_stdout, missing_docs)]

use std::future::Future;
use std::time::{Duration, Instant};

use foundation::prelude::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};

#[path = "baselines/mod.rs"]
mod baselines;
#[path = "../tests/support/mod.rs"]
mod nodes;
#[path = "../actor-core/benches/support/mod.rs"]
mod support;

use baselines::{start_tcp_echo, tcp_echo, Bare, BareMsg, FRAME};
use nodes::CounterMsg;

const ASK: Duration = Duration::from_secs(5);

struct Counter;
impl Actor for Counter {
    type Msg = Request<CounterMsg>;
    type State = u64;
    type Arguments = ();
    async fn pre_start(&self, _: ActorRef<Self::Msg>, _: ()) -> Result<u64, ActorProcessingErr> {
        Ok(0)
    }
    async fn handle(
        &self,
        _: ActorRef<Self::Msg>,
        req: Self::Msg,
        n: &mut u64,
    ) -> Result<(), ActorProcessingErr> {
        let (msg, reply) = req.into_parts();
        if let CounterMsg::Add(k) = msg {
            *n += k;
        }
        reply.send(*n);
        Ok(())
    }
}

/// Runs a timing loop to its end inside a task on `rt`, and answers the
/// time it measured.
fn timed(
    rt: &tokio::runtime::Runtime,
    timing: impl Future<Output = Duration> + Send + 'static,
) -> Duration {
    rt.block_on(rt.spawn(timing)).expect("timing task")
}

fn main() {
    if std::env::args().any(|a| a == "--tcp-echo") {
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        rt.block_on(tcp_echo());
        return;
    }
    let (mut echo, echo_port) = start_tcp_echo();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let mut c = support::criterion("messaging");
    let (node, counter_ref, bare, tokio_tx, remote, tcp, _peer) = rt.block_on(async {
        let peer = nodes::NodeSpec::new("bench-peer").counter("remote-counter");
        let (node, peer) = nodes::joined_to(peer, "bench").await;
        let (counter, _) = Actor::spawn(None, Counter, ()).await.expect("counter");
        node.register("local-counter", &counter)
            .await
            .expect("register");
        let counter_ref = node.lookup("local-counter").await.expect("lookup");
        let remote = loop {
            match node.lookup("remote-counter").await {
                Ok(r) => break r,
                Err(ClusterError::UnknownName(_)) => tokio::task::yield_now().await,
                Err(e) => panic!("remote counter: {e}"),
            }
        };
        let (bare, _) = Actor::spawn(None, Bare, ()).await.expect("bare");
        // A tokio task answering over channels: the floor for an in-process round trip.
        let (tokio_tx, mut rx) = mpsc::channel::<(u64, oneshot::Sender<u64>)>(1024);
        tokio::spawn(async move {
            let mut n = 0;
            while let Some((k, reply)) = rx.recv().await {
                n += k;
                let _ = reply.send(n);
            }
        });
        // A raw TCP echo in another process, frames the size of an
        // encoded ask.
        let tcp_addr = std::net::SocketAddr::from(([127, 0, 0, 1], echo_port));
        let tcp = tokio::net::TcpStream::connect(tcp_addr)
            .await
            .expect("connect");
        tcp.set_nodelay(true).expect("nodelay");
        (
            node,
            counter_ref,
            bare,
            tokio_tx,
            remote,
            std::sync::Arc::new(tokio::sync::Mutex::new(tcp)),
            peer,
        )
    });

    let mut group = c.benchmark_group("messaging");
    group.bench_function("foundation_local_ask", |b| {
        b.iter_custom(|iters| {
            let counter = counter_ref.clone();
            timed(&rt, async move {
                let start = Instant::now();
                for _ in 0..iters {
                    counter.ask(CounterMsg::Add(1), ASK).await.expect("ask");
                }
                start.elapsed()
            })
        })
    });
    group.bench_function("ractor_call", |b| {
        b.iter_custom(|iters| {
            let bare = bare.clone();
            timed(&rt, async move {
                let start = Instant::now();
                for _ in 0..iters {
                    ractor::call!(bare, BareMsg::Add, 1).expect("call");
                }
                start.elapsed()
            })
        })
    });
    group.bench_function("tokio_channels", |b| {
        b.iter_custom(|iters| {
            let tokio_tx = tokio_tx.clone();
            timed(&rt, async move {
                let start = Instant::now();
                for _ in 0..iters {
                    let (tx, rx) = oneshot::channel();
                    tokio_tx.send((1, tx)).await.expect("send");
                    rx.await.expect("reply");
                }
                start.elapsed()
            })
        })
    });
    group.bench_function("foundation_local_tell", |b| {
        b.iter_custom(|iters| {
            let counter = counter_ref.clone();
            timed(&rt, async move {
                let start = Instant::now();
                for _ in 0..iters {
                    counter.tell(CounterMsg::Add(1)).expect("tell");
                }
                start.elapsed()
            })
        })
    });
    group.bench_function("ractor_cast", |b| {
        b.iter_custom(|iters| {
            let bare = bare.clone();
            timed(&rt, async move {
                let start = Instant::now();
                for _ in 0..iters {
                    bare.send_message(BareMsg::Inc(1)).expect("cast");
                }
                start.elapsed()
            })
        })
    });
    group.bench_function("foundation_remote_ask", |b| {
        b.iter_custom(|iters| {
            let remote = remote.clone();
            timed(&rt, async move {
                let start = Instant::now();
                for _ in 0..iters {
                    remote
                        .ask(CounterMsg::Add(1), ASK)
                        .await
                        .expect("remote ask");
                }
                start.elapsed()
            })
        })
    });
    group.bench_function("raw_tcp_round_trip", |b| {
        b.iter_custom(|iters| {
            let tcp = std::sync::Arc::clone(&tcp);
            timed(&rt, async move {
                let mut s = tcp.lock().await;
                let buf = [7u8; FRAME];
                let mut back = [0u8; FRAME];
                let start = Instant::now();
                for _ in 0..iters {
                    s.write_all(&buf).await.expect("write");
                    s.read_exact(&mut back).await.expect("read");
                }
                start.elapsed()
            })
        })
    });
    group.finish();
    c.final_summary();
    rt.block_on(node.shutdown());
    let _ = echo.kill();
    let _ = echo.wait();
    support::print_ratios(
        "messaging",
        &[
            (
                "local ask vs bare ractor call",
                "foundation_local_ask",
                "ractor_call",
            ),
            (
                "local ask vs tokio mpsc+oneshot",
                "foundation_local_ask",
                "tokio_channels",
            ),
            (
                "local tell vs bare ractor cast",
                "foundation_local_tell",
                "ractor_cast",
            ),
            (
                "remote ask vs raw TCP round trip between two processes",
                "foundation_remote_ask",
                "raw_tcp_round_trip",
            ),
        ],
    );
}
