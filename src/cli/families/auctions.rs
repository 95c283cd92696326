//! The command-line face of interactive auctions (English, Dutch, multi-unit, VCG, combinatorial): what a scripted agent answers
//! (its `key=value` parts) and the `--commands` lines that start a run.

use agents::protocols::auction::{AuctionReply, AuctionRequest};
use agents::Agents;
use foundation::prelude::*;
use serde_json::Value as Json;

/// The agent spec keys of this family, for `help`.
pub(crate) const KEYS: &[&str] = &[];

/// The commands of this family, for `help`.
pub(crate) const USAGE: &[&str] = &[];

/// What a scripted agent answers in this family.
#[derive(Debug, Clone, Default)]
pub(crate) struct Script {}

impl Script {
    /// Takes `key=value` of an agent spec if the key belongs to this
    /// family; `Ok(false)` if it does not.
    pub(crate) fn parse_key(&mut self, key: &str, value: &str) -> anyhow::Result<bool> {
        let _ = (key, value);
        Ok(false)
    }

    /// The agent's answer.
    pub(crate) fn answer(&mut self, request: &AuctionRequest) -> AuctionReply {
        let _ = request;
        AuctionReply::Decline
    }
}

/// Runs a command of this family; `Ok(None)` if `words` is not one.
pub(crate) async fn command(
    node: &Node,
    agents: &Agents,
    words: &[&str],
) -> anyhow::Result<Option<Json>> {
    let _ = (node, agents, words);
    Ok(None)
}
