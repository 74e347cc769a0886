//! Peer-to-peer payloads: the JSON text a client seals (protocol v2: a sealed envelope, see
//! `e2ee/KEY-SCHEDULE.md` §9) and puts into `signal.payload` as base64url. The worker never sees
//! these in clear; they are here so that every client speaks the same language.
//!
//! ```text
//! A --hello--> B                              ("I have no connection with you, please offer")
//! A --offer{sdp}--> B --answer{sdp}--> A      (WebRTC negotiation)
//! A --ice{..}*--> B, then end-of-candidates
//! A --sender-key{key}--> B --key-ack{epoch}--> A   (key = HPKE-sealed sender key, opaque here)
//! B --key-request--> A --sender-key{key}--> B     (B holds no usable key from A: re-send)
//! A --safety-commit{c}--> B ... A --safety-reveal{n}--> B   (safety code v2, §10)
//! A --display-name{name}--> B                 (the name A's user chose; never seen by the server)
//! ```
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
        serializer.serialize_str(&crate::b64::encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for B64UrlBytes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        crate::b64::decode(&text)
            .map(B64UrlBytes)
            .ok_or_else(|| serde::de::Error::custom("not unpadded base64url"))
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
    /// Safety code v2: the sender's commitment for its current verification round (32 bytes).
    SafetyCommit {
        c: B64UrlBytes,
    },
    /// Safety code v2: the sender's nonce of that round (32 bytes), sent once it holds a
    /// commitment from every peer of its view.
    SafetyReveal {
        n: B64UrlBytes,
    },
    /// The name the sender's user chose (at most [`MAX_DISPLAY_NAME_CHARS`] characters, no
    /// control characters).
    DisplayName {
        name: String,
    },
}

/// The longest display name, in characters (Unicode scalar values).
pub const MAX_DISPLAY_NAME_CHARS: usize = 64;

/// A display name as it may travel: trimmed, at most [`MAX_DISPLAY_NAME_CHARS`] characters, no
/// control characters; `None` if nothing is left.
pub fn clean_display_name(name: &str) -> Option<String> {
    let clean: String = name
        .trim()
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_DISPLAY_NAME_CHARS)
        .collect();
    let clean = clean.trim();
    (!clean.is_empty()).then(|| clean.to_owned())
}

/// Is `name` exactly as [`clean_display_name`] leaves a name (what a receiver accepts)?
pub fn is_clean_display_name(name: &str) -> bool {
    clean_display_name(name).as_deref() == Some(name)
}

impl PeerPayload {
    /// Parses a payload; never panics. By the hand-written codec (`codec.rs`), which gives
    /// the same answers as the serde derive ([`PeerPayload::parse_serde`]).
    pub fn parse(text: &str) -> Result<Self, ProtocolError> {
        crate::codec::peer_payload(text)
    }

    /// Serializes to the text that goes into `signal.payload` (the codec writes the same
    /// bytes as serde_json from the derive).
    pub fn to_json(&self) -> Result<String, ProtocolError> {
        Ok(crate::codec::write_peer_payload(self))
    }

    /// The serde derive's parse, which `parse` must agree with.
    #[doc(hidden)]
    pub fn parse_serde(text: &str) -> Result<Self, ProtocolError> {
        if text.len() > MAX_PAYLOAD_BYTES {
            return Err(ProtocolError::PayloadTooLarge);
        }
        serde_json::from_str(text).map_err(|_| ProtocolError::InvalidPeerPayload)
    }

    /// The serde derive's writing, which `to_json` must agree with.
    #[doc(hidden)]
    pub fn to_json_serde(&self) -> Result<String, ProtocolError> {
        serde_json::to_string(self).map_err(|_| ProtocolError::Internal)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
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

    #[test]
    fn v2_payloads_round_trip() {
        let commit = PeerPayload::SafetyCommit {
            c: B64UrlBytes(vec![7; 32]),
        };
        let wire = commit.to_json().unwrap();
        assert_eq!(
            wire,
            format!(
                r#"{{"type":"safety-commit","c":"{}"}}"#,
                "BwcH".repeat(10) + "Bwc"
            )
        );
        assert_eq!(PeerPayload::parse(&wire).unwrap(), commit);
        let reveal = PeerPayload::parse(r#"{"type":"safety-reveal","n":"AQID"}"#).unwrap();
        assert_eq!(
            reveal,
            PeerPayload::SafetyReveal {
                n: B64UrlBytes(vec![1, 2, 3])
            }
        );
        let name = PeerPayload::DisplayName {
            name: "Zoë".into()
        };
        assert_eq!(
            name.to_json().unwrap(),
            r#"{"type":"display-name","name":"Zoë"}"#
        );
        assert_eq!(
            PeerPayload::parse(r#"{"type":"safety-reveal","n":"not base64!"}"#),
            Err(ProtocolError::InvalidPeerPayload)
        );
    }

    #[test]
    fn display_names_are_trimmed_cut_and_without_control_characters() {
        assert_eq!(clean_display_name("  Ada \n"), Some("Ada".into()));
        assert_eq!(
            clean_display_name("a\u{7}b\u{202e}"),
            Some("ab\u{202e}".into())
        );
        assert_eq!(clean_display_name(" \t "), None);
        let long = "é".repeat(100);
        assert_eq!(
            clean_display_name(&long).unwrap().chars().count(),
            MAX_DISPLAY_NAME_CHARS
        );
        assert!(is_clean_display_name("Ada Lovelace"));
        assert!(!is_clean_display_name(" Ada"));
        assert!(!is_clean_display_name("A\u{0}"));
        assert!(!is_clean_display_name(&long));
        assert!(!is_clean_display_name(""));
    }
}
