//! Every parser the worker and the client run on bytes from the network: any input must
//! parse or return an error, never panic; whatever parses must serialise and parse again
//! to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sotto_protocol::peer::PeerPayload;
use sotto_protocol::presence::{PresenceClientMessage, PresenceServerMessage};
use sotto_protocol::room::{ClientMessage, ServerMessage};

fuzz_target!(|data: &[u8]| {
    if let Ok(message) = ClientMessage::parse_bytes(data) {
        let text = serde_json::to_string(&message).expect("a parsed message serialises");
        assert_eq!(ClientMessage::parse(&text).ok(), Some(message));
    }
    let _ = ServerMessage::parse_bytes(data);
    let _ = PresenceClientMessage::parse_bytes(data);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = PresenceServerMessage::parse(text);
        let _ = PeerPayload::parse(text);
    }
});
