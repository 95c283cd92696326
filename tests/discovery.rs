//! Discovery with real network stacks: zero-config mDNS between three
//! network namespaces on one bridge, DNS discovery of a name that resolves
//! to three addresses, and a partition (link down) that heals.

mod support;
use support::netns::Lan;
use support::NodeSpec;

#[tokio::test]
async fn zero_config_nodes_find_each_other_with_mdns() {
    let Some(lan) = Lan::create(3) else { return };
    let mut nodes = Vec::new();
    for (i, host) in lan.hosts.iter().enumerate() {
        // No seed, no discovery flag, no listen address: the defaults.
        let spec = NodeSpec::new(&format!("m{}", i + 1))
            .netns(&host.ns)
            .listen("")
            .arg("--cluster")
            .arg("lan-demo");
        let spec = NodeSpec {
            extra: [
                spec.extra.clone(),
                vec!["--discovery".into(), "mdns".into()],
            ]
            .concat(),
            ..spec
        };
        nodes.push(spec.start().await);
    }
    for (i, node) in nodes.iter().enumerate() {
        assert_eq!(
            node.addr,
            format!("{}:7400", lan.hosts[i].ip),
            "advertises its LAN address"
        );
    }
    for node in nodes.iter_mut() {
        let me = node.name.clone();
        let others: Vec<String> = ["m1", "m2", "m3"]
            .iter()
            .filter(|n| **n != me)
            .map(|n| n.to_string())
            .collect();
        node.expect_up(&others.iter().map(String::as_str).collect::<Vec<_>>())
            .await;
    }
}

#[tokio::test]
async fn mdns_ignores_nodes_of_another_cluster() {
    let Some(lan) = Lan::create(2) else { return };
    let mut a = NodeSpec::new("a")
        .netns(&lan.hosts[0].ns)
        .listen("")
        .arg("--discovery")
        .arg("mdns")
        .arg("--cluster")
        .arg("red")
        .start()
        .await;
    let mut b = NodeSpec::new("b")
        .netns(&lan.hosts[1].ns)
        .listen("")
        .arg("--discovery")
        .arg("mdns")
        .arg("--cluster")
        .arg("blue")
        .start()
        .await;
    let mut c = NodeSpec::new("c")
        .netns(&lan.hosts[1].ns)
        .listen(&format!("{}:7401", lan.hosts[1].ip))
        .arg("--discovery")
        .arg("mdns")
        .arg("--cluster")
        .arg("red")
        .start()
        .await;
    a.expect_up(&["c"]).await;
    c.expect_up(&["a"]).await;
    // b is in another cluster: nobody connects to it.
    assert_eq!(b.command("peers").await["peers"], serde_json::json!([]));
    assert!(!a.seen.iter().any(|v| v["node"] == "b"));
}

#[tokio::test]
async fn dns_discovery_connects_to_every_address_of_a_name() {
    let hosts =
        "127.0.0.1 localhost\n127.0.0.1 peers.test\n127.0.0.2 peers.test\n127.0.0.3 peers.test\n";
    let Some((_lan, ns)) = Lan::with_hosts_file(hosts) else {
        return;
    };
    let mut nodes = Vec::new();
    for i in 1..=3 {
        let spec = NodeSpec::new(&format!("d{i}"))
            .netns(&ns)
            .listen(&format!("127.0.0.{i}:7400"))
            .arg("--dns-name")
            .arg("peers.test:7400");
        nodes.push(spec.start().await);
    }
    for node in nodes.iter_mut() {
        let me = node.name.clone();
        let others: Vec<String> = ["d1", "d2", "d3"]
            .iter()
            .filter(|n| **n != me)
            .map(|n| n.to_string())
            .collect();
        node.expect_up(&others.iter().map(String::as_str).collect::<Vec<_>>())
            .await;
    }
}

#[tokio::test]
async fn a_partitioned_node_goes_down_and_rejoins_when_the_link_returns() {
    let Some(lan) = Lan::create(3) else { return };
    let first = format!("{}:7400", lan.hosts[0].ip);
    let mut nodes = Vec::new();
    for (i, host) in lan.hosts.iter().enumerate() {
        let mut spec = NodeSpec::new(&format!("p{}", i + 1))
            .netns(&host.ns)
            .listen(&format!("{}:7400", host.ip))
            .counter(&format!("count-p{}", i + 1))
            .arg("--failure-timeout")
            .arg("1s");
        if i > 0 {
            spec = spec.seed(&first);
        }
        nodes.push(spec.start().await);
    }
    nodes[0].expect_up(&["p2", "p3"]).await;
    nodes[2].expect_up(&["p1", "p2"]).await;
    for node in nodes.iter_mut() {
        node.forget();
    }

    lan.set_link(2, false);
    for node in nodes[..2].iter_mut() {
        let ev = node
            .expect(|v| v["event"] == "node_down" && v["node"] == "p3")
            .await;
        assert!(ev["reason"].as_str().unwrap().contains("heartbeat"), "{ev}");
    }
    nodes[2]
        .expect(|v| v["event"] == "node_down" && v["node"] == "p1")
        .await;
    nodes[2]
        .expect(|v| v["event"] == "node_down" && v["node"] == "p2")
        .await;
    let r = nodes[0].command("ask count-p3 get").await;
    assert_eq!(r["error"]["kind"], "unknown_name", "{r}");

    lan.set_link(2, true);
    for node in nodes[..2].iter_mut() {
        node.expect(|v| v["event"] == "node_up" && v["node"] == "p3")
            .await;
    }
    nodes[2].expect_up(&["p1", "p2"]).await;
    nodes[0]
        .command_until("names", |r| support::user_names(r).len() == 3)
        .await;
    assert_eq!(nodes[0].command("ask count-p3 add 1").await["ok"], 1);
}
