//! Every message type survives serialize -> parse unchanged, and the wire form is exactly the
//! one in docs/wire-protocol.md.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
use sotto_protocol::peer::{B64UrlBytes, PeerPayload};
use sotto_protocol::presence::{PresenceClientMessage, PresenceServerMessage};
use sotto_protocol::room::{ClientMessage, PeerInfo, ServerMessage};
use sotto_protocol::{ChannelId, Identity, Payload, PeerId, ProtocolError, Version};

fn peer(s: &str) -> PeerId {
    PeerId::parse(s).unwrap()
}
fn ident(s: &str) -> Identity {
    Identity::parse(s).unwrap()
}
fn chan(s: &str) -> ChannelId {
    ChannelId::parse(s).unwrap()
}

#[test]
fn client_messages_round_trip_and_match_the_doc() {
    let cases = [
        (
            ClientMessage::join(peer("alice"), ident("AAAA")),
            r#"{"type":"join","v":2,"peer":"alice","identity":"AAAA"}"#,
        ),
        (
            ClientMessage::signal(peer("bob"), Payload::new("{\"x\":1}".into()).unwrap()),
            r#"{"type":"signal","v":2,"to":"bob","payload":"{\"x\":1}"}"#,
        ),
        (ClientMessage::ping(), r#"{"type":"ping","v":2}"#),
        (ClientMessage::leave(), r#"{"type":"leave","v":2}"#),
    ];
    for (msg, wire) in cases {
        let json = msg.to_json().unwrap();
        assert_eq!(json, wire);
        assert_eq!(ClientMessage::parse(&json).unwrap(), msg);
        assert_eq!(ClientMessage::parse_bytes(json.as_bytes()).unwrap(), msg);
    }
    // The doc's field order works as well.
    assert_eq!(
        ClientMessage::parse(r#"{"v":2,"type":"join","peer":"alice","identity":"AAAA"}"#).unwrap(),
        ClientMessage::join(peer("alice"), ident("AAAA"))
    );
}

#[test]
fn server_messages_round_trip() {
    let info = PeerInfo {
        peer: peer("bob"),
        identity: ident("BBBB"),
    };
    let cases = [
        ServerMessage::Welcome {
            v: Version,
            you: peer("alice"),
            peers: vec![info.clone()],
            max_peers: 8,
        },
        ServerMessage::PeerJoined {
            v: Version,
            peer: info,
        },
        ServerMessage::PeerLeft {
            v: Version,
            peer: peer("bob"),
        },
        ServerMessage::Signal {
            v: Version,
            from: peer("a"),
            to: peer("b"),
            payload: Payload::new(String::new()).unwrap(),
        },
        ServerMessage::pong(),
        ServerMessage::error(ProtocolError::RoomFull),
    ];
    for msg in cases {
        let json = msg.to_json().unwrap();
        assert_eq!(ServerMessage::parse(&json).unwrap(), msg, "{json}");
    }
    assert_eq!(
        ServerMessage::error(ProtocolError::UnknownPeer)
            .to_json()
            .unwrap(),
        r#"{"type":"error","v":2,"code":"unknown-peer","message":"no such peer in this room"}"#
    );
    assert_eq!(
        ServerMessage::Welcome {
            v: Version,
            you: peer("a"),
            peers: vec![],
            max_peers: 8
        }
        .to_json()
        .unwrap(),
        r#"{"type":"welcome","v":2,"you":"a","peers":[],"max_peers":8}"#
    );
}

#[test]
fn presence_messages_round_trip() {
    let c = chan("cccccccccccccccccccccc");
    for msg in [
        PresenceClientMessage::Announce {
            v: Version,
            channels: vec![c.clone()],
        },
        PresenceClientMessage::Subscribe {
            v: Version,
            channels: vec![],
        },
        PresenceClientMessage::Ping { v: Version },
    ] {
        let json = msg.to_json().unwrap();
        assert_eq!(PresenceClientMessage::parse(&json).unwrap(), msg);
    }
    for msg in [
        PresenceServerMessage::presence(c, true),
        PresenceServerMessage::pong(),
        PresenceServerMessage::error(ProtocolError::TooManyChannels),
    ] {
        let json = msg.to_json().unwrap();
        assert_eq!(PresenceServerMessage::parse(&json).unwrap(), msg);
    }
}

#[test]
fn peer_payloads_round_trip_and_match_the_client() {
    let cases = [
        (
            PeerPayload::Offer { sdp: "v=0".into() },
            r#"{"type":"offer","sdp":"v=0"}"#,
        ),
        (
            PeerPayload::Answer { sdp: "v=0".into() },
            r#"{"type":"answer","sdp":"v=0"}"#,
        ),
        (
            PeerPayload::Ice {
                candidate: "candidate:1 1 udp 1 127.0.0.1 9 typ host".into(),
                sdp_mid: Some("0".into()),
                sdp_m_line_index: Some(0),
            },
            r#"{"type":"ice","candidate":"candidate:1 1 udp 1 127.0.0.1 9 typ host","sdp_mid":"0","sdp_m_line_index":0}"#,
        ),
        (
            PeerPayload::EndOfCandidates {},
            r#"{"type":"end-of-candidates"}"#,
        ),
        (
            PeerPayload::SenderKey {
                key: B64UrlBytes(vec![0xfb, 0xff, 0x00]),
            },
            r#"{"type":"sender-key","key":"-_8A"}"#,
        ),
        (
            PeerPayload::KeyAck { epoch: 7 },
            r#"{"type":"key-ack","epoch":7}"#,
        ),
        (PeerPayload::Hello {}, r#"{"type":"hello"}"#),
    ];
    for (msg, wire) in cases {
        assert_eq!(msg.to_json().unwrap(), wire);
        assert_eq!(PeerPayload::parse(wire).unwrap(), msg);
    }
    // What the browser client sends for an ICE candidate without an m-line.
    assert!(PeerPayload::parse(
        r#"{"type":"ice","candidate":"c","sdp_mid":null,"sdp_m_line_index":null}"#
    )
    .is_ok());
}

#[test]
fn every_code_is_kebab_case_unique_and_reversible() {
    let mut seen = std::collections::HashSet::new();
    for e in ProtocolError::ALL {
        let code = e.code();
        assert!(code
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'));
        assert!(seen.insert(code), "duplicate code {code}");
        assert_eq!(ProtocolError::from_code(code), Some(e));
    }
    assert_eq!(ProtocolError::from_code("nope"), None);
}
