//! Registry lookups against baselines measured in the same run.
//!
//! * `LocalRegistry::lookup::<M>` (typed lookup of a named actor) against a
//!   `std::collections::HashMap` lookup of an `ActorCell` and against bare
//!   `ractor::registry::where_is`;
//! * `ServiceRegistry::lookup` (one request to the registry actor) against
//!   the same two, and against a bare ractor `call` round trip to an actor
//!   that answers with a clone of a similar entry.
//!
//! At the end it prints each figure's median and its ratio to the baselines.
//!
//! Run: `cargo bench -p actor-core --bench registry` (add `-- --quick` for a
//! shorter run).

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::hint::black_box;
use std::time::{Duration, Instant};

use actor_core::{LocalRegistry, Metadata, ServiceRegistry};
use criterion::Criterion;
use ractor::{Actor, ActorCell, ActorProcessingErr, ActorRef, Message, RpcReplyPort};

/// How many other names sit in every map, so that none holds one entry only.
const OTHER_NAMES: usize = 100;

struct Ping(RpcReplyPort<()>);
impl Message for Ping {}

/// The named actor that typed lookups find.
struct Echo;

impl Actor for Echo {
    type Msg = Ping;
    type State = ();
    type Arguments = ();
    async fn pre_start(&self, _: ActorRef<Ping>, _: ()) -> Result<(), ActorProcessingErr> {
        Ok(())
    }
    async fn handle(
        &self,
        _: ActorRef<Ping>,
        Ping(r): Ping,
        _: &mut (),
    ) -> Result<(), ActorProcessingErr> {
        let _ = r.send(());
        Ok(())
    }
}

/// What the bare-call baseline actor answers with: about what a
/// `ServiceEntry` holds.
#[derive(Clone)]
struct Entry {
    _namespace: String,
    _name: String,
    _actor: ActorCell,
    _metadata: Metadata,
}

struct Get(RpcReplyPort<Entry>);
impl Message for Get {}

/// The bare-call baseline: a ractor actor that answers with a clone.
struct Holder;

impl Actor for Holder {
    type Msg = Get;
    type State = Entry;
    type Arguments = Entry;
    async fn pre_start(&self, _: ActorRef<Get>, entry: Entry) -> Result<Entry, ActorProcessingErr> {
        Ok(entry)
    }
    async fn handle(
        &self,
        _: ActorRef<Get>,
        Get(r): Get,
        entry: &mut Entry,
    ) -> Result<(), ActorProcessingErr> {
        let _ = r.send(entry.clone());
        Ok(())
    }
}

/// Per-iteration times of every sample, by benchmark.
#[derive(Default)]
struct Samples(RefCell<HashMap<&'static str, Vec<f64>>>);

impl Samples {
    fn record(&self, name: &'static str, total: Duration, iters: u64) -> Duration {
        let per_iter = total.as_nanos() as f64 / iters.max(1) as f64;
        self.0.borrow_mut().entry(name).or_default().push(per_iter);
        total
    }

    fn median(&self, name: &str) -> Option<f64> {
        let mut xs = self.0.borrow().get(name)?.clone();
        xs.sort_by(f64::total_cmp);
        xs.get(xs.len() / 2).copied()
    }
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    let samples = Samples::default();

    let metadata: Metadata = BTreeMap::from([
        ("version".to_owned(), "1.0.0".to_owned()),
        ("zone".to_owned(), "local".to_owned()),
    ]);
    let (echo, registry, holder, others) = rt.block_on(async {
        let (echo, _) = LocalRegistry::spawn("bench-echo", Echo, ())
            .await
            .expect("spawn echo");
        let mut others = Vec::new();
        for i in 0..OTHER_NAMES {
            let (other, _) = LocalRegistry::spawn(format!("bench-other-{i}"), Echo, ())
                .await
                .expect("spawn other");
            others.push(other);
        }
        let registry = ServiceRegistry::start().await.expect("service registry");
        for (i, other) in others.iter().enumerate() {
            registry
                .register(
                    "bench",
                    format!("other-{i}"),
                    other.get_cell(),
                    metadata.clone(),
                    None,
                )
                .await
                .expect("register other");
        }
        registry
            .register("bench", "echo", echo.get_cell(), metadata.clone(), None)
            .await
            .expect("register echo");
        let entry = Entry {
            _namespace: "bench".into(),
            _name: "echo".into(),
            _actor: echo.get_cell(),
            _metadata: metadata.clone(),
        };
        let (holder, _) = Actor::spawn(None, Holder, entry)
            .await
            .expect("spawn holder");
        (echo, registry, holder, others)
    });

    let mut map: HashMap<String, ActorCell> = others
        .iter()
        .enumerate()
        .map(|(i, a)| (format!("bench-other-{i}"), a.get_cell()))
        .collect();
    map.insert("bench-echo".into(), echo.get_cell());

    c.bench_function("baseline/hashmap_get", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                black_box(map.get(black_box("bench-echo")).cloned());
            }
            samples.record("hashmap", start.elapsed(), iters)
        })
    });
    c.bench_function("baseline/ractor_where_is", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                black_box(ractor::registry::where_is(black_box("bench-echo")));
            }
            samples.record("where_is", start.elapsed(), iters)
        })
    });
    c.bench_function("registry/typed_lookup", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                black_box(LocalRegistry::lookup::<Ping>(black_box("bench-echo")).is_ok());
            }
            samples.record("typed", start.elapsed(), iters)
        })
    });
    c.bench_function("baseline/ractor_call", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    black_box(holder.call(Get, None).await.is_ok());
                }
                samples.record("call", start.elapsed(), iters)
            })
        })
    });
    c.bench_function("registry/service_lookup", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    black_box(registry.lookup("bench", black_box("echo")).await.is_ok());
                }
                samples.record("service", start.elapsed(), iters)
            })
        })
    });
    c.final_summary();

    let median = |name| samples.median(name).unwrap_or(f64::NAN);
    let (hashmap, where_is, typed, call, service) = (
        median("hashmap"),
        median("where_is"),
        median("typed"),
        median("call"),
        median("service"),
    );
    println!();
    if std::env::args().any(|a| a == "--test") {
        println!("(--test mode: one iteration each, so these are not measurements)");
    }
    println!("medians of the per-iteration time of every sample:");
    println!("  HashMap::get (baseline)         {hashmap:>10.1} ns");
    println!("  ractor where_is (baseline)      {where_is:>10.1} ns");
    println!("  ractor call round trip (base.)  {call:>10.1} ns");
    println!(
        "  LocalRegistry::lookup           {typed:>10.1} ns  = {:.2}x HashMap::get, {:.2}x where_is",
        typed / hashmap,
        typed / where_is
    );
    println!(
        "  ServiceRegistry::lookup         {service:>10.1} ns  = {:.2}x HashMap::get, {:.2}x where_is, {:.2}x ractor call",
        service / hashmap,
        service / where_is,
        service / call
    );

    rt.block_on(async {
        registry.stop().await;
        let _ = holder.stop_and_wait(None, None).await;
        let _ = echo.stop_and_wait(None, None).await;
        for other in others {
            let _ = other.stop_and_wait(None, None).await;
        }
    });
}
