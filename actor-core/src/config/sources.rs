//! The figment providers behind the file and environment layers.
//!
//! Both are read once, when the configuration is built. The environment layer
//! takes its variables from a list rather than from the process directly, so
//! that tests (and embedders) can hand it variables without touching the
//! process environment; [`process_env`] supplies the real one.

use std::io;
use std::path::{Path, PathBuf};

use figment::providers::{Format, Toml};
use figment::value::{Dict, Map, Value};
use figment::{Metadata, Profile, Provider};

use super::ConfigError;

/// A TOML file, read and parsed when the configuration is built.
pub(super) struct TomlFile {
    path: PathBuf,
    data: Map<Profile, Dict>,
}

impl TomlFile {
    /// Reads and parses `path`; a missing file gives `Ok(None)` unless `required`.
    pub(super) fn load(path: &Path, required: bool) -> Result<Option<Self>, ConfigError> {
        let file_error = |reason: String| ConfigError::File {
            path: path.to_path_buf(),
            reason,
        };
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound && !required => return Ok(None),
            Err(e) => return Err(file_error(e.to_string())),
        };
        let data = Toml::string(&text)
            .data()
            .map_err(|e| file_error(format!("malformed TOML: {e}")))?;
        Ok(Some(Self {
            path: path.to_path_buf(),
            data,
        }))
    }
}

impl Provider for TomlFile {
    fn metadata(&self) -> Metadata {
        // Errors name the key as written in the file (`pool.size`), without
        // figment's profile in front of it.
        Metadata::from("TOML file", self.path.as_path())
            .interpolater(|_: &Profile, keys: &[&str]| keys.join("."))
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Ok(self.data.clone())
    }
}

/// Environment variables carrying a prefix, `__` separating path segments:
/// with prefix `FOUNDATION_`, `FOUNDATION_CLUSTER__HEARTBEAT_MS=500` sets
/// `cluster.heartbeat_ms` to the integer 500.
///
/// The prefix matches without regard to ASCII case and the rest of the name is
/// lowercased. Values are parsed as figment parses environment variables:
/// booleans, numbers, `[arrays]` and `{dicts}` are recognised, anything else
/// is a string.
pub(super) struct EnvVars {
    prefix: String,
    vars: Vec<(String, String)>,
}

impl EnvVars {
    /// The variables among `vars` that carry `prefix`.
    pub(super) fn new(prefix: String, vars: Vec<(String, String)>) -> Self {
        let mut vars = vars;
        // Sorted, so that the outcome does not depend on the process's order
        // (`P_POOL` comes before `P_POOL__SIZE`, which then wins).
        vars.sort();
        Self { prefix, vars }
    }

    /// The path segments `name` stands for, if it carries the prefix.
    fn segments(&self, name: &str) -> Option<Vec<String>> {
        let name = name.trim();
        let head = name.get(..self.prefix.len())?;
        if !head.eq_ignore_ascii_case(&self.prefix) {
            return None;
        }
        let rest = name.get(self.prefix.len()..)?.to_ascii_lowercase();
        let segments: Vec<String> = rest.split("__").map(str::to_owned).collect();
        if segments.iter().any(String::is_empty) {
            return None;
        }
        Some(segments)
    }
}

impl Provider for EnvVars {
    fn metadata(&self) -> Metadata {
        let name = if self.prefix.is_empty() {
            "environment variable(s)".to_owned()
        } else {
            format!("`{}` environment variable(s)", self.prefix)
        };
        let prefix = self.prefix.clone();
        // Errors then name the variable (`FOUNDATION_POOL__SIZE`), not the path.
        Metadata::named(name).interpolater(move |_: &Profile, keys: &[&str]| {
            let keys: Vec<String> = keys.iter().map(|k| k.to_ascii_uppercase()).collect();
            format!("{prefix}{}", keys.join("__"))
        })
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        let mut root = Dict::new();
        for (name, raw) in &self.vars {
            if let Some(segments) = self.segments(name) {
                let value = raw.parse::<Value>().unwrap_or_else(|never| match never {});
                insert(&mut root, &segments, value);
            }
        }
        Ok(Profile::Default.collect(root))
    }
}

/// Sets `segments` in `dict` to `value`, replacing any non-dict on the way.
fn insert(dict: &mut Dict, segments: &[String], value: Value) {
    match segments {
        [] => {}
        [last] => {
            dict.insert(last.clone(), value);
        }
        [first, rest @ ..] => {
            let entry = dict
                .entry(first.clone())
                .or_insert_with(|| Value::from(Dict::new()));
            if !matches!(entry, Value::Dict(..)) {
                *entry = Value::from(Dict::new());
            }
            if let Value::Dict(_, child) = entry {
                insert(child, rest, value);
            }
        }
    }
}

/// The process environment (variables whose name or value is not UTF-8 are
/// taken lossily, as figment does).
pub(super) fn process_env() -> Vec<(String, String)> {
    std::env::vars_os()
        .map(|(k, v)| {
            (
                k.to_string_lossy().into_owned(),
                v.to_string_lossy().into_owned(),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(prefix: &str, vars: &[(&str, &str)]) -> Dict {
        let vars = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let mut data = EnvVars::new(prefix.to_owned(), vars)
            .data()
            .expect("env data never fails");
        data.remove(&Profile::Default).unwrap_or_default()
    }

    #[test]
    fn prefix_is_stripped_and_double_underscore_nests() {
        let dict = env(
            "APP_",
            &[("APP_CLUSTER__HEARTBEAT_MS", "500"), ("OTHER_X", "1")],
        );
        let value = Value::from(dict);
        assert_eq!(
            value
                .find_ref("cluster.heartbeat_ms")
                .and_then(Value::to_u128),
            Some(500)
        );
        assert!(value.find_ref("other_x").is_none());
        assert!(value.find_ref("x").is_none());
    }

    #[test]
    fn prefix_matches_any_case_and_names_are_lowercased() {
        let value = Value::from(env("app_", &[("APP_Name", "hello")]));
        assert_eq!(
            value.find_ref("name").and_then(Value::as_str),
            Some("hello")
        );
    }

    #[test]
    fn empty_segments_are_skipped() {
        let dict = env(
            "APP_",
            &[("APP_", "1"), ("APP_A____B", "2"), ("APP_A__", "3")],
        );
        assert!(dict.is_empty(), "{dict:?}");
    }

    #[test]
    fn nested_variable_wins_over_scalar_parent() {
        let value = Value::from(env("P_", &[("P_POOL__SIZE", "4"), ("P_POOL", "3")]));
        assert_eq!(
            value.find_ref("pool.size").and_then(Value::to_u128),
            Some(4)
        );
    }

    #[test]
    fn values_are_typed() {
        let value = Value::from(env("P_", &[("P_FLAG", "true"), ("P_LIST", "[1, 2]")]));
        assert_eq!(value.find_ref("flag").and_then(Value::to_bool), Some(true));
        assert!(matches!(value.find_ref("list"), Some(Value::Array(_, items)) if items.len() == 2));
    }
}
