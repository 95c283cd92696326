//! Structured events and a bounded, queryable, in-memory event store.
//!
//! An [`Event`] is a record of something that happened: a `kind` (a dotted
//! name such as `"agent.started"`), a JSON payload, and the ids that tie
//! events together (a correlation id shared by everything one request caused,
//! and the id of the parent event). The [`EventStore`] keeps the most recent
//! events in memory, answers [`Query`]s by kind, time range and correlation
//! id, and pushes matching events to subscribers as they are stored.
//!
//! The store is a cheap-to-clone handle over shared state; every method takes
//! a short lock and none of them awaits. It prunes *lazily*: events beyond the
//! capacity are dropped (oldest first) when new ones arrive, and events older
//! than `max_age` are dropped on the next call to any method. Nothing runs in
//! the background.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::ops::Bound;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;
use tokio::time::Instant;

/// Something that happened, with what it carried and what it belongs to.
///
/// Build one with [`Event::new`] and the builder methods; the store assigns
/// [`id`](Event::id) when the event is stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Event {
    /// The store-assigned id: `0` until the event is stored, then unique and
    /// increasing within one [`EventStore`].
    pub id: u64,
    /// What happened, e.g. `"agent.started"`. Never empty in a store.
    pub kind: String,
    /// Whatever the producer attached.
    pub payload: serde_json::Value,
    /// Ties together every event caused by one request or operation.
    pub correlation_id: Option<String>,
    /// The id of the event that caused this one.
    pub parent_id: Option<u64>,
    /// When it happened, in milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
    /// The node that produced it, if it matters.
    pub node: Option<String>,
}

impl Event {
    /// An event of `kind` carrying `payload`, timestamped now.
    #[must_use]
    pub fn new(kind: impl Into<String>, payload: serde_json::Value) -> Self {
        Self {
            id: 0,
            kind: kind.into(),
            payload,
            correlation_id: None,
            parent_id: None,
            timestamp_ms: to_ms(SystemTime::now()),
            node: None,
        }
    }

    /// Sets the correlation id.
    #[must_use]
    pub fn correlation(mut self, id: impl Into<String>) -> Self {
        self.correlation_id = Some(id.into());
        self
    }

    /// Sets the id of the parent event.
    #[must_use]
    pub fn parent(mut self, id: u64) -> Self {
        self.parent_id = Some(id);
        self
    }

    /// Sets the node that produced the event.
    #[must_use]
    pub fn node(mut self, node: impl Into<String>) -> Self {
        self.node = Some(node.into());
        self
    }

    /// Sets the timestamp (by default the time of [`Event::new`]). Times
    /// before the Unix epoch are stored as the epoch.
    #[must_use]
    pub fn at(mut self, time: SystemTime) -> Self {
        self.timestamp_ms = to_ms(time);
        self
    }

    /// The timestamp as a [`SystemTime`].
    pub fn time(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(self.timestamp_ms)
    }
}

/// A JSON object built field by field, for [`EventStore::store_fields`]:
/// written as it is built into the compact form the store keeps, so an
/// event that carries a few strings and numbers costs no
/// `serde_json::Value` (a map node, a string per key) to store.
///
/// It holds only what JSON holds (strings, integers, nulls), so it reads
/// back exactly as the object [`serde_json::json!`] would make of the same
/// fields. A key given twice keeps its last value, as in a `Value`.
///
/// ```
/// use actor_core::{EventStore, EventStoreConfig, Fields};
/// use serde_json::json;
///
/// # fn main() -> Result<(), actor_core::EventError> {
/// let store = EventStore::new(EventStoreConfig::default())?;
/// let fields = Fields::new().str("id", "a-1").u64("epoch", 2).opt_str("was", None);
/// let id = store.store_fields("agent.status", Some("n1"), fields)?;
/// let event = store.get(id).expect("stored");
/// assert_eq!(event.payload, json!({"id": "a-1", "epoch": 2, "was": null}));
/// assert_eq!(event.node.as_deref(), Some("n1"));
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Fields {
    /// Room for the longest map header (written once the count is
    /// known, by `finish`), then each key and value in MessagePack.
    bytes: Vec<u8>,
    count: u32,
}

/// MessagePack's map16 and map32 markers: the longer headers `Fields`
/// writes once it knows its count.
const MAP16: u8 = 0xde;
const MAP32: u8 = 0xdf;

impl Default for Fields {
    fn default() -> Self {
        Self::new()
    }
}

impl Fields {
    /// An empty object.
    #[must_use]
    pub fn new() -> Self {
        let mut bytes = Vec::with_capacity(96);
        bytes.extend_from_slice(&[0; 5]);
        Self { bytes, count: 0 }
    }

    /// Adds `key` with a string value.
    #[must_use]
    pub fn str(self, key: &str, value: &str) -> Self {
        self.field(key, &value)
    }

    /// Adds `key` with an integer value.
    #[must_use]
    pub fn u64(self, key: &str, value: u64) -> Self {
        self.field(key, &value)
    }

    /// Adds `key` with a string value, or `null` for `None`.
    #[must_use]
    pub fn opt_str(self, key: &str, value: Option<&str>) -> Self {
        self.field(key, &value)
    }

    fn field<T: Serialize + ?Sized>(mut self, key: &str, value: &T) -> Self {
        // Strings, integers and options of them always encode (into a Vec,
        // nothing can fail).
        let _ = rmp_serde::encode::write(&mut self.bytes, key);
        let _ = rmp_serde::encode::write(&mut self.bytes, value);
        self.count += 1;
        self
    }

    /// The object in MessagePack, its count written in the shortest
    /// header that holds it (the room left before it unused).
    fn finish(&mut self) -> &[u8] {
        let count = self.count;
        let start = if let Ok(small @ 0..=15) = u8::try_from(count) {
            // A fixmap: the count in the marker itself.
            self.bytes[4] = 0x80 | small;
            4
        } else if let Ok(count) = u16::try_from(count) {
            self.bytes[2] = MAP16;
            self.bytes[3..5].copy_from_slice(&count.to_be_bytes());
            2
        } else {
            self.bytes[0] = MAP32;
            self.bytes[1..5].copy_from_slice(&count.to_be_bytes());
            0
        };
        &self.bytes[start..]
    }
}

fn to_ms(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// What can go wrong with events.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EventError {
    /// An event without a kind was offered to the store.
    #[error("event rejected: its kind is empty (payload {payload})")]
    EmptyKind {
        /// The offending event's payload, to help find its producer.
        payload: String,
    },
    /// An [`EventStoreConfig`] value is out of range.
    #[error("invalid event store config: `{field}` {reason}")]
    InvalidConfig {
        /// The field at fault.
        field: &'static str,
        /// Why it is refused.
        reason: &'static str,
    },
}

/// Limits of an [`EventStore`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct EventStoreConfig {
    /// How many events are kept; when full, each new one drops the oldest
    /// event of the kind the store holds most of (see [`EventStore`]).
    /// Default 10 000. Must be at least 1.
    pub capacity: usize,
    /// Events stored longer ago than this are dropped. Default: none.
    /// Must not be zero.
    pub max_age: Option<Duration>,
    /// How many matching events each subscription buffers before its oldest
    /// unread ones are overwritten (see [`EventStore::subscribe`]). Default
    /// 1024. Must be at least 1.
    pub subscriber_buffer: usize,
}

impl Default for EventStoreConfig {
    fn default() -> Self {
        Self {
            capacity: 10_000,
            max_age: None,
            subscriber_buffer: 1024,
        }
    }
}

impl EventStoreConfig {
    /// Sets [`capacity`](Self::capacity).
    #[must_use]
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity;
        self
    }

    /// Sets [`max_age`](Self::max_age).
    #[must_use]
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = Some(max_age);
        self
    }

    /// Sets [`subscriber_buffer`](Self::subscriber_buffer).
    #[must_use]
    pub fn subscriber_buffer(mut self, buffer: usize) -> Self {
        self.subscriber_buffer = buffer;
        self
    }

    fn validate(&self) -> Result<(), EventError> {
        let invalid = |field, reason| Err(EventError::InvalidConfig { field, reason });
        if self.capacity == 0 {
            return invalid("capacity", "must be at least 1");
        }
        if self.subscriber_buffer == 0 {
            return invalid("subscriber_buffer", "must be at least 1");
        }
        if self.max_age == Some(Duration::ZERO) {
            return invalid("max_age", "must not be zero");
        }
        Ok(())
    }
}

/// A filter over events, with a limit and an order for [`EventStore::query`].
///
/// Every condition set must hold; a query with none matches every event.
///
/// ```
/// use actor_core::Query;
/// use std::time::{Duration, SystemTime};
///
/// let last_hour = SystemTime::now() - Duration::from_secs(3600);
/// let q = Query::new().kind("agent.failed").since(last_hour).newest_first().limit(10);
/// # let _ = q;
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[must_use]
pub struct Query {
    kind: Option<String>,
    correlation_id: Option<String>,
    since_ms: Option<u64>,
    before_ms: Option<u64>,
    limit: Option<usize>,
    newest_first: bool,
}

impl Query {
    /// A query that matches every event, oldest first, without a limit.
    pub fn new() -> Self {
        Self::default()
    }

    /// Only events of this kind.
    pub fn kind(mut self, kind: impl Into<String>) -> Self {
        self.kind = Some(kind.into());
        self
    }

    /// Only events with this correlation id.
    pub fn correlation(mut self, id: impl Into<String>) -> Self {
        self.correlation_id = Some(id.into());
        self
    }

    /// Only events timestamped at or after `time` (millisecond precision).
    pub fn since(mut self, time: SystemTime) -> Self {
        self.since_ms = Some(to_ms(time));
        self
    }

    /// Only events timestamped strictly before `time` (millisecond precision).
    pub fn before(mut self, time: SystemTime) -> Self {
        self.before_ms = Some(to_ms(time));
        self
    }

    /// At most `n` events (the first `n` in the query's order).
    /// Ignored by [`EventStore::subscribe`].
    pub fn limit(mut self, n: usize) -> Self {
        self.limit = Some(n);
        self
    }

    /// Newest events first instead of oldest first (with [`limit`](Self::limit):
    /// the `n` most recent). Ignored by [`EventStore::subscribe`].
    pub fn newest_first(mut self) -> Self {
        self.newest_first = true;
        self
    }

    /// Whether `event` passes the filter (limit and order aside).
    pub fn matches(&self, event: &Event) -> bool {
        self.matches_parts(
            &event.kind,
            event.correlation_id.as_deref(),
            event.timestamp_ms,
        )
    }

    /// [`matches`](Self::matches), on what the filter reads.
    fn matches_parts(&self, kind: &str, correlation: Option<&str>, timestamp_ms: u64) -> bool {
        self.kind.as_deref().is_none_or(|k| k == kind)
            && self
                .correlation_id
                .as_deref()
                .is_none_or(|c| correlation == Some(c))
            && self.since_ms.is_none_or(|t| timestamp_ms >= t)
            && self.before_ms.is_none_or(|t| timestamp_ms < t)
    }
}

/// A bounded in-memory event store with indexes and subscriptions.
///
/// Cloning gives another handle to the same store; every method takes a
/// short lock and none awaits.
///
/// ```
/// use actor_core::{Event, EventStore, EventStoreConfig, Query};
/// use serde_json::json;
///
/// # fn main() -> Result<(), actor_core::EventError> {
/// let store = EventStore::new(EventStoreConfig::default())?;
/// let root = store.store(Event::new("order.placed", json!({"sku": "A-1"})).correlation("req-7"))?;
/// store.store(Event::new("order.paid", json!({})).correlation("req-7").parent(root))?;
///
/// let trail = store.query(&Query::new().correlation("req-7"));
/// assert_eq!(trail.len(), 2);
/// assert_eq!(trail[1].parent_id, Some(root));
/// # Ok(()) }
/// ```
///
/// **Pruning.** At most [`capacity`](EventStoreConfig::capacity) events are
/// kept. When a new one comes to a full store, the oldest event of the kind
/// it holds most of is dropped (of two kinds as numerous, the one with the
/// older event): a burst of one kind (a hundred thousand agents reporting
/// their status) replaces its own older events, not the few of the other
/// kinds (a peer's arrival, a failure) stored before it. With a
/// [`max_age`](EventStoreConfig::max_age), an event is dropped once it has
/// been in the store that long; age runs on tokio's monotonic clock (so
/// `tokio::time::pause` governs it in tests) from the moment the event was
/// stored, not from its own timestamp. Pruning happens on every call, so an
/// idle store holds on to old events until it is next used.
///
/// **Indexes.** Queries by kind or correlation id read only the matching
/// events; a time-range query reads only the events in the range.
#[derive(Debug, Clone)]
pub struct EventStore {
    inner: Arc<Mutex<Inner>>,
}

/// An event as the store keeps it, compact: a store holds thousands, and
/// a JSON object as a `serde_json::Value` (a B-tree node, a string per key)
/// took about 1 KB for a five-field payload, where its MessagePack takes
/// under 100 bytes. Its kind and correlation id are the index's own copy,
/// its node that of the event stored before it when they are the same.
/// Read back as an [`Event`].
#[derive(Debug)]
struct Stored {
    kind: Arc<str>,
    /// The payload in MessagePack: exact for every JSON value (numbers
    /// keep their type and bits).
    payload: Box<[u8]>,
    correlation_id: Option<Arc<str>>,
    parent_id: Option<u64>,
    timestamp_ms: u64,
    node: Option<Arc<str>>,
    stored_at: Instant,
}

impl Stored {
    /// The event `id` this is.
    fn event(&self, id: u64) -> Event {
        Event {
            id,
            kind: self.kind.to_string(),
            payload: decode(&self.payload),
            correlation_id: self.correlation_id.as_deref().map(str::to_owned),
            parent_id: self.parent_id,
            timestamp_ms: self.timestamp_ms,
            node: self.node.as_deref().map(str::to_owned),
        }
    }
}

/// A stored payload as JSON. Written by `insert` from a `Value` or by
/// [`Fields`], it decodes to the same.
fn decode(payload: &[u8]) -> serde_json::Value {
    rmp_serde::from_slice(payload).unwrap_or(serde_json::Value::Null)
}

/// An event's parts besides its id and payload, borrowed.
struct Parts<'a> {
    kind: &'a str,
    correlation_id: Option<&'a str>,
    parent_id: Option<u64>,
    timestamp_ms: u64,
    node: Option<&'a str>,
}

impl Parts<'_> {
    /// The event these parts and `payload` make, numbered `id`.
    fn event(&self, id: u64, payload: serde_json::Value) -> Event {
        Event {
            id,
            kind: self.kind.to_owned(),
            payload,
            correlation_id: self.correlation_id.map(str::to_owned),
            parent_id: self.parent_id,
            timestamp_ms: self.timestamp_ms,
            node: self.node.map(str::to_owned),
        }
    }
}

#[derive(Debug)]
struct Subscriber {
    filter: Query,
    tx: broadcast::Sender<Event>,
}

#[derive(Debug)]
struct Inner {
    config: EventStoreConfig,
    /// Events by id (not contiguous: a full store drops the oldest of its
    /// most numerous kind, which may be anywhere).
    events: BTreeMap<u64, Stored>,
    next_id: u64,
    /// Ids per kind and per correlation id, ascending (the keys shared by
    /// the stored events).
    by_kind: Index,
    by_correlation: Index,
    /// The node of the last event stored that had one.
    last_node: Option<Arc<str>>,
    /// Where a payload is encoded before it is copied to its own
    /// allocation of the exact size (one allocation an event, not a
    /// growing vector's several).
    scratch: Vec<u8>,
    /// (timestamp_ms, id) of every stored event.
    by_time: BTreeSet<(u64, u64)>,
    subscribers: Vec<Subscriber>,
}

impl EventStore {
    /// An empty store with these limits.
    ///
    /// # Errors
    ///
    /// [`EventError::InvalidConfig`] if the capacity or the subscriber buffer
    /// is zero, or `max_age` is zero.
    pub fn new(config: EventStoreConfig) -> Result<Self, EventError> {
        config.validate()?;
        Ok(Self {
            inner: Arc::new(Mutex::new(Inner {
                config,
                events: BTreeMap::new(),
                next_id: 1,
                by_kind: Index::default(),
                by_correlation: Index::default(),
                last_node: None,
                scratch: Vec::new(),
                by_time: BTreeSet::new(),
                subscribers: Vec::new(),
            })),
        })
    }

    /// Stores `event`, assigning it the next id (any id it carried is
    /// replaced), sends it to matching subscribers, and returns the id.
    ///
    /// # Errors
    ///
    /// [`EventError::EmptyKind`] if the event's kind is empty; nothing is stored.
    pub fn store(&self, event: Event) -> Result<u64, EventError> {
        check(&event)?;
        let mut inner = self.lock();
        let id = inner.insert(event);
        inner.prune();
        metrics::counter!("foundation_events_stored_total").increment(1);
        Ok(id)
    }

    /// Stores an event of `kind` from `node`, timestamped now, carrying
    /// the object `fields`, without building a `serde_json::Value` for it
    /// (one is made only for a subscriber it goes to). It reads back as
    /// any stored event. For a correlation id, a parent or another time,
    /// use [`store`](Self::store).
    ///
    /// # Errors
    ///
    /// [`EventError::EmptyKind`] if `kind` is empty; nothing is stored.
    pub fn store_fields(
        &self,
        kind: &str,
        node: Option<&str>,
        mut fields: Fields,
    ) -> Result<u64, EventError> {
        let payload = fields.finish();
        if kind.is_empty() {
            return Err(EventError::EmptyKind {
                payload: decode(payload).to_string(),
            });
        }
        let parts = Parts {
            kind,
            correlation_id: None,
            parent_id: None,
            timestamp_ms: to_ms(SystemTime::now()),
            node,
        };
        let mut inner = self.lock();
        let id = inner.insert_parts(&parts, payload, None);
        inner.prune();
        metrics::counter!("foundation_events_stored_total").increment(1);
        Ok(id)
    }

    /// Stores several events at once, with consecutive ids in the given order.
    ///
    /// # Errors
    ///
    /// [`EventError::EmptyKind`] if any event's kind is empty; then none of
    /// them is stored.
    pub fn store_batch(
        &self,
        events: impl IntoIterator<Item = Event>,
    ) -> Result<Vec<u64>, EventError> {
        let events: Vec<Event> = events.into_iter().collect();
        events.iter().try_for_each(check)?;
        let mut inner = self.lock();
        let ids: Vec<u64> = events.into_iter().map(|e| inner.insert(e)).collect();
        inner.prune();
        metrics::counter!("foundation_events_stored_total").increment(ids.len() as u64);
        Ok(ids)
    }

    /// The event with this id, if it is still in the store.
    pub fn get(&self, id: u64) -> Option<Event> {
        let mut inner = self.lock();
        inner.prune();
        inner.events.get(&id).map(|s| s.event(id))
    }

    /// The events that match `query`, in its order, up to its limit.
    pub fn query(&self, query: &Query) -> Vec<Event> {
        let mut inner = self.lock();
        inner.prune();
        inner.query(query)
    }

    /// How many events the store holds.
    pub fn len(&self) -> usize {
        let mut inner = self.lock();
        inner.prune();
        inner.events.len()
    }

    /// Whether the store holds no event.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Subscribes to events stored from now on that match `filter` (its limit
    /// and order are ignored).
    ///
    /// Each subscription has its own buffer of
    /// [`subscriber_buffer`](EventStoreConfig::subscriber_buffer) events.
    /// Storing never waits for a subscriber: when a subscriber falls that far
    /// behind, its oldest unread events are overwritten and its next `recv`
    /// returns [`RecvError::Lagged(n)`](broadcast::error::RecvError::Lagged)
    /// with the number it missed, after which it continues with the oldest
    /// event still buffered. `recv` returns
    /// [`RecvError::Closed`](broadcast::error::RecvError::Closed) once every
    /// handle to the store is dropped and the buffer is drained. Dropping the
    /// receiver ends the subscription.
    pub fn subscribe(&self, filter: Query) -> broadcast::Receiver<Event> {
        let mut inner = self.lock();
        let (tx, rx) = broadcast::channel(inner.config.subscriber_buffer);
        inner.subscribers.push(Subscriber { filter, tx });
        tracing::debug!(
            subscribers = inner.subscribers.len(),
            "event subscription added"
        );
        rx
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // No code path panics while holding the lock, and the state stays
        // consistent between statements, so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn check(event: &Event) -> Result<(), EventError> {
    if event.kind.is_empty() {
        return Err(EventError::EmptyKind {
            payload: event.payload.to_string(),
        });
    }
    Ok(())
}

/// Event ids by a key (a kind, a correlation id), ascending; the keys
/// shared with the stored events. One lookup finds a key's copy and its
/// ids (hashbrown's `get_key_value_mut`).
type Index = hashbrown::HashMap<Arc<str>, VecDeque<u64>>;

/// Adds `id` under `key`; answers the index's copy of the key.
fn push_index(index: &mut Index, key: &str, id: u64) -> Arc<str> {
    if let Some((key, ids)) = index.get_key_value_mut(key) {
        ids.push_back(id);
        return Arc::clone(key);
    }
    let key: Arc<str> = key.into();
    index.insert(Arc::clone(&key), VecDeque::from([id]));
    key
}

fn pop_index(index: &mut Index, key: &str, id: u64) {
    if let Some(ids) = index.get_mut(key) {
        // Events of a kind leave in id order, so the id is mostly at the front.
        if ids.front() == Some(&id) {
            ids.pop_front();
        } else {
            ids.retain(|&x| x != id);
        }
        if ids.is_empty() {
            index.remove(key);
        }
    }
}

impl Inner {
    fn insert(&mut self, mut event: Event) -> u64 {
        event.id = self.next_id;
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        // A `Value` always encodes (into a Vec, nothing can fail).
        let _ = rmp_serde::encode::write(&mut scratch, &event.payload);
        let parts = Parts {
            kind: &event.kind,
            correlation_id: event.correlation_id.as_deref(),
            parent_id: event.parent_id,
            timestamp_ms: event.timestamp_ms,
            node: event.node.as_deref(),
        };
        let id = self.insert_parts(&parts, &scratch, Some(&event));
        self.scratch = scratch;
        id
    }

    /// Stores the event of `parts` and `payload` (in MessagePack) as the
    /// next id; `event` is the same as an [`Event`], if the caller has it.
    fn insert_parts(&mut self, parts: &Parts<'_>, payload: &[u8], event: Option<&Event>) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        let kind = push_index(&mut self.by_kind, parts.kind, id);
        let correlation_id = parts
            .correlation_id
            .map(|c| push_index(&mut self.by_correlation, c, id));
        let node = parts.node.map(|node| match &self.last_node {
            Some(last) if **last == *node => Arc::clone(last),
            _ => {
                let node: Arc<str> = node.into();
                self.last_node = Some(Arc::clone(&node));
                node
            }
        });
        self.by_time.insert((parts.timestamp_ms, id));
        self.publish(parts, id, payload, event);
        let stored = Stored {
            kind,
            payload: payload.into(),
            correlation_id,
            parent_id: parts.parent_id,
            timestamp_ms: parts.timestamp_ms,
            node,
            stored_at: Instant::now(),
        };
        self.events.insert(id, stored);
        id
    }

    /// Sends event `id` to the subscribers it matches, made from `parts`
    /// and `payload` (once, for the first) unless the caller gave it.
    fn publish(&mut self, parts: &Parts<'_>, id: u64, payload: &[u8], event: Option<&Event>) {
        if self.subscribers.is_empty() {
            return;
        }
        let mut made = None;
        let before = self.subscribers.len();
        self.subscribers.retain(|s| {
            if !s
                .filter
                .matches_parts(parts.kind, parts.correlation_id, parts.timestamp_ms)
            {
                return s.tx.receiver_count() > 0;
            }
            let event = match event {
                Some(event) => event,
                None => made.get_or_insert_with(|| parts.event(id, decode(payload))),
            };
            // `send` fails only when the receiver is gone; it never waits.
            s.tx.send(event.clone()).is_ok()
        });
        let gone = before - self.subscribers.len();
        if gone > 0 {
            tracing::debug!(gone, "event subscriptions dropped by their receivers");
        }
    }

    /// Drops event `id`.
    fn drop(&mut self, id: u64) {
        if let Some(stored) = self.events.remove(&id) {
            pop_index(&mut self.by_kind, &stored.kind, id);
            if let Some(c) = &stored.correlation_id {
                pop_index(&mut self.by_correlation, c, id);
            }
            self.by_time.remove(&(stored.timestamp_ms, id));
        }
    }

    /// The oldest event of the kind held most (of two as numerous, the
    /// one with the older event).
    fn most_common_oldest(&self) -> Option<u64> {
        self.by_kind
            .values()
            .filter_map(|ids| Some((ids.len(), std::cmp::Reverse(*ids.front()?))))
            .max()
            .map(|(_, std::cmp::Reverse(id))| id)
    }

    fn prune(&mut self) {
        let mut pruned = 0u64;
        while self.events.len() > self.config.capacity {
            let Some(id) = self.most_common_oldest() else {
                break;
            };
            self.drop(id);
            pruned += 1;
        }
        if let Some(max_age) = self.config.max_age {
            let now = Instant::now();
            while let Some((&id, oldest)) = self.events.first_key_value() {
                if now.saturating_duration_since(oldest.stored_at) < max_age {
                    break;
                }
                self.drop(id);
                pruned += 1;
            }
        }
        if pruned > 0 {
            tracing::trace!(pruned, left = self.events.len(), "events pruned");
            metrics::counter!("foundation_events_pruned_total").increment(pruned);
        }
    }

    fn query(&self, q: &Query) -> Vec<Event> {
        let limit = q.limit.unwrap_or(usize::MAX);
        if limit == 0 {
            return Vec::new();
        }
        // The narrowest index that applies gives the candidate ids, in id order.
        let indexed = [
            q.kind.as_deref().map(|k| self.by_kind.get(k)),
            q.correlation_id
                .as_deref()
                .map(|c| self.by_correlation.get(c)),
        ];
        let mut narrowest: Option<&VecDeque<u64>> = None;
        for ids in indexed.into_iter().flatten() {
            let Some(ids) = ids else {
                // A kind or correlation id with no event: nothing matches.
                return Vec::new();
            };
            if narrowest.is_none_or(|n| ids.len() < n.len()) {
                narrowest = Some(ids);
            }
        }
        let pick = |ids: &mut dyn Iterator<Item = u64>| -> Vec<Event> {
            ids.filter_map(|id| Some((id, self.events.get(&id)?)))
                .filter(|(_, s)| {
                    q.matches_parts(&s.kind, s.correlation_id.as_deref(), s.timestamp_ms)
                })
                .take(limit)
                .map(|(id, s)| s.event(id))
                .collect()
        };
        if let Some(ids) = narrowest {
            return if q.newest_first {
                pick(&mut ids.iter().rev().copied())
            } else {
                pick(&mut ids.iter().copied())
            };
        }
        if q.since_ms.is_some() || q.before_ms.is_some() {
            // Ids start at 1, so `(t, 0)` sorts before every event stamped `t`.
            let from = Bound::Included((q.since_ms.unwrap_or(0), 0));
            let to = q
                .before_ms
                .map_or(Bound::Unbounded, |t| Bound::Excluded((t, 0)));
            if q.since_ms.unwrap_or(0) >= q.before_ms.unwrap_or(u64::MAX) {
                return Vec::new();
            }
            let mut ids: Vec<u64> = self.by_time.range((from, to)).map(|&(_, id)| id).collect();
            ids.sort_unstable();
            return if q.newest_first {
                pick(&mut ids.into_iter().rev())
            } else {
                pick(&mut ids.into_iter())
            };
        }
        let mut all = self.events.keys().copied();
        if q.newest_first {
            pick(&mut all.rev())
        } else {
            pick(&mut all)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ids_are_consecutive_and_get_finds_them_after_pruning() {
        let store = EventStore::new(EventStoreConfig::default().capacity(3)).unwrap();
        let ids: Vec<u64> = (0..5)
            .map(|i| store.store(Event::new("k", json!(i))).unwrap())
            .collect();
        assert_eq!(ids, vec![1, 2, 3, 4, 5]);
        assert_eq!(store.get(2), None);
        assert_eq!(store.get(3).unwrap().payload, json!(2));
        assert_eq!(store.get(6), None);
        assert_eq!(store.get(0), None);
    }

    #[test]
    fn indexes_shrink_with_pruning() {
        let store = EventStore::new(EventStoreConfig::default().capacity(2)).unwrap();
        for i in 0..10 {
            let e = Event::new(format!("k{i}"), json!(null)).correlation(format!("c{i}"));
            store.store(e).unwrap();
        }
        let inner = store.lock();
        assert_eq!(inner.by_kind.len(), 2);
        assert_eq!(inner.by_correlation.len(), 2);
        assert_eq!(inner.by_time.len(), 2);
    }

    #[test]
    fn a_full_store_drops_the_oldest_of_its_most_common_kind() {
        let store = EventStore::new(EventStoreConfig::default().capacity(4)).unwrap();
        let joined = store
            .store(Event::new("member.joined", json!("b")))
            .unwrap();
        for i in 0..100 {
            store.store(Event::new("agent.status", json!(i))).unwrap();
        }
        let left = store.lock().whats_left();
        assert_eq!(
            left,
            [
                ("member.joined".to_owned(), json!("b")),
                ("agent.status".to_owned(), json!(97)),
                ("agent.status".to_owned(), json!(98)),
                ("agent.status".to_owned(), json!(99)),
            ]
        );
        assert!(store.get(joined).is_some());
        store.store(Event::new("member.left", json!("c"))).unwrap();
        store.store(Event::new("member.left", json!("d"))).unwrap();
        // Two kinds as numerous (two statuses, two departures): the one
        // with the older event gives way.
        store.store(Event::new("agent.status", json!(100))).unwrap();
        let left = store.lock().whats_left();
        assert_eq!(
            left,
            [
                ("member.joined".to_owned(), json!("b")),
                ("member.left".to_owned(), json!("c")),
                ("member.left".to_owned(), json!("d")),
                ("agent.status".to_owned(), json!(100)),
            ]
        );
        let inner = store.lock();
        assert_eq!(inner.by_time.len(), 4);
        assert_eq!(inner.by_kind["agent.status"].len(), 1);
    }

    impl Inner {
        /// Each event's kind and payload, in id order.
        fn whats_left(&self) -> Vec<(String, serde_json::Value)> {
            let events = self.events.iter().map(|(&id, s)| s.event(id));
            events.map(|e| (e.kind, e.payload)).collect()
        }
    }

    #[test]
    fn config_is_validated() {
        for (config, field) in [
            (EventStoreConfig::default().capacity(0), "capacity"),
            (
                EventStoreConfig::default().subscriber_buffer(0),
                "subscriber_buffer",
            ),
            (
                EventStoreConfig::default().max_age(Duration::ZERO),
                "max_age",
            ),
        ] {
            match EventStore::new(config) {
                Err(EventError::InvalidConfig { field: f, .. }) => assert_eq!(f, field),
                other => panic!("expected InvalidConfig for {field}, got {other:?}"),
            }
        }
    }

    #[test]
    fn stored_events_read_back_as_they_were_given() {
        let store = EventStore::new(EventStoreConfig::default()).unwrap();
        let payloads = [
            json!({"rate": 0.1, "third": 1.0 / 3.0, "tiny": 5e-324, "big": u64::MAX, "low": i64::MIN}),
            json!([null, true, "ünïcödé", {"nested": [1, -2, 3.5]}, []]),
            json!("just a string"),
            json!(1.0),
            json!({}),
        ];
        let mut given = Vec::new();
        for (i, payload) in payloads.iter().enumerate() {
            let mut event = Event::new(format!("k{}", i % 2), payload.clone()).parent(7);
            if i % 2 == 0 {
                event = event.correlation("c").node("n1");
            }
            let id = store.store(event.clone()).unwrap();
            event.id = id;
            given.push(event);
        }
        for event in &given {
            assert_eq!(store.get(event.id).as_ref(), Some(event));
        }
        assert_eq!(store.query(&Query::new()), given);
        let correlated: Vec<Event> = given.iter().step_by(2).cloned().collect();
        assert_eq!(store.query(&Query::new().correlation("c")), correlated);
        assert_eq!(store.query(&Query::new().kind("k0")), correlated);
        let inner = store.lock();
        let nodes: Vec<&Arc<str>> = inner
            .events
            .values()
            .filter_map(|s| s.node.as_ref())
            .collect();
        assert!(
            nodes.windows(2).all(|w| Arc::ptr_eq(w[0], w[1])),
            "one copy of the node's name"
        );
    }

    #[tokio::test]
    async fn fields_read_back_as_the_object_json_would_make() {
        let store = EventStore::new(EventStoreConfig::default()).unwrap();
        let mut all = store.subscribe(Query::new());
        let mut others = store.subscribe(Query::new().kind("other"));
        let first = store
            .store(Event::new("agent.status", json!(1)).node("n1"))
            .unwrap();
        let fields = Fields::new()
            .str("id", "ünï-1")
            .str("status", "ready")
            .opt_str("was", None)
            .opt_str("then", Some("x"))
            .u64("epoch", u64::MAX)
            .u64("zero", 0)
            .str("id", "last");
        let id = store
            .store_fields("agent.status", Some("n1"), fields)
            .unwrap();
        let want = json!({"id": "last", "status": "ready", "was": null, "then": "x",
            "epoch": u64::MAX, "zero": 0});
        let event = store.get(id).unwrap();
        assert_eq!(
            (event.id, &event.kind, &event.payload),
            (first + 1, &"agent.status".to_owned(), &want)
        );
        assert_eq!(event.node.as_deref(), Some("n1"));
        assert_eq!((event.correlation_id, event.parent_id), (None, None));
        // Indexed with the others, and sent to the subscribers it matches.
        assert_eq!(store.query(&Query::new().kind("agent.status")).len(), 2);
        assert_eq!(all.recv().await.unwrap().id, first);
        assert_eq!(all.recv().await.unwrap(), store.get(id).unwrap());
        assert!(others.try_recv().is_err());
        assert_eq!(
            store
                .get(store.store_fields("e", None, Fields::new()).unwrap())
                .unwrap()
                .payload,
            json!({})
        );
        // Sixteen fields and more take a longer header.
        let (mut many, mut want) = (Fields::new(), serde_json::Map::new());
        for i in 0..40u64 {
            many = many.u64(&format!("f{i}"), i);
            want.insert(format!("f{i}"), json!(i));
            if i == 14 || i == 15 || i == 39 {
                let id = store.store_fields("many", None, many.clone()).unwrap();
                assert_eq!(
                    store.get(id).unwrap().payload,
                    json!(want),
                    "{} fields",
                    i + 1
                );
            }
        }
        // A kind is required, as for `store`.
        let refused = store.store_fields("", None, Fields::new().u64("n", 1));
        assert_eq!(
            refused,
            Err(EventError::EmptyKind {
                payload: r#"{"n":1}"#.into()
            })
        );
        assert_eq!(store.len(), 6);
    }

    #[test]
    fn event_round_trips_through_json() {
        let e = Event::new("a.b", json!({"x": 1}))
            .correlation("c")
            .parent(4)
            .node("n1");
        let text = serde_json::to_string(&e).unwrap();
        let back: Event = serde_json::from_str(&text).unwrap();
        assert_eq!(back, e);
    }
}
