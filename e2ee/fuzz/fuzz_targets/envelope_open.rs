#![no_main]
//! Arbitrary bytes as a sealed envelope from a roster peer, plus bit flips and truncations of a
//! genuine one: Err, never panic, and nothing refused is counted as opened.
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    common::with_pair(|a, b| run(a, b, data));
});

fn run(a: &mut sotto_e2ee::GroupKeys, b: &mut sotto_e2ee::GroupKeys, data: &[u8]) {
    let opened = b.envelope_stats().opened;
    if b.open_envelope("alice", data).is_ok() {
        panic!("forged envelope accepted");
    }
    assert_eq!(b.envelope_stats().opened, opened);
    let Some((&i, payload)) = data.split_first() else {
        return;
    };
    let mut rng = common::FixedRng(u64::from(i));
    if let Ok(env) = a.seal_envelope(&mut rng, "bob", payload) {
        let mut flipped = env.bytes.clone();
        let j = usize::from(i) % flipped.len();
        flipped[j] ^= 1 << (i % 8);
        assert!(b.open_envelope("alice", &flipped).is_err());
        assert!(b.open_envelope("alice", &env.bytes[..j]).is_err());
        // reflected back to alice as from bob
        assert!(a.open_envelope("bob", &env.bytes).is_err());
        let got = b.open_envelope("alice", &env.bytes).expect("genuine envelope");
        assert_eq!(got.payload, payload);
        assert!(b.open_envelope("alice", &env.bytes).is_err(), "replay accepted");
    }
}
