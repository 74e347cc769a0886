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
    assert_eq!(b.open_chat("alice", &msg, 10).unwrap(), b"hi bob");
    assert_eq!(
        b.open_chat("alice", &msg, 10),
        Err(E2eeError::ReplayedFrame)
    );
    assert_eq!(
        a.open_chat("bob", &msg, 10),
        Err(E2eeError::AuthenticationFailed)
    );
    assert_eq!(a.safety_code(), b.safety_code());
    assert_eq!(b.stats().decrypted, Codec::ALL.len() as u64);
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
    roster(&mut rng, &mut b, &[&a], 0);
    let m1 = roster(&mut rng, &mut a, &[&b], 0).remove(0);
    let m2 = roster(&mut rng, &mut a, &[&b], 0).remove(0);
    let first = b.receive_key_message("a", &m2.bytes, 0).unwrap();
    assert_eq!((first.epoch, first.duplicate), (2, false));
    assert_eq!(
        b.receive_key_message("a", &m1.bytes, 0),
        Err(E2eeError::StaleEpoch)
    );
    // the same message again is a re-send of the same key: accepted as a duplicate, no change
    let again = b.receive_key_message("a", &m2.bytes, 0).unwrap();
    assert_eq!((again.epoch, again.duplicate), (2, true));
    assert_eq!(b.receive_epochs("a"), vec![2]);
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
    roster(&mut rng, &mut b, &[&a], 0);
    // Mallory (knows the room secret) seals a key to B claiming to be... herself, but B
    // expects A's identity for "a".
    let forged = roster(&mut rng, &mut mallory, &[&b], 0).remove(0);
    assert_eq!(
        b.receive_key_message("a", &forged.bytes, 0),
        Err(E2eeError::WrongSenderIdentity)
    );
    // A's genuine one works
    let real = roster(&mut rng, &mut a, &[&b], 0).remove(0);
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
    assert_eq!(b.open_chat("a", &m1, 0).unwrap(), b"one");
    assert_eq!(b.open_chat("a", &m0, 0), Err(E2eeError::ReplayedFrame));
    // claimed as coming from c: wrong key / wrong AAD
    assert!(b.open_chat("c", &m1, 0).is_err());
    // after rotation and expiry, the old epoch is unknown
    sync(&mut rng, &mut [&mut a, &mut b, &mut c], 10);
    let m2 = a.seal_chat(b"two").unwrap();
    assert_eq!(c.open_chat("a", &m2, 10).unwrap(), b"two");
    c.expire(10_000);
    assert_eq!(c.open_chat("a", &m0, 10_000), Err(E2eeError::UnknownKey));
    let mut t = m2.clone();
    let last = t.len() - 1;
    t[last] ^= 0x40;
    assert_eq!(
        b.open_chat("a", &t, 10),
        Err(E2eeError::AuthenticationFailed)
    );
    assert_eq!(b.open_chat("a", &m2, 10).unwrap(), b"two");
}

#[test]
fn per_peer_counters_count_each_sender_apart() {
    let mut rng = TestRng::new(8);
    let room = room(&mut rng);
    let mut a = member(&mut rng, &room, "a");
    let mut b = member(&mut rng, &room, "b");
    let mut c = member(&mut rng, &room, "c");
    sync(&mut rng, &mut [&mut a, &mut b, &mut c], 0);
    let fa = a.encrypt_frame(Codec::Opus, b"from a").unwrap();
    let fc = c.encrypt_frame(Codec::Opus, b"from c").unwrap();
    b.decrypt_frame("a", Codec::Opus, &fa, 1).unwrap();
    assert!(b.decrypt_frame("a", Codec::Opus, &fa, 1).is_err()); // duplicate delivery
    assert!(b.decrypt_frame("c", Codec::Opus, &fa, 1).is_err()); // a's frame as c's: auth
    b.decrypt_frame("c", Codec::Opus, &fc, 1).unwrap();
    // c rotates and commits on timeout; its key never reached b
    roster(&mut rng, &mut c, &[&a, &b], 1);
    assert_eq!(c.commit_sender_key(), 2);
    let unkeyed = c.encrypt_frame(Codec::Opus, b"new key").unwrap();
    assert_eq!(
        b.decrypt_frame("c", Codec::Opus, &unkeyed, 1),
        Err(E2eeError::UnknownKey)
    );
    assert!(b.decrypt_frame("zed", Codec::Opus, &fc, 1).is_err()); // not in the roster
    let stats = b.stats();
    let pa = stats.peers["a"];
    let pc = stats.peers["c"];
    assert_eq!(
        (
            pa.decrypted,
            pa.dropped_duplicate,
            pa.dropped_replay,
            pa.dropped_auth,
            pa.dropped_unknown_key
        ),
        (1, 1, 0, 0, 0)
    );
    assert_eq!(
        (
            pc.decrypted,
            pc.dropped_replay,
            pc.dropped_auth,
            pc.dropped_unknown_key
        ),
        (1, 0, 1, 1)
    );
    assert!(!stats.peers.contains_key("zed"));
    assert_eq!(stats.decrypted, 2);
    assert_eq!(stats.dropped_unknown_key, 2);
    // counters of a peer that left stay readable
    sync(&mut rng, &mut [&mut a, &mut b], 10);
    assert_eq!(b.stats().peers["c"].decrypted, 1);
}

#[test]
fn late_frames_inside_the_1024_counter_window_are_accepted() {
    let mut rng = TestRng::new(9);
    let room = room(&mut rng);
    let mut a = member(&mut rng, &room, "a");
    let mut b = member(&mut rng, &room, "b");
    sync(&mut rng, &mut [&mut a, &mut b], 0);
    let frames: Vec<Vec<u8>> = (0..=1_100u32)
        .map(|i| a.encrypt_frame(Codec::Opus, &i.to_be_bytes()).unwrap())
        .collect();
    assert_eq!(
        b.decrypt_frame("a", Codec::Opus, &frames[1_100], 1)
            .unwrap(),
        1_100u32.to_be_bytes()
    );
    // 900 counters late (e.g. a video frame completed late in a big call): accepted
    assert_eq!(
        b.decrypt_frame("a", Codec::Opus, &frames[200], 1).unwrap(),
        200u32.to_be_bytes()
    );
    // a duplicate is not
    assert_eq!(
        b.decrypt_frame("a", Codec::Opus, &frames[200], 1),
        Err(E2eeError::ReplayedFrame)
    );
    // 1,100 late: outside the window
    assert_eq!(
        b.decrypt_frame("a", Codec::Opus, &frames[0], 1),
        Err(E2eeError::ReplayedFrame)
    );
    assert_eq!(
        b.decrypt_frame("a", Codec::Opus, &frames[76], 1),
        Err(E2eeError::ReplayedFrame)
    );
    assert!(b.decrypt_frame("a", Codec::Opus, &frames[77], 1).is_ok());
}
