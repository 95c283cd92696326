//! Contract-net (cancelled, with a contractor that dies, iterated),
//! alternating offers and Zeuthen negotiation with agents on three node
//! processes; a late agent throughout.

mod support;
use agents::protocols::negotiation::{zeuthen, Concession, UtilityTable};
use serde_json::{json, Value};
use support::{agent_count, cluster, command_killing, NodeSpec, TestNode};

fn ranking(call: &Value) -> Vec<(String, f64)> {
    call["ranking"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["agent"].as_str().unwrap().to_owned(),
                p["proposal"]["price"].as_f64().unwrap(),
            )
        })
        .collect()
}

fn missing(call: &Value) -> Vec<&str> {
    call["missing"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["agent"].as_str())
        .collect()
}

async fn asked(node: &mut TestNode, agent: &str, step: &str) {
    let request = format!("negotiate:{step}");
    node.expect(|v| {
        v["event"] == "agent_asked" && v["agent"] == agent && v["request"] == request.as_str()
    })
    .await;
}

#[tokio::test]
async fn contract_net_across_nodes_cancelled_lost_done_and_iterated() {
    let mut nodes = cluster(vec![
        // a1 asks 30 at the first call and 12 when called again; a2 is late.
        NodeSpec::new("a")
            .agent("a1:price=30/12")
            .agent("a2:price=5:delay=1000"),
        // b2 has no capacity: it refuses.
        NodeSpec::new("b").agent("b1:price=20").agent("b2"),
        // c1 is the cheapest but takes 3 s to do the work.
        NodeSpec::new("c").agent("c1:price=10:work=3000"),
    ])
    .await;
    nodes[0]
        .command_until("agents", |r| agent_count(r) == 5)
        .await;

    // 1. c1 (10) beats b1 (20) and a1 (30); a2 misses the 500 ms call.
    // The initiator cancels while c1 works; c1 is told.
    let r = nodes[0]
        .command("contract t1 500 5000 cancel-after=800")
        .await["result"]
        .clone();
    assert_eq!(r["status"], "Cancelled", "{r}");
    assert_eq!(r["contractor"], "c1");
    assert_eq!(
        ranking(&r["calls"][0]),
        [
            ("c1".into(), 10.0),
            ("b1".into(), 20.0),
            ("a1".into(), 30.0)
        ]
    );
    assert_eq!(missing(&r["calls"][0]), ["a2"]);
    assert_eq!(r["calls"][0]["refusals"][0]["agent"], "b2");
    assert_eq!(r["rejected_proposers"], json!(["b1", "a1"]));
    asked(&mut nodes[2], "c1", "cancel").await;

    // 2. c1 wins again; its node is killed while it works.
    let reply = command_killing(
        &mut nodes,
        0,
        "contract t2 500 5000",
        2,
        "c1",
        "negotiate:award",
    )
    .await;
    let r = reply["result"].clone();
    assert_eq!(r["contractor"], "c1", "{r}");
    let lost = r["status"]["ContractorLost"].as_str().unwrap_or_default();
    assert!(!lost.is_empty() && !lost.contains("deadline"), "{r}");

    // 3. Without c1, b1 (20) wins and reports done.
    let r = nodes[1].command("contract t3 500 2000").await["result"].clone();
    assert_eq!(r["status"], json!({ "Done": "t3 done" }), "{r}");
    assert_eq!(r["contractor"], "b1");

    // 4. Iterated: nothing at 15 or less in the first call (b1 20, a1 30),
    // so the call is re-issued; a1 now asks 12 and wins.
    let r = nodes[0]
        .command("contract t4 500 2000 rounds=2 max-price=15")
        .await["result"]
        .clone();
    assert_eq!(r["calls"].as_array().unwrap().len(), 2, "{r}");
    assert_eq!(r["calls"][1]["task"]["description"], "t4 (call 2)");
    assert_eq!(ranking(&r["calls"][1])[0], ("a1".into(), 12.0));
    assert_eq!(r["status"], json!({ "Done": "t4 done" }));
}

#[tokio::test]
async fn bargaining_and_zeuthen_across_nodes() {
    let mut nodes = cluster(vec![
        NodeSpec::new("a")
            .agent("a1:discount=0.9")
            .agent("a2:utilities=1,0.8,0.5,0"),
        NodeSpec::new("b")
            .agent("b1:discount=0.8")
            .agent("b2:utilities=0,0.5,0.8,1"),
        NodeSpec::new("c").agent("c1:discount=0.7:delay=1000"),
    ])
    .await;
    nodes[0]
        .command_until("agents", |r| agent_count(r) == 5)
        .await;

    // Subgame-perfect agents agree at once: the first proposer keeps
    // x* = (1 - 0.8) / (1 - 0.9 * 0.8) = 5/7.
    let r = nodes[2].command("bargain a1 b1 0.9 0.8 1000").await["result"].clone();
    assert_eq!(r["round"], 0, "{r}");
    let first = r["agreement"][0].as_f64().unwrap();
    assert!((first - 5.0 / 7.0).abs() < 1e-9, "{r}");
    assert!((r["predicted"]["first"].as_f64().unwrap() - first).abs() < 1e-9);

    // Two rounds: the last proposer (b1) would keep everything, so a1
    // offers b1 its discounted value 0.8 and keeps 0.2.
    let r = nodes[0].command("bargain a1 b1 0.9 0.8 1000 2").await["result"].clone();
    let shares = (
        r["agreement"][0].as_f64().unwrap(),
        r["agreement"][1].as_f64().unwrap(),
    );
    assert!(
        (shares.0 - 0.2).abs() < 1e-9 && (shares.1 - 0.8).abs() < 1e-9,
        "{r}"
    );

    // c1 answers after the deadline: no agreement, and it says why.
    let r = nodes[0].command("bargain a1 c1 0.9 0.7 300").await["result"].clone();
    assert_eq!(r["agreement"], Value::Null, "{r}");
    assert!(r["breakdown"].as_str().unwrap().starts_with("c1"), "{r}");

    // Zeuthen: the outcome is the rule's on the agents' utilities.
    let r = nodes[1].command("zeuthen a2 b2 w,x,y,z 1000").await["result"].clone();
    let table = UtilityTable::new(vec![1.0, 0.8, 0.5, 0.0], vec![0.0, 0.5, 0.8, 1.0]).unwrap();
    let expected = zeuthen(&table, Concession::Sufficient, 100);
    assert_eq!(
        r["outcome"],
        serde_json::to_value(&expected).unwrap(),
        "{r}"
    );
    assert!(r["agreed"].is_string(), "{r}");
}
