#![doc = include_str!("../README.md")]

pub use actor_cluster as cluster;
pub use actor_core as core;
pub use agents;

pub mod http;

/// The names most programs need, in one import.
pub mod prelude {
    pub use actor_cluster::{
        Accepts, ClusterError, Discovery, Handler, Message, Node, NodeEvent, Ref, Reply, Request,
        Server,
    };
    pub use actor_core::{ChildSpec, Restart, Strategy, Supervisor, SupervisorSpec};
    pub use agents::{
        // Agents, the family traits and what their methods are asked.
        Agent,
        AgentError,
        AgentRef,
        AgentSpec,
        Agents,
        Agreement,
        // Every protocol's spec, run by `Agents::run`, and the machinery
        // for one of your own.
        AgreementSpec,
        AuctionRule,
        AuctionSpec,
        Award,
        BargainSpec,
        Bidder,
        Bundles,
        CallForBids,
        CallForCompute,
        CallForOrders,
        CallForProposals,
        CallMarketSpec,
        Cancel,
        Clock,
        CnpReply,
        CombinatorialSpec,
        Compute,
        ComputeSpec,
        ContractSpec,
        DutchSpec,
        Election,
        ElectionMethod,
        ElectionSpec,
        EnglishSpec,
        Evaluator,
        Families,
        Filled,
        Health,
        Invite,
        Lost,
        MarginalValues,
        MatchSpec,
        Move,
        MultiUnitPayment,
        MultiUnitSpec,
        Negotiator,
        Player,
        Proposal,
        Propose,
        Protocol,
        Quote,
        Raise,
        Replication,
        Respond,
        Run,
        Running,
        Settled,
        Stateful,
        Task,
        Tender,
        Traded,
        Trader,
        Units,
        Utilities,
        Value,
        VcgSpec,
        VoteSpec,
        Voter,
        YesNoRule,
        ZeuthenSpec,
    };
    // Variables committed cluster-wide: define, propose, commit, read;
    // and studies that search them.
    pub use agents::variables::{
        Change, Committed, Coordination, Decision, Definition, Evaluation, Kind, Objective,
        StudySpec, TrialStep, TrialStopped, VariableError, Variables,
    };
    pub use ractor::{Actor, ActorProcessingErr, ActorRef};
}
