//! Sotto's contacts core: who you know, whether they are online, and calling them, without the
//! server learning the social graph. Pure Rust, no I/O, no clock: randomness and time come in.
//!
//! # Design
//!
//! ```text
//! Identity (long-term X25519 HPKE key + display name; passphrase backup: Argon2id + AES-256-GCM)
//!    |  contact link  https://host/#c1.<public key>.<one-time secret>   (out of band: QR, chat)
//!    v
//! Pairing (HPKE: PSK mode outer layer to the link maker, AuthPSK inner layer from the user)
//!    |  both sides: the same 32-byte pairwise secret, each other's key (verified: the link
//!    |  came out of band), a safety number from both keys (stable across calls)
//!    v
//! Contact --HKDF--> presence channel ids  per direction x UTC day x status (online, busy)
//!         --HKDF--> mailbox ids           per direction x UTC day
//!         --HKDF--> ring key              per direction (AES-256-GCM): sealed ring messages
//!         --HPKE AuthPSK to the contact's long-term key--> sealed offline messages
//! OutgoingRing / IncomingRing: the ringing state machines (events and time in, actions out)
//! ```
//!
//! What the server sees: random-looking 16-byte ids (presence channels, mailboxes) and sealed
//! bytes. Never a public key, a name, a contact list or a room link: the link's fragment stays
//! in the browser, pairing requests are sealed to the link maker's key, the ids are PRF
//! outputs keyed by secrets the server never holds, and they change every UTC day, so one
//! day's ids cannot be linked to the next day's without the pairwise secret (tested
//! structurally and statistically in `presence.rs`). What it still sees: connection times and
//! addresses, how many ids a connection announces and subscribes to (the contact count), and
//! that the announcer of id X and a subscriber of X are online at the same moments. Timing
//! correlation by an active server is not hidden (see `docs/contacts.md`).
//!
//! Long-term keys authenticate, per-call keys stay fresh: a call's identity keys are still made
//! per call (forward secrecy); the long-term key is what a contact's safety number and the
//! ring/offline seals bind to, and a per-call key is tied to a contact by a tag made with the
//! pairwise secret ([`call_binding`]). The link in a ring invite is the room link (its secret), sealed.
//!
//! Modules: [`identity`] (key, name, backup), [`link`] (contact links and pending invites),
//! [`pairing`], [`contact`] (contacts, safety numbers, key-change warnings), [`call_binding`]
//! (a call's fresh key bound to a contact), [`presence`] (channel and mailbox ids), [`sealed`]
//! (ring and offline messages), [`ring`] (state machines), [`phone`] (one tab's rings, sealed),
//! [`storage`] (the profile record a browser keeps, encrypted). Every error is a [`ContactsError`]
//! with a stable code.

pub mod call_binding;
pub mod contact;
mod encoding;
mod error;
pub mod identity;
pub mod ids;
pub mod link;
pub mod pairing;
pub mod phone;
pub mod presence;
pub mod ring;
pub mod sealed;
pub mod storage;

pub use contact::{
    Contact, ContactBook, ContactId, KeyChanged, KeyCheck, PairwiseSecret, SafetyNumber,
};
pub use error::ContactsError;
pub use identity::{DisplayName, Identity, KdfParams, PublicKey};
pub use ids::{ChannelId, MailboxId};
pub use link::{ContactLink, PendingInvite};
pub use pairing::{start_pairing, InviteBook, OutgoingPairing};
pub use phone::{Phone, PhoneAction};
pub use presence::{PresencePlan, Status};
pub use ring::{IncomingCalls, IncomingRing, OutgoingRing, RingAction, RingMessage};
pub use sealed::OfflineMessage;
pub use storage::Profile;
