//! Two nodes, two processes: a named actor on one, asked by name from the other.
//!
//! Terminal 1: `cargo run --example ping_pong -- serve`
//! Terminal 2: `cargo run --example ping_pong -- ask`
//!
//! The `ask` side joins the cluster through the `serve` node as its seed,
//! waits for it to come up, looks up `ponger` and asks it five times.

use std::time::{Duration, Instant};

use foundation::prelude::*;

struct Ponger;

impl Actor for Ponger {
    type Msg = Request<u64, String>;
    type State = ();
    type Arguments = ();

    async fn pre_start(&self, _: ActorRef<Self::Msg>, _: ()) -> Result<(), ActorProcessingErr> {
        Ok(())
    }

    async fn handle(
        &self,
        _: ActorRef<Self::Msg>,
        req: Self::Msg,
        _: &mut (),
    ) -> Result<(), ActorProcessingErr> {
        let (n, reply) = req.into_parts();
        reply.send(format!("pong {n}"));
        Ok(())
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
            let (ponger, _) = Actor::spawn(None, Ponger, ()).await?;
            node.register("ponger", &ponger).await?;
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
            let ponger = node.lookup::<u64, String>("ponger").await?;
            for n in 1..=5 {
                let t = Instant::now();
                let answer = ponger.ask(n, Duration::from_secs(1)).await?;
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
