//! Two nodes, two processes: a named actor on one, asked by name from the other.
//!
//! Terminal 1: `cargo run --example ping_pong -- serve`
//! Terminal 2: `cargo run --example ping_pong -- ask`
//!
//! The `ask` side joins the cluster through the `serve` node as its seed,
//! waits for it to come up, looks up `ponger` and asks it five times.

use std::time::{Duration, Instant};

use foundation::prelude::*;

/// The question: a number. The answer: a string.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Ping(u64);

impl Message for Ping {
    type Reply = String;
    const TAG: &'static str = "example.ping/1";
}

/// Answers pings and counts them.
#[derive(Default)]
struct Ponger {
    answered: u64,
}

impl Server for Ponger {
    fn accepts(accepts: &mut Accepts<Self>) {
        accepts.add::<Ping>();
    }
}

impl Handler<Ping> for Ponger {
    async fn handle(&mut self, Ping(n): Ping) -> String {
        self.answered += 1;
        format!("pong {n} (#{})", self.answered)
    }
}

const SERVE: &str = "127.0.0.1:7201";
const ASK: &str = "127.0.0.1:7202";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .init();
    match std::env::args().nth(1).as_deref() {
        Some("serve") => {
            let node = Node::builder()
                .name("server")
                .cookie("ping-pong")
                .listen(SERVE.parse()?)
                .start()
                .await?;
            node.serve("ponger", Ponger::default).await?;
            println!("server: `ponger` registered on {SERVE}; Ctrl-C to stop");
            tokio::signal::ctrl_c().await?;
            node.shutdown().await;
        }
        Some("ask") => {
            let node = Node::builder()
                .name("client")
                .cookie("ping-pong")
                .listen(ASK.parse()?)
                .seed(SERVE)
                .start()
                .await?;
            let mut events = node.subscribe();
            tokio::time::timeout(Duration::from_secs(10), async {
                while let Ok(event) = events.recv().await {
                    if matches!(event, NodeEvent::NodeUp { .. }) {
                        break;
                    }
                }
            })
            .await
            .map_err(|_| anyhow::anyhow!("no server at {SERVE}: start `ping_pong serve` first"))?;
            let ponger = node.lookup("ponger").await?;
            for n in 1..=5 {
                let t = Instant::now();
                let answer = ponger.ask(Ping(n), Duration::from_secs(1)).await?;
                println!(
                    "client: {answer} from {:?} in {:?}",
                    ponger.node(),
                    t.elapsed()
                );
            }
            node.shutdown().await;
        }
        _ => anyhow::bail!("usage: ping_pong serve|ask"),
    }
    Ok(())
}
