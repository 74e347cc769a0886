//! Roster sanitising: each entry is checked on its own; a bad one is dropped with its reason
//! and the rest of the roster still rotates.

use std::collections::BTreeSet;

use crate::error::RosterRejection;
use crate::identity::IdentityPublicKey;

/// Longest peer id a roster entry may carry (the signaling protocol's limit), in characters.
pub const MAX_ROSTER_PEER_ID_LEN: usize = 64;

/// One roster entry as the client received it: a peer id and its identity key in base64url.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RosterEntry {
    /// The peer id.
    pub peer: String,
    /// The identity public key, base64url (43 characters).
    pub identity: String,
}

impl RosterEntry {
    /// An entry for `peer` with `identity`.
    pub fn new(peer: impl Into<String>, identity: &IdentityPublicKey) -> Self {
        Self {
            peer: peer.into(),
            identity: identity.to_base64url(),
        }
    }
}

/// A roster entry that was dropped, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedEntry {
    /// The peer id as given.
    pub peer: String,
    /// Why it was dropped.
    pub reason: RosterRejection,
}

fn valid_peer_id(peer: &str) -> bool {
    (1..=MAX_ROSTER_PEER_ID_LEN).contains(&peer.len())
        && peer
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Splits `entries` into the valid peers (in order) and the dropped entries with reasons.
/// A peer id seen a second time is a duplicate even if its first entry was dropped for a bad
/// identity: which of the two is meant is ambiguous.
pub(super) fn sanitize(
    my_peer_id: &str,
    entries: &[RosterEntry],
) -> (Vec<(String, IdentityPublicKey)>, Vec<RejectedEntry>) {
    let mut valid = Vec::with_capacity(entries.len());
    let mut rejected = Vec::new();
    let mut seen = BTreeSet::new();
    for entry in entries {
        let verdict = if entry.peer == my_peer_id {
            Err(RosterRejection::OwnPeerId)
        } else if !valid_peer_id(&entry.peer) {
            Err(RosterRejection::BadPeerId)
        } else if !seen.insert(entry.peer.as_str()) {
            Err(RosterRejection::DuplicatePeer)
        } else {
            IdentityPublicKey::from_base64url(&entry.identity)
                .map_err(|_| RosterRejection::BadIdentity)
        };
        match verdict {
            Ok(identity) => valid.push((entry.peer.clone(), identity)),
            Err(reason) => rejected.push(RejectedEntry {
                peer: entry.peer.clone(),
                reason,
            }),
        }
    }
    (valid, rejected)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::encoding::b64url;

    #[test]
    fn every_bad_shape_is_dropped_with_its_reason_and_the_rest_kept() {
        let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
        let good = crate::IdentityKeyPair::generate(&mut rng).public_key();
        let other = crate::IdentityKeyPair::generate(&mut rng).public_key();
        let entry = |peer: &str, identity: &str| RosterEntry {
            peer: peer.to_owned(),
            identity: identity.to_owned(),
        };
        let g = good.to_base64url();
        let small_order = b64url(&[0u8; 32]);
        let mut one = [0u8; 32];
        one[0] = 1;
        let entries = vec![
            entry("me", &g),
            entry("", &g),
            entry(&"x".repeat(65), &g),
            entry(&"y".repeat(64), &g),
            entry("has space", &g),
            entry("slash/", &g),
            entry("b", &g),
            entry("b", &other.to_base64url()),
            entry("c", "not a key"),
            entry("d", &small_order),
            entry("e", &b64url(&one)),
            entry("f", &g[..42]),
            entry("c", &g),
            entry("g-_9", &other.to_base64url()),
        ];
        let (valid, rejected) = sanitize("me", &entries);
        assert_eq!(
            valid,
            vec![
                ("y".repeat(64), good.clone()),
                ("b".to_owned(), good.clone()),
                ("g-_9".to_owned(), other.clone()),
            ]
        );
        let reasons: Vec<(&str, &str)> = rejected
            .iter()
            .map(|r| (r.peer.as_str(), r.reason.code()))
            .collect();
        let long = "x".repeat(65);
        assert_eq!(
            reasons,
            vec![
                ("me", "own-peer-id"),
                ("", "bad-peer-id"),
                (long.as_str(), "bad-peer-id"),
                ("has space", "bad-peer-id"),
                ("slash/", "bad-peer-id"),
                ("b", "duplicate-peer"),
                ("c", "bad-identity"),
                ("d", "bad-identity"),
                ("e", "bad-identity"),
                ("f", "bad-identity"),
                ("c", "duplicate-peer"),
            ]
        );
    }
}
