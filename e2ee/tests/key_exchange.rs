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
use sotto_e2ee::{E2eeError, IdentityKeyPair, RoomSecret, SenderKey};

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
    assert_eq!(s.msg[0], 1);
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
    v[0] = 2;
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
