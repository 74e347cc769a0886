#![no_main]
//! Arbitrary bytes as a protected frame of every codec: must return, never panic. Half of the
//! inputs are mutations of a genuine frame, so the parsers past the header are reached too.
use libfuzzer_sys::fuzz_target;
use sotto_e2ee::Codec;

#[path = "common.rs"]
mod common;


fuzz_target!(|data: &[u8]| {
    common::with_pair(|a, b| run(a, b, data));
});

fn run(a: &mut sotto_e2ee::GroupKeys, b: &mut sotto_e2ee::GroupKeys, data: &[u8]) {
    let Some((&sel, rest)) = data.split_first() else { return };
    let codec = Codec::ALL[usize::from(sel) % Codec::ALL.len()];
    if sel & 0x80 != 0 {
        // encrypt the input, flip one byte chosen by the input, decrypt
        if let Ok(mut enc) = a.encrypt_frame(codec, rest) {
            let ok = b.decrypt_frame("alice", codec, &enc, 0);
            let expected = match codec {
                Codec::Av1 => sotto_e2ee::av1::canonical_form(rest).unwrap_or_else(|| rest.to_vec()),
                _ => rest.to_vec(),
            };
            assert_eq!(ok.ok(), Some(expected));
            if !enc.is_empty() {
                let i = usize::from(sel) * 31 % enc.len();
                enc[i] ^= 1 | (sel & 0x7f);
                assert!(b.decrypt_frame("alice", codec, &enc, 0).is_err());
            }
        }
    } else {
        let _ = b.decrypt_frame("alice", codec, rest, 0);
    }
}
