//! A node with the wrong cookie is refused, and both sides say so.

mod support;
use support::NodeSpec;

#[tokio::test]
async fn a_wrong_cookie_is_refused_on_both_sides() {
    let a = NodeSpec::new("a").cookie("right");
    let a_addr = a.addr();
    let mut a = a.start().await;
    let mut b = NodeSpec::new("b")
        .cookie("wrong")
        .seed(&a_addr)
        .start()
        .await;

    let ev = b.expect(|v| v["event"] == "auth_failed").await;
    assert_eq!(ev["peer"], "a");
    let ev = a.expect(|v| v["event"] == "auth_failed").await;
    assert_eq!(ev["peer"], "b");

    assert_eq!(a.command("peers").await["peers"], serde_json::json!([]));
    assert_eq!(b.command("peers").await["peers"], serde_json::json!([]));
    assert!(!a.seen.iter().any(|v| v["event"] == "node_up"));
    assert!(!b.seen.iter().any(|v| v["event"] == "node_up"));
    a.quit().await;
    b.quit().await;
}
