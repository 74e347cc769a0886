use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The `"v"` field: serializes as [`crate::PROTOCOL_VERSION`] and deserializes only from
/// that number.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Version;

impl Serialize for Version {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(crate::PROTOCOL_VERSION)
    }
}

impl<'de> Deserialize<'de> for Version {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let v = u64::deserialize(deserializer)?;
        if v == crate::PROTOCOL_VERSION {
            Ok(Version)
        } else {
            Err(serde::de::Error::custom("unsupported protocol version"))
        }
    }
}
