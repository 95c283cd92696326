//! `foundation status|peers|agents|names|vars --node HOST:PORT`: a running
//! node, through its management HTTP API (`foundation node --http`), as
//! readable tables or (`--json`) the API's JSON.

use std::time::{Duration, SystemTime};

use anyhow::{bail, Context};
use serde_json::Value as Json;

/// Where the node's API is and how to ask it.
#[derive(Debug, clap::Args)]
pub(crate) struct Target {
    /// The node's management API (`foundation node --http`), `HOST:PORT`.
    #[arg(long, default_value = "127.0.0.1:7480")]
    node: String,
    /// The API's bearer token (`foundation node --http-token`).
    #[arg(long, env = "FOUNDATION_HTTP_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Print the API's JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// `foundation agents`.
#[derive(Debug, clap::Args)]
pub(crate) struct AgentsArgs {
    #[command(flatten)]
    target: Target,
    /// Only agents of this kind.
    #[arg(long)]
    kind: Option<String>,
    /// Only agents with this capability.
    #[arg(long)]
    capability: Option<String>,
    /// Only agents on this node (by name).
    #[arg(long = "on")]
    on: Option<String>,
    /// Only agents in this status (ready, passivated, ...).
    #[arg(long)]
    status: Option<String>,
}

/// `foundation names`.
#[derive(Debug, clap::Args)]
pub(crate) struct NamesArgs {
    #[command(flatten)]
    target: Target,
    /// Only the members of this group.
    #[arg(long)]
    group: Option<String>,
}

/// `foundation vars`.
#[derive(Debug, clap::Args)]
pub(crate) struct VarsArgs {
    #[command(flatten)]
    target: Target,
    /// One variable, with its history (read through the Raft leader).
    name: Option<String>,
}

impl Target {
    /// `GET path` as JSON, off the async runtime (ureq blocks).
    async fn get(&self, path: &str) -> anyhow::Result<Json> {
        let (node, token, path) = (self.node.clone(), self.token.clone(), path.to_owned());
        tokio::task::spawn_blocking(move || fetch(&node, token.as_deref(), &path))
            .await
            .context("the request's thread")?
    }

    /// Prints `value` as JSON if asked to, else as `table` makes it.
    fn print(&self, value: &Json, table: impl FnOnce(&Json) -> String) -> anyhow::Result<()> {
        if self.json {
            println!("{}", serde_json::to_string_pretty(value)?);
        } else {
            print!("{}", table(value));
        }
        Ok(())
    }
}

/// One request to the API, with errors a person can act on.
fn fetch(node: &str, token: Option<&str>, path: &str) -> anyhow::Result<Json> {
    if !node.contains(':') {
        bail!("--node `{node}` is not HOST:PORT (the address of `foundation node --http`)");
    }
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(20)))
        .build()
        .into();
    let url = format!("http://{node}{path}");
    let mut request = agent.get(&url);
    if let Some(token) = token {
        request = request.header("Authorization", &format!("Bearer {token}"));
    }
    let mut response = match request.call() {
        Ok(response) => response,
        Err(ureq::Error::Io(e)) => {
            bail!("cannot reach {node} ({e}); is `foundation node --http {node}` running there?")
        }
        Err(ureq::Error::BadUri(e)) => bail!("`{node}` is not HOST:PORT ({e})"),
        Err(e) => bail!("cannot reach {node} ({e})"),
    };
    let status = response.status().as_u16();
    let body = response
        .body_mut()
        .read_to_string()
        .with_context(|| format!("reading the answer of {node}"))?;
    let json: Option<Json> = serde_json::from_str(&body).ok();
    let said = json
        .as_ref()
        .and_then(|j| j["error"].as_str())
        .unwrap_or(body.trim())
        .to_owned();
    match status {
        200 => json.with_context(|| format!("{node} answered {path} with something not JSON")),
        401 if token.is_none() => {
            bail!("{node} wants a token ({said}); pass --token or set FOUNDATION_HTTP_TOKEN")
        }
        401 => bail!("{node} refused the token ({said})"),
        _ => bail!("{node}: {said} (HTTP {status})"),
    }
}

/// Rows as columns padded to their widest cell, under a header.
fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &mut dyn Iterator<Item = &str>| {
        let padded: Vec<String> = cells
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        padded.join("  ").trim_end().to_owned() + "\n"
    };
    let mut out = line(&mut header.iter().copied());
    for row in rows {
        out += &line(&mut row.iter().map(String::as_str));
    }
    if rows.is_empty() {
        out += "(none)\n";
    }
    out
}

/// A JSON field as text: strings bare, null as `-`.
fn text(value: &Json) -> String {
    match value {
        Json::Null => "-".into(),
        Json::String(s) => s.clone(),
        // A variable's value, `{"Float": 0.05}`.
        Json::Object(one) if one.len() == 1 => one.values().map(text).collect(),
        Json::Array(items) => items.iter().map(text).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    }
}

/// How long ago `ms` (Unix milliseconds) was, roughly.
fn ago(ms: &Json) -> String {
    let Some(ms) = ms.as_u64() else {
        return "-".into();
    };
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let secs = Duration::from_millis(now.saturating_sub(ms)).as_secs();
    humantime::format_duration(Duration::from_secs(secs)).to_string() + " ago"
}

fn rows(list: &Json, cells: impl Fn(&Json) -> Vec<String>) -> Vec<Vec<String>> {
    list.as_array()
        .map(|items| items.iter().map(cells).collect())
        .unwrap_or_default()
}

/// `foundation status`.
pub(crate) async fn status(target: Target) -> anyhow::Result<()> {
    let node = target.get("/api/node").await?;
    // Not ready is an answer too (503), not a failure of the command.
    let ready = target.get("/ready").await.ok();
    if target.json {
        let both = serde_json::json!({ "node": node, "ready": ready });
        println!("{}", serde_json::to_string_pretty(&both)?);
        return Ok(());
    }
    let uptime =
        humantime::format_duration(Duration::from_secs(node["uptime_s"].as_u64().unwrap_or(0)));
    println!(
        "node {} at {}, version {}, up {uptime}",
        text(&node["node"]),
        text(&node["addr"]),
        text(&node["version"])
    );
    match ready {
        Some(_) => println!("ready: yes (on the side of the cluster that keeps working)"),
        None => println!("ready: no (see `foundation peers`)"),
    }
    println!(
        "peers: {} ({} up), names: {}, agents: {}, variables: {}",
        node["peers"],
        node["peers_up"],
        node["names"],
        if node["agents"] == true { "yes" } else { "no" },
        if node["variables"] == true {
            "yes"
        } else {
            "no"
        },
    );
    Ok(())
}

/// `foundation peers`.
pub(crate) async fn peers(target: Target) -> anyhow::Result<()> {
    let peers = target.get("/api/peers").await?;
    target.print(&peers, |p| {
        let rows = rows(&p["peers"], |p| {
            vec![
                text(&p["node"]),
                text(&p["addr"]),
                text(&p["status"]),
                ago(&p["since_ms"]),
            ]
        });
        table(&["NODE", "ADDR", "STATUS", "SINCE"], &rows)
    })
}

/// `foundation agents`.
pub(crate) async fn agents(args: AgentsArgs) -> anyhow::Result<()> {
    let filters = [
        ("kind", &args.kind),
        ("capability", &args.capability),
        ("node", &args.on),
        ("status", &args.status),
    ];
    let query: Vec<String> = filters
        .iter()
        .filter_map(|(key, value)| value.as_ref().map(|v| format!("{key}={}", encode(v))))
        .collect();
    let path = if query.is_empty() {
        "/api/agents".to_owned()
    } else {
        format!("/api/agents?{}", query.join("&"))
    };
    let agents = args.target.get(&path).await?;
    args.target.print(&agents, |a| {
        let rows = rows(&a["agents"], |a| {
            vec![
                text(&a["id"]),
                text(&a["node"]),
                text(&a["kind"]),
                text(&a["status"]),
                text(&a["health"]),
                text(&a["restarts"]),
                text(&a["capabilities"]),
            ]
        });
        table(
            &[
                "ID",
                "NODE",
                "KIND",
                "STATUS",
                "HEALTH",
                "RESTARTS",
                "CAPABILITIES",
            ],
            &rows,
        )
    })
}

/// `foundation names`.
pub(crate) async fn names(args: NamesArgs) -> anyhow::Result<()> {
    let path = match &args.group {
        Some(group) => format!("/api/names?group={}", encode(group)),
        None => "/api/names".to_owned(),
    };
    let names = args.target.get(&path).await?;
    args.target.print(&names, |n| {
        let rows = rows(&n["names"], |n| {
            vec![text(&n["name"]), text(&n["node"]), text(&n["groups"])]
        });
        table(&["NAME", "NODE", "GROUPS"], &rows)
    })
}

/// `foundation vars`.
pub(crate) async fn vars(args: VarsArgs) -> anyhow::Result<()> {
    let (path, list) = match &args.name {
        Some(name) => (format!("/api/variables/{}", encode(name)), "history"),
        None => ("/api/variables".to_owned(), "variables"),
    };
    let vars = args.target.get(&path).await?;
    args.target.print(&vars, |v| {
        let rows = rows(&v[list], |v| {
            vec![
                text(&v["name"]),
                text(&v["value"]),
                text(&v["version"]),
                text(&v["by"]),
                ago(&v["at_ms"]),
            ]
        });
        table(&["NAME", "VALUE", "VERSION", "BY", "WHEN"], &rows)
    })
}

/// `text` percent-encoded for a URL's path segment or query value.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_pad_columns_to_their_widest_cell() {
        let rows = vec![
            vec!["a1".to_owned(), "ready".to_owned()],
            vec!["agent-long".to_owned(), "-".to_owned()],
        ];
        assert_eq!(
            table(&["ID", "STATUS"], &rows),
            "ID          STATUS\na1          ready\nagent-long  -\n"
        );
        assert_eq!(table(&["ID"], &[]), "ID\n(none)\n");
    }

    #[test]
    fn values_and_urls_read_plainly() {
        assert_eq!(text(&serde_json::json!({ "Float": 0.05 })), "0.05");
        assert_eq!(text(&serde_json::json!(["a", "b"])), "a,b");
        assert_eq!(text(&Json::Null), "-");
        assert_eq!(encode("capability/bidder"), "capability%2Fbidder");
    }
}
