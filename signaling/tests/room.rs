//! The room state machine: join, roster, relay, leave, every limit, timeouts, rebuild.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
use sotto_protocol::room::{PeerInfo, ServerMessage};
use sotto_protocol::{Identity, PeerId, Version};
use sotto_signaling::room::RoomAction;
use sotto_signaling::{Action, CloseCode, ConnId, Frame, Limits, RoomRoster};

fn join_text(peer: &str) -> String {
    format!(r#"{{"v":2,"type":"join","peer":"{peer}","identity":"ID{peer}"}}"#)
}
fn signal_text(to: &str, payload: &str) -> String {
    format!(r#"{{"v":2,"type":"signal","to":"{to}","payload":"{payload}"}}"#)
}
fn info(peer: &str) -> PeerInfo {
    PeerInfo {
        peer: PeerId::parse(peer).unwrap(),
        identity: Identity::parse(&format!("ID{peer}")).unwrap(),
    }
}
fn text(room: &mut RoomRoster, conn: ConnId, t: &str, now: u64) -> Vec<RoomAction> {
    room.message(conn, Frame::Text(t), now)
}
/// Every message sent, in order; relayed text (the fast path) read back as a message.
fn sends(actions: &[RoomAction]) -> Vec<(Vec<ConnId>, ServerMessage)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send { to, msg } => Some((to.clone(), msg.clone())),
            Action::Relay { to, text } => Some((vec![*to], ServerMessage::parse(text).unwrap())),
            _ => None,
        })
        .collect()
}
fn closes(actions: &[RoomAction]) -> Vec<(ConnId, CloseCode)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Close { conn, code } => Some((*conn, *code)),
            _ => None,
        })
        .collect()
}
fn error_codes(actions: &[RoomAction]) -> Vec<String> {
    sends(actions)
        .into_iter()
        .filter_map(|(_, m)| match m {
            ServerMessage::Error { code, .. } => Some(code),
            _ => None,
        })
        .collect()
}
/// Opens and joins `peer`; returns its connection.
fn joined(room: &mut RoomRoster, peer: &str, now: u64) -> ConnId {
    let c = room.allocate_conn();
    room.open(c, now);
    let out = text(room, c, &join_text(peer), now);
    assert!(error_codes(&out).is_empty(), "{peer}: {out:?}");
    c
}

#[test]
fn join_welcome_roster_and_peer_joined() {
    let mut room = RoomRoster::new(Limits::default());
    let a = room.allocate_conn();
    let opened = room.open(a, 0);
    assert!(matches!(opened.as_slice(), [Action::Persist { .. }]));
    let out = text(&mut room, a, &join_text("alice"), 1);
    assert!(out.iter().any(
        |x| matches!(x, Action::Persist { record, .. } if record.peer == Some(info("alice")))
    ));
    assert_eq!(
        sends(&out),
        vec![(
            vec![a],
            ServerMessage::Welcome {
                v: Version,
                you: PeerId::parse("alice").unwrap(),
                peers: vec![],
                max_peers: 8
            }
        )]
    );
    let b = room.allocate_conn();
    room.open(b, 2);
    let out = text(&mut room, b, &join_text("bob"), 3);
    assert_eq!(
        sends(&out),
        vec![
            (
                vec![b],
                ServerMessage::Welcome {
                    v: Version,
                    you: PeerId::parse("bob").unwrap(),
                    peers: vec![info("alice")],
                    max_peers: 8
                }
            ),
            (
                vec![a],
                ServerMessage::PeerJoined {
                    v: Version,
                    peer: info("bob")
                }
            ),
        ]
    );
    assert_eq!(room.roster(), vec![info("alice"), info("bob")]);
}

#[test]
fn relay_sets_from_and_reaches_only_the_target() {
    let mut room = RoomRoster::new(Limits::default());
    let a = joined(&mut room, "alice", 0);
    let b = joined(&mut room, "bob", 0);
    let _c = joined(&mut room, "carol", 0);
    let out = text(&mut room, a, &signal_text("bob", "sdp"), 1);
    assert_eq!(sends(&out).len(), 1);
    let (to, msg) = &sends(&out)[0];
    assert_eq!(to, &vec![b]);
    match msg {
        ServerMessage::Signal {
            from, to, payload, ..
        } => {
            assert_eq!(from.as_str(), "alice");
            assert_eq!(to.as_str(), "bob");
            assert_eq!(payload.as_str(), "sdp");
        }
        other => panic!("{other:?}"),
    }
    // A spoofed `from` is an unknown field, not a relay.
    let spoof = r#"{"v":2,"type":"signal","to":"bob","from":"carol","payload":"x"}"#;
    let out = text(&mut room, a, spoof, 2);
    assert_eq!(error_codes(&out), vec!["unknown-field"]);
    assert_eq!(sends(&out).len(), 1);
}

#[test]
fn signal_to_unknown_peer_or_self_or_before_join() {
    let mut room = RoomRoster::new(Limits::default());
    let a = joined(&mut room, "alice", 0);
    assert_eq!(
        error_codes(&text(&mut room, a, &signal_text("nobody", "x"), 1)),
        vec!["unknown-peer"]
    );
    assert_eq!(
        error_codes(&text(&mut room, a, &signal_text("alice", "x"), 1)),
        vec!["unknown-peer"]
    );
    let n = room.allocate_conn();
    room.open(n, 0);
    assert_eq!(
        error_codes(&text(&mut room, n, &signal_text("alice", "x"), 1)),
        vec!["not-joined"]
    );
    assert_eq!(
        error_codes(&text(&mut room, n, r#"{"v":2,"type":"leave"}"#, 1)),
        Vec::<String>::new()
    );
    // ping works before join
    let n2 = room.allocate_conn();
    room.open(n2, 0);
    assert_eq!(
        sends(&text(&mut room, n2, r#"{"v":2,"type":"ping"}"#, 1)),
        vec![(vec![n2], ServerMessage::pong())]
    );
}

#[test]
fn duplicate_peer_id_is_refused_and_closed() {
    let mut room = RoomRoster::new(Limits::default());
    let a = joined(&mut room, "alice", 0);
    let b = room.allocate_conn();
    room.open(b, 0);
    let out = text(&mut room, b, &join_text("alice"), 1);
    assert_eq!(error_codes(&out), vec!["duplicate-peer"]);
    assert_eq!(closes(&out), vec![(b, CloseCode::DuplicatePeer)]);
    assert_eq!(room.roster(), vec![info("alice")]);
    // The original is untouched and nobody was told anything.
    assert!(sends(&out).iter().all(|(to, _)| to == &vec![b]));
    let _ = a;
}

#[test]
fn join_twice_is_an_error_but_keeps_the_peer() {
    let mut room = RoomRoster::new(Limits::default());
    let a = joined(&mut room, "alice", 0);
    let out = text(&mut room, a, &join_text("alice2"), 1);
    assert_eq!(error_codes(&out), vec!["already-joined"]);
    assert!(closes(&out).is_empty());
    assert_eq!(room.roster(), vec![info("alice")]);
}

#[test]
fn room_full_closes_4503_and_caps_sockets() {
    let mut room = RoomRoster::new(Limits::with_max_peers(2));
    joined(&mut room, "a", 0);
    joined(&mut room, "b", 0);
    let c = room.allocate_conn();
    room.open(c, 0);
    let out = text(&mut room, c, &join_text("c"), 0);
    assert_eq!(error_codes(&out), vec!["room-full"]);
    assert_eq!(closes(&out), vec![(c, CloseCode::Full)]);
    assert_eq!(room.joined_count(), 2);
    // Unjoined sockets are capped too (2 * max_peers in all).
    for _ in 0..2 {
        let x = room.allocate_conn();
        assert!(closes(&room.open(x, 0)).is_empty());
    }
    let x = room.allocate_conn();
    assert_eq!(closes(&room.open(x, 0)), vec![(x, CloseCode::Full)]);
}

#[test]
fn leave_and_close_tell_the_others_once() {
    let mut room = RoomRoster::new(Limits::default());
    let a = joined(&mut room, "alice", 0);
    let b = joined(&mut room, "bob", 0);
    let out = text(&mut room, a, r#"{"v":2,"type":"leave"}"#, 1);
    assert_eq!(
        sends(&out),
        vec![(
            vec![b],
            ServerMessage::PeerLeft {
                v: Version,
                peer: PeerId::parse("alice").unwrap()
            }
        )]
    );
    assert_eq!(closes(&out), vec![(a, CloseCode::Left)]);
    // The close event that follows is ignored.
    assert!(room.closed(a).is_empty());
    assert!(text(&mut room, a, &signal_text("bob", "x"), 2).is_empty());
    // A socket that just drops.
    let c = joined(&mut room, "carol", 3);
    let out = room.closed(c);
    assert_eq!(sends(&out).len(), 1);
    assert_eq!(room.roster(), vec![info("bob")]);
    // The peer id is free again.
    joined(&mut room, "alice", 4);
}

#[test]
fn oversized_and_binary_frames() {
    let mut room = RoomRoster::new(Limits::default());
    let a = joined(&mut room, "alice", 0);
    let out = room.message(a, Frame::Binary(&[0xff, 0xfe]), 1);
    assert_eq!(error_codes(&out), vec!["binary-frame"]);
    assert!(closes(&out).is_empty());
    let big = "x".repeat(65_537);
    let out = text(&mut room, a, &big, 1);
    assert_eq!(error_codes(&out), vec!["message-too-large"]);
    assert_eq!(closes(&out), vec![(a, CloseCode::TooLarge)]);
}

#[test]
fn flood_closes_4429_after_the_burst_and_spares_others() {
    let limits = Limits::default();
    let mut room = RoomRoster::new(limits.clone());
    let a = joined(&mut room, "alice", 0);
    let b = joined(&mut room, "bob", 0);
    // The join used one token; 99 more relays fit in the burst at t=0.
    let mut delivered = 0;
    let mut closed = None;
    for i in 0..200 {
        let out = text(&mut room, a, &signal_text("bob", &i.to_string()), 0);
        delivered += sends(&out).iter().filter(|(to, _)| to == &vec![b]).count();
        if let Some(c) = closes(&out).first() {
            closed = Some((i, *c));
            break;
        }
    }
    assert_eq!(closed, Some((99, (a, CloseCode::RateLimited))));
    // bob got every relayed message plus peer-left.
    assert_eq!(delivered, 99 + 1);
    assert_eq!(room.roster(), vec![info("bob")]);
}

#[test]
fn steady_traffic_under_the_rate_is_fine() {
    let mut room = RoomRoster::new(Limits::default());
    let a = joined(&mut room, "alice", 0);
    joined(&mut room, "bob", 0);
    // 40 msg/s for 30 s.
    for i in 0..1200u64 {
        let out = text(&mut room, a, &signal_text("bob", "x"), i * 25);
        assert!(closes(&out).is_empty(), "closed at {i}");
    }
}

#[test]
fn too_many_invalid_messages_close_4400() {
    let mut room = RoomRoster::new(Limits::default());
    let a = joined(&mut room, "alice", 0);
    for i in 0..32u64 {
        let out = text(&mut room, a, "nope", i * 100);
        assert!(closes(&out).is_empty());
    }
    let out = text(&mut room, a, "nope", 4000);
    assert_eq!(error_codes(&out), vec!["malformed-json", "too-many-errors"]);
    assert_eq!(closes(&out), vec![(a, CloseCode::BadRequest)]);
}

#[test]
fn join_timeout_and_idle_timeout() {
    let limits = Limits::default();
    let mut room = RoomRoster::new(limits.clone());
    let lurker = room.allocate_conn();
    room.open(lurker, 0);
    let a = joined(&mut room, "alice", 0);
    let b = joined(&mut room, "bob", 0);
    assert_eq!(room.next_deadline(), Some(limits.join_timeout_ms));
    assert!(room.tick(limits.join_timeout_ms - 1).is_empty());
    // A ping before join does not extend the join deadline.
    text(&mut room, lurker, r#"{"v":2,"type":"ping"}"#, 5_000);
    let out = room.tick(limits.join_timeout_ms);
    assert_eq!(error_codes(&out), vec!["join-timeout"]);
    assert_eq!(closes(&out), vec![(lurker, CloseCode::Timeout)]);
    // alice keeps pinging; bob goes quiet.
    for t in (15_000..=60_000).step_by(15_000) {
        text(&mut room, a, r#"{"v":2,"type":"ping"}"#, t);
    }
    assert_eq!(room.next_deadline(), Some(limits.idle_timeout_ms));
    let out = room.tick(limits.idle_timeout_ms);
    assert_eq!(closes(&out), vec![(b, CloseCode::Timeout)]);
    assert!(error_codes(&out).contains(&"idle-timeout".to_string()));
    assert!(sends(&out)
        .iter()
        .any(|(to, m)| to == &vec![a] && matches!(m, ServerMessage::PeerLeft { .. })));
    assert_eq!(room.roster(), vec![info("alice")]);
    assert_eq!(room.next_deadline(), Some(60_000 + limits.idle_timeout_ms));
}

#[test]
fn a_protocol_v1_client_is_told_unsupported_version_and_relays_nothing() {
    let mut room = RoomRoster::new(Limits::default());
    let bob = joined(&mut room, "bob", 0);
    // a v1 client's join: refused with its code, and nobody hears of it
    let old = room.allocate_conn();
    room.open(old, 0);
    let out = text(
        &mut room,
        old,
        r#"{"v":1,"type":"join","peer":"old","identity":"IDold"}"#,
        1,
    );
    assert_eq!(error_codes(&out), vec!["unsupported-version".to_owned()]);
    assert!(
        sends(&out).iter().all(|(to, _)| to == &vec![old]),
        "{out:?}"
    );
    // a joined client sending a v1 signal: refused, not relayed (neither path)
    let alice = joined(&mut room, "alice", 2);
    let out = text(
        &mut room,
        alice,
        r#"{"v":1,"type":"signal","to":"bob","payload":"x"}"#,
        3,
    );
    assert_eq!(error_codes(&out), vec!["unsupported-version".to_owned()]);
    assert!(
        sends(&out).iter().all(|(to, _)| !to.contains(&bob)),
        "{out:?}"
    );
    // and the v2 form of the same signal is relayed
    let out = text(&mut room, alice, &signal_text("bob", "x"), 4);
    assert_eq!(sends(&out).len(), 1);
    assert_eq!(sends(&out)[0].0, vec![bob]);
}
