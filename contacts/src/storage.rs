//! The profile a client keeps between visits: the identity, its contacts and its pending
//! invites, as one binary record. The browser encrypts it (AES-256-GCM under a
//! non-extractable WebCrypto key kept beside it in IndexedDB) before storing it; this module
//! only lays the bytes out and reads them back strictly.
//!
//! ```text
//! "SOTTOPR" (7) || version 0x01 || seed (32) || lp8(name)
//!   || contacts: u16 count, each: their key (32) || lp8(name) || pairwise (32) || verified (1)
//!   || invites:  u16 count, each: link secret (32) || created_at_ms (u64)
//! ```
//! The record holds secrets: it is returned in a `Zeroizing` buffer.
use zeroize::Zeroizing;

use crate::contact::{Contact, ContactBook, PairwiseSecret};
use crate::encoding::{put_lp8, Reader};
use crate::identity::{DisplayName, Identity, PublicKey};
use crate::link::PendingInvite;
use crate::pairing::InviteBook;
use crate::ContactsError;

const MAGIC: &[u8; 7] = b"SOTTOPR";
const VERSION: u8 = 1;
/// At most this many contacts or invites in one record.
pub const MAX_STORED: usize = 4096;

/// Everything one browser profile keeps.
#[derive(Debug)]
pub struct Profile {
    pub identity: Identity,
    pub contacts: ContactBook,
    pub invites: InviteBook,
}

impl Profile {
    pub fn new(identity: Identity) -> Self {
        Self {
            identity,
            contacts: ContactBook::default(),
            invites: InviteBook::default(),
        }
    }

    /// The record (see the module docs). Contacts and invites beyond [`MAX_STORED`] are not
    /// written (they cannot be reached in practice: the worker caps subscriptions far lower).
    pub fn encode(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::with_capacity(128 + self.contacts.len() * 130));
        out.extend_from_slice(MAGIC);
        out.push(VERSION);
        out.extend_from_slice(self.identity.seed());
        put_lp8(&mut out, self.identity.name().as_str().as_bytes());
        let contacts: Vec<&Contact> = self
            .contacts
            .iter()
            .map(|(_, c)| c)
            .take(MAX_STORED)
            .collect();
        out.extend_from_slice(&u16::try_from(contacts.len()).unwrap_or(0).to_be_bytes());
        for c in contacts {
            out.extend_from_slice(c.public_key().as_bytes());
            put_lp8(&mut out, c.name().as_str().as_bytes());
            out.extend_from_slice(c.pairwise().bytes());
            out.push(u8::from(c.is_verified()));
        }
        let invites: Vec<&PendingInvite> = self.invites.iter().take(MAX_STORED).collect();
        out.extend_from_slice(&u16::try_from(invites.len()).unwrap_or(0).to_be_bytes());
        for i in invites {
            out.extend_from_slice(i.secret());
            out.extend_from_slice(&i.created_at_ms().to_be_bytes());
        }
        out
    }

    /// Reads a record back; anything else is `malformed-profile`.
    pub fn decode(bytes: &[u8]) -> Result<Self, ContactsError> {
        const E: ContactsError = ContactsError::MalformedProfile;
        let mut r = Reader::new(bytes, E);
        if r.take(7)? != MAGIC || r.u8()? != VERSION {
            return Err(E);
        }
        let seed = Zeroizing::new(r.array::<32>()?);
        let name = DisplayName::from_bytes(r.lp8()?).map_err(|_| E)?;
        let identity = Identity::from_seed(seed, name)?;
        let me = identity.public_key();
        let mut profile = Profile::new(identity);
        let count = usize::from(r.u16()?);
        if count > MAX_STORED {
            return Err(E);
        }
        for _ in 0..count {
            let key = PublicKey::from_bytes(&r.array()?).map_err(|_| E)?;
            let name = DisplayName::from_bytes(r.lp8()?).map_err(|_| E)?;
            let pairwise = PairwiseSecret::from_bytes(r.array()?);
            let verified = match r.u8()? {
                0 => false,
                1 => true,
                _ => return Err(E),
            };
            if key == me {
                return Err(E);
            }
            profile
                .contacts
                .add(Contact::restore(me, key, name, pairwise, verified));
        }
        let count = usize::from(r.u16()?);
        if count > MAX_STORED {
            return Err(E);
        }
        for _ in 0..count {
            let secret = r.array::<32>()?;
            let created = r.u64()?;
            profile.invites.add(PendingInvite::restore(secret, created));
        }
        r.finish()?;
        Ok(profile)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::identity::tests::{identity, rng};
    use crate::pairing::tests::pair;
    use proptest::prelude::*;

    fn sample() -> Profile {
        let alice = identity("Alice");
        let bob = identity("Bob");
        let carol = identity("Carol");
        let (ab, _) = pair(&alice, &bob);
        let (ac, _) = pair(&alice, &carol);
        let mut p = Profile::new(alice);
        p.contacts.add(ab);
        p.contacts.add(ac);
        let ids: Vec<_> = p.contacts.iter().map(|(i, _)| i).collect();
        p.contacts.set_verified(ids[1], false).unwrap();
        let (_, invite) = PendingInvite::create(&mut rng(), &p.identity, 1234);
        p.invites.add(invite);
        p
    }

    #[test]
    fn round_trip_keeps_identity_contacts_secrets_and_invites() {
        let p = sample();
        let q = Profile::decode(&p.encode()).unwrap();
        assert_eq!(q.identity.public_key(), p.identity.public_key());
        assert_eq!(q.identity.name(), p.identity.name());
        let a: Vec<_> = p.contacts.iter().map(|(_, c)| c).collect();
        let b: Vec<_> = q.contacts.iter().map(|(_, c)| c).collect();
        assert_eq!(a.len(), 2);
        assert_eq!(b.len(), 2);
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x.public_key(), y.public_key());
            assert_eq!(x.name(), y.name());
            assert_eq!(x.pairwise().bytes(), y.pairwise().bytes());
            assert_eq!(x.is_verified(), y.is_verified());
            assert_eq!(x.safety_number(), y.safety_number());
        }
        assert!(b[0].is_verified() && !b[1].is_verified());
        assert_eq!(q.invites.request_mailboxes(), p.invites.request_mailboxes());
        assert_eq!(q.invites.iter().next().unwrap().created_at_ms(), 1234);
        // Stable: the record of the read-back profile is the same bytes.
        assert_eq!(*q.encode(), *p.encode());
    }

    #[test]
    fn refuses_every_truncation_and_bad_header() {
        let bytes = sample().encode();
        for n in 0..bytes.len() {
            assert_eq!(
                Profile::decode(&bytes[..n]).unwrap_err(),
                ContactsError::MalformedProfile,
                "truncated at {n}"
            );
        }
        let mut long = bytes.to_vec();
        long.push(0);
        assert!(Profile::decode(&long).is_err());
        let mut bad = bytes.to_vec();
        bad[7] = 2;
        assert!(Profile::decode(&bad).is_err());
    }

    proptest! {
        #[test]
        fn any_bytes_parse_or_fail_cleanly(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = Profile::decode(&bytes);
        }
    }
}
