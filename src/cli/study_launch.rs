//! `foundation launch --example study`: a short optimisation study on
//! local node processes.
//!
//! Starts N `foundation node` processes (3 by default) that keep the
//! cluster's variables, each with evaluator agents of a synthetic loss
//! (a quadratic with its optimum at learning_rate 0.01, batch_size 64,
//! optimizer adam, reported over five steps of 150 ms); defines the three
//! variables; starts a study of 24 trials, 3 at a time, random search
//! with a median pruner, coordinated on node1; shows a live progress line
//! (trial k/N, best so far: redrawn in place on a terminal, one line per
//! trial otherwise); then reads the committed best on every node.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use agents::variables::{Committed, StudyResult, TrialRecord, TrialState};
use anyhow::{bail, Context};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::Value as Json;

use super::launch::{start_nodes, stop_nodes, LaunchArgs, NodeProc};

/// The study's name.
const STUDY: &str = "tune";
/// Its trial budget.
const TRIALS: u64 = 24;
/// The variables searched, with their kinds and defaults (`var define`).
const VARIABLES: &[(&str, &str, &str)] = &[
    ("learning_rate", "float:0.0001:0.1:5:log", "0.1"),
    ("batch_size", "int:16:256:16", "32"),
    ("optimizer", "choice:adam,sgd,rmsprop", "sgd"),
];
/// The evaluators' loss and pace: the optimum, five steps of 60 ms.
const EVALUATOR: &str = "caps=evaluator:evaluate=quadratic:\
     target=learning_rate@0.01+batch_size@64+optimizer@adam:steps=5:delay=150";

/// How long one command may take.
const OP: Duration = Duration::from_secs(10);

pub(crate) async fn run(args: &LaunchArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    println!(
        "Starting {} nodes on 127.0.0.1:{}, {} evaluator agents each..",
        args.nodes, args.base_port, args.agents_per_node
    );
    let mut procs = start_nodes(args, |i| {
        (1..=args.agents_per_node)
            .map(|k| format!("n{i}-eval{k}:{EVALUATOR}"))
            .collect()
    })?;
    let result = drive(&mut procs, args).await;
    stop_nodes(&mut procs).await;
    result?;
    println!(
        "All nodes stopped. Done in {:.1} s.",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

async fn drive(procs: &mut [NodeProc], args: &LaunchArgs) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let n = procs.len();
    for p in procs.iter_mut() {
        p.expect(deadline, |v| v["event"] == "listening").await?;
        let mut seen = BTreeSet::new();
        while seen.len() < n - 1 {
            let ev = p.expect(deadline, |v| v["event"] == "node_up").await?;
            seen.insert(ev["node"].as_str().unwrap_or("?").to_owned());
        }
    }
    let total = n * args.agents_per_node;
    loop {
        let agents = procs[0].command("agents", OP).await?;
        let status = procs[0].command("var status", OP).await?;
        let visible = agents["agents"].as_array().map_or(0, Vec::len);
        if visible >= total && !status["status"]["leader"].is_null() {
            break;
        }
        if Instant::now() > deadline {
            bail!("not every evaluator became visible");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!("Cluster formed: {n} nodes, {total} evaluators, variables replicated by Raft.");

    println!("\nVariables searched (defined on {}):", procs[0].name);
    for (name, kind, default) in VARIABLES {
        let reply = procs[0]
            .command(&format!("var define {name} {kind} {default}"), OP)
            .await?;
        if let Some(refused) = reply["refused"].as_str() {
            bail!("var define {name} refused: {refused}");
        }
        println!("  {name:<14} {kind:<24} default {default}");
    }
    let vars: Vec<&str> = VARIABLES.iter().map(|(name, _, _)| *name).collect();
    let start = format!(
        "study start {STUDY} {} minimize:loss trials={TRIALS} concurrency=3 sampler=random:7 \
         prune=4:1 deadline=10000",
        vars.join(",")
    );
    println!(
        "\nStudy `{STUDY}` coordinated on {}: minimise loss, {TRIALS} trials, 3 at a time,\n  \
         random search (seed 7), median pruner from the 5th trial and step 1, \
         5 steps of 150 ms a trial:",
        procs[0].name
    );
    let reply = procs[0].command(&start, OP).await?;
    if let Some(refused) = reply["refused"].as_str() {
        bail!("the study was refused: {refused}");
    }
    let began = Instant::now();
    let result = follow(&mut procs[0]).await?;
    let seconds = began.elapsed().as_secs_f64();
    println!(
        "  {} trials in {seconds:.1} s ({:.1} trials/s): {} complete, {} pruned, {} failed",
        result.trials.len(),
        result.trials.len() as f64 / seconds.max(1e-9),
        result.completed(),
        result.pruned(),
        result.failed(),
    );
    let nodes: BTreeSet<&str> = result
        .trials
        .iter()
        .filter_map(|t| t.node.as_deref())
        .collect();
    println!(
        "  evaluated on {}",
        nodes.into_iter().collect::<Vec<_>>().join(", ")
    );
    match &result.best {
        Some(best) => println!(
            "  best: trial #{} on {}, loss {:.4} with {}",
            best.number,
            best.agent,
            best.value().unwrap_or(f64::NAN),
            params(best)
        ),
        None => bail!("no trial completed"),
    }
    println!("\nThe best values, committed by study:{STUDY} and read on every node:");
    let mut seen = BTreeSet::new();
    for p in procs.iter_mut() {
        let mut line = Vec::new();
        for name in &vars {
            let reply = p.command(&format!("var get {name}"), OP).await?;
            let c: Committed = serde_json::from_value(reply["variable"].clone())
                .with_context(|| format!("{} could not read {name}: {reply}", p.name))?;
            line.push(format!("{name} = {} (v{})", c.value, c.version));
            seen.insert((name.to_string(), c.value.to_string(), c.version, c.by));
        }
        println!("  {:<6} {}", p.name, line.join(", "));
    }
    if seen.len() == vars.len() {
        println!("  every node reads the same values and versions");
    } else {
        bail!("the nodes read different values: {seen:?}");
    }
    println!();
    Ok(())
}

/// Shows a progress line per `study_trial` event of `node` until its
/// `study_done`, and answers the study's result.
async fn follow(node: &mut NodeProc) -> anyhow::Result<StudyResult> {
    let bar = ProgressBar::with_draw_target(Some(TRIALS), ProgressDrawTarget::stdout());
    bar.set_style(
        ProgressStyle::with_template("  trial {pos}/{len} [{bar:24}] {elapsed} {msg}")?
            .progress_chars("=> "),
    );
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let event = node
            .expect(deadline, |v| {
                matches!(
                    v["event"].as_str(),
                    Some("study_trial" | "study_done" | "study_failed")
                ) && v["study"] == STUDY
            })
            .await?;
        match event["event"].as_str() {
            Some("study_trial") => {
                let (line, best) = progress(&event)?;
                if bar.is_hidden() {
                    println!("  {line} | {best}");
                } else {
                    bar.set_position(event["finished"].as_u64().unwrap_or(0));
                    bar.set_message(best);
                }
            }
            Some("study_done") => {
                bar.finish();
                return serde_json::from_value(event["result"].clone())
                    .context("the study's result");
            }
            _ => {
                bar.abandon();
                bail!("the study failed: {}", event["error"]);
            }
        }
    }
}

/// The line of one finished trial, and the best so far.
fn progress(event: &Json) -> anyhow::Result<(String, String)> {
    let trial: TrialRecord =
        serde_json::from_value(event["trial"].clone()).context("a trial record")?;
    let outcome = match &trial.state {
        TrialState::Complete { value } => format!("loss {value:.4}"),
        TrialState::Pruned { step } => format!("pruned at step {step}"),
        TrialState::Failed { reason } => format!("failed: {reason}"),
        _ => "ended".into(),
    };
    let line = format!(
        "trial {}/{}: #{} on {} ({}) {outcome}",
        event["finished"],
        event["of"],
        trial.number,
        trial.agent,
        trial.node.as_deref().unwrap_or("?"),
    );
    let best: Option<TrialRecord> = serde_json::from_value(event["best"].clone()).ok();
    let best = match best {
        Some(best) => format!(
            "best loss {:.4} (#{}: {}) · {} pruned",
            best.value().unwrap_or(f64::NAN),
            best.number,
            params(&best),
            event["pruned"]
        ),
        None => format!("no trial complete yet · {} pruned", event["pruned"]),
    };
    Ok((line, best))
}

/// `name=value` for each parameter of `trial`.
fn params(trial: &TrialRecord) -> String {
    trial
        .params
        .iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect::<Vec<_>>()
        .join(", ")
}
