//! Group flows: rotation, leavers, joiners, stale key messages, grace window, chat.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)]
mod common;

use common::*;
use sotto_e2ee::frame::FrameReceiver;
use sotto_e2ee::{Codec, E2eeError, SenderKey};

#[test]
fn two_party_frames_and_chat_flow_both_ways() {
    let mut rng = TestRng::new(1);
    let room = room(&mut rng);
    let mut a = member(&mut rng, &room, "alice");
    let mut b = member(&mut rng, &room, "bob");
    sync(&mut rng, &mut [&mut a, &mut b], 0);
    assert_eq!(a.sender_epoch(), 1);
    assert_eq!(b.receive_epochs("alice"), vec![1]);

    for codec in Codec::ALL {
        let frame = vp8_key_frame(300);
        let enc = a.encrypt_frame(codec, &frame).unwrap();
        assert_ne!(enc, frame);
        assert_eq!(
            b.decrypt_frame("alice", codec, &enc, 10).unwrap(),
            decrypted_form(codec, &frame)
        );
    }
    let enc = b.encrypt_frame(Codec::Opus, b"hello opus").unwrap();
    assert_eq!(
        a.decrypt_frame("bob", Codec::Opus, &enc, 10).unwrap(),
        b"hello opus"
    );

    let msg = a.seal_chat(b"hi bob").unwrap();
    assert_eq!(b.open_chat("alice", &msg).unwrap(), b"hi bob");
    assert_eq!(b.open_chat("alice", &msg), Err(E2eeError::ReplayedFrame));
    assert_eq!(
        a.open_chat("bob", &msg),
        Err(E2eeError::AuthenticationFailed)
    );
    assert_eq!(a.safety_code(), b.safety_code());
    assert_eq!(b.stats().decrypted, 6);
}

#[test]
fn leaver_cannot_decrypt_after_rotation() {
    let mut rng = TestRng::new(2);
    let room = room(&mut rng);
    let mut a = member(&mut rng, &room, "a");
    let mut b = member(&mut rng, &room, "b");
    let mut c = member(&mut rng, &room, "c");
    sync(&mut rng, &mut [&mut a, &mut b, &mut c], 0);
    let frame = vp8_delta_frame(500);
    let enc = a.encrypt_frame(Codec::Vp8, &frame).unwrap();
    assert_eq!(c.decrypt_frame("a", Codec::Vp8, &enc, 1).unwrap(), frame);
    assert_eq!(b.decrypt_frame("a", Codec::Vp8, &enc, 1).unwrap(), frame);

    // C leaves: A and B rotate.
    let c_held = c.export_keys_for_testing();
    sync(&mut rng, &mut [&mut a, &mut b], 100);
    let frame2 = vp8_delta_frame(400);
    let enc2 = a.encrypt_frame(Codec::Vp8, &frame2).unwrap();
    assert_eq!(
        b.decrypt_frame("a", Codec::Vp8, &enc2, 101).unwrap(),
        frame2
    );

    // Nothing C held (its sender key and every receive key) decrypts it, under any epoch.
    let mut candidates: Vec<Vec<u8>> = c_held.receive.iter().map(|k| k.to_vec()).collect();
    candidates.push(c_held.sender.to_vec());
    for key in &candidates {
        let key: [u8; 16] = key.as_slice().try_into().unwrap();
        for epoch in 0..16 {
            let mut rx = FrameReceiver::new(&SenderKey::from_bytes(key), epoch).unwrap();
            assert!(rx.decrypt(Codec::Vp8, &enc2).is_err());
        }
        // and through the group API, as if installed by C
        c.install_receive_key_for_testing("a", 2, key, 101).unwrap();
        assert!(c.decrypt_frame("a", Codec::Vp8, &enc2, 101).is_err());
    }
    // The test can fail: A's new key itself does decrypt.
    let a_key: [u8; 16] = a
        .export_keys_for_testing()
        .sender
        .as_slice()
        .try_into()
        .unwrap();
    let mut rx = FrameReceiver::new(&SenderKey::from_bytes(a_key), 2).unwrap();
    assert_eq!(rx.decrypt(Codec::Vp8, &enc2).unwrap(), frame2);
}

#[test]
fn joiner_cannot_decrypt_earlier_frames() {
    let mut rng = TestRng::new(3);
    let room = room(&mut rng);
    let mut a = member(&mut rng, &room, "a");
    let mut b = member(&mut rng, &room, "b");
    sync(&mut rng, &mut [&mut a, &mut b], 0);
    let before = a.encrypt_frame(Codec::Opus, &[0x78; 120]).unwrap();

    let mut d = member(&mut rng, &room, "d");
    sync(&mut rng, &mut [&mut a, &mut b, &mut d], 50);
    assert_eq!(
        d.decrypt_frame("a", Codec::Opus, &before, 51),
        Err(E2eeError::UnknownKey)
    );
    for key in d.export_keys_for_testing().receive.iter() {
        let key: [u8; 16] = key.as_slice().try_into().unwrap();
        for epoch in 0..16 {
            let mut rx = FrameReceiver::new(&SenderKey::from_bytes(key), epoch).unwrap();
            assert!(rx.decrypt(Codec::Opus, &before).is_err());
        }
    }
    let after = a.encrypt_frame(Codec::Opus, &[0x78; 120]).unwrap();
    assert_eq!(
        d.decrypt_frame("a", Codec::Opus, &after, 51).unwrap(),
        vec![0x78; 120]
    );
    assert_eq!(
        b.decrypt_frame("a", Codec::Opus, &after, 51).unwrap(),
        vec![0x78; 120]
    );
}

#[test]
fn stale_and_replayed_key_messages_are_rejected() {
    let mut rng = TestRng::new(4);
    let room = room(&mut rng);
    let mut a = member(&mut rng, &room, "a");
    let mut b = member(&mut rng, &room, "b");
    let roster_a = vec![("b".to_owned(), b.my_identity())];
    b.set_roster(&mut rng, &[("a".to_owned(), a.my_identity())])
        .unwrap();
    let m1 = a.set_roster(&mut rng, &roster_a).unwrap().remove(0);
    let m2 = a.set_roster(&mut rng, &roster_a).unwrap().remove(0);
    assert_eq!(b.receive_key_message("a", &m2.bytes, 0).unwrap().epoch, 2);
    assert_eq!(
        b.receive_key_message("a", &m1.bytes, 0),
        Err(E2eeError::StaleEpoch)
    );
    assert_eq!(
        b.receive_key_message("a", &m2.bytes, 0),
        Err(E2eeError::StaleEpoch)
    );
    // from the wrong claimed sender / unknown sender
    assert_eq!(
        b.receive_key_message("zed", &m2.bytes, 0),
        Err(E2eeError::UnknownPeer)
    );
    let mut tampered = m2.bytes.clone();
    tampered[40] ^= 1;
    assert_eq!(
        b.receive_key_message("a", &tampered, 0),
        Err(E2eeError::WrongSenderIdentity)
    );
    assert_eq!(
        b.receive_key_message("a", &m2.bytes[1..], 0),
        Err(E2eeError::BadKeyMessage)
    );
}

#[test]
fn key_sealed_by_someone_else_is_refused() {
    let mut rng = TestRng::new(5);
    let room = room(&mut rng);
    let mut a = member(&mut rng, &room, "a");
    let mut b = member(&mut rng, &room, "b");
    let mut mallory = member(&mut rng, &room, "m");
    b.set_roster(&mut rng, &[("a".to_owned(), a.my_identity())])
        .unwrap();
    // Mallory (knows the room secret) seals a key to B claiming to be... herself, but B
    // expects A's identity for "a".
    let forged = mallory
        .set_roster(&mut rng, &[("b".to_owned(), b.my_identity())])
        .unwrap()
        .remove(0);
    assert_eq!(
        b.receive_key_message("a", &forged.bytes, 0),
        Err(E2eeError::WrongSenderIdentity)
    );
    // A's genuine one works
    let real = a
        .set_roster(&mut rng, &[("b".to_owned(), b.my_identity())])
        .unwrap()
        .remove(0);
    assert!(b.receive_key_message("a", &real.bytes, 0).is_ok());
}

#[test]
fn grace_window_keeps_then_erases_the_previous_key() {
    let mut rng = TestRng::new(6);
    let room = room(&mut rng);
    let mut a = member(&mut rng, &room, "a");
    let mut b = member(&mut rng, &room, "b");
    sync(&mut rng, &mut [&mut a, &mut b], 0);
    let old1 = a.encrypt_frame(Codec::Opus, b"old frame one").unwrap();
    let old2 = a.encrypt_frame(Codec::Opus, b"old frame two").unwrap();
    sync(&mut rng, &mut [&mut a, &mut b], 1_000);
    assert_eq!(b.receive_epochs("a"), vec![2, 1]);
    // inside the window the old key still works
    assert_eq!(
        b.decrypt_frame("a", Codec::Opus, &old1, 2_999).unwrap(),
        b"old frame one"
    );
    // at the deadline it is gone, even without expire()
    assert_eq!(
        b.decrypt_frame("a", Codec::Opus, &old2, 3_000),
        Err(E2eeError::UnknownKey)
    );
    assert_eq!(b.receive_epochs("a"), vec![2]);
    assert_eq!(b.export_keys_for_testing().receive.len(), 1);

    // expire() erases too
    sync(&mut rng, &mut [&mut a, &mut b], 5_000);
    assert_eq!(b.receive_epochs("a"), vec![3, 2]);
    b.expire(6_999);
    assert_eq!(b.receive_epochs("a"), vec![3, 2]);
    b.expire(7_000);
    assert_eq!(b.receive_epochs("a"), vec![3]);
    assert_eq!(b.stats().dropped_unknown_key, 1);
}

#[test]
fn chat_rejects_unknown_epochs_replays_and_cross_sender() {
    let mut rng = TestRng::new(7);
    let room = room(&mut rng);
    let mut a = member(&mut rng, &room, "a");
    let mut b = member(&mut rng, &room, "b");
    let mut c = member(&mut rng, &room, "c");
    sync(&mut rng, &mut [&mut a, &mut b, &mut c], 0);
    let m0 = a.seal_chat(b"zero").unwrap();
    let m1 = a.seal_chat(b"one").unwrap();
    assert_eq!(b.open_chat("a", &m1).unwrap(), b"one");
    assert_eq!(b.open_chat("a", &m0), Err(E2eeError::ReplayedFrame));
    // claimed as coming from c: wrong key / wrong AAD
    assert!(b.open_chat("c", &m1).is_err());
    // after rotation and expiry, the old epoch is unknown
    sync(&mut rng, &mut [&mut a, &mut b, &mut c], 10);
    let m2 = a.seal_chat(b"two").unwrap();
    assert_eq!(c.open_chat("a", &m2).unwrap(), b"two");
    c.expire(10_000);
    assert_eq!(c.open_chat("a", &m0), Err(E2eeError::UnknownKey));
    let mut t = m2.clone();
    let last = t.len() - 1;
    t[last] ^= 0x40;
    assert_eq!(b.open_chat("a", &t), Err(E2eeError::AuthenticationFailed));
    assert_eq!(b.open_chat("a", &m2).unwrap(), b"two");
}

#[test]
fn roster_arguments_are_validated_without_side_effects() {
    let mut rng = TestRng::new(8);
    let room = room(&mut rng);
    let mut a = member(&mut rng, &room, "a");
    let b = member(&mut rng, &room, "b");
    let dup = vec![
        ("b".to_owned(), b.my_identity()),
        ("b".to_owned(), b.my_identity()),
    ];
    assert_eq!(a.set_roster(&mut rng, &dup), Err(E2eeError::BadPeerId));
    let me = vec![("a".to_owned(), b.my_identity())];
    assert_eq!(a.set_roster(&mut rng, &me), Err(E2eeError::BadPeerId));
    let long = vec![("x".repeat(300), b.my_identity())];
    assert_eq!(a.set_roster(&mut rng, &long), Err(E2eeError::BadPeerId));
    assert_eq!(a.sender_epoch(), 0);
    assert!(a.roster().is_empty());
}
