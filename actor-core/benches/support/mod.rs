//! Shared by the benches: read criterion's medians back and print a ratio
//! against the baseline measured in the same run.

use std::path::PathBuf;

/// Criterion's median point estimate (ns) for `group/function`, if present.
fn median_ns(group: &str, function: &str) -> Option<f64> {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let path = target
        .join("criterion")
        .join(group)
        .join(function)
        .join("new/estimates.json");
    let text = std::fs::read_to_string(path).ok()?;
    let json: serde_json::Value = serde_json::from_str(&text).ok()?;
    json["median"]["point_estimate"].as_f64()
}

/// Prints `subject` against `baseline` (both functions of `group`).
pub(crate) fn print_ratio(group: &str, subject: &str, baseline: &str) {
    match (median_ns(group, subject), median_ns(group, baseline)) {
        (Some(s), Some(b)) => println!(
            "\n{group}: {subject} median {:.1} µs vs {baseline} median {:.1} µs: ratio {:.2}\n",
            s / 1000.0,
            b / 1000.0,
            s / b
        ),
        _ => println!("\n{group}: medians not available (run without --test to measure)\n"),
    }
}
