//! Metrics: counters, gauges and histograms with quantiles, fed through the
//! [`metrics`] facade, read back as a [`MetricsSnapshot`] or as Prometheus
//! text.
//!
//! Libraries (this one included) *emit* with `metrics::counter!`,
//! `metrics::gauge!`, `metrics::histogram!` or [`measure`]; a binary
//! *installs* a [`MetricsRegistry`] once with [`MetricsRegistry::install`] and
//! from then on every emission in the process lands in it. A registry also
//! works on its own, without being installed: [`MetricsRegistry::counter`]
//! and friends hand out the same handles the macros would.
//!
//! Histograms keep a DDSketch ([`metrics_util::storage::Summary`]) per key,
//! so memory stays bounded however many samples arrive, and quantiles are
//! within 0.1 % (relative) of the true value.

use std::collections::{BTreeMap, HashMap};
use std::fmt::{self, Write as _};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use metrics::{
    Counter, Gauge, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder, SharedString, Unit,
};
use metrics_util::registry::{Registry, Storage};
use metrics_util::storage::Summary;
use serde::{Deserialize, Serialize};

/// What can go wrong with telemetry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TelemetryError {
    /// [`MetricsRegistry::install`] was called while a global recorder was
    /// already set (by an earlier `install` or by another library); the
    /// facade allows one per process.
    #[error("a global metrics recorder is already installed; only one can be set per process")]
    RecorderAlreadySet,
}

/// The quantiles reported for every histogram.
const QUANTILES: [(f64, &str); 3] = [(0.5, "0.5"), (0.9, "0.9"), (0.99, "0.99")];

/// Relative error, bucket budget and zero threshold of each histogram's
/// sketch: 0.1 % error, at most 8192 buckets (64 KiB), values below 1 ns
/// (in seconds) count as zero.
fn new_summary() -> Summary {
    Summary::new(0.001, 8192, 1.0e-9)
}

/// One histogram: a quantile sketch behind a short lock.
struct HistogramCell {
    summary: Mutex<Summary>,
}

impl HistogramCell {
    fn read(&self) -> (u64, f64, [Option<f64>; 3]) {
        let summary = self.summary.lock().unwrap_or_else(|e| e.into_inner());
        let quantiles = QUANTILES.map(|(q, _)| summary.quantile(q));
        (
            summary.count() as u64,
            summary.sum().unwrap_or(0.0),
            quantiles,
        )
    }
}

impl HistogramFn for HistogramCell {
    fn record(&self, value: f64) {
        // A sketch cannot place NaN or infinities; they are dropped.
        if value.is_finite() {
            self.summary
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .add(value);
        }
    }
}

/// How [`Registry`] creates the storage behind each new key.
struct Cells;

impl Storage<Key> for Cells {
    type Counter = Arc<AtomicU64>;
    /// `f64` bits, as the facade's `GaugeFn for AtomicU64` expects.
    type Gauge = Arc<AtomicU64>;
    type Histogram = Arc<HistogramCell>;

    fn counter(&self, _: &Key) -> Self::Counter {
        Arc::new(AtomicU64::new(0))
    }

    fn gauge(&self, _: &Key) -> Self::Gauge {
        Arc::new(AtomicU64::new(0.0f64.to_bits()))
    }

    fn histogram(&self, _: &Key) -> Self::Histogram {
        Arc::new(HistogramCell {
            summary: Mutex::new(new_summary()),
        })
    }
}

struct Inner {
    registry: Registry<Key, Cells>,
    /// Metric name -> description, from the `describe_*!` macros.
    descriptions: RwLock<HashMap<String, SharedString>>,
}

/// A metrics registry: counters, gauges and histograms by key (a name plus
/// labels), and a [`metrics::Recorder`].
///
/// Cloning gives another handle to the same metrics. Install it to receive
/// what the [`metrics`] macros emit, or use it directly:
///
/// ```
/// use actor_core::MetricsRegistry;
///
/// let registry = MetricsRegistry::new();
/// registry.counter(("requests_total", &[("route", "/")])).increment(1);
/// let answer = registry.measure("work_seconds", || 6 * 7);
/// assert_eq!(answer, 42);
///
/// let snapshot = registry.snapshot();
/// assert_eq!(snapshot.counter("requests_total", &[("route", "/")]), Some(1));
/// assert_eq!(snapshot.histogram("work_seconds", &[]).map(|h| h.count), Some(1));
/// assert!(registry.render_prometheus().contains("# TYPE work_seconds summary"));
/// ```
#[derive(Clone)]
pub struct MetricsRegistry {
    inner: Arc<Inner>,
}

impl fmt::Debug for MetricsRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetricsRegistry").finish_non_exhaustive()
    }
}

impl Default for MetricsRegistry {
    fn default() -> Self {
        Self::new()
    }
}

impl MetricsRegistry {
    /// An empty registry, not installed.
    pub fn new() -> Self {
        Self {
            inner: Arc::new(Inner {
                registry: Registry::new(Cells),
                descriptions: RwLock::new(HashMap::new()),
            }),
        }
    }

    /// Makes this registry the process-wide recorder of the [`metrics`]
    /// facade, so that `metrics::counter!` and friends anywhere land here.
    /// Call it once, early, from the binary.
    ///
    /// # Errors
    ///
    /// [`TelemetryError::RecorderAlreadySet`] if any global recorder is
    /// already set; the one in place stays.
    pub fn install(&self) -> Result<(), TelemetryError> {
        match metrics::set_global_recorder(self.clone()) {
            Ok(()) => {
                tracing::info!("metrics registry installed as the global recorder");
                Ok(())
            }
            Err(_) => {
                tracing::warn!("metrics registry not installed: a global recorder is already set");
                Err(TelemetryError::RecorderAlreadySet)
            }
        }
    }

    /// The counter for `key` (a name, or `(name, &[(label, value), ..])`),
    /// created at zero on first use.
    pub fn counter(&self, key: impl Into<Key>) -> Counter {
        Counter::from_arc(self.counter_cell(&key.into()))
    }

    /// The gauge for `key`, created at zero on first use.
    pub fn gauge(&self, key: impl Into<Key>) -> Gauge {
        Gauge::from_arc(self.gauge_cell(&key.into()))
    }

    /// The histogram for `key`, created empty on first use.
    ///
    /// Each histogram keeps a DDSketch (`metrics_util`'s `Summary`), so its
    /// memory is bounded (at most about 64 KiB) however many samples arrive,
    /// and its quantiles are within 0.1 % (relative) of a true sample value.
    /// NaN and infinite samples are dropped.
    pub fn histogram(&self, key: impl Into<Key>) -> Histogram {
        Histogram::from_arc(self.histogram_cell(&key.into()))
    }

    /// Runs `f`, records how long it took (in seconds) in the histogram
    /// `key`, and returns what `f` returned.
    pub fn measure<T>(&self, key: impl Into<Key>, f: impl FnOnce() -> T) -> T {
        let key = key.into();
        let start = std::time::Instant::now();
        let out = f();
        record_elapsed(&self.histogram(key.clone()), &key, start.elapsed());
        out
    }

    /// Awaits `fut`, records how long it took (in seconds, on tokio's clock)
    /// in the histogram `key`, and returns its output.
    ///
    /// # Cancel safety
    ///
    /// If the returned future is dropped before `fut` completes, nothing is
    /// recorded.
    pub async fn measure_async<F: Future>(&self, key: impl Into<Key>, fut: F) -> F::Output {
        let key = key.into();
        let start = tokio::time::Instant::now();
        let out = fut.await;
        record_elapsed(&self.histogram(key.clone()), &key, start.elapsed());
        out
    }

    /// The current value of every metric, sorted by name and labels.
    pub fn snapshot(&self) -> MetricsSnapshot {
        let mut snapshot = MetricsSnapshot::default();
        let registry = &self.inner.registry;
        registry.visit_counters(|key, cell| {
            snapshot.counters.push(CounterValue {
                name: key.name().to_owned(),
                labels: labels_of(key),
                value: cell.load(Ordering::Relaxed),
            });
        });
        registry.visit_gauges(|key, cell| {
            snapshot.gauges.push(GaugeValue {
                name: key.name().to_owned(),
                labels: labels_of(key),
                value: f64::from_bits(cell.load(Ordering::Relaxed)),
            });
        });
        registry.visit_histograms(|key, cell| {
            let (count, sum, [p50, p90, p99]) = cell.read();
            snapshot.histograms.push(HistogramValue {
                name: key.name().to_owned(),
                labels: labels_of(key),
                count,
                sum,
                p50,
                p90,
                p99,
            });
        });
        let order =
            |a: &(&String, &BTreeMap<String, String>), b: &(&String, &BTreeMap<_, _>)| a.cmp(b);
        snapshot
            .counters
            .sort_by(|a, b| order(&(&a.name, &a.labels), &(&b.name, &b.labels)));
        snapshot
            .gauges
            .sort_by(|a, b| order(&(&a.name, &a.labels), &(&b.name, &b.labels)));
        snapshot
            .histograms
            .sort_by(|a, b| order(&(&a.name, &a.labels), &(&b.name, &b.labels)));
        snapshot
    }

    /// Every metric in the Prometheus text exposition format (version
    /// 0.0.4): a `# HELP` and a `# TYPE` line per metric family, counters and
    /// gauges as they are, histograms as summaries with `quantile` labels
    /// 0.5, 0.9 and 0.99 plus `_sum` and `_count`. Names and label names are
    /// sanitized (invalid characters become `_`), label values escaped.
    ///
    /// If two metrics of different types sanitize to the same name, the
    /// second is left out (with a `tracing` warning) so the output stays valid.
    pub fn render_prometheus(&self) -> String {
        let snapshot = self.snapshot();
        let descriptions = self
            .inner
            .descriptions
            .read()
            .unwrap_or_else(|e| e.into_inner());
        let mut families: BTreeMap<String, Family> = BTreeMap::new();
        for c in &snapshot.counters {
            if let Some((name, f)) = family(&mut families, &descriptions, &c.name, "counter") {
                f.lines.push(sample(&name, &c.labels, None, c.value as f64));
            }
        }
        for g in &snapshot.gauges {
            if let Some((name, f)) = family(&mut families, &descriptions, &g.name, "gauge") {
                f.lines.push(sample(&name, &g.labels, None, g.value));
            }
        }
        for h in &snapshot.histograms {
            if let Some((name, f)) = family(&mut families, &descriptions, &h.name, "summary") {
                for ((_, q), v) in QUANTILES.iter().zip([h.p50, h.p90, h.p99]) {
                    let v = v.unwrap_or(f64::NAN);
                    f.lines.push(sample(&name, &h.labels, Some(q), v));
                }
                let sum_name = format!("{name}_sum");
                let count_name = format!("{name}_count");
                f.lines.push(sample(&sum_name, &h.labels, None, h.sum));
                f.lines
                    .push(sample(&count_name, &h.labels, None, h.count as f64));
            }
        }
        let mut out = String::new();
        for (name, f) in &families {
            let _ = writeln!(out, "# HELP {name} {}", escape_help(&f.help));
            let _ = writeln!(out, "# TYPE {name} {}", f.kind);
            for line in &f.lines {
                out.push_str(line);
                out.push('\n');
            }
        }
        tracing::debug!(
            families = families.len(),
            bytes = out.len(),
            "rendered Prometheus text"
        );
        out
    }

    fn counter_cell(&self, key: &Key) -> Arc<AtomicU64> {
        self.inner.registry.get_or_create_counter(key, Arc::clone)
    }

    fn gauge_cell(&self, key: &Key) -> Arc<AtomicU64> {
        self.inner.registry.get_or_create_gauge(key, Arc::clone)
    }

    fn histogram_cell(&self, key: &Key) -> Arc<HistogramCell> {
        self.inner.registry.get_or_create_histogram(key, Arc::clone)
    }

    fn describe(&self, key: KeyName, description: SharedString) {
        self.inner
            .descriptions
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key.as_str().to_owned(), description);
    }
}

impl Recorder for MetricsRegistry {
    fn describe_counter(&self, key: KeyName, _unit: Option<Unit>, description: SharedString) {
        self.describe(key, description);
    }

    fn describe_gauge(&self, key: KeyName, _unit: Option<Unit>, description: SharedString) {
        self.describe(key, description);
    }

    fn describe_histogram(&self, key: KeyName, _unit: Option<Unit>, description: SharedString) {
        self.describe(key, description);
    }

    fn register_counter(&self, key: &Key, _metadata: &Metadata<'_>) -> Counter {
        Counter::from_arc(self.counter_cell(key))
    }

    fn register_gauge(&self, key: &Key, _metadata: &Metadata<'_>) -> Gauge {
        Gauge::from_arc(self.gauge_cell(key))
    }

    fn register_histogram(&self, key: &Key, _metadata: &Metadata<'_>) -> Histogram {
        Histogram::from_arc(self.histogram_cell(key))
    }
}

static MEASURE_METADATA: Metadata<'static> =
    Metadata::new(module_path!(), metrics::Level::INFO, Some(module_path!()));

/// Runs `f`, records how long it took (in seconds) in the histogram `key` of
/// whichever recorder the [`metrics`] facade has (the installed
/// [`MetricsRegistry`], a local recorder, or none), and returns what `f`
/// returned.
pub fn measure<T>(key: impl Into<Key>, f: impl FnOnce() -> T) -> T {
    let key = key.into();
    let start = std::time::Instant::now();
    let out = f();
    let elapsed = start.elapsed();
    let histogram = metrics::with_recorder(|r| r.register_histogram(&key, &MEASURE_METADATA));
    record_elapsed(&histogram, &key, elapsed);
    out
}

/// Awaits `fut` and records how long it took (in seconds, on tokio's clock)
/// in the histogram `key` of the facade's recorder, like [`measure`].
///
/// The recorder is looked up when `fut` completes, on the thread that polls
/// it then.
///
/// # Cancel safety
///
/// If the returned future is dropped before `fut` completes, nothing is
/// recorded.
pub async fn measure_async<F: Future>(key: impl Into<Key>, fut: F) -> F::Output {
    let key = key.into();
    let start = tokio::time::Instant::now();
    let out = fut.await;
    let elapsed = start.elapsed();
    let histogram = metrics::with_recorder(|r| r.register_histogram(&key, &MEASURE_METADATA));
    record_elapsed(&histogram, &key, elapsed);
    out
}

fn record_elapsed(histogram: &Histogram, key: &Key, elapsed: std::time::Duration) {
    let seconds = elapsed.as_secs_f64();
    histogram.record(seconds);
    tracing::trace!(metric = key.name(), seconds, "measured");
}

fn labels_of(key: &Key) -> BTreeMap<String, String> {
    key.labels()
        .map(|l| (l.key().to_owned(), l.value().to_owned()))
        .collect()
}

/// The value of every metric at one moment; see [`MetricsRegistry::snapshot`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MetricsSnapshot {
    /// All counters.
    pub counters: Vec<CounterValue>,
    /// All gauges.
    pub gauges: Vec<GaugeValue>,
    /// All histograms.
    pub histograms: Vec<HistogramValue>,
}

impl MetricsSnapshot {
    /// The counter `name` with exactly these labels (in any order).
    pub fn counter(&self, name: &str, labels: &[(&str, &str)]) -> Option<u64> {
        find(&self.counters, name, labels, |c| (&c.name, &c.labels)).map(|c| c.value)
    }

    /// The gauge `name` with exactly these labels (in any order).
    pub fn gauge(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        find(&self.gauges, name, labels, |g| (&g.name, &g.labels)).map(|g| g.value)
    }

    /// The histogram `name` with exactly these labels (in any order).
    pub fn histogram(&self, name: &str, labels: &[(&str, &str)]) -> Option<&HistogramValue> {
        find(&self.histograms, name, labels, |h| (&h.name, &h.labels))
    }
}

fn find<'a, T>(
    items: &'a [T],
    name: &str,
    labels: &[(&str, &str)],
    parts: impl Fn(&T) -> (&String, &BTreeMap<String, String>),
) -> Option<&'a T> {
    items.iter().find(|item| {
        let (n, l) = parts(item);
        n == name
            && l.len() == labels.len()
            && labels
                .iter()
                .all(|(k, v)| l.get(*k).is_some_and(|x| x == v))
    })
}

/// A counter in a [`MetricsSnapshot`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CounterValue {
    /// The metric name.
    pub name: String,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// The count.
    pub value: u64,
}

/// A gauge in a [`MetricsSnapshot`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct GaugeValue {
    /// The metric name.
    pub name: String,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// The value.
    pub value: f64,
}

/// A histogram in a [`MetricsSnapshot`]. Quantiles are `None` while it has
/// no sample.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct HistogramValue {
    /// The metric name.
    pub name: String,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// How many samples were recorded.
    pub count: u64,
    /// The sum of the samples.
    pub sum: f64,
    /// The median, within the sketch's 0.1 % relative error.
    pub p50: Option<f64>,
    /// The 90th percentile.
    pub p90: Option<f64>,
    /// The 99th percentile.
    pub p99: Option<f64>,
}

struct Family {
    kind: &'static str,
    help: String,
    lines: Vec<String>,
}

/// The family that the metric `name` of type `kind` belongs to, with its
/// sanitized name; `None` (and a warning) if that name is taken by another type.
fn family<'a>(
    families: &'a mut BTreeMap<String, Family>,
    descriptions: &HashMap<String, SharedString>,
    name: &str,
    kind: &'static str,
) -> Option<(String, &'a mut Family)> {
    let sanitized = sanitize_metric_name(name);
    let entry = families.entry(sanitized.clone()).or_insert_with(|| Family {
        kind,
        help: descriptions
            .get(name)
            .map_or_else(|| name.to_owned(), |d| d.to_string()),
        lines: Vec::new(),
    });
    if entry.kind != kind {
        tracing::warn!(
            metric = name,
            family = %sanitized,
            "metric left out of the Prometheus text: its sanitized name is taken by a {}",
            entry.kind
        );
        return None;
    }
    Some((sanitized, entry))
}

/// `name{labels} value`, with an optional `quantile` label last.
fn sample(
    name: &str,
    labels: &BTreeMap<String, String>,
    quantile: Option<&str>,
    value: f64,
) -> String {
    let mut line = String::from(name);
    let mut pairs: Vec<(String, &str)> = labels
        .iter()
        .map(|(k, v)| (sanitize_label_name(k), v.as_str()))
        .collect();
    if let Some(q) = quantile {
        pairs.push(("quantile".to_owned(), q));
    }
    if !pairs.is_empty() {
        line.push('{');
        for (i, (k, v)) in pairs.iter().enumerate() {
            if i > 0 {
                line.push(',');
            }
            let _ = write!(line, "{k}=\"{}\"", escape_label_value(v));
        }
        line.push('}');
    }
    line.push(' ');
    line.push_str(&format_value(value));
    line
}

fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_owned()
    } else if v == f64::INFINITY {
        "+Inf".to_owned()
    } else if v == f64::NEG_INFINITY {
        "-Inf".to_owned()
    } else {
        v.to_string()
    }
}

/// `[a-zA-Z_:][a-zA-Z0-9_:]*`: anything else becomes `_`.
fn sanitize_metric_name(name: &str) -> String {
    sanitize(name, |c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// `[a-zA-Z_][a-zA-Z0-9_]*`: anything else becomes `_`.
fn sanitize_label_name(name: &str) -> String {
    sanitize(name, |c| c.is_ascii_alphanumeric() || c == '_')
}

fn sanitize(name: &str, allowed: impl Fn(char) -> bool) -> String {
    let mut out: String = name
        .chars()
        .map(|c| if allowed(c) { c } else { '_' })
        .collect();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

fn escape_label_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

fn escape_help(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_sanitized() {
        assert_eq!(
            sanitize_metric_name("http.requests-total"),
            "http_requests_total"
        );
        assert_eq!(sanitize_metric_name("9lives"), "_9lives");
        assert_eq!(sanitize_metric_name(""), "_");
        assert_eq!(sanitize_metric_name("ns:ok_1"), "ns:ok_1");
        assert_eq!(sanitize_label_name("a:b"), "a_b");
        assert_eq!(sanitize_metric_name("é"), "_");
    }

    #[test]
    fn label_values_and_help_are_escaped() {
        assert_eq!(escape_label_value("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
        assert_eq!(escape_help("x\\y\nz"), "x\\\\y\\nz");
    }

    #[test]
    fn special_values_use_prometheus_spelling() {
        assert_eq!(format_value(f64::NAN), "NaN");
        assert_eq!(format_value(f64::INFINITY), "+Inf");
        assert_eq!(format_value(f64::NEG_INFINITY), "-Inf");
        assert_eq!(format_value(2.5), "2.5");
        assert_eq!(format_value(3.0), "3");
    }

    #[test]
    fn non_finite_samples_are_dropped() {
        let registry = MetricsRegistry::new();
        let h = registry.histogram("h");
        h.record(f64::NAN);
        h.record(f64::INFINITY);
        h.record(1.0);
        let snap = registry.snapshot();
        let h = snap.histogram("h", &[]).unwrap();
        assert_eq!(h.count, 1);
        assert_eq!(h.sum, 1.0);
    }

    #[test]
    fn colliding_names_of_different_types_keep_the_text_valid() {
        let registry = MetricsRegistry::new();
        registry.counter("a.b").increment(1);
        registry.gauge("a_b").set(2.0);
        let text = registry.render_prometheus();
        assert_eq!(text.matches("# TYPE a_b").count(), 1, "{text}");
    }
}
