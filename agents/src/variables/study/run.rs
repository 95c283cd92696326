//! The study's coordinator: hands trials to the evaluators, asks them
//! step by step, asks the pruner after each intermediate value, and
//! writes each finished trial to the journal before it goes on.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use actor_cluster::ClusterError;
use futures::future::BoxFuture;
use futures::stream::{FuturesUnordered, StreamExt};
use tokio::time::Instant;

use super::schedule::Schedule;
use super::space::Params;
use super::spec::StudySpec;
use super::trials::{Ended, Entry, TrialRecord, TrialState};
use super::wire::{Evaluation, TrialStep, TrialStopped};
use crate::error::{AgentError, Result};
use crate::protocols::{Invite, Protocol, Run};
use crate::variables::{VariableError, Variables};

/// The study's journal, as its running coordinator appends to it: each
/// record is committed against the version last written, so that a
/// journal another node has taken over (resumed) refuses it.
#[derive(Debug)]
pub(crate) struct Journal {
    pub(crate) variables: Variables,
    /// The study.
    pub(crate) study: String,
    /// The journal variable.
    pub(crate) name: String,
    /// The version last written or read.
    pub(crate) version: u64,
    /// This node, who writes.
    pub(crate) by: String,
}

impl Journal {
    /// Appends `entry`.
    ///
    /// # Errors
    /// [`VariableError::StudyStopped`] if another node resumed the study
    /// meanwhile; the refusals of [`Variables::commit_seen`].
    pub(crate) async fn append(&mut self, entry: &Entry) -> Result<(), VariableError> {
        let value = entry.to_value()?;
        match self
            .variables
            .commit_seen(&self.name, value, Some(self.version), &self.by)
            .await
        {
            Ok(committed) => {
                self.version = committed.version;
                Ok(())
            }
            Err(VariableError::Stale { current, .. }) => Err(VariableError::StudyStopped {
                name: self.study.clone(),
                reason: format!(
                    "its journal moved on to version {current} without this node \
                     (another node resumed it)"
                ),
            }),
            Err(e) => Err(e),
        }
    }
}

/// A study under way: the protocol its coordinator runs.
pub(crate) struct StudyRun {
    pub(crate) spec: StudySpec,
    pub(crate) schedule: Schedule,
    pub(crate) journal: Journal,
    /// The node of each evaluator, by agent id.
    pub(crate) nodes: HashMap<String, String>,
    /// When the time budget runs out.
    pub(crate) deadline: Option<Instant>,
}

impl std::fmt::Debug for StudyRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StudyRun")
            .field("study", &self.spec.name)
            .field("finished", &self.schedule.finished().len())
            .finish_non_exhaustive()
    }
}

/// What the coordinator hands back: why it stopped, the trials, and the
/// journal to finish.
#[derive(Debug)]
pub(crate) struct Ran {
    pub(crate) ended: Ended,
    pub(crate) schedule: Schedule,
    pub(crate) journal: Journal,
}

/// A trial under way.
#[derive(Debug)]
struct Active {
    agent: String,
    params: Params,
    point: Option<u64>,
    values: Vec<f64>,
    started: Instant,
    deadline: Instant,
}

/// An answer to one step, for trial `.0` from agent `.1`.
type Answer = (u64, String, Result<Option<Evaluation>, ClusterError>);

/// What becomes of the agent that ran a finished trial.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Agent {
    /// It is free for another trial.
    Free,
    /// It is not asked again by this run: gone, late (still busy), or
    /// it declined.
    Retired,
}

impl Protocol for StudyRun {
    type Output = Ran;
    const NAME: &'static str = "study";

    fn validate(&self) -> Result<()> {
        self.spec.validate().map_err(AgentError::from)
    }

    fn invite(&self) -> Invite {
        Invite::Capability(self.spec.capability.clone())
    }

    async fn run(mut self, run: &Run) -> Result<Ran> {
        // Trials given so far, by free agent: the next goes to an agent
        // on the node running fewest trials now, the one that ran fewest
        // there (then the first by id), so trials spread over the nodes.
        let mut free: BTreeMap<String, u64> = run.ids().into_iter().map(|id| (id, 0)).collect();
        let mut given: HashMap<String, u64> = HashMap::new();
        let mut active: HashMap<u64, Active> = HashMap::new();
        let mut asks: FuturesUnordered<BoxFuture<'_, Answer>> = FuturesUnordered::new();
        let concurrency = self.spec.budget.concurrency;
        let ended = loop {
            let out_of_time = self.deadline.is_some_and(|d| Instant::now() >= d);
            while active.len() < concurrency && !out_of_time {
                let Some(agent) = self.pick(&free, &active) else {
                    break;
                };
                let Some(next) = self.schedule.next() else {
                    break;
                };
                let next = next?;
                free.remove(&agent);
                *given.entry(agent.clone()).or_default() += 1;
                let now = Instant::now();
                let trial = Active {
                    agent: agent.clone(),
                    params: next.params,
                    point: next.point,
                    values: Vec::new(),
                    started: now,
                    deadline: now + self.spec.trial_deadline,
                };
                asks.push(self.ask(run, next.number, &trial, 0));
                active.insert(next.number, trial);
            }
            if active.is_empty() {
                break if self.schedule.exhausted() {
                    if self.schedule.grid_bound() {
                        Ended::Grid
                    } else {
                        Ended::Trials
                    }
                } else if out_of_time {
                    Ended::Time
                } else {
                    Ended::NoEvaluators
                };
            }
            let next = tokio::select! {
                next = asks.next() => next,
                () = run.cancelled() => {
                    let reason = "its caller stopped waiting for it".to_owned();
                    self.stop_all(run, &mut active, &reason);
                    return Err(VariableError::StudyStopped {
                        name: self.spec.name.clone(),
                        reason,
                    }
                    .into());
                }
            };
            let Some((number, agent, answer)) = next else {
                return Err(AgentError::Internal {
                    component: "study",
                    reason: "trials under way, but no answer pending".into(),
                });
            };
            let Some(mut trial) = active.remove(&number) else {
                continue;
            };
            let outcome = match answer {
                Ok(Some(Evaluation::Step(v))) if v.is_finite() => {
                    trial.values.push(v);
                    let step = trial.values.len() as u64 - 1;
                    if self.schedule.prunes(&trial.values) {
                        self.stop(run, &agent, number, format!("pruned at step {step}"));
                        (TrialState::Pruned { step }, Agent::Free)
                    } else if Instant::now() >= trial.deadline {
                        let reason = "no final value before the trial's deadline".to_owned();
                        self.stop(run, &agent, number, reason.clone());
                        (TrialState::Failed { reason }, Agent::Free)
                    } else {
                        asks.push(self.ask(run, number, &trial, step + 1));
                        active.insert(number, trial);
                        continue;
                    }
                }
                Ok(Some(Evaluation::Done(v))) if v.is_finite() => {
                    (TrialState::Complete { value: v }, Agent::Free)
                }
                Ok(Some(e)) => {
                    let reason = format!("reported {}, not a finite number", e.value());
                    self.stop(run, &agent, number, reason.clone());
                    (TrialState::Failed { reason }, Agent::Free)
                }
                Ok(None) => (
                    TrialState::Failed {
                        reason: format!("{agent} declined to evaluate it"),
                    },
                    Agent::Retired,
                ),
                Err(ClusterError::Timeout { .. }) => {
                    let reason = format!("{agent} did not answer before the trial's deadline");
                    self.stop(run, &agent, number, reason.clone());
                    (TrialState::Failed { reason }, Agent::Retired)
                }
                Err(e) => (
                    TrialState::Failed {
                        reason: format!("{agent}: {e}"),
                    },
                    Agent::Retired,
                ),
            };
            let (state, after) = outcome;
            if after == Agent::Free {
                free.insert(agent.clone(), given.get(&agent).copied().unwrap_or(0));
            }
            let record = TrialRecord {
                number,
                params: trial.params,
                point: trial.point,
                state,
                intermediate: trial.values,
                node: self.nodes.get(&agent).cloned(),
                agent,
                duration_ms: u64::try_from(trial.started.elapsed().as_millis()).unwrap_or(u64::MAX),
            };
            tracing::info!(
                study = %self.spec.name,
                trial = number,
                agent = %record.agent,
                state = ?record.state,
                "trial finished"
            );
            let state = match record.state {
                TrialState::Complete { .. } => "complete",
                TrialState::Pruned { .. } => "pruned",
                TrialState::Failed { .. } => "failed",
            };
            let study = self.spec.name.clone();
            metrics::counter!("foundation_study_trials_total", "study" => study.clone(), "state" => state)
                .increment(1);
            let written = self.journal.append(&Entry::Trial(record.clone())).await;
            self.schedule.finish(record);
            if let Some(TrialState::Complete { value }) = self.schedule.best().map(|b| &b.state) {
                metrics::gauge!("foundation_study_best_value", "study" => study).set(*value);
            }
            if let Err(e) = written {
                self.stop_all(run, &mut active, &e.to_string());
                return Err(e.into());
            }
        };
        Ok(Ran {
            ended,
            schedule: self.schedule,
            journal: self.journal,
        })
    }
}

impl StudyRun {
    /// Asks `trial`'s agent for step `step` of trial `number`, within
    /// what is left of the trial's deadline.
    fn ask<'a>(
        &self,
        run: &'a Run,
        number: u64,
        trial: &Active,
        step: u64,
    ) -> BoxFuture<'a, Answer> {
        let request = TrialStep {
            study: self.spec.name.clone(),
            trial: number,
            step,
            params: trial.params.clone(),
            metric: self.spec.objective.metric.clone(),
        };
        let agent = trial.agent.clone();
        let within = trial
            .deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(1));
        Box::pin(async move {
            let answer = run.ask(&agent, request, within).await;
            (number, agent, answer)
        })
    }

    /// The free agent to run the next trial: one on the node with the
    /// fewest trials under way, then the one that ran fewest, then the
    /// first by id.
    fn pick(&self, free: &BTreeMap<String, u64>, active: &HashMap<u64, Active>) -> Option<String> {
        let node = |agent: &str| self.nodes.get(agent).map(String::as_str);
        let busy = |agent: &str| {
            let here = node(agent);
            active.values().filter(|t| node(&t.agent) == here).count()
        };
        free.iter()
            .min_by_key(|(id, given)| (busy(id), **given, id.as_str()))
            .map(|(id, _)| id.clone())
    }

    /// Stops every trial under way: the study ends here, for `reason`.
    fn stop_all(&mut self, run: &Run, active: &mut HashMap<u64, Active>, reason: &str) {
        for (number, trial) in active.drain() {
            self.schedule.abandon(number);
            self.stop(
                run,
                &trial.agent,
                number,
                format!("the study stopped: {reason}"),
            );
        }
    }

    /// Tells `agent` that trial `number` stopped, and why.
    fn stop(&self, run: &Run, agent: &str, number: u64, reason: String) {
        run.tell(
            agent,
            TrialStopped {
                study: self.spec.name.clone(),
                trial: number,
                reason,
            },
        );
    }
}
