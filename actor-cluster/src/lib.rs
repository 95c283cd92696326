//! # actor-cluster
//!
//! Nodes, membership and location-transparent references on top of
//! ractor_cluster. A [`Node`] listens on a socket, authenticates peers with a
//! shared cookie, connects to its seeds (and to every peer they know: the
//! cluster forms a full mesh) and runs one gateway actor that carries
//! MessagePack envelopes between nodes. A [`Server`] (a struct that
//! answers several [`Message`] types, each with its own reply type) or a
//! ractor actor whose message type is [`Request<M>`] is registered under a
//! name and reached from every node with a [`Ref`]: the same `tell` and
//! `ask` whether it is local or remote.
//!
//! ```
//! use actor_cluster::{Accepts, Handler, Message, Node, Server};
//! use serde::{Deserialize, Serialize};
//! use std::time::Duration;
//!
//! #[derive(Debug, Serialize, Deserialize)]
//! struct Double(u64);
//! impl Message for Double {
//!     type Reply = u64;
//!     const TAG: &'static str = "doc.double/1";
//! }
//!
//! struct Doubler;
//! impl Server for Doubler {
//!     fn accepts(accepts: &mut Accepts<Self>) {
//!         accepts.add::<Double>();
//!     }
//! }
//! impl Handler<Double> for Doubler {
//!     async fn handle(&mut self, Double(n): Double) -> u64 {
//!         n * 2
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
//! node.serve("doubler", || Doubler).await?;
//! // The same lookup and ask work from any node of the cluster.
//! let doubler = node.lookup("doubler").await?;
//! assert_eq!(doubler.ask(Double(21), Duration::from_secs(1)).await?, 42);
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
//!
//! Cargo features: `fuzzing` (off by default) exposes hidden entry points
//! for the fuzz targets in the repository's `fuzz/`; it adds no API.

mod acceptor;
mod connector;
mod detector;
mod discovery;
mod error;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod gateway;
mod guard;
mod link;
mod membership;
mod node;
mod parcel;
mod reference;
mod server;
mod shared;
mod tls;
mod wire;

pub use discovery::{Discovery, DEFAULT_MDNS_SERVICE};
pub use error::{ClusterError, ConfigError, Result, StartError};
pub use gateway::{Labels, NameEvent, NameInfo, PeerInfo, PeerStatus, MAX_LABEL_BYTES};
pub use guard::Guard;
pub use membership::{ConflictPolicy, NodeEvent, PartitionPolicy};
pub use node::{Node, NodeBuilder, DEFAULT_CLUSTER, DEFAULT_LISTEN, MAX_NAME_BYTES};
pub use parcel::Payload;
pub use reference::{Message, Ref, Reply, Request, Undelivered};
pub use server::{Accepts, AfterEach, Asleep, Handler, Handling, Hosting, Server};
pub use tls::{Tls, TLS_SERVER_NAME};
