//! The metrics registry against bare baselines, in one run.
//!
//! * counter increment through a registry handle, and through the
//!   `metrics::counter!` macro with the registry as local recorder (a key
//!   lookup per call), vs `AtomicU64::fetch_add`;
//! * histogram record through a registry handle vs pushing onto a
//!   `Vec<f64>` (cleared at 10 000 entries).
//!
//! Run: `cargo bench -p actor-core --bench metrics` (add `-- --quick` for a
//! shorter run). The ratios of medians are printed at the end.

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};

use actor_core::MetricsRegistry;
use criterion::Criterion;

mod support;

fn bench(c: &mut Criterion) {
    let registry = MetricsRegistry::new();
    let mut group = c.benchmark_group("metrics");

    let counter = registry.counter(("requests_total", &[("route", "/")]));
    group.bench_function("counter_handle", |b| {
        b.iter(|| counter.increment(black_box(1)))
    });
    group.bench_function("counter_macro", |b| {
        metrics::with_local_recorder(&registry, || {
            b.iter(|| metrics::counter!("requests_total", "route" => "/").increment(black_box(1)))
        })
    });
    let atomic = AtomicU64::new(0);
    group.bench_function("counter_atomic", |b| {
        b.iter(|| atomic.fetch_add(black_box(1), Ordering::Relaxed))
    });

    let histogram = registry.histogram("latency_seconds");
    let mut i = 0u64;
    group.bench_function("histogram_record", |b| {
        b.iter(|| {
            i = i.wrapping_add(1);
            histogram.record(black_box((i % 1000) as f64 * 1e-4));
        })
    });
    let mut values: Vec<f64> = Vec::with_capacity(10_000);
    let mut j = 0u64;
    group.bench_function("vec_push", |b| {
        b.iter(|| {
            j = j.wrapping_add(1);
            if values.len() == 10_000 {
                values.clear();
            }
            values.push(black_box((j % 1000) as f64 * 1e-4));
        })
    });
    group.finish();
}

fn main() {
    let mut c = support::criterion("metrics");
    bench(&mut c);
    c.final_summary();
    support::print_ratios(
        "metrics",
        &[
            (
                "counter handle vs AtomicU64::fetch_add",
                "counter_handle",
                "counter_atomic",
            ),
            (
                "counter! macro vs AtomicU64::fetch_add",
                "counter_macro",
                "counter_atomic",
            ),
            (
                "histogram record vs Vec<f64>::push",
                "histogram_record",
                "vec_push",
            ),
        ],
    );
}
