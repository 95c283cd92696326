#![doc = include_str!("../README.md")]

pub use actor_cluster as cluster;
pub use actor_core as core;
pub use agents;

/// The names most programs need, in one import.
pub mod prelude {
    pub use actor_cluster::{
        Accepts, ClusterError, Discovery, Handler, Message, Node, NodeEvent, Ref, Reply, Request,
        Server,
    };
    pub use actor_core::{ChildSpec, Restart, Strategy, Supervisor, SupervisorSpec};
    pub use agents::{
        Agent, AgentError, Agents, AuctionRule, AuctionSpec, Bidder, CallForBids, Families,
        Negotiator, Player, Proposal, Trader, Value, VoteSpec, Voter,
    };
    pub use ractor::{Actor, ActorProcessingErr, ActorRef};
}
