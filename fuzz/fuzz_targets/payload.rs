//! Arbitrary bytes as the payload of a remote tell or ask for a server, and
//! as the reply to an ask: the first byte picks one of the probe server's
//! message types (numbers, strings, bytes, maps, recursive structs,
//! externally, internally and un-tagged enums), the rest is decoded as the
//! server's target decodes a message (`Accepts`' decode step) and as a
//! `Ref` decodes a reply. Bad bytes are an error value, never a panic,
//! and decoding fits in the 2 MiB stack of the tokio worker that would do
//! it in a node.
//!
//! Run: `cargo fuzz run payload` in fuzz/ (see README.md).

#![no_main]

use std::sync::LazyLock;

use actor_cluster::fuzzing;
use libfuzzer_sys::fuzz_target;

static TAGS: LazyLock<Vec<String>> = LazyLock::new(fuzzing::tags);

fuzz_target!(|data: &[u8]| {
    let Some((&pick, payload)) = data.split_first() else {
        return;
    };
    let tag = &TAGS[usize::from(pick) % TAGS.len()];
    fuzzing::on_worker_stack(|| {
        let _ = fuzzing::decode_message(tag, payload);
        let _ = fuzzing::decode_reply_to(tag, payload);
    });
});
