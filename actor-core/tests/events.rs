//! The event store: storing, querying, pruning and subscriptions.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actor_core::{Event, EventError, EventStore, EventStoreConfig, Query};
use serde_json::json;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};

fn store() -> EventStore {
    EventStore::new(EventStoreConfig::default()).expect("default config is valid")
}

/// A fixed wall-clock time, `secs` after an arbitrary origin.
fn t(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs)
}

fn payloads(events: &[Event]) -> Vec<serde_json::Value> {
    events.iter().map(|e| e.payload.clone()).collect()
}

#[test]
fn store_assigns_ids_and_get_returns_the_event() {
    let store = store();
    let e = Event::new("user.login", json!({"user": "ada"}))
        .correlation("req-1")
        .node("n1")
        .at(t(5));
    let id = store.store(e.clone()).unwrap();
    let got = store.get(id).expect("stored event is there");
    assert_eq!(got.id, id);
    assert_eq!(got.kind, "user.login");
    assert_eq!(got.payload, json!({"user": "ada"}));
    assert_eq!(got.correlation_id.as_deref(), Some("req-1"));
    assert_eq!(got.node.as_deref(), Some("n1"));
    assert_eq!(got.time(), t(5));
    assert_eq!(store.get(id + 1), None);
    assert_eq!(store.len(), 1);
}

#[test]
fn parent_ids_link_events() {
    let store = store();
    let root = store.store(Event::new("a", json!(1))).unwrap();
    let child = store.store(Event::new("b", json!(2)).parent(root)).unwrap();
    assert_eq!(store.get(child).unwrap().parent_id, Some(root));
    assert_eq!(store.get(root).unwrap().parent_id, None);
}

#[test]
fn batch_gets_consecutive_ids_in_order() {
    let store = store();
    store.store(Event::new("first", json!(0))).unwrap();
    let ids = store
        .store_batch((1..=3).map(|i| Event::new("batch", json!(i))))
        .unwrap();
    assert_eq!(ids, vec![2, 3, 4]);
    for (id, i) in ids.iter().zip(1..=3) {
        assert_eq!(store.get(*id).unwrap().payload, json!(i));
    }
}

#[test]
fn an_empty_kind_is_refused_and_a_bad_batch_stores_nothing() {
    let store = store();
    let err = store.store(Event::new("", json!({"x": 1}))).unwrap_err();
    assert!(matches!(err, EventError::EmptyKind { .. }), "{err:?}");
    assert!(err.to_string().contains("kind is empty"));
    let err = store
        .store_batch(vec![Event::new("ok", json!(1)), Event::new("", json!(2))])
        .unwrap_err();
    assert!(matches!(err, EventError::EmptyKind { .. }));
    assert!(store.is_empty());
}

#[test]
fn query_by_kind() {
    let store = store();
    for i in 0..6 {
        let kind = if i % 2 == 0 { "even" } else { "odd" };
        store.store(Event::new(kind, json!(i))).unwrap();
    }
    let q = store.query(&Query::new().kind("odd"));
    assert_eq!(payloads(&q), vec![json!(1), json!(3), json!(5)]);
    assert!(store.query(&Query::new().kind("none")).is_empty());
}

#[test]
fn query_by_correlation_id() {
    let store = store();
    for i in 0..6 {
        let e = Event::new("step", json!(i)).correlation(format!("req-{}", i % 3));
        store.store(e).unwrap();
    }
    store
        .store(Event::new("step", json!("uncorrelated")))
        .unwrap();
    let q = store.query(&Query::new().correlation("req-1"));
    assert_eq!(payloads(&q), vec![json!(1), json!(4)]);
    assert!(store.query(&Query::new().correlation("req-9")).is_empty());
}

#[test]
fn query_by_time_range_is_inclusive_then_exclusive() {
    let store = store();
    // Stored out of timestamp order on purpose: results still come in id order.
    for s in [30, 10, 20, 40] {
        store.store(Event::new("tick", json!(s)).at(t(s))).unwrap();
    }
    let q = store.query(&Query::new().since(t(10)).before(t(30)));
    assert_eq!(payloads(&q), vec![json!(10), json!(20)]);
    let q = store.query(&Query::new().since(t(30)));
    assert_eq!(payloads(&q), vec![json!(30), json!(40)]);
    let q = store.query(&Query::new().before(t(20)));
    assert_eq!(payloads(&q), vec![json!(10)]);
    assert!(store
        .query(&Query::new().since(t(30)).before(t(30)))
        .is_empty());
}

#[test]
fn combined_query_applies_every_condition() {
    let store = store();
    let events = [
        ("pay", "r1", 1, "match"),
        ("pay", "r2", 2, "wrong correlation"),
        ("ship", "r1", 3, "wrong kind"),
        ("pay", "r1", 50, "too late"),
        ("pay", "r1", 4, "match too"),
    ];
    for (kind, corr, s, label) in events {
        store
            .store(Event::new(kind, json!(label)).correlation(corr).at(t(s)))
            .unwrap();
    }
    let q = Query::new()
        .kind("pay")
        .correlation("r1")
        .since(t(0))
        .before(t(10));
    assert_eq!(
        payloads(&store.query(&q)),
        vec![json!("match"), json!("match too")]
    );
}

#[test]
fn limit_and_order() {
    let store = store();
    for i in 0..10 {
        store.store(Event::new("n", json!(i))).unwrap();
    }
    let oldest = store.query(&Query::new().kind("n").limit(3));
    assert_eq!(payloads(&oldest), vec![json!(0), json!(1), json!(2)]);
    let newest = store.query(&Query::new().limit(2).newest_first());
    assert_eq!(payloads(&newest), vec![json!(9), json!(8)]);
    assert!(store.query(&Query::new().limit(0)).is_empty());
    assert_eq!(store.query(&Query::new()).len(), 10);
}

#[test]
fn pruning_by_count_drops_the_oldest_first() {
    let store = EventStore::new(EventStoreConfig::default().capacity(3)).unwrap();
    let ids: Vec<u64> = (0..5)
        .map(|i| {
            store
                .store(Event::new("k", json!(i)).correlation("c"))
                .unwrap()
        })
        .collect();
    assert_eq!(store.len(), 3);
    assert_eq!(store.get(ids[0]), None);
    assert_eq!(store.get(ids[1]), None);
    let left = store.query(&Query::new().correlation("c"));
    assert_eq!(payloads(&left), vec![json!(2), json!(3), json!(4)]);
    // A batch larger than the capacity keeps only its tail.
    store
        .store_batch((10..15).map(|i| Event::new("k", json!(i))))
        .unwrap();
    let left = store.query(&Query::new().kind("k"));
    assert_eq!(payloads(&left), vec![json!(12), json!(13), json!(14)]);
}

#[tokio::test(start_paused = true)]
async fn pruning_by_age_follows_the_clock() {
    let config = EventStoreConfig::default().max_age(Duration::from_secs(60));
    let store = EventStore::new(config).unwrap();
    let old = store.store(Event::new("k", json!("old"))).unwrap();
    tokio::time::advance(Duration::from_secs(30)).await;
    let young = store.store(Event::new("k", json!("young"))).unwrap();
    tokio::time::advance(Duration::from_secs(29)).await;
    assert_eq!(store.len(), 2, "nothing is 60 s old yet");

    tokio::time::advance(Duration::from_secs(1)).await;
    assert_eq!(store.get(old), None, "60 s old: pruned");
    assert!(store.get(young).is_some());
    assert_eq!(
        payloads(&store.query(&Query::new().kind("k"))),
        vec![json!("young")]
    );

    tokio::time::advance(Duration::from_secs(30)).await;
    assert!(store.is_empty());
}

#[test]
fn invalid_config_is_refused() {
    let err = EventStore::new(EventStoreConfig::default().capacity(0)).unwrap_err();
    assert_eq!(
        err,
        EventError::InvalidConfig {
            field: "capacity",
            reason: "must be at least 1"
        }
    );
}

#[tokio::test]
async fn subscribers_receive_only_matching_events() {
    let store = store();
    let mut paid = store.subscribe(Query::new().kind("pay"));
    let mut r1 = store.subscribe(Query::new().correlation("r1"));
    let mut all = store.subscribe(Query::new());

    store
        .store(Event::new("ship", json!(1)).correlation("r1"))
        .unwrap();
    store
        .store(Event::new("pay", json!(2)).correlation("r2"))
        .unwrap();
    store
        .store(Event::new("pay", json!(3)).correlation("r1"))
        .unwrap();

    let recv = |rx: &mut tokio::sync::broadcast::Receiver<Event>| {
        let mut got = Vec::new();
        while let Ok(e) = rx.try_recv() {
            got.push(e.payload);
        }
        got
    };
    assert_eq!(recv(&mut paid), vec![json!(2), json!(3)]);
    assert_eq!(recv(&mut r1), vec![json!(1), json!(3)]);
    assert_eq!(recv(&mut all), vec![json!(1), json!(2), json!(3)]);

    // Events carry their assigned ids.
    let id = store.store(Event::new("pay", json!(4))).unwrap();
    let e = tokio::time::timeout(Duration::from_secs(5), paid.recv())
        .await
        .expect("event arrives")
        .unwrap();
    assert_eq!(e.id, id);
}

#[tokio::test]
async fn a_lagging_subscriber_does_not_block_storing() {
    let store = EventStore::new(EventStoreConfig::default().subscriber_buffer(4)).unwrap();
    let mut slow = store.subscribe(Query::new());
    let mut fast = store.subscribe(Query::new().kind("rare"));

    // Far more events than the slow subscriber's buffer: storing never waits.
    for i in 0..100 {
        store.store(Event::new("tick", json!(i))).unwrap();
    }
    store.store(Event::new("rare", json!("r"))).unwrap();
    assert_eq!(store.len(), 101);

    // The fast subscriber only counts matching events, so it did not lag.
    assert_eq!(fast.try_recv().unwrap().payload, json!("r"));

    // The slow one learns how many it missed, then reads the newest four.
    assert_eq!(slow.recv().await, Err(RecvError::Lagged(97)));
    let mut rest = Vec::new();
    while let Ok(e) = slow.try_recv() {
        rest.push(e.payload);
    }
    assert_eq!(rest, vec![json!(97), json!(98), json!(99), json!("r")]);
}

#[tokio::test]
async fn subscriptions_close_with_the_store_and_dropped_ones_are_forgotten() {
    let store = store();
    let dropped = store.subscribe(Query::new());
    drop(dropped);
    let mut rx = store.subscribe(Query::new());
    store.store(Event::new("k", json!(1))).unwrap();
    drop(store);
    assert_eq!(rx.recv().await.unwrap().payload, json!(1));
    assert_eq!(rx.recv().await, Err(RecvError::Closed));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
}

#[test]
fn events_serialize_to_plain_json() {
    let e = Event::new("k", json!({"a": 1}))
        .correlation("c")
        .parent(7)
        .at(t(0));
    let v = serde_json::to_value(&e).unwrap();
    assert_eq!(v["kind"], json!("k"));
    assert_eq!(v["correlation_id"], json!("c"));
    assert_eq!(v["parent_id"], json!(7));
    assert_eq!(v["timestamp_ms"], json!(1_700_000_000_000u64));
    let back: Event = serde_json::from_value(v).unwrap();
    assert_eq!(back, e);
}
