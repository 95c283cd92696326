//! What `foundation node` runs with, from four layers: the defaults, a
//! TOML file (`--config node.toml`), `FOUNDATION_*` environment variables,
//! then the flags, each over the one before (actor-core's [`Config`]).
//!
//! ```toml
//! name = "a"
//! cookie = "secret"
//! listen = "127.0.0.1:7401"
//! seeds = ["127.0.0.1:7402"]
//! failure_timeout = "2s"
//! partition_policy = "keep-majority"
//! http = "127.0.0.1:7480"
//! [attributes]
//! zone = "eu"
//! ```
//!
//! The environment spells a key in capitals after `FOUNDATION_`
//! (`FOUNDATION_COOKIE`, `FOUNDATION_FAILURE_TIMEOUT=800ms`,
//! `FOUNDATION_SEEDS='["10.0.0.2:7400"]'`, a table's key after `__`:
//! `FOUNDATION_ATTRIBUTES__ZONE=eu`). While the node runs, the keys in
//! [`UPDATABLE`] can be changed (`config set`); the others need a restart.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use actor_cluster::PartitionPolicy;
use actor_core::Config;
use anyhow::Context;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value as Json};

use super::node::{partition_policy, DiscoveryKind, NodeArgs};

/// The keys a running node applies when they change: its placement
/// attributes.
pub(crate) const UPDATABLE: &[&str] = &["attributes"];

/// Everything a node's configuration can say (the flags of
/// `foundation node`, but `--config`, `--events` and `--commands`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct NodeSettings {
    pub(crate) name: Option<String>,
    pub(crate) cookie: Option<String>,
    pub(crate) cluster: Option<String>,
    pub(crate) listen: Option<SocketAddr>,
    pub(crate) advertise: Option<SocketAddr>,
    pub(crate) discovery: Vec<DiscoveryKind>,
    pub(crate) seeds: Vec<String>,
    pub(crate) dns_names: Vec<String>,
    /// A duration (`2s`, `800ms`).
    pub(crate) failure_timeout: Option<String>,
    /// A duration.
    pub(crate) handshake_timeout: Option<String>,
    /// `keep-majority`, `keep-oldest` or `static-quorum:N`.
    pub(crate) partition_policy: Option<String>,
    pub(crate) tls_cert: Option<PathBuf>,
    pub(crate) tls_key: Option<PathBuf>,
    pub(crate) tls_ca: Option<PathBuf>,
    pub(crate) agents: Vec<String>,
    pub(crate) agent_groups: Vec<String>,
    pub(crate) variables: Vec<String>,
    pub(crate) data_dir: Option<PathBuf>,
    pub(crate) join_variables: bool,
    pub(crate) attributes: BTreeMap<String, String>,
    pub(crate) counters: Vec<String>,
    pub(crate) http: Option<SocketAddr>,
    pub(crate) http_token: Option<String>,
}

impl NodeSettings {
    /// The node's name (required).
    pub(crate) fn name(&self) -> anyhow::Result<&str> {
        self.name
            .as_deref()
            .context("a node needs a name: --name, `name` in the --config file, or FOUNDATION_NAME")
    }

    /// The cluster's cookie (required).
    pub(crate) fn cookie(&self) -> anyhow::Result<&str> {
        self.cookie.as_deref().context(
            "a node needs the cluster's cookie: --cookie, `cookie` in the --config file, or FOUNDATION_COOKIE",
        )
    }

    /// The failure timeout, 2 s unless set.
    pub(crate) fn failure_timeout(&self) -> anyhow::Result<Duration> {
        duration("failure_timeout", self.failure_timeout.as_deref(), "2s")
    }

    /// The handshake timeout, 5 s unless set.
    pub(crate) fn handshake_timeout(&self) -> anyhow::Result<Duration> {
        duration("handshake_timeout", self.handshake_timeout.as_deref(), "5s")
    }

    /// The partition policy, keep-majority unless set.
    pub(crate) fn partition_policy(&self) -> anyhow::Result<PartitionPolicy> {
        let word = self.partition_policy.as_deref().unwrap_or("keep-majority");
        partition_policy(word).map_err(|e| anyhow::anyhow!("partition_policy: {e}"))
    }

    /// These settings as they may be shown: the cookie and the API token
    /// hidden.
    pub(crate) fn shown(&self) -> Json {
        let mut shown = serde_json::to_value(self).unwrap_or(Json::Null);
        for secret in ["cookie", "http_token"] {
            if let Some(value) = shown.get_mut(secret).filter(|v| !v.is_null()) {
                *value = json!("(hidden)");
            }
        }
        shown
    }
}

fn duration(key: &str, value: Option<&str>, default: &str) -> anyhow::Result<Duration> {
    let text = value.unwrap_or(default);
    humantime::parse_duration(text).with_context(|| format!("{key}: `{text}` is not a duration"))
}

/// The settings the flags give, as the top layer: only what was given.
fn flags(args: &NodeArgs) -> anyhow::Result<Map<String, Json>> {
    let mut given = Map::new();
    let mut set = |key: &str, value: Json| {
        given.insert(key.to_owned(), value);
    };
    let some = |v: &Option<String>| v.as_ref().map(|v| json!(v));
    for (key, value) in [
        ("name", some(&args.name)),
        ("cookie", some(&args.cookie)),
        ("cluster", some(&args.cluster)),
        ("partition_policy", some(&args.partition_policy)),
        ("http_token", some(&args.http_token)),
        ("listen", args.listen.map(|a| json!(a))),
        ("advertise", args.advertise.map(|a| json!(a))),
        ("http", args.http.map(|a| json!(a))),
        (
            "failure_timeout",
            args.failure_timeout
                .map(|d| json!(humantime::format_duration(d).to_string())),
        ),
        (
            "handshake_timeout",
            args.handshake_timeout
                .map(|d| json!(humantime::format_duration(d).to_string())),
        ),
        ("tls_cert", args.tls_cert.as_ref().map(|p| json!(p))),
        ("tls_key", args.tls_key.as_ref().map(|p| json!(p))),
        ("tls_ca", args.tls_ca.as_ref().map(|p| json!(p))),
        ("data_dir", args.data_dir.as_ref().map(|p| json!(p))),
    ] {
        if let Some(value) = value {
            set(key, value);
        }
    }
    for (key, list) in [
        ("seeds", &args.seeds),
        ("dns_names", &args.dns_names),
        ("agents", &args.agents),
        ("agent_groups", &args.agent_groups),
        ("variables", &args.variables),
        ("counters", &args.counters),
    ] {
        if !list.is_empty() {
            set(key, json!(list));
        }
    }
    if !args.discovery.is_empty() {
        set("discovery", serde_json::to_value(&args.discovery)?);
    }
    if args.join_variables {
        set("join_variables", json!(true));
    }
    if !args.attributes.is_empty() {
        set("attributes", json!(attributes(&args.attributes)?));
    }
    Ok(given)
}

/// `KEY=VALUE` words as a map.
pub(crate) fn attributes(words: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    words
        .iter()
        .flat_map(|w| w.split(','))
        .filter(|w| !w.is_empty())
        .map(|w| {
            w.split_once('=')
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .with_context(|| format!("attribute `{w}` is not KEY=VALUE"))
        })
        .collect()
}

/// The node's configuration: defaults < `--config` file < `FOUNDATION_*`
/// environment < flags, checked.
pub(crate) fn load(args: &NodeArgs) -> anyhow::Result<Config<NodeSettings>> {
    let mut builder = Config::builder(NodeSettings::default());
    if let Some(file) = &args.config {
        builder = builder.file(file);
    }
    // Only variables that name a setting: others of the FOUNDATION_ family
    // (a test's, another command's) are not this node's business.
    let known = serde_json::to_value(NodeSettings::default())?;
    let env = std::env::vars().filter(|(k, _)| {
        let key = k.to_ascii_lowercase();
        key.strip_prefix("foundation_")
            .map(|rest| rest.split("__").next().unwrap_or(rest))
            .is_some_and(|field| known.get(field).is_some())
    });
    let config = builder
        .env_prefix("FOUNDATION_")
        .env_from(env)
        .overrides(flags(args)?)
        .updatable(UPDATABLE.iter().copied())
        .validator(|s: &NodeSettings| {
            s.failure_timeout()
                .and(s.handshake_timeout())
                .and(s.partition_policy().map(drop))
                .map(drop)
                .map_err(|e| format!("{e:#}"))
        })
        .build()
        .context("reading the node's configuration")?;
    let settings = config.current();
    settings.name()?;
    settings.cookie()?;
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        node: NodeArgs,
    }

    fn args(words: &[&str]) -> NodeArgs {
        Cli::parse_from(std::iter::once("node").chain(words.iter().copied())).node
    }

    #[test]
    fn flags_override_the_file_and_keep_what_they_do_not_say() {
        let dir = tempfile::tempdir().expect("dir");
        let file = dir.path().join("node.toml");
        std::fs::write(
            &file,
            "name = \"file\"\ncookie = \"c\"\nseeds = [\"h:1\"]\nfailure_timeout = \"3s\"\n[attributes]\nzone = \"eu\"\n",
        )
        .expect("write");
        let path = file.to_str().expect("path");
        let settings = load(&args(&["--config", path, "--name", "flag"]))
            .expect("config")
            .current();
        assert_eq!(settings.name.as_deref(), Some("flag"));
        assert_eq!(settings.seeds, ["h:1"]);
        assert_eq!(
            settings.failure_timeout().expect("timeout"),
            Duration::from_secs(3)
        );
        assert_eq!(
            settings.attributes.get("zone").map(String::as_str),
            Some("eu")
        );
        assert_eq!(settings.shown()["cookie"], "(hidden)");
    }

    #[test]
    fn bad_settings_are_refused_with_the_key() {
        let dir = tempfile::tempdir().expect("dir");
        let file = dir.path().join("node.toml");
        std::fs::write(
            &file,
            "name = \"a\"\ncookie = \"c\"\nfailure_timeout = \"soon\"\n",
        )
        .expect("write");
        let path = file.to_str().expect("path");
        let refused = load(&args(&["--config", path])).expect_err("refused");
        assert!(
            format!("{refused:#}").contains("failure_timeout"),
            "{refused:#}"
        );
        std::fs::write(&file, "name = \"a\"\ncookie = \"c\"\nlisten_on = \"x\"\n").expect("write");
        let unknown = load(&args(&["--config", path])).expect_err("refused");
        assert!(format!("{unknown:#}").contains("listen_on"), "{unknown:#}");
        let nameless = load(&args(&["--cookie", "c"])).expect_err("refused");
        assert!(
            format!("{nameless:#}").contains("needs a name"),
            "{nameless:#}"
        );
    }
}
