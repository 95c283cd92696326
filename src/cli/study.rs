//! The command-line face of optimisation studies: how a scripted agent
//! evaluates trials (`evaluate=quadratic`), and the `study` commands of
//! `foundation node`, which run a study in the background and print one
//! `study_trial` event line per finished trial and a `study_done` (or
//! `study_failed`) line at the end.

use std::collections::{BTreeMap, HashMap};

use agents::variables::{
    BanditPolicy, Change, Evaluation, MedianPruner, Objective, Sampler, StudyResult, StudySpec,
    StudyStatus, TrialRecord, TrialStep, VariableError, Variables,
};
use agents::{Agents, Value};
use anyhow::{bail, Context};
use futures::future::BoxFuture;
use futures::stream::{FuturesUnordered, StreamExt};
use serde_json::{json, Value as Json};
use tokio::sync::broadcast::{self, error::RecvError};

use super::families::millis;
use super::node::value;

/// The agent spec keys of studies, for `help`.
pub(crate) const KEYS: &[&str] = &[
    "evaluate=quadratic (studies: the loss is the sum over the target's variables of \
     ((x - t) / t)^2, 0 or 1 for a choice or bool; each step reports it plus 1/(step+1), \
     the last step the loss itself)",
    "target=NAME@VALUE+NAME@VALUE (the quadratic's optimum)",
    "steps=N (steps per trial, 5 by default)",
];

/// The `study` commands, for `help`.
pub(crate) const USAGE: &[&str] = &[
    "study start NAME VAR1,VAR2,... minimize|maximize:METRIC [trials=N] [concurrency=N] \
     [time=MS] [deadline=MS] [sampler=random:SEED|grid:POINTS|ucb1:POINTS|thompson:POINTS:SEED] \
     [prune=STARTUP_TRIALS:WARMUP_STEPS] [cap=CAPABILITY] (runs in the background: \
     study_trial and study_done event lines follow)",
    "study resume NAME",
    "study status NAME",
];

/// How a scripted agent evaluates trials.
#[derive(Debug, Clone, Default)]
pub(crate) struct Script {
    /// Whether it evaluates at all (`evaluate=quadratic`).
    quadratic: bool,
    /// The optimum, by variable.
    target: BTreeMap<String, Value>,
    /// Steps per trial; 5 when not given.
    steps: Option<u64>,
}

impl Script {
    /// Takes `evaluate=`, `target=` and `steps=`; `Ok(false)` for any
    /// other key.
    pub(crate) fn parse_key(&mut self, key: &str, word: &str) -> anyhow::Result<bool> {
        match key {
            "evaluate" => match word {
                "quadratic" => self.quadratic = true,
                "none" => self.quadratic = false,
                other => bail!("evaluate is quadratic or none, not `{other}`"),
            },
            "target" => {
                for part in word.split('+') {
                    let (name, v) = part
                        .split_once('@')
                        .with_context(|| format!("target `{part}` is not NAME@VALUE"))?;
                    self.target.insert(name.to_owned(), value(v));
                }
            }
            "steps" => {
                let steps: u64 = word
                    .parse()
                    .with_context(|| format!("steps `{word}` is not a count"))?;
                if steps == 0 {
                    bail!("a trial needs at least one step");
                }
                self.steps = Some(steps);
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// The answer to `step`: `None` unless the agent evaluates.
    pub(crate) fn evaluate(&self, step: &TrialStep) -> Option<Evaluation> {
        if !self.quadratic {
            return None;
        }
        let loss = quadratic(&self.target, &step.params);
        let last = self.steps.unwrap_or(5) - 1;
        Some(if step.step >= last {
            Evaluation::Done(loss)
        } else {
            Evaluation::Step(loss + 1.0 / (step.step + 1) as f64)
        })
    }
}

/// The sum over `target` of the squared relative distance of each
/// number from its target (the distance itself for a target of 0), and
/// of 0 or 1 for a choice or bool that misses; parameters without a
/// target do not count.
fn quadratic(target: &BTreeMap<String, Value>, params: &BTreeMap<String, Value>) -> f64 {
    target
        .iter()
        .filter_map(|(name, t)| Some((params.get(name)?, t)))
        .map(|(x, t)| match (number(x), number(t)) {
            (Some(x), Some(t)) => {
                let scale = if t == 0.0 { 1.0 } else { t.abs() };
                ((x - t) / scale).powi(2)
            }
            _ => f64::from(u8::from(x != t)),
        })
        .sum()
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Float(f) => Some(*f),
        Value::Int(i) => Some(*i as f64),
        _ => None,
    }
}

/// A study running in the background, and what it came to.
type Running = BoxFuture<'static, (String, Result<StudyResult, VariableError>)>;

/// The studies a node runs, and the progress it follows.
#[derive(Default)]
pub(crate) struct Studies {
    running: FuturesUnordered<Running>,
    /// The journal changes, while a study runs here.
    changes: Option<broadcast::Receiver<Change>>,
    /// The status of each study running here, followed from its journal.
    follow: HashMap<String, Option<StudyStatus>>,
    /// Studies that ended before this node applied their last records:
    /// their end is told once their progress has been.
    ended: Vec<(String, StudyResult)>,
}

impl Studies {
    /// Runs a `study ...` command.
    pub(crate) async fn command(
        &mut self,
        variables: Option<&Variables>,
        agents: &Agents,
        words: &[&str],
    ) -> anyhow::Result<Json> {
        let variables = variables
            .context("this node keeps no variables (start it with --variables NODE,...)")?;
        Ok(match words {
            ["start", name, vars, objective, options @ ..] => {
                let spec = spec(name, vars, objective, options)?;
                if let Err(e) = spec.validate() {
                    return Ok(
                        json!({ "reply": "study", "op": "start", "refused": e.to_string() }),
                    );
                }
                self.watch(variables, name, None);
                let (variables, agents) = (variables.clone(), agents.clone());
                let name = (*name).to_owned();
                self.running.push(Box::pin(async move {
                    let result = variables.study(&agents, spec).await;
                    (name, result)
                }));
                json!({ "reply": "study", "op": "start", "study": words[1], "started": true })
            }
            ["resume", name] => {
                let status = match variables.study_status(name).await {
                    Ok(status) => status,
                    Err(e) => {
                        return Ok(
                            json!({ "reply": "study", "op": "resume", "refused": e.to_string() }),
                        )
                    }
                };
                self.watch(variables, name, Some(status));
                let (variables, agents) = (variables.clone(), agents.clone());
                let name = (*name).to_owned();
                self.running.push(Box::pin(async move {
                    let result = variables.resume_study(&agents, &name).await;
                    (name, result)
                }));
                json!({ "reply": "study", "op": "resume", "study": words[1], "started": true })
            }
            ["status", name] => match variables.study_status(name).await {
                Ok(status) => json!({ "reply": "study", "op": "status", "status": status }),
                Err(e) => json!({ "reply": "study", "op": "status", "refused": e.to_string() }),
            },
            _ => bail!("usage: {}", USAGE.join(" | ")),
        })
    }

    /// Follows study `name`'s journal from `status` (`None`: from its
    /// definition, still to come).
    fn watch(&mut self, variables: &Variables, name: &str, status: Option<StudyStatus>) {
        if self.changes.is_none() {
            self.changes = Some(variables.subscribe());
        }
        self.follow.insert(name.to_owned(), status);
    }

    /// The next event line: a trial finished, or a study ended. Never
    /// while no study runs here. Cancel-safe: nothing is lost if another
    /// branch of a `select!` wins.
    pub(crate) async fn next(&mut self) -> Json {
        loop {
            if let Some(event) = self.caught_up() {
                return event;
            }
            tokio::select! {
                Some((name, result)) = self.running.next(), if !self.running.is_empty() => {
                    match result {
                        Ok(result) => self.ended.push((name, result)),
                        Err(e) => {
                            self.forget(&name);
                            return json!({ "event": "study_failed", "study": name, "error": e.to_string() });
                        }
                    }
                }
                change = next_change(&mut self.changes) => match change {
                    Ok(change) => {
                        if let Some(event) = self.progress(&change) {
                            return event;
                        }
                    }
                    Err(RecvError::Lagged(n)) => {
                        // Progress was lost: the ends waiting for it are told now.
                        for (_, status) in self.follow.iter_mut() {
                            *status = None;
                        }
                        return json!({ "event": "study_progress_missed", "changes": n });
                    }
                    Err(RecvError::Closed) => self.changes = None,
                },
            }
        }
    }

    /// The end of a study whose every trial has been told, if one has.
    fn caught_up(&mut self) -> Option<Json> {
        let ready = self.ended.iter().position(|(name, result)| {
            match self.follow.get(name) {
                Some(Some(status)) => status.trials.len() >= result.trials.len(),
                // Not followed (its journal's start was missed): tell it.
                _ => true,
            }
        })?;
        let (name, result) = self.ended.remove(ready);
        self.forget(&name);
        Some(json!({ "event": "study_done", "study": name, "result": result }))
    }

    /// Stops following study `name`.
    fn forget(&mut self, name: &str) {
        self.follow.remove(name);
        if self.follow.is_empty() {
            self.changes = None;
        }
    }

    /// The `study_trial` event of `change`, if it records a trial of a
    /// study running here.
    fn progress(&mut self, change: &Change) -> Option<Json> {
        for (name, status) in &mut self.follow {
            match (status.as_mut(), change) {
                (None, Change::Defined(first)) if first.name == format!("study:{name}") => {
                    *status = StudyStatus::from_history(name, std::slice::from_ref(first)).ok();
                    return None;
                }
                (Some(status), _) => {
                    if let Some(trial) = status.follow(change).cloned() {
                        return Some(trial_event(name, status, &trial));
                    }
                }
                _ => {}
            }
        }
        None
    }
}

/// The next change while following, never otherwise.
async fn next_change(
    changes: &mut Option<broadcast::Receiver<Change>>,
) -> Result<Change, RecvError> {
    match changes {
        Some(changes) => changes.recv().await,
        None => std::future::pending().await,
    }
}

/// `{"event": "study_trial", ...}`: the trial that finished, how many of
/// the budget have, and the best so far.
fn trial_event(name: &str, status: &StudyStatus, trial: &TrialRecord) -> Json {
    let (complete, pruned, failed) = status.counts();
    json!({
        "event": "study_trial",
        "study": name,
        "finished": status.trials.len(),
        "of": status.spec.budget.trials,
        "complete": complete,
        "pruned": pruned,
        "failed": failed,
        "trial": trial,
        "best": status.best,
        "metric": status.spec.objective.metric,
    })
}

/// A spec from `NAME VARS DIRECTION:METRIC [KEY=VALUE]...`; evaluated by
/// the agents with capability `evaluator` unless `cap=` says otherwise.
fn spec(name: &str, vars: &str, objective: &str, options: &[&str]) -> anyhow::Result<StudySpec> {
    let objective = match objective.split_once(':') {
        Some(("minimize", metric)) => Objective::minimize(metric),
        Some(("maximize", metric)) => Objective::maximize(metric),
        _ => bail!("`{objective}` is not minimize:METRIC or maximize:METRIC"),
    };
    let count = |key: &str, word: &str| -> anyhow::Result<u64> {
        word.parse()
            .with_context(|| format!("{key}=`{word}` is not a count"))
    };
    let mut spec = StudySpec::new(name, objective, "evaluator");
    for var in vars.split(',').filter(|v| !v.is_empty()) {
        spec = spec.param(var);
    }
    for option in options {
        let (key, word) = option
            .split_once('=')
            .with_context(|| format!("`{option}` is not KEY=VALUE"))?;
        spec = match key {
            "trials" => spec.trials(count(key, word)?),
            "concurrency" => spec.concurrency(count(key, word)? as usize),
            "time" => spec.time(millis(word)?),
            "deadline" => spec.trial_deadline(millis(word)?),
            "cap" => {
                spec.capability = word.to_owned();
                spec
            }
            "sampler" => spec.sampler(sampler(word)?),
            "prune" => {
                let (startup, warmup) = word
                    .split_once(':')
                    .with_context(|| format!("prune=`{word}` is not STARTUP_TRIALS:WARMUP_STEPS"))?;
                spec.pruner(MedianPruner::new(
                    count("prune", startup)? as usize,
                    count("prune", warmup)?,
                ))
            }
            other => bail!(
                "unknown option `{other}` (trials, concurrency, time, deadline, cap, sampler, prune)"
            ),
        };
    }
    Ok(spec)
}

/// `random:SEED`, `grid:POINTS`, `ucb1:POINTS` or `thompson:POINTS:SEED`.
fn sampler(word: &str) -> anyhow::Result<Sampler> {
    let n = |w: &str| -> anyhow::Result<u64> {
        w.parse()
            .with_context(|| format!("`{w}` in sampler `{word}` is not a number"))
    };
    let points = |w: &str| -> anyhow::Result<u32> {
        u32::try_from(n(w)?).with_context(|| format!("`{w}` points are too many"))
    };
    let parts: Vec<&str> = word.split(':').collect();
    Ok(match parts.as_slice() {
        ["random", seed] => Sampler::Random { seed: n(seed)? },
        ["grid", p] => Sampler::Grid { points: points(p)? },
        ["ucb1", p] => Sampler::Bandit {
            policy: BanditPolicy::Ucb1,
            points: points(p)?,
        },
        ["thompson", p, seed] => Sampler::Bandit {
            policy: BanditPolicy::Thompson { seed: n(seed)? },
            points: points(p)?,
        },
        _ => bail!(
            "sampler `{word}` is not random:SEED, grid:POINTS, ucb1:POINTS or thompson:POINTS:SEED"
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn study_commands_parse() {
        let s = spec(
            "demo",
            "lr,batch",
            "minimize:loss",
            &[
                "trials=24",
                "concurrency=3",
                "sampler=thompson:4:9",
                "prune=4:1",
                "deadline=5000",
                "time=60000",
                "cap=gpu",
            ],
        )
        .unwrap();
        assert_eq!(s.space.len(), 2);
        assert_eq!((s.budget.trials, s.budget.concurrency), (24, 3));
        assert_eq!(s.pruner, Some(MedianPruner::new(4, 1)));
        assert_eq!(
            s.sampler,
            Sampler::Bandit {
                policy: BanditPolicy::Thompson { seed: 9 },
                points: 4
            }
        );
        assert_eq!(s.trial_deadline, Duration::from_secs(5));
        assert_eq!(s.budget.time, Some(Duration::from_secs(60)));
        assert_eq!(s.capability, "gpu");
        assert!(spec("d", "lr", "lowest:loss", &[]).is_err());
        assert!(spec("d", "lr", "minimize:loss", &["trials=many"]).is_err());
        assert!(spec("d", "lr", "minimize:loss", &["sampler=sobol:3"]).is_err());
        assert!(spec("d", "lr", "minimize:loss", &["colour=red"]).is_err());
    }

    #[test]
    fn the_quadratic_has_its_optimum_at_the_target() {
        let mut script = Script::default();
        for (k, v) in [
            ("evaluate", "quadratic"),
            ("target", "lr@0.01+batch@64+opt@adam"),
            ("steps", "3"),
        ] {
            assert!(script.parse_key(k, v).unwrap());
        }
        assert!(!script.parse_key("bid", "3").unwrap());
        assert!(script.parse_key("steps", "0").is_err());
        let step = |n, lr: f64, batch, opt: &str| TrialStep {
            study: "s".into(),
            trial: 0,
            step: n,
            params: BTreeMap::from([
                ("lr".to_owned(), Value::Float(lr)),
                ("batch".to_owned(), Value::Int(batch)),
                ("opt".to_owned(), Value::Text(opt.into())),
            ]),
            metric: "loss".into(),
        };
        assert_eq!(
            script.evaluate(&step(2, 0.01, 64, "adam")),
            Some(Evaluation::Done(0.0))
        );
        // lr twice the target, batch half of it, the other optimizer.
        let Some(Evaluation::Done(loss)) = script.evaluate(&step(2, 0.02, 32, "sgd")) else {
            panic!("a final value")
        };
        assert!((loss - 2.25).abs() < 1e-9, "{loss}");
        // Earlier steps: the loss plus 1/(step+1).
        assert_eq!(
            script.evaluate(&step(0, 0.01, 64, "adam")),
            Some(Evaluation::Step(1.0))
        );
        assert_eq!(
            script.evaluate(&step(1, 0.01, 64, "adam")),
            Some(Evaluation::Step(0.5))
        );
        assert_eq!(Script::default().evaluate(&step(0, 0.01, 64, "adam")), None);
    }
}
