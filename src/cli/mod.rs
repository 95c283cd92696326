//! The `foundation` command line.

pub(crate) mod certs;
pub(crate) mod launch;
pub(crate) mod node;
