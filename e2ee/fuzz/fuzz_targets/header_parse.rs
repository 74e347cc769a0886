#![no_main]
//! SFrame header parsing, H.264 layout parsing, base64url parsers: never panic; an accepted
//! header re-encodes to the same bytes.
use libfuzzer_sys::fuzz_target;
use sotto_e2ee::frame::parse_header;

fuzz_target!(|data: &[u8]| {
    for tag_len in [4, 16] {
        if let Ok((h, len)) = parse_header(data, tag_len) {
            assert!(h.kid < 8);
            assert!(data.len() >= len + tag_len);
            assert_eq!(h.to_vec(), data[..len]);
        }
    }
    if let Ok(text) = core::str::from_utf8(data) {
        let _ = sotto_e2ee::RoomSecret::from_base64url(text);
        let _ = sotto_e2ee::IdentityPublicKey::from_base64url(text);
        let _ = sotto_e2ee::RoomId::from_base64url(text);
        let _ = sotto_e2ee::Codec::from_mime(text);
    }
    let _ = sotto_e2ee::key_exchange::KeyMessage::parse(data);
    let _ = sotto_e2ee::chat::parse_chat(data);
});
