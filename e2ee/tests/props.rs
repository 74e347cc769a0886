//! Property tests: round trips, any single flipped byte fails, arbitrary bytes never panic.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)]
mod common;

use std::sync::OnceLock;

use common::*;
use proptest::prelude::*;
use sotto_e2ee::frame::{parse_header, FrameReceiver, FrameSender};
use sotto_e2ee::key_exchange::{open_sender_key, seal_sender_key, KeyMessage};
use sotto_e2ee::{
    chat, Codec, IdentityKeyPair, IdentityPublicKey, RoomKeys, RoomSecret, SenderKey,
};

fn codec() -> impl Strategy<Value = Codec> {
    proptest::sample::select(Codec::ALL.to_vec())
}

/// Frames that look like H.264 often enough: start codes and zero runs mixed into random bytes.
fn frame_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..600),
        proptest::collection::vec(
            prop_oneof![
                Just(0u8),
                Just(1u8),
                Just(3u8),
                Just(0x65u8),
                Just(0x67u8),
                any::<u8>()
            ],
            0..300
        )
        .prop_map(|mut v| {
            v.splice(0..0, [0, 0, 0, 1, 0x65]);
            v
        }),
    ]
}

struct Fixed {
    room: RoomKeys,
    alice: IdentityKeyPair,
    bob: IdentityKeyPair,
    msg: Vec<u8>,
}

fn fixed() -> &'static Fixed {
    static F: OnceLock<Fixed> = OnceLock::new();
    F.get_or_init(|| {
        let mut rng = TestRng::new(41);
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
            3,
            &key,
        )
        .unwrap();
        Fixed {
            room,
            alice,
            bob,
            msg,
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn frame_round_trip(codec in codec(), frame in frame_bytes(), key in any::<[u8; 16]>(), epoch in any::<u64>()) {
        let k = SenderKey::from_bytes(key);
        let mut tx = FrameSender::new(&k, epoch).unwrap();
        let mut rx = FrameReceiver::new(&k, epoch).unwrap();
        let enc = tx.encrypt(codec, &frame).unwrap();
        prop_assert_eq!(rx.decrypt(codec, &enc).unwrap(), decrypted_form(codec, &frame));
    }

    #[test]
    fn flipping_any_byte_fails(codec in codec(), frame in frame_bytes(), pos in any::<prop::sample::Index>(), flip in 1u8..=255) {
        let k = SenderKey::from_bytes([5; 16]);
        let mut tx = FrameSender::new(&k, 0).unwrap();
        let mut rx = FrameReceiver::new(&k, 0).unwrap();
        let mut enc = tx.encrypt(codec, &frame).unwrap();
        let i = pos.index(enc.len());
        enc[i] ^= flip;
        prop_assert!(rx.decrypt(codec, &enc).is_err());
    }

    #[test]
    fn arbitrary_frames_never_panic(codec in codec(), data in frame_bytes()) {
        let mut rx = FrameReceiver::new(&SenderKey::from_bytes([5; 16]), 0).unwrap();
        prop_assert!(rx.decrypt(codec, &data).is_err());
        let _ = parse_header(&data, 4);
        let _ = parse_header(&data, 16);
    }

    #[test]
    fn arbitrary_key_messages_are_refused(data in proptest::collection::vec(any::<u8>(), 0..120)) {
        let f = fixed();
        let _ = KeyMessage::parse(&data);
        prop_assert!(open_sender_key(&f.room, &f.bob, "bob", "alice", &f.alice.public_key(), &data).is_err());
    }

    #[test]
    fn flipped_key_messages_are_refused(pos in 0usize..sotto_e2ee::key_exchange::KEY_MESSAGE_LEN, flip in 1u8..=255) {
        let f = fixed();
        let mut m = f.msg.clone();
        m[pos] ^= flip;
        prop_assert!(open_sender_key(&f.room, &f.bob, "bob", "alice", &f.alice.public_key(), &m).is_err());
    }

    #[test]
    fn chat_round_trip_and_flips(msg in proptest::collection::vec(any::<u8>(), 0..300), seq in any::<u64>(), epoch in any::<u64>(), pos in any::<prop::sample::Index>(), flip in 1u8..=255) {
        let f = fixed();
        let key = chat::ChatKey::derive(&SenderKey::from_bytes([1; 16]));
        let header = chat::ChatHeader { epoch, seq };
        let sealed = chat::seal_chat(&key, f.room.room_id(), "alice", header, &msg).unwrap();
        let (h, ct) = chat::parse_chat(&sealed).unwrap();
        prop_assert_eq!(h, header);
        prop_assert_eq!(chat::open_chat(&key, f.room.room_id(), "alice", h, ct).unwrap(), msg);
        let mut bad = sealed.clone();
        let i = pos.index(bad.len());
        bad[i] ^= flip;
        let opened = chat::parse_chat(&bad).and_then(|(h, ct)| chat::open_chat(&key, f.room.room_id(), "alice", h, ct));
        prop_assert!(opened.is_err());
    }

    #[test]
    fn arbitrary_chat_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..200)) {
        let f = fixed();
        let key = chat::ChatKey::derive(&SenderKey::from_bytes([1; 16]));
        let opened = chat::parse_chat(&data).and_then(|(h, ct)| chat::open_chat(&key, f.room.room_id(), "alice", h, ct));
        prop_assert!(opened.is_err());
    }

    #[test]
    fn text_parsers_never_panic(s in ".{0,60}") {
        let _ = RoomSecret::from_base64url(&s);
        let _ = IdentityPublicKey::from_base64url(&s);
        let _ = sotto_e2ee::RoomId::from_base64url(&s);
        let _ = Codec::from_mime(&s);
    }

    #[test]
    fn base64_round_trips(bytes in any::<[u8; 32]>()) {
        // any 32 bytes are a valid room secret; identity keys round-trip through text too
        let text = RoomSecret::from_base64url(&sotto_e2ee_b64(&bytes)).unwrap().to_base64url();
        prop_assert_eq!(text, sotto_e2ee_b64(&bytes));
    }
}

fn sotto_e2ee_b64(bytes: &[u8]) -> String {
    // independent base64url (no padding) encoder for the round-trip property
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, &b)| acc | u32::from(b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}
