//! Optimisation studies on three `foundation node` processes that keep the
//! cluster's variables: trials handed to evaluator agents on every node,
//! the median pruner stopping some, the best configuration committed and
//! read on every node; an evaluator's node killed in the middle of a
//! trial (the trial fails, the study completes); the node that started
//! the study killed (another node resumes it from its journal without
//! running finished trials again).

mod support;

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use support::{agent_count, cluster, NodeSpec, TestNode};

const VOTERS: &str = "--variables=a,b,c";

/// An evaluator of the quadratic with its optimum at lr 0.01, batch 64.
fn evaluator(id: &str, extra: &str) -> String {
    format!("{id}:caps=evaluator:evaluate=quadratic:target=lr@0.01+batch@64:steps=4{extra}")
}

/// Starts a, b, c with the given evaluators, waits for every agent and
/// defines the two variables searched.
async fn setup(agents: [&[String]; 3]) -> Vec<TestNode> {
    let mut specs = Vec::new();
    for (name, agents) in ["a", "b", "c"].into_iter().zip(agents) {
        let mut spec = NodeSpec::new(name).arg(VOTERS);
        for agent in agents {
            spec = spec.agent(agent);
        }
        specs.push(spec);
    }
    let total: usize = agents.iter().map(|a| a.len()).sum();
    let mut nodes = cluster(specs).await;
    nodes[0]
        .command_until("agents", |r| agent_count(r) == total)
        .await;
    for define in [
        "var define lr float:0.0001:0.1:5:log 0.1",
        "var define batch int:8:256:8 32",
    ] {
        let reply = nodes[0].command(define).await;
        assert!(reply.get("refused").is_none(), "{reply}");
    }
    nodes
}

/// The `study_done` result on `node` (panics on `study_failed`).
async fn done(node: &mut TestNode, study: &str) -> Value {
    let end = node
        .expect(|v| {
            (v["event"] == "study_done" || v["event"] == "study_failed") && v["study"] == study
        })
        .await;
    assert_eq!(end["event"], "study_done", "{end}");
    end["result"].clone()
}

/// How many trials of `result` ended in state `state` (`Complete`,
/// `Pruned`, `Failed`).
fn count(result: &Value, state: &str) -> usize {
    trials(result)
        .iter()
        .filter(|t| t["state"].get(state).is_some())
        .count()
}

fn trials(result: &Value) -> Vec<Value> {
    result["trials"].as_array().cloned().unwrap_or_default()
}

/// Every node reads the best trial's values, committed by the study.
async fn best_read_everywhere(nodes: &mut [TestNode], result: &Value, study: &str) {
    let best = &result["best"];
    assert!(best["state"]["Complete"].is_object(), "{result}");
    for var in ["lr", "batch"] {
        for node in nodes.iter_mut() {
            let read = node.command(&format!("var get {var}")).await;
            assert_eq!(read["variable"]["value"], best["params"][var], "{read}");
            assert_eq!(read["variable"]["by"], format!("study:{study}"), "{read}");
        }
    }
}

#[tokio::test]
async fn a_study_spreads_its_trials_prunes_and_commits_the_best_everywhere() {
    let agents = |node: &str| vec![evaluator(&format!("{node}1"), "")];
    let mut nodes = setup([&agents("a"), &agents("b"), &agents("c")]).await;

    let start = "study start demo lr,batch minimize:loss trials=18 concurrency=3 \
                 sampler=random:7 prune=3:1 deadline=5000";
    let reply = nodes[0].command(start).await;
    assert_eq!(reply["started"], true, "{reply}");
    let result = done(&mut nodes[0], "demo").await;

    assert_eq!(trials(&result).len(), 18, "{result}");
    assert_eq!(result["ended"], "Trials", "{result}");
    let (complete, pruned, failed) = (
        count(&result, "Complete"),
        count(&result, "Pruned"),
        count(&result, "Failed"),
    );
    assert_eq!(complete + pruned, 18, "{result}");
    assert_eq!(failed, 0, "{result}");
    assert!(complete >= 3, "the start-up trials complete: {result}");
    assert!(pruned >= 1, "the median pruner stopped none: {result}");
    // Pruned trials stopped before their last step (4 steps: 0 to 3),
    // never before the warm-up step 1.
    for t in trials(&result) {
        if let Some(step) = t["state"]["Pruned"]["step"].as_u64() {
            assert!((1..3).contains(&step), "{t}");
        }
    }
    // Trials ran on every node's evaluator.
    let ran_on: BTreeSet<&str> = result["trials"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["node"].as_str())
        .collect();
    assert_eq!(ran_on, BTreeSet::from(["a", "b", "c"]), "{result}");
    // The best is the completed trial with the least loss.
    let least = trials(&result)
        .iter()
        .filter_map(|t| t["state"]["Complete"]["value"].as_f64())
        .fold(f64::INFINITY, f64::min);
    assert_eq!(
        result["best"]["state"]["Complete"]["value"], least,
        "{result}"
    );
    best_read_everywhere(&mut nodes, &result, "demo").await;

    // One progress line per trial, counting up to 18.
    let progress: Vec<u64> = nodes[0]
        .seen
        .iter()
        .filter(|v| v["event"] == "study_trial" && v["study"] == "demo")
        .filter_map(|v| v["finished"].as_u64())
        .collect();
    assert_eq!(progress, (1..=18).collect::<Vec<_>>());

    // A study of the same name is refused; any node reads its status.
    nodes[1].command(start).await;
    let refused = nodes[1]
        .expect(|v| v["event"] == "study_failed" && v["study"] == "demo")
        .await;
    assert!(
        refused["error"].as_str().unwrap_or("").contains("exists"),
        "{refused}"
    );
    let status = nodes[2].command("study status demo").await;
    assert_eq!(
        status["status"]["trials"].as_array().map(Vec::len),
        Some(18)
    );
    assert_eq!(status["status"]["owners"], serde_json::json!(["a"]));
    // An invalid spec is refused before anybody is asked.
    let bad = nodes[0]
        .command("study start bad lr minimize:loss trials=0")
        .await;
    assert!(
        bad["refused"].as_str().unwrap_or("").contains("no trial"),
        "{bad}"
    );

    for node in nodes {
        node.quit().await;
    }
}

#[tokio::test]
async fn an_evaluator_killed_mid_trial_fails_that_trial_and_the_study_completes() {
    let mut nodes = setup([
        &[evaluator("a1", "")],
        &[evaluator("b1", "")],
        // c1 takes 400 ms a step: it is killed in the middle of one.
        &[evaluator("c1", ":delay=400")],
    ])
    .await;

    let start = "study start tolerant lr,batch minimize:loss trials=9 concurrency=3 \
                 sampler=random:3 deadline=3000";
    // The first three trials go to a1, b1, c1 at once; c's node is
    // killed as soon as c1 starts its step.
    let reply = support::command_killing(&mut nodes, 0, start, 2, "c1", "study:step").await;
    assert_eq!(reply["started"], true, "{reply}");
    let result = done(&mut nodes[0], "tolerant").await;

    assert_eq!(trials(&result).len(), 9, "{result}");
    let on_c1: Vec<Value> = trials(&result)
        .into_iter()
        .filter(|t| t["agent"] == "c1")
        .collect();
    assert_eq!(
        on_c1.len(),
        1,
        "c1 is asked no more after its node died: {result}"
    );
    assert!(
        on_c1[0]["state"]["Failed"]["reason"].is_string(),
        "{result}"
    );
    assert_eq!(count(&result, "Failed"), 1, "{result}");
    assert_eq!(count(&result, "Complete"), 8, "{result}");
    nodes.truncate(2);
    best_read_everywhere(&mut nodes, &result, "tolerant").await;
    for node in nodes {
        node.quit().await;
    }
}

#[tokio::test]
async fn a_study_whose_node_is_killed_is_resumed_elsewhere() {
    // No evaluator on a: it only coordinates, and is lost.
    let mut nodes = setup([
        &[],
        &[evaluator("b1", ":delay=60")],
        &[evaluator("c1", ":delay=60")],
    ])
    .await;

    let start = "study start moving lr,batch minimize:loss trials=12 concurrency=2 \
                 sampler=random:11 deadline=5000";
    let reply = nodes[0].command(start).await;
    assert_eq!(reply["started"], true, "{reply}");
    // Four trials finished: then a is killed.
    nodes[0]
        .expect(|v| v["event"] == "study_trial" && v["finished"] == 4)
        .await;
    nodes[0].kill().await;
    // The journal as a survivor reads it: what a had finished.
    let status = nodes[1].command("study status moving").await;
    let before: BTreeMap<u64, Value> = status["status"]["trials"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| Some((t["number"].as_u64()?, t.clone())))
        .collect();
    assert!(before.len() >= 4, "{status}");
    assert!(status["status"]["finished"].is_null(), "{status}");

    // Read what b and c printed so far (their evaluators' asks from a),
    // then only what follows.
    for node in &mut nodes[1..] {
        node.command("agents").await;
        node.forget();
    }
    let reply = nodes[1].command("study resume moving").await;
    assert_eq!(reply["started"], true, "{reply}");
    let result = done(&mut nodes[1], "moving").await;

    assert_eq!(result["owners"], serde_json::json!(["a", "b"]), "{result}");
    let after = trials(&result);
    assert_eq!(after.len(), 12, "{result}");
    let numbers: BTreeSet<u64> = after.iter().filter_map(|t| t["number"].as_u64()).collect();
    assert_eq!(numbers, (0..12).collect(), "each trial once: {result}");
    // The trials finished before the loss are kept as they were...
    for (number, record) in &before {
        let kept = after.iter().find(|t| t["number"] == *number);
        assert_eq!(kept, Some(record), "trial {number}");
    }
    nodes.remove(0);
    // (The reads go through b's and c's output up to their replies.)
    best_read_everywhere(&mut nodes, &result, "moving").await;
    // ...and no evaluator was asked to start one of them again.
    let mut asked = 0;
    for node in &nodes {
        for v in node.seen.iter().filter(|v| v["event"] == "agent_asked") {
            asked += 1;
            let request = v["request"].as_str().unwrap_or("");
            for number in before.keys() {
                assert_ne!(request, format!("study:step:{number}:0"), "re-run: {v}");
            }
        }
    }
    assert!(asked > 0, "the resumed study asked nobody");
    // Resuming an ended study answers its result again, running nothing.
    nodes[1].forget();
    let again = nodes[1].command("study resume moving").await;
    assert_eq!(again["started"], true, "{again}");
    let twice = nodes[1]
        .expect(|v| v["event"] == "study_done" && v["result"]["owners"] == result["owners"])
        .await;
    assert_eq!(twice["result"]["best"], result["best"]);
    for node in nodes {
        node.quit().await;
    }
}

/// `foundation launch --example study`: the study on three processes,
/// one progress line per trial (stdout is not a terminal here), the best
/// read on every node.
#[tokio::test]
async fn launch_runs_the_study_example() {
    let base = support::free_ports(3);
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_foundation"))
        .args([
            "launch",
            "--example",
            "study",
            "--base-port",
            &base.to_string(),
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn launch");
    let out = tokio::time::timeout(support::DEADLINE, child.wait_with_output())
        .await
        .expect("the study example finishes in time")
        .expect("wait");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "launch failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for k in 1..=24 {
        assert!(stdout.contains(&format!("trial {k}/24: #")), "{stdout}");
    }
    assert!(stdout.contains("24 trials in"), "{stdout}");
    assert!(
        stdout.contains("evaluated on node1, node2, node3"),
        "{stdout}"
    );
    assert!(
        stdout.contains("every node reads the same values and versions"),
        "{stdout}"
    );
}
