//! Test hooks for the e2e suite (cargo feature `testing` only; the production wasm has none of
//! these names). They let a test prove that no key crossed the server and play a former
//! participant that kept someone's key.

use serde::{Deserialize, Serialize};
use sotto_e2ee::frame::FrameReceiver;
use sotto_e2ee::{Codec, SenderKey};
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
}
