//! Arbitrary bytes as an envelope from a peer: `open` with the fuzz
//! cluster's key refuses them with an error, never a panic. Whatever
//! opens (a valid envelope re-encoded around the same sealed bytes) seals
//! again and opens to the same envelope, and the gateway's handling of it
//! refuses what it refuses without a panic either.
//!
//! Run: `cargo fuzz run envelope` in fuzz/ (see README.md).

#![no_main]

use actor_cluster::fuzzing;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let Ok(envelope) = fuzzing::open(bytes) else {
        return;
    };
    let sealed = fuzzing::seal(&envelope).expect("an envelope that opened seals again");
    assert_eq!(fuzzing::open(&sealed).as_ref(), Ok(&envelope));
    fuzzing::receive(&envelope);
});
