//! Any input parses or errors, never panics; valid messages round-trip.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
use proptest::prelude::*;
use sotto_protocol::peer::PeerPayload;
use sotto_protocol::presence::{PresenceClientMessage, PresenceServerMessage};
use sotto_protocol::room::{ClientMessage, ServerMessage};
use sotto_protocol::{Identity, Payload, PeerId};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn any_string_parses_or_errors(s in any::<String>()) {
        let _ = ClientMessage::parse(&s);
        let _ = ServerMessage::parse(&s);
        let _ = PresenceClientMessage::parse(&s);
        let _ = PresenceServerMessage::parse(&s);
        let _ = PeerPayload::parse(&s);
    }

    #[test]
    fn any_bytes_parse_or_error(b in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = ClientMessage::parse_bytes(&b);
        let _ = PresenceClientMessage::parse_bytes(&b);
    }

    #[test]
    fn json_shaped_strings_parse_or_error(
        ty in prop::sample::select(vec!["join", "signal", "ping", "leave", "x", ""]),
        key in "[a-z_]{0,8}",
        val in prop::sample::select(vec!["1", "\"a\"", "null", "[]", "{}", "-0", "1e999", "\"\\u0000\""]),
    ) {
        let text = format!(r#"{{"v":2,"type":"{ty}","{key}":{val}}}"#);
        let _ = ClientMessage::parse(&text);
    }

    #[test]
    fn valid_signals_round_trip(to in "[A-Za-z0-9_-]{1,64}", payload in any::<String>()) {
        let msg = ClientMessage::signal(PeerId::parse(&to).unwrap(), Payload::new(payload).unwrap());
        let json = msg.to_json().unwrap();
        prop_assert_eq!(ClientMessage::parse(&json).unwrap(), msg);
    }

    #[test]
    fn valid_joins_round_trip(peer in "[A-Za-z0-9_-]{1,64}", identity in "[A-Za-z0-9_-]{1,256}") {
        let msg = ClientMessage::join(PeerId::parse(&peer).unwrap(), Identity::parse(&identity).unwrap());
        prop_assert_eq!(ClientMessage::parse(&msg.to_json().unwrap()).unwrap(), msg);
    }
}
