//! Each malformed or hostile input is refused with its own stable code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
use sotto_protocol::peer::PeerPayload;
use sotto_protocol::presence::PresenceClientMessage;
use sotto_protocol::room::{ClientMessage, ServerMessage};
use sotto_protocol::ProtocolError::{self, *};

fn room(text: &str) -> Result<ClientMessage, ProtocolError> {
    ClientMessage::parse(text)
}

#[test]
fn room_rejections_have_typed_codes() {
    let long_payload = format!(
        r#"{{"v":2,"type":"signal","to":"abc","payload":"{}"}}"#,
        "y".repeat(61_000)
    );
    let too_big = format!(
        r#"{{"v":2,"type":"signal","to":"abc","payload":"{}"}}"#,
        "y".repeat(70_000)
    );
    let nested = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
    let nested_obj = format!(
        r#"{{"v":2,"type":"ping","x":{}1{}}}"#,
        r#"{"a":"#.repeat(200),
        "}".repeat(200)
    );
    let deep_payload = format!(
        r#"{{"v":2,"type":"signal","to":"a","payload":{}{}}}"#,
        "[".repeat(30_000),
        "]".repeat(30_000)
    );
    let deep_unknown = format!(
        r#"{{"v":2,"type":"ping","x":{}{}}}"#,
        "[".repeat(30_000),
        "]".repeat(30_000)
    );
    let cases: Vec<(String, ProtocolError)> = vec![
        ("not json".into(), MalformedJson),
        ("".into(), MalformedJson),
        ("{".into(), MalformedJson),
        (r#"{"v":2,"type":"ping"} trailing"#.into(), MalformedJson),
        (nested, InvalidMessage),
        (nested_obj, UnknownField),
        (deep_payload, InvalidMessage),
        (deep_unknown, UnknownField),
        ("[]".into(), InvalidMessage),
        ("null".into(), InvalidMessage),
        ("42".into(), InvalidMessage),
        ("\"ping\"".into(), InvalidMessage),
        ("{}".into(), UnsupportedVersion),
        (r#"{"type":"join"}"#.into(), UnsupportedVersion),
        (r#"{"v":1,"type":"ping"}"#.into(), UnsupportedVersion),
        // a protocol v1 client's join, and a version from the future
        (
            r#"{"v":1,"type":"join","peer":"a","identity":"b"}"#.into(),
            UnsupportedVersion,
        ),
        (r#"{"v":3,"type":"ping"}"#.into(), UnsupportedVersion),
        (r#"{"v":"2","type":"ping"}"#.into(), UnsupportedVersion),
        (r#"{"v":"1","type":"ping"}"#.into(), UnsupportedVersion),
        (r#"{"v":2.0,"type":"ping"}"#.into(), UnsupportedVersion),
        (r#"{"v":null,"type":"ping"}"#.into(), UnsupportedVersion),
        (r#"{"v":2}"#.into(), InvalidMessage),
        (r#"{"v":2,"type":7}"#.into(), InvalidMessage),
        (r#"{"v":2,"type":"teleport"}"#.into(), UnknownType),
        (r#"{"v":2,"type":"PING"}"#.into(), UnknownType),
        (
            r#"{"v":2,"type":"welcome","you":"x","peers":[],"max_peers":8}"#.into(),
            UnknownType,
        ),
        (
            r#"{"v":2,"type":"announce","channels":[]}"#.into(),
            UnknownType,
        ),
        (r#"{"v":2,"type":"ping","extra":true}"#.into(), UnknownField),
        (
            r#"{"v":2,"type":"signal","to":"abc","from":"spoofed","payload":"hi"}"#.into(),
            UnknownField,
        ),
        (r#"{"v":2,"type":"ping","v":2}"#.into(), DuplicateField),
        (
            r#"{"v":2,"type":"join","peer":"a","peer":"b","identity":"A"}"#.into(),
            DuplicateField,
        ),
        (
            r#"{"v":2,"type":"signal","to":"","payload":"hi"}"#.into(),
            InvalidPeerId,
        ),
        (
            r#"{"v":2,"type":"signal","to":"../../etc","payload":"hi"}"#.into(),
            InvalidPeerId,
        ),
        (
            r#"{"v":2,"type":"signal","to":"\u202e","payload":"hi"}"#.into(),
            InvalidPeerId,
        ),
        (
            r#"{"v":2,"type":"signal","to":123,"payload":"hi"}"#.into(),
            InvalidMessage,
        ),
        (
            r#"{"v":2,"type":"signal","to":"abc","payload":{"nested":true}}"#.into(),
            InvalidMessage,
        ),
        (
            r#"{"v":2,"type":"signal","to":"abc"}"#.into(),
            InvalidMessage,
        ),
        (long_payload, PayloadTooLarge),
        (too_big, MessageTooLarge),
        (
            format!(
                r#"{{"v":2,"type":"join","peer":"{}","identity":"AAAA"}}"#,
                "p".repeat(100)
            ),
            InvalidPeerId,
        ),
        (
            r#"{"v":2,"type":"join","peer":"has space","identity":"AAAA"}"#.into(),
            InvalidPeerId,
        ),
        (
            r#"{"v":2,"type":"join","peer":"ok","identity":123}"#.into(),
            InvalidMessage,
        ),
        (
            r#"{"v":2,"type":"join","peer":"ok","identity":"a=b"}"#.into(),
            InvalidIdentity,
        ),
        (
            format!(
                r#"{{"v":2,"type":"join","peer":"ok","identity":"{}"}}"#,
                "i".repeat(300)
            ),
            InvalidIdentity,
        ),
        (
            r#"{"v":2,"type":"join","peer":"ok"}"#.into(),
            InvalidMessage,
        ),
        ("\u{0}\u{1}\u{2}".into(), MalformedJson),
    ];
    for (text, want) in cases {
        let shown: String = text.chars().take(80).collect();
        assert_eq!(room(&text), Err(want), "{shown}");
    }
}

#[test]
fn bytes_are_checked_for_size_and_utf8() {
    assert_eq!(
        ClientMessage::parse_bytes(&[0xff, 0xfe, 0, 0x80]),
        Err(NotUtf8)
    );
    assert_eq!(ClientMessage::parse_bytes(&[0xc3; 1024]), Err(NotUtf8));
    assert_eq!(
        ClientMessage::parse_bytes(&vec![b' '; 65_537]),
        Err(MessageTooLarge)
    );
    let mut at_limit = br#"{"v":2,"type":"ping"}"#.to_vec();
    at_limit.resize(65_536, b' ');
    assert_eq!(
        ClientMessage::parse_bytes(&at_limit),
        Ok(ClientMessage::ping())
    );
}

#[test]
fn presence_rejections_have_typed_codes() {
    let ok = "c".repeat(22);
    let many = |n: usize| {
        let list = vec![format!("\"{ok}\""); n].join(",");
        format!(r#"{{"v":2,"type":"announce","channels":[{list}]}}"#)
    };
    assert!(PresenceClientMessage::parse(&many(32)).is_ok());
    assert_eq!(
        PresenceClientMessage::parse(&many(33)),
        Err(TooManyChannels)
    );
    let subs = vec![format!("\"{ok}\""); 257].join(",");
    assert_eq!(
        PresenceClientMessage::parse(&format!(
            r#"{{"v":2,"type":"subscribe","channels":[{subs}]}}"#
        )),
        Err(TooManyChannels)
    );
    for (text, want) in [
        (
            r#"{"v":2,"type":"announce","channels":["short"]}"#,
            InvalidChannelId,
        ),
        (
            r#"{"v":2,"type":"announce","channels":[1]}"#,
            InvalidMessage,
        ),
        (
            r#"{"v":2,"type":"announce","channels":"x"}"#,
            InvalidMessage,
        ),
        (r#"{"v":2,"type":"announce"}"#, InvalidMessage),
        (
            r#"{"v":2,"type":"join","peer":"a","identity":"A"}"#,
            UnknownType,
        ),
        (r#"{"v":2,"type":"ping","x":1}"#, UnknownField),
    ] {
        assert_eq!(PresenceClientMessage::parse(text), Err(want), "{text}");
    }
}

#[test]
fn server_parse_rejects_bad_ids_too() {
    assert_eq!(
        ServerMessage::parse(r#"{"v":2,"type":"peer-left","peer":"a b"}"#),
        Err(InvalidPeerId)
    );
    assert_eq!(
        ServerMessage::parse(r#"{"v":2,"type":"join","peer":"a","identity":"A"}"#),
        Err(UnknownType)
    );
    // what a protocol v1 server says (a v2 client reports it as unsupported-version)
    for v1 in [
        r#"{"v":1,"type":"error","code":"unsupported-version","message":"x"}"#,
        r#"{"v":1,"type":"welcome","you":"a","peers":[],"max_peers":8}"#,
    ] {
        assert_eq!(ServerMessage::parse(v1), Err(UnsupportedVersion), "{v1}");
    }
}

#[test]
fn peer_payload_rejections() {
    for text in [
        r#"{"type":"offer"}"#,
        r#"{"type":"offer","sdp":"x","extra":1}"#,
        r#"{"type":"sender-key","key":"a+b="}"#,
        r#"{"type":"key-ack","epoch":-1}"#,
        r#"{"type":"hello","x":1}"#,
        r#"{"type":"end-of-candidates","x":1}"#,
        r#"{"type":"safety-commit"}"#,
        r#"{"type":"safety-reveal","n":7}"#,
        r#"{"type":"display-name","name":null}"#,
        r#"{"type":"display-name","name":"a","extra":1}"#,
        r#"{"type":"bye"}"#,
        "nope",
    ] {
        assert_eq!(PeerPayload::parse(text), Err(InvalidPeerPayload), "{text}");
    }
    assert_eq!(
        PeerPayload::parse(&"x".repeat(60_001)),
        Err(PayloadTooLarge)
    );
}
