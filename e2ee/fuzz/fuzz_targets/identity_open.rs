#![no_main]
//! Arbitrary text (and arbitrary bytes in base64url) as a sealed identity, plus bit flips of a
//! genuine one: Err with a typed error, never panic, never a key that was not sealed.
use std::sync::OnceLock;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use libfuzzer_sys::fuzz_target;
use sotto_e2ee::sealed_identity::{open_identity, seal_identity};
use sotto_e2ee::{IdentityKeyPair, IdentityPublicKey, RoomKeys, RoomSecret};

#[allow(dead_code)] // only the RNG is used here
#[path = "common.rs"]
mod common;

struct Fixed {
    room: RoomKeys,
    key: IdentityPublicKey,
    blob: String,
}

fn fixed() -> &'static Fixed {
    static F: OnceLock<Fixed> = OnceLock::new();
    F.get_or_init(|| {
        let mut rng = common::FixedRng(11);
        let room = RoomSecret::generate(&mut rng).derive();
        let key = IdentityKeyPair::generate(&mut rng).public_key();
        let blob = seal_identity(&mut rng, &room, "alice", &key).expect("seal");
        Fixed { room, key, blob }
    })
}

fuzz_target!(|data: &[u8]| {
    let f = fixed();
    let mut texts = vec![URL_SAFE_NO_PAD.encode(data)];
    if let Ok(text) = std::str::from_utf8(data) {
        texts.push(text.to_owned());
    }
    for text in texts {
        match open_identity(&f.room, "alice", &text) {
            Ok(key) => {
                assert_eq!(text, f.blob, "a blob that was never sealed opened");
                assert_eq!(key, f.key);
            }
            Err(e) => assert!(matches!(
                e.code(),
                "malformed-identity-blob" | "identity-blob-version" | "forged-participant"
                    | "bad-public-key"
            )),
        }
    }
    if let Some((&i, _)) = data.split_first() {
        let mut bytes = URL_SAFE_NO_PAD.decode(&f.blob).expect("genuine blob");
        let j = usize::from(i) % bytes.len();
        bytes[j] ^= 1 << (i % 8);
        assert!(open_identity(&f.room, "alice", &URL_SAFE_NO_PAD.encode(&bytes)).is_err());
        assert!(open_identity(&f.room, "bob", &f.blob).is_err());
    }
});
