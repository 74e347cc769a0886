//! Contact links: `https://host/#c1.<public key>.<one-time secret>` (base64url, 43 + 43).
//!
//! The fragment is never sent to a server. The link's secret `s` derives, with HKDF-SHA256
//! (`salt = "sotto/v1 contact link"`, `IKM = s`):
//! - `psk` (`"psk"`, 32 bytes): the HPKE PSK of the pairing (only link holders can pair),
//! - `request mailbox` (`"request mailbox"`, 16): where the link's user posts the pairing
//!   request for the link's maker,
//! - `reply mailbox` (`"reply mailbox"`, 16): where the maker posts its acceptance.
//!
//! A link is one-time: the maker keeps its secret as a [`PendingInvite`] until one pairing
//! request opens with it, then forgets it (a second request is `contact-link-used`).
use zeroize::Zeroizing;

use crate::encoding::{b64url, b64url_exact, hkdf};
use crate::identity::{Identity, PublicKey};
use crate::ids::MailboxId;
use crate::ContactsError;

const FRAGMENT_PREFIX: &str = "c1.";
/// `c1.` + 43 + `.` + 43.
const FRAGMENT_LEN: usize = 3 + 43 + 1 + 43;
/// Longest link accepted by [`ContactLink::parse`] (the part before `#` is not read).
pub const MAX_LINK_LEN: usize = 2048;

/// What both ends derive from a link's secret.
pub(crate) struct LinkKeys {
    pub(crate) psk: Zeroizing<[u8; 32]>,
    pub(crate) request_mailbox: MailboxId,
    pub(crate) reply_mailbox: MailboxId,
}

fn link_keys(secret: &[u8; 32]) -> Result<LinkKeys, ContactsError> {
    const SALT: &[u8] = b"sotto/v1 contact link";
    Ok(LinkKeys {
        psk: Zeroizing::new(hkdf::<32>(SALT, secret, &[b"psk"])?),
        request_mailbox: MailboxId(hkdf::<16>(SALT, secret, &[b"request mailbox"])?),
        reply_mailbox: MailboxId(hkdf::<16>(SALT, secret, &[b"reply mailbox"])?),
    })
}

/// A parsed contact link: the maker's long-term public key and the one-time secret.
pub struct ContactLink {
    public_key: PublicKey,
    secret: Zeroizing<[u8; 32]>,
}

impl ContactLink {
    /// Parses a whole link or just its fragment (with or without `#`).
    pub fn parse(link: &str) -> Result<Self, ContactsError> {
        if link.len() > MAX_LINK_LEN {
            return Err(ContactsError::MalformedLink);
        }
        let fragment = match link.split_once('#') {
            Some((_, f)) => f,
            None => link,
        };
        if fragment.len() != FRAGMENT_LEN {
            return Err(ContactsError::MalformedLink);
        }
        let body = fragment
            .strip_prefix(FRAGMENT_PREFIX)
            .ok_or(ContactsError::MalformedLink)?;
        let (pk, secret) = body.split_once('.').ok_or(ContactsError::MalformedLink)?;
        let public_key = PublicKey::from_base64url(pk).map_err(|e| match e {
            ContactsError::BadPublicKey => e,
            _ => ContactsError::MalformedLink,
        })?;
        let secret =
            Zeroizing::new(b64url_exact::<32>(secret).map_err(|_| ContactsError::MalformedLink)?);
        Ok(Self { public_key, secret })
    }

    /// The fragment, without `#`.
    pub fn fragment(&self) -> String {
        format!(
            "{FRAGMENT_PREFIX}{}.{}",
            self.public_key.to_base64url(),
            b64url(self.secret.as_ref())
        )
    }

    /// `base` (anything after a `#` in it dropped) with this link's fragment.
    pub fn to_url(&self, base: &str) -> String {
        let base = base.split_once('#').map_or(base, |(b, _)| b);
        format!("{base}#{}", self.fragment())
    }

    pub fn public_key(&self) -> PublicKey {
        self.public_key
    }

    pub(crate) fn keys(&self) -> Result<LinkKeys, ContactsError> {
        link_keys(&self.secret)
    }
}

impl core::fmt::Debug for ContactLink {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ContactLink")
            .field("public_key", &self.public_key)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// A link its maker handed out and has not seen used yet (keep it, e.g. in IndexedDB, until
/// used or expired).
pub struct PendingInvite {
    secret: Zeroizing<[u8; 32]>,
    created_at_ms: u64,
}

impl PendingInvite {
    /// A new link for `me`, and the invite its maker keeps.
    pub fn create(
        rng: &mut impl rand_core::CryptoRng,
        me: &Identity,
        now_ms: u64,
    ) -> (ContactLink, PendingInvite) {
        let mut secret = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(secret.as_mut());
        let link = ContactLink {
            public_key: me.public_key(),
            secret: secret.clone(),
        };
        (
            link,
            PendingInvite {
                secret,
                created_at_ms: now_ms,
            },
        )
    }

    pub fn created_at_ms(&self) -> u64 {
        self.created_at_ms
    }

    /// Where the pairing request for this link will arrive.
    pub fn request_mailbox(&self) -> Result<MailboxId, ContactsError> {
        Ok(link_keys(&self.secret)?.request_mailbox)
    }

    pub(crate) fn keys(&self) -> Result<LinkKeys, ContactsError> {
        link_keys(&self.secret)
    }

    /// For storage ([`crate::storage`]).
    pub(crate) fn secret(&self) -> &[u8; 32] {
        &self.secret
    }
    pub(crate) fn restore(secret: [u8; 32], created_at_ms: u64) -> Self {
        Self {
            secret: Zeroizing::new(secret),
            created_at_ms,
        }
    }
}

impl core::fmt::Debug for PendingInvite {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "PendingInvite(<redacted>, created {})",
            self.created_at_ms
        )
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::identity::tests::{identity, rng};
    use proptest::prelude::*;

    #[test]
    fn link_round_trips_through_url_and_fragment() {
        let alice = identity("Alice");
        let (link, invite) = PendingInvite::create(&mut rng(), &alice, 5);
        let url = link.to_url("https://sotto.example/add#old");
        assert!(url.starts_with("https://sotto.example/add#c1."));
        let back = ContactLink::parse(&url).unwrap();
        assert_eq!(back.public_key(), alice.public_key());
        assert_eq!(back.fragment(), link.fragment());
        assert_eq!(
            ContactLink::parse(&link.fragment()).unwrap().fragment(),
            link.fragment()
        );
        assert_eq!(
            back.keys().unwrap().request_mailbox,
            invite.request_mailbox().unwrap()
        );
    }

    #[test]
    fn bad_links_are_refused_with_a_code() {
        let alice = identity("Alice");
        let (link, _) = PendingInvite::create(&mut rng(), &alice, 0);
        let f = link.fragment();
        for bad in [
            String::new(),
            "#".into(),
            f[..f.len() - 1].to_string(),
            format!("{f}A"),
            f.replacen("c1.", "c2.", 1),
            f.replacen('.', "_", 2),
            format!("c1.{}.{}", "A".repeat(43), &f[47..]),
            "x".repeat(MAX_LINK_LEN + 1),
        ] {
            let e = ContactLink::parse(&bad).unwrap_err();
            assert!(
                matches!(
                    e,
                    ContactsError::MalformedLink | ContactsError::BadPublicKey
                ),
                "{bad}: {e:?}"
            );
        }
        // The all-zero key is a small-order point.
        let zero = format!("c1.{}.{}", "A".repeat(43), &f[47..]);
        assert_eq!(
            ContactLink::parse(&zero).unwrap_err().code(),
            "bad-public-key"
        );
    }

    #[test]
    fn debug_hides_the_secret() {
        let alice = identity("Alice");
        let (link, invite) = PendingInvite::create(&mut rng(), &alice, 0);
        let secret_part = link.fragment()[47..].to_string();
        assert!(!format!("{link:?} {invite:?}").contains(&secret_part));
    }

    proptest! {
        #[test]
        fn any_text_parses_or_fails_cleanly(s in ".{0,200}") {
            let _ = ContactLink::parse(&s);
        }

        #[test]
        fn near_miss_fragments_fail_cleanly(s in "c1\\.[A-Za-z0-9_-]{43}\\.[A-Za-z0-9_-]{43}") {
            // Most random 43-char strings are non-canonical or valid; none may panic.
            if let Ok(link) = ContactLink::parse(&s) {
                prop_assert_eq!(link.fragment(), s);
            }
        }
    }
}
