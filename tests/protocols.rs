//! A vote and auctions whose participants sit on three nodes produce
//! exactly the outcome of their rules.

mod support;
use support::{agent_count, cluster, NodeSpec};

#[tokio::test]
async fn a_majority_vote_across_nodes_counts_absentees_against() {
    let mut nodes = cluster(vec![
        NodeSpec::new("a").agent("a1:vote=yes").agent("a2:vote=no"),
        NodeSpec::new("b")
            .agent("b1:vote=yes")
            .agent("b2:vote=abstain"),
        NodeSpec::new("c")
            .agent("c1:vote=yes")
            .agent("c2:vote=yes:delay=5000"),
    ])
    .await;
    nodes[1]
        .command_until("agents", |r| agent_count(r) == 6)
        .await;

    let reply = nodes[1].command("vote batch_size 64 1000").await;
    let r = &reply["result"];
    assert_eq!(r["proposal"]["value"], serde_json::json!({"Int": 64}));
    let t = &r["tally"];
    // 3 yes of 6 eligible is not strictly more than half: rejected.
    assert_eq!(
        (t["eligible"].as_u64(), t["yes"].as_u64(), t["no"].as_u64()),
        (Some(6), Some(3), Some(1))
    );
    assert_eq!(
        (t["abstained"].as_u64(), t["absent"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(t["passed"], false);
    assert_eq!(r["missing"][0]["agent"], "c2");
    assert_eq!(r["missing"][0]["reason"], "no answer before the deadline");
}

#[tokio::test]
async fn sealed_bid_auctions_across_nodes_follow_their_rules() {
    let mut nodes = cluster(vec![
        NodeSpec::new("a").agent("a1:bid=10").agent("a2:bid=30"),
        // b1 ties a2 but answers later: the tie goes to a2.
        NodeSpec::new("b")
            .agent("b1:bid=30:delay=300")
            .agent("b2:bid=none"),
        NodeSpec::new("c").agent("c1:bid=25").agent("c2:bid=4"),
    ])
    .await;
    nodes[2]
        .command_until("agents", |r| agent_count(r) == 6)
        .await;

    let reply = nodes[2].command("auction gpu-hour second 5 2000").await;
    let o = &reply["result"]["outcome"];
    assert_eq!(o["winner"], "a2");
    assert_eq!(o["price"], 30.0, "Vickrey: the runner-up's equal bid");
    assert!(
        o["tie_break"]
            .as_str()
            .unwrap()
            .contains("a2 arrived first"),
        "{o}"
    );
    assert_eq!(o["rejected"][0]["bidder"], "c2");
    assert_eq!(reply["result"]["declined"], serde_json::json!(["b2"]));
    let ranking: Vec<&str> = o["ranking"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|b| b["bidder"].as_str())
        .collect();
    assert_eq!(ranking, ["a2", "b1", "c1", "a1"]);

    let reply = nodes[0].command("auction gpu-hour first 26 2000").await;
    let o = &reply["result"]["outcome"];
    assert_eq!(o["winner"], "a2");
    assert_eq!(o["price"], 30.0);
    assert_eq!(
        o["rejected"].as_array().unwrap().len(),
        3,
        "a1, c1 and c2 are below 26"
    );

    let reply = nodes[1].command("auction gpu-hour second 100 2000").await;
    assert_eq!(
        reply["result"]["outcome"]["winner"],
        serde_json::Value::Null
    );

    let reply = nodes[1].command("auction gpu-hour second -1 2000").await;
    assert_eq!(reply["reply"], "error");
}
