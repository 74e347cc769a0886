//! The receiving side of [`super::GroupKeys`]: a small ring of keys per sender and an epoch
//! floor per sender identity.
//!
//! ```text
//!   identity key ──► EpochFloor { highest accepted, floor }      (kept for the whole call)
//!   peer id      ──► PeerKeys { identity, ring: [oldest .. newest] (≤ RING_SIZE) }
//!                                 each key: epoch, frame receiver, chat key, expiry
//! ```
//! A key message for epoch `e` is accepted only if `e >= floor` (equal to `highest`: the same
//! key sent again). Accepting `e` sets `highest = floor = e`. A leave raises every floor to
//! `highest + 1` and gives every key in hand an expiry. The floors are keyed by identity, not
//! by peer id, and survive the peer leaving the roster, so a forged leave and re-join cannot
//! make an old key message acceptable again.

use subtle::ConstantTimeEq as _;

use crate::chat::ChatKey;
use crate::codec::MediaKind;
use crate::frame::{kid_for_epoch, FrameKey, FrameReceiver, KeyRing, ReceiveContext};
use crate::identity::IdentityPublicKey;
use crate::sender_key::SenderKey;
use crate::E2eeError;

/// Most receive keys kept per sender. Older ones go first.
pub const RING_SIZE: usize = 4;

/// Keys received from one sender for one epoch.
pub(super) struct ReceiveKey {
    pub(super) epoch: u64,
    pub(super) base: SenderKey,
    pub(super) frames: FrameReceiver,
    pub(super) chat: ChatKey,
    pub(super) last_chat_seq: Option<u64>,
    /// When this key is erased (`None`: the newest key, not superseded and not tainted).
    pub(super) expires: Option<u64>,
}

impl ReceiveKey {
    pub(super) fn new(epoch: u64, base: SenderKey) -> Result<Self, E2eeError> {
        Ok(Self {
            epoch,
            frames: FrameReceiver::new(&base, epoch)?,
            chat: ChatKey::derive(&base),
            base,
            last_chat_seq: None,
            expires: None,
        })
    }

    fn expire_by(&mut self, deadline: u64) {
        self.expires = Some(self.expires.map_or(deadline, |t| t.min(deadline)));
    }

    fn live_at(&self, now_ms: u64) -> bool {
        self.expires.is_none_or(|t| now_ms < t)
    }
}

/// What we hold for one other participant of the roster.
pub(super) struct PeerKeys {
    pub(super) identity: IdentityPublicKey,
    /// Oldest first; at most [`RING_SIZE`]; epochs strictly increasing; KIDs distinct.
    ring: Vec<ReceiveKey>,
}

impl PeerKeys {
    pub(super) fn new(identity: IdentityPublicKey) -> Self {
        Self {
            identity,
            ring: Vec::with_capacity(RING_SIZE),
        }
    }

    /// Erases the keys whose time is up.
    pub(super) fn expire(&mut self, now_ms: u64) {
        self.ring.retain(|k| k.live_at(now_ms));
    }

    /// Every key in hand expires at `deadline` at the latest (a leave happened).
    pub(super) fn taint(&mut self, deadline: u64) {
        for k in &mut self.ring {
            k.expire_by(deadline);
        }
    }

    /// Installs `key` as the newest: the keys it supersedes expire `grace_ms` from now, a key
    /// with the same KID goes at once (KIDs must stay unambiguous) and the ring keeps the newest
    /// [`RING_SIZE`].
    pub(super) fn install(&mut self, key: ReceiveKey, now_ms: u64, grace_ms: u64) {
        let deadline = now_ms.saturating_add(grace_ms);
        let kid = kid_for_epoch(key.epoch);
        self.ring.retain(|k| kid_for_epoch(k.epoch) != kid);
        for k in &mut self.ring {
            k.expire_by(deadline);
        }
        self.ring.push(key);
        if self.ring.len() > RING_SIZE {
            let extra = self.ring.len() - RING_SIZE;
            self.ring.drain(..extra);
        }
    }

    pub(super) fn by_kid(&mut self, kid: u64) -> Option<&mut ReceiveKey> {
        self.ring
            .iter_mut()
            .rev()
            .find(|k| kid_for_epoch(k.epoch) == kid)
    }

    pub(super) fn by_epoch(&mut self, epoch: u64) -> Option<&mut ReceiveKey> {
        self.ring.iter_mut().rev().find(|k| k.epoch == epoch)
    }

    /// Is a key held for `epoch`, and is it `base` with the same suites? (`None`: no key for
    /// that epoch; the bytes are compared in constant time)
    pub(super) fn holds(&self, epoch: u64, base: &SenderKey) -> Option<bool> {
        self.ring.iter().find(|k| k.epoch == epoch).map(|k| {
            bool::from(k.base.as_bytes().ct_eq(base.as_bytes())) && k.base.suites() == base.suites()
        })
    }

    /// Every frame key held (both kinds of every key in the ring).
    pub(super) fn frame_keys(&mut self) -> impl Iterator<Item = &mut FrameKey> {
        self.ring.iter_mut().flat_map(|k| {
            let [audio, video] = k.frames.contexts_mut();
            [audio.key_mut(), video.key_mut()]
        })
    }

    /// Epochs held, newest first.
    pub(super) fn epochs(&self) -> Vec<u64> {
        self.ring.iter().rev().map(|k| k.epoch).collect()
    }

    /// Is any key held (and, given a time, not yet expired then)?
    pub(super) fn has_usable(&self, now_ms: Option<u64>) -> bool {
        self.ring
            .iter()
            .any(|k| now_ms.is_none_or(|now| k.live_at(now)))
    }

    #[cfg(feature = "testing")]
    pub(super) fn keys(&self) -> impl Iterator<Item = &ReceiveKey> {
        self.ring.iter()
    }
}

impl KeyRing for PeerKeys {
    fn context(&mut self, kid: u64, kind: MediaKind) -> Option<&mut ReceiveContext> {
        self.by_kid(kid).map(|k| k.frames.context_mut(kind))
    }

    fn by_handle(&mut self, handle: u32) -> Option<&mut ReceiveContext> {
        self.ring
            .iter_mut()
            .find_map(|k| k.frames.by_handle(handle))
    }
}

/// What a key message's epoch is, for its sender identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Admission {
    /// Newer than anything accepted: install it.
    New,
    /// The epoch accepted last: the same key sent again, or a forgery by the same sender.
    Same,
}

/// Per sender identity, for the whole call: the highest epoch accepted and the lowest one that
/// may still be accepted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct EpochFloor {
    highest: Option<u64>,
    floor: u64,
}

impl EpochFloor {
    pub(super) fn admit(&self, epoch: u64) -> Result<Admission, E2eeError> {
        if epoch < self.floor {
            return Err(E2eeError::StaleEpoch);
        }
        match self.highest {
            Some(h) if epoch == h => Ok(Admission::Same),
            Some(h) if epoch < h => Err(E2eeError::StaleEpoch),
            _ => Ok(Admission::New),
        }
    }

    pub(super) fn accept(&mut self, epoch: u64) {
        self.highest = Some(epoch);
        self.floor = epoch;
    }

    /// A leave happened: only keys made after it (a higher epoch) are accepted from now on.
    pub(super) fn taint(&mut self) {
        if let Some(h) = self.highest {
            self.floor = self.floor.max(h.saturating_add(1));
        }
    }

    /// Could a key for `epoch` still be accepted, and is it newer than any accepted? (chat
    /// under such an epoch waits for its key)
    pub(super) fn may_arrive(&self, epoch: u64) -> bool {
        epoch >= self.floor && self.highest.is_none_or(|h| epoch > h)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::cast_possible_truncation)]
mod tests {
    use super::*;

    fn key(epoch: u64) -> ReceiveKey {
        ReceiveKey::new(epoch, SenderKey::from_bytes([epoch as u8; 16])).unwrap()
    }

    fn peer() -> PeerKeys {
        let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
        PeerKeys::new(crate::IdentityKeyPair::generate(&mut rng).public_key())
    }

    #[test]
    fn ring_keeps_the_newest_four_and_superseded_keys_expire_after_grace() {
        let mut p = peer();
        for (i, epoch) in (1..=6u64).enumerate() {
            p.install(key(epoch), i as u64 * 10, 1_000);
        }
        assert_eq!(p.epochs(), vec![6, 5, 4, 3]);
        // 3 was superseded at t=30 (by 4), 5 at t=50 (by 6)
        p.expire(1_029);
        assert_eq!(p.epochs(), vec![6, 5, 4, 3]);
        p.expire(1_030);
        assert_eq!(p.epochs(), vec![6, 5, 4]);
        p.expire(1_050);
        assert_eq!(p.epochs(), vec![6]);
        // the newest never expires by itself
        p.expire(u64::MAX);
        assert_eq!(p.epochs(), vec![6]);
        assert!(p.has_usable(Some(u64::MAX)));
    }

    #[test]
    fn same_kid_replaces_at_once_and_lookup_is_by_kid() {
        let mut p = peer();
        p.install(key(1), 0, 1_000);
        p.install(key(9), 0, 1_000); // KID 1 as well
        assert_eq!(p.epochs(), vec![9]);
        assert_eq!(p.by_kid(1).unwrap().epoch, 9);
        p.install(key(10), 0, 1_000);
        assert_eq!(p.by_kid(1).unwrap().epoch, 9);
        assert_eq!(p.by_kid(2).unwrap().epoch, 10);
        assert!(p.by_kid(3).is_none());
        assert_eq!(p.holds(9, &SenderKey::from_bytes([9; 16])), Some(true));
        assert_eq!(p.holds(9, &SenderKey::from_bytes([8; 16])), Some(false));
        assert_eq!(p.holds(1, &SenderKey::from_bytes([1; 16])), None);
    }

    #[test]
    fn taint_gives_every_key_an_expiry_and_never_extends_one() {
        let mut p = peer();
        p.install(key(1), 0, 100);
        p.install(key(2), 0, 100);
        p.taint(500);
        p.expire(99);
        assert_eq!(p.epochs(), vec![2, 1]);
        p.expire(100);
        assert_eq!(p.epochs(), vec![2]);
        assert!(p.has_usable(Some(499)));
        assert!(!p.has_usable(Some(500)));
        p.expire(500);
        assert!(p.epochs().is_empty());
        assert!(!p.has_usable(None));
    }

    #[test]
    fn floor_admits_newer_and_the_same_epoch_refuses_older_and_taint_raises_it() {
        let mut f = EpochFloor::default();
        assert_eq!(f.admit(0), Ok(Admission::New));
        f.accept(3);
        assert_eq!(f.admit(2), Err(E2eeError::StaleEpoch));
        assert_eq!(f.admit(3), Ok(Admission::Same));
        assert_eq!(f.admit(4), Ok(Admission::New));
        assert!(f.may_arrive(4) && !f.may_arrive(3));
        f.taint();
        assert_eq!(f.admit(3), Err(E2eeError::StaleEpoch));
        assert_eq!(f.admit(4), Ok(Admission::New));
        f.taint(); // twice is the same as once
        assert_eq!(f.admit(4), Ok(Admission::New));
        // nothing accepted yet: taint changes nothing
        let mut g = EpochFloor::default();
        g.taint();
        assert_eq!(g.admit(0), Ok(Admission::New));
    }
}
