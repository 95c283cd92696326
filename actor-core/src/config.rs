//! Layered, typed configuration with guarded runtime updates.
//!
//! A [`Config<T>`] holds one value of your configuration type `T`. It is built
//! from four layers, each overriding the one before:
//!
//! 1. **defaults**: the `T` you hand to [`Config::builder`];
//! 2. **files**: TOML files, in the order they were added;
//! 3. **environment**: variables with a prefix, `__` separating path segments
//!    (`FOUNDATION_CLUSTER__HEARTBEAT_MS=500` sets `cluster.heartbeat_ms`);
//! 4. **runtime updates**: [`Config::update`], only for paths declared
//!    updatable when the configuration was built.
//!
//! The first three are merged once by [figment] when [`ConfigBuilder::build`]
//! runs; the result must deserialise into `T` (and pass the validator, if you
//! gave one), or `build` fails. From then on, values are read whole
//! ([`Config::current`]) or by dotted path ([`Config::get`]), and changed only
//! by [`Config::update`] and [`Config::rollback`], each of which tells every
//! subscriber ([`Config::subscribe`]) what changed.
//!
//! Paths are dotted field names as `T` serialises them (`pool.size`); a
//! segment may also index an array (`seeds.0`).
//!
//! ```
//! use actor_core::Config;
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Debug, Clone, Default, Serialize, Deserialize)]
//! struct Settings {
//!     pool: Pool,
//! }
//!
//! #[derive(Debug, Clone, Serialize, Deserialize)]
//! struct Pool {
//!     size: u32,
//! }
//!
//! impl Default for Pool {
//!     fn default() -> Self {
//!         Self { size: 4 }
//!     }
//! }
//!
//! # fn main() -> Result<(), actor_core::ConfigError> {
//! let config = Config::builder(Settings::default())
//!     .env_prefix("FOUNDATION_")
//!     // Instead of the process environment, for this example:
//!     .env_from([("FOUNDATION_POOL__SIZE", "8")])
//!     .updatable(["pool.size"])
//!     .validator(|s: &Settings| {
//!         if s.pool.size == 0 {
//!             return Err("the pool needs at least one worker".into());
//!         }
//!         Ok(())
//!     })
//!     .build()?;
//!
//! assert_eq!(config.get::<u32>("pool.size")?, 8);
//!
//! let mut changes = config.subscribe();
//! config.update("pool.size", 16)?;
//! assert_eq!(config.current().pool.size, 16);
//! assert_eq!(changes.try_recv().map(|c| c.new).ok(), Some(16.into()));
//!
//! assert!(config.update("pool.size", 0).is_err()); // the validator says no
//! config.rollback()?;
//! assert_eq!(config.current().pool.size, 8);
//! # Ok(()) }
//! ```

mod sources;
mod tree;

use std::collections::VecDeque;
use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use figment::providers::Serialized;
use figment::Figment;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use tokio::sync::broadcast;

use sources::{EnvVars, TomlFile};

/// How many changes a subscriber may fall behind before it misses some.
const CHANGE_CAPACITY: usize = 64;

/// How many updates [`Config::rollback`] can undo unless
/// [`ConfigBuilder::history`] says otherwise.
const DEFAULT_HISTORY: usize = 16;

/// What can go wrong when building, reading or changing a [`Config`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A configuration file could not be read or is not valid TOML.
    #[error("config file `{}`: {reason}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// Why it could not be used.
        reason: String,
    },
    /// The layers together do not make a valid configuration (a field of the
    /// wrong type, a missing field, or a value the validator rejects).
    #[error("invalid configuration: {reason}")]
    Load {
        /// What was wrong, and where it came from when known.
        reason: String,
    },
    /// No value exists at this path.
    #[error("no configuration value at `{path}`")]
    UnknownPath {
        /// The path asked for.
        path: String,
    },
    /// The value at this path does not have the type asked for.
    #[error("configuration value at `{path}` has another type: {reason}")]
    WrongType {
        /// The path asked for.
        path: String,
        /// What serde reported.
        reason: String,
    },
    /// The path was not declared updatable when the configuration was built.
    #[error("configuration path `{path}` cannot be updated at runtime")]
    NotUpdatable {
        /// The path of the refused update.
        path: String,
    },
    /// An update was refused because the result would not be a valid
    /// configuration; nothing was changed.
    #[error("update of `{path}` rejected: {reason}")]
    Rejected {
        /// The path of the refused update.
        path: String,
        /// Why: a type mismatch, or the validator's message.
        reason: String,
    },
    /// [`Config::rollback`] was called with no update left to undo.
    #[error("no configuration update to roll back")]
    NothingToRollBack,
}

/// Why a [`Change`] happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChangeKind {
    /// A successful [`Config::update`].
    Update,
    /// A [`Config::rollback`] undoing an earlier update.
    Rollback,
}

/// One change of the configuration, as sent to subscribers.
///
/// `old` and `new` are the values at `path` as `T` serialises them, so they
/// reflect the stored configuration (after any normalisation `T`'s serde
/// implementation does), not necessarily the value passed to `update`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Change {
    /// The path that changed.
    pub path: String,
    /// Its value before.
    pub old: Value,
    /// Its value now.
    pub new: Value,
    /// What caused it.
    pub kind: ChangeKind,
}

type Validator<T> = Arc<dyn Fn(&T) -> Result<(), String> + Send + Sync>;

/// A handle to a layered configuration of type `T`.
///
/// Cloning is cheap (an `Arc`); every clone sees and makes the same changes,
/// so one handle can be shared by any number of tasks or actors. Reads take a
/// shared lock, updates an exclusive one; neither blocks for long, and none of
/// the methods is `async`.
pub struct Config<T> {
    inner: Arc<Inner<T>>,
}

struct Inner<T> {
    state: RwLock<State<T>>,
    updatable: Vec<String>,
    validator: Option<Validator<T>>,
    history_limit: usize,
    changes: broadcast::Sender<Change>,
}

struct State<T> {
    value: T,
    /// `value` serialised: what paths are resolved against.
    tree: Value,
    /// The state before each of the most recent updates, oldest first.
    history: VecDeque<Snapshot<T>>,
}

struct Snapshot<T> {
    path: String,
    value: T,
    tree: Value,
}

impl<T> Clone for Config<T> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<T> fmt::Debug for Config<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.inner.read();
        f.debug_struct("Config")
            .field("current", &state.tree)
            .field("updatable", &self.inner.updatable)
            .field("history", &state.history.len())
            .finish_non_exhaustive()
    }
}

impl<T> Inner<T> {
    // A panic while the lock is held (say, in a user's validator) happens
    // before anything is written, so a poisoned state is still consistent.
    fn read(&self) -> RwLockReadGuard<'_, State<T>> {
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, State<T>> {
        self.state.write().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<T> Config<T>
where
    T: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
{
    /// Starts building a configuration whose lowest layer is `defaults`.
    pub fn builder(defaults: T) -> ConfigBuilder<T> {
        ConfigBuilder {
            defaults,
            files: Vec::new(),
            env_prefix: None,
            env_vars: None,
            overrides: None,
            updatable: Vec::new(),
            validator: None,
            history_limit: DEFAULT_HISTORY,
        }
    }

    /// The whole configuration as it is now.
    #[must_use]
    pub fn current(&self) -> T {
        self.inner.read().value.clone()
    }

    /// The value at a dotted `path` (`"cluster.heartbeat_ms"`), as a `V`.
    ///
    /// # Errors
    ///
    /// [`ConfigError::UnknownPath`] if there is no value at `path`;
    /// [`ConfigError::WrongType`] if the value there is not a `V`.
    pub fn get<V: DeserializeOwned>(&self, path: &str) -> Result<V, ConfigError> {
        let node = {
            let state = self.inner.read();
            tree::find(&state.tree, path).cloned()
        };
        let node = node.ok_or_else(|| ConfigError::UnknownPath {
            path: path.to_owned(),
        })?;
        serde_json::from_value(node).map_err(|e| ConfigError::WrongType {
            path: path.to_owned(),
            reason: e.to_string(),
        })
    }

    /// The paths declared updatable when the configuration was built.
    ///
    /// A path under one of them (`pool.size` under `pool`) is updatable too.
    #[must_use]
    pub fn updatable_paths(&self) -> &[String] {
        &self.inner.updatable
    }

    /// Sets the value at `path` to `value`, and tells subscribers.
    ///
    /// The update is checked first: the whole configuration with the new
    /// value must deserialise back into `T` and pass the validator. If it does
    /// not, nothing changes. An update that leaves the configuration as it was
    /// succeeds without a notification or a history entry.
    ///
    /// # Errors
    ///
    /// [`ConfigError::NotUpdatable`] if `path` was not declared updatable;
    /// [`ConfigError::UnknownPath`] if there is no value at `path` to replace;
    /// [`ConfigError::Rejected`] if the result would be no valid `T`, or the
    /// validator refuses it (the reason says which).
    pub fn update<V: Serialize>(&self, path: &str, value: V) -> Result<(), ConfigError> {
        let inner = &self.inner;
        if !inner.updatable.iter().any(|p| tree::covers(p, path)) {
            return Err(ConfigError::NotUpdatable {
                path: path.to_owned(),
            });
        }
        let rejected = |reason: String| ConfigError::Rejected {
            path: path.to_owned(),
            reason,
        };
        let value = serde_json::to_value(value).map_err(|e| rejected(e.to_string()))?;

        let mut state = inner.write();
        let mut candidate = state.tree.clone();
        let slot =
            tree::find_mut(&mut candidate, path).ok_or_else(|| ConfigError::UnknownPath {
                path: path.to_owned(),
            })?;
        *slot = value;
        let new_value: T =
            serde_json::from_value(candidate).map_err(|e| rejected(e.to_string()))?;
        if let Some(validate) = &inner.validator {
            validate(&new_value).map_err(|reason| rejected(format!("validator: {reason}")))?;
        }
        // Stored as `T` serialises it, so that reads see what `T` holds.
        let new_tree = serde_json::to_value(&new_value).map_err(|e| rejected(e.to_string()))?;
        if new_tree == state.tree {
            return Ok(());
        }

        let old = tree::find(&state.tree, path)
            .cloned()
            .unwrap_or(Value::Null);
        let new = tree::find(&new_tree, path).cloned().unwrap_or(Value::Null);
        let old_value = std::mem::replace(&mut state.value, new_value);
        let old_tree = std::mem::replace(&mut state.tree, new_tree);
        if inner.history_limit > 0 {
            if state.history.len() == inner.history_limit {
                state.history.pop_front();
            }
            state.history.push_back(Snapshot {
                path: path.to_owned(),
                value: old_value,
                tree: old_tree,
            });
        }
        // Paths only: values may be secrets.
        tracing::debug!(path, "configuration updated");
        // Sent under the lock, so subscribers see changes in the order made.
        // No subscribers is not an error.
        let _ = inner.changes.send(Change {
            path: path.to_owned(),
            old,
            new,
            kind: ChangeKind::Update,
        });
        Ok(())
    }

    /// Undoes the most recent update not yet undone, and tells subscribers.
    ///
    /// Repeated calls walk back through earlier updates, as many as the
    /// builder's [`history`](ConfigBuilder::history) keeps. The restored
    /// state was valid when it was current, so it is not validated again.
    ///
    /// # Errors
    ///
    /// [`ConfigError::NothingToRollBack`] if no update is left to undo.
    pub fn rollback(&self) -> Result<(), ConfigError> {
        let mut state = self.inner.write();
        let snapshot = state
            .history
            .pop_back()
            .ok_or(ConfigError::NothingToRollBack)?;
        let old = tree::find(&state.tree, &snapshot.path)
            .cloned()
            .unwrap_or(Value::Null);
        let new = tree::find(&snapshot.tree, &snapshot.path)
            .cloned()
            .unwrap_or(Value::Null);
        state.value = snapshot.value;
        state.tree = snapshot.tree;
        tracing::debug!(path = %snapshot.path, "configuration update rolled back");
        let _ = self.inner.changes.send(Change {
            path: snapshot.path,
            old,
            new,
            kind: ChangeKind::Rollback,
        });
        Ok(())
    }

    /// A receiver of every later [`Change`], in the order they are made.
    ///
    /// Changes are sent before `update` or `rollback` returns, so
    /// `try_recv` right after one sees it. A receiver that falls more than
    /// 64 changes behind gets [`broadcast::error::RecvError::Lagged`] and
    /// should re-read [`current`](Self::current).
    #[must_use]
    pub fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.inner.changes.subscribe()
    }
}

/// Builds a [`Config`]; from [`Config::builder`].
#[must_use]
pub struct ConfigBuilder<T> {
    defaults: T,
    files: Vec<(PathBuf, bool)>,
    env_prefix: Option<String>,
    env_vars: Option<Vec<(String, String)>>,
    overrides: Option<serde_json::Value>,
    updatable: Vec<String>,
    validator: Option<Validator<T>>,
    history_limit: usize,
}

impl<T> fmt::Debug for ConfigBuilder<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConfigBuilder")
            .field("files", &self.files)
            .field("env_prefix", &self.env_prefix)
            .field("env_vars", &self.env_vars.as_ref().map(Vec::len))
            .field("updatable", &self.updatable)
            .field("validator", &self.validator.is_some())
            .field("history", &self.history_limit)
            .finish_non_exhaustive()
    }
}

impl<T> ConfigBuilder<T>
where
    T: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
{
    /// Adds a TOML file that must exist, above the defaults and any file
    /// added before it.
    pub fn file(mut self, path: impl Into<PathBuf>) -> Self {
        self.files.push((path.into(), true));
        self
    }

    /// Adds a TOML file that is skipped if it does not exist (but is still an
    /// error if it exists and cannot be read or parsed).
    pub fn file_optional(mut self, path: impl Into<PathBuf>) -> Self {
        self.files.push((path.into(), false));
        self
    }

    /// Adds the environment layer: variables whose name starts with `prefix`
    /// (in any ASCII case), the rest of the name lowercased and split at `__`
    /// into a path. `FOUNDATION_CLUSTER__HEARTBEAT_MS=500` with prefix
    /// `FOUNDATION_` sets `cluster.heartbeat_ms`. Values are parsed as figment
    /// parses environment values: `true`, `500`, `[1, 2]` are typed, anything
    /// else is a string.
    ///
    /// The process environment is read when [`build`](Self::build) runs,
    /// unless [`env_from`](Self::env_from) supplies the variables instead.
    pub fn env_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.env_prefix = Some(prefix.into());
        self
    }

    /// Makes the environment layer read these variables instead of the
    /// process environment (for tests, or a host that keeps its own).
    ///
    /// The [prefix](Self::env_prefix) still applies; without one, every
    /// variable given here is a path.
    pub fn env_from<I, K, V>(mut self, vars: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        self.env_vars = Some(
            vars.into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        );
        self
    }

    /// Adds the top layer, above the environment: the fields of `values`
    /// (a serialisable map or struct; fields it leaves out, or sets to
    /// null, keep the layers below), typically the command-line flags a
    /// user gave. [`build`](Self::build) fails with [`ConfigError::Load`]
    /// if `values` does not serialise to a map.
    pub fn overrides(mut self, values: impl Serialize) -> Self {
        self.overrides = Some(serde_json::to_value(values).unwrap_or(Value::Null));
        self
    }

    /// Declares paths that [`Config::update`] may change; each one covers the
    /// paths under it too. Calls add up.
    pub fn updatable<I, S>(mut self, paths: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.updatable.extend(paths.into_iter().map(Into::into));
        self
    }

    /// Sets a check every configuration must pass, at build time and on each
    /// update; `Err` carries the reason shown to the caller.
    ///
    /// It runs while the configuration is locked for the update, so it must
    /// not call back into the same [`Config`] (that would deadlock).
    pub fn validator<F>(mut self, validator: F) -> Self
    where
        F: Fn(&T) -> Result<(), String> + Send + Sync + 'static,
    {
        self.validator = Some(Arc::new(validator));
        self
    }

    /// How many updates [`Config::rollback`] can undo (16 unless set; 0 turns
    /// rollback off). Older ones are forgotten.
    pub fn history(mut self, limit: usize) -> Self {
        self.history_limit = limit;
        self
    }

    /// Merges the layers and checks the result.
    ///
    /// # Errors
    ///
    /// [`ConfigError::File`] if a required file is missing, or any file
    /// cannot be read or is not valid TOML; [`ConfigError::Load`] if the
    /// merged layers do not deserialise into `T` (the reason names the key
    /// and the layer it came from) or the validator rejects them;
    /// [`ConfigError::UnknownPath`] if a path declared updatable does not
    /// exist in the configuration.
    pub fn build(self) -> Result<Config<T>, ConfigError> {
        let load = |reason: String| ConfigError::Load { reason };

        let mut figment = Figment::from(Serialized::defaults(&self.defaults));
        for (path, required) in &self.files {
            if let Some(file) = TomlFile::load(path, *required)? {
                figment = figment.merge(file);
            }
        }
        if self.env_prefix.is_some() || self.env_vars.is_some() {
            let vars = self.env_vars.unwrap_or_else(sources::process_env);
            figment = figment.merge(EnvVars::new(self.env_prefix.unwrap_or_default(), vars));
        }
        if let Some(overrides) = self.overrides {
            let Value::Object(fields) = overrides else {
                return Err(load("the overrides are not a map of fields".into()));
            };
            let given: serde_json::Map<String, Value> =
                fields.into_iter().filter(|(_, v)| !v.is_null()).collect();
            figment = figment.merge(Serialized::defaults(given));
        }

        let value: T = figment.extract().map_err(|e| load(e.to_string()))?;
        if let Some(validate) = &self.validator {
            validate(&value).map_err(|reason| load(format!("validator: {reason}")))?;
        }
        let tree = serde_json::to_value(&value).map_err(|e| load(e.to_string()))?;
        if let Some(path) = self
            .updatable
            .iter()
            .find(|p| tree::find(&tree, p).is_none())
        {
            return Err(ConfigError::UnknownPath { path: path.clone() });
        }

        let (changes, _) = broadcast::channel(CHANGE_CAPACITY);
        Ok(Config {
            inner: Arc::new(Inner {
                state: RwLock::new(State {
                    value,
                    tree,
                    history: VecDeque::new(),
                }),
                updatable: self.updatable,
                validator: self.validator,
                history_limit: self.history_limit,
                changes,
            }),
        })
    }
}
