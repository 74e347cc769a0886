//! Test hooks for the e2e suite (cargo feature `testing` only; the production wasm has none of
//! these names). They let a test prove that no key crossed the server and play a former
//! participant that kept someone's key.

use serde::{Deserialize, Serialize};
use sotto_e2ee::frame::{sframe_encrypt, FrameKey, FrameReceiver};
use sotto_e2ee::sframe::{Header, Suite};
use sotto_e2ee::{Codec, FrameSuites, SenderKey};
use wasm_bindgen::prelude::*;

use crate::{epoch_from_js, error, hex_key, to_js, BridgeError, CallCrypto};

#[derive(Serialize)]
struct ExportedReceiveKey {
    peer: String,
    epoch: u64,
    key: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ExportedKeys {
    sender: String,
    sender_epoch: u64,
    pending: Option<String>,
    receive: Vec<String>,
    receive_keys: Vec<ExportedReceiveKey>,
}

#[derive(Deserialize)]
struct CapturedFrame {
    mime: String,
    #[serde(with = "bytes_compat")]
    data: Vec<u8>,
}

#[derive(Serialize)]
struct DecryptTally {
    ok: usize,
    failed: usize,
}

/// A `Uint8Array` (or a plain array of numbers) from JavaScript as bytes.
mod bytes_compat {
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

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[wasm_bindgen]
impl CallCrypto {
    /// TEST BUILD ONLY: `{sender, senderEpoch, pending, receive: [hex], receiveKeys: [{peer,
    /// epoch, key}]}`: the current and pending sender keys and every receive key held, hex.
    #[wasm_bindgen(js_name = exportKeysForTesting)]
    pub fn export_keys_for_testing(&self) -> Result<JsValue, JsValue> {
        let exported = self.keys.export_keys_for_testing();
        to_js(&ExportedKeys {
            sender: hex(&exported.sender),
            sender_epoch: exported.sender_epoch,
            pending: exported.pending.as_ref().map(|k| hex(k)),
            receive: exported.receive.iter().map(|k| hex(k)).collect(),
            receive_keys: exported
                .receive_keys
                .iter()
                .map(|(peer, epoch, key)| ExportedReceiveKey {
                    peer: peer.clone(),
                    epoch: *epoch,
                    key: hex(key),
                })
                .collect(),
        })
    }

    /// TEST BUILD ONLY: how many of `frames` (`[{mime, data}]`, sent by `from`) decrypt under any
    /// of `keys` (hex sender keys), trying every KID an epoch can map to. Each attempt uses a
    /// fresh, throw-away receiver, so nothing here touches the call's keys.
    #[wasm_bindgen(js_name = testDecryptWith)]
    pub fn test_decrypt_with(
        &self,
        keys: JsValue,
        _from: &str,
        frames: JsValue,
    ) -> Result<JsValue, JsValue> {
        let keys: Vec<String> = serde_wasm_bindgen::from_value(keys)
            .map_err(|_| JsValue::from(BridgeError::BadArgument("keys")))?;
        let frames: Vec<CapturedFrame> = serde_wasm_bindgen::from_value(frames)
            .map_err(|_| JsValue::from(BridgeError::BadArgument("frames")))?;
        let mut opened = vec![false; frames.len()];
        for key_hex in &keys {
            let key = hex_key(key_hex).ok_or(BridgeError::BadArgument("keys"))?;
            for epoch in 0..sotto_e2ee::frame::KID_SPACE {
                let mut rx =
                    FrameReceiver::new(&SenderKey::from_bytes(key), epoch).map_err(error::to_js)?;
                for (frame, done) in frames.iter().zip(opened.iter_mut()) {
                    if !*done
                        && rx
                            .decrypt(Codec::from_mime(&frame.mime), &frame.data)
                            .is_ok()
                    {
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

    /// TEST BUILD ONLY: from now on this participant sends frames and chat under `keyHex` at
    /// `epoch` (any pending key is dropped): lets a test play a former participant that kept
    /// someone's old key.
    #[wasm_bindgen(js_name = installSenderKeyForTesting)]
    pub fn install_sender_key_for_testing(
        &mut self,
        key_hex: &str,
        epoch: f64,
    ) -> Result<(), JsValue> {
        let key = hex_key(key_hex).ok_or(BridgeError::BadArgument("keyHex"))?;
        let epoch = epoch_from_js(epoch).ok_or(BridgeError::BadArgument("epoch"))?;
        self.keys
            .install_sender_key_for_testing(key, epoch)
            .map_err(error::to_js)
    }

    /// TEST BUILD ONLY: the frame suites of this participant's keys from the next rotation on
    /// (RFC 9605 ids; video must be 4). Lets the benchmark send audio with a 128-bit tag to
    /// measure what the short tag saves.
    #[wasm_bindgen(js_name = setFrameSuitesForTesting)]
    pub fn set_frame_suites_for_testing(&mut self, audio: u16, video: u16) -> Result<(), JsValue> {
        let suites = match (Suite::from_id(audio), Suite::from_id(video)) {
            (Some(audio), Some(video)) => FrameSuites { audio, video },
            _ => return Err(BridgeError::BadArgument("suite").into()),
        };
        self.keys.set_frame_suites(suites).map_err(error::to_js)
    }

    /// TEST BUILD ONLY: an RFC 9605 test vector through the frame path's platform job, as
    /// `sealBegin` sets it up: the key of (`suite`, `kid`, `baseKeyHex`) is kept here (its
    /// handle in the registers, its AES-GCM key for `platformKey`), the nonce of `ctr` and the
    /// AAD `header || metadata` in the job area. Returns the hex of what our own SFrame (the
    /// RustCrypto provider) makes of `pt`, `header || ct || tag`, for comparison.
    #[wasm_bindgen(js_name = testVectorJob)]
    #[allow(clippy::too_many_arguments)]
    pub fn test_vector_job(
        &mut self,
        suite: u16,
        kid: f64,
        ctr: f64,
        base_key_hex: &str,
        metadata_hex: &str,
        pt_hex: &str,
    ) -> Result<String, JsValue> {
        let bad = |what| JsValue::from(BridgeError::BadArgument(what));
        let suite = Suite::from_id(suite).ok_or_else(|| bad("suite"))?;
        let kid = epoch_from_js(kid).ok_or_else(|| bad("kid"))?;
        let ctr = epoch_from_js(ctr).ok_or_else(|| bad("ctr"))?;
        let base = unhex(base_key_hex).ok_or_else(|| bad("baseKeyHex"))?;
        let metadata = unhex(metadata_hex).ok_or_else(|| bad("metadataHex"))?;
        let pt = unhex(pt_hex).ok_or_else(|| bad("ptHex"))?;
        let key = FrameKey::from_base(suite, kid, &base).map_err(error::to_js)?;
        let header = Header { kid, ctr }.to_vec();
        let aad = [header.as_slice(), &metadata].concat();
        if aad.len() > 32 {
            return Err(bad("metadataHex"));
        }
        let ours = sframe_encrypt(&key, ctr, &metadata, &pt).map_err(error::to_js)?;
        self.frames.publish_job(
            key.handle(),
            &key.nonce(ctr),
            metadata.len(),
            &aad,
            header.len(),
        );
        self.test_keys.push(key);
        Ok(hex(&ours))
    }
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 || !text.is_ascii() {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}
