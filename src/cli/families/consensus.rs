//! The command-line face of Byzantine-tolerant agreement: what a scripted
//! agent proposes (`agree=VALUE`) and the `agree` command.

use agents::protocols::consensus::{Agreement, AgreementSpec};
use agents::Agents;
use anyhow::Context;
use foundation::prelude::*;
use serde_json::{json, Value as Json};

use super::millis;
use crate::cli::node::value;

/// The agent spec keys of this family, for `help`.
pub(crate) const KEYS: &[&str] = &["agree=VALUE|none (Byzantine agreement proposal)"];

/// The commands of this family, for `help`.
pub(crate) const USAGE: &[&str] =
    &["agree SUBJECT DEADLINE_MS [F] (Byzantine agreement among voters; F defaults to (n-1)/3)"];

/// What a scripted agent proposes in an agreement.
#[derive(Debug, Clone, Default)]
pub(crate) struct Script {
    proposal: Option<Value>,
}

impl Script {
    /// Takes `agree=VALUE`; `Ok(false)` for any other key.
    pub(crate) fn parse_key(&mut self, key: &str, word: &str) -> anyhow::Result<bool> {
        if key != "agree" {
            return Ok(false);
        }
        self.proposal = (word != "none").then(|| value(word));
        Ok(true)
    }

    /// The agent's proposal.
    pub(crate) fn agree(&mut self, _question: &Agreement) -> Option<Value> {
        self.proposal.clone()
    }
}

/// Runs `agree`; `Ok(None)` for any other command.
pub(crate) async fn command(
    _node: &Node,
    agents: &Agents,
    words: &[&str],
) -> anyhow::Result<Option<Json>> {
    let (subject, deadline, faulty) = match words {
        ["agree", subject, deadline] => (subject, deadline, None),
        ["agree", subject, deadline, f] => (
            subject,
            deadline,
            Some(
                f.parse()
                    .with_context(|| format!("F `{f}` is not a number"))?,
            ),
        ),
        _ => return Ok(None),
    };
    let mut spec = AgreementSpec::new(*subject, "voter", millis(deadline)?);
    spec.faulty = faulty;
    Ok(Some(
        json!({ "reply": "agree", "result": agents.run(spec).await? }),
    ))
}
