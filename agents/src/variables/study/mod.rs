//! Optimisation studies: agents evaluate configurations of variables
//! (trials), and the best one is committed as the variables' new values.
//!
//! A [`StudySpec`] names the variables to search (its space), the
//! [`Objective`] (a metric and a [`Direction`]), a [`Sampler`] (random,
//! grid, or a bandit over the grid's points), a [`Budget`] (trials,
//! time, concurrency), an optional [`MedianPruner`] and the capability of
//! the agents that evaluate trials. [`Variables::study`] runs it:
//!
//! 1. The spec is checked ([`StudySpec::validate`]) and its space
//!    resolved against the variables table (every variable defined, a
//!    narrowed kind within the variable's) before anybody is asked.
//! 2. Its journal, the variable `study:<name>` (a text variable whose
//!    history is the study's record: the spec first, then one entry per
//!    finished trial), is defined. It is replicated like every variable,
//!    so the study survives the loss of the node that runs it:
//!    [`Variables::resume_study`] on another node reads the journal and
//!    goes on from it; finished trials are not run again.
//! 3. A coordinator on this node hands trials to the agents with the
//!    capability, wherever they run, at most `concurrency` at once and
//!    one per agent at a time. A trial is a sequence of asks
//!    ([`TrialStep`]): step 0, 1, 2, ... each answered with an
//!    intermediate value ([`Evaluation::Step`]) or the final one
//!    ([`Evaluation::Done`]). After each intermediate value the pruner
//!    decides whether to ask for the next step or to stop the trial
//!    (the agent is told, [`TrialStopped`]). An agent that dies, declines
//!    or misses the trial's deadline fails that trial and is not asked
//!    again by this run; the study goes on with the others.
//! 4. When the budget is spent (or the grid covered, or no evaluator is
//!    left), each variable of the space is committed with the best
//!    trial's value, by `study:<name>`, so every node reads it.
//!
//! Agents evaluate by implementing [`Evaluator`](crate::Evaluator) and
//! naming it in [`Agent::families`](crate::Agent::families). The pure
//! parts (the samplers, the pruner, the best trial) are unit-tested on
//! their own; the coordinator only carries their decisions.
//!
//! # Examples
//!
//! One node, two agents minimising `(lr - 0.01)²` step by step:
//!
//! ```
//! use std::time::Duration;
//! use actor_cluster::{Node, Server};
//! use agents::variables::{Definition, Kind, MedianPruner, Objective, Sampler, StudySpec, Variables};
//! use agents::variables::{Evaluation, TrialStep};
//! use agents::{Agent, Agents, Evaluator, Families, Value};
//!
//! /// Reports a loss that falls with each step towards (lr - 0.01)².
//! struct Trainer(String);
//! impl Server for Trainer {}
//! impl Agent for Trainer {
//!     fn id(&self) -> String { self.0.clone() }
//!     fn capabilities(&self) -> Vec<String> { vec!["trainer".into()] }
//!     fn families(families: &mut Families<Self>) { families.evaluator(); }
//! }
//! impl Evaluator for Trainer {
//!     async fn evaluate(&mut self, step: &TrialStep) -> Option<Evaluation> {
//!         let lr = step.number("lr")?;
//!         let loss = (lr - 0.01).powi(2) + 1.0 / (step.step + 1) as f64;
//!         Some(if step.step == 3 { Evaluation::Done(loss) } else { Evaluation::Step(loss) })
//!     }
//! }
//!
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let node = Node::builder()
//!     .name("solo").cookie("secret").listen("127.0.0.1:0".parse()?).no_discovery()
//!     .start().await?;
//! let agents = Agents::start(&node).await?;
//! agents.spawn(|| Trainer("t1".into())).await?;
//! agents.spawn(|| Trainer("t2".into())).await?;
//! let variables = Variables::start(&node, &["solo"]).await?;
//! variables.define(Definition::new("lr", Kind::float(0.0, 1.0), Value::Float(0.5))).await?;
//!
//! let log_scale = Kind::Float { min: 1e-4, max: 1e-1, precision: None, log: true };
//! let spec = StudySpec::new("tune-lr", Objective::minimize("loss"), "trainer")
//!     .param_in("lr", log_scale)
//!     .sampler(Sampler::Random { seed: 7 })
//!     .trials(12)
//!     .concurrency(2)
//!     .pruner(MedianPruner::new(3, 1))
//!     .trial_deadline(Duration::from_secs(5));
//! let result = variables.study(&agents, spec).await?;
//!
//! assert_eq!(result.trials.len(), 12);
//! let best = result.best.as_ref().expect("a completed trial");
//! // The best trial's value is now the variable's, on every node.
//! let lr = variables.get("lr").await?;
//! assert_eq!(lr.value, best.params["lr"]);
//! assert_eq!(lr.by, "study:tune-lr");
//! // The journal tells the same story.
//! let status = variables.study_status("tune-lr").await?;
//! assert_eq!(status.trials.len(), 12);
//! assert!(status.finished.is_some());
//! variables.shutdown().await;
//! node.shutdown().await;
//! # Ok(()) }
//! ```

mod pruner;
mod run;
mod schedule;
mod space;
mod spec;
mod trials;
mod wire;

pub use spec::{
    BanditPolicy, Budget, Direction, MedianPruner, Objective, Param, Sampler, StudySpec,
};
pub use trials::{Ended, Finished, StudyResult, StudyStatus, TrialRecord, TrialState};
pub use wire::{Evaluation, TrialStep, TrialStopped};

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

use self::run::{Journal, StudyRun};
use self::schedule::Schedule;
use self::space::Space;
use self::spec::journal_name;
use self::trials::Entry;
use super::{Committed, Conflict, Definition, Kind, VariableError, Variables};
use crate::error::AgentError;
use crate::system::Agents;

/// The longest journal record, in bytes: a trial's record holds its
/// intermediate values, so about 50,000 steps fit.
const JOURNAL_RECORD: usize = 1 << 20;

impl Variables {
    /// Runs the study `spec` with the agents that have its capability
    /// (see the [module docs](crate::variables::study)), coordinated on
    /// this node, and commits the best configuration found.
    ///
    /// # Errors
    /// [`VariableError::InvalidStudy`] for a spec refused by
    /// [`StudySpec::validate`], a space that does not fit the variables
    /// (a variable not defined, a narrowed kind outside the variable's),
    /// or a study of that name that exists already (resume it);
    /// [`VariableError::Coordination`] if no agent has the capability;
    /// [`VariableError::StudyStopped`] if the study cannot go on (its
    /// journal cannot be written: no quorum, or another node resumed
    /// it); the refusals of [`commit`](Self::commit) for the best values
    /// (a broken constraint). Finished trials stay in the journal in
    /// every case, and [`resume_study`](Self::resume_study) goes on.
    ///
    /// The evaluators are the agents with the capability found when the
    /// study starts; an agent that appears later takes no part.
    ///
    /// # Cancel safety
    /// Dropping the future stops the study where it is: the trials under
    /// way are stopped (their agents told), nothing is committed, and the
    /// finished trials stay in the journal for
    /// [`resume_study`](Self::resume_study).
    pub async fn study(
        &self,
        agents: &Agents,
        spec: StudySpec,
    ) -> Result<StudyResult, VariableError> {
        spec.validate()?;
        let space = self.read(|table| Space::resolve(&spec, table)).await??;
        let evaluators = agents
            .with_capability(&spec.capability)
            .await
            .map_err(|e| stopped(&spec.name, e))?;
        if evaluators.is_empty() {
            return Err(VariableError::Coordination {
                name: spec.journal(),
                reason: format!("no agent has the capability `{}`", spec.capability),
            });
        }
        let by = self.status().node;
        let started = Entry::Started {
            spec: spec.clone(),
            space,
            by: by.clone(),
        };
        let journal = Definition::new(
            spec.journal(),
            Kind::text(JOURNAL_RECORD),
            started.to_value()?,
        )
        .conflict(Conflict::Refuse)
        .history(usize::MAX);
        let first = self.define(journal).await.map_err(|e| match e {
            VariableError::Exists(_) => VariableError::InvalidStudy {
                name: spec.name.clone(),
                reason: "a study of this name exists: resume it, or choose another name".into(),
            },
            e => e,
        })?;
        let status = StudyStatus::from_history(&spec.name, &[first])?;
        self.carry_on(agents, status, by).await
    }

    /// Goes on with study `name` from its journal, on this node: the
    /// node that ran it was lost (or stopped on an error). Trials
    /// finished before are not run again; trials that were under way are
    /// (with the same configuration for the random and grid samplers).
    /// The time budget counts from the study's first start. A study
    /// that has ended answers its result again without running
    /// anything.
    ///
    /// The journal is taken over first, so that if the node that ran the
    /// study is alive after all, its next record is refused and it stops
    /// ([`VariableError::StudyStopped`]).
    ///
    /// # Errors
    /// [`VariableError::InvalidStudy`] for a name without a journal, or
    /// an unreadable journal; otherwise as [`study`](Self::study).
    pub async fn resume_study(
        &self,
        agents: &Agents,
        name: &str,
    ) -> Result<StudyResult, VariableError> {
        let status = self.study_status(name).await?;
        if let Some(finished) = &status.finished {
            return Ok(StudyResult {
                name: name.to_owned(),
                trials: status.trials.clone(),
                best: status.best.clone(),
                committed: finished.committed.clone(),
                ended: finished.ended.clone(),
                owners: status.owners.clone(),
            });
        }
        let by = self.status().node;
        let mut journal = self.journal(name, status.version, &by);
        journal.append(&Entry::Resumed { by: by.clone() }).await?;
        let mut status = status;
        status.owners.push(by.clone());
        status.version = journal.version;
        self.carry_on(agents, status, by).await
    }

    /// Study `name` as its journal tells it now (a linearizable read):
    /// its spec, the trials finished, the best, who ran it, whether it
    /// has ended. [`StudyStatus::follow`] keeps it up to date from the
    /// changes of [`subscribe`](Self::subscribe).
    ///
    /// # Errors
    /// [`VariableError::InvalidStudy`] for a name without a journal, or
    /// an unreadable journal; [`VariableError::NoQuorum`].
    pub async fn study_status(&self, name: &str) -> Result<StudyStatus, VariableError> {
        let history = self
            .history(&journal_name(name))
            .await
            .map_err(|e| match e {
                VariableError::Unknown(journal) => VariableError::InvalidStudy {
                    name: name.to_owned(),
                    reason: format!("there is no such study (no variable `{journal}`)"),
                },
                e => e,
            })?;
        StudyStatus::from_history(name, &history)
    }

    fn journal(&self, study: &str, version: u64, by: &str) -> Journal {
        Journal {
            variables: self.clone(),
            study: study.to_owned(),
            name: journal_name(study),
            version,
            by: by.to_owned(),
        }
    }

    /// Runs the trials `status` has not finished, then commits the best
    /// and records the end in the journal.
    async fn carry_on(
        &self,
        agents: &Agents,
        status: StudyStatus,
        by: String,
    ) -> Result<StudyResult, VariableError> {
        let spec = status.spec.clone();
        let name = spec.name.clone();
        let space = status
            .space
            .clone()
            .ok_or_else(|| VariableError::InvalidStudy {
                name: name.clone(),
                reason: "its journal has no search space".into(),
            })?;
        let schedule = Schedule::new(spec.clone(), space, status.trials.clone())?;
        let nodes: HashMap<String, String> = agents
            .with_capability(&spec.capability)
            .await
            .map_err(|e| stopped(&name, e))?
            .into_iter()
            .map(|entry| (entry.id, entry.node))
            .collect();
        let deadline = spec.budget.time.map(|time| {
            let spent = Duration::from_millis(now_ms().saturating_sub(status.started_ms));
            Instant::now() + time.saturating_sub(spent)
        });
        let run = StudyRun {
            spec: spec.clone(),
            schedule,
            journal: self.journal(&name, status.version, &by),
            nodes,
            deadline,
        };
        let ran = agents.run(run).await.map_err(|e| stopped(&name, e))?;
        let mut journal = ran.journal;
        let best = ran.schedule.best().cloned();
        let mut committed: Vec<Committed> = Vec::new();
        if let Some(best) = &best {
            for param in &spec.space {
                if let Some(value) = best.params.get(&param.name) {
                    committed.push(
                        self.commit(&param.name, value.clone(), &journal.name)
                            .await?,
                    );
                }
            }
        }
        let finished = Finished {
            ended: ran.ended,
            committed,
        };
        journal.append(&Entry::Finished(finished.clone())).await?;
        let mut owners = status.owners;
        if owners.last() != Some(&by) {
            owners.push(by);
        }
        tracing::info!(
            study = %name,
            trials = ran.schedule.finished().len(),
            ended = ?finished.ended,
            "study finished"
        );
        Ok(StudyResult {
            name,
            trials: ran.schedule.finished().to_vec(),
            best,
            committed: finished.committed,
            ended: finished.ended,
            owners,
        })
    }
}

/// A protocol error as the study's error.
fn stopped(study: &str, e: AgentError) -> VariableError {
    match e {
        AgentError::Variable(e) => e,
        AgentError::NoParticipants(capability) => VariableError::Coordination {
            name: journal_name(study),
            reason: format!("no agent has the capability `{capability}`"),
        },
        other => VariableError::StudyStopped {
            name: study.to_owned(),
            reason: other.to_string(),
        },
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
