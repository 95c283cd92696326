//! Metrics: the registry used directly, through the `metrics` macros, its
//! quantiles, `measure`, snapshots and Prometheus text.

use std::time::Duration;

use actor_core::{measure, measure_async, MetricsRegistry, MetricsSnapshot, TelemetryError};

#[test]
fn counters_gauges_and_histograms_through_the_registry() {
    let registry = MetricsRegistry::new();
    let hits = registry.counter("hits");
    hits.increment(2);
    registry.counter("hits").increment(3);
    registry.counter(("hits", &[("route", "/a")])).increment(1);
    let g = registry.gauge("queue_depth");
    g.set(10.0);
    g.increment(2.5);
    g.decrement(0.5);
    registry.histogram("latency").record(0.25);
    registry.histogram("latency").record(0.75);

    let snap = registry.snapshot();
    assert_eq!(snap.counter("hits", &[]), Some(5));
    assert_eq!(snap.counter("hits", &[("route", "/a")]), Some(1));
    assert_eq!(snap.counter("hits", &[("route", "/b")]), None);
    assert_eq!(snap.gauge("queue_depth", &[]), Some(12.0));
    let h = snap.histogram("latency", &[]).unwrap();
    assert_eq!(h.count, 2);
    assert!((h.sum - 1.0).abs() < 1e-12);
}

#[test]
fn the_metrics_macros_land_in_a_local_recorder() {
    let registry = MetricsRegistry::new();
    metrics::with_local_recorder(&registry, || {
        metrics::counter!("jobs_total", "queue" => "mail").increment(1);
        metrics::counter!("jobs_total", "queue" => "mail").increment(1);
        metrics::gauge!("workers").set(4.0);
        metrics::histogram!("job_seconds").record(1.5);
        metrics::describe_counter!("jobs_total", "Jobs run.");
    });
    // Outside the closure, emissions no longer reach this registry.
    metrics::counter!("jobs_total", "queue" => "mail").increment(100);

    let snap = registry.snapshot();
    assert_eq!(snap.counter("jobs_total", &[("queue", "mail")]), Some(2));
    assert_eq!(snap.gauge("workers", &[]), Some(4.0));
    assert_eq!(snap.histogram("job_seconds", &[]).unwrap().count, 1);
    assert!(registry
        .render_prometheus()
        .contains("# HELP jobs_total Jobs run.\n"));
}

#[test]
fn percentiles_of_one_to_a_hundred() {
    let registry = MetricsRegistry::new();
    let h = registry.histogram("x");
    for v in 1..=100 {
        h.record(f64::from(v));
    }
    let snap = registry.snapshot();
    let x = snap.histogram("x", &[]).unwrap();
    assert_eq!(x.count, 100);
    assert!((x.sum - 5050.0).abs() < 1e-9);
    // The sketch answers within 0.1 % of a sample at the requested rank;
    // the rank itself may fall on either neighbour.
    let near = |got: Option<f64>, want: f64| {
        let got = got.expect("quantile of a non-empty histogram");
        assert!(
            (want - 1.0) * 0.999 <= got && got <= (want + 1.0) * 1.001,
            "got {got}, want about {want}"
        );
    };
    near(x.p50, 50.0);
    near(x.p90, 90.0);
    near(x.p99, 99.0);
}

#[test]
fn an_empty_histogram_has_no_quantiles() {
    let registry = MetricsRegistry::new();
    let _ = registry.histogram("never");
    let snap = registry.snapshot();
    let h = snap.histogram("never", &[]).unwrap();
    assert_eq!((h.count, h.p50, h.p99), (0, None, None));
    let text = registry.render_prometheus();
    assert!(text.contains("never{quantile=\"0.5\"} NaN\n"), "{text}");
    assert!(text.contains("never_count 0\n"), "{text}");
}

#[test]
fn measure_records_one_sample_and_returns_the_result() {
    let registry = MetricsRegistry::new();
    let out = registry.measure(("step_seconds", &[("step", "parse")]), || "done");
    assert_eq!(out, "done");
    let snap = registry.snapshot();
    let h = snap
        .histogram("step_seconds", &[("step", "parse")])
        .unwrap();
    assert_eq!(h.count, 1);
    assert!(h.sum >= 0.0);

    // The free function goes through the facade's recorder.
    let out = metrics::with_local_recorder(&registry, || measure("free_seconds", || 7));
    assert_eq!(out, 7);
    assert_eq!(
        registry
            .snapshot()
            .histogram("free_seconds", &[])
            .unwrap()
            .count,
        1
    );
}

#[tokio::test(start_paused = true)]
async fn measure_async_records_elapsed_seconds() {
    let registry = MetricsRegistry::new();
    let out = registry
        .measure_async("wait_seconds", async {
            tokio::time::sleep(Duration::from_secs(2)).await;
            "woke"
        })
        .await;
    assert_eq!(out, "woke");
    let snap = registry.snapshot();
    let h = snap.histogram("wait_seconds", &[]).unwrap();
    assert_eq!(h.count, 1);
    assert!(
        (h.sum - 2.0).abs() < 1e-6,
        "paused clock: exactly 2 s, got {}",
        h.sum
    );

    // The free variant: the recorder is looked up when the future completes.
    let fut = measure_async("free_wait_seconds", async {
        tokio::time::sleep(Duration::from_millis(500)).await;
    });
    let guard = metrics::set_default_local_recorder(&registry);
    fut.await;
    drop(guard);
    let h = registry.snapshot();
    let h = h.histogram("free_wait_seconds", &[]).unwrap();
    assert_eq!(h.count, 1);
    assert!((h.sum - 0.5).abs() < 1e-6);
}

#[test]
fn snapshot_is_serde_serialisable() {
    let registry = MetricsRegistry::new();
    registry.counter(("c", &[("k", "v")])).increment(3);
    registry.gauge("g").set(-1.5);
    registry.histogram("h").record(2.0);
    let snap = registry.snapshot();
    let json = serde_json::to_value(&snap).unwrap();
    assert_eq!(json["counters"][0]["name"], "c");
    assert_eq!(json["counters"][0]["labels"]["k"], "v");
    assert_eq!(json["counters"][0]["value"], 3);
    assert_eq!(json["gauges"][0]["value"], -1.5);
    assert_eq!(json["histograms"][0]["count"], 1);
    let back: MetricsSnapshot = serde_json::from_value(json).unwrap();
    assert_eq!(back, snap);
}

#[test]
fn prometheus_text_for_a_known_set_of_metrics() {
    let registry = MetricsRegistry::new();
    metrics::with_local_recorder(&registry, || {
        metrics::describe_counter!("http.requests", "Requests\nserved.");
    });
    registry
        .counter(("http.requests", &[("path", "/a\"b\\c"), ("code", "200")]))
        .increment(7);
    registry.gauge(("temp", &[("room", "lab\n2")])).set(21.5);
    let h = registry.histogram("rpc_seconds");
    for v in [1.0, 2.0, 3.0, 4.0] {
        h.record(v);
    }
    let text = registry.render_prometheus();

    let expected = "\
# HELP http_requests Requests\\nserved.
# TYPE http_requests counter
http_requests{code=\"200\",path=\"/a\\\"b\\\\c\"} 7
# HELP rpc_seconds rpc_seconds
# TYPE rpc_seconds summary
rpc_seconds{quantile=\"0.5\"} Q
rpc_seconds{quantile=\"0.9\"} Q
rpc_seconds{quantile=\"0.99\"} Q
rpc_seconds_sum 10
rpc_seconds_count 4
# HELP temp temp
# TYPE temp gauge
temp{room=\"lab\\n2\"} 21.5
";
    // Quantile values come from the sketch; check them apart, structurally.
    let mut masked = String::new();
    for line in text.lines() {
        match line.strip_prefix("rpc_seconds{quantile=\"") {
            Some(rest) => {
                let (q, value) = rest.split_once("\"} ").unwrap();
                let value: f64 = value.parse().unwrap();
                let want = match q {
                    "0.5" => 2.0,
                    _ => 4.0,
                };
                assert!((value - want).abs() <= 1.0 + 0.01, "q{q} = {value}");
                masked.push_str(&format!("rpc_seconds{{quantile=\"{q}\"}} Q\n"));
            }
            None => {
                masked.push_str(line);
                masked.push('\n');
            }
        }
    }
    assert_eq!(masked, expected);
    check_exposition(&text);
}

#[test]
fn prometheus_text_is_well_formed_for_awkward_names() {
    let registry = MetricsRegistry::new();
    registry.counter("9-lives.total").increment(1);
    registry
        .counter(("x", &[("bad-label", "v"), ("ok", "\"")]))
        .increment(1);
    registry.gauge("ünïcode").set(f64::NAN);
    registry.gauge("neg").set(f64::NEG_INFINITY);
    registry.histogram("h.h").record(0.001);
    let text = registry.render_prometheus();
    check_exposition(&text);
    assert!(text.contains("_9_lives_total 1\n"), "{text}");
    assert!(
        text.contains("x{bad_label=\"v\",ok=\"\\\"\"} 1\n"),
        "{text}"
    );
    assert!(text.contains("neg -Inf\n"), "{text}");
}

#[test]
fn install_sets_the_global_recorder_once() {
    // The only test in this binary that touches the global recorder.
    let registry = MetricsRegistry::new();
    registry.install().expect("first install succeeds");
    let second = MetricsRegistry::new();
    assert_eq!(second.install(), Err(TelemetryError::RecorderAlreadySet));

    // Emissions from any thread now land in the installed registry.
    std::thread::spawn(|| metrics::counter!("from_thread").increment(1))
        .join()
        .unwrap();
    assert_eq!(registry.snapshot().counter("from_thread", &[]), Some(1));
    assert_eq!(second.snapshot().counter("from_thread", &[]), None);
}

/// A tiny exposition-format check: comments are `# HELP name text` or
/// `# TYPE name type`, declared once per family before its samples; every
/// other line is `name{labels} value` with valid names, properly quoted and
/// escaped label values, and a float value.
fn check_exposition(text: &str) {
    assert!(text.ends_with('\n'), "ends with a newline");
    let mut typed = std::collections::HashSet::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            let (keyword, name) = (parts.next().unwrap(), parts.next().unwrap());
            assert!(valid_metric_name(name), "bad name in {line:?}");
            match keyword {
                "HELP" => assert!(parts.next().is_some(), "{line:?}"),
                "TYPE" => {
                    let kind = parts.next().unwrap();
                    assert!(["counter", "gauge", "summary"].contains(&kind), "{line:?}");
                    assert!(typed.insert(name.to_owned()), "TYPE twice: {line:?}");
                }
                _ => panic!("unknown comment {line:?}"),
            }
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("name and value");
        assert!(
            value.parse::<f64>().is_ok() || ["NaN", "+Inf", "-Inf"].contains(&value),
            "bad value in {line:?}"
        );
        let (name, labels) = match series.split_once('{') {
            Some((name, labels)) => (name, labels.strip_suffix('}').expect("closing brace")),
            None => (series, ""),
        };
        assert!(valid_metric_name(name), "bad name in {line:?}");
        let family = ["_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s).filter(|f| typed.contains(*f)))
            .unwrap_or(name);
        assert!(typed.contains(family), "sample before its TYPE: {line:?}");
        check_labels(labels, line);
    }
}

fn check_labels(mut rest: &str, line: &str) {
    while !rest.is_empty() {
        let (name, after) = rest.split_once("=\"").expect("label=\"value\"");
        assert!(valid_label_name(name), "bad label name in {line:?}");
        // Walk the quoted value, honouring escapes.
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next().expect("unterminated label value") {
                (_, '\\') => {
                    let (_, c) = chars.next().expect("dangling escape");
                    assert!(['\\', '"', 'n'].contains(&c), "bad escape in {line:?}");
                }
                (_, '\n') => panic!("raw newline in {line:?}"),
                (i, '"') => break i,
                _ => {}
            }
        };
        rest = &after[end + 1..];
        rest = rest.strip_prefix(',').unwrap_or(rest);
    }
}

fn valid_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}
