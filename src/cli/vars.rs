//! The `var` commands of `foundation node`: define, read, propose, set,
//! watch and delete the cluster's replicated variables.

use agents::variables::{
    Change, Committed, Conflict, Coordination, Decision, Definition, Kind, VariableError, Variables,
};
use agents::{Agents, YesNoRule};
use anyhow::{bail, Context};
use serde_json::{json, Value as Json};
use tokio::sync::broadcast::{self, error::RecvError};

use super::families::{millis, number};
use super::node::value;

/// The `var` commands, for `help`.
pub(crate) const USAGE: &[&str] = &[
    "var define NAME KIND DEFAULT [vote=CAPABILITY:majority|supermajority|unanimity:DEADLINE_MS] \
     [byzantine=CAPABILITY:DEADLINE_MS] [history=N] [conflict=overwrite|refuse] \
     (KIND: float:MIN:MAX[:PRECISION][:log], int:MIN:MAX[:STEP], choice:A,B,..., bool, \
     text:MAX_BYTES)",
    "var get NAME [local]",
    "var history NAME",
    "var propose NAME VALUE AGENT",
    "var set NAME VALUE",
    "var delete NAME",
    "var watch|unwatch",
    "var status",
    "var leave",
    "var remove NODE",
];

/// The changes a node prints while `var watch` is on.
pub(crate) type Watch = Option<broadcast::Receiver<Change>>;

/// Runs a `var ...` command; `var watch` and `var unwatch` switch `watch`
/// (the node then prints one `variable` event line per change).
pub(crate) async fn command(
    variables: Option<&Variables>,
    agents: &Agents,
    node: &str,
    watch: &mut Watch,
    words: &[&str],
) -> anyhow::Result<Json> {
    let variables =
        variables.context("this node keeps no variables (start it with --variables NODE,...)")?;
    Ok(match words {
        ["define", name, kind, default, options @ ..] => {
            let definition = definition(name, kind, default, options)?;
            reply("define", variables.define(definition).await)
        }
        ["get", name] => reply("get", variables.get(name).await),
        ["get", name, "local"] => reply("get", variables.get_local(name)),
        ["history", name] => match variables.history(name).await {
            Ok(history) => json!({ "reply": "var", "op": "history", "history": history }),
            Err(e) => refused("history", &e),
        },
        ["propose", name, word, agent] => {
            match variables.propose(agents, name, value(word), agent).await {
                Ok(decision) => decided(&decision),
                Err(e) => refused("propose", &e),
            }
        }
        ["set", name, word] => reply("set", variables.commit(name, value(word), node).await),
        ["delete", name] => reply("delete", variables.delete(name).await),
        ["watch"] => {
            *watch = Some(variables.subscribe());
            json!({ "reply": "var", "op": "watch", "ok": true })
        }
        ["unwatch"] => {
            *watch = None;
            json!({ "reply": "var", "op": "unwatch", "ok": true })
        }
        ["status"] => json!({ "reply": "var", "op": "status", "status": variables.status() }),
        ["leave"] => match variables.leave().await {
            Ok(()) => json!({ "reply": "var", "op": "leave", "ok": true }),
            Err(e) => refused("leave", &e),
        },
        ["remove", node] => match variables.remove(node).await {
            Ok(voters) => json!({ "reply": "var", "op": "remove", "voters": voters }),
            Err(e) => refused("remove", &e),
        },
        _ => bail!("usage: {}", USAGE.join(" | ")),
    })
}

/// The next change `watch` brings; never, while it is off.
pub(crate) async fn next_change(watch: &mut Watch) -> Result<Change, RecvError> {
    match watch {
        Some(changes) => changes.recv().await,
        None => std::future::pending().await,
    }
}

/// The event line of a change a watching node applied.
pub(crate) fn change_event(change: &Change) -> Json {
    let what = match change {
        Change::Defined(_) => "defined",
        Change::Committed(_) => "committed",
        Change::Deleted(_) => "deleted",
        _ => "changed",
    };
    json!({ "event": "variable", "change": what, "variable": change.value() })
}

fn reply(op: &str, answer: Result<Committed, VariableError>) -> Json {
    match answer {
        Ok(committed) => json!({ "reply": "var", "op": op, "variable": committed }),
        Err(e) => refused(op, &e),
    }
}

/// A refusal: the operation's answer, not a failed command.
fn refused(op: &str, e: &VariableError) -> Json {
    json!({ "reply": "var", "op": op, "refused": e.to_string() })
}

fn decided(decision: &Decision) -> Json {
    let committed = decision.committed();
    match decision {
        Decision::Voted { vote, .. } => json!({
            "reply": "var", "op": "propose", "by": "vote", "variable": committed,
            "tally": vote.tally, "reason": vote.weighted.reason,
        }),
        Decision::Agreed { agreement, .. } => json!({
            "reply": "var", "op": "propose", "by": "agreement", "variable": committed,
            "decided": agreement.decided, "quorum": agreement.outcome.quorum,
        }),
        _ => {
            json!({ "reply": "var", "op": "propose", "by": "last-writer-wins", "variable": committed })
        }
    }
}

/// A definition from `NAME KIND DEFAULT [OPTION=...]...`.
fn definition(
    name: &str,
    kind: &str,
    default: &str,
    options: &[&str],
) -> anyhow::Result<Definition> {
    let mut definition = Definition::new(name, parse_kind(kind)?, value(default));
    for option in options {
        let (key, rest) = option
            .split_once('=')
            .with_context(|| format!("`{option}` is not KEY=VALUE"))?;
        definition = match key {
            "vote" => definition.coordination(parse_vote(rest)?),
            "byzantine" => {
                let (capability, deadline) = rest
                    .split_once(':')
                    .with_context(|| format!("byzantine=`{rest}` is not CAPABILITY:DEADLINE_MS"))?;
                definition.coordination(Coordination::byzantine(capability, millis(deadline)?))
            }
            "history" => definition.history(
                rest.parse()
                    .with_context(|| format!("history=`{rest}` is not a count"))?,
            ),
            "conflict" => definition.conflict(match rest {
                "overwrite" => Conflict::Overwrite,
                "refuse" => Conflict::Refuse,
                other => bail!("conflict is overwrite or refuse, not `{other}`"),
            }),
            other => bail!("unknown option `{other}` (vote, byzantine, history, conflict)"),
        };
    }
    Ok(definition)
}

/// `CAPABILITY:RULE:DEADLINE_MS`.
fn parse_vote(words: &str) -> anyhow::Result<Coordination> {
    let parts: Vec<&str> = words.split(':').collect();
    let [capability, rule, deadline] = parts.as_slice() else {
        bail!("vote=`{words}` is not CAPABILITY:majority|supermajority|unanimity:DEADLINE_MS");
    };
    let rule = match *rule {
        "majority" => YesNoRule::simple_majority(),
        "supermajority" => YesNoRule::two_thirds(),
        "unanimity" => YesNoRule::unanimity(),
        other => bail!("the rule is majority, supermajority or unanimity, not `{other}`"),
    };
    Ok(Coordination::vote(*capability, rule, millis(deadline)?))
}

/// `float:MIN:MAX[:PRECISION][:log]`, `int:MIN:MAX[:STEP]`,
/// `choice:A,B,...`, `bool` or `text:MAX_BYTES`. The kind's own checks (an empty range, a
/// zero step) are the variable's: `define` reports them.
fn parse_kind(word: &str) -> anyhow::Result<Kind> {
    let parts: Vec<&str> = word.split(':').collect();
    Ok(match parts.as_slice() {
        ["bool"] => Kind::Bool,
        ["choice", options] => Kind::choice(options.split(',')),
        ["text", max] => Kind::text(
            max.parse()
                .with_context(|| format!("`{word}`: the most bytes is a count"))?,
        ),
        ["float", min, max, rest @ ..] => {
            let log = rest.contains(&"log");
            let precision = rest
                .iter()
                .find(|w| **w != "log")
                .map(|p| p.parse::<u32>())
                .transpose()
                .with_context(|| format!("`{word}`: the precision is a count of decimals"))?;
            Kind::Float {
                min: number(min)?,
                max: number(max)?,
                precision,
                log,
            }
        }
        ["int", min, max, rest @ ..] => {
            let int = |w: &str| {
                w.parse::<i64>()
                    .with_context(|| format!("`{w}` is not an integer"))
            };
            Kind::Int {
                min: int(min)?,
                max: int(max)?,
                step: rest.first().map_or(Ok(1), |s| int(s))?,
            }
        }
        _ => bail!(
            "`{word}` is not a kind: float:MIN:MAX[:PRECISION][:log], int:MIN:MAX[:STEP], \
             choice:A,B,..., bool, text:MAX_BYTES"
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn kinds_and_options_parse() {
        assert_eq!(parse_kind("float:0:2").unwrap(), Kind::float(0.0, 2.0));
        assert_eq!(
            parse_kind("float:0.001:1:3:log").unwrap(),
            Kind::Float {
                min: 0.001,
                max: 1.0,
                precision: Some(3),
                log: true
            }
        );
        assert_eq!(
            parse_kind("int:8:512:8").unwrap(),
            Kind::Int {
                min: 8,
                max: 512,
                step: 8
            }
        );
        assert_eq!(
            parse_kind("choice:adam,sgd").unwrap(),
            Kind::choice(["adam", "sgd"])
        );
        assert!(parse_kind("float:a:2").is_err());
        assert!(parse_kind("list:1").is_err());
        assert_eq!(parse_kind("text:64").unwrap(), Kind::text(64));
        assert!(parse_kind("text:lots").is_err());
        let d = definition(
            "lr",
            "float:0:1",
            "0.1",
            &[
                "vote=voter:supermajority:1500",
                "history=5",
                "conflict=refuse",
            ],
        )
        .unwrap();
        assert_eq!(
            d.coordination,
            Coordination::vote(
                "voter",
                YesNoRule::two_thirds(),
                Duration::from_millis(1500)
            )
        );
        assert_eq!((d.history, d.conflict), (5, Conflict::Refuse));
        assert!(definition("lr", "float:0:1", "0.1", &["vote=voter:most:10"]).is_err());
        assert!(definition("lr", "float:0:1", "0.1", &["colour=red"]).is_err());
    }
}
