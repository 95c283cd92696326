//! `foundation node`: run one node until stopped.

use std::net::SocketAddr;
use std::time::Duration;

use actor_cluster::PartitionPolicy;
use actor_core::ChildSpec;
use agents::{ElectionMethod, ElectionSpec, YesNoRule};
use anyhow::{bail, Context};
use foundation::prelude::*;
use ractor::{Actor, ActorProcessingErr, ActorRef, Message};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value as Json};
use tokio::io::{AsyncBufReadExt, BufReader};

use super::agent::{self, ScriptedAgent};
use super::families::{auctions, consensus, games, lifecycle, markets, millis, negotiation};
use super::{settings, study, vars};

/// Arguments of `foundation node`.
#[derive(Debug, clap::Args)]
pub(crate) struct NodeArgs {
    /// Read settings from this TOML file (keys as the flags, `_` for `-`);
    /// `FOUNDATION_*` variables override it, and flags override both.
    #[arg(long)]
    pub(crate) config: Option<std::path::PathBuf>,
    /// The node's name, unique in the cluster (required here, in the file, or as FOUNDATION_NAME).
    #[arg(long)]
    pub(crate) name: Option<String>,
    /// The cluster to join; mDNS only connects nodes of the same cluster [default: foundation].
    #[arg(long)]
    pub(crate) cluster: Option<String>,
    /// Where to listen for peers [default: 127.0.0.1:7400, or 0.0.0.0:7400 with mDNS].
    #[arg(long)]
    pub(crate) listen: Option<SocketAddr>,
    /// The address peers should dial [default: the listen address, or this host's LAN address].
    #[arg(long)]
    pub(crate) advertise: Option<SocketAddr>,
    /// The shared secret of the cluster (or FOUNDATION_COOKIE).
    #[arg(long)]
    pub(crate) cookie: Option<String>,
    /// How to find peers; repeatable. Without this flag, `--seed` and `--dns-name`
    /// choose for themselves, and with neither the node uses mDNS.
    #[arg(long, value_enum)]
    pub(crate) discovery: Vec<DiscoveryKind>,
    /// A peer to connect to (`host:port`); repeatable.
    #[arg(long = "seed")]
    pub(crate) seeds: Vec<String>,
    /// A DNS name whose A/AAAA records are the peers, with their port (`NAME:PORT`); repeatable.
    #[arg(long = "dns-name")]
    pub(crate) dns_names: Vec<String>,
    /// A peer silent this long is declared down and its connection closed (e.g. `2s`, `800ms`) [default: 2s].
    #[arg(long, value_parser = humantime::parse_duration)]
    pub(crate) failure_timeout: Option<Duration>,
    /// A connection that has not authenticated within this time is closed [default: 5s].
    #[arg(long, value_parser = humantime::parse_duration)]
    pub(crate) handshake_timeout: Option<Duration>,
    /// Which side of a partition keeps working: `keep-majority`,
    /// `keep-oldest` or `static-quorum:N` [default: keep-majority].
    #[arg(long, value_parser = policy_word)]
    pub(crate) partition_policy: Option<String>,
    /// This node's certificate chain (PEM) for mutual TLS; needs --tls-key and --tls-ca.
    #[arg(long)]
    pub(crate) tls_cert: Option<std::path::PathBuf>,
    /// This node's private key (PEM).
    #[arg(long)]
    pub(crate) tls_key: Option<std::path::PathBuf>,
    /// The cluster CA certificate (PEM) that signs every node's certificate.
    #[arg(long)]
    pub(crate) tls_ca: Option<std::path::PathBuf>,
    /// Print one JSON line per membership change on stdout.
    #[arg(long, value_enum)]
    pub(crate) events: Option<EventFormat>,
    /// Speak only the previous wire version, as the build before this one:
    /// for tests of a rolling upgrade.
    #[arg(long, hide = true)]
    pub(crate) previous_wire_version: bool,
    /// Start an agent: `ID[:KEY=VALUE]...` with keys such as `vote=yes|no|abstain`,
    /// `bid=AMOUNT`, `rank=A>B>C|none`, `delay=MS`; the command `help` lists every key.
    /// Repeatable.
    #[arg(long = "agent")]
    pub(crate) agents: Vec<String>,
    /// Start a group of agents: `COUNT:PREFIX[:KEY=VALUE]...` starts `PREFIX1` to
    /// `PREFIX<COUNT>` with the same keys, `{i}` in a value standing for the
    /// agent's number (`--agents 100:a:bid={i}`); they print no `agent_asked`
    /// lines. Repeatable.
    #[arg(long = "agents")]
    pub(crate) agent_groups: Vec<String>,
    /// Keep the cluster's replicated variables, with these nodes (this one
    /// among them) as the Raft voters: `node1,node2,node3`. Every voter is
    /// started with the same list; the `var` commands need it.
    #[arg(long, value_delimiter = ',')]
    pub(crate) variables: Vec<String>,
    /// Keep the variables' Raft log and snapshots in this directory (one per
    /// node), so that a restart of every node keeps every committed value;
    /// without it they are in memory.
    #[arg(long)]
    pub(crate) data_dir: Option<std::path::PathBuf>,
    /// Join the variables group the cluster already runs, as a new voter
    /// (`var leave` leaves it for good).
    #[arg(long, conflicts_with = "variables")]
    pub(crate) join_variables: bool,
    /// An attribute of this node that agent placement can require
    /// (`zone=eu`); repeatable.
    #[arg(long = "attribute")]
    pub(crate) attributes: Vec<String>,
    /// Serve the management HTTP API (JSON, `/metrics`, `/health`, `/ready`)
    /// on this address; `--http` alone listens on 127.0.0.1:7480. Off by default.
    #[arg(long, num_args = 0..=1, default_missing_value = "127.0.0.1:7480")]
    pub(crate) http: Option<SocketAddr>,
    /// The bearer token the management API asks for (all but /health and
    /// /ready), or FOUNDATION_HTTP_TOKEN.
    #[arg(long)]
    pub(crate) http_token: Option<String>,
    /// Register a counter service under this name; repeatable.
    #[arg(long = "counter")]
    pub(crate) counters: Vec<String>,
    /// Read commands from stdin, one per line, and answer each with a JSON line.
    /// `help` lists every command and agent key. Commands: peers, names, agents,
    /// ask NAME add N|get [TIMEOUT_MS], tell NAME add N,
    /// vote SUBJECT VALUE DEADLINE_MS,
    /// vote-weighted SUBJECT VALUE DEADLINE_MS majority|supermajority|unanimity [QUORUM] [AGENT=WEIGHT ...]
    /// (supermajority is 2/3 of the eligible weight; unlisted agents weigh 1),
    /// elect plurality|borda|irv|condorcet DEADLINE_MS CAND1,CAND2,...,
    /// auction ITEM first|second RESERVE DEADLINE_MS,
    /// var define|get|history|propose|set|delete|watch|unwatch|status ... (with --variables),
    /// study start|resume|status ... (with --variables), quit.
    #[arg(long)]
    pub(crate) commands: bool,
}

/// A partition policy's word, checked (see [`partition_policy`]).
fn policy_word(word: &str) -> Result<String, String> {
    partition_policy(word).map(|_| word.to_owned())
}

/// `keep-majority`, `keep-oldest` or `static-quorum:N`.
pub(crate) fn partition_policy(word: &str) -> Result<PartitionPolicy, String> {
    match word.split_once(':') {
        None if word == "keep-majority" => Ok(PartitionPolicy::KeepMajority),
        None if word == "keep-oldest" => Ok(PartitionPolicy::KeepOldest),
        Some(("static-quorum", n)) => n
            .parse::<usize>()
            .ok()
            .filter(|n| *n > 0)
            .map(PartitionPolicy::StaticQuorum)
            .ok_or_else(|| format!("static-quorum takes a positive count, not `{n}`")),
        _ => Err(format!(
            "`{word}`: expected keep-majority, keep-oldest or static-quorum:N"
        )),
    }
}

/// A discovery strategy named on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum DiscoveryKind {
    /// Multicast DNS on the LAN.
    Mdns,
    /// The `--seed` addresses.
    Seeds,
    /// The `--dns-name` names.
    Dns,
    /// None: only accept connections (and dial peers that peers announce).
    None,
}

/// How membership events are printed.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub(crate) enum EventFormat {
    /// One JSON object per line.
    Json,
}

/// The counter service's messages.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) enum CounterMsg {
    /// Add to the count; replies with the new count.
    Add(u64),
    /// Reply with the count.
    Get,
    /// The next number of a sequence: the count becomes `n` if `n` is one
    /// more than the count, and `u64::MAX` for good otherwise (a message
    /// lost, doubled or out of order); replies with the count.
    Next(u64),
}

impl actor_cluster::Message for CounterMsg {
    type Reply = u64;
    const TAG: &'static str = "foundation.counter/1";
}

struct Counter;

impl Actor for Counter {
    type Msg = Request<CounterMsg>;
    type State = u64;
    /// Registered under the name if there is one; joined to groups
    /// unnamed otherwise (`join-unnamed`).
    type Arguments = (Node, Option<String>);

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        (node, name): (Node, Option<String>),
    ) -> Result<u64, ActorProcessingErr> {
        if let Some(name) = name {
            node.register(&name, &myself).await?;
        }
        Ok(0)
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        req: Self::Msg,
        count: &mut u64,
    ) -> Result<(), ActorProcessingErr> {
        let (msg, reply) = req.into_parts();
        match msg {
            CounterMsg::Add(n) => *count = count.saturating_add(n),
            CounterMsg::Next(n) if *count != u64::MAX && n == *count + 1 => *count = n,
            CounterMsg::Next(_) => *count = u64::MAX,
            CounterMsg::Get => {}
        }
        reply.send(*count);
        Ok(())
    }
}

// Compile-time check that the counter's message type is a ractor message.
const _: fn() = || {
    fn is_message<T: Message>() {}
    is_message::<Request<CounterMsg>>();
};

/// Prints one JSON line on stdout.
pub(crate) fn emit(line: &Json) {
    println!("{line}");
}

fn error_json(e: &ClusterError) -> Json {
    let kind = match e {
        ClusterError::UnknownName(_) => "unknown_name",
        ClusterError::Timeout { .. } => "timeout",
        ClusterError::NodeGone { .. } => "node_gone",
        ClusterError::TypeMismatch { .. } => "type_mismatch",
        ClusterError::Decode { .. } => "decode",
        ClusterError::Encode { .. } => "encode",
        ClusterError::NoReply { .. } => "no_reply",
        ClusterError::NoQuorum { .. } => "no_quorum",
        ClusterError::NameTaken { .. } => "name_taken",
        ClusterError::InvalidName { .. } => "invalid_name",
        _ => "other",
    };
    json!({ "kind": kind, "message": e.to_string() })
}

pub(crate) async fn run(args: NodeArgs) -> anyhow::Result<()> {
    let config = settings::load(&args)?;
    let settings = config.current();
    // Every `foundation_*` metric of this process lands here (`metrics`).
    let metrics = actor_core::MetricsRegistry::new();
    metrics
        .install()
        .context("installing the metrics recorder")?;
    let mut scripted: Vec<ScriptedAgent> = settings
        .agents
        .iter()
        .map(|s| ScriptedAgent::parse(s))
        .collect::<anyhow::Result<_>>()?;
    for agent in &mut scripted {
        agent.announce = args.events.is_some();
    }
    // Groups are for scale: their agents print no `agent_asked` lines.
    for group in &settings.agent_groups {
        scripted.extend(ScriptedAgent::parse_many(group)?);
    }
    let mut builder = Node::builder()
        .name(settings.name()?)
        .cookie(settings.cookie()?)
        .cluster(
            settings
                .cluster
                .as_deref()
                .unwrap_or(actor_cluster::DEFAULT_CLUSTER),
        )
        .seeds(settings.seeds.clone());
    if let Some(listen) = settings.listen {
        builder = builder.listen(listen);
    }
    if let Some(advertise) = settings.advertise {
        builder = builder.advertise(advertise);
    }
    for name in &settings.dns_names {
        let (host, port) = name
            .rsplit_once(':')
            .and_then(|(h, p)| Some((h, p.parse::<u16>().ok()?)))
            .with_context(|| format!("--dns-name `{name}` is not NAME:PORT"))?;
        builder = builder.discovery(Discovery::dns(host, port));
    }
    let wants = |k| settings.discovery.contains(&k);
    if wants(DiscoveryKind::Seeds) && settings.seeds.is_empty() {
        bail!("--discovery seeds needs at least one --seed");
    }
    if wants(DiscoveryKind::Dns) && settings.dns_names.is_empty() {
        bail!("--discovery dns needs at least one --dns-name");
    }
    if wants(DiscoveryKind::Mdns) {
        builder = builder.discovery(Discovery::mdns());
    }
    if wants(DiscoveryKind::None) {
        builder = builder.no_discovery();
    }
    match (&settings.tls_cert, &settings.tls_key, &settings.tls_ca) {
        (Some(cert), Some(key), Some(ca)) => {
            builder = builder.tls(actor_cluster::Tls::from_pem_files(cert, key, ca));
        }
        (None, None, None) => {}
        _ => bail!("mutual TLS needs all three of --tls-cert, --tls-key and --tls-ca"),
    }
    if args.previous_wire_version {
        builder = builder.previous_wire_version();
    }
    let node = builder
        .failure_timeout(settings.failure_timeout()?)
        .handshake_timeout(settings.handshake_timeout()?)
        .partition_policy(settings.partition_policy()?)
        .start()
        .await
        .context("starting the node")?;
    let mut events = node.subscribe();
    let json_events = args.events.is_some();
    for name in &settings.counters {
        start_counter(&node, name).await?;
    }
    let agents = Agents::start(&node).await?;
    // Any node may start a scripted agent here (`spawn-on`, `spawn-for-key`).
    agents.register_kind("scripted", |spec: String| {
        let agent = ScriptedAgent::parse(&spec).map_err(|e| {
            agents::AgentError::InvalidParameters(agents::InvalidParameter::Other(format!("{e:#}")))
        })?;
        Ok(agent.spec())
    });
    // A plain actor (a count under a name of the caller's choice) any node
    // may start here (`spawn-actor-on`, `spawn-actor-for-key`).
    agents.register_actor_kind("counter", |name: String| {
        Ok((name.clone(), super::tally::Tally::counter(&name)))
    });
    agents.register_kind("tally", |spec: String| {
        super::tally::spec(&spec).map_err(|e| {
            agents::AgentError::InvalidParameters(agents::InvalidParameter::Other(format!("{e:#}")))
        })
    });
    if !settings.attributes.is_empty() {
        agents.set_attributes(settings.attributes.clone()).await?;
    }
    for agent in scripted {
        agents.spawn_with(agent.spec()).await?;
    }
    if json_events {
        emit(
            &json!({ "event": "listening", "node": node.name(), "addr": node.addr().to_string() }),
        );
    }
    // The voters find each other through the cluster, so the group forms
    // once the node is listening.
    let variables = if settings.variables.is_empty() && !settings.join_variables {
        None
    } else {
        let mut builder = if settings.join_variables {
            Variables::joining(&node)
        } else {
            Variables::builder(&node, &settings.variables)
        };
        if let Some(dir) = &settings.data_dir {
            builder = builder.data_dir(dir);
        }
        let variables = builder
            .start()
            .await
            .context("starting the variables group")?;
        if json_events {
            let status = variables.status();
            emit(
                &json!({ "event": "variables_ready", "node": node.name(), "leader": status.leader }),
            );
        }
        Some(variables)
    };

    if let Some(addr) = settings.http {
        let mut api = foundation::http::HttpApi::new(&node)
            .agents(&agents)
            .metrics(&metrics);
        if let Some(variables) = &variables {
            api = api.variables(variables);
        }
        if let Some(token) = &settings.http_token {
            api = api.token(token);
        }
        let bound = api.serve(addr).await?;
        if json_events {
            emit(
                &json!({ "event": "http_listening", "node": node.name(), "addr": bound.to_string() }),
            );
        }
    }
    let mut shell = Shell {
        node: node.clone(),
        agents,
        variables,
        held: Held::new(),
        watch: None,
        names: None,
        agent_watch: None,
        studies: study::Studies::default(),
        metrics,
        unnamed: std::collections::HashMap::new(),
        config,
    };
    let mut stdin = BufReader::new(tokio::io::stdin()).lines();
    let mut reading = args.commands;
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    loop {
        tokio::select! {
            event = events.recv() => match event {
                Ok(event) if json_events => emit(&serde_json::to_value(&event)?),
                Ok(_) => {}
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!("{n} membership events were dropped (slow reader)");
                }
                Err(_) => break,
            },
            change = next_agent_change(&mut shell.agent_watch) => match change {
                Some(Ok(change)) => emit(&serde_json::to_value(&change)?),
                Some(Err(e)) => emit(&json!({ "event": "agents_missed", "message": e.to_string() })),
                None => shell.agent_watch = None,
            },
            change = next_name_change(&mut shell.names) => match change {
                Ok(change) => emit(&serde_json::to_value(&change)?),
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    emit(&json!({ "event": "names_missed", "count": n }));
                }
                Err(_) => shell.names = None,
            },
            change = vars::next_change(&mut shell.watch) => match change {
                Ok(change) => emit(&vars::change_event(&change)),
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    emit(&json!({ "event": "variables_missed", "count": n }));
                }
                Err(_) => shell.watch = None,
            },
            event = shell.studies.next() => emit(&event),
            line = stdin.next_line(), if reading => match line? {
                None => reading = false,
                Some(line) => {
                    let line = line.trim().to_owned();
                    if line.is_empty() {
                        continue;
                    }
                    if line == "quit" {
                        break;
                    }
                    emit(&shell.command(&line).await);
                }
            },
            _ = tokio::signal::ctrl_c() => break,
            _ = terminate.recv() => break,
        }
    }
    // Stops the variables' Raft too: it is owned by the node's supervisor.
    node.shutdown().await;
    Ok(())
}

/// Counter references kept by `hold`, by name.
type Held = std::collections::HashMap<String, Ref>;

/// Starts a counter under the node's supervisor, registered as `name`. It
/// is transient: stopped after losing its name to another node, it stays
/// stopped.
async fn start_counter(node: &Node, name: &str) -> anyhow::Result<()> {
    let (node, name) = (node.clone(), name.to_owned());
    let spec = ChildSpec::new(format!("counter:{name}"), {
        let node = node.clone();
        move || (Counter, (node.clone(), Some(name.clone())))
    })
    .restart(actor_core::Restart::Transient);
    node.supervisor()
        .start_child(spec)
        .await
        .context("starting a counter")?;
    Ok(())
}

/// The reply to an ask of the counter `name`.
fn ask_reply(name: &str, result: Result<u64, ClusterError>) -> Json {
    match result {
        Ok(v) => json!({ "reply": "ask", "name": name, "ok": v }),
        Err(e) => json!({ "reply": "ask", "name": name, "error": error_json(&e) }),
    }
}

/// The next change of the name table; never, while nobody watches.
async fn next_name_change(
    names: &mut Option<tokio::sync::broadcast::Receiver<actor_cluster::NameEvent>>,
) -> Result<actor_cluster::NameEvent, tokio::sync::broadcast::error::RecvError> {
    match names {
        Some(names) => names.recv().await,
        None => std::future::pending().await,
    }
}

/// The next change of the agent directory; never, while nobody watches.
async fn next_agent_change(
    watch: &mut Option<agents::AgentWatch>,
) -> Option<agents::Result<agents::AgentEvent>> {
    match watch {
        Some(watch) => watch.next().await,
        None => std::future::pending().await,
    }
}

/// What the command channel works with.
struct Shell {
    node: Node,
    agents: Agents,
    variables: Option<Variables>,
    held: Held,
    watch: vars::Watch,
    /// Changes of the name table, while `watch-names` is on.
    names: Option<tokio::sync::broadcast::Receiver<actor_cluster::NameEvent>>,
    /// Changes of the agent directory, while `watch-agents` is on.
    agent_watch: Option<agents::AgentWatch>,
    studies: study::Studies,
    /// This process's metrics recorder.
    metrics: actor_core::MetricsRegistry,
    /// Counters without a name, joined to groups (`join-unnamed`), by
    /// the name `Node::join` made for each.
    unnamed: std::collections::HashMap<String, ActorRef<Request<CounterMsg>>>,
    /// What the node was started with, and the keys it may change.
    config: actor_core::Config<settings::NodeSettings>,
}

impl Shell {
    /// Joins `group` with the unnamed counter `name` (made by an earlier
    /// `join-unnamed`), or with a new one: a transient child of the node's
    /// supervisor, registered under no name of its own.
    async fn join_unnamed(&mut self, group: &str, name: Option<&str>) -> anyhow::Result<Json> {
        let (actor, child) = match name {
            Some(name) => (self.unnamed_counter(name)?, None),
            None => {
                let id = format!("unnamed-counter:{}", self.unnamed.len());
                let node = self.node.clone();
                let spec = ChildSpec::new(id.clone(), move || (Counter, (node.clone(), None)))
                    .restart(actor_core::Restart::Transient);
                let cell = self
                    .node
                    .supervisor()
                    .start_child(spec)
                    .await
                    .context("starting a counter")?;
                (cell.into(), Some(id))
            }
        };
        let joined = match self.node.join(group, &actor).await {
            Ok(joined) => joined,
            Err(e) => {
                // A counter started for this join goes with it.
                if let Some(id) = child {
                    let _ = self.node.supervisor().terminate_child(&id).await;
                }
                return Err(e.into());
            }
        };
        let name = joined.name().to_owned();
        self.unnamed.insert(name.clone(), actor);
        Ok(json!({ "reply": "join-unnamed", "name": name, "group": group, "ok": true }))
    }

    /// Takes the unnamed counter `name` out of `group`.
    async fn leave_unnamed(&self, name: &str, group: &str) -> anyhow::Result<Json> {
        let actor = self.unnamed_counter(name)?;
        self.node.leave(group, &actor).await?;
        Ok(json!({ "reply": "leave-unnamed", "name": name, "group": group, "ok": true }))
    }

    /// `config set attributes KEY=VALUE,...`: this node's placement
    /// attributes, all of them, from now on (none: no words).
    async fn set_attributes(&self, words: &[&str]) -> anyhow::Result<Json> {
        let words: Vec<String> = words.iter().map(|w| (*w).to_owned()).collect();
        let attributes = settings::attributes(&words)?;
        self.config.update("attributes", &attributes)?;
        self.agents.set_attributes(attributes.clone()).await?;
        Ok(json!({ "reply": "config", "set": "attributes", "attributes": attributes }))
    }

    /// The unnamed counter `join-unnamed` answered as `name`.
    fn unnamed_counter(&self, name: &str) -> anyhow::Result<ActorRef<Request<CounterMsg>>> {
        self.unnamed
            .get(name)
            .cloned()
            .with_context(|| format!("no unnamed counter `{name}` here (use `join-unnamed GROUP`)"))
    }

    /// This process's counters and gauges whose name starts with `prefix`
    /// (all without one).
    fn metrics_json(&self, prefix: Option<&str>) -> Json {
        let snapshot = self.metrics.snapshot();
        let wanted = |name: &str| prefix.is_none_or(|p| name.starts_with(p));
        let counters: Vec<Json> = snapshot
            .counters
            .iter()
            .filter(|c| wanted(&c.name))
            .map(|c| json!({ "name": c.name, "labels": c.labels, "value": c.value }))
            .collect();
        let gauges: Vec<Json> = snapshot
            .gauges
            .iter()
            .filter(|g| wanted(&g.name))
            .map(|g| json!({ "name": g.name, "labels": g.labels, "value": g.value }))
            .collect();
        json!({ "reply": "metrics", "counters": counters, "gauges": gauges })
    }

    /// Runs one command line and answers its JSON reply.
    async fn command(&mut self, line: &str) -> Json {
        let words: Vec<&str> = line.split_whitespace().collect();
        let answer = match words.as_slice() {
            ["watch-names"] => {
                self.names = Some(self.node.watch_names());
                Ok(json!({ "reply": "watch-names", "ok": true }))
            }
            ["watch-agents"] => {
                self.agent_watch = Some(self.agents.watch());
                Ok(json!({ "reply": "watch-agents", "ok": true }))
            }
            ["unwatch-agents"] => {
                self.agent_watch = None;
                Ok(json!({ "reply": "unwatch-agents", "ok": true }))
            }
            ["unwatch-names"] => {
                self.names = None;
                Ok(json!({ "reply": "unwatch-names", "ok": true }))
            }
            ["var", rest @ ..] => {
                let name = self.node.name().to_owned();
                vars::command(
                    self.variables.as_ref(),
                    &self.agents,
                    &name,
                    &mut self.watch,
                    rest,
                )
                .await
            }
            ["metrics", prefix @ ..] => Ok(self.metrics_json(prefix.first().copied())),
            ["config"] => Ok(json!({
                "reply": "config",
                "settings": self.config.current().shown(),
                "updatable": self.config.updatable_paths(),
            })),
            ["config", "set", "attributes", words @ ..] => self.set_attributes(words).await,
            ["config", "set", key, ..] => Err(anyhow::anyhow!(
                "`{key}` cannot change while the node runs (restart it); these can: {}",
                settings::UPDATABLE.join(", ")
            )),
            ["join-unnamed", group, name @ ..] => {
                self.join_unnamed(group, name.first().copied()).await
            }
            ["leave-unnamed", name, group] => self.leave_unnamed(name, group).await,
            ["stop-unnamed", name] => self.unnamed_counter(name).map(|actor| {
                actor.stop(None);
                json!({ "reply": "stop-unnamed", "name": name, "ok": true })
            }),
            ["study", rest @ ..] => {
                self.studies
                    .command(self.variables.as_ref(), &self.agents, rest)
                    .await
            }
            _ => command(&self.node, &self.agents, &mut self.held, &words).await,
        };
        match answer {
            Ok(v) => v,
            Err(e) => json!({ "reply": "error", "command": line, "message": format!("{e:#}") }),
        }
    }
}

async fn command(
    node: &Node,
    agents: &Agents,
    held: &mut Held,
    words: &[&str],
) -> anyhow::Result<Json> {
    Ok(match words {
        ["counter", name] => {
            start_counter(node, name).await?;
            json!({ "reply": "counter", "name": name, "ok": true })
        }
        ["hold", name] => {
            let counter = node.lookup(name).await;
            let reply = match &counter {
                Ok(r) => json!({ "reply": "hold", "name": name, "node": r.node() }),
                Err(e) => json!({ "reply": "hold", "name": name, "error": error_json(e) }),
            };
            if let Ok(counter) = counter {
                held.insert((*name).to_owned(), counter);
            }
            reply
        }
        ["ask-held", name, rest @ ..] => {
            let counter = held
                .get(*name)
                .with_context(|| format!("no reference held for `{name}` (use `hold {name}`)"))?;
            let (msg, timeout) = counter_msg(rest)?;
            ask_reply(name, counter.ask(msg, timeout).await)
        }
        ["peers"] => {
            let peers: Vec<Json> = node
                .peers()
                .await?
                .into_iter()
                .map(|p| json!({ "node": p.node, "addr": p.addr, "status": p.status, "wire": p.wire, "link": p.link }))
                .collect();
            json!({ "reply": "peers", "peers": peers })
        }
        ["names", "count", rest @ ..] if rest.len() <= 1 => {
            let names = node.names().await?;
            let count = match rest.first() {
                Some(holder) => names.iter().filter(|n| n.node == *holder).count(),
                None => names.len(),
            };
            json!({ "reply": "names", "count": count })
        }
        ["names"] => {
            let names: Vec<Json> = node
                .names()
                .await?
                .into_iter()
                .map(|n| json!({ "name": n.name, "node": n.node, "labels": n.labels }))
                .collect();
            json!({ "reply": "names", "names": names })
        }
        ["subscribe", topic, name] => {
            node.subscribe_topic(topic, name).await?;
            json!({ "reply": "subscribe", "topic": topic, "name": name, "ok": true })
        }
        ["unsubscribe", topic, name] => {
            node.unsubscribe_topic(topic, name).await?;
            json!({ "reply": "unsubscribe", "topic": topic, "name": name, "ok": true })
        }
        ["publish", topic, op, n] => {
            let n = n.parse().context("add and next take a number")?;
            let msg = match *op {
                "add" => CounterMsg::Add(n),
                "next" => CounterMsg::Next(n),
                other => bail!("publish TOPIC add|next N, not `{other}`"),
            };
            let subscribers = node.publish(topic, &msg).await?;
            json!({ "reply": "publish", "topic": topic, "subscribers": subscribers })
        }
        ["publish-seq", topic, from, to] => {
            // Published back to back from this node, in order.
            let (from, to): (u64, u64) = (
                from.parse().context("FROM is a number")?,
                to.parse().context("TO is a number")?,
            );
            let mut subscribers = 0;
            for n in from..=to {
                subscribers = node.publish(topic, &CounterMsg::Next(n)).await?;
            }
            json!({ "reply": "publish-seq", "topic": topic, "subscribers": subscribers })
        }
        ["join-group", name, group] => {
            node.join_group(name, group).await?;
            json!({ "reply": "join-group", "name": name, "group": group, "ok": true })
        }
        ["leave-group", name, group] => {
            node.leave_group(name, group).await?;
            json!({ "reply": "leave-group", "name": name, "group": group, "ok": true })
        }
        ["members", group] => {
            let members: Vec<Json> = node
                .members(group)
                .await?
                .into_iter()
                .map(|n| json!({ "name": n.name, "node": n.node }))
                .collect();
            json!({ "reply": "members", "group": group, "members": members })
        }
        ["label", name, pairs @ ..] => {
            let labels = pairs
                .iter()
                .map(|p| {
                    p.split_once('=')
                        .with_context(|| format!("`{p}` is not KEY=VALUE"))
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            match node.set_labels(name, labels).await {
                Ok(()) => json!({ "reply": "label", "name": name, "ok": true }),
                Err(e) => json!({ "reply": "label", "name": name, "error": error_json(&e) }),
            }
        }
        ["agents"] => json!({ "reply": "agents", "agents": agents.list().await? }),
        ["ask", name, rest @ ..] => {
            let (msg, timeout) = counter_msg(rest)?;
            let result = match node.lookup(name).await {
                Ok(counter) => counter.ask(msg, timeout).await,
                Err(e) => Err(e),
            };
            ask_reply(name, result)
        }
        ["tell", name, "add", n] => {
            let n = n.parse().context("add takes a number")?;
            let result = match node.lookup(name).await {
                Ok(counter) => counter.tell(CounterMsg::Add(n)).map_err(ClusterError::from),
                Err(e) => Err(e),
            };
            match result {
                Ok(()) => json!({ "reply": "tell", "name": name, "ok": true }),
                Err(e) => json!({ "reply": "tell", "name": name, "error": error_json(&e) }),
            }
        }
        ["vote", subject, value, deadline] => {
            let spec = VoteSpec::new(proposal(subject, value), "voter", millis(deadline)?);
            json!({ "reply": "vote", "result": agents.run(spec).await? })
        }
        ["vote-weighted", subject, value, deadline, rule, rest @ ..] => {
            let mut spec = VoteSpec::new(proposal(subject, value), "voter", millis(deadline)?)
                .rule(yes_no_rule(rule, rest)?);
            for (agent, weight) in weights(rest)? {
                spec = spec.weight(agent, weight);
            }
            json!({ "reply": "vote-weighted", "result": agents.run(spec).await? })
        }
        ["elect", method, deadline, candidates] => {
            let spec = ElectionSpec::new(
                candidates.split(','),
                method.parse::<ElectionMethod>()?,
                "voter",
                millis(deadline)?,
            );
            json!({ "reply": "elect", "result": agents.run(spec).await? })
        }
        ["auction", item, rule, reserve, deadline] => {
            let rule = match *rule {
                "first" => AuctionRule::FirstPrice,
                "second" => AuctionRule::SecondPrice,
                other => bail!("rule must be first or second, not `{other}`"),
            };
            let result = agents
                .run(
                    AuctionSpec::new(*item, rule, "bidder", millis(deadline)?)
                        .reserve(reserve.parse().context("the reserve is not a number")?),
                )
                .await?;
            json!({ "reply": "auction", "result": result })
        }
        ["help"] => help(),
        _ => match family_command(node, agents, words).await? {
            Some(reply) => reply,
            None => bail!("unknown command (`help` lists them)"),
        },
    })
}

/// The commands of the protocol families beyond votes and sealed bids.
async fn family_command(
    node: &Node,
    agents: &Agents,
    words: &[&str],
) -> anyhow::Result<Option<Json>> {
    if let Some(reply) = lifecycle::command(node, agents, words).await? {
        return Ok(Some(reply));
    }
    if let Some(reply) = consensus::command(node, agents, words).await? {
        return Ok(Some(reply));
    }
    if let Some(reply) = negotiation::command(node, agents, words).await? {
        return Ok(Some(reply));
    }
    if let Some(reply) = auctions::command(node, agents, words).await? {
        return Ok(Some(reply));
    }
    if let Some(reply) = markets::command(node, agents, words).await? {
        return Ok(Some(reply));
    }
    games::command(node, agents, words).await
}

/// Every command and agent spec key.
fn help() -> Json {
    let commands: Vec<&str> = BASIC_USAGE
        .iter()
        .chain(consensus::USAGE)
        .chain(negotiation::USAGE)
        .chain(auctions::USAGE)
        .chain(markets::USAGE)
        .chain(games::USAGE)
        .chain(lifecycle::USAGE)
        .chain(vars::USAGE)
        .chain(study::USAGE)
        .copied()
        .collect();
    let keys: Vec<&str> = agent::KEYS
        .iter()
        .chain(consensus::KEYS)
        .chain(negotiation::KEYS)
        .chain(auctions::KEYS)
        .chain(markets::KEYS)
        .chain(games::KEYS)
        .chain(lifecycle::KEYS)
        .chain(study::KEYS)
        .copied()
        .collect();
    json!({ "reply": "help", "commands": commands, "agent_keys": keys })
}

/// A counter message and timeout from `add N|get [TIMEOUT_MS]`.
fn counter_msg(words: &[&str]) -> anyhow::Result<(CounterMsg, Duration)> {
    let (msg, timeout) = match words {
        ["get", t @ ..] => (CounterMsg::Get, t.first()),
        ["add", n, t @ ..] => (
            CounterMsg::Add(n.parse().context("add takes a number")?),
            t.first(),
        ),
        _ => bail!("usage: ask NAME add N|get [TIMEOUT_MS]"),
    };
    Ok((
        msg,
        timeout.map_or(Ok(Duration::from_secs(2)), |t| millis(t))?,
    ))
}

/// The commands of this module, for `help`.
const BASIC_USAGE: &[&str] = &[
    "peers",
    "metrics [NAME_PREFIX] (this process's counters and gauges)",
    "config (what this node runs with, secrets hidden, and the keys it may change)",
    "config set attributes KEY=VALUE,... (this node's placement attributes, live)",
    "names | names count [NODE] (how many, or how many NODE holds)",
    "label NAME KEY=VALUE ... (labels of a name this node holds)",
    "subscribe TOPIC NAME | unsubscribe TOPIC NAME (a counter of this node)",
    "publish TOPIC add|next N (to every subscriber, on every node)",
    "publish-seq TOPIC FROM TO (next FROM..=TO, back to back: order shows in each counter)",
    "join-group NAME GROUP | leave-group NAME GROUP | members GROUP",
    "join-unnamed GROUP [NAME] (a new counter with no name, or the one join-unnamed named NAME) | leave-unnamed NAME GROUP | stop-unnamed NAME",
    "watch-names|unwatch-names (one event line per change of the name table)",
    "watch-agents|unwatch-agents (agent_listed / agent_unlisted event lines)",
    "agents",
    "ask NAME add N|get [TIMEOUT_MS]",
    "counter NAME",
    "hold NAME",
    "ask-held NAME add N|get [TIMEOUT_MS]",
    "tell NAME add N",
    "vote SUBJECT VALUE DEADLINE_MS",
    "vote-weighted SUBJECT VALUE DEADLINE_MS majority|supermajority|unanimity [QUORUM] [AGENT=WEIGHT ...]",
    "elect plurality|borda|irv|condorcet DEADLINE_MS CAND1,CAND2,...",
    "auction ITEM first|second RESERVE DEADLINE_MS",
    "help",
    "quit",
];

/// A proposal to set `subject` to `word` (see [`value`]).
fn proposal(subject: &str, word: &str) -> Proposal {
    Proposal {
        subject: subject.to_owned(),
        value: value(word),
    }
}

/// A value from the command line: an integer, a float, `true`/`false`, or text.
pub(crate) fn value(word: &str) -> Value {
    word.parse::<i64>()
        .map(Value::Int)
        .or_else(|_| word.parse::<f64>().map(Value::Float))
        .or_else(|_| word.parse::<bool>().map(Value::Bool))
        .unwrap_or_else(|_| Value::Text(word.to_owned()))
}

/// The rule of `vote-weighted`: its name, then an optional quorum (the
/// first of `rest` if it is not `AGENT=WEIGHT`).
fn yes_no_rule(name: &str, rest: &[&str]) -> anyhow::Result<YesNoRule> {
    let rule = match name {
        "majority" => YesNoRule::simple_majority(),
        "supermajority" => YesNoRule::two_thirds(),
        "unanimity" => YesNoRule::unanimity(),
        other => bail!("the rule must be majority, supermajority or unanimity, not `{other}`"),
    };
    Ok(match rest.first() {
        Some(q) if !q.contains('=') => rule.with_quorum(
            q.parse()
                .with_context(|| format!("the quorum `{q}` is not a number"))?,
        ),
        _ => rule,
    })
}

/// The `AGENT=WEIGHT` words of `vote-weighted` (a leading quorum is
/// skipped). Weights that parse but are not finite or negative are passed
/// on: the rule reports them.
fn weights<'a>(rest: &[&'a str]) -> anyhow::Result<Vec<(&'a str, f64)>> {
    rest.iter()
        .filter(|w| w.contains('='))
        .map(|w| {
            let (agent, weight) = w.split_once('=').unwrap_or((w, ""));
            let weight = weight
                .parse()
                .with_context(|| format!("the weight in `{w}` is not a number"))?;
            Ok((agent, weight))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weighted_vote_arguments_parse() {
        let rule = yes_no_rule("supermajority", &["8", "a=2"]).unwrap();
        assert_eq!(rule, YesNoRule::two_thirds().with_quorum(8.0));
        assert_eq!(
            yes_no_rule("majority", &["a=2"]).unwrap(),
            YesNoRule::simple_majority()
        );
        assert!(yes_no_rule("plurality", &[]).is_err());
        assert!(yes_no_rule("unanimity", &["lots"]).is_err());
        assert_eq!(
            weights(&["8", "a=2", "b=0.5"]).unwrap(),
            [("a", 2.0), ("b", 0.5)]
        );
        // Negative weights reach the rule, which reports them.
        assert_eq!(weights(&["a=-1"]).unwrap(), [("a", -1.0)]);
        assert!(weights(&["a=heavy"]).is_err());
    }
}
