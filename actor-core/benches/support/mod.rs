//! Shared by the benches: run criterion into a known directory, then read
//! its medians back and print each measurement against the baseline
//! measured in the same run.

#![allow(clippy::print_stdout)]

use std::path::{Path, PathBuf};

use criterion::Criterion;

fn output_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("criterion")
}

/// A criterion configured from the command line, writing under this
/// bench's target directory; stale figures of `group` are removed first so
/// they are never reported as this run's.
pub(crate) fn criterion(group: &str) -> Criterion {
    let _ = std::fs::remove_dir_all(output_dir().join(group));
    Criterion::default()
        .output_directory(&output_dir())
        .configure_from_args()
}

/// The median (ns) criterion measured for `group/id` in this run.
fn median_ns(group: &str, id: &str) -> Option<f64> {
    let path = output_dir().join(group).join(id).join("new/estimates.json");
    let text = std::fs::read_to_string(path).ok()?;
    let json: serde_json::Value = serde_json::from_str(&text).ok()?;
    json["median"]["point_estimate"].as_f64()
}

/// Prints `what: ours vs baseline, ratio of medians` for each row
/// `(what, ours, baseline)` of `group`.
pub(crate) fn print_ratios(group: &str, rows: &[(&str, &str, &str)]) {
    println!();
    for (what, ours, baseline) in rows {
        match (median_ns(group, ours), median_ns(group, baseline)) {
            (Some(o), Some(b)) => println!(
                "{what}: {o:.1} ns vs {b:.1} ns baseline, ratio of medians {:.2}",
                o / b
            ),
            _ => println!("{what}: no medians (not measured in this mode)"),
        }
    }
}
