#![no_main]
//! Arbitrary bytes as a chat message, plus bit flips of a genuine one: Err, never panic.
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    common::with_pair(|a, b| run(a, b, data));
});

fn run(a: &mut sotto_e2ee::GroupKeys, b: &mut sotto_e2ee::GroupKeys, data: &[u8]) {
    assert!(b.open_chat("alice", data, 0).is_err());
    if let (Some((&i, msg)), true) = (data.split_first(), data.len() < 4096) {
        if let Ok(mut sealed) = a.seal_chat(msg) {
            let j = usize::from(i) % sealed.len();
            sealed[j] ^= 0x01;
            assert!(b.open_chat("alice", &sealed, 0).is_err());
        }
    }
}
