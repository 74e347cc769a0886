//! Sotto's browser bridge.
//!
//! A thin layer: it converts JavaScript values to the types of `sotto-e2ee` and maps
//! [`sotto_e2ee::E2eeError`] to JavaScript `Error` objects that carry a stable `code`.
//! All logic lives in the pure crates; nothing here decides anything about keys.
//!
//! The main export, [`CallCrypto`], lives inside the dedicated crypto Worker
//! (`js/sotto-worker.js`), so key material never enters the page's main thread.

mod error;
mod random;

use serde::{Deserialize, Serialize};
use sotto_e2ee::{Codec, GroupKeys, IdentityKeyPair, IdentityPublicKey, RoomSecret};
use wasm_bindgen::prelude::*;

pub use error::BridgeError;
use random::os_rng;

/// One participant's view of a call's keys: identity, sender keys, receive keys, safety code.
#[wasm_bindgen]
pub struct CallCrypto {
    keys: GroupKeys,
    room_id: String,
    testing: bool,
}

#[derive(Deserialize)]
struct RosterEntry {
    peer: String,
    identity: String,
}

#[derive(Serialize)]
struct OutgoingKey {
    to: String,
    key: String,
}

#[derive(Serialize)]
struct RosterUpdate {
    messages: Vec<OutgoingKey>,
    rejected: Vec<String>,
}

#[derive(Serialize)]
struct KeyUpdateJs {
    peer: String,
    epoch: u64,
}

#[derive(Serialize)]
struct SafetyCodeJs {
    digits: String,
    words: Vec<&'static str>,
}

#[derive(Serialize)]
struct ExportedKeys {
    sender: String,
    receive: Vec<String>,
}

#[derive(Deserialize)]
struct CapturedFrame {
    mime: String,
    #[serde(with = "serde_bytes_compat")]
    data: Vec<u8>,
}

#[derive(Serialize)]
struct DecryptTally {
    ok: usize,
    failed: usize,
}

/// A `Uint8Array` (or a plain array of numbers) from JavaScript as bytes.
mod serde_bytes_compat {
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Bytes {
            Buf(serde_bytes::ByteBuf),
            List(Vec<u8>),
        }
        Ok(match Bytes::deserialize(deserializer)? {
            Bytes::Buf(b) => b.into_vec(),
            Bytes::List(l) => l,
        })
    }
}

fn parse_key_hex(text: &str) -> Option<[u8; sotto_e2ee::sender_key::SENDER_KEY_LEN]> {
    let mut key = [0u8; sotto_e2ee::sender_key::SENDER_KEY_LEN];
    if text.len() != key.len() * 2 || !text.is_ascii() {
        return None;
    }
    for (i, byte) in key.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(i * 2..i * 2 + 2)?, 16).ok()?;
    }
    Some(key)
}

#[wasm_bindgen]
impl CallCrypto {
    /// Starts a participant's key state from the room secret (base64url, from the URL fragment).
    /// `testing` enables [`CallCrypto::export_keys_for_testing`] and nothing else.
    #[wasm_bindgen(constructor)]
    pub fn new(
        room_secret: &str,
        my_peer_id: String,
        testing: bool,
    ) -> Result<CallCrypto, JsValue> {
        let secret = RoomSecret::from_base64url(room_secret).map_err(error::to_js)?;
        let room = secret.derive();
        let room_id = room.room_id().as_str().to_owned();
        let mut rng = os_rng();
        let identity = IdentityKeyPair::generate(&mut rng);
        let keys = GroupKeys::new(&mut rng, room, identity, my_peer_id);
        Ok(CallCrypto {
            keys,
            room_id,
            testing,
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

    /// The current sender epoch.
    #[wasm_bindgen(getter, js_name = senderEpoch)]
    pub fn sender_epoch(&self) -> f64 {
        epoch_to_js(self.keys.sender_epoch())
    }

    /// Replaces the roster (`[{peer, identity}]`, other peers only), rotates the sender key and
    /// returns `{messages: [{to, key}], rejected: [peer]}`. A peer whose identity is not a
    /// valid public key is left out (and listed in `rejected`) so the others still rotate.
    #[wasm_bindgen(js_name = setRoster)]
    pub fn set_roster(&mut self, roster: JsValue) -> Result<JsValue, JsValue> {
        let entries: Vec<RosterEntry> = serde_wasm_bindgen::from_value(roster)
            .map_err(|_| JsValue::from(BridgeError::BadArgument("roster")))?;
        let mut peers = Vec::with_capacity(entries.len());
        let mut rejected = Vec::new();
        for entry in entries {
            match IdentityPublicKey::from_base64url(&entry.identity) {
                Ok(identity) => peers.push((entry.peer, identity)),
                Err(_) => rejected.push(entry.peer),
            }
        }
        let messages = self
            .keys
            .set_roster(&mut os_rng(), &peers)
            .map_err(error::to_js)?;
        let messages: Vec<OutgoingKey> = messages
            .into_iter()
            .map(|m| OutgoingKey {
                to: m.to,
                key: base64url(&m.bytes),
            })
            .collect();
        to_js(&RosterUpdate { messages, rejected })
    }

    /// Opens a sealed sender key from `from`; returns `{peer, epoch}`.
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
        })
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

    /// Opens a chat message from `from`.
    #[wasm_bindgen(js_name = openChat)]
    pub fn open_chat(&mut self, from: &str, sealed: &[u8]) -> Result<Vec<u8>, JsValue> {
        self.keys.open_chat(from, sealed).map_err(error::to_js)
    }

    /// Erases receive keys whose grace window has passed.
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

    /// Frame counters: encrypted, decrypted and every kind of drop.
    pub fn stats(&self) -> Result<JsValue, JsValue> {
        to_js(&self.keys.stats())
    }

    /// Test support: how many of `frames` (`[{mime, data}]`, sent by `from`) decrypt under any of
    /// `keys` (hex sender keys), trying every KID an epoch can map to. Only with `testing`.
    /// Each attempt uses a fresh, throw-away key state, so nothing here touches the call's keys.
    #[wasm_bindgen(js_name = testDecryptWith)]
    pub fn test_decrypt_with(
        &self,
        keys: JsValue,
        from: &str,
        frames: JsValue,
    ) -> Result<JsValue, JsValue> {
        if !self.testing {
            return Err(BridgeError::TestingDisabled.into());
        }
        let keys: Vec<String> = serde_wasm_bindgen::from_value(keys)
            .map_err(|_| JsValue::from(BridgeError::BadArgument("keys")))?;
        let frames: Vec<CapturedFrame> = serde_wasm_bindgen::from_value(frames)
            .map_err(|_| JsValue::from(BridgeError::BadArgument("frames")))?;
        let mut opened = vec![false; frames.len()];
        for key_hex in &keys {
            let key = parse_key_hex(key_hex)
                .ok_or_else(|| JsValue::from(BridgeError::BadArgument("keys")))?;
            for epoch in 0..8u64 {
                let mut rng = os_rng();
                let room = RoomSecret::generate(&mut rng).derive();
                let identity = IdentityKeyPair::generate(&mut rng);
                let mut oracle = GroupKeys::new(&mut rng, room, identity, "oracle".to_owned());
                let stranger = IdentityKeyPair::generate(&mut rng).public_key();
                oracle
                    .set_roster(&mut rng, &[(from.to_owned(), stranger)])
                    .map_err(error::to_js)?;
                oracle
                    .install_receive_key_for_testing(from, epoch, key, 0)
                    .map_err(error::to_js)?;
                for (frame, done) in frames.iter().zip(opened.iter_mut()) {
                    let codec = Codec::from_mime(&frame.mime);
                    if !*done && oracle.decrypt_frame(from, codec, &frame.data, 0).is_ok() {
                        *done = true;
                    }
                }
            }
        }
        let ok = opened.iter().filter(|o| **o).count();
        to_js(&DecryptTally {
            ok,
            failed: frames.len() - ok,
        })
    }

    /// Test support: the current sender key and all receive keys, hex. Only when constructed
    /// with `testing = true`; it lets end-to-end tests prove that no key crossed the server.
    #[wasm_bindgen(js_name = exportKeysForTesting)]
    pub fn export_keys_for_testing(&self) -> Result<JsValue, JsValue> {
        if !self.testing {
            return Err(BridgeError::TestingDisabled.into());
        }
        let exported = self.keys.export_keys_for_testing();
        to_js(&ExportedKeys {
            sender: hex(&exported.sender),
            receive: exported.receive.iter().map(|k| hex(k)).collect(),
        })
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

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
