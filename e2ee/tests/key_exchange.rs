//! HPKE AuthPSK sender-key messages: round trip and every binding.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)]
mod common;

use common::*;
use sotto_e2ee::key_exchange::{open_sender_key, seal_sender_key, KeyMessage, KEY_MESSAGE_LEN};
use sotto_e2ee::{E2eeError, FrameSuites, IdentityKeyPair, RoomSecret, SenderKey, Suite};

struct Setup {
    rng: TestRng,
    room: sotto_e2ee::RoomKeys,
    alice: IdentityKeyPair,
    bob: IdentityKeyPair,
    key: SenderKey,
    msg: Vec<u8>,
}

fn setup() -> Setup {
    let mut rng = TestRng::new(21);
    let room = RoomSecret::generate(&mut rng).derive();
    let alice = IdentityKeyPair::generate(&mut rng);
    let bob = IdentityKeyPair::generate(&mut rng);
    let key = SenderKey::generate(&mut rng);
    let msg = seal_sender_key(
        &mut rng,
        &room,
        &alice,
        "alice",
        "bob",
        &bob.public_key(),
        7,
        &key,
    )
    .unwrap();
    Setup {
        rng,
        room,
        alice,
        bob,
        key,
        msg,
    }
}

#[test]
fn round_trip() {
    let s = setup();
    assert_eq!(s.msg.len(), KEY_MESSAGE_LEN);
    assert_eq!(KEY_MESSAGE_LEN, 77);
    assert_eq!(s.msg[0], 2);
    // the default suites: audio AES_128_CTR_HMAC_SHA256_64 (2), video AES_128_GCM_SHA256_128 (4)
    assert_eq!(s.msg[9..13], [0, 2, 0, 4]);
    let (epoch, key) = open_sender_key(
        &s.room,
        &s.bob,
        "bob",
        "alice",
        &s.alice.public_key(),
        &s.msg,
    )
    .unwrap();
    assert_eq!(epoch, 7);
    assert_eq!(key, s.key);
    let parsed = KeyMessage::parse(&s.msg).unwrap();
    assert_eq!(parsed.to_bytes(), s.msg);
}

#[test]
fn every_binding_is_checked() {
    let mut s = setup();
    let pk_a = s.alice.public_key();
    let wrong = Err(E2eeError::WrongSenderIdentity);
    // wrong PSK / wrong room
    let other_room = RoomSecret::generate(&mut s.rng).derive();
    assert_eq!(
        open_sender_key(&other_room, &s.bob, "bob", "alice", &pk_a, &s.msg).map(|_| ()),
        wrong
    );
    // wrong sender identity
    let mallory = IdentityKeyPair::generate(&mut s.rng);
    assert_eq!(
        open_sender_key(
            &s.room,
            &s.bob,
            "bob",
            "alice",
            &mallory.public_key(),
            &s.msg
        )
        .map(|_| ()),
        wrong
    );
    // wrong recipient key, wrong recipient id, wrong sender id
    assert_eq!(
        open_sender_key(&s.room, &mallory, "bob", "alice", &pk_a, &s.msg).map(|_| ()),
        wrong
    );
    assert_eq!(
        open_sender_key(&s.room, &s.bob, "carol", "alice", &pk_a, &s.msg).map(|_| ()),
        wrong
    );
    assert_eq!(
        open_sender_key(&s.room, &s.bob, "bob", "alicf", &pk_a, &s.msg).map(|_| ()),
        wrong
    );
    // wrong epoch: rewrite the epoch field
    let mut e = s.msg.clone();
    e[8] ^= 1;
    assert_eq!(
        open_sender_key(&s.room, &s.bob, "bob", "alice", &pk_a, &e).map(|_| ()),
        wrong
    );
    // every single byte
    for i in 0..s.msg.len() {
        let mut t = s.msg.clone();
        t[i] ^= 0x04;
        assert!(
            open_sender_key(&s.room, &s.bob, "bob", "alice", &pk_a, &t).is_err(),
            "byte {i}"
        );
    }
    // version and length
    let mut v = s.msg.clone();
    v[0] = 1;
    assert_eq!(
        open_sender_key(&s.room, &s.bob, "bob", "alice", &pk_a, &v).map(|_| ()),
        Err(E2eeError::BadKeyMessage)
    );
    let mut long = s.msg.clone();
    long.push(0);
    assert_eq!(KeyMessage::parse(&long), Err(E2eeError::BadKeyMessage));
    assert_eq!(KeyMessage::parse(&[]), Err(E2eeError::BadKeyMessage));
    // ...and the genuine message still opens (the test can fail)
    assert!(open_sender_key(&s.room, &s.bob, "bob", "alice", &pk_a, &s.msg).is_ok());
}

/// The frame suites are part of the message: sealed and opened with the key, authenticated
/// (another suite byte fails), unknown ids and a short tag for video refused before opening.
#[test]
fn suites_travel_sealed_with_the_key() {
    let mut s = setup();
    let pk_a = s.alice.public_key();
    for audio in Suite::ALL {
        let suites = FrameSuites {
            audio,
            video: Suite::AesGcm128Sha256,
        };
        let key = SenderKey::with_suites([4u8; 16], suites);
        if audio == Suite::AesCtr128HmacSha256_32 {
            // a 32-bit tag is refused for audio too, on the sending side as on the receiving one
            assert!(seal_sender_key(
                &mut s.rng,
                &s.room,
                &s.alice,
                "alice",
                "bob",
                &s.bob.public_key(),
                9,
                &key,
            )
            .is_err());
            continue;
        }
        let msg = seal_sender_key(
            &mut s.rng,
            &s.room,
            &s.alice,
            "alice",
            "bob",
            &s.bob.public_key(),
            9,
            &key,
        )
        .unwrap();
        assert_eq!(
            u16::from_be_bytes([msg[9], msg[10]]),
            audio.id(),
            "{audio:?}"
        );
        assert_eq!(KeyMessage::parse(&msg).unwrap().suites, suites);
        let (_, opened) = open_sender_key(&s.room, &s.bob, "bob", "alice", &pk_a, &msg).unwrap();
        assert_eq!(opened.suites(), suites);
        assert_eq!(opened, key);
        // another (valid) audio suite written in: the AAD no longer matches
        let mut other = msg.clone();
        other[10] = if audio.id() == 1 { 2 } else { 1 };
        assert_eq!(
            open_sender_key(&s.room, &s.bob, "bob", "alice", &pk_a, &other).map(|_| ()),
            Err(E2eeError::WrongSenderIdentity)
        );
    }
    // unknown suite ids, a short tag for video and a 32-bit tag for audio are refused as
    // malformed
    for (at, id) in [(10, 0u8), (10, 5), (10, 3), (12, 3), (12, 1), (12, 9)] {
        let mut bad = s.msg.clone();
        bad[at] = id;
        assert_eq!(
            KeyMessage::parse(&bad),
            Err(E2eeError::BadKeyMessage),
            "byte {at} = {id}"
        );
        assert_eq!(
            open_sender_key(&s.room, &s.bob, "bob", "alice", &pk_a, &bad).map(|_| ()),
            Err(E2eeError::BadKeyMessage)
        );
    }
    // and a sender is refused to seal video with a short tag
    let bad_key = SenderKey::with_suites(
        [4u8; 16],
        FrameSuites {
            audio: Suite::AesGcm128Sha256,
            video: Suite::AesCtr128HmacSha256_32,
        },
    );
    assert!(seal_sender_key(
        &mut s.rng,
        &s.room,
        &s.alice,
        "alice",
        "bob",
        &s.bob.public_key(),
        9,
        &bad_key
    )
    .is_err());
}
