//! One core driven by hand, input by input, as the bridge would: the order of its actions.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use sotto_call::crypto::{Admitted, CryptoResult, KeyMessage};
use sotto_call::{
    Action, AppEvent, CallCore, Config, CryptoRequest, IceCandidate, Input, PeerOp, RequestId,
    Role, SdpKind, SocketId,
};
use sotto_protocol::peer::{B64UrlBytes, PeerPayload};
use sotto_protocol::room::{ClientMessage, PeerInfo, ServerMessage};
use sotto_protocol::{Identity, Payload, PeerId, RoomId, Version};

fn id(s: &str) -> PeerId {
    PeerId::parse(s).unwrap()
}

fn drain(core: &mut CallCore) -> Vec<Action> {
    std::iter::from_fn(|| core.poll_action()).collect()
}

fn new_core() -> (CallCore, SocketId) {
    let room = RoomId::parse(&"r".repeat(22)).unwrap();
    let mut core = CallCore::new(
        Config::default(),
        id("me"),
        Identity::parse("MEMEME").unwrap(),
        &room,
        7,
        0,
    );
    let socket = match drain(&mut core).as_slice() {
        [Action::OpenSocket { socket, path }] => {
            assert_eq!(path, &format!("/ws/room/{}", "r".repeat(22)));
            *socket
        }
        other => panic!("{other:?}"),
    };
    core.handle(Input::LocalMediaReady, 1);
    core.handle(Input::SocketOpened { socket }, 2);
    match drain(&mut core).as_slice() {
        [Action::SendServer { text, .. }] => assert!(matches!(
            ClientMessage::parse(text).unwrap(),
            ClientMessage::Join { .. }
        )),
        other => panic!("{other:?}"),
    }
    (core, socket)
}

/// The server's welcome to "me" in a room of at most 8, listing `peers`.
fn welcome(peers: Vec<PeerInfo>) -> ServerMessage {
    ServerMessage::Welcome {
        v: Version,
        you: id("me"),
        peers,
        max_peers: 8,
    }
}

fn server(core: &mut CallCore, socket: SocketId, msg: &ServerMessage, now: u64) -> Vec<Action> {
    core.handle(
        Input::SocketMessage {
            socket,
            text: msg.to_json().unwrap(),
        },
        now,
    );
    drain(core)
}

/// A roster result admitting `admitted` (their identity keys are `KEY-<peer>`).
fn roster(
    epoch: u64,
    committed: bool,
    messages: Vec<KeyMessage>,
    admitted: &[&str],
) -> CryptoResult {
    CryptoResult::Roster {
        epoch,
        committed,
        messages,
        rejected: vec![],
        admitted: admitted
            .iter()
            .map(|p| Admitted {
                peer: id(p),
                identity: format!("KEY-{p}"),
            })
            .collect(),
    }
}

/// Plays the crypto Worker for every `Seal` among `actions` (the "envelope" is the payload in
/// base64url, enough to read it back): the actions that follow.
fn seal_all(core: &mut CallCore, actions: &[Action], now: u64) -> Vec<Action> {
    let mut out = Vec::new();
    for a in actions {
        if let Action::Crypto {
            request,
            op: CryptoRequest::Seal { to, payload },
        } = a
        {
            let result = CryptoResult::Sealed {
                to: to.clone(),
                envelope: URL_SAFE_NO_PAD.encode(payload),
            };
            core.handle(
                Input::Crypto {
                    request: *request,
                    result,
                },
                now,
            );
            out.extend(drain(core));
        }
    }
    out
}

/// The peer payloads the sealed signals among `actions` carry, with their recipients.
fn signals(actions: &[Action]) -> Vec<(PeerId, PeerPayload)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::SendServer { text, .. } => match ClientMessage::parse(text).unwrap() {
                ClientMessage::Signal { to, payload, .. } => {
                    let json = URL_SAFE_NO_PAD.decode(payload.as_str()).unwrap();
                    Some((
                        to,
                        PeerPayload::parse(std::str::from_utf8(&json).unwrap()).unwrap(),
                    ))
                }
                _ => None,
            },
            _ => None,
        })
        .collect()
}

fn crypto_request(actions: &[Action]) -> Option<(RequestId, CryptoRequest)> {
    actions.iter().find_map(|a| match a {
        Action::Crypto { request, op } => Some((*request, op.clone())),
        _ => None,
    })
}

/// Runs the core's timers until it asks the Worker to commit a key: that request, its epoch
/// and the time then, and when the safety code round started meanwhile (if it did).
fn commit_by_timeout(core: &mut CallCore, mut now: u64) -> (RequestId, u64, u64, Option<u64>) {
    let mut safety = None;
    loop {
        let next = core.poll_timeout().expect("a timer runs");
        now = now.max(next);
        assert!(now < 10_000, "no commit");
        core.handle_timeout(now);
        for a in drain(core) {
            match a {
                Action::Crypto {
                    request,
                    op: CryptoRequest::Commit { epoch },
                } => return (request, epoch, now, safety),
                Action::Crypto {
                    op: CryptoRequest::SafetyStart,
                    ..
                } => safety = safety.or(Some(now)),
                _ => {}
            }
        }
    }
}

#[test]
fn a_newcomer_offers_while_its_first_key_waits_for_its_ack_and_attaches_before_anything() {
    let (mut core, socket) = new_core();
    let them = PeerInfo {
        peer: id("a"),
        identity: Identity::parse("AAAA").unwrap(),
    };
    let welcome = welcome(vec![them.clone()]);
    let actions = server(&mut core, socket, &welcome, 10);
    assert!(actions.iter().any(|a| matches!(
        a,
        Action::Emit {
            event: AppEvent::Joined
        }
    )));
    let (request, op) = crypto_request(&actions).expect("a rotation");
    assert_eq!(op, CryptoRequest::SetRoster { roster: vec![them] });
    assert!(
        !actions
            .iter()
            .any(|a| matches!(a, Action::CreatePeer { .. })),
        "no connection before the peer is admitted: {actions:?}"
    );
    // the key is pending and goes out (sealed: nothing reaches the socket in clear); this
    // participant never sent under a key before, so its connection starts at once (no key
    // from before to keep from the peer), overlapping the key's acknowledgement
    let result = roster(
        1,
        false,
        vec![KeyMessage {
            to: id("a"),
            key: B64UrlBytes(vec![1, 2, 3]),
        }],
        &["a"],
    );
    core.handle(Input::Crypto { request, result }, 20);
    let actions = drain(&mut core);
    assert!(
        !actions
            .iter()
            .any(|a| matches!(a, Action::SendServer { .. })),
        "nothing goes out unsealed: {actions:?}"
    );
    assert!(actions.iter().any(|a| matches!(
        a,
        Action::Emit {
            event: AppEvent::ParticipantJoined { identity, .. }
        } if identity == "KEY-a"
    )));
    assert!(
        !actions.iter().any(|a| matches!(
            a,
            Action::Emit {
                event: AppEvent::KeyEpoch { .. }
            }
        )),
        "the key is not in use yet: {actions:?}"
    );
    let created = actions
        .iter()
        .position(|a| matches!(a, Action::CreatePeer { .. }))
        .expect("the connection starts while the key waits for its ack");
    let key_sealed = actions
        .iter()
        .position(|a| {
            matches!(
                a,
                Action::Crypto {
                    op: CryptoRequest::Seal { .. },
                    ..
                }
            )
        })
        .expect("the key is sealed");
    assert!(key_sealed < created, "the key goes out first: {actions:?}");
    let conn = match &actions[created..] {
        [Action::CreatePeer { conn, .. }, Action::AttachLocalMediaAndTransforms {
            role: Role::Offerer,
            ..
        }, ..] => *conn,
        other => panic!("the connection, attach first: {other:?}"),
    };
    let sent = signals(&seal_all(&mut core, &actions, 20));
    assert!(
        matches!(sent.first(), Some((to, PeerPayload::SenderKey { .. })) if to == &id("a")),
        "the key is the first message to a: {sent:?}"
    );
    // nothing is created before the attach is done
    core.handle(
        Input::PeerOpDone {
            conn,
            op: PeerOp::Attach,
        },
        22,
    );
    assert_eq!(
        drain(&mut core),
        vec![Action::CreateOffer {
            conn,
            ice_restart: false
        }]
    );
    // the offer is tuned before it is applied, and sent only once applied
    let raw = "v=0\r\na=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\na=rtpmap:111 opus/48000/2\r\na=fmtp:111 minptime=10\r\n";
    core.handle(
        Input::DescriptionCreated {
            conn,
            kind: SdpKind::Offer,
            sdp: raw.into(),
        },
        23,
    );
    let tuned = "v=0\r\na=rtpmap:111 opus/48000/2\r\na=fmtp:111 minptime=10;cbr=1\r\n";
    assert_eq!(
        drain(&mut core),
        vec![Action::SetLocalDescription {
            conn,
            kind: SdpKind::Offer,
            sdp: tuned.into()
        }]
    );
    core.handle(
        Input::PeerOpDone {
            conn,
            op: PeerOp::SetLocalDescription,
        },
        24,
    );
    let actions = drain(&mut core);
    assert!(
        matches!(
            actions.as_slice(),
            [Action::Crypto {
                op: CryptoRequest::Seal { .. },
                ..
            }]
        ),
        "the offer goes to the Worker to be sealed first: {actions:?}"
    );
    assert_eq!(
        signals(&seal_all(&mut core, &actions, 25)),
        vec![(id("a"), PeerPayload::Offer { sdp: tuned.into() })]
    );
    // 500 ms after the roster change a safety code round starts; no acknowledgement: the
    // switch timeout commits; the connection is not made again
    let (request, epoch, now, safety) = commit_by_timeout(&mut core, 25);
    assert_eq!((epoch, now, safety), (1, 1_020, Some(510)));
    core.handle(
        Input::Crypto {
            request,
            result: CryptoResult::Committed { epoch: 1 },
        },
        1_021,
    );
    let actions = drain(&mut core);
    assert!(actions.iter().any(|a| matches!(
        a,
        Action::Emit {
            event: AppEvent::KeyEpoch { epoch: 1, .. }
        }
    )));
    assert!(
        !actions
            .iter()
            .any(|a| matches!(a, Action::CreatePeer { .. })),
        "{actions:?}"
    );
}

#[test]
fn a_participant_with_a_key_answers_a_newcomer_only_once_its_new_key_is_committed() {
    let (mut core, socket) = new_core();
    let welcome = welcome(vec![]);
    let (request, _) = crypto_request(&server(&mut core, socket, &welcome, 10)).unwrap();
    core.handle(
        Input::Crypto {
            request,
            result: roster(1, true, vec![], &[]),
        },
        11,
    );
    drain(&mut core);
    // b joins: a new key, pending until b acknowledges it
    let joined = ServerMessage::PeerJoined {
        v: Version,
        peer: PeerInfo {
            peer: id("b"),
            identity: Identity::parse("BBBB").unwrap(),
        },
    };
    let (request, op) = crypto_request(&server(&mut core, socket, &joined, 20)).unwrap();
    assert!(matches!(op, CryptoRequest::SetRoster { .. }), "{op:?}");
    let result = roster(
        2,
        false,
        vec![KeyMessage {
            to: id("b"),
            key: B64UrlBytes(vec![4, 5, 6]),
        }],
        &["b"],
    );
    core.handle(Input::Crypto { request, result }, 21);
    let actions = drain(&mut core);
    seal_all(&mut core, &actions, 21);
    // b's offer comes, sealed; the Worker opens it
    let offer = ServerMessage::Signal {
        v: Version,
        from: id("b"),
        to: id("me"),
        payload: Payload::new("ENVELOPE".into()).unwrap(),
    };
    let (request, op) = crypto_request(&server(&mut core, socket, &offer, 30)).unwrap();
    assert!(matches!(op, CryptoRequest::Open { .. }), "{op:?}");
    let payload = PeerPayload::Offer {
        sdp: "v=0\r\n".into(),
    }
    .to_json()
    .unwrap();
    core.handle(
        Input::Crypto {
            request,
            result: CryptoResult::Opened {
                from: id("b"),
                payload,
            },
        },
        31,
    );
    let actions = drain(&mut core);
    assert!(
        !actions
            .iter()
            .any(|a| matches!(a, Action::CreatePeer { .. })),
        "no connection while its media could still go out under the key from before: {actions:?}"
    );
    // the switch timeout commits the new key: then the connection that answers b
    let (request, epoch, now, _) = commit_by_timeout(&mut core, 31);
    assert_eq!(epoch, 2);
    core.handle(
        Input::Crypto {
            request,
            result: CryptoResult::Committed { epoch: 2 },
        },
        now + 1,
    );
    let actions = drain(&mut core);
    assert!(
        actions.iter().any(|a| matches!(
            a,
            Action::AttachLocalMediaAndTransforms {
                role: Role::Answerer,
                ..
            }
        )),
        "{actions:?}"
    );
}

#[test]
fn a_second_welcome_on_one_socket_is_refused() {
    let (mut core, socket) = new_core();
    let welcome = welcome(vec![]);
    server(&mut core, socket, &welcome, 10);
    let again = server(&mut core, socket, &welcome, 20);
    assert!(
        again.iter().any(|a| matches!(a, Action::Emit { event: AppEvent::Error(e) } if e.code.code() == "bad-server-message")),
        "{again:?}"
    );
    assert!(!again.iter().any(|a| matches!(
        a,
        Action::Emit {
            event: AppEvent::SignalingState { .. }
        }
    )));
}

#[test]
fn a_join_refused_by_the_server_fails_the_join_and_closes() {
    let (mut core, socket) = new_core();
    let refused = ServerMessage::error(sotto_protocol::ProtocolError::RoomFull);
    let actions = server(&mut core, socket, &refused, 10);
    assert!(actions.iter().any(|a| matches!(a, Action::Emit { event: AppEvent::JoinFailed { error } } if error.code.code() == "room-full")));
    assert!(matches!(
        actions.last(),
        Some(Action::Emit {
            event: AppEvent::Closed
        })
    ));
    assert!(core.is_closed());
    assert_eq!(core.poll_timeout(), None);
}

/// A core that has joined with peer `a` there and committed its key: its first connection
/// to `a` is being made (`CreatePeer`, then `AttachLocalMediaAndTransforms`).
fn offering_core() -> (CallCore, sotto_call::ConnId) {
    let (mut core, socket) = new_core();
    let welcome = welcome(vec![PeerInfo {
        peer: id("a"),
        identity: Identity::parse("AAAA").unwrap(),
    }]);
    let (request, _) = crypto_request(&server(&mut core, socket, &welcome, 10)).unwrap();
    let result = roster(1, true, vec![], &["a"]);
    core.handle(Input::Crypto { request, result }, 20);
    let conn = drain(&mut core)
        .into_iter()
        .find_map(|a| match a {
            Action::AttachLocalMediaAndTransforms { conn, .. } => Some(conn),
            _ => None,
        })
        .expect("the first connection");
    (core, conn)
}

#[test]
fn a_connection_that_fails_every_time_is_remade_under_back_off_not_in_a_loop() {
    // The browser refuses to attach the local media every time (say, addTransceiver throws).
    // The core closes that connection and offers again on a new one: after the ICE back-off
    // (1, 2, 4, 8, 8 ... s), never at once, or the bridge would spin without end.
    let (mut core, first) = offering_core();
    let mut now = 21;
    let mut pending = Some(first);
    let mut made_at = vec![now];
    for _ in 0..500 {
        if let Some(conn) = pending.take() {
            core.handle(
                Input::PeerOpFailed {
                    conn,
                    op: PeerOp::Attach,
                    message: "refused".into(),
                },
                now,
            );
        } else {
            let next = core.poll_timeout().expect("a timer runs");
            if next > 60_000 {
                break;
            }
            now = now.max(next);
            core.handle_timeout(now);
        }
        for a in drain(&mut core) {
            if let Action::AttachLocalMediaAndTransforms { conn, .. } = a {
                made_at.push(now);
                pending = Some(conn);
            }
        }
    }
    let gaps: Vec<u64> = made_at.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(
        made_at.len() <= 12,
        "{} connections in 60 s: {made_at:?}",
        made_at.len()
    );
    assert_eq!(
        &gaps[..4],
        &[1_000, 2_000, 4_000, 8_000],
        "the ICE back-off: {gaps:?}"
    );
    assert!(gaps.iter().all(|g| *g >= 1_000), "{gaps:?}");
}

#[test]
fn a_server_of_another_protocol_version_fails_the_join_with_a_typed_error() {
    // what a protocol v1 worker answers a v2 join: its own error, at version 1
    let (mut core, socket) = new_core();
    let v1 =
        r#"{"v":1,"type":"error","code":"unsupported-version","message":"this server speaks v1"}"#;
    core.handle(
        Input::SocketMessage {
            socket,
            text: v1.into(),
        },
        10,
    );
    let actions = drain(&mut core);
    assert!(
        actions.iter().any(|a| matches!(a, Action::Emit { event: AppEvent::JoinFailed { error } } if error.code.code() == "unsupported-version")),
        "{actions:?}"
    );
    assert!(core.is_closed());
    // after a welcome, a message of another version is an error event, not silence
    let (mut core, socket) = new_core();
    let welcome = welcome(vec![]);
    server(&mut core, socket, &welcome, 10);
    core.handle(
        Input::SocketMessage {
            socket,
            text: r#"{"v":3,"type":"pong"}"#.into(),
        },
        20,
    );
    let actions = drain(&mut core);
    assert!(
        actions.iter().any(|a| matches!(a, Action::Emit { event: AppEvent::Error(e) } if e.code.code() == "unsupported-version")),
        "{actions:?}"
    );
    assert!(!core.is_closed());
    assert_eq!(core.stats().bad_server_messages, 1);
}

#[test]
fn relay_mode_strips_other_candidates_from_descriptions_both_ways() {
    let room = RoomId::parse(&"r".repeat(22)).unwrap();
    let config = Config {
        privacy: sotto_call::Privacy::Relay,
        ..Config::default()
    };
    let mut core = CallCore::new(
        config,
        id("me"),
        Identity::parse("MEMEME").unwrap(),
        &room,
        7,
        0,
    );
    let socket = match drain(&mut core).as_slice() {
        [Action::OpenSocket { socket, .. }] => *socket,
        other => panic!("{other:?}"),
    };
    core.handle(Input::LocalMediaReady, 1);
    core.handle(Input::SocketOpened { socket }, 2);
    drain(&mut core);
    let welcome = welcome(vec![PeerInfo {
        peer: id("a"),
        identity: Identity::parse("AAAA").unwrap(),
    }]);
    let (request, _) = crypto_request(&server(&mut core, socket, &welcome, 10)).unwrap();
    let result = roster(1, true, vec![], &["a"]);
    core.handle(Input::Crypto { request, result }, 20);
    let conn = drain(&mut core)
        .into_iter()
        .find_map(|a| match a {
            Action::AttachLocalMediaAndTransforms { conn, .. } => Some(conn),
            _ => None,
        })
        .unwrap();
    core.handle(
        Input::PeerOpDone {
            conn,
            op: PeerOp::Attach,
        },
        21,
    );
    drain(&mut core);
    let sdp = "v=0\r\na=rtpmap:111 opus/48000/2\r\na=candidate:1 1 udp 1 192.168.1.2 5000 typ host\r\na=candidate:2 1 udp 1 198.51.100.9 7000 typ relay raddr 0.0.0.0 rport 0\r\na=candidate:3 1 udp 1 203.0.113.7 6000 typ srflx raddr 0.0.0.0 rport 0\r\n";
    core.handle(
        Input::DescriptionCreated {
            conn,
            kind: SdpKind::Offer,
            sdp: sdp.into(),
        },
        22,
    );
    let applied = match drain(&mut core).as_slice() {
        [Action::SetLocalDescription { sdp, .. }] => sdp.clone(),
        other => panic!("{other:?}"),
    };
    assert!(applied.contains("typ relay"), "{applied}");
    assert!(
        !applied.contains("typ host") && !applied.contains("typ srflx"),
        "{applied}"
    );
    // a trickled host candidate of our own is not sent; one from the peer is not applied
    core.handle(
        Input::IceCandidate {
            conn,
            candidate: IceCandidate {
                candidate: "candidate:1 1 udp 1 192.168.1.2 5000 typ host".into(),
                sdp_mid: None,
                sdp_m_line_index: Some(0),
            },
        },
        23,
    );
    assert!(drain(&mut core).is_empty());
    let stats = core.stats().candidates;
    assert_eq!((stats.sent_other, stats.dropped), (1, 3));
}
