//! Sotto's browser bridge.
//!
//! A thin layer: it converts JavaScript values to the types of `sotto-e2ee` and maps
//! [`sotto_e2ee::E2eeError`] to JavaScript `Error` objects that carry a stable `code`.
//! All logic lives in the pure crates; nothing here decides anything about keys.
//!
//! The main export, [`CallCrypto`], lives inside the dedicated crypto Worker
//! (`js/sotto-worker.js`), so key material never enters the page's main thread. Times are
//! `performance.now()` milliseconds. Test hooks exist only with the cargo feature `testing`
//! (see `testing.rs`); the production wasm does not contain them.

mod error;
mod random;
#[cfg(feature = "testing")]
mod testing;

use js_sys::{Array, Reflect};
use serde::Serialize;
use sotto_e2ee::{Codec, GroupKeys, IdentityKeyPair, RoomSecret, RosterEntry};
use wasm_bindgen::prelude::*;

pub use error::BridgeError;
use random::os_rng;

/// One participant's view of a call's keys: identity, sender keys, receive keys, safety code.
#[wasm_bindgen]
pub struct CallCrypto {
    keys: GroupKeys,
    room_id: String,
}

#[derive(Serialize)]
struct OutgoingKey {
    to: String,
    key: String,
}

#[derive(Serialize)]
struct Rejected {
    peer: String,
    reason: &'static str,
}

#[derive(Serialize)]
struct RosterUpdate {
    epoch: u64,
    committed: bool,
    messages: Vec<OutgoingKey>,
    rejected: Vec<Rejected>,
}

#[derive(Serialize)]
struct Acknowledged {
    complete: bool,
}

#[derive(Serialize)]
struct ResealedJs {
    to: String,
    key: String,
    epoch: u64,
}

#[derive(Serialize)]
struct KeyUpdateJs {
    peer: String,
    epoch: u64,
    duplicate: bool,
}

#[derive(Serialize)]
struct SafetyCodeJs {
    digits: String,
    words: Vec<&'static str>,
}

/// Reads `[{peer, identity}]`. An entry whose fields are not strings becomes an empty string
/// there, so the core drops that entry with its reason and the others still rotate.
fn roster_entries(roster: &JsValue) -> Result<Vec<RosterEntry>, JsValue> {
    if !Array::is_array(roster) {
        return Err(BridgeError::BadArgument("roster").into());
    }
    let text = |item: &JsValue, field: &str| {
        Reflect::get(item, &JsValue::from_str(field))
            .ok()
            .and_then(|v| v.as_string())
            .unwrap_or_default()
    };
    Ok(Array::from(roster)
        .iter()
        .map(|item| RosterEntry {
            peer: text(&item, "peer"),
            identity: text(&item, "identity"),
        })
        .collect())
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
        Ok(CallCrypto { keys, room_id })
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

    /// The epoch frames and chat are sent under.
    #[wasm_bindgen(getter, js_name = senderEpoch)]
    pub fn sender_epoch(&self) -> f64 {
        epoch_to_js(self.keys.sender_epoch())
    }

    /// The epoch of the sender key being delivered and not yet committed, or `undefined`.
    #[wasm_bindgen(getter, js_name = pendingEpoch)]
    pub fn pending_epoch(&self) -> Option<f64> {
        self.keys.pending_epoch().map(epoch_to_js)
    }

    /// Replaces the roster (`[{peer, identity}]`, other peers only) and starts a rotation.
    /// Returns `{epoch, committed, messages: [{to, key}], rejected: [{peer, reason}]}`: the new
    /// key is pending (send the messages, then `acknowledge` / `commitSenderKey`) unless
    /// `committed` (no valid peer). Reasons: `own-peer-id`, `bad-peer-id`, `duplicate-peer`,
    /// `bad-identity`. If the rotation fails, sending stays blocked (`rotation-incomplete`)
    /// until a later one is committed.
    #[wasm_bindgen(js_name = setRoster)]
    pub fn set_roster(&mut self, roster: JsValue, now_ms: f64) -> Result<JsValue, JsValue> {
        let entries = roster_entries(&roster)?;
        let out = self
            .keys
            .set_roster(&mut os_rng(), &entries, ms(now_ms))
            .map_err(error::to_js)?;
        to_js(&RosterUpdate {
            epoch: out.epoch,
            committed: out.committed,
            messages: out
                .messages
                .into_iter()
                .map(|m| OutgoingKey {
                    to: m.to,
                    key: base64url(&m.bytes),
                })
                .collect(),
            rejected: out
                .rejected
                .into_iter()
                .map(|r| Rejected {
                    peer: r.peer,
                    reason: r.reason.code(),
                })
                .collect(),
        })
    }

    /// Records `from`'s `key-ack` for `epoch`; returns `{complete}`: whether every peer the
    /// pending key was sealed to has acknowledged it (false when nothing is pending).
    pub fn acknowledge(&mut self, from: &str, epoch: f64) -> Result<JsValue, JsValue> {
        let epoch = epoch_from_js(epoch).ok_or(BridgeError::BadArgument("epoch"))?;
        to_js(&Acknowledged {
            complete: self.keys.acknowledge(from, epoch),
        })
    }

    /// Starts sending under the pending key (no-op if none); returns the sending epoch.
    #[wasm_bindgen(js_name = commitSenderKey)]
    pub fn commit_sender_key(&mut self) -> f64 {
        epoch_to_js(self.keys.commit_sender_key())
    }

    /// The newest sender key (pending if any, else current) sealed afresh to roster peer
    /// `peer`: `{to, key, epoch}`, for re-sends and `key-request`s.
    #[wasm_bindgen(js_name = resealFor)]
    pub fn reseal_for(&self, peer: &str) -> Result<JsValue, JsValue> {
        let out = self
            .keys
            .reseal_for(&mut os_rng(), peer)
            .map_err(error::to_js)?;
        to_js(&ResealedJs {
            to: out.message.to,
            key: base64url(&out.message.bytes),
            epoch: out.epoch,
        })
    }

    /// Opens a sealed sender key from `from`; returns `{peer, epoch, duplicate}` (`duplicate`:
    /// the same key for the same epoch was already held; acknowledge it all the same).
    #[wasm_bindgen(js_name = receiveKey)]
    pub fn receive_key(&mut self, from: &str, key: &str, now_ms: f64) -> Result<JsValue, JsValue> {
        let bytes =
            from_base64url(key).ok_or_else(|| JsValue::from(BridgeError::BadArgument("key")))?;
        let update = self
            .keys
            .receive_key_message(from, &bytes, ms(now_ms))
            .map_err(error::to_js)?;
        to_js(&KeyUpdateJs {
            peer: update.peer,
            epoch: update.epoch,
            duplicate: update.duplicate,
        })
    }

    /// Whether a key from roster peer `peer` is in hand (if `nowMs` is given: one that has not
    /// expired by then).
    #[wasm_bindgen(js_name = hasKeyFrom)]
    pub fn has_key_from(&self, peer: &str, now_ms: Option<f64>) -> bool {
        self.keys.has_key_from(peer, now_ms.map(ms))
    }

    /// Encrypts one encoded frame for sending. `mime` is the codec, e.g. `video/VP8`.
    #[wasm_bindgen(js_name = encryptFrame)]
    pub fn encrypt_frame(&mut self, mime: &str, frame: &[u8]) -> Result<Vec<u8>, JsValue> {
        self.keys
            .encrypt_frame(Codec::from_mime(mime), frame)
            .map_err(error::to_js)
    }

    /// Decrypts one encoded frame received from `from`.
    #[wasm_bindgen(js_name = decryptFrame)]
    pub fn decrypt_frame(
        &mut self,
        from: &str,
        mime: &str,
        frame: &[u8],
        now_ms: f64,
    ) -> Result<Vec<u8>, JsValue> {
        self.keys
            .decrypt_frame(from, Codec::from_mime(mime), frame, ms(now_ms))
            .map_err(error::to_js)
    }

    /// Seals a chat message with this participant's current chat key.
    #[wasm_bindgen(js_name = sealChat)]
    pub fn seal_chat(&mut self, plaintext: &[u8]) -> Result<Vec<u8>, JsValue> {
        self.keys.seal_chat(plaintext).map_err(error::to_js)
    }

    /// Opens a chat message from `from`. Error `chat-key-pending`: its key has not arrived yet
    /// (keep it briefly and retry when a key from `from` arrives).
    #[wasm_bindgen(js_name = openChat)]
    pub fn open_chat(
        &mut self,
        from: &str,
        sealed: &[u8],
        now_ms: f64,
    ) -> Result<Vec<u8>, JsValue> {
        self.keys
            .open_chat(from, sealed, ms(now_ms))
            .map_err(error::to_js)
    }

    /// Erases receive keys whose time is up.
    pub fn expire(&mut self, now_ms: f64) {
        self.keys.expire(ms(now_ms));
    }

    /// The safety code over this room and everyone's identity keys: `{digits, words}`.
    #[wasm_bindgen(js_name = safetyCode)]
    pub fn safety_code(&self) -> Result<JsValue, JsValue> {
        let code = self.keys.safety_code();
        to_js(&SafetyCodeJs {
            digits: code.digits(),
            words: code.words(),
        })
    }

    /// Counters: encrypted, decrypted, every kind of drop, chat, and `peers: {<peer id>:
    /// {decrypted, dropped_unknown_key, dropped_auth, dropped_replay}}`.
    pub fn stats(&self) -> Result<JsValue, JsValue> {
        to_js(&self.keys.stats())
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

#[allow(clippy::cast_precision_loss)]
fn epoch_to_js(epoch: u64) -> f64 {
    epoch as f64
}

/// An epoch from JavaScript: a whole number in `0..=2^53` (anything else is refused).
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

fn base64url(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn from_base64url(text: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .ok()
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
