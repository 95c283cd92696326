//! Two-player games between agents on different node processes: best
//! response against fictitious play, a UCB1 learner, a late player and a
//! player whose node dies mid-match.

mod support;
use serde_json::{json, Value};
use support::{agent_count, cluster, command_killing, NodeSpec};

fn actions(result: &Value, side: &str) -> Vec<Value> {
    result["rounds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r[side].clone())
        .collect()
}

#[tokio::test]
async fn matches_across_nodes_follow_the_players_strategies() {
    let mut nodes = cluster(vec![
        NodeSpec::new("a")
            .agent("a1:strategy=best-response")
            .agent("a2:strategy=ucb1"),
        NodeSpec::new("b")
            .agent("b1:strategy=fictitious")
            .agent("b2:strategy=fixed/0")
            .agent("b3:strategy=fixed/0:delay=1000"),
        NodeSpec::new("c").agent("c1:strategy=fixed/0:delay=3000"),
    ])
    .await;
    nodes[0]
        .command_until("agents", |r| agent_count(r) == 6)
        .await;

    // Prisoner's dilemma (cooperate 0, defect 1; payoffs (3,3) (0,5) (5,0)
    // (1,1)): defecting is the best response to anything, so both defect
    // every round, 1 each, and play sits on the only equilibrium (1,1).
    let r = nodes[0]
        .command("play a1 b1 prisoners-dilemma 5 1000")
        .await["result"]
        .clone();
    assert_eq!(actions(&r, "row"), vec![json!(1); 5], "{r}");
    assert_eq!(actions(&r, "col"), vec![json!(1); 5]);
    assert_eq!(r["totals"], json!({ "row": 5.0, "col": 5.0 }));
    assert_eq!(r["settled_on"]["row"], 1);
    assert_eq!(r["pure_equilibria"].as_array().unwrap().len(), 1);

    // UCB1 over the row's actions against a column that always plays 0;
    // the row earns 1 with action 0 and 3 with action 1 (rewards 1/3 and
    // 1 after normalising by the payoff range 0..3). It tries 0, then 1;
    // then indices mean + sqrt(2 ln n / n_j): n=2: 1.51 vs 2.18 -> 1;
    // n=3: 1.82 vs 2.05 -> 1; n=4: 2.00 vs 1.96 -> 0.
    let r = nodes[1].command("play a2 b2 1,0;0,0/3,0;0,0 5 1000").await["result"].clone();
    assert_eq!(
        actions(&r, "row"),
        [json!(0), json!(1), json!(1), json!(1), json!(0)],
        "{r}"
    );
    assert_eq!(r["totals"]["row"], 1.0 + 3.0 * 3.0 + 1.0);

    // b3 answers after the round deadline: both rounds are void.
    let r = nodes[0].command("play a1 b3 coordination 2 200").await["result"].clone();
    assert_eq!(r["void_rounds"], 2, "{r}");
    assert_eq!(r["totals"], json!({ "row": 0.0, "col": 0.0 }));
    assert_eq!(actions(&r, "col"), [Value::Null, Value::Null]);
    assert_eq!(r["missing"].as_array().unwrap().len(), 2);

    // c1's node is killed during the first round: the match ends there.
    let reply = command_killing(
        &mut nodes,
        0,
        "play a1 c1 coordination 20 5000",
        2,
        "c1",
        "",
    )
    .await;
    let r = reply["result"].clone();
    assert_eq!(r["ended_early"], "c1 went away in round 0", "{r}");
    assert_eq!(r["rounds"].as_array().unwrap().len(), 1);
    assert_eq!(r["missing"][0]["agent"], "c1");

    // Bad input is refused before anyone plays.
    let reply = nodes[0].command("play a1 a1 coordination 2 200").await;
    assert_eq!(reply["reply"], "error", "{reply}");
    let reply = nodes[0].command("play a1 nobody coordination 2 200").await;
    assert!(
        reply["message"].as_str().unwrap().contains("nobody"),
        "{reply}"
    );
}
