//! Envelopes sealed with the right key, so that the fuzzer gets past the
//! seal to the body decoders and to the gateway's handling of each body
//! (claims checked, payloads decoded for the probe server, replies
//! decoded for the asker). The first byte picks how the rest is read:
//!
//! - even: raw bytes, sealed as they are, as if a peer with the cookie had
//!   encoded them (the seeds are valid encoded envelopes of each kind);
//! - odd: an `Envelope` built by `arbitrary`, sealed, then opened, which
//!   must give it back.
//!
//! Either way nothing may panic, and an envelope that opens round-trips.
//!
//! Run: `cargo fuzz run sealed_body` in fuzz/ (see README.md).

#![no_main]

use actor_cluster::fuzzing;
use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let envelope = if mode % 2 == 0 {
        let sealed = fuzzing::seal_bytes(rest).expect("fuzz inputs are within the size limit");
        match fuzzing::open(&sealed) {
            Ok(envelope) => envelope,
            Err(_) => return,
        }
    } else {
        let Ok(envelope) = fuzzing::Envelope::arbitrary_take_rest(Unstructured::new(rest)) else {
            return;
        };
        let sealed = fuzzing::seal(&envelope).expect("fuzz inputs are within the size limit");
        let opened = fuzzing::open(&sealed).expect("a sealed envelope opens");
        assert_eq!(opened, envelope);
        opened
    };
    let sealed = fuzzing::seal(&envelope).expect("an envelope that opened seals again");
    assert_eq!(fuzzing::open(&sealed).as_ref(), Ok(&envelope));
    // In a node the gateway handles it on a tokio worker's 2 MiB stack.
    fuzzing::on_worker_stack(|| fuzzing::receive(&envelope));
});
