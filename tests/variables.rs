//! The `var` commands of `foundation node` on three node processes that
//! keep the cluster's variables: a definition refused for an invalid
//! default; an agent's proposal voted on by the agents of every node and
//! committed, seen by a watching node with its version and proposer; a
//! proposal the vote refuses, which commits nothing; a value Byzantine
//! agreement decides instead of the proposed one; an invalid `set`
//! refused with the model's message; the kept history.

mod support;

use std::time::{Duration, Instant};

use serde_json::Value;
use support::netns::Lan;
use support::{agent_count, await_mesh, cluster, NodeSpec, TestNode};

const VOTERS: &str = "--variables=a,b,c";

/// The committed variable of a `var` reply (panics on a refusal).
fn variable(reply: &Value) -> &Value {
    assert!(reply.get("refused").is_none(), "refused: {reply}");
    &reply["variable"]
}

#[tokio::test]
async fn variables_are_proposed_voted_committed_and_watched() {
    let mut nodes = cluster(vec![
        NodeSpec::new("a")
            .arg(VOTERS)
            .agent("a1:vote=yes:agree=64")
            .agent("a2:vote=no:agree=64"),
        NodeSpec::new("b").arg(VOTERS).agent("b1:vote=yes:agree=64"),
        NodeSpec::new("c").arg(VOTERS).agent("c1:vote=yes:agree=32"),
    ])
    .await;
    nodes[0]
        .command_until("agents", |r| agent_count(r) == 4)
        .await;
    let watch = nodes[2].command("var watch").await;
    assert_eq!(watch["ok"], true, "{watch}");

    // A default outside the kind: refused, nothing defined.
    let bad = nodes[1].command("var define bad float:0:1 3").await;
    assert_eq!(
        bad["refused"], "value 3 refused: outside range [0.0, 1.0]",
        "{bad}"
    );
    let unknown = nodes[0].command("var get bad").await;
    assert_eq!(unknown["refused"], "no variable `bad`", "{unknown}");

    // Defined on a, proposed by b's agent, voted on by all four agents.
    let define = "var define lr float:0:1 0.1 vote=voter:majority:2000";
    let defined = nodes[0].command(define).await;
    assert_eq!(variable(&defined)["version"], 0, "{defined}");
    let proposed = nodes[1].command("var propose lr 0.01 b1").await;
    assert_eq!(proposed["by"], "vote", "{proposed}");
    assert_eq!(
        (&proposed["tally"]["yes"], &proposed["tally"]["no"]),
        (&Value::from(3), &Value::from(1)),
        "{proposed}"
    );
    let committed = variable(&proposed);
    assert_eq!(committed["version"], 1, "{proposed}");
    assert_eq!(committed["by"], "b1", "{proposed}");
    assert_eq!(committed["value"]["Float"], 0.01, "{proposed}");

    // The watching node printed the definition, then the commit.
    let seen = nodes[2]
        .expect(|v| {
            v["event"] == "variable" && v["variable"]["name"] == "lr" && v["change"] == "committed"
        })
        .await;
    assert_eq!(seen["variable"]["version"], 1, "{seen}");
    assert_eq!(seen["variable"]["by"], "b1", "{seen}");
    nodes[2]
        .expect(|v| {
            v["event"] == "variable" && v["change"] == "defined" && v["variable"]["name"] == "lr"
        })
        .await;
    let read = nodes[2].command("var get lr").await;
    assert_eq!(variable(&read)["version"], 1, "{read}");

    // Unanimity fails (a2 votes no): an answer, and nothing committed.
    let define = "var define strict float:0:1 0.1 vote=voter:unanimity:2000";
    variable(&nodes[0].command(define).await);
    let refused = nodes[0].command("var propose strict 0.5 a1").await;
    assert!(refused["variable"].is_null(), "{refused}");
    assert_eq!(refused["tally"]["no"], 1, "{refused}");
    let read = nodes[1].command("var get strict").await;
    assert_eq!(variable(&read)["version"], 0, "{read}");
    assert_eq!(variable(&read)["value"]["Float"], 0.1, "{read}");

    // Byzantine agreement: three of four propose 64, which is committed
    // rather than the 16 proposed.
    let define = "var define batch int:8:512:8 16 byzantine=voter:2000";
    variable(&nodes[1].command(define).await);
    let agreed = nodes[2].command("var propose batch 24 c1").await;
    assert_eq!(agreed["by"], "agreement", "{agreed}");
    assert_eq!(variable(&agreed)["value"]["Int"], 64, "{agreed}");
    assert_eq!(variable(&agreed)["version"], 1, "{agreed}");

    // An invalid set: the model's message, the version unchanged.
    let set = nodes[0].command("var set lr 3").await;
    assert_eq!(
        set["refused"], "value 3 refused: outside range [0.0, 1.0]",
        "{set}"
    );
    let set = nodes[0].command("var set lr 0.02").await;
    assert_eq!(variable(&set)["version"], 2, "{set}");
    assert_eq!(variable(&set)["by"], "a", "{set}");
    let history = nodes[1].command("var history lr").await;
    let versions: Vec<u64> = history["history"]
        .as_array()
        .expect("a history")
        .iter()
        .filter_map(|c| c["version"].as_u64())
        .collect();
    assert_eq!(versions, [0, 1, 2], "{history}");
    // A stale local read is still a read of this node's table.
    let local = nodes[2]
        .command_until("var get lr local", |r| r["variable"]["version"] == 2)
        .await;
    assert_eq!(variable(&local)["value"]["Float"], 0.02, "{local}");

    for node in nodes {
        node.quit().await;
    }
}

#[tokio::test]
async fn a_node_without_variables_says_how_to_get_them() {
    let mut nodes = cluster(vec![NodeSpec::new("solo")]).await;
    let reply = nodes[0].command("var get lr").await;
    assert_eq!(reply["reply"], "error", "{reply}");
    let message = reply["message"].as_str().unwrap_or_default();
    assert!(message.contains("--variables"), "{reply}");
    for node in nodes {
        node.quit().await;
    }
}

/// The voters of a `var status` reply.
fn voters(reply: &Value) -> Vec<String> {
    reply["status"]["voters"]
        .as_array()
        .unwrap_or_else(|| panic!("no voters: {reply}"))
        .iter()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn the_group_follows_nodes_that_join_and_leave() {
    let mut nodes = cluster(vec![
        NodeSpec::new("a").arg(VOTERS),
        NodeSpec::new("b").arg(VOTERS),
        NodeSpec::new("c").arg(VOTERS),
    ])
    .await;
    let define = nodes[0].command("var define pool int:1:64 4").await;
    variable(&define);
    variable(&nodes[0].command("var set pool 8").await);

    // d joins the cluster, then the group: a learner that catches up,
    // then a voter that reads what was committed before it came.
    let seed = nodes[0].addr.clone();
    let mut d = NodeSpec::new("d")
        .arg("--join-variables")
        .seed(&seed)
        .start()
        .await;
    let status = d
        .command_until("var status", |r| voters(r).len() == 4)
        .await;
    assert_eq!(voters(&status), ["a", "b", "c", "d"], "{status}");
    let read = d.command("var get pool").await;
    assert_eq!(variable(&read)["version"], 1, "{read}");
    let status = nodes[1].command("var status").await;
    assert_eq!(voters(&status), ["a", "b", "c", "d"], "{status}");

    // c is lost for good: removed by a; three voters, d commits.
    nodes[2].kill().await;
    let removed = nodes[0].command("var remove c").await;
    assert_eq!(
        removed["voters"],
        serde_json::json!(["a", "b", "d"]),
        "{removed}"
    );
    let set = d.command("var set pool 16").await;
    assert_eq!(variable(&set)["version"], 2, "{set}");

    // d leaves: the group is a and b, which still commit (2 of 2).
    let left = d.command("var leave").await;
    assert_eq!(left["ok"], true, "{left}");
    let status = nodes[0]
        .command_until("var status", |r| voters(r).len() == 2)
        .await;
    assert_eq!(voters(&status), ["a", "b"], "{status}");
    let set = nodes[1].command("var set pool 32").await;
    assert_eq!(variable(&set)["version"], 3, "{set}");
    let read = nodes[0].command("var get pool").await;
    assert_eq!(variable(&read)["value"]["Int"], 32, "{read}");
    d.quit().await;
    let [a, b, _killed] = <[_; 3]>::try_from(nodes).ok().expect("three nodes");
    a.quit().await;
    b.quit().await;
}

/// The committed versions of `name` in a node's `var history` reply.
fn values_in(history: &Value) -> Vec<i64> {
    history["history"]
        .as_array()
        .unwrap_or_else(|| panic!("no history: {history}"))
        .iter()
        .filter_map(|c| c["value"]["Int"].as_i64())
        .collect()
}

#[tokio::test]
async fn a_minority_partition_cannot_commit_and_catches_up_after_the_heal() {
    let Some(lan) = Lan::create(5) else { return };
    let names = ["a", "b", "c", "d", "e"];
    let first = format!("{}:7400", lan.hosts[0].ip);
    let mut nodes = Vec::new();
    for (host, name) in lan.hosts.iter().zip(names) {
        let mut spec = NodeSpec::new(name)
            .netns(&host.ns)
            .listen(&format!("{}:7400", host.ip))
            .arg("--variables=a,b,c,d,e")
            .arg("--failure-timeout=1s");
        if name != "a" {
            spec = spec.seed(&first);
        }
        nodes.push(spec.start().await);
    }
    await_mesh(&mut nodes).await;
    variable(&nodes[0].command("var define pool int:1:64 4").await);
    variable(&nodes[4].command("var set pool 8").await);

    lan.split(&[3, 4]);
    for node in &mut nodes[3..] {
        node.expect(|v| v["event"] == "quorum_lost").await;
    }
    // The minority refuses a write and a linearizable read with the typed
    // error, within the operation's deadline (3 s); a stale local read is
    // still served.
    for node in &mut nodes[3..] {
        let started = Instant::now();
        let refused = node.command("var set pool 9").await;
        let message = refused["refused"].as_str().unwrap_or_default();
        assert!(message.starts_with("no quorum: "), "{refused}");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
        let read = node.command("var get pool").await;
        let message = read["refused"].as_str().unwrap_or_default();
        assert!(message.starts_with("no quorum: "), "{read}");
        let local = node.command("var get pool local").await;
        assert_eq!(variable(&local)["value"]["Int"], 8, "{local}");
    }
    // The majority commits on.
    let set = nodes[1].command("var set pool 12").await;
    assert_eq!(variable(&set)["version"], 2, "{set}");
    assert_eq!(variable(&set)["value"]["Int"], 12, "{set}");

    lan.heal();
    for node in &mut nodes[3..] {
        node.expect(|v| v["event"] == "quorum_regained").await;
        let read = node
            .command_until("var get pool", |r| r["variable"]["version"] == 2)
            .await;
        assert_eq!(variable(&read)["value"]["Int"], 12, "{read}");
        // What the minority was refused was never applied.
        let history = node.command("var history pool").await;
        assert_eq!(values_in(&history), [4, 8, 12], "{history}");
    }
    let set = nodes[3].command("var set pool 16").await;
    assert_eq!(variable(&set)["version"], 3, "{set}");
    futures::future::join_all(nodes.into_iter().map(TestNode::quit)).await;
}

#[tokio::test]
async fn with_data_dirs_a_restart_of_every_node_keeps_every_value() {
    let dirs = tempfile::tempdir().expect("a temp dir");
    let specs = |addrs: Option<&[String]>| {
        ["a", "b", "c"]
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let dir = dirs.path().join(name);
                let spec = NodeSpec::new(name)
                    .arg(VOTERS)
                    .arg(&format!("--data-dir={}", dir.display()));
                match addrs {
                    Some(addrs) => spec.listen(&addrs[i]),
                    None => spec,
                }
            })
            .collect::<Vec<_>>()
    };
    let mut nodes = cluster(specs(None)).await;
    let addrs: Vec<String> = nodes.iter().map(|n| n.addr.clone()).collect();
    variable(&nodes[0].command("var define pool int:1:64 4").await);
    for (i, v) in [8, 16, 32].into_iter().enumerate() {
        let set = nodes[i].command(&format!("var set pool {v}")).await;
        assert_eq!(variable(&set)["version"], i + 1, "{set}");
    }
    // Every node killed at once: nothing gets a chance to flush late.
    for node in &mut nodes {
        node.kill().await;
    }
    drop(nodes);

    let mut nodes = cluster(specs(Some(&addrs))).await;
    for node in &mut nodes {
        let read = node.command("var get pool").await;
        assert_eq!(variable(&read)["version"], 3, "{read}");
        assert_eq!(variable(&read)["value"]["Int"], 32, "{read}");
    }
    let history = nodes[1].command("var history pool").await;
    assert_eq!(values_in(&history), [4, 8, 16, 32], "{history}");
    let set = nodes[2].command("var set pool 64").await;
    assert_eq!(variable(&set)["version"], 4, "{set}");
    futures::future::join_all(nodes.into_iter().map(TestNode::quit)).await;
}
