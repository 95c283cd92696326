//! Writes the seed corpus of each fuzz target into `corpus/<target>/`,
//! cargo-fuzz's default corpus directories, from values the wire code
//! builds itself (no hand-written blobs, always of the current wire
//! version):
//!
//! - `envelope`: one sealed envelope of each kind of body;
//! - `sealed_body`: the same envelopes encoded but not sealed, after the
//!   mode byte 0 (raw bytes, sealed by the target);
//! - `payload`: one encoded message of each probe type, after the byte
//!   that picks its tag.
//!
//! Run in fuzz/: `cargo run --example seeds`.

use std::fs;
use std::path::Path;

use actor_cluster::fuzzing;

fn write(target: &str, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(target);
    fs::create_dir_all(&dir)?;
    fs::write(dir.join(format!("seed-{name}")), bytes)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    for (i, envelope) in fuzzing::samples().iter().enumerate() {
        let name = format!("{i:02}-{}", envelope.kind());
        write("envelope", &name, &fuzzing::seal(envelope)?)?;
        let mut raw = vec![0];
        raw.extend(envelope.encode()?);
        write("sealed_body", &name, &raw)?;
    }
    let tags = fuzzing::tags();
    for (tag, bytes) in fuzzing::sample_messages() {
        let pick = tags
            .iter()
            .position(|t| *t == tag)
            .ok_or("a sample of no tag")?;
        let mut input = vec![u8::try_from(pick)?];
        input.extend(bytes);
        write("payload", &format!("{pick:02}"), &input)?;
    }
    println!("seeds written under {}/corpus", env!("CARGO_MANIFEST_DIR"));
    Ok(())
}
