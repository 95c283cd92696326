//! Restart latency: a panicking child restarted by a Foundation supervisor,
//! against a bare ractor parent that respawns its child itself.
//!
//! `cargo bench -p actor-core --bench supervisor`

use std::time::{Duration, Instant};

use actor_core::{ChildSpec, Supervisor, SupervisorSpec};
use criterion::Criterion;
use ractor::{Actor, ActorProcessingErr, ActorRef, SupervisionEvent};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

mod support;

/// Announces each start, panics on any message.
struct Child(UnboundedSender<ActorRef<()>>);

impl Actor for Child {
    type Msg = ();
    type State = ();
    type Arguments = ();
    async fn pre_start(&self, me: ActorRef<()>, _: ()) -> Result<(), ActorProcessingErr> {
        let _ = self.0.send(me);
        Ok(())
    }
    async fn handle(&self, _: ActorRef<()>, _: (), _: &mut ()) -> Result<(), ActorProcessingErr> {
        Err("asked to fail".into())
    }
}

/// The baseline: a bare ractor parent that respawns its child on failure.
struct BareParent(UnboundedSender<ActorRef<()>>);

impl Actor for BareParent {
    type Msg = ();
    type State = ();
    type Arguments = ();
    async fn pre_start(&self, me: ActorRef<()>, _: ()) -> Result<(), ActorProcessingErr> {
        Actor::spawn_linked(None, Child(self.0.clone()), (), me.get_cell()).await?;
        Ok(())
    }
    async fn handle_supervisor_evt(
        &self,
        me: ActorRef<()>,
        ev: SupervisionEvent,
        _: &mut (),
    ) -> Result<(), ActorProcessingErr> {
        if let SupervisionEvent::ActorFailed(..) = ev {
            Actor::spawn_linked(None, Child(self.0.clone()), (), me.get_cell()).await?;
        }
        Ok(())
    }
}

/// Fails the current child `iters` times, timing each failure → new start.
async fn restarts(started: &mut UnboundedReceiver<ActorRef<()>>, iters: u64) -> Duration {
    let mut current = started.recv().await.expect("first start");
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let t = Instant::now();
        current.send_message(()).expect("child alive");
        current = started.recv().await.expect("restarted");
        total += t.elapsed();
    }
    total
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let mut group = c.benchmark_group("restart");
    group.bench_function("foundation_supervisor", |b| {
        b.to_async(&rt).iter_custom(|iters| async move {
            let (tx, mut rx) = unbounded_channel();
            let spec = SupervisorSpec::one_for_one()
                .intensity(u32::MAX, Duration::from_secs(1))
                .child(ChildSpec::new("child", move || (Child(tx.clone()), ())));
            let sup = Supervisor::start(spec).await.expect("supervisor");
            let took = restarts(&mut rx, iters).await;
            sup.stop().await;
            took
        })
    });
    group.bench_function("bare_ractor_respawn", |b| {
        b.to_async(&rt).iter_custom(|iters| async move {
            let (tx, mut rx) = unbounded_channel();
            let (parent, handle) = Actor::spawn(None, BareParent(tx), ())
                .await
                .expect("parent");
            let took = restarts(&mut rx, iters).await;
            parent.stop(None);
            let _ = handle.await;
            took
        })
    });
    group.finish();
}

fn main() {
    let mut c = support::criterion("restart");
    bench(&mut c);
    c.final_summary();
    support::print_ratios(
        "restart",
        &[(
            "supervisor restart vs bare ractor respawn",
            "foundation_supervisor",
            "bare_ractor_respawn",
        )],
    );
}
