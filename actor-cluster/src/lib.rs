//! # actor-cluster
//!
//! Nodes, membership and location-transparent references on top of
//! ractor_cluster. A [`Node`] listens on a socket, authenticates peers with a
//! shared cookie, connects to its seeds (and to every peer they know: the
//! cluster forms a full mesh) and runs one gateway actor that carries
//! MessagePack envelopes between nodes. Any actor whose message type is
//! [`Request<M, R>`] with serde `M` and `R` can be registered under a name
//! and reached from every node with a [`Ref`].
//!
//! ```
//! use actor_cluster::{Node, Request};
//! use ractor::{Actor, ActorProcessingErr, ActorRef};
//! use std::time::Duration;
//!
//! struct Doubler;
//! impl Actor for Doubler {
//!     type Msg = Request<u64, u64>;
//!     type State = ();
//!     type Arguments = ();
//!     async fn pre_start(&self, _: ActorRef<Self::Msg>, _: ()) -> Result<(), ActorProcessingErr> {
//!         Ok(())
//!     }
//!     async fn handle(&self, _: ActorRef<Self::Msg>, req: Self::Msg, _: &mut ()) -> Result<(), ActorProcessingErr> {
//!         let (n, reply) = req.into_parts();
//!         reply.send(n * 2);
//!         Ok(())
//!     }
//! }
//!
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let node = Node::builder()
//!     .name("doc")
//!     .cookie("secret")
//!     .listen("127.0.0.1:0".parse()?)
//!     .no_discovery() // a node on its own; by default it looks for peers with mDNS
//!     .start()
//!     .await?;
//! let (actor, _) = Actor::spawn(None, Doubler, ()).await?;
//! node.register("doubler", &actor).await?;
//! // The same lookup and ask work from any node of the cluster.
//! let doubler = node.lookup::<u64, u64>("doubler").await?;
//! assert_eq!(doubler.ask(21, Duration::from_secs(1)).await?, 42);
//! node.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! Run one node per OS process: ractor's registry and process groups are
//! process-global.
//!
//! Membership events ([`NodeEvent`], from [`Node::subscribe`]) are facts: a
//! duplicate connection closing is not a departure, and a peer is reported
//! down only once its connection is gone or it stayed silent through a
//! check by every node (each node watches three others). On the losing
//! side of a partition ([`PartitionPolicy`]) a node refuses to register
//! names or start protocols; after a heal, the loser of a name conflict is
//! told and its registration revoked ([`ConflictPolicy`]). A [`Ref`]
//! follows its name wherever it moves. `docs/runtime-semantics.md` states
//! the guarantees.

mod connector;
mod detector;
mod discovery;
mod error;
mod gateway;
mod node;
mod reference;
mod tls;
mod wire;

pub use discovery::{Discovery, DEFAULT_MDNS_SERVICE};
pub use error::{ClusterError, Result};
pub use gateway::{NameInfo, PeerInfo, PeerStatus};
pub use node::{
    ConflictPolicy, Node, NodeBuilder, NodeEvent, PartitionPolicy, DEFAULT_CLUSTER, DEFAULT_LISTEN,
    MAX_NAME_BYTES,
};
pub use reference::{Payload, Ref, Reply, Request};
pub use tls::{Tls, TLS_SERVER_NAME};
