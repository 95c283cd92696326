//! Optimisation studies on one node, each sampler and each way a study
//! ends: a grid covered (maximising), a UCB1 bandit over a choice that
//! settles on the best option, a time budget, evaluators that decline
//! (nothing committed), a value that is not a number, a study resumed
//! while its first coordinator still runs (which is then refused),
//! refusals before anybody is asked, and a finished study resumed (its
//! result again).
//!
//! One test, one node: ractor's registry is global to the process.

mod support;

use std::time::Duration;

use actor_cluster::Server;
use agents::variables::{
    BanditPolicy, Change, Definition, Ended, Evaluation, Kind, Objective, Sampler, StudySpec,
    TrialState, TrialStep, VariableError, Variables,
};
use agents::{Agent, Agents, Evaluator, Families, Value};

/// Scores `accuracy = 1 - (x - 0.3)^2 - [opt != "sgd"] / 2` (best at x
/// 0.3 with sgd) over `steps` steps, after `delay` each; `nan` reports
/// NaN instead.
#[derive(Clone)]
struct Scorer {
    id: String,
    capability: &'static str,
    delay: Duration,
    steps: u64,
    nan: bool,
}

impl Server for Scorer {}

impl Agent for Scorer {
    fn id(&self) -> String {
        self.id.clone()
    }
    fn capabilities(&self) -> Vec<String> {
        vec![self.capability.into()]
    }
    fn families(families: &mut Families<Self>) {
        families.evaluator();
    }
}

impl Evaluator for Scorer {
    async fn evaluate(&mut self, step: &TrialStep) -> Option<Evaluation> {
        tokio::time::sleep(self.delay).await;
        if self.nan {
            return Some(Evaluation::Step(f64::NAN));
        }
        let x = step.number("x").unwrap_or(0.0);
        let penalty = match step.param("opt") {
            Some(Value::Text(o)) if o != "sgd" => 0.5,
            _ => 0.0,
        };
        let accuracy = 1.0 - (x - 0.3).powi(2) - penalty;
        Some(if step.step + 1 >= self.steps {
            Evaluation::Done(accuracy)
        } else {
            Evaluation::Step(accuracy * (step.step + 1) as f64 / self.steps as f64)
        })
    }
}

/// An agent with the capability that does not evaluate.
struct Idle;
impl Server for Idle {}
impl Agent for Idle {
    fn id(&self) -> String {
        "idle".into()
    }
    fn capabilities(&self) -> Vec<String> {
        vec!["lazy".into()]
    }
}

fn scorer(id: &str, capability: &'static str) -> Scorer {
    Scorer {
        id: id.into(),
        capability,
        delay: Duration::ZERO,
        steps: 3,
        nan: false,
    }
}

fn spec(name: &str, capability: &str) -> StudySpec {
    StudySpec::new(name, Objective::maximize("accuracy"), capability)
        .param("x")
        .param("opt")
        .trial_deadline(Duration::from_secs(5))
}

#[tokio::test]
async fn studies_on_one_node() -> anyhow::Result<()> {
    let metrics = actor_core::MetricsRegistry::new();
    metrics.install()?;
    let node = support::lone_node("solo").await;
    let agents = Agents::start(&node).await?;
    for id in ["s1", "s2"] {
        let s = scorer(id, "scorer");
        agents.spawn(move || s.clone()).await?;
    }
    let slow = Scorer {
        delay: Duration::from_millis(100),
        ..scorer("slow", "slow")
    };
    agents.spawn(move || slow.clone()).await?;
    let odd = Scorer {
        nan: true,
        ..scorer("odd", "odd")
    };
    agents.spawn(move || odd.clone()).await?;
    agents.spawn(|| Idle).await?;
    let variables = Variables::start(&node, &["solo"]).await?;
    variables
        .define(Definition::new(
            "x",
            Kind::float(0.0, 0.6),
            Value::Float(0.0),
        ))
        .await?;
    variables
        .define(Definition::new(
            "opt",
            Kind::choice(["adam", "sgd"]),
            Value::Text("adam".into()),
        ))
        .await?;

    // Proposals are counted by rule and outcome.
    let proposed = variables
        .propose(&agents, "x", Value::Float(0.1), "s1")
        .await?;
    assert_eq!(proposed.committed().map(|c| c.version), Some(1));
    let refused = variables
        .propose(&agents, "x", Value::Float(0.9), "s1")
        .await;
    assert!(
        matches!(refused, Err(VariableError::InvalidValue { .. })),
        "{refused:?}"
    );
    let snapshot = metrics.snapshot();
    let proposals = |rule, outcome| {
        snapshot.counter(
            "foundation_variables_proposals_total",
            &[("rule", rule), ("outcome", outcome)],
        )
    };
    assert_eq!(proposals("last_writer_wins", "committed"), Some(1));
    assert_eq!(proposals("unknown", "refused"), Some(1));

    // A grid of 7 x 2 points, covered before the 100-trial budget.
    let grid = spec("grid", "scorer")
        .sampler(Sampler::Grid { points: 7 })
        .trials(100)
        .concurrency(2);
    let result = variables.study(&agents, grid).await?;
    assert_eq!(result.ended, Ended::Grid);
    assert_eq!(result.trials.len(), 14);
    assert_eq!(result.completed(), 14);
    let best = result.best.clone().expect("a best trial");
    assert_eq!(best.params["x"], Value::Float(0.3));
    assert_eq!(best.params["opt"], Value::Text("sgd".into()));
    assert_eq!(variables.get("x").await?.value, Value::Float(0.3));
    assert_eq!(variables.get("opt").await?.by, "study:grid");
    assert_eq!(result.committed.len(), 2);
    // Both evaluators took trials.
    for id in ["s1", "s2"] {
        assert!(result.trials.iter().any(|t| t.agent == id), "{id}");
    }
    // Its progress as metrics: 14 complete trials, the best value.
    let snapshot = metrics.snapshot();
    let trials = |state| {
        snapshot.counter(
            "foundation_study_trials_total",
            &[("study", "grid"), ("state", state)],
        )
    };
    assert_eq!((trials("complete"), trials("failed")), (Some(14), None));
    let best_value = snapshot.gauge("foundation_study_best_value", &[("study", "grid")]);
    assert_eq!(
        best_value,
        match best.state {
            TrialState::Complete { value } => Some(value),
            _ => None,
        }
    );

    // A UCB1 bandit over 2 x 2 arms: x 0.2 or 0.6, adam or sgd. The
    // best, (0.2, sgd), is played most.
    let bandit = StudySpec::new("bandit", Objective::maximize("accuracy"), "scorer")
        .param_in("x", Kind::float(0.2, 0.6))
        .param("opt")
        .sampler(Sampler::Bandit {
            policy: BanditPolicy::Ucb1,
            points: 2,
        })
        .trials(16);
    let result = variables.study(&agents, bandit).await?;
    assert_eq!(
        (result.ended.clone(), result.trials.len()),
        (Ended::Trials, 16)
    );
    let mut plays = [0; 4];
    for t in &result.trials {
        plays[t.point.expect("a grid point") as usize] += 1;
    }
    // Arms: (0.2, adam), (0.2, sgd), (0.6, adam), (0.6, sgd).
    assert!(plays.iter().all(|n| *n >= 1), "{plays:?}");
    assert!(plays.iter().all(|n| *n <= plays[1]), "{plays:?}");
    assert_eq!(result.best.and_then(|b| b.point), Some(1));

    // A time budget: no trial starts after 500 ms of a slow evaluator.
    let timed = spec("timed", "slow")
        .trials(100)
        .time(Duration::from_millis(500));
    let result = variables.study(&agents, timed).await?;
    assert_eq!(result.ended, Ended::Time);
    assert!(
        (1..=3).contains(&result.trials.len()),
        "{:?}",
        result.trials
    );

    // Evaluators that decline: every trial fails, nothing is committed.
    let before = variables.get("x").await?.version;
    let result = variables.study(&agents, spec("lazy", "lazy")).await?;
    assert_eq!(result.ended, Ended::NoEvaluators);
    assert_eq!((result.trials.len(), result.failed()), (1, 1));
    assert!(result.best.is_none() && result.committed.is_empty());
    assert_eq!(variables.get("x").await?.version, before);

    // A value that is not a number fails the trial.
    let result = variables
        .study(&agents, spec("odd", "odd").trials(2))
        .await?;
    assert_eq!(result.failed(), 2);
    assert!(matches!(
        &result.trials[0].state,
        TrialState::Failed { reason } if reason.contains("not a finite number")
    ));

    // Resumed while the node that runs it is still at work (it was
    // thought lost): the resumption takes the journal over first, the
    // first coordinator's next record is refused and it stops; the
    // study ends once, under the second.
    let mut changes = variables.subscribe();
    let fenced = spec("fenced", "slow").trials(4);
    let takeover = async {
        loop {
            match changes.recv().await {
                Ok(Change::Committed(c)) if c.name == "study:fenced" => break,
                Ok(_) => {}
                Err(e) => panic!("no record of the study: {e}"),
            }
        }
        variables.resume_study(&agents, "fenced").await
    };
    let (first, second) = tokio::join!(variables.study(&agents, fenced), takeover);
    assert!(
        matches!(&first, Err(VariableError::StudyStopped { reason, .. }) if reason.contains("another node resumed it")),
        "{first:?}"
    );
    let second = second?;
    assert_eq!(second.trials.len(), 4);
    assert_eq!(second.owners, ["solo", "solo"]);
    let numbers: std::collections::BTreeSet<u64> = second.trials.iter().map(|t| t.number).collect();
    assert_eq!(numbers.len(), 4, "each trial once: {:?}", second.trials);

    // Refused before anybody is asked: nothing is recorded.
    let unknown = variables
        .study(&agents, spec("nope", "scorer").param("y"))
        .await;
    assert!(
        matches!(&unknown, Err(VariableError::InvalidStudy { reason, .. }) if reason.contains("no variable `y`")),
        "{unknown:?}"
    );
    assert!(matches!(
        variables.study_status("nope").await,
        Err(VariableError::InvalidStudy { .. })
    ));
    let nobody = variables.study(&agents, spec("nobody", "pilots")).await;
    assert!(
        matches!(nobody, Err(VariableError::Coordination { .. })),
        "{nobody:?}"
    );
    let taken = variables.study(&agents, spec("grid", "scorer")).await;
    assert!(
        matches!(&taken, Err(VariableError::InvalidStudy { reason, .. }) if reason.contains("exists")),
        "{taken:?}"
    );

    // A finished study resumed: its result again, nothing run.
    let version = variables.get("x").await?.version;
    let again = variables.resume_study(&agents, "grid").await?;
    assert_eq!(again.trials.len(), 14);
    assert_eq!(again.best.map(|b| b.number), Some(best.number));
    assert_eq!(again.committed[0].version, 2);
    assert_eq!(variables.get("x").await?.version, version);

    variables.shutdown().await;
    node.shutdown().await;
    Ok(())
}
