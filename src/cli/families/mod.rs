//! One module per protocol family: its agent spec keys and its commands.

pub(crate) mod auctions;
pub(crate) mod consensus;
pub(crate) mod games;
pub(crate) mod lifecycle;
pub(crate) mod markets;
pub(crate) mod negotiation;

use std::time::Duration;

use anyhow::Context;

/// A number from the command line.
pub(crate) fn number(word: &str) -> anyhow::Result<f64> {
    word.parse()
        .with_context(|| format!("`{word}` is not a number"))
}

/// Milliseconds from the command line.
pub(crate) fn millis(word: &str) -> anyhow::Result<Duration> {
    Ok(Duration::from_millis(word.parse().with_context(|| {
        format!("`{word}` is not milliseconds")
    })?))
}
