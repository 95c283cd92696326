//! Ranked-ballot elections and weighted yes/no votes whose participants sit
//! on three nodes produce exactly the outcome of their rules, with late
//! and dead participants listed as missing.

mod support;
use serde_json::{json, Value};
use support::{agent_count, cluster, command_killing, NodeSpec};

/// The `voter` fields of the ballots, sorted (arrival order varies).
fn voters(ballots: &Value) -> Vec<String> {
    let mut v: Vec<String> = ballots
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|b| b["voter"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[tokio::test]
async fn instant_runoff_across_nodes_ignores_late_and_dead_voters() {
    let mut nodes = cluster(vec![
        NodeSpec::new("a")
            .agent("a1:rank=ada>bob>cy")
            .agent("a2:rank=bob>ada")
            .agent("a3:rank=cy>bob")
            // Names a candidate who is not standing: rejected, not fatal.
            .agent("a4:rank=ada>dan"),
        NodeSpec::new("b")
            .agent("b1:rank=ada>cy")
            .agent("b2:rank=bob>cy>ada")
            // Answers long after the deadline.
            .agent("b3:rank=cy>ada:delay=20000")
            // Declines to rank.
            .agent("b4"),
        // Its node is killed while it holds the request.
        NodeSpec::new("c").agent("c1:rank=cy:delay=60000"),
    ])
    .await;
    nodes[0]
        .command_until("agents", |r| agent_count(r) == 9)
        .await;

    let reply = command_killing(&mut nodes, 0, "elect irv 5000 ada,bob,cy", 2, "c1", "rank").await;
    assert_eq!(reply["reply"], "elect", "{reply}");
    let r = &reply["result"];

    // Valid ballots in time: a1 ada>bob>cy, a2 bob>ada, a3 cy>bob,
    // b1 ada>cy, b2 bob>cy>ada (a4 is rejected: `dan` is not a candidate).
    // Round 1: ada 2 (a1, b1), bob 2 (a2, b2), cy 1 (a3); 5 continuing
    //          ballots, nobody has more than 2.5 → cy, the only one with
    //          the fewest, is eliminated (no tie to break).
    // Round 2: a3's ballot moves to bob: bob 3, ada 2; 3 > 2.5 → bob wins.
    // Had b3 (cy>ada) and c1 (cy) been counted, cy would have won: round 1
    // cy 3, ada 2, bob 2 → ada out on the lowest-id tie-break; round 2
    // cy 4 of 7.
    assert_eq!(r["method"], "InstantRunoff");
    assert_eq!(r["winner"], "bob");
    assert_eq!(r["tie_breaks"], json!([]));
    let irv = &r["outcome"]["InstantRunoff"];
    assert_eq!(irv["winner"], "bob");
    assert_eq!(irv["ballots_counted"], 5);
    assert_eq!(
        irv["rounds"],
        json!([
            {
                "tallies": [
                    {"candidate": "ada", "score": 2},
                    {"candidate": "bob", "score": 2},
                    {"candidate": "cy", "score": 1}
                ],
                "continuing_ballots": 5,
                "exhausted_ballots": 0,
                "eliminated": "cy",
                "tie_break": null
            },
            {
                "tallies": [
                    {"candidate": "bob", "score": 3},
                    {"candidate": "ada", "score": 2}
                ],
                "continuing_ballots": 5,
                "exhausted_ballots": 0,
                "eliminated": null,
                "tie_break": null
            }
        ])
    );
    let rejected = json!([{"UnknownCandidate": {"voter": "a4", "candidate": "dan"}}]);
    assert_eq!(r["rejected"], rejected);
    assert_eq!(irv["rejected"], rejected);
    assert_eq!(voters(&r["ballots"]), ["a1", "a2", "a3", "a4", "b1", "b2"]);
    assert_eq!(r["abstained"], json!(["b4"]));

    let missing = r["missing"].as_array().unwrap();
    assert_eq!(missing.len(), 2, "{missing:?}");
    assert_eq!(missing[0]["agent"], "b3");
    assert_eq!(missing[0]["reason"], "no answer before the deadline");
    assert_eq!(missing[1]["agent"], "c1");
    let reason = missing[1]["reason"].as_str().unwrap();
    assert!(reason.contains("gone"), "{reason}");
}

#[tokio::test]
async fn condorcet_borda_and_plurality_across_nodes() {
    let mut nodes = cluster(vec![
        NodeSpec::new("a")
            .agent("a1:rank=ada>bob>cy")
            .agent("a2:rank=bob>ada>cy"),
        NodeSpec::new("b").agent("b1:rank=bob>cy>ada"),
        NodeSpec::new("c")
            .agent("c1:rank=cy>bob>ada")
            .agent("c2:rank=ada>bob>cy"),
    ])
    .await;
    nodes[1]
        .command_until("agents", |r| agent_count(r) == 5)
        .await;

    // Pairwise (rows beat columns; candidates ada, bob, cy):
    //   ada > bob: a1, c2 = 2     bob > ada: a2, b1, c1 = 3
    //   ada > cy:  a1, a2, c2 = 3 cy > ada:  b1, c1 = 2
    //   bob > cy:  a1, a2, b1, c2 = 4        cy > bob: c1 = 1
    // bob beats both: the Condorcet winner.
    let reply = nodes[1].command("elect condorcet 3000 ada,bob,cy").await;
    let r = &reply["result"];
    assert_eq!(r["winner"], "bob", "{reply}");
    assert_eq!(r["tie_breaks"], json!([]));
    let c = &r["outcome"]["Condorcet"];
    assert_eq!(c["candidates"], json!(["ada", "bob", "cy"]));
    assert_eq!(c["pairwise"], json!([[0, 2, 3], [3, 0, 4], [2, 1, 0]]));
    assert_eq!(c["ballots_counted"], 5);
    assert_eq!(r["missing"], json!([]));

    // Borda (2, 1, 0 points): ada 2+1+0+0+2 = 5, bob 1+2+2+1+1 = 7,
    // cy 0+0+1+2+0 = 3 → bob.
    let reply = nodes[2].command("elect borda 3000 ada,bob,cy").await;
    let o = &reply["result"]["outcome"]["Borda"];
    assert_eq!(o["winner"], "bob", "{reply}");
    assert_eq!(
        o["scores"],
        json!([
            {"candidate": "bob", "score": 7},
            {"candidate": "ada", "score": 5},
            {"candidate": "cy", "score": 3}
        ])
    );

    // Plurality: ada 2 (a1, c2), bob 2 (a2, b1), cy 1 → the tie goes to
    // the lowest id, ada, and the result says so.
    let reply = nodes[0].command("elect plurality 3000 ada,bob,cy").await;
    let r = &reply["result"];
    assert_eq!(r["winner"], "ada", "{reply}");
    let ties = r["tie_breaks"].as_array().unwrap();
    assert_eq!(ties.len(), 1);
    assert!(
        ties[0].as_str().unwrap().contains("lowest id ada wins"),
        "{ties:?}"
    );

    // Bad requests are refused before anybody is asked.
    let reply = nodes[0].command("elect borda 3000 ada,ada").await;
    assert_eq!(reply["reply"], "error");
    assert!(
        reply["message"]
            .as_str()
            .unwrap()
            .contains("listed more than once"),
        "{reply}"
    );
    let reply = nodes[0].command("elect approval 3000 ada,bob").await;
    assert_eq!(reply["reply"], "error");
}

#[tokio::test]
async fn a_weighted_supermajority_vote_with_a_quorum_across_nodes() {
    let mut nodes = cluster(vec![
        NodeSpec::new("a").agent("a1:vote=yes").agent("a2:vote=no"),
        NodeSpec::new("b")
            .agent("b1:vote=yes")
            .agent("b2:vote=abstain"),
        NodeSpec::new("c")
            .agent("c1:vote=yes:delay=3000")
            .agent("c2:vote=yes"),
    ])
    .await;
    nodes[0]
        .command_until("agents", |r| agent_count(r) == 6)
        .await;

    // Weights: a1 5, everybody else 1 → eligible weight 10 (absent c1
    // included). Yes a1 5 + b1 1 + c2 1 = 7, no 1, abstain 1, absent 1.
    // Participating 9 ≥ quorum 8; 3·7 = 21 ≥ 2·10 = 20 → passes two
    // thirds (a simple majority of heads, 3 of 6, would not).
    let reply = nodes[0]
        .command("vote-weighted budget 100 1000 supermajority 8 a1=5")
        .await;
    assert_eq!(reply["reply"], "vote-weighted", "{reply}");
    let r = &reply["result"];
    let w = &r["weighted"];
    assert_eq!(w["eligible_weight"], 10.0);
    assert_eq!(w["yes_weight"], 7.0);
    assert_eq!(w["no_weight"], 1.0);
    assert_eq!(w["abstain_weight"], 1.0);
    assert_eq!(w["absent_weight"], 1.0);
    assert_eq!(w["quorum_met"], true);
    assert_eq!(w["passed"], true);
    assert_eq!(
        w["rule"],
        json!({"threshold": {"Supermajority": {"numerator": 2, "denominator": 3}}, "quorum": 8.0})
    );
    assert_eq!(w["rejected"], json!([]));
    let t = &r["tally"];
    assert_eq!(
        (t["eligible"].as_u64(), t["yes"].as_u64(), t["no"].as_u64()),
        (Some(6), Some(3), Some(1))
    );
    assert_eq!(
        (t["abstained"].as_u64(), t["absent"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(t["passed"], true, "the tally carries the rule's decision");
    assert_eq!(r["missing"][0]["agent"], "c1");
    assert_eq!(r["missing"][0]["reason"], "no answer before the deadline");

    // The same vote with a quorum of 9.5: participating weight 9 falls short.
    let reply = nodes[1]
        .command("vote-weighted budget 100 1000 supermajority 9.5 a1=5")
        .await;
    let w = &reply["result"]["weighted"];
    assert_eq!(w["quorum_met"], false, "{reply}");
    assert_eq!(w["passed"], false);
    assert_eq!(reply["result"]["tally"]["passed"], false);
    assert!(w["reason"].as_str().unwrap().starts_with("quorum not met"));

    // An invalid weight leaves c2 out of the electorate and is reported;
    // the vote still runs: eligible 5+1+1+1+1 = 9, yes 6 > 4.5 → passes.
    let reply = nodes[2]
        .command("vote-weighted budget 100 1000 majority c2=-1 a1=5")
        .await;
    let w = &reply["result"]["weighted"];
    assert_eq!(w["eligible_weight"], 9.0, "{reply}");
    assert_eq!(w["yes_weight"], 6.0);
    assert_eq!(w["passed"], true);
    assert_eq!(
        w["rejected"],
        json!([{"InvalidWeight": {"voter": "c2", "weight": -1.0}}])
    );

    // Bad rules are refused.
    let reply = nodes[0]
        .command("vote-weighted budget 100 1000 plurality")
        .await;
    assert_eq!(reply["reply"], "error");
    let reply = nodes[0]
        .command("vote-weighted budget 100 1000 majority -3")
        .await;
    assert_eq!(reply["reply"], "error", "{reply}");
}
