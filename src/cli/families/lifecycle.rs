//! The command-line face of agent lifecycles: a scripted agent's kind,
//! metadata, health and restart policy (`kind=`, `meta.KEY=`, `health=`,
//! `restart=`, `health-every=`), and the `query`, `agent-stop` and
//! `agent-restart` commands.

use std::collections::BTreeMap;
use std::time::Duration;

use actor_core::Restart;
use agents::{Agents, Cmp, Health, Placement, Query, Status};
use anyhow::{bail, Context};
use foundation::prelude::*;
use serde_json::{json, Value as Json};

use super::millis;
use crate::cli::node::value;

/// The agent spec keys of this family, for `help`.
pub(crate) const KEYS: &[&str] = &[
    "kind=KIND (listed and queried cluster-wide)",
    "meta.KEY=VALUE (metadata; repeatable)",
    "health=healthy|degraded|unhealthy|fail-after/N|slow/MS (its own health check; fail-after: unhealthy from the N+1th check of each incarnation; slow: healthy after MS)",
    "restart=permanent|transient|temporary",
    "health-every=MS (how often its health is checked; default 5000)",
    "panic-on=vote (panics when asked to vote: its supervisor restarts it)",
];

/// The commands of this family, for `help`.
pub(crate) const USAGE: &[&str] = &[
    "query [id=ID] [kind=KIND] [cap=CAPABILITY]... [node=NODE] [status=STATUS] [meta=KEY:eq|neq|gt|gte|lt|lte|in|not_in:V1,V2,...]... (from this node's copy of the directory)",
    "agent-stop ID",
    "agent-restart ID",
    "spawn-on NODE AGENT_SPEC (a scripted agent, started on that node)",
    "spawn-on NODE tally ID[:copies=N][:every=MS][:restart=POLICY][:passivate=MS] (a count copied to N other nodes: it runs again on a survivor, with its count, when its node goes down; ask it as agent/ID)",
    "spawn-for-key KEY tally TALLY_SPEC [require=KEY=VALUE]... [capacity=N] [apart=ID,ID...] (a tally on the ring's owner of KEY; it keeps to the constraints when it moves)",
    "spawn-for-key KEY AGENT_SPEC [require=KEY=VALUE]... [capacity=N] [apart=ID,ID...] (on the ring's owner of KEY, unless the agent runs already)",
    "spawn-actor-on NODE counter NAME (a plain actor, a count served as NAME, started on that node; ask it as NAME)",
    "spawn-actor-for-key KEY counter NAME [require=KEY=VALUE]... [capacity=N] [apart=ID,ID...] (on the ring's owner of KEY, unless NAME runs already)",
    "owner KEY [require=KEY=VALUE]... [capacity=N] [apart=ID,ID...]",
    "attributes KEY=VALUE ... (this node's attributes, for placement)",
];

/// How a scripted agent answers its health check.
#[derive(Debug, Clone, Default)]
enum Answer {
    #[default]
    Healthy,
    Degraded,
    Unhealthy,
    /// Healthy for this many checks of each incarnation, then unhealthy.
    FailAfter(u32),
    /// Healthy, after this long.
    Slow(Duration),
}

/// A scripted agent's lifecycle.
#[derive(Debug, Clone, Default)]
pub(crate) struct Script {
    kind: Option<String>,
    metadata: BTreeMap<String, Value>,
    answer: Answer,
    /// Checks answered by this incarnation.
    checks: u32,
    restart: Option<Restart>,
    every: Option<Duration>,
    /// Panics when asked to vote.
    panic_on_vote: bool,
}

impl Script {
    /// Takes the keys of this family; `Ok(false)` for any other key.
    pub(crate) fn parse_key(&mut self, key: &str, word: &str) -> anyhow::Result<bool> {
        match key {
            "kind" => self.kind = Some(word.to_owned()),
            "health" => {
                self.answer = match word.split_once('/') {
                    None if word == "healthy" => Answer::Healthy,
                    None if word == "degraded" => Answer::Degraded,
                    None if word == "unhealthy" => Answer::Unhealthy,
                    Some(("fail-after", n)) => Answer::FailAfter(
                        n.parse()
                            .with_context(|| format!("fail-after/{n}: not a count"))?,
                    ),
                    Some(("slow", ms)) => Answer::Slow(millis(ms).context("slow/MS")?),
                    _ => bail!(
                    "health is healthy, degraded, unhealthy, fail-after/N or slow/MS, not `{word}`"
                ),
                }
            }
            "restart" => {
                self.restart = Some(match word {
                    "permanent" => Restart::Permanent,
                    "transient" => Restart::Transient,
                    "temporary" => Restart::Temporary,
                    _ => bail!("restart is permanent, transient or temporary, not `{word}`"),
                })
            }
            "health-every" => self.every = Some(millis(word).context("health-every")?),
            "panic-on" if word == "vote" => self.panic_on_vote = true,
            "panic-on" => bail!("panic-on takes vote, not `{word}`"),
            _ => match key.strip_prefix("meta.") {
                Some(meta) if !meta.is_empty() => {
                    self.metadata.insert(meta.to_owned(), value(word));
                }
                _ => return Ok(false),
            },
        }
        Ok(true)
    }

    /// Panics if the spec says so: a crash its supervisor restarts.
    pub(crate) fn asked_to_vote(&self, id: &str) {
        if self.panic_on_vote {
            panic!("{id} was scripted to panic when asked to vote");
        }
    }

    /// Its kind, if the spec named one.
    pub(crate) fn kind(&self) -> Option<String> {
        self.kind.clone()
    }

    /// Its metadata.
    pub(crate) fn metadata(&self) -> BTreeMap<String, Value> {
        self.metadata.clone()
    }

    /// Answers a health check.
    pub(crate) async fn health(&mut self) -> Health {
        self.checks += 1;
        match self.answer {
            Answer::Slow(after) => {
                tokio::time::sleep(after).await;
                Health::Healthy
            }
            Answer::Healthy => Health::Healthy,
            Answer::Degraded => Health::Degraded("scripted".into()),
            Answer::Unhealthy => Health::Unhealthy("scripted".into()),
            Answer::FailAfter(n) if self.checks > n => {
                Health::Unhealthy(format!("scripted to fail after {n} checks"))
            }
            Answer::FailAfter(_) => Health::Healthy,
        }
    }

    /// How the agent is started: its restart policy and check interval.
    pub(crate) fn spec<A: Agent>(
        &self,
        factory: impl Fn() -> A + Send + Sync + 'static,
    ) -> AgentSpec<A> {
        let mut spec = AgentSpec::new(factory);
        if let Some(restart) = self.restart {
            spec = spec.restart(restart);
        }
        if let Some(every) = self.every {
            spec = spec.health_every(every);
        }
        spec
    }
}

/// Runs `query`, `agent-stop` and `agent-restart`; `Ok(None)` for any
/// other command.
pub(crate) async fn command(
    node: &Node,
    agents: &Agents,
    words: &[&str],
) -> anyhow::Result<Option<Json>> {
    Ok(Some(match words {
        ["query", predicates @ ..] => {
            let query = parse_query(predicates)?;
            json!({ "reply": "query", "agents": agents.query(&query).await? })
        }
        ["agent-stop", id] => {
            agents.stop(id).await?;
            json!({ "reply": "agent-stop", "agent": id, "ok": true })
        }
        ["agent-restart", id] => {
            agents.restart(id).await?;
            json!({ "reply": "agent-restart", "agent": id, "ok": true })
        }
        ["spawn-on", on, "tally", spec] => {
            let agent = agents.spawn_on(on, "tally", &spec.to_string()).await?;
            json!({ "reply": "spawn-on", "agent": agent.name(), "node": agent.node().unwrap_or_else(|| node.name().to_owned()) })
        }
        ["spawn-for-key", key, "tally", spec, rest @ ..] => {
            let id = spec.split(':').next().unwrap_or_default();
            let placement = parse_placement(rest)?;
            let agent = agents
                .spawn_for_key(key, id, "tally", &spec.to_string(), &placement)
                .await?;
            json!({ "reply": "spawn-for-key", "key": key, "agent": id, "node": agent.node().unwrap_or_else(|| node.name().to_owned()) })
        }
        ["spawn-on", on, spec] => {
            let agent = agents.spawn_on(on, "scripted", &spec.to_string()).await?;
            json!({ "reply": "spawn-on", "agent": agent.name(), "node": agent.node().unwrap_or_else(|| node.name().to_owned()) })
        }
        ["spawn-for-key", key, spec, rest @ ..] => {
            let id = spec.split(':').next().unwrap_or_default();
            let placement = parse_placement(rest)?;
            let agent = agents
                .spawn_for_key(key, id, "scripted", &spec.to_string(), &placement)
                .await?;
            json!({ "reply": "spawn-for-key", "key": key, "agent": id, "node": agent.node().unwrap_or_else(|| node.name().to_owned()) })
        }
        ["spawn-actor-on", on, kind, name] => {
            let actor = agents.spawn_actor_on(on, kind, &name.to_string()).await?;
            json!({ "reply": "spawn-actor-on", "name": actor.name(), "node": actor.node().unwrap_or_else(|| node.name().to_owned()) })
        }
        ["spawn-actor-for-key", key, kind, name, rest @ ..] => {
            let placement = parse_placement(rest)?;
            let actor = agents
                .spawn_actor_for_key(key, name, kind, &name.to_string(), &placement)
                .await?;
            json!({ "reply": "spawn-actor-for-key", "key": key, "name": actor.name(), "node": actor.node().unwrap_or_else(|| node.name().to_owned()) })
        }
        ["owner", key, rest @ ..] => {
            let owner = agents.owner_of(key, &parse_placement(rest)?).await?;
            json!({ "reply": "owner", "key": key, "node": owner })
        }
        ["attributes", pairs @ ..] => {
            let pairs = pairs
                .iter()
                .map(|p| {
                    p.split_once('=')
                        .with_context(|| format!("`{p}` is not KEY=VALUE"))
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            agents.set_attributes(pairs).await?;
            json!({ "reply": "attributes", "ok": true })
        }
        _ => return Ok(None),
    }))
}

/// A placement from `require=KEY=VALUE`, `capacity=N`, `apart=ID,ID...`.
fn parse_placement(words: &[&str]) -> anyhow::Result<Placement> {
    let mut placement = Placement::new();
    for word in words {
        placement = match word.split_once('=') {
            Some(("require", pair)) => {
                let (k, v) = pair
                    .split_once('=')
                    .with_context(|| format!("require=`{pair}` is not KEY=VALUE"))?;
                placement.require(k, v)
            }
            Some(("capacity", n)) => placement.capacity(
                n.parse()
                    .with_context(|| format!("capacity=`{n}` is not a count"))?,
            ),
            Some(("apart", ids)) => placement.apart_from(ids.split(',')),
            _ => bail!("`{word}` is not require=KEY=VALUE, capacity=N or apart=ID,..."),
        };
    }
    Ok(placement)
}

/// A query from `KEY=VALUE` words.
fn parse_query(words: &[&str]) -> anyhow::Result<Query> {
    let mut query = Query::new();
    for word in words {
        let (key, rest) = word
            .split_once('=')
            .with_context(|| format!("`{word}` is not KEY=VALUE"))?;
        query = match key {
            "id" => query.id(rest),
            "kind" => query.kind(rest),
            "cap" => query.capability(rest),
            "node" => query.node(rest),
            "status" => query.status(rest.parse::<Status>().map_err(anyhow::Error::msg)?),
            "meta" => {
                let parts: Vec<&str> = rest.splitn(3, ':').collect();
                let [meta, cmp, values] = parts.as_slice() else {
                    bail!("meta=`{rest}` is not KEY:CMP:VALUE[,VALUE...]");
                };
                let cmp: Cmp = cmp.parse()?;
                query.meta(*meta, cmp, values.split(',').map(value))
            }
            other => bail!("unknown query key `{other}` (id, kind, cap, node, status, meta)"),
        };
    }
    Ok(query)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_parse() {
        let q = parse_query(&[
            "kind=Trainer",
            "cap=gpu",
            "status=ready",
            "meta=zone:in:eu,us",
        ])
        .unwrap();
        assert_eq!(
            q,
            Query::new()
                .kind("Trainer")
                .capability("gpu")
                .status(Status::Ready)
                .meta(
                    "zone",
                    Cmp::In,
                    [Value::Text("eu".into()), Value::Text("us".into())]
                )
        );
        assert!(parse_query(&["status=asleep"]).is_err());
        assert!(parse_query(&["meta=zone:between:1"]).is_err());
        assert!(parse_query(&["colour=red"]).is_err());
    }

    #[tokio::test]
    async fn health_scripts_fail_when_told() {
        let mut s = Script::default();
        assert!(s.parse_key("health", "fail-after/2").unwrap());
        assert_eq!(s.health().await, Health::Healthy);
        assert_eq!(s.health().await, Health::Healthy);
        assert!(matches!(s.health().await, Health::Unhealthy(_)));
        assert!(s.parse_key("meta.zone", "eu").unwrap());
        assert_eq!(s.metadata()["zone"], Value::Text("eu".into()));
        assert!(!s.parse_key("bid", "3").unwrap());
    }
}
