//! The sending side of [`super::GroupKeys`]: the current sender key, a pending one being
//! delivered, and the fail-closed block.
//!
//! ```text
//!   set_roster ──► begin(): epoch = last made + 1, fresh key ──► sealed to every peer ──► pending
//!        │            (a pending key it replaces is dropped, never used to send)
//!        └─ any failure ──► blocked: no frame, no chat, no re-send until a later commit
//!   acknowledge(peer, epoch) ... pending_complete() ──► commit(): pending becomes current
//! ```
//! Frames and chat always use the *current* key; receivers get the pending key before anything
//! is sent under it, so a rotation loses nothing.

use sotto_vecmap::VecSet;

use crate::chat::ChatKey;
use crate::frame::FrameSender;
use crate::sender_key::SenderKey;
use crate::E2eeError;

/// One of my sender keys and what is derived from it.
pub(super) struct MySenderKey {
    pub(super) epoch: u64,
    pub(super) base: SenderKey,
    pub(super) frames: FrameSender,
    pub(super) chat: ChatKey,
}

impl MySenderKey {
    pub(super) fn from_key(base: SenderKey, epoch: u64) -> Result<Self, E2eeError> {
        Ok(Self {
            epoch,
            frames: FrameSender::new(&base, epoch)?,
            chat: ChatKey::derive(&base),
            base,
        })
    }
}

/// A key sealed to the roster and not yet used to send.
struct Pending {
    key: MySenderKey,
    sealed_to: VecSet<String>,
    acked: VecSet<String>,
}

/// Current key, pending key, and whether sending is blocked.
pub(super) struct SenderState {
    /// `None` only if deriving even the epoch 0 key failed (then `blocked` is set too).
    current: Option<MySenderKey>,
    pending: Option<Pending>,
    blocked: bool,
    /// Highest epoch ever made (each epoch is made once: same epoch = same key).
    last_epoch: u64,
    /// The frame suites of keys made from now on.
    suites: crate::frame::FrameSuites,
}

impl SenderState {
    /// Starts with the epoch 0 key (sealed to nobody). Deriving it cannot fail for our fixed
    /// suite; if it ever did, the state starts blocked until the first rotation succeeds.
    pub(super) fn new(rng: &mut impl rand_core::CryptoRng) -> Self {
        let current = MySenderKey::from_key(SenderKey::generate(rng), 0).ok();
        Self {
            blocked: current.is_none(),
            current,
            pending: None,
            last_epoch: 0,
            suites: crate::frame::FrameSuites::DEFAULT,
        }
    }

    /// The frame suites of the keys made from the next rotation on.
    pub(super) fn set_suites(&mut self, suites: crate::frame::FrameSuites) {
        self.suites = suites;
    }

    /// The key frames and chat are sent under, unless sending is blocked.
    pub(super) fn sending(&mut self) -> Result<&mut MySenderKey, E2eeError> {
        match self.current.as_mut() {
            Some(current) if !self.blocked => Ok(current),
            _ => Err(E2eeError::RotationIncomplete),
        }
    }

    /// The frame keys of the current and the pending sender key.
    pub(super) fn keys_mut(&mut self) -> Vec<&mut crate::frame::FrameKey> {
        let mut keys = Vec::with_capacity(4);
        if let Some(c) = self.current.as_mut() {
            keys.extend(c.frames.keys_mut());
        }
        if let Some(p) = self.pending.as_mut() {
            keys.extend(p.key.frames.keys_mut());
        }
        keys
    }

    pub(super) fn current_epoch(&self) -> u64 {
        self.current.as_ref().map_or(0, |c| c.epoch)
    }

    pub(super) fn pending_epoch(&self) -> Option<u64> {
        self.pending.as_ref().map(|p| p.key.epoch)
    }

    pub(super) fn is_blocked(&self) -> bool {
        self.blocked
    }

    /// The newest key (pending if any, else current), for re-sending; refused while blocked,
    /// since the current key then predates a roster change that failed to rotate.
    pub(super) fn newest(&self) -> Result<&MySenderKey, E2eeError> {
        if self.blocked {
            return Err(E2eeError::RotationIncomplete);
        }
        self.pending
            .as_ref()
            .map(|p| &p.key)
            .or(self.current.as_ref())
            .ok_or(E2eeError::RotationIncomplete)
    }

    /// Starts a rotation: drops any pending key and makes the next epoch's key. On failure
    /// the sender is blocked.
    pub(super) fn begin(
        &mut self,
        rng: &mut impl rand_core::CryptoRng,
    ) -> Result<MySenderKey, E2eeError> {
        self.pending = None;
        let result = self
            .last_epoch
            .checked_add(1)
            .ok_or(E2eeError::CounterExhausted)
            .and_then(|epoch| {
                self.last_epoch = epoch;
                let mut bytes = [0u8; crate::sender_key::SENDER_KEY_LEN];
                rng.fill_bytes(&mut bytes);
                let key = SenderKey::with_suites(bytes, self.suites);
                zeroize::Zeroize::zeroize(&mut bytes);
                MySenderKey::from_key(key, epoch)
            });
        if result.is_err() {
            self.fail();
        }
        result
    }

    /// The rotation in progress failed: block sending until a later one is committed.
    pub(super) fn fail(&mut self) {
        self.pending = None;
        self.blocked = true;
    }

    /// `key` was sealed to `peers`: it waits for their acknowledgements (or, with no peers,
    /// is committed at once). Returns whether it was committed.
    pub(super) fn finish(&mut self, key: MySenderKey, peers: VecSet<String>) -> bool {
        if peers.is_empty() {
            self.install_current(key);
            true
        } else {
            self.pending = Some(Pending {
                key,
                sealed_to: peers,
                acked: VecSet::new(),
            });
            false
        }
    }

    fn install_current(&mut self, key: MySenderKey) {
        self.current = Some(key);
        self.blocked = false;
    }

    /// Records `peer`'s acknowledgement of `epoch`; returns [`Self::pending_complete`].
    pub(super) fn acknowledge(&mut self, peer: &str, epoch: u64) -> bool {
        if let Some(p) = self.pending.as_mut() {
            if p.key.epoch == epoch && p.sealed_to.contains(peer) {
                p.acked.insert(peer.to_owned());
            }
        }
        self.pending_complete()
    }

    /// Has every peer the pending key was sealed to acknowledged it? (false with none pending)
    pub(super) fn pending_complete(&self) -> bool {
        self.pending
            .as_ref()
            .is_some_and(|p| p.acked.len() == p.sealed_to.len())
    }

    /// Switches to the pending key, if any; returns the epoch now used for sending.
    pub(super) fn commit(&mut self) -> u64 {
        if let Some(p) = self.pending.take() {
            self.install_current(p.key);
        }
        self.current_epoch()
    }

    #[cfg(feature = "testing")]
    pub(super) fn current(&self) -> Option<&MySenderKey> {
        self.current.as_ref()
    }

    #[cfg(feature = "testing")]
    pub(super) fn pending_key(&self) -> Option<&MySenderKey> {
        self.pending.as_ref().map(|p| &p.key)
    }

    /// TEST ONLY: send under `key` at `epoch` from now on.
    #[cfg(feature = "testing")]
    pub(super) fn force_current(&mut self, key: MySenderKey) {
        self.pending = None;
        self.last_epoch = self.last_epoch.max(key.epoch);
        self.install_current(key);
    }
}
