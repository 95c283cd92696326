//! English, Dutch, multi-unit, VCG and combinatorial auctions with bidders
//! on three node processes: a late bidder and a bidder whose node is
//! killed mid-auction, outcomes exactly those of the rules.

mod support;
use serde_json::{json, Value};
use support::{agent_count, cluster, command_killing, NodeSpec, TestNode};

/// a1, b1, c1 bid straightforwardly with their values; b2 always answers
/// after the turn or round deadline.
async fn bidders(c1: &str) -> Vec<TestNode> {
    let mut nodes = cluster(vec![
        NodeSpec::new("a").agent("a1:value=50:values=30,20:bundles=cpu+gpu@10"),
        NodeSpec::new("b")
            .agent("b1:value=72:values=25:bundles=cpu@6")
            .agent("b2:value=100:values=99:bundles=cpu+gpu@99:delay=1000"),
        NodeSpec::new("c").agent(c1),
    ])
    .await;
    nodes[0]
        .command_until("agents", |r| agent_count(r) == 4)
        .await;
    nodes
}

fn missing(result: &Value) -> Vec<(String, String)> {
    result["missing"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["agent"].as_str().unwrap().to_owned(),
                m["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// Sends `line` to node a, kills node c once its agent c1 is asked, and
/// returns the result.
async fn run_killing_c(nodes: &mut [TestNode], line: &str) -> Value {
    command_killing(nodes, 0, line, 2, "c1", "").await["result"].clone()
}

#[tokio::test]
async fn english_auction_across_nodes_with_a_late_and_a_dead_bidder() {
    // c1 would bid up to 65, but its node is killed during its first turn.
    let mut nodes = bidders("c1:value=65:delay=3000").await;
    // Start 10, increment 5; turns in id order a1, b1, b2, c1:
    // a1 10, b1 15, b2 late (pass), c1 killed (pass, not asked again),
    // a1 20, b1 25, ... a1 50, b1 55; a1's minimum 60 > 50: pass, b2 and
    // c1 pass, b1 leads: a full round without a bid ends it. b1 pays 55.
    let r = run_killing_c(&mut nodes, "english gpu 10 5 none 300").await;
    let o = &r["outcome"];
    assert_eq!(o["winner"], "b1", "{r}");
    assert_eq!(o["price"], 55.0);
    let bids: Vec<(String, f64)> = o["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| {
            Some((
                e["Bid"]["bidder"].as_str()?.to_owned(),
                e["Bid"]["amount"].as_f64()?,
            ))
        })
        .collect();
    let expected: Vec<(String, f64)> = (0..10)
        .map(|i| {
            let who = if i % 2 == 0 { "a1" } else { "b1" };
            (who.to_owned(), 10.0 + 5.0 * i as f64)
        })
        .collect();
    assert_eq!(bids, expected);
    let missing = missing(&r);
    assert_eq!(missing.len(), 2, "{r}");
    assert_eq!(
        missing[0],
        ("b2".into(), "no answer before the deadline".into())
    );
    assert_eq!(missing[1].0, "c1");
    assert_ne!(
        missing[1].1, "no answer before the deadline",
        "c1's node died"
    );
    assert_eq!(r["rejected"], json!([]));
}

#[tokio::test]
async fn dutch_auction_across_nodes_with_a_late_and_a_dead_bidder() {
    let mut nodes = bidders("c1:value=95:delay=3000").await;
    // Clock 100, 90, 80, 70, ... reserve 40. c1 (95) is killed in round 0,
    // b2 (100) is always late; b1 accepts at 70 (≤ 72), a1 would wait
    // until 50: b1 buys at 70 in round 3.
    let r = run_killing_c(&mut nodes, "dutch gpu 100 10 40 300").await;
    let o = &r["outcome"];
    assert_eq!(
        (o["winner"].as_str(), o["price"].as_f64()),
        (Some("b1"), Some(70.0)),
        "{r}"
    );
    assert_eq!(o["round"], 3);
    let missing = missing(&r);
    assert_eq!(
        missing.iter().map(|m| m.0.as_str()).collect::<Vec<_>>(),
        ["b2", "c1"]
    );

    // Nobody accepts above the reserve: no sale. a1 values 50, b1 72; a
    // reserve of 80 stops the clock before anyone accepts.
    let r = nodes[0].command("dutch gpu 100 10 80 300").await["result"].clone();
    assert_eq!(r["outcome"]["winner"], Value::Null, "{r}");
}

#[tokio::test]
async fn sealed_multi_unit_vcg_and_combinatorial_auctions_across_nodes() {
    let mut nodes = bidders("c1:value=65:values=10,5:bundles=gpu@6").await;

    // Two units, uniform price = highest losing bid: bids a1 50, b1 72,
    // c1 65 (b2 late). b1 and c1 win and both pay a1's 50.
    let r = nodes[1]
        .command("multi-unit gpu 2 uniform-losing 0 500")
        .await["result"]
        .clone();
    let o = &r["outcome"];
    let winners: Vec<&str> = o["awards"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["bidder"].as_str())
        .collect();
    assert_eq!(winners, ["b1", "c1"], "{r}");
    assert_eq!(o["uniform_price"], 50.0);
    assert_eq!(missing(&r)[0].0, "b2");

    // VCG, 2 units; marginal values a1 30,20, b1 25, c1 10,5. The two
    // highest are a1's 30 and b1's 25. a1 pays (25 + 10) - 25 = 10:
    // without a1, b1 and c1 would have 35, with a1 the others get 25.
    // b1 pays (30 + 20) - 30 = 20.
    let r = nodes[2].command("vcg gpu 2 500").await["result"].clone();
    let mut awards: Vec<(String, u64, f64)> = r["outcome"]["awards"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["bidder"].as_str().unwrap().to_owned(),
                a["units"].as_u64().unwrap(),
                a["payment"].as_f64().unwrap(),
            )
        })
        .collect();
    awards.sort_by(|x, y| x.0.cmp(&y.0));
    assert_eq!(
        awards,
        [("a1".into(), 1, 10.0), ("b1".into(), 1, 20.0)],
        "{r}"
    );
    assert_eq!(r["outcome"]["welfare"], 55.0);

    // Combinatorial: a1 wants cpu+gpu for 10, b1 cpu for 6, c1 gpu for 6.
    // b1 and c1 together (12) beat a1; each pays 10 - 6 = 4.
    let r = nodes[0].command("combinatorial cpu,gpu 500").await["result"].clone();
    let o = &r["outcome"];
    assert_eq!(o["welfare"], 12.0, "{r}");
    // Awards are listed in bid arrival order, which varies across nodes.
    let mut paid: Vec<(String, f64)> = o["awards"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["bidder"].as_str().unwrap().to_owned(),
                a["payment"].as_f64().unwrap(),
            )
        })
        .collect();
    paid.sort_by(|x, y| x.0.cmp(&y.0));
    assert_eq!(paid, [("b1".into(), 4.0), ("c1".into(), 4.0)]);

    // Bad parameters are refused before anyone is asked.
    let r = nodes[0].command("multi-unit gpu 0 pay-as-bid 0 500").await;
    assert_eq!(r["reply"], "error", "{r}");
}
