//! Roster sanitising: each entry is checked on its own; a bad one is dropped with its reason
//! and the rest of the roster still rotates. Identities come in clear (v1, [`RosterEntry`]) or
//! sealed under the room's roster key (v2, [`SealedRosterEntry`]).

use sotto_vecmap::VecSet;

use crate::error::RosterRejection;
use crate::identity::IdentityPublicKey;
use crate::room::RoomKeys;
use crate::sealed_identity::open_identity;
use crate::E2eeError;

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

/// One roster entry of protocol v2: a peer id and the sealed identity it announced (the
/// `identity` field of `welcome` and `peer-joined`, base64url, see [`crate::sealed_identity`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedRosterEntry {
    /// The peer id.
    pub peer: String,
    /// The sealed identity as received.
    pub blob: String,
}

impl SealedRosterEntry {
    /// An entry for `peer` with the sealed identity `blob`.
    pub fn new(peer: impl Into<String>, blob: impl Into<String>) -> Self {
        Self {
            peer: peer.into(),
            blob: blob.into(),
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

/// The valid peers of a roster (in order) and the dropped entries with reasons.
pub(super) type Sanitized = (Vec<(String, IdentityPublicKey)>, Vec<RejectedEntry>);

/// Splits `entries` into the valid peers (in order) and the dropped entries with reasons.
/// A peer id seen a second time is a duplicate even if its first entry was dropped for a bad
/// identity: which of the two is meant is ambiguous.
pub(super) fn sanitize(my_peer_id: &str, entries: &[RosterEntry]) -> Sanitized {
    let entries = entries
        .iter()
        .map(|e| (e.peer.as_str(), e.identity.as_str()));
    sanitize_with(my_peer_id, entries, |_, text| {
        IdentityPublicKey::from_base64url(text).map_err(|_| RosterRejection::BadIdentity)
    })
}

/// [`sanitize`] for sealed identities: an identity that does not open for its peer id in this
/// room is a forged participant; one that opens to an invalid key is a bad identity.
pub(super) fn sanitize_sealed(
    room: &RoomKeys,
    my_peer_id: &str,
    entries: &[SealedRosterEntry],
) -> Sanitized {
    let entries = entries.iter().map(|e| (e.peer.as_str(), e.blob.as_str()));
    sanitize_with(my_peer_id, entries, |peer, blob| {
        open_identity(room, peer, blob).map_err(|e| match e {
            E2eeError::BadPublicKey => RosterRejection::BadIdentity,
            _ => RosterRejection::ForgedParticipant,
        })
    })
}

fn sanitize_with<'a>(
    my_peer_id: &str,
    entries: impl Iterator<Item = (&'a str, &'a str)>,
    identity: impl Fn(&str, &str) -> Result<IdentityPublicKey, RosterRejection>,
) -> Sanitized {
    let mut valid = Vec::new();
    let mut rejected = Vec::new();
    let mut seen = VecSet::new();
    for (peer, text) in entries {
        let verdict = if peer == my_peer_id {
            Err(RosterRejection::OwnPeerId)
        } else if !valid_peer_id(peer) {
            Err(RosterRejection::BadPeerId)
        } else if !seen.insert(peer) {
            Err(RosterRejection::DuplicatePeer)
        } else {
            identity(peer, text)
        };
        match verdict {
            Ok(identity) => valid.push((peer.to_owned(), identity)),
            Err(reason) => rejected.push(RejectedEntry {
                peer: peer.to_owned(),
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

    #[test]
    fn sealed_entries_that_do_not_open_are_forged_participants() {
        use crate::sealed_identity::seal_identity;
        let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
        let room = crate::RoomSecret::generate(&mut rng).derive();
        let other_room = crate::RoomSecret::generate(&mut rng).derive();
        let good = crate::IdentityKeyPair::generate(&mut rng).public_key();
        let seal = |room: &RoomKeys, peer: &str| {
            seal_identity(
                &mut rand_core::UnwrapErr(getrandom::SysRng),
                room,
                peer,
                &good,
            )
            .unwrap()
        };
        let b = seal(&room, "b");
        let entries = vec![
            SealedRosterEntry::new("me", seal(&room, "me")),
            SealedRosterEntry::new("b", b.clone()),
            SealedRosterEntry::new("c", b.clone()), // moved to another peer id
            SealedRosterEntry::new("d", seal(&other_room, "d")), // another room
            SealedRosterEntry::new("e", good.to_base64url()), // a v1 clear identity
            SealedRosterEntry::new("f", "junk"),
            SealedRosterEntry::new("g", ""),
            SealedRosterEntry::new("b", seal(&room, "b")),
            SealedRosterEntry::new("bad id", seal(&room, "bad id")),
            SealedRosterEntry::new("h", seal(&room, "h")),
        ];
        let (valid, rejected) = sanitize_sealed(&room, "me", &entries);
        assert_eq!(
            valid,
            vec![("b".to_owned(), good.clone()), ("h".to_owned(), good)]
        );
        let reasons: Vec<(&str, &str)> = rejected
            .iter()
            .map(|r| (r.peer.as_str(), r.reason.code()))
            .collect();
        assert_eq!(
            reasons,
            vec![
                ("me", "own-peer-id"),
                ("c", "forged-participant"),
                ("d", "forged-participant"),
                ("e", "forged-participant"),
                ("f", "forged-participant"),
                ("g", "forged-participant"),
                ("b", "duplicate-peer"),
                ("bad id", "bad-peer-id"),
            ]
        );
    }
}
