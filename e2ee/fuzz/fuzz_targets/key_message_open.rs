#![no_main]
//! Arbitrary bytes as a key message from a roster peer: Err, never panic, never installs a key.
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    common::with_pair(|_a, b| run(b, data));
});

fn run(b: &mut sotto_e2ee::GroupKeys, data: &[u8]) {
    let before = b.receive_epochs("alice");
    if b.receive_key_message("alice", data, 0).is_ok() {
        panic!("forged key message accepted");
    }
    assert_eq!(b.receive_epochs("alice"), before);
}
