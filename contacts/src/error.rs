//! The crate's one error type. Every variant has a stable kebab-case [`ContactsError::code`];
//! messages never contain key material, names or other user data.

/// Everything that can go wrong in `sotto-contacts`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ContactsError {
    /// Text that should be base64url (no padding) is not, or has the wrong length.
    #[error("malformed base64url encoding or wrong length")]
    BadEncoding,
    /// A public key is not a usable X25519 key (small order, non-canonical).
    #[error("invalid public key")]
    BadPublicKey,
    /// A display name is empty, too long, or contains control characters.
    #[error("invalid display name")]
    BadDisplayName,
    /// A passphrase is empty or too long.
    #[error("passphrase is empty or too long")]
    BadPassphrase,
    /// A backup file does not parse (magic, version, length, KDF parameters out of bounds).
    #[error("malformed identity backup")]
    MalformedBackup,
    /// A backup did not open: wrong passphrase, or the file was altered.
    #[error("wrong passphrase or altered backup")]
    BackupRejected,
    /// A contact link does not parse.
    #[error("malformed contact link")]
    MalformedLink,
    /// A pairing request or acceptance does not parse.
    #[error("malformed pairing message")]
    MalformedPairing,
    /// A pairing message did not open (not for this link, altered, not made with the link
    /// secret, or not by the holder of the key it names).
    #[error("pairing message rejected")]
    PairingRejected,
    /// A pairing request for a link that is unknown or already used (links are one-time).
    #[error("unknown or already used contact link")]
    LinkUsed,
    /// A pairing request from oneself (one's own link).
    #[error("pairing with oneself")]
    SelfPairing,
    /// A ring message does not parse.
    #[error("malformed ring message")]
    MalformedRing,
    /// A ring or offline message did not open (wrong pair, direction, altered, forged).
    #[error("sealed message rejected")]
    SealedRejected,
    /// An offline message does not parse or its text is too long.
    #[error("malformed offline message")]
    MalformedOffline,
    /// A room link in an invite is empty, too long or not printable ASCII.
    #[error("invalid room link")]
    BadRoomLink,
    /// Unknown contact id.
    #[error("unknown contact")]
    UnknownContact,
    /// A stored profile does not parse (see `storage`).
    #[error("malformed stored profile")]
    MalformedProfile,
    /// Unknown call id (not ringing here, or already ended).
    #[error("unknown call")]
    UnknownCall,
    /// Internal failure (randomness, a primitive refusing its input): nothing was produced.
    #[error("internal cryptographic failure")]
    Internal,
}

impl ContactsError {
    /// Stable kebab-case code for JavaScript and tests.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadEncoding => "bad-encoding",
            Self::BadPublicKey => "bad-public-key",
            Self::BadDisplayName => "bad-display-name",
            Self::BadPassphrase => "bad-passphrase",
            Self::MalformedBackup => "malformed-backup",
            Self::BackupRejected => "backup-rejected",
            Self::MalformedLink => "malformed-contact-link",
            Self::MalformedPairing => "malformed-pairing",
            Self::PairingRejected => "pairing-rejected",
            Self::LinkUsed => "contact-link-used",
            Self::SelfPairing => "self-pairing",
            Self::MalformedRing => "malformed-ring",
            Self::SealedRejected => "sealed-rejected",
            Self::MalformedOffline => "malformed-offline-message",
            Self::BadRoomLink => "bad-room-link",
            Self::UnknownContact => "unknown-contact",
            Self::MalformedProfile => "malformed-profile",
            Self::UnknownCall => "unknown-call",
            Self::Internal => "internal",
        }
    }

    /// Every variant, for tests of the code table.
    pub const ALL: [ContactsError; 19] = [
        Self::BadEncoding,
        Self::BadPublicKey,
        Self::BadDisplayName,
        Self::BadPassphrase,
        Self::MalformedBackup,
        Self::BackupRejected,
        Self::MalformedLink,
        Self::MalformedPairing,
        Self::PairingRejected,
        Self::LinkUsed,
        Self::SelfPairing,
        Self::MalformedRing,
        Self::SealedRejected,
        Self::MalformedOffline,
        Self::BadRoomLink,
        Self::UnknownContact,
        Self::MalformedProfile,
        Self::UnknownCall,
        Self::Internal,
    ];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_kebab_case() {
        let mut seen = std::collections::BTreeSet::new();
        for e in ContactsError::ALL {
            let code = e.code();
            assert!(
                code.chars().all(|c| c.is_ascii_lowercase() || c == '-'),
                "{code}"
            );
            assert!(seen.insert(code), "duplicate code {code}");
        }
    }
}
