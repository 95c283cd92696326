//! The `foundation` command line.

pub(crate) mod agent;
pub(crate) mod certs;
pub(crate) mod client;
pub(crate) mod families;
pub(crate) mod launch;
pub(crate) mod node;
pub(crate) mod settings;
pub(crate) mod study;
pub(crate) mod study_launch;
pub(crate) mod tally;
pub(crate) mod vars;
