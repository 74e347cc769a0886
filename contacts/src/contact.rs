//! A contact: their long-term key, their name, the pairwise secret, whether the key is
//! verified, and its safety number. The [`ContactBook`] warns when a contact's key changes.
use sha2::{Digest, Sha512};
use zeroize::Zeroizing;

use crate::identity::{DisplayName, PublicKey};
use crate::ContactsError;

/// The secret two contacts share after pairing (32 bytes, zeroized on drop, never printed).
#[derive(Clone)]
pub struct PairwiseSecret(Zeroizing<[u8; 32]>);

impl PairwiseSecret {
    pub(crate) fn new(bytes: Zeroizing<[u8; 32]>) -> Self {
        Self(bytes)
    }
    /// For storage (IndexedDB, wrapped by the client) and tests.
    pub fn bytes(&self) -> &[u8; 32] {
        &self.0
    }
    /// From storage.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(Zeroizing::new(bytes))
    }
}

impl core::fmt::Debug for PairwiseSecret {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("PairwiseSecret(<redacted>)")
    }
}

/// Which way a message or channel goes between the two keys of a pair: the side with the
/// bytewise smaller public key is `Low`. Both sides compute the same byte for the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    LowToHigh = 0,
    HighToLow = 1,
}

impl Direction {
    pub(crate) fn from_to(from: &PublicKey, to: &PublicKey) -> Self {
        if from < to {
            Self::LowToHigh
        } else {
            Self::HighToLow
        }
    }
    pub(crate) fn byte(self) -> u8 {
        self as u8
    }
}

/// A safety number: 60 digits in 12 groups of 5 (~199 bits), from both long-term keys only,
/// so it is the same for both contacts and across every call and pairing.
/// `SHA-512("sotto/v1 contact safety number" || lower key || higher key)`, bytes 0..60 taken
/// 5 at a time as big-endian integers mod 100,000.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SafetyNumber(pub [u32; 12]);

impl SafetyNumber {
    pub fn of(a: &PublicKey, b: &PublicKey) -> Self {
        let (lo, hi) = if a < b { (a, b) } else { (b, a) };
        let digest = Sha512::new()
            .chain_update(b"sotto/v1 contact safety number")
            .chain_update(lo.as_bytes())
            .chain_update(hi.as_bytes())
            .finalize();
        let mut groups = [0u32; 12];
        for (g, chunk) in groups.iter_mut().zip(digest.chunks_exact(5)) {
            let v = chunk.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
            // v < 2^40; v % 100_000 < 100_000 fits a u32.
            *g = u32::try_from(v % 100_000).unwrap_or(0);
        }
        Self(groups)
    }

    /// `12345 67890 ...`
    pub fn to_digits(&self) -> String {
        self.0
            .iter()
            .map(|g| format!("{g:05}"))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// One contact.
#[derive(Debug, Clone)]
pub struct Contact {
    my_key: PublicKey,
    their_key: PublicKey,
    name: DisplayName,
    pairwise: PairwiseSecret,
    verified: bool,
}

impl Contact {
    /// A contact just paired through a link: verified.
    pub(crate) fn new(
        my_key: PublicKey,
        their_key: PublicKey,
        name: DisplayName,
        pairwise: PairwiseSecret,
    ) -> Self {
        Self {
            my_key,
            their_key,
            name,
            pairwise,
            verified: true,
        }
    }

    /// From storage.
    pub fn restore(
        my_key: PublicKey,
        their_key: PublicKey,
        name: DisplayName,
        pairwise: PairwiseSecret,
        verified: bool,
    ) -> Self {
        Self {
            my_key,
            their_key,
            name,
            pairwise,
            verified,
        }
    }

    pub fn public_key(&self) -> PublicKey {
        self.their_key
    }
    pub fn my_key(&self) -> PublicKey {
        self.my_key
    }
    pub fn name(&self) -> &DisplayName {
        &self.name
    }
    pub fn is_verified(&self) -> bool {
        self.verified
    }
    pub fn pairwise(&self) -> &PairwiseSecret {
        &self.pairwise
    }
    pub fn safety_number(&self) -> SafetyNumber {
        SafetyNumber::of(&self.my_key, &self.their_key)
    }
    pub(crate) fn outgoing(&self) -> Direction {
        Direction::from_to(&self.my_key, &self.their_key)
    }
    pub(crate) fn incoming(&self) -> Direction {
        Direction::from_to(&self.their_key, &self.my_key)
    }
}

/// Local handle of a contact in a [`ContactBook`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ContactId(pub u32);

/// The typed warning a key change raises.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyChanged {
    pub contact: ContactId,
    pub old_key: PublicKey,
    pub new_key: PublicKey,
    pub old_safety_number: SafetyNumber,
    pub new_safety_number: SafetyNumber,
}

impl KeyChanged {
    pub const CODE: &'static str = "contact-key-changed";
}

/// What checking a contact's presented key found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyCheck {
    /// The key on record, verified.
    Verified,
    /// The key on record, not (or no longer) verified.
    Unverified,
    /// Another key: warn; nothing changes until [`ContactBook::accept_key_change`].
    Changed(KeyChanged),
}

/// Every contact of one identity.
#[derive(Debug, Default)]
pub struct ContactBook {
    contacts: Vec<(ContactId, Contact)>,
    next: u32,
}

/// What adding a paired contact did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Added {
    /// A new contact.
    New(ContactId),
    /// Paired again with a key already known: the contact is updated (new pairwise secret,
    /// name), same safety number.
    Repaired(ContactId),
}

impl ContactBook {
    pub fn get(&self, id: ContactId) -> Result<&Contact, ContactsError> {
        self.contacts
            .iter()
            .find(|(i, _)| *i == id)
            .map(|(_, c)| c)
            .ok_or(ContactsError::UnknownContact)
    }

    pub fn iter(&self) -> impl Iterator<Item = (ContactId, &Contact)> {
        self.contacts.iter().map(|(i, c)| (*i, c))
    }

    pub fn len(&self) -> usize {
        self.contacts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.contacts.is_empty()
    }

    pub fn find_key(&self, key: &PublicKey) -> Option<ContactId> {
        self.contacts
            .iter()
            .find(|(_, c)| c.their_key == *key)
            .map(|(i, _)| *i)
    }

    /// Adds a contact from a completed pairing.
    pub fn add(&mut self, contact: Contact) -> Added {
        if let Some(id) = self.find_key(&contact.their_key) {
            if let Some((_, c)) = self.contacts.iter_mut().find(|(i, _)| *i == id) {
                *c = contact;
            }
            return Added::Repaired(id);
        }
        let id = ContactId(self.next);
        self.next = self.next.saturating_add(1);
        self.contacts.push((id, contact));
        Added::New(id)
    }

    /// Checks the long-term key a contact presents (in a call, in a re-pairing meant to
    /// replace them): the same key, or a [`KeyChanged`] warning.
    pub fn check_key(
        &self,
        id: ContactId,
        presented: &PublicKey,
    ) -> Result<KeyCheck, ContactsError> {
        let c = self.get(id)?;
        if c.their_key == *presented {
            return Ok(if c.verified {
                KeyCheck::Verified
            } else {
                KeyCheck::Unverified
            });
        }
        Ok(KeyCheck::Changed(KeyChanged {
            contact: id,
            old_key: c.their_key,
            new_key: *presented,
            old_safety_number: c.safety_number(),
            new_safety_number: SafetyNumber::of(&c.my_key, presented),
        }))
    }

    /// The user accepted a changed key for `id` (the pairing that brought it): the contact now
    /// has the new key and secret, verified only if it came through a new link.
    pub fn accept_key_change(
        &mut self,
        id: ContactId,
        replacement: Contact,
        via_link: bool,
    ) -> Result<KeyChanged, ContactsError> {
        let KeyCheck::Changed(change) = self.check_key(id, &replacement.their_key)? else {
            return Err(ContactsError::UnknownContact);
        };
        if let Some((_, c)) = self.contacts.iter_mut().find(|(i, _)| *i == id) {
            *c = Contact {
                verified: via_link,
                ..replacement
            };
        }
        Ok(change)
    }

    /// Marks a contact unverified (e.g. the user says the safety numbers did not match).
    pub fn set_verified(&mut self, id: ContactId, verified: bool) -> Result<(), ContactsError> {
        let (_, c) = self
            .contacts
            .iter_mut()
            .find(|(i, _)| *i == id)
            .ok_or(ContactsError::UnknownContact)?;
        c.verified = verified;
        Ok(())
    }

    pub fn remove(&mut self, id: ContactId) -> Result<Contact, ContactsError> {
        let index = self
            .contacts
            .iter()
            .position(|(i, _)| *i == id)
            .ok_or(ContactsError::UnknownContact)?;
        Ok(self.contacts.remove(index).1)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::identity::tests::identity;
    use crate::pairing::tests::pair;

    #[test]
    fn safety_number_is_symmetric_and_formatted() {
        let (a, b) = (identity("A"), identity("B"));
        let n = SafetyNumber::of(&a.public_key(), &b.public_key());
        assert_eq!(n, SafetyNumber::of(&b.public_key(), &a.public_key()));
        let digits = n.to_digits();
        assert_eq!(digits.len(), 12 * 5 + 11);
        assert!(digits.chars().all(|c| c.is_ascii_digit() || c == ' '));
        let c = identity("C");
        assert_ne!(n, SafetyNumber::of(&a.public_key(), &c.public_key()));
    }

    #[test]
    fn a_changed_key_warns_and_changes_nothing_until_accepted() {
        let (alice, bob, bob2) = (identity("Alice"), identity("Bob"), identity("Bob"));
        let mut book = ContactBook::default();
        let (bob_contact, _) = pair(&alice, &bob);
        let Added::New(id) = book.add(bob_contact) else {
            panic!("not new")
        };
        assert_eq!(
            book.check_key(id, &bob.public_key()).unwrap(),
            KeyCheck::Verified
        );
        let KeyCheck::Changed(w) = book.check_key(id, &bob2.public_key()).unwrap() else {
            panic!("no warning")
        };
        assert_eq!(w.old_key, bob.public_key());
        assert_eq!(w.new_key, bob2.public_key());
        assert_ne!(w.old_safety_number, w.new_safety_number);
        assert_eq!(KeyChanged::CODE, "contact-key-changed");
        // Still the old key on record.
        assert_eq!(book.get(id).unwrap().public_key(), bob.public_key());

        // Bob's new device re-pairs without a link (say, in a call): accepted but unverified.
        let (bob2_contact, _) = pair(&alice, &bob2);
        let change = book.accept_key_change(id, bob2_contact, false).unwrap();
        assert_eq!(change.new_key, bob2.public_key());
        assert_eq!(
            book.check_key(id, &bob2.public_key()).unwrap(),
            KeyCheck::Unverified
        );
        assert!(matches!(
            book.check_key(id, &bob.public_key()).unwrap(),
            KeyCheck::Changed(_)
        ));
        assert_eq!(book.len(), 1);
    }

    #[test]
    fn pairing_again_with_the_same_key_updates_in_place() {
        let (alice, bob) = (identity("Alice"), identity("Bob"));
        let mut book = ContactBook::default();
        let Added::New(id) = book.add(pair(&alice, &bob).0) else {
            panic!()
        };
        let again = pair(&alice, &bob).0;
        let secret = *again.pairwise().bytes();
        assert_eq!(book.add(again), Added::Repaired(id));
        assert_eq!(book.get(id).unwrap().pairwise().bytes(), &secret);
        assert_eq!(
            book.get(ContactId(99)).unwrap_err(),
            ContactsError::UnknownContact
        );
    }

    #[test]
    fn debug_hides_the_pairwise_secret() {
        let (alice, bob) = (identity("Alice"), identity("Bartholomew"));
        let (c, _) = pair(&alice, &bob);
        let text = format!("{c:?}");
        assert!(text.contains("redacted"));
        assert!(!text.contains(&crate::encoding::b64url(c.pairwise().bytes())));
        assert!(!text.contains("Bartholomew"));
    }
}
