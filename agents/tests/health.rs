//! A node checks the health of every agent it runs, the longest overdue
//! first, also when more are due than one round of checks takes: none is
//! left unchecked behind agents checked again and again.

mod support;

use std::time::Duration;

use actor_cluster::Server;
use agents::{Agent, AgentSpec, Agents, Status};

/// An agent that is healthy and does nothing else.
struct Idle {
    id: String,
}

impl Server for Idle {}

impl Agent for Idle {
    fn id(&self) -> String {
        self.id.clone()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_running_agent_is_checked_when_more_are_due_than_a_round_takes() {
    let node = support::lone_node("health").await;
    let agents = Agents::start(&node).await.expect("agents");
    // Checked every 50 ms each: 12,000 checks a second asked for, more
    // than the manager makes (256 every 200 ms). An agent is `starting`
    // until its first check answers.
    const COUNT: usize = 600;
    for i in 0..COUNT {
        let id = format!("idle-{i:04}");
        let spec =
            AgentSpec::new(move || Idle { id: id.clone() }).health_every(Duration::from_millis(50));
        agents.spawn_with(spec).await.expect("spawn");
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let listed = agents.list().await.expect("list");
        let unchecked: Vec<&str> = listed
            .iter()
            .filter(|e| e.status != Status::Ready)
            .map(|e| e.id.as_str())
            .collect();
        if listed.len() == COUNT && unchecked.is_empty() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} of {COUNT} agents never checked, e.g. {:?}",
            unchecked.len(),
            &unchecked[..unchecked.len().min(5)]
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    node.shutdown().await;
}
