//! Validated identifiers. Each newtype can only hold a value that passed its check, including
//! when it is deserialized.
use serde::{Deserialize, Serialize};

use crate::ProtocolError;

fn is_base64url(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

macro_rules! b64url_id {
    ($(#[$doc:meta])* $name:ident, $min:expr, $max:expr, $err:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Shortest accepted length, in characters.
            pub const MIN_LEN: usize = $min;
            /// Longest accepted length, in characters.
            pub const MAX_LEN: usize = $max;

            /// Checks and wraps `s`.
            pub fn parse(s: &str) -> Result<Self, ProtocolError> {
                if (Self::MIN_LEN..=Self::MAX_LEN).contains(&s.len()) && is_base64url(s) {
                    Ok(Self(s.to_owned()))
                } else {
                    Err($err)
                }
            }

            /// The identifier as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = ProtocolError;
            fn try_from(s: String) -> Result<Self, ProtocolError> {
                if (Self::MIN_LEN..=Self::MAX_LEN).contains(&s.len()) && is_base64url(&s) {
                    Ok(Self(s))
                } else {
                    Err($err)
                }
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl std::str::FromStr for $name {
            type Err = ProtocolError;
            fn from_str(s: &str) -> Result<Self, ProtocolError> {
                Self::parse(s)
            }
        }
    };
}

b64url_id!(
    /// A room id: 22 to 64 base64url characters, derived by clients from the room secret.
    RoomId, 22, 64, ProtocolError::InvalidRoomId
);
b64url_id!(
    /// A peer id: 1 to 64 base64url characters, chosen at random by the client.
    PeerId, 1, 64, ProtocolError::InvalidPeerId
);
b64url_id!(
    /// A participant's public identity key, base64url, opaque to the worker.
    Identity, 1, 256, ProtocolError::InvalidIdentity
);
b64url_id!(
    /// An opaque presence channel id: 16 to 43 base64url characters (43 = 256 bits).
    ChannelId, 16, 43, ProtocolError::InvalidChannelId
);

/// An opaque `signal` payload: any string of at most 60,000 bytes. The worker never parses it.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Payload(String);

impl Payload {
    /// Checks the size of `s` and wraps it.
    pub fn new(s: String) -> Result<Self, ProtocolError> {
        if s.len() <= crate::MAX_PAYLOAD_BYTES {
            Ok(Self(s))
        } else {
            Err(ProtocolError::PayloadTooLarge)
        }
    }

    /// The payload text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True for an empty payload.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Never prints the payload itself: it is user data.
impl std::fmt::Debug for Payload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Payload({} bytes)", self.0.len())
    }
}

impl TryFrom<String> for Payload {
    type Error = ProtocolError;
    fn try_from(s: String) -> Result<Self, ProtocolError> {
        Self::new(s)
    }
}

impl From<Payload> for String {
    fn from(p: Payload) -> String {
        p.0
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn length_bounds() {
        assert!(RoomId::parse(&"a".repeat(21)).is_err());
        assert!(RoomId::parse(&"a".repeat(22)).is_ok());
        assert!(RoomId::parse(&"a".repeat(64)).is_ok());
        assert!(RoomId::parse(&"a".repeat(65)).is_err());
        assert_eq!(PeerId::parse(""), Err(ProtocolError::InvalidPeerId));
        assert!(PeerId::parse("a").is_ok());
        assert!(PeerId::parse(&"a".repeat(65)).is_err());
        assert!(Identity::parse(&"A".repeat(256)).is_ok());
        assert_eq!(
            Identity::parse(&"A".repeat(257)),
            Err(ProtocolError::InvalidIdentity)
        );
        assert!(ChannelId::parse(&"c".repeat(15)).is_err());
        assert!(ChannelId::parse(&"c".repeat(43)).is_ok());
        assert!(ChannelId::parse(&"c".repeat(44)).is_err());
        assert!(Payload::new("x".repeat(60_000)).is_ok());
        assert_eq!(
            Payload::new("x".repeat(60_001)),
            Err(ProtocolError::PayloadTooLarge)
        );
    }

    #[test]
    fn charset() {
        for bad in [
            "has space",
            "../../etc",
            "a=",
            "a+b",
            "a/b",
            "\u{202e}",
            "é",
            "a\0",
        ] {
            assert_eq!(
                PeerId::parse(bad),
                Err(ProtocolError::InvalidPeerId),
                "{bad:?}"
            );
        }
        assert!(PeerId::parse("Az09-_").is_ok());
    }

    #[test]
    fn deserialize_validates() {
        assert!(serde_json::from_str::<PeerId>("\"ok\"").is_ok());
        assert!(serde_json::from_str::<PeerId>("\"not ok\"").is_err());
        assert!(serde_json::from_str::<PeerId>("12").is_err());
    }

    #[test]
    fn payload_debug_hides_content() {
        let p = Payload::new("secret sdp".into()).unwrap();
        assert_eq!(format!("{p:?}"), "Payload(10 bytes)");
    }
}
