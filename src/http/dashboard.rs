//! The live dashboard: `GET /` serves one page (HTML, CSS and plain
//! JavaScript from `dashboard/`, built into the binary), and
//! `GET /api/events` streams it snapshots of the node as server-sent
//! events.
//!
//! A snapshot is what the JSON routes answer, in one object:
//! `{"node": <GET /api/node>, "peers": <GET /api/peers>.peers,
//! "agents": <GET /api/agents>.agents, "variables": <GET /api/variables>,
//! "runs": <GET /api/runs?limit=50>.runs}`, with `null` for what the node
//! does not serve. The page reads nothing else, so it falls back to
//! polling those routes when it cannot keep an event stream open.
//!
//! A stream sends a snapshot once a second, and at once when the name
//! table (agents listed, moved or gone, a node's names gone with it) or a
//! variable changes. It is pulled: nothing is computed or queued while
//! the client does not read, and it ends when the client goes away. At
//! most [`MAX_STREAMS`] are open at once; one more is answered 503.

use std::convert::Infallible;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use actor_cluster::{ClusterError, NameEvent, PeerInfo};
use agents::variables::Change;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::sse::{Event, Sse};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use futures::Stream;
use serde_json::{json, Value};
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::{Interval, MissedTickBehavior};

use super::routes::{self, Api, Failure, Shared};

/// How many event streams may be open at once.
pub(super) const MAX_STREAMS: usize = 32;

/// How often a stream sends a snapshot when nothing changed.
const EVERY: Duration = Duration::from_secs(1);

/// How long a stream waits after a change for the changes that come with
/// it.
const SETTLE: Duration = Duration::from_millis(100);

/// How soon a browser reconnects a stream that broke.
const RETRY: Duration = Duration::from_secs(2);

/// How many of the node's recent runs a snapshot carries, newest.
const SNAPSHOT_RUNS: usize = 50;

/// The page, its style and script put together once.
static PAGE: LazyLock<String> = LazyLock::new(|| {
    include_str!("dashboard/index.html")
        .replace("/*STYLE*/", include_str!("dashboard/dashboard.css"))
        .replace("/*SCRIPT*/", include_str!("dashboard/dashboard.js"))
});

/// The page and its stream, with the state every route reads.
pub(super) fn routes() -> Router<Arc<Api>> {
    Router::new()
        .route("/", get(page))
        .route("/api/events", get(events))
}

async fn page() -> Response {
    let headers = [
        // Only this page's own inline style and script, and requests back
        // to this server: no other origin is reached or may frame it.
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'none'; connect-src 'self'; style-src 'unsafe-inline'; \
                 script-src 'unsafe-inline'; img-src 'self' data:; base-uri 'none'; \
                 form-action 'none'; frame-ancestors 'none'",
            ),
        ),
        // The token may be in the page's address: do not pass it on.
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
    ];
    (headers, Html(PAGE.as_str())).into_response()
}

async fn events(State(api): Shared) -> Result<Response, Failure> {
    let permit = Arc::clone(&api.streams).try_acquire_owned().map_err(|_| {
        Failure::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("{MAX_STREAMS} dashboards are watching already; try again later"),
        )
    })?;
    let mut tick = tokio::time::interval(EVERY);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let feed = Feed {
        names: api.api.node.watch_names(),
        changes: api.api.variables.as_ref().map(|v| v.subscribe()),
        api,
        tick,
        last: String::new(),
        first: true,
        _permit: permit,
    };
    Ok(Sse::new(feed.into_stream()).into_response())
}

/// One client's stream: what wakes it, and what it sent last.
struct Feed {
    api: Arc<Api>,
    tick: Interval,
    names: broadcast::Receiver<NameEvent>,
    changes: Option<broadcast::Receiver<Change>>,
    /// The last snapshot sent, to skip sending an unchanged one.
    last: String,
    /// Nothing sent yet.
    first: bool,
    /// Given back when the stream is dropped.
    _permit: OwnedSemaphorePermit,
}

impl Feed {
    fn into_stream(self) -> impl Stream<Item = Result<Event, Infallible>> {
        futures::stream::unfold(self, |mut feed| async move {
            let event = feed.next().await?;
            Some((Ok(event), feed))
        })
    }

    /// The next event to send; `None` when the node has stopped.
    async fn next(&mut self) -> Option<Event> {
        loop {
            let due = tokio::select! {
                _ = self.tick.tick() => true,
                event = self.names.recv() => {
                    if matches!(event, Err(RecvError::Closed)) {
                        return None;
                    }
                    false
                }
                () = changed(&mut self.changes) => false,
            };
            if !due {
                // A burst of changes (a node's names all come and go at
                // once) is one snapshot, and a busy cluster is not sent
                // more than a few a second.
                tokio::time::sleep(SETTLE).await;
                drain(&mut self.names);
                if let Some(changes) = &mut self.changes {
                    drain(changes);
                }
            }
            let event = match self.snapshot().await? {
                Ok(snapshot) => {
                    let text = snapshot.to_string();
                    if !due && text == self.last {
                        continue;
                    }
                    let event = Event::default().event("snapshot").data(&text);
                    self.last = text;
                    event
                }
                Err(failure) => Event::default()
                    .event("failure")
                    .data(failure.body().to_string()),
            };
            return Some(if std::mem::take(&mut self.first) {
                event.retry(RETRY)
            } else {
                event
            });
        }
    }

    /// The node now, or why not; `None` when it has stopped.
    async fn snapshot(&self) -> Option<Result<Value, Failure>> {
        match self.api.api.node.peers().await {
            Ok(peers) => Some(snapshot(&self.api, &peers).await),
            Err(ClusterError::NodeStopped) => None,
            Err(e) => Some(Err(e.into())),
        }
    }
}

/// Takes what is waiting in `receiver` (a lag included).
fn drain<T: Clone>(receiver: &mut broadcast::Receiver<T>) {
    use broadcast::error::TryRecvError;
    while let Ok(_) | Err(TryRecvError::Lagged(_)) = receiver.try_recv() {}
}

/// Waits for a change of the variables, if there are any; a channel that
/// closed is dropped, and waited on no more.
async fn changed(changes: &mut Option<broadcast::Receiver<Change>>) {
    match changes {
        Some(receiver) => {
            if let Err(RecvError::Closed) = receiver.recv().await {
                *changes = None;
            }
        }
        None => std::future::pending().await,
    }
}

/// The node as the page shows it, with `peers` as it lists them now: the
/// JSON routes' answers in one object.
async fn snapshot(api: &Api, peers: &[PeerInfo]) -> Result<Value, Failure> {
    let node = routes::node_json(api, peers).await?;
    let agents = match &api.api.agents {
        Some(agents) => Some(agents.list().await?),
        None => None,
    };
    let runs = api
        .api
        .agents
        .as_ref()
        .map(|agents| routes::runs_json(agents, None, Some(SNAPSHOT_RUNS)));
    let variables = api.api.variables.as_ref().map(routes::variables_json);
    Ok(json!({
        "node": node,
        "peers": routes::peers_json(peers),
        "agents": agents,
        "variables": variables,
        "runs": runs,
    }))
}
