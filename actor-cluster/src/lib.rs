//! actor-cluster
