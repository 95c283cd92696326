//! The routes of the management API and their JSON.
//!
//! The JSON of the node, its peers, agents, variables and runs is built
//! here once, for the routes and for the dashboard's snapshots alike.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use actor_cluster::{ClusterError, PeerInfo};
use agents::variables::{VariableError, Variables};
use agents::{AgentError, Agents, Query, Status};
use axum::extract::{Path, Query as Params, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use subtle::ConstantTimeEq;
use tokio::sync::Semaphore;

use super::{dashboard, HttpApi};

/// What every handler reads.
pub(super) struct Api {
    pub(super) api: HttpApi,
    started: Instant,
    /// One permit per open dashboard event stream.
    pub(super) streams: Arc<Semaphore>,
}

pub(super) type Shared = State<Arc<Api>>;

/// An error as the API answers it: a status and a JSON body.
#[derive(Debug)]
pub(super) struct Failure {
    status: StatusCode,
    message: String,
}

impl Failure {
    pub(super) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    /// The JSON body it answers with.
    pub(super) fn body(&self) -> Value {
        json!({ "error": self.message, "status": self.status.as_u16() })
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        (self.status, Json(self.body())).into_response()
    }
}

impl From<ClusterError> for Failure {
    fn from(e: ClusterError) -> Self {
        let status = match &e {
            ClusterError::UnknownName(_) => StatusCode::NOT_FOUND,
            ClusterError::NoQuorum { .. } | ClusterError::NodeStopped => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ClusterError::Timeout { .. } => StatusCode::GATEWAY_TIMEOUT,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        Self::new(status, e.to_string())
    }
}

impl From<AgentError> for Failure {
    fn from(e: AgentError) -> Self {
        match e {
            AgentError::Cluster(e) => e.into(),
            AgentError::UnknownAgent(_) => Self::not_found(e.to_string()),
            AgentError::InvalidParameters(_) => Self::new(StatusCode::BAD_REQUEST, e.to_string()),
            e => Self::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        }
    }
}

impl From<VariableError> for Failure {
    fn from(e: VariableError) -> Self {
        let status = match &e {
            VariableError::Unknown(_) => StatusCode::NOT_FOUND,
            VariableError::NoQuorum { .. } => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        Self::new(status, e.to_string())
    }
}

type Answer = Result<Json<Value>, Failure>;

/// The routes; with a token, all but the probes behind it.
pub(super) fn router(api: HttpApi, started: Instant) -> Router {
    let token = api.token.clone();
    let shared = Arc::new(Api {
        api,
        started,
        streams: Arc::new(Semaphore::new(dashboard::MAX_STREAMS)),
    });
    let mut guarded = Router::new()
        .route("/api/node", get(node))
        .route("/api/peers", get(peers))
        .route("/api/names", get(names))
        .route("/api/agents", get(agents))
        .route("/api/agents/{id}", get(agent))
        .route("/api/variables", get(variables))
        .route("/api/variables/{name}", get(variable))
        .route("/api/runs", get(runs))
        .route("/api/journal", get(journal))
        .route("/metrics", get(metrics));
    // A browser's EventSource sends no headers: the page and its event
    // stream take the token from the query too.
    let mut page = dashboard::routes();
    if let Some(token) = token {
        let gate = |query| Gate {
            token: Arc::clone(&token),
            query,
        };
        guarded = guarded.route_layer(middleware::from_fn_with_state(gate(false), authorize));
        page = page.route_layer(middleware::from_fn_with_state(gate(true), authorize));
    }
    Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
        .merge(guarded)
        .merge(page)
        .fallback(|| async { Failure::not_found("no such route; see GET /api/node") })
        .with_state(shared)
}

/// The token a group of routes asks for, and where it may be given.
#[derive(Clone)]
struct Gate {
    token: Arc<str>,
    /// `?token=TOKEN` is accepted too, where no header can be sent.
    query: bool,
}

#[derive(Deserialize)]
struct TokenParam {
    token: Option<String>,
}

/// Lets the request through if it carries the token: as
/// `Authorization: Bearer TOKEN`, or where the gate allows it as
/// `?token=TOKEN`.
async fn authorize(State(gate): State<Gate>, request: Request, next: Next) -> Response {
    let Some(given) = presented(&request, gate.query) else {
        return refused(if gate.query {
            "this page needs `?token=TOKEN` (or `Authorization: Bearer TOKEN`)"
        } else {
            "this API needs `Authorization: Bearer TOKEN`"
        });
    };
    if bool::from(given.as_bytes().ct_eq(gate.token.as_bytes())) {
        next.run(request).await
    } else {
        refused("wrong token")
    }
}

/// The token `request` carries: its bearer token, else with `query` its
/// `token` parameter.
fn presented(request: &Request, query: bool) -> Option<String> {
    let bearer = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|v| v.trim().to_owned());
    let from_query = || {
        let Params(params) = Params::<TokenParam>::try_from_uri(request.uri()).ok()?;
        params.token
    };
    bearer.or_else(|| query.then(from_query).flatten())
}

fn refused(message: &str) -> Response {
    let mut response = Failure::new(StatusCode::UNAUTHORIZED, message).into_response();
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}

fn since_ms(at: SystemTime) -> u64 {
    at.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

async fn health(State(api): Shared) -> Answer {
    // The gateway answers while the node runs.
    api.api.node.peers().await?;
    Ok(Json(json!({ "status": "up", "node": api.api.node.name() })))
}

async fn ready(State(api): Shared) -> Response {
    let node = &api.api.node;
    match node.quorum().await {
        Ok(()) => Json(json!({ "ready": true, "node": node.name() })).into_response(),
        Err(e) => {
            let body = json!({ "ready": false, "node": node.name(), "reason": e.to_string() });
            (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
        }
    }
}

async fn node(State(api): Shared) -> Answer {
    let peers = api.api.node.peers().await?;
    Ok(Json(node_json(&api, &peers).await?))
}

/// The body of `/api/node`, with `peers` as the node lists them now.
pub(super) async fn node_json(api: &Api, peers: &[PeerInfo]) -> Result<Value, Failure> {
    let node = &api.api.node;
    let names = node.names().await?;
    let up = peers
        .iter()
        .filter(|p| p.status == actor_cluster::PeerStatus::Up)
        .count();
    Ok(json!({
        "node": node.name(),
        "addr": node.addr().to_string(),
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_s": api.started.elapsed().as_secs(),
        "peers": peers.len(),
        "peers_up": up,
        "names": names.len(),
        "agents": api.api.agents.is_some(),
        "variables": api.api.variables.is_some(),
    }))
}

async fn peers(State(api): Shared) -> Answer {
    let peers = api.api.node.peers().await?;
    Ok(Json(
        json!({ "node": api.api.node.name(), "peers": peers_json(&peers) }),
    ))
}

/// The peers as `/api/peers` lists them.
pub(super) fn peers_json(peers: &[PeerInfo]) -> Vec<Value> {
    peers
        .iter()
        .map(|p| {
            json!({ "node": p.node, "addr": p.addr, "status": p.status, "since_ms": since_ms(p.since), "wire": p.wire, "link": p.link })
        })
        .collect()
}

#[derive(Debug, Deserialize)]
struct NamesParams {
    group: Option<String>,
}

async fn names(State(api): Shared, Params(params): Params<NamesParams>) -> Answer {
    let node = &api.api.node;
    let names = match &params.group {
        Some(group) => node.members(group).await?,
        None => node.names().await?,
    };
    Ok(Json(json!({ "names": names })))
}

/// The agents handle, or why there is none.
fn agents_of(api: &Api) -> Result<&agents::Agents, Failure> {
    api.api
        .agents
        .as_ref()
        .ok_or_else(|| Failure::not_found("this node runs no agents"))
}

#[derive(Debug, Deserialize)]
struct AgentParams {
    kind: Option<String>,
    capability: Option<String>,
    node: Option<String>,
    status: Option<String>,
}

async fn agents(State(api): Shared, Params(params): Params<AgentParams>) -> Answer {
    let agents = agents_of(&api)?;
    let mut query = Query::new();
    if let Some(kind) = params.kind {
        query = query.kind(kind);
    }
    if let Some(capability) = params.capability {
        query = query.capability(capability);
    }
    if let Some(node) = params.node {
        query = query.node(node);
    }
    if let Some(status) = params.status {
        let status: Status = status
            .parse()
            .map_err(|e: String| Failure::new(StatusCode::BAD_REQUEST, e))?;
        query = query.status(status);
    }
    Ok(Json(json!({ "agents": agents.query(&query).await? })))
}

async fn agent(State(api): Shared, Path(id): Path<String>) -> Answer {
    let agents = agents_of(&api)?;
    let found = agents.query(&Query::new().id(id.clone())).await?;
    match found.into_iter().next() {
        Some(agent) => Ok(Json(json!(agent))),
        None => Err(Failure::not_found(format!("no agent `{id}`"))),
    }
}

/// The variables handle, or why there is none.
fn variables_of(api: &Api) -> Result<&agents::variables::Variables, Failure> {
    api.api.variables.as_ref().ok_or_else(|| {
        Failure::not_found("this node keeps no variables (start it with --variables)")
    })
}

async fn variables(State(api): Shared) -> Answer {
    Ok(Json(variables_json(variables_of(&api)?)))
}

/// The body of `/api/variables`: this node's copy of every variable and
/// the group as it sees it.
pub(super) fn variables_json(variables: &Variables) -> Value {
    json!({
        "group": variables.status(),
        "variables": variables.list_local(),
    })
}

async fn variable(State(api): Shared, Path(name): Path<String>) -> Answer {
    let variables = variables_of(&api)?;
    let history = variables.history(&name).await?;
    let current = history.last().cloned();
    Ok(Json(
        json!({ "name": name, "current": current, "history": history }),
    ))
}

#[derive(Debug, Deserialize)]
struct RunParams {
    protocol: Option<String>,
    limit: Option<usize>,
}

async fn runs(State(api): Shared, Params(params): Params<RunParams>) -> Answer {
    let agents = agents_of(&api)?;
    let runs = runs_json(agents, params.protocol.as_deref(), params.limit);
    Ok(Json(json!({ "node": api.api.node.name(), "runs": runs })))
}

/// The runs as `/api/runs` lists them: of `protocol` if given, the
/// newest `limit` if given, oldest first.
pub(super) fn runs_json(agents: &Agents, protocol: Option<&str>, limit: Option<usize>) -> Value {
    let mut runs = agents.recent_runs();
    if let Some(protocol) = protocol {
        runs.retain(|r| r.protocol == protocol);
    }
    if let Some(limit) = limit {
        let skip = runs.len().saturating_sub(limit);
        runs.drain(..skip);
    }
    json!(runs)
}

#[derive(Debug, Deserialize)]
struct JournalParams {
    kind: Option<String>,
    correlation: Option<String>,
    since_ms: Option<u64>,
    before_ms: Option<u64>,
    limit: Option<usize>,
}

/// The node's journal, newest first: `kind` exact, or `PREFIX.*`.
async fn journal(State(api): Shared, Params(params): Params<JournalParams>) -> Answer {
    let at = |ms: u64| SystemTime::UNIX_EPOCH + std::time::Duration::from_millis(ms);
    let limit = params.limit.unwrap_or(100);
    let mut query = actor_core::Query::new().newest_first();
    let prefix = match params.kind.as_deref() {
        Some(kind) => match kind.strip_suffix('*') {
            Some(prefix) => Some(prefix.to_owned()),
            None => {
                query = query.kind(kind);
                None
            }
        },
        None => None,
    };
    if let Some(correlation) = params.correlation {
        query = query.correlation(correlation);
    }
    if let Some(since) = params.since_ms {
        query = query.since(at(since));
    }
    if let Some(before) = params.before_ms {
        query = query.before(at(before));
    }
    if prefix.is_none() {
        query = query.limit(limit);
    }
    let mut events = api.api.node.journal().query(&query);
    if let Some(prefix) = prefix {
        events.retain(|e| e.kind.starts_with(&prefix));
        events.truncate(limit);
    }
    Ok(Json(
        json!({ "node": api.api.node.name(), "events": events }),
    ))
}

async fn metrics(State(api): Shared) -> Result<Response, Failure> {
    let registry = api
        .api
        .metrics
        .as_ref()
        .ok_or_else(|| Failure::not_found("no metrics registry is served here"))?;
    let text = registry.render_prometheus();
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        text,
    )
        .into_response())
}
