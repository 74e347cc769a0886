//! The per-participant key state machine the client drives.
//!
//! ```text
//!            set_roster(peers)                         receive_key_message(from, bytes)
//!  roster ───────────────────► epoch += 1,             ─► open with (my sk, from's announced pk,
//!  change                      fresh sender key,           room PSK, info) ─► epoch newer than any
//!                              sealed to every peer        accepted from `from`? ─► install as
//!                              (HPKE AuthPSK)              current; old current kept as previous
//!                                                          for the grace window, then erased
//! ```
//! Sender keys are per sender and per epoch; epochs are local to each sender. The KID of a
//! frame is the sender epoch mod 8, so a receiver finds the key among the (at most two) it keeps
//! per sender. A peer that leaves the roster loses all its receive state at once; since everyone
//! else rotates when they see it leave, nothing it held decrypts anything sent after that.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::chat::{self, ChatHeader, ChatKey};
use crate::codec::Codec;
use crate::encoding::check_peer_id;
use crate::frame::{decrypt_with, kid_for_epoch, FrameReceiver, FrameSender};
use crate::identity::{IdentityKeyPair, IdentityPublicKey};
use crate::key_exchange::{open_sender_key, seal_sender_key};
use crate::room::RoomKeys;
use crate::safety::SafetyCode;
use crate::sender_key::SenderKey;
use crate::E2eeError;

/// How long a receiver keeps a sender's previous key after a newer one arrived.
pub const DEFAULT_GRACE_MS: u64 = 2_000;

/// A sealed sender key to deliver to one peer (through the signaling server).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingKeyMessage {
    /// Recipient peer id.
    pub to: String,
    /// The key message bytes ([`crate::key_exchange`] format).
    pub bytes: Vec<u8>,
}

/// A receive key was installed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyUpdate {
    /// The sender whose key it is.
    pub peer: String,
    /// Its epoch.
    pub epoch: u64,
}

/// Counters over the life of a [`GroupKeys`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct FrameStats {
    /// Frames encrypted.
    pub encrypted: u64,
    /// Frames decrypted.
    pub decrypted: u64,
    /// Frames dropped as duplicated or older than the replay window.
    pub dropped_replay: u64,
    /// Frames dropped for lack of a key (unknown sender, KID, or erased key).
    pub dropped_unknown_key: u64,
    /// Frames dropped because the tag did not verify.
    pub dropped_auth: u64,
    /// Frames dropped as malformed or too large.
    pub dropped_malformed: u64,
    /// Chat messages sealed.
    pub chat_sealed: u64,
    /// Chat messages opened.
    pub chat_opened: u64,
    /// Chat messages refused.
    pub chat_dropped: u64,
}

/// Keys received from one sender for one epoch.
struct ReceiveKey {
    epoch: u64,
    #[cfg_attr(not(feature = "testing"), allow(dead_code))]
    base: SenderKey,
    frames: FrameReceiver,
    chat: ChatKey,
    last_chat_seq: Option<u64>,
}

impl ReceiveKey {
    fn new(epoch: u64, base: SenderKey) -> Result<Self, E2eeError> {
        Ok(Self {
            epoch,
            frames: FrameReceiver::new(&base, epoch)?,
            chat: ChatKey::derive(&base),
            base,
            last_chat_seq: None,
        })
    }
}

/// What we know about one other participant.
struct PeerKeys {
    identity: IdentityPublicKey,
    current: Option<ReceiveKey>,
    /// The key `current` replaced, and when it is to be erased.
    previous: Option<(ReceiveKey, u64)>,
    highest_epoch: Option<u64>,
}

impl PeerKeys {
    fn new(identity: IdentityPublicKey) -> Self {
        Self {
            identity,
            current: None,
            previous: None,
            highest_epoch: None,
        }
    }

    fn expire(&mut self, now_ms: u64) {
        if self
            .previous
            .as_ref()
            .is_some_and(|(_, until)| now_ms >= *until)
        {
            self.previous = None;
        }
    }

    fn install(&mut self, key: ReceiveKey, now_ms: u64, grace_ms: u64) {
        self.highest_epoch = Some(key.epoch);
        if let Some(old) = self.current.replace(key) {
            self.previous = Some((old, now_ms.saturating_add(grace_ms)));
        }
    }

    fn by_kid(&mut self, kid: u64) -> Option<&mut ReceiveKey> {
        match (&mut self.current, &mut self.previous) {
            (Some(c), _) if kid_for_epoch(c.epoch) == kid => Some(c),
            (_, Some((p, _))) if kid_for_epoch(p.epoch) == kid => Some(p),
            _ => None,
        }
    }

    fn by_epoch(&mut self, epoch: u64) -> Option<&mut ReceiveKey> {
        match (&mut self.current, &mut self.previous) {
            (Some(c), _) if c.epoch == epoch => Some(c),
            (_, Some((p, _))) if p.epoch == epoch => Some(p),
            _ => None,
        }
    }
}

/// My current sender key and what is derived from it.
struct MySenderKey {
    epoch: u64,
    base: SenderKey,
    frames: Option<FrameSender>,
    chat: ChatKey,
}

impl MySenderKey {
    fn generate(rng: &mut impl rand_core::CryptoRng, epoch: u64) -> Self {
        let base = SenderKey::generate(rng);
        Self {
            epoch,
            // derivation cannot fail for our fixed suite; if it ever did, encryption fails closed
            frames: FrameSender::new(&base, epoch).ok(),
            chat: ChatKey::derive(&base),
            base,
        }
    }
}

/// One participant's keys: identity, own sender key, receive keys of every peer, stats.
pub struct GroupKeys {
    room: RoomKeys,
    identity: IdentityKeyPair,
    my_peer_id: String,
    sender: MySenderKey,
    chat_seq: u64,
    peers: BTreeMap<String, PeerKeys>,
    stats: FrameStats,
    grace_ms: u64,
}

impl GroupKeys {
    /// Starts a participant: the epoch 0 sender key is made at once (it is sealed to nobody until
    /// the first [`GroupKeys::set_roster`], which moves to epoch 1).
    pub fn new(
        rng: &mut impl rand_core::CryptoRng,
        room: RoomKeys,
        identity: IdentityKeyPair,
        my_peer_id: String,
    ) -> Self {
        Self {
            room,
            identity,
            my_peer_id,
            sender: MySenderKey::generate(rng, 0),
            chat_seq: 0,
            peers: BTreeMap::new(),
            stats: FrameStats::default(),
            grace_ms: DEFAULT_GRACE_MS,
        }
    }

    /// Changes the grace window for previous receive keys (default [`DEFAULT_GRACE_MS`]).
    pub fn set_grace_ms(&mut self, grace_ms: u64) {
        self.grace_ms = grace_ms;
    }

    /// My public identity key.
    pub fn my_identity(&self) -> IdentityPublicKey {
        self.identity.public_key()
    }

    /// My peer id.
    pub fn my_peer_id(&self) -> &str {
        &self.my_peer_id
    }

    /// The room keys (room id).
    pub fn room(&self) -> &RoomKeys {
        &self.room
    }

    /// My current sender epoch.
    pub fn sender_epoch(&self) -> u64 {
        self.sender.epoch
    }

    /// The current roster (other peers), sorted by peer id.
    pub fn roster(&self) -> Vec<(String, IdentityPublicKey)> {
        self.peers
            .iter()
            .map(|(p, k)| (p.clone(), k.identity.clone()))
            .collect()
    }

    /// Replaces the roster (other peers only) and rotates: a new epoch and sender key, sealed to
    /// every peer in `peers`. Peers no longer present lose their receive state; a peer whose
    /// identity key changed starts afresh. Nothing changes if an argument is invalid.
    pub fn set_roster(
        &mut self,
        rng: &mut impl rand_core::CryptoRng,
        peers: &[(String, IdentityPublicKey)],
    ) -> Result<Vec<OutgoingKeyMessage>, E2eeError> {
        check_peer_id(&self.my_peer_id)?;
        let mut seen = std::collections::BTreeSet::new();
        for (peer, _) in peers {
            check_peer_id(peer)?;
            if *peer == self.my_peer_id || !seen.insert(peer.as_str()) {
                return Err(E2eeError::BadPeerId);
            }
        }
        let epoch = self
            .sender
            .epoch
            .checked_add(1)
            .ok_or(E2eeError::CounterExhausted)?;
        let next = MySenderKey::generate(rng, epoch);
        let mut out = Vec::with_capacity(peers.len());
        for (peer, pk) in peers {
            let bytes = seal_sender_key(
                rng,
                &self.room,
                &self.identity,
                &self.my_peer_id,
                peer,
                pk,
                epoch,
                &next.base,
            )?;
            out.push(OutgoingKeyMessage {
                to: peer.clone(),
                bytes,
            });
        }
        // commit
        let mut old = core::mem::take(&mut self.peers);
        for (peer, pk) in peers {
            let state = match old.remove(peer) {
                Some(state) if state.identity == *pk => state,
                _ => PeerKeys::new(pk.clone()),
            };
            self.peers.insert(peer.clone(), state);
        }
        self.sender = next;
        Ok(out)
    }

    /// Opens a key message from `from`; on success installs it as that sender's current receive
    /// key (the one it replaces stays for the grace window).
    pub fn receive_key_message(
        &mut self,
        from: &str,
        bytes: &[u8],
        now_ms: u64,
    ) -> Result<KeyUpdate, E2eeError> {
        check_peer_id(from)?;
        let peer = self.peers.get_mut(from).ok_or(E2eeError::UnknownPeer)?;
        let (epoch, base) = open_sender_key(
            &self.room,
            &self.identity,
            &self.my_peer_id,
            from,
            &peer.identity,
            bytes,
        )?;
        if peer.highest_epoch.is_some_and(|h| epoch <= h) {
            return Err(E2eeError::StaleEpoch);
        }
        peer.expire(now_ms);
        peer.install(ReceiveKey::new(epoch, base)?, now_ms, self.grace_ms);
        Ok(KeyUpdate {
            peer: from.to_owned(),
            epoch,
        })
    }

    /// The safety code over this room, my identity key and the roster's.
    pub fn safety_code(&self) -> SafetyCode {
        let mut keys: Vec<IdentityPublicKey> =
            self.peers.values().map(|p| p.identity.clone()).collect();
        keys.push(self.identity.public_key());
        SafetyCode::compute(self.room.room_id(), &keys)
    }

    /// Encrypts one encoded frame with my current sender key.
    pub fn encrypt_frame(&mut self, codec: Codec, frame: &[u8]) -> Result<Vec<u8>, E2eeError> {
        let sender = self.sender.frames.as_mut().ok_or(E2eeError::Internal)?;
        let out = sender.encrypt(codec, frame)?;
        self.stats.encrypted += 1;
        Ok(out)
    }

    /// Decrypts one frame from `from`. Every failure is counted in [`GroupKeys::stats`].
    pub fn decrypt_frame(
        &mut self,
        from: &str,
        codec: Codec,
        frame: &[u8],
        now_ms: u64,
    ) -> Result<Vec<u8>, E2eeError> {
        let result = match self.peers.get_mut(from) {
            None => Err(E2eeError::UnknownKey),
            Some(peer) => {
                peer.expire(now_ms);
                decrypt_with(codec, frame, |header, meta, sframe| {
                    peer.by_kid(header.key_id())
                        .ok_or(E2eeError::UnknownKey)?
                        .frames
                        .open(header, meta, sframe)
                })
            }
        };
        let s = &mut self.stats;
        match &result {
            Ok(_) => s.decrypted += 1,
            Err(E2eeError::ReplayedFrame) => s.dropped_replay += 1,
            Err(E2eeError::UnknownKey) => s.dropped_unknown_key += 1,
            Err(E2eeError::AuthenticationFailed) => s.dropped_auth += 1,
            Err(_) => s.dropped_malformed += 1,
        }
        result
    }

    /// Seals a chat message with my current chat key.
    pub fn seal_chat(&mut self, plaintext: &[u8]) -> Result<Vec<u8>, E2eeError> {
        let header = ChatHeader {
            epoch: self.sender.epoch,
            seq: self.chat_seq,
        };
        let next = self
            .chat_seq
            .checked_add(1)
            .ok_or(E2eeError::CounterExhausted)?;
        let out = chat::seal_chat(
            &self.sender.chat,
            self.room.room_id(),
            &self.my_peer_id,
            header,
            plaintext,
        )?;
        self.chat_seq = next;
        self.stats.chat_sealed += 1;
        Ok(out)
    }

    /// Opens a chat message from `from`: only with the key of its epoch, only if its sequence
    /// number is above the last accepted for that key.
    pub fn open_chat(&mut self, from: &str, bytes: &[u8]) -> Result<Vec<u8>, E2eeError> {
        let result = self.open_chat_inner(from, bytes);
        match result {
            Ok(_) => self.stats.chat_opened += 1,
            Err(_) => self.stats.chat_dropped += 1,
        }
        result
    }

    fn open_chat_inner(&mut self, from: &str, bytes: &[u8]) -> Result<Vec<u8>, E2eeError> {
        let (header, ct) = chat::parse_chat(bytes)?;
        let peer = self.peers.get_mut(from).ok_or(E2eeError::UnknownKey)?;
        let key = peer.by_epoch(header.epoch).ok_or(E2eeError::UnknownKey)?;
        if key.last_chat_seq.is_some_and(|last| header.seq <= last) {
            return Err(E2eeError::ReplayedFrame);
        }
        let plain = chat::open_chat(&key.chat, self.room.room_id(), from, header, ct)?;
        key.last_chat_seq = Some(header.seq);
        Ok(plain)
    }

    /// Erases previous receive keys whose grace window has passed.
    pub fn expire(&mut self, now_ms: u64) {
        for peer in self.peers.values_mut() {
            peer.expire(now_ms);
        }
    }

    /// Frame and chat counters.
    pub fn stats(&self) -> FrameStats {
        self.stats
    }

    /// Epochs of the receive keys held for `peer` (current first), for diagnostics and tests.
    pub fn receive_epochs(&self, peer: &str) -> Vec<u64> {
        self.peers
            .get(peer)
            .map(|p| {
                p.current
                    .iter()
                    .map(|k| k.epoch)
                    .chain(p.previous.iter().map(|(k, _)| k.epoch))
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl core::fmt::Debug for GroupKeys {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("GroupKeys")
            .field("room_id", &self.room.room_id().as_str())
            .field("my_peer_id", &self.my_peer_id)
            .field("sender_epoch", &self.sender.epoch)
            .field("peers", &self.peers.keys().collect::<Vec<_>>())
            .field("keys", &"<redacted>")
            .finish()
    }
}

/// Key material exported for tests (feature `testing` only).
#[cfg(feature = "testing")]
pub struct TestingKeys {
    /// My current sender key.
    pub sender: zeroize::Zeroizing<Vec<u8>>,
    /// Every receive key held (all peers, current and previous).
    pub receive: Vec<zeroize::Zeroizing<Vec<u8>>>,
}

#[cfg(feature = "testing")]
impl GroupKeys {
    /// TEST ONLY: my current sender key and every receive key held.
    pub fn export_keys_for_testing(&self) -> TestingKeys {
        let mut receive = Vec::new();
        for p in self.peers.values() {
            for k in p.current.iter().chain(p.previous.iter().map(|(k, _)| k)) {
                receive.push(zeroize::Zeroizing::new(k.base.as_bytes().to_vec()));
            }
        }
        TestingKeys {
            sender: zeroize::Zeroizing::new(self.sender.base.as_bytes().to_vec()),
            receive,
        }
    }

    /// TEST ONLY: installs `key` as `peer`'s current receive key for `epoch`, bypassing the key
    /// exchange and the epoch check. `peer` must be in the roster.
    pub fn install_receive_key_for_testing(
        &mut self,
        peer: &str,
        epoch: u64,
        key: [u8; crate::sender_key::SENDER_KEY_LEN],
        now_ms: u64,
    ) -> Result<(), E2eeError> {
        let grace = self.grace_ms;
        let state = self.peers.get_mut(peer).ok_or(E2eeError::UnknownPeer)?;
        state.install(
            ReceiveKey::new(epoch, SenderKey::from_bytes(key))?,
            now_ms,
            grace,
        );
        Ok(())
    }

    /// TEST ONLY: jumps my frame counter forward (to measure header growth).
    pub fn skip_frame_counter_for_testing(&mut self, counter: u64) {
        if let Some(s) = self.sender.frames.as_mut() {
            s.skip_to_counter(counter);
        }
    }
}
