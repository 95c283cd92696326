//! Byzantine-tolerant agreement with agents on three node processes: a
//! faulty agent, a late one, an invalid proposal and a node killed
//! mid-agreement; outcomes exactly those of q = ⌈(n+f+1)/2⌉.

mod support;
use support::{agent_count, cluster, command_killing, NodeSpec};

#[tokio::test]
async fn agreement_decides_at_the_quorum_without_waiting_for_the_rest() {
    let mut nodes = cluster(vec![
        NodeSpec::new("a")
            .agent("a1:agree=0.01")
            .agent("a2:agree=0.01")
            .agent("a3:agree=0.01"),
        // b2 is faulty: it proposes another value.
        NodeSpec::new("b")
            .agent("b1:agree=0.01")
            .agent("b2:agree=0.5"),
        // c2 would agree, but only after 5 s.
        NodeSpec::new("c")
            .agent("c1:agree=0.01")
            .agent("c2:agree=0.01:delay=5000"),
    ])
    .await;
    nodes[0]
        .command_until("agents", |r| agent_count(r) == 7)
        .await;

    // n = 7, f = ⌊6/3⌋ = 2, q = ⌈(7+2+1)/2⌉ = 5: a1 a2 a3 b1 c1 decide
    // 0.01 as soon as the fifth arrives; c2 is not waited for.
    let reply = nodes[1].command("agree learning_rate 10000").await;
    let r = &reply["result"];
    assert_eq!(
        r["decided"],
        serde_json::json!({ "Float": 0.01 }),
        "{reply}"
    );
    assert_eq!(
        (
            r["outcome"]["n"].as_u64(),
            r["outcome"]["f"].as_u64(),
            r["outcome"]["quorum"].as_u64()
        ),
        (Some(7), Some(2), Some(5))
    );
    // c2 is never waited for; b2 (who proposes another value) may or may
    // not have answered before the fifth agreeing answer: which of the
    // two the quorum did not need depends on arrival order alone.
    let not_needed: Vec<&str> = r["not_needed"]
        .as_array()
        .expect("not_needed")
        .iter()
        .filter_map(|a| a.as_str())
        .collect();
    assert!(
        not_needed.contains(&"c2") && not_needed.iter().all(|a| ["b2", "c2"].contains(a)),
        "{reply}"
    );
    assert!(r["duration_ms"].as_u64().unwrap() < 5000, "{reply}");

    // Tolerating 3 faulty agents needs 10; only 7 take part.
    let reply = nodes[1].command("agree learning_rate 1000 3").await;
    assert_eq!(reply["reply"], "error");
    let message = reply["message"].as_str().unwrap();
    assert!(
        message.contains("3f+1 = 10") && message.contains("only 7"),
        "{message}"
    );
}

#[tokio::test]
async fn agreement_fails_when_faulty_invalid_and_dead_agents_keep_the_quorum_out_of_reach() {
    let mut nodes = cluster(vec![
        NodeSpec::new("a")
            .agent("a1:agree=0.01")
            .agent("a2:agree=0.01"),
        // b2 is faulty, b3 proposes a number that is not one, b4 is late.
        NodeSpec::new("b")
            .agent("b1:agree=0.01")
            .agent("b2:agree=0.5")
            .agent("b3:agree=NaN")
            .agent("b4:agree=0.01:delay=5000"),
        // c's agents are slow; the node is killed while they think.
        NodeSpec::new("c")
            .agent("c1:agree=0.01:delay=3000")
            .agent("c2:agree=0.01:delay=3000"),
    ])
    .await;
    nodes[0]
        .command_until("agents", |r| agent_count(r) == 8)
        .await;

    let reply = command_killing(&mut nodes, 0, "agree learning_rate 2000", 2, "c1", "").await;
    let r = &reply["result"];
    // n = 8, f = 2, q = ⌈(8+2+1)/2⌉ = 6, but only a1 a2 b1 propose 0.01
    // validly and in time.
    assert_eq!(r["decided"], serde_json::Value::Null, "{reply}");
    let counts: Vec<(&str, u64)> = r["outcome"]["counts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["value"].as_str().unwrap(), c["votes"].as_u64().unwrap()))
        .collect();
    assert_eq!(counts, [("float:0.01", 3), ("float:0.5", 1)]);
    assert_eq!(r["rejected"][0]["agent"], "b3");
    let missing: Vec<&str> = r["missing"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["agent"].as_str())
        .collect();
    assert_eq!(missing, ["b4", "c1", "c2"]);
    assert_eq!(r["missing"][0]["reason"], "no answer before the deadline");
    assert_ne!(r["missing"][1]["reason"], "no answer before the deadline");
    // b3 was told why its proposal was set aside.
    nodes[1]
        .expect(|v| v["event"] == "agent_rejected" && v["agent"] == "b3")
        .await;
}
