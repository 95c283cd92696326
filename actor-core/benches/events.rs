//! The event store against plain `Vec`s, in one run.
//!
//! * `append`: storing one event into a full store of 10 000 (so one is
//!   pruned each time, the oldest of the most numerous kind, and every index
//!   is updated) vs pushing onto a `Vec`
//!   (cleared whenever it reaches 10 000, so it stays the same size).
//! * `query_correlation`: the 100 events of one correlation id among 10 000
//!   (100 ids, interleaved) through the index vs a linear scan of a `Vec`.
//!   Both clone the matching events.
//!
//! Run: `cargo bench -p actor-core --bench events` (add `-- --quick` for a
//! shorter run). The ratio of medians is printed at the end.

use std::hint::black_box;

use actor_core::{Event, EventStore, EventStoreConfig, Query};
use criterion::{BatchSize, Criterion};

mod support;
use serde_json::json;

const EVENTS: usize = 10_000;
const CORRELATIONS: usize = 100;

fn event(i: usize) -> Event {
    Event::new(format!("kind-{}", i % 10), json!({ "n": i }))
        .correlation(format!("corr-{}", i % CORRELATIONS))
}

fn full_store() -> EventStore {
    let store = EventStore::new(EventStoreConfig::default().capacity(EVENTS)).expect("valid");
    store
        .store_batch((0..EVENTS).map(event))
        .expect("valid events");
    store
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("events");
    let sample = event(42);

    let store = full_store();
    group.bench_function("append_store", |b| {
        b.iter_batched(
            || sample.clone(),
            |e| store.store(e).expect("valid event"),
            BatchSize::SmallInput,
        )
    });
    let mut vec: Vec<Event> = Vec::with_capacity(EVENTS);
    group.bench_function("append_vec", |b| {
        b.iter_batched(
            || sample.clone(),
            |e| {
                if vec.len() == EVENTS {
                    vec.clear();
                }
                vec.push(e);
            },
            BatchSize::SmallInput,
        )
    });

    let store = full_store();
    let query = Query::new().correlation("corr-42");
    assert_eq!(store.query(&query).len(), EVENTS / CORRELATIONS);
    group.bench_function("query_store", |b| b.iter(|| store.query(black_box(&query))));
    let events: Vec<Event> = (0..EVENTS).map(event).collect();
    group.bench_function("query_scan", |b| {
        b.iter(|| {
            let wanted = black_box("corr-42");
            events
                .iter()
                .filter(|e| e.correlation_id.as_deref() == Some(wanted))
                .cloned()
                .collect::<Vec<_>>()
        })
    });
    group.finish();
}

fn main() {
    let mut c = support::criterion("events");
    bench(&mut c);
    c.final_summary();
    support::print_ratios(
        "events",
        &[
            ("append", "append_store", "append_vec"),
            ("query by correlation", "query_store", "query_scan"),
        ],
    );
}
