//! Sender rotation: two phases (pending key, acknowledgements, commit), roster sanitising
//! entry by entry, and the fail-closed block after a rotation that did not complete.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)]
mod common;

use common::*;
use sotto_e2ee::frame::FrameReceiver;
use sotto_e2ee::{Codec, E2eeError, RosterEntry, RosterRejection, SenderKey};

#[test]
fn rotation_is_two_phase_and_frames_use_the_current_key_until_commit() {
    let mut rng = TestRng::new(31);
    let room = room(&mut rng);
    let mut a = member(&mut rng, &room, "a");
    let mut b = member(&mut rng, &room, "b");
    let mut d = member(&mut rng, &room, "d");
    sync(&mut rng, &mut [&mut a, &mut b], 0);
    // D joins: A's new key is pending, frames keep the current key
    let out = a
        .set_roster(
            &mut rng,
            &entries(&[("b", &b.my_identity()), ("d", &d.my_identity())]),
            100,
        )
        .unwrap();
    assert_eq!((out.epoch, out.committed), (2, false));
    assert_eq!((a.sender_epoch(), a.pending_epoch()), (1, Some(2)));
    roster(&mut rng, &mut b, &[&a, &d], 100);
    roster(&mut rng, &mut d, &[&a, &b], 100);
    let frame = vp8_delta_frame(300);
    let before = a.encrypt_frame(Codec::Vp8, &frame).unwrap();
    assert_eq!(
        b.decrypt_frame("a", Codec::Vp8, &before, 101).unwrap(),
        frame
    );
    for m in &out.messages {
        let rx = if m.to == "b" { &mut b } else { &mut d };
        assert_eq!(rx.receive_key_message("a", &m.bytes, 102).unwrap().epoch, 2);
    }
    // B still opens frames of the current key after receiving the pending one: no loss
    let still = a.encrypt_frame(Codec::Vp8, &frame).unwrap();
    assert_eq!(
        b.decrypt_frame("a", Codec::Vp8, &still, 103).unwrap(),
        frame
    );
    // the joiner cannot read frames sent before the commit
    assert_eq!(
        d.decrypt_frame("a", Codec::Vp8, &still, 103),
        Err(E2eeError::UnknownKey)
    );
    // acknowledgements: only the pending epoch, only from peers it was sealed to
    assert!(!a.acknowledge("b", 2));
    assert!(!a.acknowledge("d", 1));
    assert!(!a.acknowledge("zed", 2));
    assert!(!a.pending_complete());
    assert!(a.acknowledge("d", 2));
    assert!(a.pending_complete());
    assert_eq!(a.commit_sender_key(), 2);
    assert_eq!((a.sender_epoch(), a.pending_epoch()), (2, None));
    assert!(!a.pending_complete());
    assert_eq!(a.commit_sender_key(), 2); // nothing pending: no-op
    let after = a.encrypt_frame(Codec::Vp8, &frame).unwrap();
    assert_eq!(
        b.decrypt_frame("a", Codec::Vp8, &after, 104).unwrap(),
        frame
    );
    assert_eq!(
        d.decrypt_frame("a", Codec::Vp8, &after, 104).unwrap(),
        frame
    );
    // chat switched with the frames
    let chat = a.seal_chat(b"hello d").unwrap();
    assert_eq!(d.open_chat("a", &chat, 105).unwrap(), b"hello d");
}

#[test]
fn a_second_roster_change_replaces_the_pending_key_which_is_never_used() {
    let mut rng = TestRng::new(32);
    let room = room(&mut rng);
    let mut a = member(&mut rng, &room, "a");
    let mut b = member(&mut rng, &room, "b");
    let c = member(&mut rng, &room, "c");
    sync(&mut rng, &mut [&mut a, &mut b], 0);
    roster(&mut rng, &mut b, &[&a, &c], 10);
    let first = roster(&mut rng, &mut a, &[&b, &c], 10);
    let second = roster(&mut rng, &mut a, &[&b], 20); // C left before the commit
    assert_eq!(a.pending_epoch(), Some(3));
    roster(&mut rng, &mut b, &[&a], 20);
    let to_b = first.iter().find(|m| m.to == "b").unwrap();
    // B got the replaced key (epoch 2) before the leave, then epoch 3
    b.receive_key_message("a", &to_b.bytes, 15).unwrap();
    b.receive_key_message("a", &second[0].bytes, 25).unwrap();
    // late acks for the replaced key count for nothing
    assert!(!a.acknowledge("b", 2));
    assert!(a.acknowledge("b", 3));
    assert_eq!(a.commit_sender_key(), 3);
    let frame = vp8_key_frame(200);
    let enc = a.encrypt_frame(Codec::Vp8, &frame).unwrap();
    // the frame is under epoch 3's key: the replaced epoch 2 key (which C holds) opens nothing
    let held = b.export_keys_for_testing();
    let key_of = |epoch: u64| -> [u8; 16] {
        let (_, _, k) = held
            .receive_keys
            .iter()
            .find(|(p, e, _)| p == "a" && *e == epoch)
            .unwrap();
        k.as_slice().try_into().unwrap()
    };
    for kid_epoch in 0..16 {
        let mut rx = FrameReceiver::new(&SenderKey::from_bytes(key_of(2)), kid_epoch).unwrap();
        assert!(rx.decrypt(Codec::Vp8, &enc).is_err());
    }
    let mut rx = FrameReceiver::new(&SenderKey::from_bytes(key_of(3)), 3).unwrap();
    assert_eq!(rx.decrypt(Codec::Vp8, &enc).unwrap(), frame);
}

#[test]
fn with_no_peers_the_new_key_is_committed_at_once() {
    let mut rng = TestRng::new(33);
    let room = room(&mut rng);
    let mut a = member(&mut rng, &room, "a");
    let out = a.set_roster(&mut rng, &[], 0).unwrap();
    assert_eq!((out.epoch, out.committed), (1, true));
    assert!(out.messages.is_empty());
    assert_eq!((a.sender_epoch(), a.pending_epoch()), (1, None));
    // a roster of nothing but bad entries is the same as no peers
    let out = a
        .set_roster(
            &mut rng,
            &[RosterEntry {
                peer: "a".into(),
                identity: "x".into(),
            }],
            0,
        )
        .unwrap();
    assert_eq!((out.epoch, out.committed, out.rejected.len()), (2, true, 1));
    assert_eq!(a.sender_epoch(), 2);
}

#[test]
fn reseal_gives_the_newest_key_to_roster_peers_only() {
    let mut rng = TestRng::new(34);
    let room = room(&mut rng);
    let mut a = member(&mut rng, &room, "a");
    let mut b = member(&mut rng, &room, "b");
    sync(&mut rng, &mut [&mut a, &mut b], 0);
    roster(&mut rng, &mut a, &[&b], 10); // pending epoch 2, never delivered
    let again = a.reseal_for(&mut rng, "b").unwrap();
    assert_eq!((again.epoch, again.message.to.as_str()), (2, "b"));
    assert_eq!(
        b.receive_key_message("a", &again.message.bytes, 11)
            .unwrap()
            .epoch,
        2
    );
    assert!(a.acknowledge("b", 2));
    a.commit_sender_key();
    assert_eq!(a.reseal_for(&mut rng, "b").unwrap().epoch, 2);
    assert_eq!(
        a.reseal_for(&mut rng, "zed").map(|r| r.epoch),
        Err(E2eeError::UnknownPeer)
    );
}

/// Issue 11 §3: one bad entry used to make the whole roster fail, so nobody rotated.
#[test]
fn bad_roster_entries_are_dropped_one_by_one_and_the_rest_rotates() {
    let mut rng = TestRng::new(35);
    let room = room(&mut rng);
    let mut a = member(&mut rng, &room, "a");
    let mut b = member(&mut rng, &room, "b");
    let c = member(&mut rng, &room, "c");
    sync(&mut rng, &mut [&mut a, &mut b], 0);
    let bi = b.my_identity().to_base64url();
    let raw = |peer: &str, identity: &str| RosterEntry {
        peer: peer.to_owned(),
        identity: identity.to_owned(),
    };
    let small_order = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    let list = vec![
        raw("a", &bi),
        raw("", &bi),
        raw(&"z".repeat(65), &bi),
        raw("b", &bi),
        raw("b", &c.my_identity().to_base64url()),
        raw("x", small_order),
        raw("y", "AAAA"),
        RosterEntry::new("c", &c.my_identity()),
    ];
    let out = a.set_roster(&mut rng, &list, 10).unwrap();
    let reasons: Vec<RosterRejection> = out.rejected.iter().map(|r| r.reason).collect();
    assert_eq!(
        reasons,
        vec![
            RosterRejection::OwnPeerId,
            RosterRejection::BadPeerId,
            RosterRejection::BadPeerId,
            RosterRejection::DuplicatePeer,
            RosterRejection::BadIdentity,
            RosterRejection::BadIdentity,
        ]
    );
    let to: Vec<&str> = out.messages.iter().map(|m| m.to.as_str()).collect();
    assert_eq!(to, vec!["b", "c"]);
    assert_eq!(a.roster().len(), 2);
    // the rotation went through for the valid peers
    b.receive_key_message("a", &out.messages[0].bytes, 11)
        .unwrap();
    assert!(!a.acknowledge("b", out.epoch));
    assert!(a.acknowledge("c", out.epoch));
    assert_eq!(a.commit_sender_key(), 2);
    assert!(!a.is_sending_blocked());
    // and later rotations too
    assert_eq!(a.set_roster(&mut rng, &list, 20).unwrap().epoch, 3);
}

/// Issue 11 §3 / rule 6: a rotation that cannot complete stops all sending until a later
/// rotation is committed.
#[test]
fn a_failed_rotation_blocks_sending_until_a_later_one_commits() {
    let mut rng = TestRng::new(36);
    let room = room(&mut rng);
    let mut a = member(&mut rng, &room, "a");
    let mut b = member(&mut rng, &room, "b");
    let c = member(&mut rng, &room, "c");
    sync(&mut rng, &mut [&mut a, &mut b], 0);
    roster(&mut rng, &mut a, &[&b, &c], 10); // pending epoch 2 (C joined)
    a.fail_next_rotation_for_testing();
    // C leaves; the rotation fails
    assert_eq!(
        a.set_roster(&mut rng, &entries(&[("b", &b.my_identity())]), 20)
            .map(|o| o.epoch),
        Err(E2eeError::Internal)
    );
    assert!(a.is_sending_blocked());
    // the pending key sealed to C is dropped: it can never be committed
    assert_eq!(a.pending_epoch(), None);
    assert_eq!(a.commit_sender_key(), 1);
    assert!(a.is_sending_blocked());
    // nothing leaves: no frame, no chat, no re-send of the key C knows
    assert_eq!(
        a.encrypt_frame(Codec::Opus, b"x"),
        Err(E2eeError::RotationIncomplete)
    );
    assert_eq!(a.seal_chat(b"x"), Err(E2eeError::RotationIncomplete));
    assert_eq!(
        a.reseal_for(&mut rng, "b").map(|r| r.epoch),
        Err(E2eeError::RotationIncomplete)
    );
    assert_eq!(a.stats().blocked, 1);
    assert_eq!(a.stats().encrypted, 0);
    // a later rotation succeeds; sending resumes only once it is committed
    let m = roster(&mut rng, &mut a, &[&b], 30).remove(0);
    assert!(a.is_sending_blocked());
    assert_eq!(
        a.encrypt_frame(Codec::Opus, b"x"),
        Err(E2eeError::RotationIncomplete)
    );
    let update = b.receive_key_message("a", &m.bytes, 31).unwrap();
    assert!(a.acknowledge("b", update.epoch));
    assert_eq!(a.commit_sender_key(), update.epoch);
    assert!(!a.is_sending_blocked());
    let enc = a.encrypt_frame(Codec::Opus, b"after").unwrap();
    assert_eq!(
        b.decrypt_frame("a", Codec::Opus, &enc, 32).unwrap(),
        b"after"
    );
}

#[test]
fn an_exhausted_epoch_counter_blocks_sending() {
    let mut rng = TestRng::new(37);
    let room = room(&mut rng);
    let mut a = member(&mut rng, &room, "a");
    let b = member(&mut rng, &room, "b");
    a.install_sender_key_for_testing([3; 16], u64::MAX).unwrap();
    assert!(a.encrypt_frame(Codec::Opus, b"x").is_ok());
    assert_eq!(
        a.set_roster(&mut rng, &entries(&[("b", &b.my_identity())]), 0)
            .map(|o| o.epoch),
        Err(E2eeError::CounterExhausted)
    );
    assert_eq!(
        a.encrypt_frame(Codec::Opus, b"x"),
        Err(E2eeError::RotationIncomplete)
    );
    assert_eq!(a.seal_chat(b"x"), Err(E2eeError::RotationIncomplete));
}

#[test]
fn an_invalid_own_peer_id_blocks_sending() {
    let mut rng = TestRng::new(38);
    let room = room(&mut rng);
    let mut a = member(&mut rng, &room, "");
    assert_eq!(
        a.set_roster(&mut rng, &[], 0).map(|o| o.epoch),
        Err(E2eeError::BadPeerId)
    );
    assert_eq!(
        a.encrypt_frame(Codec::Opus, b"x"),
        Err(E2eeError::RotationIncomplete)
    );
}
