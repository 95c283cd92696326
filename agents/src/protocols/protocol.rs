//! What every protocol run shares: the [`Protocol`] trait a spec
//! implements, the [`Run`] its coordinator is given, the [`Running`]
//! handle [`Agents::launch`] returns, and the coordinator actor itself.
//!
//! [`Agents::run`] and [`Agents::launch`] do the part no protocol repeats:
//! validate the spec, find the invited agents, refuse on the losing side
//! of a partition, start a coordinator actor linked to the node's agent
//! supervisor, open a span named after the protocol, and record the
//! run's telemetry (runs, duration, participation) when it ends.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use actor_cluster::{ClusterError, Message};
use futures::future::{FutureExt, Shared};
use futures::stream::{FuturesUnordered, StreamExt};
use ractor::{Actor, ActorProcessingErr, ActorRef};
use tokio::sync::oneshot;
use tracing::Instrument;

use super::runs::{unix_ms, RunRecord};
use super::Missing;
use crate::agent::Rejected;
use crate::error::{AgentError, Result};
use crate::system::{AgentRef, Agents};

/// Whom a protocol run invites.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Invite {
    /// Every agent with this capability that can be found now, wherever
    /// it runs, sorted by id. Nobody found is
    /// [`AgentError::NoParticipants`].
    Capability(String),
    /// These agents, in this order (the two sides of a bargain or a
    /// match). One not found is [`AgentError::UnknownAgent`].
    Agents(Vec<String>),
}

/// A protocol: a spec that [`Agents::run`] can start on any node.
///
/// The spec checks its own parameters ([`validate`](Protocol::validate)),
/// says whom to invite ([`invite`](Protocol::invite)) and runs the
/// protocol in a coordinator actor ([`run`](Protocol::run)), talking to
/// the invited agents through the [`Run`] it is given and deciding with
/// the family's pure rules.
pub trait Protocol: Send + Sized + 'static {
    /// What a run reports.
    type Output: Send + 'static;

    /// The protocol's name in spans, metrics and the notices agents get
    /// when an answer is set aside (`vote`, `english_auction`, ...).
    const NAME: &'static str;

    /// Refuses invalid parameters before anybody is asked.
    ///
    /// # Errors
    /// The family's error, or [`AgentError::InvalidParameters`].
    fn validate(&self) -> Result<()>;

    /// Whom to invite.
    fn invite(&self) -> Invite;

    /// Runs the protocol with the invited agents, in the coordinator.
    fn run(self, run: &Run) -> impl Future<Output = Result<Self::Output>> + Send;

    /// Its result in one line, for the node's log of recent runs
    /// ([`Agents::recent_runs`]): who won at what price, whether a vote
    /// passed. None by default.
    fn summary(output: &Self::Output) -> Option<String> {
        let _ = output;
        None
    }
}

/// The invited agents: id and reference, sorted by id (or in the order
/// [`Invite::Agents`] named them).
pub(crate) type Participants = Arc<[(String, AgentRef)]>;

/// One protocol run as its coordinator sees it: the invited agents, the
/// clock, and the ways to ask them. Answers received through it count
/// towards the run's participation; an agent whose node is gone is not
/// asked again.
#[derive(Debug)]
pub struct Run {
    protocol: &'static str,
    participants: Participants,
    started: Instant,
    heard: Mutex<Heard>,
    cancel: Shared<oneshot::Receiver<()>>,
}

/// What a run has heard so far.
#[derive(Debug, Default)]
struct Heard {
    /// Agents that answered at least once.
    answered: BTreeSet<String>,
    /// Agents found gone: not asked again.
    gone: BTreeSet<String>,
    /// The first reason each agent failed to answer.
    missing: BTreeMap<String, Missing>,
}

/// Answers in arrival order, and who did not answer.
#[derive(Debug)]
pub struct Collected<R> {
    /// Answers received before the deadline, in arrival order.
    pub answers: Vec<(String, R)>,
    /// Asked agents without an answer, sorted by id.
    pub missing: Vec<Missing>,
    /// Those of `missing` that are gone (their node down, their name
    /// unknown) rather than late.
    pub gone: Vec<String>,
}

/// The reason given for a participant that did not answer in time.
const LATE: &str = "no answer before the deadline";

impl Run {
    /// The protocol's name.
    pub fn protocol(&self) -> &'static str {
        self.protocol
    }

    /// The invited agents: id and reference.
    pub fn participants(&self) -> &[(String, AgentRef)] {
        &self.participants
    }

    /// The ids of the invited agents.
    pub fn ids(&self) -> Vec<String> {
        self.participants.iter().map(|(id, _)| id.clone()).collect()
    }

    /// The reference of invited agent `id`.
    pub fn agent(&self, id: &str) -> Option<&AgentRef> {
        self.participants
            .iter()
            .find(|(agent, _)| agent == id)
            .map(|(_, agent)| agent)
    }

    /// Milliseconds since the run started.
    pub fn elapsed_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    /// Asks invited agent `id` and waits at most `deadline`. An answer
    /// counts towards participation; a failure is remembered in
    /// [`missing`](Run::missing) (the first reason per agent), and an
    /// agent found gone is not asked again by this run.
    ///
    /// # Errors
    /// [`ClusterError::UnknownName`] for an agent not invited or already
    /// gone; otherwise the error of the ask (deadline passed, node gone).
    pub async fn ask<M: Message>(
        &self,
        id: &str,
        request: M,
        deadline: Duration,
    ) -> Result<M::Reply, ClusterError> {
        let agent = match self.agent(id) {
            Some(agent) if !self.is_gone(id) => agent.clone(),
            _ => return Err(ClusterError::UnknownName(id.to_owned())),
        };
        let result = agent.ask(request, deadline).await;
        self.note(id, &result);
        result
    }

    /// Sends `request` to every invited agent not known to be gone, at
    /// once, and gathers the answers that arrive before `deadline`.
    pub async fn collect<M: Message + Clone>(
        &self,
        request: M,
        deadline: Duration,
    ) -> Collected<M::Reply> {
        let mut pending = std::pin::pin!(self.ask_each(request, deadline));
        let mut collected = Collected {
            answers: Vec::new(),
            missing: Vec::new(),
            gone: Vec::new(),
        };
        while let Some((id, result)) = pending.next().await {
            self.note(&id, &result);
            match result {
                Ok(reply) => collected.answers.push((id, reply)),
                Err(e) => {
                    if is_gone(&e) {
                        collected.gone.push(id.clone());
                    }
                    collected.missing.push(missing(id, &e));
                }
            }
        }
        collected.missing.sort_by(|a, b| a.agent.cmp(&b.agent));
        collected
    }

    /// Sends `request` to every invited agent not known to be gone, at
    /// once; the answers (or the errors: deadline passed, node gone) come
    /// out in arrival order. Unlike [`collect`](Run::collect) the caller
    /// may stop early; it reports what it heard with
    /// [`heard`](Run::heard).
    pub fn ask_each<M: Message + Clone>(
        &self,
        request: M,
        deadline: Duration,
    ) -> impl futures::Stream<Item = (String, Result<M::Reply, ClusterError>)> + Send + 'static
    {
        let opened = Instant::now();
        let participants = Arc::clone(&self.participants);
        let gone = self.heard_lock().gone.clone();
        (0..participants.len())
            .filter(move |i| !gone.contains(&participants[*i].0))
            .map({
                let participants = Arc::clone(&self.participants);
                move |i| {
                    let participants = Arc::clone(&participants);
                    let request = request.clone();
                    async move {
                        let (id, agent) = &participants[i];
                        let remaining = deadline.saturating_sub(opened.elapsed());
                        (id.clone(), agent.ask(request, remaining).await)
                    }
                }
            })
            .collect::<FuturesUnordered<_>>()
    }

    /// Records the result of asking `id` outside [`ask`](Run::ask) and
    /// [`collect`](Run::collect) (see [`ask_each`](Run::ask_each)).
    pub fn heard<R>(&self, id: &str, result: &Result<R, ClusterError>) {
        self.note(id, result);
    }

    fn heard_lock(&self) -> MutexGuard<'_, Heard> {
        // Nothing panics while holding the lock, so it is never poisoned;
        // if it were, what it holds is still consistent.
        self.heard.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn note<R>(&self, id: &str, result: &Result<R, ClusterError>) {
        let mut heard = self.heard_lock();
        match result {
            Ok(_) => {
                heard.answered.insert(id.to_owned());
            }
            Err(e) => {
                if is_gone(e) {
                    heard.gone.insert(id.to_owned());
                }
                heard
                    .missing
                    .entry(id.to_owned())
                    .or_insert_with(|| missing(id.to_owned(), e));
            }
        }
    }

    /// Every agent that failed to answer at least once, with the first
    /// reason, sorted by id.
    pub fn missing(&self) -> Vec<Missing> {
        self.heard_lock().missing.values().cloned().collect()
    }

    /// Why agent `id` failed to answer, the first time it did.
    pub fn missing_reason(&self, id: &str) -> Option<String> {
        self.heard_lock().missing.get(id).map(|m| m.reason.clone())
    }

    /// Whether invited agent `id` was found gone (its node down).
    pub fn is_gone(&self, id: &str) -> bool {
        self.heard_lock().gone.contains(id)
    }

    /// How many invited agents answered at least once.
    pub fn answered(&self) -> usize {
        self.heard_lock().answered.len()
    }

    /// Tells invited agent `id` that its answer was set aside, and why
    /// ([`Agent::rejected`](crate::Agent::rejected)). Fire and forget:
    /// an agent that is gone by now is not waited for.
    pub fn reject(&self, id: &str, reason: impl Into<String>) {
        self.tell(
            id,
            Rejected {
                protocol: self.protocol.to_owned(),
                reason: reason.into(),
            },
        );
    }

    /// Sends invited agent `id` a notice; fire and forget.
    pub fn tell<M: Message>(&self, id: &str, notice: M) {
        if let Some(agent) = self.agent(id) {
            let _ = agent.tell(notice);
        }
    }

    /// Records how many rounds the run took and how it ended (`sold`,
    /// `no_sale`, `decided`, ...), per protocol.
    pub fn record_outcome(&self, rounds: u64, outcome: &'static str) {
        metrics::histogram!("foundation_protocol_rounds", "protocol" => self.protocol)
            .record(rounds as f64);
        metrics::counter!("foundation_protocol_outcomes_total", "protocol" => self.protocol, "outcome" => outcome)
            .increment(1);
    }

    /// Resolves when whoever launched the run cancels it
    /// ([`Running::cancel`]) or drops its handle; never for a run started
    /// with [`Agents::run`] that is still awaited. A protocol that can be
    /// cancelled selects on it.
    pub async fn cancelled(&self) {
        let _ = self.cancel.clone().await;
    }
}

/// Whether `error` means the agent is gone (its node down, its name
/// unknown) rather than late.
fn is_gone(error: &ClusterError) -> bool {
    !matches!(error, ClusterError::Timeout { .. })
}

/// A participant that gave no answer because of `error`.
fn missing(agent: String, error: &ClusterError) -> Missing {
    let reason = match error {
        ClusterError::Timeout { .. } => LATE.to_owned(),
        other => other.to_string(),
    };
    Missing { agent, reason }
}

/// A protocol run under way ([`Agents::launch`]): cancel it, or wait for
/// its result. Dropping the handle cancels the run.
#[derive(Debug)]
#[must_use = "dropping a Running cancels the run"]
pub struct Running<T> {
    cancel: Option<oneshot::Sender<()>>,
    outcome: oneshot::Receiver<Result<T>>,
}

impl<T> Running<T> {
    /// Cancels the run: a protocol that can be cancelled (contract-net)
    /// stops and reports it; one that cannot runs to its end. A run
    /// already over is not affected.
    pub fn cancel(&mut self) {
        if let Some(cancel) = self.cancel.take() {
            let _ = cancel.send(());
        }
    }

    /// Waits for the run's result.
    ///
    /// # Errors
    /// The protocol's error, or [`AgentError::Core`] if the coordinator
    /// stopped without a result.
    pub async fn outcome(self) -> Result<T> {
        let Self { cancel, outcome } = self;
        let result = outcome.await;
        drop(cancel);
        result.map_err(|_| coordinator_lost())?
    }
}

pub(crate) fn coordinator_lost() -> AgentError {
    AgentError::Core(actor_core::CoreError::NotRunning {
        actor: "coordinator".into(),
        reason: "it stopped before reporting a result".into(),
    })
}

/// A protocol run's whole job, reporting its result through a channel of
/// its own.
type Job = futures::future::BoxFuture<'static, ()>;

/// The coordinator of one protocol run. It is spawned linked to the agent
/// supervisor, runs once and stops.
struct Coordinator;

impl Actor for Coordinator {
    type Msg = ();
    type State = Option<Job>;
    type Arguments = Job;

    async fn pre_start(
        &self,
        myself: ActorRef<()>,
        job: Job,
    ) -> Result<Option<Job>, ActorProcessingErr> {
        myself.send_message(())?;
        Ok(Some(job))
    }

    async fn handle(
        &self,
        myself: ActorRef<()>,
        _msg: (),
        job: &mut Option<Job>,
    ) -> Result<(), ActorProcessingErr> {
        if let Some(job) = job.take() {
            job.await;
        }
        myself.stop(None);
        Ok(())
    }
}

/// Protocol analytics through the metrics facade: runs, duration and
/// participation per protocol.
fn record_run(protocol: &'static str, invited: usize, answered: usize, started: Instant) {
    metrics::counter!("foundation_protocol_runs_total", "protocol" => protocol).increment(1);
    metrics::histogram!("foundation_protocol_duration_seconds", "protocol" => protocol)
        .record(started.elapsed().as_secs_f64());
    if invited > 0 {
        metrics::histogram!("foundation_protocol_participation_ratio", "protocol" => protocol)
            .record(answered as f64 / invited as f64);
    }
}

impl Agents {
    /// Runs any protocol (a vote, an auction, a negotiation, a market, a
    /// game, or one of your own [`Protocol`]s) with the agents its spec
    /// invites, wherever they run, in a coordinator actor on this node,
    /// and returns its result.
    ///
    /// # Errors
    /// The spec's own validation error; [`AgentError::NoParticipants`] or
    /// [`AgentError::UnknownAgent`] if the invited agents cannot be found;
    /// [`AgentError::Cluster`] with [`ClusterError::NoQuorum`] on the
    /// losing side of a partition; the protocol's error.
    pub async fn run<P: Protocol>(&self, spec: P) -> Result<P::Output> {
        self.launch(spec).await?.outcome().await
    }

    /// The protocol runs this node coordinated lately (at most
    /// [`KEPT_RUNS`](super::runs::KEPT_RUNS)), oldest first, each with
    /// its participation, duration and result in one line.
    pub fn recent_runs(&self) -> Vec<RunRecord> {
        self.runs.list()
    }

    /// Starts any protocol like [`run`](Agents::run) and returns at once
    /// with a handle to cancel it or wait for its result.
    ///
    /// # Errors
    /// As [`run`](Agents::run), for everything that happens before the
    /// coordinator starts.
    pub async fn launch<P: Protocol>(&self, spec: P) -> Result<Running<P::Output>> {
        spec.validate()?;
        let participants = self.invited(spec.invite()).await?;
        self.node().quorum().await?;
        let (cancel, cancelled) = oneshot::channel();
        let (report, outcome) = oneshot::channel();
        let invited = participants.len();
        let (runs, seq, node) = (self.runs.clone(), self.runs.next_seq(), self.node().clone());
        let correlation = format!("run/{}/{seq}", node.name());
        let started = actor_core::Event::new(
            "protocol.started",
            serde_json::json!({ "protocol": P::NAME, "invited": participants.len(), "seq": seq }),
        )
        .correlation(correlation.clone())
        .node(node.name());
        let _ = node.journal().store(started);
        let span = tracing::info_span!("protocol", protocol = P::NAME, invited);
        let job: Job = Box::pin(
            async move {
                let started = Instant::now();
                let started_ms = unix_ms(SystemTime::now());
                let run = Run {
                    protocol: P::NAME,
                    participants,
                    started,
                    heard: Mutex::new(Heard::default()),
                    cancel: cancelled.shared(),
                };
                let result = spec.run(&run).await;
                record_run(P::NAME, invited, run.answered(), started);
                let record = RunRecord {
                    seq,
                    protocol: P::NAME.to_owned(),
                    node: node.name().to_owned(),
                    correlation,
                    started_ms,
                    duration_ms: run.elapsed_ms(),
                    invited,
                    answered: run.answered(),
                    ok: result.is_ok(),
                    summary: match &result {
                        Ok(output) => P::summary(output),
                        Err(e) => Some(e.to_string()),
                    },
                };
                if let Ok(payload) = serde_json::to_value(&record) {
                    let finished = actor_core::Event::new("protocol.finished", payload)
                        .correlation(record.correlation.clone())
                        .node(node.name());
                    let _ = node.journal().store(finished);
                }
                runs.push(record);
                match &result {
                    Ok(_) => tracing::info!(
                        answered = run.answered(),
                        duration_ms = run.elapsed_ms(),
                        "{} closed",
                        P::NAME
                    ),
                    Err(e) => tracing::warn!(error = %e, "{} failed", P::NAME),
                }
                let _ = report.send(result);
            }
            .instrument(span),
        );
        Actor::spawn_linked(None, Coordinator, job, self.supervisor_cell())
            .await
            .map_err(|e| {
                AgentError::Core(actor_core::CoreError::Spawn {
                    child: "coordinator".into(),
                    reason: e.to_string(),
                })
            })?;
        Ok(Running {
            cancel: Some(cancel),
            outcome,
        })
    }

    /// The agents `invite` names, with their references.
    async fn invited(&self, invite: Invite) -> Result<Participants> {
        match invite {
            Invite::Capability(capability) => self.participants(&capability).await,
            Invite::Agents(ids) => {
                let mut found = Vec::with_capacity(ids.len());
                for id in ids {
                    let agent = self.find(&id).await?;
                    found.push((id, agent));
                }
                Ok(found.into())
            }
        }
    }
}
