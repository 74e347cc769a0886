//! Sotto's crypto Worker module.
//!
//! A thin layer: it converts JavaScript values to the types of `sotto-e2ee` and maps
//! [`sotto_e2ee::E2eeError`] to JavaScript `Error` objects that carry a stable `code`.
//! All logic lives in the pure crates; nothing here decides anything about keys.
//!
//! The main export, [`CallCrypto`], lives inside the dedicated crypto Worker
//! (`js/sotto-worker.js`), so key material never enters the page's main thread. The page's
//! call core (`sotto-call`, in the main-thread module `sotto-call-wasm`) asks for every key
//! operation with a `CryptoRequest` that [`CallCrypto::run`] carries out ([`service`]), and
//! the frame transforms call the frame path of `frames.rs` (`encryptFrame`, `decryptFrame`,
//! and `sealBegin`/`openBegin`/`openEnd` around WebCrypto's AES-GCM for large frames). Times are `performance.now()`
//! milliseconds. Test hooks exist only with the cargo feature `testing` (see `testing.rs`);
//! the production wasm does not contain them.

mod error;
mod frames;
mod random;
pub mod service;
#[cfg(feature = "testing")]
mod testing;

use serde::Serialize;
use sotto_call::crypto::{CryptoErrorCode, CryptoRequest, CryptoResult};
use sotto_e2ee::{Codec, GroupKeys, IdentityKeyPair, RoomSecret};
use wasm_bindgen::prelude::*;

pub use error::BridgeError;
use random::os_rng;

/// One participant's view of a call's keys: identity, sender keys, receive keys, sealed
/// envelopes, the safety code rounds.
#[wasm_bindgen]
pub struct CallCrypto {
    keys: GroupKeys,
    room_id: String,
    frames: frames::FrameIo,
    #[cfg(feature = "testing")]
    test_keys: Vec<sotto_e2ee::frame::FrameKey>,
}

#[wasm_bindgen]
impl CallCrypto {
    /// Starts a participant's key state from the room secret (base64url, from the URL fragment).
    #[wasm_bindgen(constructor)]
    pub fn new(room_secret: &str, my_peer_id: String) -> Result<CallCrypto, JsValue> {
        let secret = RoomSecret::from_base64url(room_secret).map_err(error::to_js)?;
        let room = secret.derive();
        let room_id = room.room_id().as_str().to_owned();
        let mut rng = os_rng();
        let identity = IdentityKeyPair::generate(&mut rng);
        let keys = GroupKeys::new(&mut rng, room, identity, my_peer_id);
        Ok(CallCrypto {
            keys,
            room_id,
            frames: frames::FrameIo::new(),
            #[cfg(feature = "testing")]
            test_keys: Vec::new(),
        })
    }

    /// The room id the signaling server sees (derived from the secret; reveals nothing of it).
    #[wasm_bindgen(getter, js_name = roomId)]
    pub fn room_id(&self) -> String {
        self.room_id.clone()
    }

    /// This participant's public identity key, base64url.
    #[wasm_bindgen(getter)]
    pub fn identity(&self) -> String {
        self.keys.my_identity().to_base64url()
    }

    /// This participant's identity sealed under the room's roster key (protocol v2: the
    /// `identity` of every `join`; the server cannot open it). A fresh nonce each call: the
    /// page takes one at the start and announces it for the whole call.
    #[wasm_bindgen(js_name = sealedIdentity)]
    pub fn sealed_identity(&self) -> Result<String, JsValue> {
        self.keys
            .my_sealed_identity(&mut os_rng())
            .map_err(error::to_js)
    }

    /// Carries out one request of the call core (the JSON of a `sotto_call::CryptoRequest`)
    /// at `nowMs` and returns the JSON of its `CryptoResult`. Never throws: a request of the
    /// wrong shape is answered `{"failed":{"code":"bad-argument",...}}`.
    pub fn run(&mut self, request: &str, now_ms: f64) -> String {
        let result = match sotto_protocol::json::from_str::<CryptoRequest>(request) {
            Ok(request) => service::run(&mut self.keys, &mut os_rng(), request, ms(now_ms)),
            Err(_) => CryptoResult::Failed {
                code: CryptoErrorCode::BadArgument,
                message: "the request has the wrong shape".to_owned(),
            },
        };
        json(&result)
    }

    /// Encrypts one encoded frame for sending. `mime` is the codec, e.g. `video/VP8`. The
    /// frame is sealed into a buffer kept between calls and copied once, straight into the
    /// returned `Uint8Array` (no allocation per frame on the Rust side once the buffer has
    /// grown to the largest frame).
    #[wasm_bindgen(js_name = encryptFrame)]
    pub fn encrypt_frame(
        &mut self,
        mime: &str,
        frame: &[u8],
    ) -> Result<js_sys::Uint8Array, JsValue> {
        let out = self.frames.output_mut();
        self.keys
            .encrypt_frame_into(Codec::from_mime(mime), frame, out)
            .map_err(error::to_js)?;
        Ok(js_sys::Uint8Array::from(&out[..]))
    }

    /// Decrypts one encoded frame received from `from` (into the same kept buffer).
    #[wasm_bindgen(js_name = decryptFrame)]
    pub fn decrypt_frame(
        &mut self,
        from: &str,
        mime: &str,
        frame: &[u8],
        now_ms: f64,
    ) -> Result<js_sys::Uint8Array, JsValue> {
        let out = self.frames.output_mut();
        let result =
            self.keys
                .decrypt_frame_into(from, Codec::from_mime(mime), frame, ms(now_ms), out);
        match result {
            Ok(()) => Ok(js_sys::Uint8Array::from(&out[..])),
            Err(e) => {
                zeroize::Zeroize::zeroize(out);
                Err(error::to_js(e))
            }
        }
    }

    /// Erases receive keys whose time is up.
    pub fn expire(&mut self, now_ms: f64) {
        self.keys.expire(ms(now_ms));
    }

    /// Counters, as JSON: encrypted, decrypted, every kind of drop, chat, and `peers: {<peer
    /// id>: {decrypted, dropped_unknown_key, dropped_auth, dropped_replay}}`.
    pub fn stats(&self) -> String {
        json(&self.keys.stats())
    }
}

/// Makes a fresh room secret (base64url) from the browser's CSPRNG.
#[wasm_bindgen(js_name = generateRoomSecret)]
pub fn generate_room_secret() -> String {
    RoomSecret::generate(&mut os_rng()).to_base64url()
}

/// The room id for a room secret, without creating any keys.
#[wasm_bindgen(js_name = roomIdForSecret)]
pub fn room_id_for_secret(room_secret: &str) -> Result<String, JsValue> {
    let secret = RoomSecret::from_base64url(room_secret).map_err(error::to_js)?;
    Ok(secret.derive().room_id().as_str().to_owned())
}

/// JSON of a value made here (plain structs of strings, whole numbers and lists: it cannot
/// fail; the fallback keeps that promise without a panic). Written by the protocol crate's
/// small JSON writer, not serde_json: same bytes (`tests/json_equivalence.rs`), a fraction of
/// the code.
fn json<T: Serialize>(value: &T) -> String {
    sotto_protocol::json::to_string(value).unwrap_or_else(|_| {
        r#"{"failed":{"code":"internal","message":"a result could not be written"}}"#.to_owned()
    })
}

#[cfg(feature = "testing")]
fn to_js<T: Serialize>(value: &T) -> Result<JsValue, JsValue> {
    value
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(|_| BridgeError::Internal.into())
}

/// Milliseconds from JavaScript (`performance.now()` or `Date.now()`), clamped to u64.
fn ms(value: f64) -> u64 {
    if value.is_finite() && value > 0.0 {
        // Saturating float-to-int conversion is what we want for a clock.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let whole = value as u64;
        whole
    } else {
        0
    }
}

/// An epoch from JavaScript: a whole number in `0..=2^53` (anything else is refused).
#[cfg_attr(not(feature = "testing"), allow(dead_code))]
fn epoch_from_js(value: f64) -> Option<u64> {
    const MAX_SAFE: f64 = 9_007_199_254_740_992.0;
    if (0.0..=MAX_SAFE).contains(&value) && value.fract() == 0.0 {
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let whole = value as u64;
        Some(whole)
    } else {
        None
    }
}

/// A sender key written as 32 hex digits.
#[cfg_attr(not(feature = "testing"), allow(dead_code))]
fn hex_key(text: &str) -> Option<[u8; sotto_e2ee::sender_key::SENDER_KEY_LEN]> {
    let mut key = [0u8; sotto_e2ee::sender_key::SENDER_KEY_LEN];
    if text.len() != key.len() * 2 || !text.is_ascii() {
        return None;
    }
    for (i, byte) in key.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(i * 2..i * 2 + 2)?, 16).ok()?;
    }
    Some(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epochs_from_javascript_are_whole_safe_numbers_only() {
        assert_eq!(epoch_from_js(0.0), Some(0));
        assert_eq!(epoch_from_js(7.0), Some(7));
        assert_eq!(epoch_from_js(9_007_199_254_740_992.0), Some(1 << 53));
        for bad in [-1.0, 1.5, f64::NAN, f64::INFINITY, 1e300] {
            assert_eq!(epoch_from_js(bad), None, "{bad}");
        }
    }

    #[test]
    fn sender_keys_in_hex_are_exactly_32_hex_digits() {
        assert_eq!(hex_key(&"0f".repeat(16)), Some([0x0f; 16]));
        assert_eq!(hex_key(&"0f".repeat(15)), None);
        assert_eq!(hex_key(&"zz".repeat(16)), None);
        assert_eq!(hex_key(&"é".repeat(16)), None);
    }

    #[test]
    fn clock_values_clamp() {
        assert_eq!(ms(-5.0), 0);
        assert_eq!(ms(f64::NAN), 0);
        assert_eq!(ms(1234.9), 1234);
        assert_eq!(ms(f64::INFINITY), 0);
    }
}
