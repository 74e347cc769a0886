//! One core driven by hand, input by input, as the bridge would: the order of its actions.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use sotto_call::crypto::{CryptoResult, KeyMessage, SafetyCode};
use sotto_call::{
    Action, AppEvent, CallCore, Config, CryptoRequest, Input, PeerOp, RequestId, Role, SdpKind,
    SocketId,
};
use sotto_protocol::peer::{B64UrlBytes, PeerPayload};
use sotto_protocol::room::{ClientMessage, PeerInfo, ServerMessage};
use sotto_protocol::{Identity, PeerId, RoomId, Version};

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

fn crypto_request(actions: &[Action]) -> Option<(RequestId, CryptoRequest)> {
    actions.iter().find_map(|a| match a {
        Action::Crypto { request, op } => Some((*request, op.clone())),
        _ => None,
    })
}

#[test]
fn a_newcomer_offers_only_once_its_key_is_committed_and_attaches_before_anything() {
    let (mut core, socket) = new_core();
    let them = PeerInfo {
        peer: id("a"),
        identity: Identity::parse("AAAA").unwrap(),
    };
    let welcome = ServerMessage::Welcome {
        v: Version,
        you: id("me"),
        peers: vec![them.clone()],
        max_peers: 8,
    };
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
        "no connection before the new key is committed: {actions:?}"
    );
    // the key is pending and goes out
    let roster = CryptoResult::Roster {
        epoch: 1,
        committed: false,
        messages: vec![KeyMessage {
            to: id("a"),
            key: B64UrlBytes(vec![1, 2, 3]),
        }],
        rejected: vec![],
        safety_code: SafetyCode {
            digits: "1".into(),
            words: vec![],
        },
    };
    core.handle(
        Input::Crypto {
            request,
            result: roster,
        },
        20,
    );
    let actions = drain(&mut core);
    let sent_key = actions.iter().any(|a| match a {
        Action::SendServer { text, .. } => match ClientMessage::parse(text).unwrap() {
            ClientMessage::Signal { payload, .. } => matches!(
                PeerPayload::parse(payload.as_str()).unwrap(),
                PeerPayload::SenderKey { .. }
            ),
            _ => false,
        },
        _ => false,
    });
    assert!(sent_key, "{actions:?}");
    assert!(!actions
        .iter()
        .any(|a| matches!(a, Action::CreatePeer { .. })));
    // no acknowledgement: the switch timeout commits
    assert_eq!(core.poll_timeout(), Some(1_020));
    core.handle_timeout(1_020);
    let (request, op) = crypto_request(&drain(&mut core)).unwrap();
    assert_eq!(op, CryptoRequest::Commit { epoch: 1 });
    core.handle(
        Input::Crypto {
            request,
            result: CryptoResult::Committed { epoch: 1 },
        },
        1_021,
    );
    let actions = drain(&mut core);
    let conn = match actions.as_slice() {
        [Action::Emit {
            event: AppEvent::KeyEpoch { epoch: 1, .. },
        }, Action::CreatePeer { conn, .. }, Action::AttachLocalMediaAndTransforms {
            role: Role::Offerer,
            ..
        }] => *conn,
        other => panic!("key-epoch, then the connection, attach first: {other:?}"),
    };
    // nothing is created before the attach is done
    core.handle(
        Input::PeerOpDone {
            conn,
            op: PeerOp::Attach,
        },
        1_022,
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
        1_023,
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
        1_024,
    );
    match drain(&mut core).as_slice() {
        [Action::SendServer { text, .. }] => match ClientMessage::parse(text).unwrap() {
            ClientMessage::Signal { to, payload, .. } => {
                assert_eq!(to, id("a"));
                assert_eq!(
                    PeerPayload::parse(payload.as_str()).unwrap(),
                    PeerPayload::Offer { sdp: tuned.into() }
                );
            }
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_second_welcome_on_one_socket_is_refused() {
    let (mut core, socket) = new_core();
    let welcome = ServerMessage::Welcome {
        v: Version,
        you: id("me"),
        peers: vec![],
        max_peers: 8,
    };
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
    let welcome = ServerMessage::Welcome {
        v: Version,
        you: id("me"),
        peers: vec![PeerInfo {
            peer: id("a"),
            identity: Identity::parse("AAAA").unwrap(),
        }],
        max_peers: 8,
    };
    let (request, _) = crypto_request(&server(&mut core, socket, &welcome, 10)).unwrap();
    let roster = CryptoResult::Roster {
        epoch: 1,
        committed: true,
        messages: vec![],
        rejected: vec![],
        safety_code: SafetyCode {
            digits: "1".into(),
            words: vec![],
        },
    };
    core.handle(
        Input::Crypto {
            request,
            result: roster,
        },
        20,
    );
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
