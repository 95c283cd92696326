//! The `foundation` command line.

pub(crate) mod launch;
pub(crate) mod node;
