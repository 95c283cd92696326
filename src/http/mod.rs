//! The management HTTP API of a node: JSON for the node, its membership,
//! names, agents, variables and recent protocol runs; `/metrics` in
//! Prometheus text; `/health` and `/ready` for orchestration probes; and
//! at `/` a live dashboard of all of it in the browser.
//!
//! It is off unless started, listens where it is told (loopback is the
//! safe choice, and the `foundation node --http` default), and with a
//! [`token`](HttpApi::token) every route but the two probes asks for
//! `Authorization: Bearer TOKEN`, compared in constant time; the
//! dashboard and its event stream take it as `?token=TOKEN` too (a
//! browser's `EventSource` cannot send headers: the token is then in the
//! page's address, so keep such a link to yourself). Every error
//! is a JSON body with its status code (`{"error": "...", "status": 404}`).
//! The server runs in an actor under the node's supervisor, restarted if
//! it fails, stopped with the node.
//!
//! | route | answers |
//! |---|---|
//! | `GET /health` | 200 while the node runs |
//! | `GET /ready` | 200 when this node is on the side of a partition that keeps working (its [`PartitionPolicy`](actor_cluster::PartitionPolicy)), else 503 with the reason |
//! | `GET /api/node` | name, address, version, uptime, peer and name counts |
//! | `GET /api/peers` | each peer with its status (`joining`, `up`, `suspect`) and since when |
//! | `GET /api/names[?group=G]` | registered names, their node, groups and labels |
//! | `GET /api/agents[?kind=&capability=&node=&status=]` | agents with status, health, node, capabilities |
//! | `GET /api/agents/{id}` | one agent |
//! | `GET /api/variables` | every variable's value and version (this node's copy), and the Raft group |
//! | `GET /api/variables/{name}` | its value and history, read through the leader |
//! | `GET /api/runs[?protocol=P&limit=N]` | the protocol runs this node coordinated lately |
//! | `GET /api/journal[?kind=K&correlation=C&since_ms=&before_ms=&limit=N]` | the node's journal ([`Node::journal`](actor_cluster::Node::journal)), newest first, 100 by default: membership (`membership.*`), agent lifecycle (`agent.*`), protocol runs (`protocol.*`, correlated by run); `kind` exact or `PREFIX.*` |
//! | `GET /metrics` | the process's metrics, Prometheus text format 0.0.4 |
//! | `GET /[?token=T]` | the dashboard: a picture of the cluster (this node, its peers by status, a peer seen before and gone as down), the agents of every node, the variables with their history as small plots, the recent runs; live |
//! | `GET /api/events[?token=T]` | what the dashboard shows, as server-sent events: a `snapshot` of the routes above once a second and at once on a change (at most 32 streams at once) |
//!
//! ```no_run
//! use foundation::http::HttpApi;
//! use foundation::prelude::*;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let node = Node::builder().name("a").cookie("secret").start().await?;
//! let agents = Agents::start(&node).await?;
//! let addr = HttpApi::new(&node)
//!     .agents(&agents)
//!     .token("let-me-in")
//!     .serve("127.0.0.1:8080".parse()?)
//!     .await?;
//! println!("management API on http://{addr}");
//! # Ok(())
//! # }
//! ```

mod dashboard;
mod routes;

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use actor_cluster::Node;
use actor_core::{ChildSpec, CoreError, MetricsRegistry};
use agents::variables::Variables;
use agents::Agents;
use ractor::ActorProcessingErr;

/// What can go wrong starting the management API.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HttpError {
    /// The address could not be bound (taken, or not this host's).
    #[error("the management API cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// Its actor could not start under the node's supervisor.
    #[error("the management API did not start: {0}")]
    Start(#[from] CoreError),
}

/// The management API of one node: what it shows, and who may ask.
#[derive(Debug, Clone)]
pub struct HttpApi {
    node: Node,
    agents: Option<Agents>,
    variables: Option<Variables>,
    metrics: Option<MetricsRegistry>,
    token: Option<Arc<str>>,
}

impl HttpApi {
    /// The API of `node`: its membership and names. Add what else it is
    /// to show with the methods below.
    pub fn new(node: &Node) -> Self {
        Self {
            node: node.clone(),
            agents: None,
            variables: None,
            metrics: None,
            token: None,
        }
    }

    /// Shows the agents of the cluster and the protocol runs this node
    /// coordinated.
    #[must_use]
    pub fn agents(self, agents: &Agents) -> Self {
        Self {
            agents: Some(agents.clone()),
            ..self
        }
    }

    /// Shows the cluster's replicated variables.
    #[must_use]
    pub fn variables(self, variables: &Variables) -> Self {
        Self {
            variables: Some(variables.clone()),
            ..self
        }
    }

    /// Serves `registry` (the one installed as the process's recorder) on
    /// `/metrics`.
    #[must_use]
    pub fn metrics(self, registry: &MetricsRegistry) -> Self {
        Self {
            metrics: Some(registry.clone()),
            ..self
        }
    }

    /// Asks every request but `/health` and `/ready` for
    /// `Authorization: Bearer TOKEN`; a missing or wrong token is refused
    /// with 401.
    #[must_use]
    pub fn token(self, token: impl Into<String>) -> Self {
        Self {
            token: Some(token.into().into()),
            ..self
        }
    }

    /// The API as an axum router, to serve or nest in a server of your
    /// own.
    pub fn router(&self) -> axum::Router {
        routes::router(self.clone(), Instant::now())
    }

    /// Listens on `addr` (port 0 picks one) and serves the API from an
    /// actor under the node's supervisor; answers the address it listens
    /// on.
    ///
    /// # Errors
    /// [`HttpError::Bind`] if `addr` cannot be bound;
    /// [`HttpError::Start`] if the node's supervisor refuses the actor
    /// (one is serving already, or the node is stopping).
    pub async fn serve(self, addr: SocketAddr) -> Result<SocketAddr, HttpError> {
        let bind = |source| HttpError::Bind { addr, source };
        let listener = std::net::TcpListener::bind(addr).map_err(bind)?;
        listener.set_nonblocking(true).map_err(bind)?;
        let bound = listener.local_addr().map_err(bind)?;
        // The first incarnation takes this socket; a restart binds the
        // same address again.
        let first = Arc::new(Mutex::new(Some(listener)));
        let router = self.router();
        let spec = ChildSpec::new("http-api", move || {
            let server = HttpServer {
                first: Arc::clone(&first),
                addr: bound,
                router: router.clone(),
            };
            (actor_core::TaskActor::new(), server)
        });
        self.node.supervisor().start_child(spec).await?;
        tracing::info!(node = %self.node.name(), %bound, "management API listening");
        Ok(bound)
    }
}

/// The server's task, run by an [`actor_core::TaskActor`] under the
/// node's supervisor (restarted if the server ever ends by itself): the
/// first incarnation takes the socket bound in `serve`, a restart binds
/// the same address again.
struct HttpServer {
    first: Arc<Mutex<Option<std::net::TcpListener>>>,
    addr: SocketAddr,
    router: axum::Router,
}

impl actor_core::Task for HttpServer {
    const WHAT: &'static str = "management API";

    async fn start(
        self,
    ) -> Result<Pin<Box<dyn Future<Output = String> + Send>>, ActorProcessingErr> {
        let taken = self
            .first
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let listener = match taken {
            Some(listener) => tokio::net::TcpListener::from_std(listener)?,
            None => tokio::net::TcpListener::bind(self.addr).await?,
        };
        let router = self.router;
        Ok(Box::pin(async move {
            match axum::serve(listener, router).await {
                Ok(()) => "the server stopped".to_owned(),
                Err(e) => e.to_string(),
            }
        }))
    }
}
