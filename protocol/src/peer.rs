//! Peer-to-peer payloads: what a client puts into `signal.payload` (as JSON text). The worker
//! never parses these; they are here so that every client speaks the same language.
//!
//! ```text
//! newcomer --hello--> existing peers          (asks them to start)
//! A --offer{sdp}--> B --answer{sdp}--> A      (WebRTC negotiation)
//! A --ice{..}*--> B, then end-of-candidates
//! A --sender-key{key}--> B --key-ack{epoch}--> A   (key = HPKE-sealed sender key, opaque here)
//! B --key-request--> A --sender-key{key}--> B     (B holds no usable key from A: re-send)
//! ```
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{ProtocolError, MAX_PAYLOAD_BYTES};

/// Bytes carried as unpadded base64url text.
#[derive(Clone, PartialEq, Eq)]
pub struct B64UrlBytes(pub Vec<u8>);

/// Prints only the length: these bytes are usually sealed keys.
impl std::fmt::Debug for B64UrlBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "B64UrlBytes({} bytes)", self.0.len())
    }
}

impl Serialize for B64UrlBytes {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&URL_SAFE_NO_PAD.encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for B64UrlBytes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        URL_SAFE_NO_PAD
            .decode(text.as_bytes())
            .map(B64UrlBytes)
            .map_err(|_| serde::de::Error::custom("not unpadded base64url"))
    }
}

/// What one peer sends another inside `signal.payload`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case", deny_unknown_fields)]
pub enum PeerPayload {
    Offer {
        sdp: String,
    },
    Answer {
        sdp: String,
    },
    Ice {
        candidate: String,
        #[serde(default)]
        sdp_mid: Option<String>,
        #[serde(default)]
        sdp_m_line_index: Option<u16>,
    },
    EndOfCandidates {},
    /// A sender key sealed to the recipient (HPKE); opaque bytes here.
    SenderKey {
        key: B64UrlBytes,
    },
    KeyAck {
        epoch: u64,
    },
    /// "I have no connection with you, please offer." Sent by a peer that learned of a
    /// newcomer from `peer-joined` (the newcomer offers; this asks again while no connection
    /// came), by a participant that rejoined signaling to the peers it kept, and to a peer
    /// given up without proof (it may still be there). The recipient offers if it has no
    /// connection to the sender, or only one from before its own last rejoin that is not up,
    /// or if it had given the sender up; otherwise it ignores it.
    Hello {},
    /// The sender holds no usable key from the recipient: please re-send your newest one.
    KeyRequest {},
}

impl PeerPayload {
    /// Parses a payload; never panics.
    pub fn parse(text: &str) -> Result<Self, ProtocolError> {
        if text.len() > MAX_PAYLOAD_BYTES {
            return Err(ProtocolError::PayloadTooLarge);
        }
        serde_json::from_str(text).map_err(|_| ProtocolError::InvalidPeerPayload)
    }

    /// Serializes to the text that goes into `signal.payload`.
    pub fn to_json(&self) -> Result<String, ProtocolError> {
        serde_json::to_string(self).map_err(|_| ProtocolError::Internal)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::PeerPayload;
    use crate::ProtocolError;

    #[test]
    fn key_request_round_trips_and_takes_no_fields() {
        let wire = r#"{"type":"key-request"}"#;
        assert_eq!(PeerPayload::KeyRequest {}.to_json().unwrap(), wire);
        assert_eq!(
            PeerPayload::parse(wire).unwrap(),
            PeerPayload::KeyRequest {}
        );
        assert_eq!(
            PeerPayload::parse(r#"{"type":"key-request","epoch":1}"#),
            Err(ProtocolError::InvalidPeerPayload)
        );
    }
}
