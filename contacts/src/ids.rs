//! Opaque ids the server sees: presence channel ids and mailbox ids. 16 bytes each, shown as
//! 22 characters of base64url (what `sotto-protocol`'s `ChannelId` accepts: 16..=43 chars).
use crate::encoding::{b64url, b64url_exact};
use crate::ContactsError;

macro_rules! opaque_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub(crate) [u8; 16]);

        impl $name {
            pub fn to_base64url(&self) -> String {
                b64url(&self.0)
            }
            pub fn from_base64url(text: &str) -> Result<Self, ContactsError> {
                Ok(Self(b64url_exact::<16>(text)?))
            }
            pub fn as_bytes(&self) -> &[u8; 16] {
                &self.0
            }
        }

        impl core::fmt::Debug for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self.to_base64url())
            }
        }
    };
}

opaque_id!(
    /// A presence channel id: announced by one side of a pair, subscribed by the other.
    ChannelId
);
opaque_id!(
    /// A mailbox id: where sealed messages for one direction of a pair (or one contact link's
    /// pairing) wait on the server.
    MailboxId
);
