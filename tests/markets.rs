//! Markets whose participants sit on three nodes (each its own process):
//! a call market and a compute allocation produce exactly the outcome of
//! their rules with a late agent and one whose node is killed mid-protocol
//! listed as missing; the continuous double auction on one node is used
//! from the others, and keeps trading when an owner's node dies.

mod support;
use serde_json::{json, Value};
use support::{agent_count, cluster, command_killing, NodeSpec, TestNode};

/// The `(agent, quantity)` of every fill, sorted (arrival order varies).
fn fills(result: &Value) -> Vec<(String, u64)> {
    let mut fills: Vec<(String, u64)> = result["outcome"]["fills"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["agent"].as_str().unwrap().to_owned(),
                f["quantity"].as_u64().unwrap(),
            )
        })
        .collect();
    fills.sort();
    fills
}

/// Waits until `node` has printed `n` lines matching `pred` (counting
/// the lines it has seen already).
async fn expect_times(node: &mut TestNode, n: usize, pred: impl Fn(&Value) -> bool) {
    let count = std::cell::Cell::new(0);
    node.expect(|v| {
        if pred(v) {
            count.set(count.get() + 1);
        }
        count.get() >= n
    })
    .await;
}

/// Waits until `agent` on `node` has been sent its second market request:
/// the notice that follows the call (each request prints an
/// `agent_asked` line).
async fn expect_notice(node: &mut TestNode, agent: &str) {
    expect_times(node, 2, |v| {
        v["event"] == "agent_asked" && v["agent"] == agent && v["request"] == "trade"
    })
    .await;
}

/// Sends `line` to the first node, kills the last node as soon as its
/// agent `dying` is asked, and returns the first node's reply.
async fn reply_after_killing(nodes: &mut [TestNode], line: &str, dying: &str) -> Value {
    let last = nodes.len() - 1;
    command_killing(nodes, 0, line, last, dying, "").await
}

#[tokio::test]
async fn a_call_market_across_nodes_clears_without_late_and_dead_agents() {
    let mut nodes = cluster(vec![
        NodeSpec::new("a")
            .agent("a1:sell=4x2")
            .agent("a2:buy=10x3")
            .agent("a3:buy=5x4")
            // Has no orders.
            .agent("a4"),
        NodeSpec::new("b")
            .agent("b1:buy=8x2")
            // Answers late but within the deadline.
            .agent("b2:sell=7x2:delay=300")
            // Answers after the deadline.
            .agent("b3:sell=1x50:delay=20000")
            // Invalid orders: negative and non-finite prices, zero quantity.
            .agent("b4:buy=-3x2,NaNx1:sell=9x0")
            .agent("b5:sell=9x3"),
        // Its node is killed while it holds the request.
        NodeSpec::new("c").agent("c1:buy=50x10:delay=60000"),
    ])
    .await;
    nodes[0]
        .command_until("agents", |r| agent_count(r) == 10)
        .await;

    let reply = reply_after_killing(&mut nodes, "call-market gpu 1500", "c1").await;
    assert_eq!(reply["reply"], "call-market", "{reply}");
    let r = &reply["result"];
    // Valid orders in time: bids a2 10x3, b1 8x2, a3 5x4; asks a1 4x2, b2 7x2, b5 9x3.
    // Matching: a2/a1 2, a2/b2 1, b1/b2 1; then b5 9 > b1 8: volume 4.
    // Accepted bids a2, b1 (partly); rejected bids b1 8, a3 5.
    // Accepted asks a1, b2; rejected ask b5 9.
    // Interval [max(highest accepted ask 7, highest rejected bid 8),
    //           min(lowest accepted bid 8, lowest rejected ask 9)] = [8, 8]: price 8.
    // With b3's ask 1x50 in time, every bid would fill from it at 1 (its
    // partly filled ask pins both ends of the interval); with c1's bid
    // 50x10 every ask would fill.
    assert_eq!(r["price"], 8.0, "{r}");
    assert_eq!(r["volume"], 4);
    assert_eq!(r["outcome"]["interval"], json!({"low": 8.0, "high": 8.0}));
    let want: Vec<(String, u64)> = [("a1", 2), ("a2", 3), ("b1", 1), ("b2", 2)]
        .into_iter()
        .map(|(a, q)| (a.to_owned(), q))
        .collect();
    assert_eq!(fills(r), want);
    // Three invalid orders of b4, each rejected on its own.
    let rejected = r["outcome"]["rejected"].as_array().unwrap();
    assert_eq!(rejected.len(), 3, "{rejected:?}");
    assert!(rejected.iter().all(|x| x["agent"] == "b4"));
    assert_eq!(r["declined"], json!(["a4"]));
    let missing = r["missing"].as_array().unwrap();
    assert_eq!(missing.len(), 2, "{missing:?}");
    assert_eq!(missing[0]["agent"], "b3");
    assert_eq!(missing[0]["reason"], "no answer before the deadline");
    assert_eq!(missing[1]["agent"], "c1");
    let reason = missing[1]["reason"].as_str().unwrap();
    assert!(reason.contains("gone"), "{reason}");
    assert!(r["tie_breaks"][0]
        .as_str()
        .unwrap()
        .contains("earliest arrival"));

    // a2 is told its fill; b4 is told of each rejection.
    expect_notice(&mut nodes[0], "a2").await;
    expect_times(&mut nodes[1], 3, |v| {
        v["event"] == "agent_rejected" && v["agent"] == "b4" && v["protocol"] == "call_market"
    })
    .await;
}

#[tokio::test]
async fn compute_is_allocated_across_nodes_and_settled_per_agent() {
    let mut nodes = cluster(vec![
        NodeSpec::new("a")
            .agent("A:compute-need=5x12x100")
            .agent("X:compute-offer=4x5")
            .agent("C:compute-need=2x6"),
        NodeSpec::new("b")
            .agent("B:compute-need=4x10x30:delay=200")
            .agent("Y:compute-offer=3x9")
            .agent("Z:compute-offer=5x11")
            // A budget of 5 cannot buy one unit at 8: rejected.
            .agent("poor:compute-need=3x8x5")
            .agent("late:compute-need=10x50:delay=20000"),
        // Its node is killed while it holds the request.
        NodeSpec::new("c").agent("dying:compute-offer=100x1:delay=60000"),
    ])
    .await;
    nodes[0]
        .command_until("agents", |r| agent_count(r) == 9)
        .await;

    let reply = reply_after_killing(&mut nodes, "allocate-compute gpu-hours 1500", "dying").await;
    assert_eq!(reply["reply"], "allocate-compute", "{reply}");
    let r = &reply["result"];
    // Bids (quantity = min(units, budget / value)): A 5 @ 12 (100 / 12 = 8),
    // B 3 @ 10 (30 / 10 = 3), C 2 @ 6 (budget 12).
    // Asks: X 4 @ 5, Y 3 @ 9, Z 5 @ 11.
    // Matching: A/X 4, A/Y 1, B/Y 2; then B 10 < Z 11: volume 7.
    // Interval [max(9, B 10 partly rejected), min(B 10, Z 11)] = [10, 10]: price 10.
    // Settlement at 10 per unit: A 5 → 50, B 2 → 20; X 4 → 40, Y 3 → 30.
    // dying's 100 units at 1 would have undercut everyone.
    assert_eq!(r["price"], 10, "{r}");
    let settled = |agent: &str| {
        let s = r["settlements"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["agent"] == agent)
            .unwrap_or_else(|| panic!("no settlement for {agent}"));
        [
            &s["units_bought"],
            &s["units_sold"],
            &s["cash_paid"],
            &s["cash_received"],
        ]
        .map(|v| v.as_u64().unwrap())
    };
    assert_eq!(settled("A"), [5, 0, 50, 0]);
    assert_eq!(settled("B"), [2, 0, 20, 0]);
    assert_eq!(settled("C"), [0, 0, 0, 0]);
    assert_eq!(settled("X"), [0, 4, 0, 40]);
    assert_eq!(settled("Y"), [0, 3, 0, 30]);
    assert_eq!(settled("Z"), [0, 0, 0, 0]);
    assert_eq!(settled("poor"), [0, 0, 0, 0]);
    assert_eq!(r["settlements"].as_array().unwrap().len(), 7);
    let rejected = r["outcome"]["rejected"].as_array().unwrap();
    assert_eq!(rejected.len(), 1);
    assert!(
        rejected[0]["error"]["BudgetTooSmall"].is_object(),
        "{rejected:?}"
    );
    let missing: Vec<&str> = r["missing"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["agent"].as_str().unwrap())
        .collect();
    assert_eq!(missing, ["dying", "late"]);

    // X (node a) and Y (node b) are told their settlements; poor its rejection.
    expect_notice(&mut nodes[0], "X").await;
    expect_notice(&mut nodes[1], "Y").await;
    nodes[1]
        .expect(|v| v["event"] == "agent_rejected" && v["agent"] == "poor")
        .await;
}

#[tokio::test]
async fn a_continuous_double_auction_serves_every_node() {
    let mut nodes = cluster(vec![
        NodeSpec::new("a").agent("a-seller"),
        NodeSpec::new("b").agent("b-buyer"),
        NodeSpec::new("c").agent("c-seller"),
    ])
    .await;
    nodes[0]
        .command_until("agents", |r| agent_count(r) == 3)
        .await;
    let open = nodes[0].command("market-open gpu").await;
    assert_eq!(open["reply"], "market-open", "{open}");
    for node in [1, 2] {
        nodes[node]
            .command_until("book gpu", |r| r["reply"] == "book")
            .await;
    }
    // One market per name in the cluster.
    let taken = nodes[1].command("market-open gpu").await;
    assert!(
        taken["message"]
            .as_str()
            .unwrap()
            .contains("already registered"),
        "{taken}"
    );

    // Resting asks: 1: c-seller 5 @ 101, 2: a-seller 3 @ 101, 3: a-seller 4 @ 103.
    let r = nodes[2].command("order gpu sell 101 5 c-seller").await;
    assert_eq!(r["result"]["id"], 1, "{r}");
    nodes[0].command("order gpu sell 101 3 a-seller").await;
    nodes[0].command("order gpu sell 103 4 a-seller").await;
    // Buy 10 @ 102 from node b: 5 from order 1 (time priority), then 3 from
    // order 2, both at the resting 101; 103 > 102 stops it; 2 rest at 102.
    let r = nodes[1].command("order gpu buy 102 10 b-buyer").await;
    let trades: Vec<(u64, f64, u64)> = r["result"]["trades"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["sell_order"].as_u64().unwrap(),
                t["price"].as_f64().unwrap(),
                t["quantity"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(trades, [(1, 101.0, 5), (2, 101.0, 3)], "{r}");
    assert_eq!(
        (&r["result"]["id"], &r["result"]["resting"]),
        (&json!(4), &json!(2))
    );
    // The owners are told, each on its own node.
    for (node, agent) in [(2, "c-seller"), (1, "b-buyer"), (0, "a-seller")] {
        nodes[node]
            .expect(|v| v["event"] == "agent_asked" && v["agent"] == agent)
            .await;
    }
    let book = &nodes[0].command("book gpu").await["book"];
    assert_eq!(
        (&book["best_bid"], &book["best_ask"]),
        (&json!(102.0), &json!(103.0))
    );

    // c-seller's node dies; an order in its name still trades: 2 @ the resting bid 102.
    nodes[2].kill().await;
    let r = nodes[1].command("order gpu sell 100 2 c-seller").await;
    assert_eq!(r["result"]["trades"][0]["price"], 102.0, "{r}");
    assert_eq!(r["result"]["trades"][0]["quantity"], 2);
    // Invalid input is refused; the book goes on.
    let r = nodes[1].command("order gpu buy -5 1").await;
    assert!(r["message"].as_str().unwrap().contains("negative"), "{r}");
    let r = nodes[1].command("order gpu buy 5 0").await;
    assert_eq!(r["reply"], "error", "{r}");
    let r = nodes[1].command("cancel gpu 3").await;
    assert_eq!(r["cancelled"]["remaining"], 4, "{r}");
    let r = nodes[1].command("cancel gpu 3").await;
    assert!(
        r["message"].as_str().unwrap().contains("no resting order"),
        "{r}"
    );
    let log = &nodes[0].command("trades gpu 2").await["log"];
    assert_eq!((&log["first"], &log["total"]), (&json!(2), &json!(3)));
    assert_eq!(log["trades"][0]["seller"], "c-seller");

    // The market's own node dies: the market is gone for everyone.
    nodes[0].kill().await;
    let r = nodes[1]
        .command_until("book gpu", |r| {
            r["message"]
                .as_str()
                .is_some_and(|m| m.contains("no market"))
        })
        .await;
    assert_eq!(r["reply"], "error");
}
