//! Variables kept on disk ([`VariablesBuilder::data_dir`]): three node
//! processes commit values past a snapshot (and the purge of the log
//! before it), all three are killed (SIGKILL) and started again with the
//! same data dirs, and every value and version reads back linearizably
//! on every node, the next commit getting the next version. A data dir
//! that cannot be used fails `start` with an error naming it. The commit
//! latency on disk and in memory is measured by `cargo bench --bench
//! variables`.
//!
//! Each node is this test binary run again with [`ROLE`] set, driven
//! through `variables_node` (one JSON line per operation on its stdin).

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use agents::variables::{Committed, Definition, Kind, VariableError, Variables, VariablesBuilder};
use agents::{AgentError, Value};

mod variables_node;

use variables_node::{Launcher, NodeProcess, Op, VOTERS};

/// The environment variable that makes this binary a node.
const ROLE: &str = "FOUNDATION_VARIABLES_DISK_NODE";
const NODE: Launcher = Launcher {
    role_env: ROLE,
    args: &["variables_disk_node_process", "--exact", "--nocapture"],
};
/// A snapshot every this many log entries, so that the test passes a few.
const SNAPSHOT_EVERY: Option<u64> = Some(10);

/// Not a test: the entry point of the node processes, which run this
/// binary with [`ROLE`] set.
#[test]
fn variables_disk_node_process() {
    variables_node::node_main(ROLE);
}

/// The variables of the restart test, with a value for each.
fn definitions() -> Vec<(Definition, Vec<Value>)> {
    let floats = |n: u32| {
        (1..=n)
            .map(|i| Value::Float(f64::from(i) / 100.0))
            .collect()
    };
    vec![
        (
            Definition::new("learning_rate", Kind::float(0.0, 2.0), Value::Float(0.1)).history(100),
            floats(25),
        ),
        (
            Definition::new("batch_size", Kind::int(8, 512), Value::Int(32)).history(100),
            (1..=12).map(|i| Value::Int(8 * i)).collect(),
        ),
        (
            Definition::new(
                "optimizer",
                Kind::choice(["adam", "sgd"]),
                Value::Text("adam".into()),
            ),
            vec![Value::Text("sgd".into())],
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_committed_value_survives_a_restart_of_every_node() {
    let data = tempfile::tempdir().expect("a temp dir");
    let mut nodes = NODE
        .spawn_group(&VOTERS, Some(data.path()), SNAPSHOT_EVERY)
        .await
        .expect("the group formed");

    // Commits round the nodes, past several snapshots.
    let mut at = 0;
    for (definition, values) in definitions() {
        let name = definition.name.clone();
        let defined = nodes[at % 3].one(&Op::Define(definition)).await;
        assert_eq!(defined.map(|c| c.version), Ok(0));
        for (i, value) in values.into_iter().enumerate() {
            at += 1;
            let committed = nodes[at % 3].commit(&name, value.clone()).await;
            let committed = committed.expect("committed");
            assert_eq!((committed.version, committed.value), (i as u64 + 1, value));
        }
    }
    // Every node has taken a snapshot and dropped the log before it; then
    // a few more commits, which only the log holds.
    for node in &mut nodes {
        node.wait_status("snapshot and purge", Duration::from_secs(10), |s| {
            s.snapshot.is_some() && s.purged.is_some()
        })
        .await;
    }
    for value in [0.5, 0.6, 0.7] {
        nodes[0]
            .commit("learning_rate", Value::Float(value))
            .await
            .expect("committed after the snapshot");
    }
    let mut before = Vec::new();
    for (definition, _) in definitions() {
        let history = nodes[1].history(&definition.name).await.expect("history");
        before.push((definition.name, history));
    }
    for node in &mut nodes {
        let status = node.status().await;
        assert!(
            status.snapshot < status.applied,
            "committed entries after the snapshot: {status:?}"
        );
    }

    // Kill every node, then start them all again on the same data.
    for node in nodes {
        node.kill().await;
    }
    let restarted = Instant::now();
    let mut nodes = NODE
        .spawn_group(&VOTERS, Some(data.path()), SNAPSHOT_EVERY)
        .await
        .expect("the group formed again");
    let formed = restarted.elapsed();
    let first = nodes[0].one(&Op::Get("learning_rate".into())).await;
    let served = restarted.elapsed();
    assert_eq!(first.map(|c| c.value), Ok(Value::Float(0.7)));
    eprintln!(
        "full restart of 3 nodes: leader after {formed:?}, first linearizable read after {served:?}"
    );

    for node in &mut nodes {
        assert_kept(node, &before).await;
        let status = node.status().await;
        assert!(status.snapshot.is_some(), "{status:?}");
    }
    let last = before[0].1.last().expect("a value").version;
    let next = nodes[2]
        .commit("learning_rate", Value::Float(1.5))
        .await
        .expect("committed after the restart");
    assert_eq!(next.version, last + 1);
    before[0].1.push(next);

    // Again, the old leader coming back last: the two others elect a
    // leader of a new term from what they kept, and it catches up.
    for node in nodes {
        node.kill().await;
    }
    let restarted = Instant::now();
    let mut nodes = NODE
        .spawn_group(&VOTERS[1..], Some(data.path()), SNAPSHOT_EVERY)
        .await
        .expect("a quorum formed again");
    let formed = restarted.elapsed();
    let first = nodes[0].one(&Op::Get("learning_rate".into())).await;
    assert_eq!(first.map(|c| c.version), Ok(last + 1));
    eprintln!(
        "restart of 2 nodes without the old leader: leader after {formed:?}, first \
         linearizable read after {:?}",
        restarted.elapsed()
    );
    for node in &mut nodes {
        assert_kept(node, &before).await;
    }
    let next = nodes[0]
        .commit("learning_rate", Value::Float(1.6))
        .await
        .expect("committed by two of three");
    assert_eq!(next.version, last + 2);
    before[0].1.push(next);
    let seed = nodes[0].addr.clone();
    let mut n1 = NODE
        .spawn(
            VOTERS[0],
            Some(&seed),
            Some(&data.path().join("n1")),
            SNAPSHOT_EVERY,
        )
        .await
        .expect("n1");
    n1.ready().await.expect("n1 rejoined");
    assert_kept(&mut n1, &before).await;
    assert!(n1.status().await.term > 1, "a new term");
}

/// Asserts that `node` reads, linearizably, each variable of `kept` with
/// the history kept there, and has it in its own table then.
async fn assert_kept(node: &mut NodeProcess, kept: &[(String, Vec<Committed>)]) {
    for (name, history) in kept {
        let read = node.one(&Op::Get(name.clone())).await;
        assert_eq!(
            read.as_ref().ok(),
            history.last(),
            "{name} on {}",
            node.name
        );
        let again = node.history(name).await.expect("history");
        assert_eq!(&again, history, "{name} on {}", node.name);
        // Having read linearizably, its own table is that far too.
        let local = node.one(&Op::GetLocal(name.clone())).await;
        assert_eq!(
            local.as_ref().ok(),
            history.last(),
            "{name} on {}",
            node.name
        );
    }
}

/// A node that cannot use its data dir does not start, and says which
/// dir; a node that can keeps its table across a restart in the process.
#[tokio::test]
async fn a_data_dir_is_used_or_refused_by_its_path() {
    let node = support::lone_node("solo").await;
    let data = tempfile::tempdir().expect("a temp dir");
    let solo = || Variables::builder(&node, &["solo"]);
    let refused = |started: Result<Variables, AgentError>, path: &Path| match started {
        Err(AgentError::Variable(VariableError::Unavailable { reason })) => {
            let path = path.display().to_string();
            assert!(reason.contains(&path), "`{reason}` does not name {path}");
        }
        other => panic!("{other:?}"),
    };

    // A file where the directory should be.
    let file = data.path().join("a-file");
    std::fs::write(&file, "not a directory").expect("a file");
    refused(solo().data_dir(&file).start().await, &file);

    // A database file that is not one.
    let damaged = data.path().join("damaged");
    std::fs::create_dir(&damaged).expect("a dir");
    let db = damaged.join("variables.redb");
    std::fs::write(&db, vec![0x5a; 8192]).expect("garbage");
    refused(solo().data_dir(&damaged).start().await, &db);

    // A dir that works, across a restart of the group in this process.
    let good = data.path().join("solo");
    let started = |builder: VariablesBuilder| builder.data_dir(&good).start();
    let variables = started(solo()).await.expect("started");
    let batch = Definition::new("batch", Kind::int(1, 512), Value::Int(32));
    variables.define(batch).await.expect("defined");
    for size in [64, 128] {
        variables
            .commit("batch", Value::Int(size), "a1")
            .await
            .expect("committed");
    }
    variables.shutdown().await;
    drop(variables);
    let variables = started(solo()).await.expect("started again");
    let read = variables.get("batch").await.expect("read");
    assert_eq!((read.version, read.value), (2, Value::Int(128)));
    let next = variables.commit("batch", Value::Int(256), "a1").await;
    assert_eq!(next.map(|c| c.version), Ok(3));
    variables.shutdown().await;
    node.shutdown().await;
}
