//! Layered configuration: precedence of the layers, typed reads by path,
//! guarded runtime updates, change notifications and rollback.
//!
//! The environment layer is fed through `env_from` rather than by setting
//! process variables, which is racy across test threads.

use std::path::PathBuf;

use actor_core::{Change, ChangeKind, Config, ConfigError};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::broadcast::error::TryRecvError;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Settings {
    name: String,
    pool: Pool,
    cluster: Cluster,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Pool {
    size: u32,
    label: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Cluster {
    heartbeat_ms: u64,
    seeds: Vec<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            name: "node".into(),
            pool: Pool {
                size: 4,
                label: "workers".into(),
            },
            cluster: Cluster {
                heartbeat_ms: 1000,
                seeds: vec!["a:1".into(), "b:2".into()],
            },
        }
    }
}

/// The pool must not be empty.
fn pool_not_empty(s: &Settings) -> Result<(), String> {
    if s.pool.size == 0 {
        Err("pool.size must be at least 1".into())
    } else {
        Ok(())
    }
}

/// A configuration with `pool.size` and `cluster.heartbeat_ms` updatable and
/// the non-empty-pool validator.
fn updatable_config() -> Config<Settings> {
    Config::builder(Settings::default())
        .updatable(["pool.size", "cluster.heartbeat_ms"])
        .validator(pool_not_empty)
        .build()
        .expect("defaults are valid")
}

/// A TOML file holding `contents` in a fresh temporary directory.
fn toml_file(contents: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("foundation.toml");
    std::fs::write(&path, contents).expect("write config file");
    (dir, path)
}

#[test]
fn defaults_alone_give_the_defaults() {
    let config = Config::builder(Settings::default()).build().expect("build");
    assert_eq!(config.current(), Settings::default());
    assert!(config.updatable_paths().is_empty());
}

#[test]
fn each_layer_overrides_the_one_below() {
    let (_dir, path) = toml_file(
        r#"
        name = "from-file"
        [pool]
        size = 5
        [cluster]
        heartbeat_ms = 2000
        "#,
    );
    let config = Config::builder(Settings::default())
        .file(&path)
        .env_prefix("FOUNDATION_")
        .env_from([
            ("FOUNDATION_CLUSTER__HEARTBEAT_MS", "500"),
            ("FOUNDATION_POOL__SIZE", "6"),
        ])
        .updatable(["pool.size"])
        .build()
        .expect("build");

    // defaults < file: `pool.label` only in the defaults, `name` from the file.
    assert_eq!(config.get::<String>("pool.label").unwrap(), "workers");
    assert_eq!(config.get::<String>("name").unwrap(), "from-file");
    // file < env: both set `cluster.heartbeat_ms`.
    assert_eq!(config.get::<u64>("cluster.heartbeat_ms").unwrap(), 500);
    // env < update.
    assert_eq!(config.get::<u32>("pool.size").unwrap(), 6);
    config.update("pool.size", 7).expect("update");
    assert_eq!(config.current().pool.size, 7);
}

#[test]
fn overrides_sit_above_the_environment_and_leave_the_rest() {
    let (_dir, path) = toml_file("name = \"from-file\"\n[pool]\nsize = 5\n");
    let config = Config::builder(Settings::default())
        .file(&path)
        .env_prefix("FOUNDATION_")
        .env_from([
            ("FOUNDATION_POOL__SIZE", "6"),
            ("FOUNDATION_NAME", "from-env"),
        ])
        // Flags given: the pool size; not given (null): the name.
        .overrides(json!({ "pool": { "size": 8 }, "name": null }))
        .build()
        .expect("build");
    assert_eq!(config.current().pool.size, 8);
    assert_eq!(config.current().name, "from-env");
    assert_eq!(config.current().pool.label, "workers");
    let refused = Config::builder(Settings::default()).overrides(3).build();
    assert!(
        matches!(refused, Err(ConfigError::Load { .. })),
        "{refused:?}"
    );
}

#[test]
fn env_vars_without_the_prefix_are_ignored_and_the_prefix_is_case_blind() {
    let config = Config::builder(Settings::default())
        .env_prefix("FOUNDATION_")
        .env_from([
            ("OTHER_POOL__SIZE", "99"),
            ("POOL__SIZE", "98"),
            ("foundation_name", "lower"),
        ])
        .build()
        .expect("build");
    assert_eq!(config.current().pool.size, 4);
    assert_eq!(config.current().name, "lower");
}

#[test]
fn env_prefix_reads_the_process_environment() {
    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
    struct Package {
        name: String,
    }
    // Cargo sets CARGO_PKG_NAME for the tests it runs; read it the ordinary
    // way to know what to expect when the binary is run some other way.
    let expected = std::env::var("CARGO_PKG_NAME").unwrap_or_default();
    let config = Config::builder(Package::default())
        .env_prefix("CARGO_PKG_")
        .build()
        .expect("build");
    assert_eq!(config.current().name, expected);
}

#[test]
fn values_are_read_typed_by_path() {
    let config = Config::builder(Settings::default()).build().expect("build");
    assert_eq!(config.get::<u32>("pool.size").unwrap(), 4);
    assert_eq!(config.get::<u64>("cluster.heartbeat_ms").unwrap(), 1000);
    assert_eq!(config.get::<String>("cluster.seeds.1").unwrap(), "b:2");
    assert_eq!(
        config.get::<Vec<String>>("cluster.seeds").unwrap(),
        vec!["a:1".to_owned(), "b:2".to_owned()]
    );
    assert_eq!(
        config.get::<Pool>("pool").unwrap(),
        Settings::default().pool
    );
    assert_eq!(
        config.get::<serde_json::Value>("pool").unwrap(),
        json!({ "size": 4, "label": "workers" })
    );
}

#[test]
fn an_unknown_path_is_an_error_naming_it() {
    let config = Config::builder(Settings::default()).build().expect("build");
    for path in [
        "pool.missing",
        "missing",
        "pool.size.deeper",
        "cluster.seeds.2",
        "",
        "pool..size",
    ] {
        match config.get::<u32>(path) {
            Err(ConfigError::UnknownPath { path: p }) => assert_eq!(p, path),
            other => panic!("{path:?}: expected UnknownPath, got {other:?}"),
        }
    }
    let message = config.get::<u32>("pool.missing").unwrap_err().to_string();
    assert!(message.contains("`pool.missing`"), "{message}");
}

#[test]
fn a_wrong_type_is_an_error_naming_the_path() {
    let config = Config::builder(Settings::default()).build().expect("build");
    let err = config.get::<u32>("pool.label").unwrap_err();
    assert!(
        matches!(&err, ConfigError::WrongType { path, .. } if path == "pool.label"),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(message.contains("`pool.label`"), "{message}");
    assert!(message.contains("expected u32"), "{message}");

    assert!(matches!(
        config.get::<u8>("cluster.heartbeat_ms"),
        Err(ConfigError::WrongType { .. })
    ));
}

#[test]
fn updating_a_path_not_declared_updatable_is_refused() {
    let config = updatable_config();
    let mut changes = config.subscribe();

    let err = config.update("pool.label", "other").unwrap_err();
    assert!(
        matches!(&err, ConfigError::NotUpdatable { path } if path == "pool.label"),
        "{err:?}"
    );
    assert!(err.to_string().contains("`pool.label`"));
    assert!(matches!(
        config.update("pool", json!({ "size": 2, "label": "x" })),
        Err(ConfigError::NotUpdatable { .. })
    ));

    assert_eq!(config.current(), Settings::default());
    assert_eq!(changes.try_recv(), Err(TryRecvError::Empty));
}

#[test]
fn an_update_of_the_wrong_type_is_rejected_and_changes_nothing() {
    let config = updatable_config();
    let mut changes = config.subscribe();

    let err = config.update("pool.size", "lots").unwrap_err();
    match &err {
        ConfigError::Rejected { path, reason } => {
            assert_eq!(path, "pool.size");
            assert!(reason.contains("expected u32"), "{reason}");
        }
        other => panic!("expected Rejected, got {other:?}"),
    }
    assert!(err.to_string().contains("`pool.size`"));
    assert!(matches!(
        config.update("pool.size", -1),
        Err(ConfigError::Rejected { .. })
    ));

    assert_eq!(config.current(), Settings::default());
    assert_eq!(config.get::<u32>("pool.size").unwrap(), 4);
    assert_eq!(changes.try_recv(), Err(TryRecvError::Empty));
    assert!(matches!(
        config.rollback(),
        Err(ConfigError::NothingToRollBack)
    ));
}

#[test]
fn an_update_the_validator_refuses_is_rejected_and_changes_nothing() {
    let config = updatable_config();
    let mut changes = config.subscribe();

    let err = config.update("pool.size", 0).unwrap_err();
    match &err {
        ConfigError::Rejected { path, reason } => {
            assert_eq!(path, "pool.size");
            assert!(reason.contains("pool.size must be at least 1"), "{reason}");
        }
        other => panic!("expected Rejected, got {other:?}"),
    }

    assert_eq!(config.current(), Settings::default());
    assert_eq!(changes.try_recv(), Err(TryRecvError::Empty));
    assert!(matches!(
        config.rollback(),
        Err(ConfigError::NothingToRollBack)
    ));
}

#[test]
fn subscribers_are_told_the_old_and_new_value() {
    let config = updatable_config();
    let mut first = config.subscribe();
    let mut second = config.clone().subscribe();

    config.update("cluster.heartbeat_ms", 250).expect("update");
    config.update("pool.size", 8).expect("update");

    for rx in [&mut first, &mut second] {
        let change: Change = rx.try_recv().expect("first change");
        assert_eq!(change.path, "cluster.heartbeat_ms");
        assert_eq!(change.old, json!(1000));
        assert_eq!(change.new, json!(250));
        assert_eq!(change.kind, ChangeKind::Update);

        let change = rx.try_recv().expect("second change");
        assert_eq!(
            (change.path.as_str(), change.old, change.new),
            ("pool.size", json!(4), json!(8))
        );
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    }
}

#[test]
fn an_update_that_changes_nothing_tells_nobody() {
    let config = updatable_config();
    let mut changes = config.subscribe();
    config.update("pool.size", 4).expect("same value is fine");
    assert_eq!(changes.try_recv(), Err(TryRecvError::Empty));
    assert!(matches!(
        config.rollback(),
        Err(ConfigError::NothingToRollBack)
    ));
}

#[test]
fn rollback_restores_the_previous_value_and_notifies() {
    let config = updatable_config();
    config.update("pool.size", 8).expect("update");
    config.update("cluster.heartbeat_ms", 300).expect("update");
    let mut changes = config.subscribe();

    config.rollback().expect("undo heartbeat");
    assert_eq!(config.get::<u64>("cluster.heartbeat_ms").unwrap(), 1000);
    assert_eq!(config.get::<u32>("pool.size").unwrap(), 8);
    let change = changes.try_recv().expect("notified");
    assert_eq!(change.path, "cluster.heartbeat_ms");
    assert_eq!(change.old, json!(300));
    assert_eq!(change.new, json!(1000));
    assert_eq!(change.kind, ChangeKind::Rollback);

    config.rollback().expect("undo pool size");
    assert_eq!(config.current(), Settings::default());
    let change = changes.try_recv().expect("notified");
    assert_eq!(
        (change.path.as_str(), change.old, change.new),
        ("pool.size", json!(8), json!(4))
    );

    assert!(matches!(
        config.rollback(),
        Err(ConfigError::NothingToRollBack)
    ));
    assert_eq!(changes.try_recv(), Err(TryRecvError::Empty));
}

#[test]
fn rollback_with_nothing_to_undo_is_an_error() {
    let config = updatable_config();
    let err = config.rollback().unwrap_err();
    assert!(matches!(err, ConfigError::NothingToRollBack));
    assert_eq!(config.current(), Settings::default());
}

#[test]
fn history_keeps_only_the_most_recent_updates() {
    let config = Config::builder(Settings::default())
        .updatable(["pool.size"])
        .history(2)
        .build()
        .expect("build");
    for size in [5, 6, 7] {
        config.update("pool.size", size).expect("update");
    }
    config.rollback().expect("7 -> 6");
    config.rollback().expect("6 -> 5");
    assert_eq!(config.current().pool.size, 5);
    assert!(matches!(
        config.rollback(),
        Err(ConfigError::NothingToRollBack)
    ));
}

#[test]
fn an_updatable_path_covers_the_paths_under_it() {
    let config = Config::builder(Settings::default())
        .updatable(["pool"])
        .build()
        .expect("build");
    assert_eq!(config.updatable_paths(), ["pool".to_owned()]);

    config.update("pool.size", 2).expect("under `pool`");
    config
        .update(
            "pool",
            Pool {
                size: 3,
                label: "new".into(),
            },
        )
        .expect("`pool` itself");
    assert_eq!(
        config.current().pool,
        Pool {
            size: 3,
            label: "new".into()
        }
    );

    assert!(matches!(
        config.update("name", "x"),
        Err(ConfigError::NotUpdatable { .. })
    ));
    assert!(matches!(
        config.update("pools", 1),
        Err(ConfigError::NotUpdatable { .. })
    ));
    // Updates replace values; they do not add new ones.
    assert!(matches!(
        config.update("pool.extra", 1),
        Err(ConfigError::UnknownPath { path }) if path == "pool.extra"
    ));
}

#[test]
fn a_declared_updatable_path_must_exist() {
    let err = Config::builder(Settings::default())
        .updatable(["pool.sise"])
        .build()
        .unwrap_err();
    assert!(matches!(err, ConfigError::UnknownPath { path } if path == "pool.sise"));
}

#[test]
fn the_validator_also_checks_the_loaded_configuration() {
    let err = Config::builder(Settings::default())
        .env_prefix("FOUNDATION_")
        .env_from([("FOUNDATION_POOL__SIZE", "0")])
        .validator(pool_not_empty)
        .build()
        .unwrap_err();
    match err {
        ConfigError::Load { reason } => {
            assert!(reason.contains("pool.size must be at least 1"), "{reason}")
        }
        other => panic!("expected Load, got {other:?}"),
    }
}

#[test]
fn a_malformed_file_is_an_error_naming_it() {
    let (_dir, path) = toml_file("[pool\nsize = = 3\n");
    let err = Config::builder(Settings::default())
        .file(&path)
        .build()
        .unwrap_err();
    match &err {
        ConfigError::File { path: p, reason } => {
            assert_eq!(p, &path);
            assert!(reason.contains("malformed TOML"), "{reason}");
        }
        other => panic!("expected File, got {other:?}"),
    }
    let message = err.to_string();
    assert!(message.contains(&path.display().to_string()), "{message}");

    // Optional only means "may be absent", not "may be broken".
    let err = Config::builder(Settings::default())
        .file_optional(&path)
        .build()
        .unwrap_err();
    assert!(matches!(err, ConfigError::File { .. }), "{err:?}");
}

#[test]
fn a_missing_file_is_an_error_unless_optional() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("absent.toml");

    let err = Config::builder(Settings::default())
        .file(&path)
        .build()
        .unwrap_err();
    assert!(
        matches!(&err, ConfigError::File { path: p, .. } if p == &path),
        "{err:?}"
    );

    let config = Config::builder(Settings::default())
        .file_optional(&path)
        .build()
        .expect("an optional file may be absent");
    assert_eq!(config.current(), Settings::default());
}

#[test]
fn a_value_of_the_wrong_type_in_a_file_names_the_file_and_key() {
    let (_dir, path) = toml_file("[pool]\nsize = \"many\"\n");
    let err = Config::builder(Settings::default())
        .file(&path)
        .build()
        .unwrap_err();
    let ConfigError::Load { reason } = err else {
        panic!("expected Load, got {err:?}");
    };
    assert!(reason.contains("\"pool.size\""), "{reason}");
    assert!(reason.contains(&path.display().to_string()), "{reason}");
}

#[test]
fn a_value_of_the_wrong_type_in_the_environment_names_the_variable() {
    let err = Config::builder(Settings::default())
        .env_prefix("FOUNDATION_")
        .env_from([("FOUNDATION_POOL__SIZE", "many")])
        .build()
        .unwrap_err();
    let ConfigError::Load { reason } = err else {
        panic!("expected Load, got {err:?}");
    };
    assert!(reason.contains("FOUNDATION_POOL__SIZE"), "{reason}");
}

#[tokio::test]
async fn clones_share_one_configuration_across_tasks() {
    let config = updatable_config();
    let mut changes = config.subscribe();

    let handle = config.clone();
    tokio::spawn(async move { handle.update("pool.size", 12) })
        .await
        .expect("task ran")
        .expect("update");

    assert_eq!(config.current().pool.size, 12);
    let change = changes.recv().await.expect("notified");
    assert_eq!(change.new, json!(12));
}
