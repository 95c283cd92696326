//! `foundation node --config FILE`: settings from a TOML file under the
//! environment and the flags; `config` shows them with the secrets
//! hidden; `config set attributes` changes the node's placement
//! attributes while it runs, seen by the other node; a key that cannot
//! change at run time, or a bad file, is refused with the key named.

mod support;

use serde_json::Value;
use support::{cluster, NodeSpec};

/// The labels of the name `name` in a `names` reply.
fn labels<'a>(names: &'a Value, name: &str) -> &'a Value {
    names["names"]
        .as_array()
        .and_then(|all| all.iter().find(|n| n["name"] == name))
        .map_or(&Value::Null, |n| &n["labels"])
}

#[tokio::test]
async fn a_config_file_sets_what_flags_do_not_and_attributes_change_live() {
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("node.toml");
    std::fs::write(
        &file,
        r#"
name = "from-file"
failure_timeout = "3s"
counters = ["tally"]
http_token = "not-shown"
[attributes]
zone = "eu"
"#,
    )
    .expect("write the file");
    let config = format!("--config={}", file.display());
    let mut nodes = cluster(vec![NodeSpec::new("a").arg(&config), NodeSpec::new("b")]).await;

    // The flag's name wins over the file's; the rest comes from the file.
    let shown = nodes[0].command("config").await;
    let settings = &shown["settings"];
    assert_eq!(settings["name"], "a", "{shown}");
    assert_eq!(settings["failure_timeout"], "3s", "{shown}");
    assert_eq!(settings["counters"][0], "tally", "{shown}");
    assert_eq!(settings["cookie"], "(hidden)", "{shown}");
    assert_eq!(settings["http_token"], "(hidden)", "{shown}");
    assert_eq!(shown["updatable"][0], "attributes", "{shown}");
    let asked = nodes[1].command("ask tally add 2").await;
    assert_eq!(asked["ok"], 2, "the file's counter runs: {asked}");

    // b sees a's attributes, from the file, then as changed at run time.
    let names = nodes[1]
        .command_until("names", |r| labels(r, "agents@a")["node.zone"] == "eu")
        .await;
    assert_eq!(labels(&names, "agents@a")["node.zone"], "eu");
    let set = nodes[0]
        .command("config set attributes zone=us,disk=ssd")
        .await;
    assert_eq!(set["attributes"]["zone"], "us", "{set}");
    let names = nodes[1]
        .command_until("names", |r| labels(r, "agents@a")["node.zone"] == "us")
        .await;
    assert_eq!(labels(&names, "agents@a")["node.disk"], "ssd", "{names}");
    let shown = nodes[0].command("config").await;
    assert_eq!(shown["settings"]["attributes"]["zone"], "us", "{shown}");

    let refused = nodes[0].command("config set cluster other").await;
    assert_eq!(refused["reply"], "error", "{refused}");
    assert!(
        refused["message"]
            .as_str()
            .is_some_and(|m| m.contains("`cluster` cannot change")),
        "{refused}"
    );
}

#[tokio::test]
async fn a_bad_config_file_is_refused_in_one_line_naming_the_key() {
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("node.toml");
    std::fs::write(&file, "name = \"a\"\nfailure_timeout = \"soon\"\n").expect("write");
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_foundation"))
        .args(["node", "--cookie", "c", "--config"])
        .arg(&file)
        .env("RUST_BACKTRACE", "1")
        .output()
        .await
        .expect("foundation runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    let last = stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("error: ") && last.contains("failure_timeout"),
        "{stderr}"
    );
    assert!(!stderr.contains("stack backtrace"), "{stderr}");
}
