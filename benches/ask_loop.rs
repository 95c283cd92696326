//! The cost of a local `ask` through a `Ref`, timed in a loop inside a
//! spawned task (no `block_on` per call), against baselines in the same
//! run: a bare ractor `call` and a tokio mpsc + oneshot round trip.
//!
//! Two targets: a ractor actor taking `Request<M>` and a `Server` (several
//! message types, each with its reply type).
//!
//! `cargo bench --bench ask_loop` (`FOUNDATION_ASK_ROUNDS`,
//! `FOUNDATION_ASK_CALLS` to change the 15 rounds of 20,000 calls).

#![allow(clippy::print_stdout, missing_docs)]

use std::time::{Duration, Instant};

use foundation::prelude::*;
use ractor::RpcReplyPort;
use tokio::sync::{mpsc, oneshot};

const ASK: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Add(u64);

impl Message for Add {
    type Reply = u64;
    const TAG: &'static str = "bench.add/1";
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Get;

impl Message for Get {
    type Reply = u64;
    const TAG: &'static str = "bench.get/1";
}

/// A ractor actor behind a `Ref`.
struct Counter;

impl Actor for Counter {
    type Msg = Request<Add>;
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
        let (Add(k), reply) = req.into_parts();
        *n += k;
        reply.send(*n);
        Ok(())
    }
}

/// The same counter as a server answering two message types.
#[derive(Default)]
struct Tally(u64);

impl Server for Tally {
    fn accepts(accepts: &mut Accepts<Self>) {
        accepts.add::<Add>().add::<Get>();
    }
}

impl Handler<Add> for Tally {
    async fn handle(&mut self, Add(k): Add) -> u64 {
        self.0 += k;
        self.0
    }
}

impl Handler<Get> for Tally {
    async fn handle(&mut self, _: Get) -> u64 {
        self.0
    }
}

/// The baseline: a bare ractor actor answering an RPC.
struct Bare;

enum BareMsg {
    Add(u64, RpcReplyPort<u64>),
}

impl ractor::Message for BareMsg {}

impl Actor for Bare {
    type Msg = BareMsg;
    type State = u64;
    type Arguments = ();
    async fn pre_start(&self, _: ActorRef<BareMsg>, _: ()) -> Result<u64, ActorProcessingErr> {
        Ok(0)
    }
    async fn handle(
        &self,
        _: ActorRef<BareMsg>,
        msg: BareMsg,
        n: &mut u64,
    ) -> Result<(), ActorProcessingErr> {
        let BareMsg::Add(k, reply) = msg;
        *n += k;
        let _ = reply.send(*n);
        Ok(())
    }
}

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Nanoseconds per call of `calls` calls of `op`, timed inside this task.
async fn per_call<F, Fut>(calls: usize, mut op: F) -> f64
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let start = Instant::now();
    for _ in 0..calls {
        op().await;
    }
    start.elapsed().as_nanos() as f64 / calls as f64
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let rounds = env("FOUNDATION_ASK_ROUNDS", 15);
    let calls = env("FOUNDATION_ASK_CALLS", 20_000);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let results = rt.block_on(async move {
        let node = Node::builder()
            .name("ask-bench")
            .cookie("bench")
            .listen("127.0.0.1:0".parse().expect("addr"))
            .no_discovery()
            .start()
            .await
            .expect("node");
        let (counter, _) = Actor::spawn(None, Counter, ()).await.expect("counter");
        node.register("counter", &counter).await.expect("register");
        let counter = node.lookup("counter").await.expect("lookup");
        let tally = node.serve("tally", Tally::default).await.expect("serve");
        let (bare, _) = Actor::spawn(None, Bare, ()).await.expect("bare");
        let (tx, mut rx) = mpsc::channel::<(u64, oneshot::Sender<u64>)>(1024);
        let echo = tokio::spawn(async move {
            let mut n = 0;
            while let Some((k, reply)) = rx.recv().await {
                n += k;
                let _ = reply.send(n);
            }
        });
        // Every loop runs in a spawned task: the figure is the ask, not a
        // hand-off to the runtime per call.
        let timed = tokio::spawn(async move {
            let mut figures: [Vec<f64>; 5] = Default::default();
            for _ in 0..rounds {
                figures[0].push(
                    per_call(calls, || async {
                        counter.ask(Add(1), ASK).await.expect("ask");
                    })
                    .await,
                );
                figures[1].push(
                    per_call(calls, || async {
                        tally.ask(Add(1), ASK).await.expect("ask");
                    })
                    .await,
                );
                figures[2].push(
                    per_call(calls, || async {
                        ractor::call!(bare, BareMsg::Add, 1).expect("call");
                    })
                    .await,
                );
                figures[4].push(
                    per_call(calls, || async {
                        ractor::call_t!(bare, BareMsg::Add, 5_000, 1).expect("call");
                    })
                    .await,
                );
                figures[3].push(
                    per_call(calls, || async {
                        let (reply, back) = oneshot::channel();
                        tx.send((1, reply)).await.expect("send");
                        back.await.expect("reply");
                    })
                    .await,
                );
            }
            figures
        });
        let figures = timed.await.expect("timed loops");
        echo.abort();
        node.shutdown().await;
        figures
    });
    let names = [
        "Ref ask, Request<M> actor",
        "Ref ask, Server",
        "bare ractor call",
        "tokio mpsc+oneshot",
        "bare ractor call, timeout",
    ];
    println!("local ask, {rounds} rounds of {calls} calls, ns per call: median (min-max)");
    let mut medians = Vec::new();
    for (name, mut v) in names.iter().zip(results) {
        let (min, max) = (
            v.iter().copied().fold(f64::INFINITY, f64::min),
            v.iter().copied().fold(0.0, f64::max),
        );
        let m = median(&mut v);
        medians.push(m);
        println!("  {name:<28} {m:>8.0} ({min:.0}-{max:.0})");
    }
    println!(
        "  Ref ask / bare ractor call: actor {:.2}x, server {:.2}x; server / actor {:.2}x",
        medians[0] / medians[2],
        medians[1] / medians[2],
        medians[1] / medians[0]
    );
}
