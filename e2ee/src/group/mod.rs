//! The per-participant key state machine the client drives.
//!
//! ```text
//!  set_roster(entries, now)                              receive_key_message(from, bytes, now)
//!   │ sanitise entry by entry (bad ones reported)          │ open with (my sk, from's announced
//!   │ a peer gone? taint: every key in hand expires        │   pk, room PSK, info)
//!   │   at now + grace, every floor = highest + 1          │ epoch >= floor of from's identity?
//!   │ pending key: epoch + 1, fresh, sealed to each peer   │   same epoch, same key: duplicate
//!   ▼                                                      │   newer: into from's ring (≤ 4);
//!  acknowledge(peer, epoch) ... pending_complete()         │   the key it supersedes expires
//!   ▼                                                      │   after grace
//!  commit_sender_key(): frames and chat switch to it       ▼
//! ```
//! Sender keys are per sender and per epoch; epochs are local to each sender and each is made
//! once (same epoch = same key). The KID of a frame is the sender epoch mod 8, so a receiver finds
//! the key in that sender's ring by KID. A peer that leaves the roster loses all its receive
//! state at once; the floors of every sender identity survive for the whole call, so a forged
//! leave and re-join cannot bring an old key back. If a rotation fails, nothing is sent (frames,
//! chat, re-sends) until a later one is committed. See `KEY-SCHEDULE.md` §3.
//!
//! Protocol v2 adds, in sibling files: the sealed roster (`set_sealed_roster`,
//! `my_sealed_identity`), sealed peer envelopes (`envelopes.rs`: `seal_envelope`,
//! `open_envelope`) and the safety code rounds (`safety_round.rs`: `start_safety_round`,
//! `receive_safety_commitment`, `receive_safety_reveal`, `restart_safety_round`).

mod envelopes;
mod receive;
mod roster;
mod safety_round;
mod sender;
mod stats;

use sotto_vecmap::{VecMap, VecSet};

use crate::chat::{self, ChatHeader};
use crate::codec::Codec;
use crate::encoding::check_peer_id;
use crate::envelope::PairSequences;
use crate::frame::{self as frames, FrameKey, OpenJob, SealJob};
use crate::identity::{IdentityKeyPair, IdentityPublicKey};
use crate::key_exchange::{open_sender_key, seal_sender_key};
use crate::room::RoomKeys;
use crate::safety::SafetyCode;
use crate::verification::Verification;
use crate::E2eeError;

pub use envelopes::{EnvelopeStats, OpenedEnvelope, SealedEnvelope};
pub use receive::RING_SIZE;
use receive::{Admission, EpochFloor, PeerKeys, ReceiveKey};
pub use roster::{RejectedEntry, RosterEntry, SealedRosterEntry, MAX_ROSTER_PEER_ID_LEN};
use sender::{MySenderKey, SenderState};
pub use stats::{FrameStats, PeerStats};

/// How long a receiver keeps a sender's superseded key, and every key in hand after a leave.
pub const DEFAULT_GRACE_MS: u64 = 2_000;

/// A sealed sender key to deliver to one peer (through the signaling server).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingKeyMessage {
    /// Recipient peer id.
    pub to: String,
    /// The key message bytes ([`crate::key_exchange`] format).
    pub bytes: Vec<u8>,
}

/// What [`GroupKeys::set_roster`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RosterOutcome {
    /// The epoch of the new sender key (pending, or current if `committed`).
    pub epoch: u64,
    /// True when the roster had no valid peer: the new key is in use at once.
    pub committed: bool,
    /// The new key sealed to every valid peer.
    pub messages: Vec<OutgoingKeyMessage>,
    /// Entries dropped, with reasons.
    pub rejected: Vec<RejectedEntry>,
}

/// A key message received and accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyUpdate {
    /// The sender whose key it is.
    pub peer: String,
    /// Its epoch.
    pub epoch: u64,
    /// The same key for the same epoch was already held (a re-send): nothing changed.
    pub duplicate: bool,
}

/// My newest sender key sealed afresh to one peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resealed {
    /// The key message.
    pub message: OutgoingKeyMessage,
    /// Its epoch.
    pub epoch: u64,
}

/// One participant's keys: identity, own sender keys, receive keys of every peer, stats.
pub struct GroupKeys {
    room: RoomKeys,
    identity: IdentityKeyPair,
    my_peer_id: String,
    sender: SenderState,
    chat_seq: u64,
    peers: VecMap<String, PeerKeys>,
    floors: VecMap<IdentityPublicKey, EpochFloor>,
    stats: FrameStats,
    grace_ms: u64,
    sequences: PairSequences,
    envelope_stats: EnvelopeStats,
    verification: Verification,
    #[cfg(feature = "testing")]
    fail_next_rotation: bool,
}

impl GroupKeys {
    /// Starts a participant: the epoch 0 sender key is made at once (it is sealed to nobody until
    /// the first [`GroupKeys::set_roster`], which makes epoch 1).
    pub fn new(
        rng: &mut impl rand_core::CryptoRng,
        room: RoomKeys,
        identity: IdentityKeyPair,
        my_peer_id: String,
    ) -> Self {
        let verification = Verification::new(
            room.room_id().clone(),
            my_peer_id.clone(),
            identity.public_key(),
        );
        Self {
            room,
            identity,
            my_peer_id,
            sender: SenderState::new(rng),
            chat_seq: 0,
            peers: VecMap::new(),
            floors: VecMap::new(),
            stats: FrameStats::default(),
            grace_ms: DEFAULT_GRACE_MS,
            sequences: PairSequences::default(),
            envelope_stats: EnvelopeStats::default(),
            verification,
            #[cfg(feature = "testing")]
            fail_next_rotation: false,
        }
    }

    /// The RFC 9605 cipher suites of my frames under the keys made from the next rotation on
    /// (default [`crate::frame::FrameSuites::DEFAULT`]). Refused unless every receiver would
    /// accept them (video on AES-GCM).
    pub fn set_frame_suites(&mut self, suites: crate::frame::FrameSuites) -> Result<(), E2eeError> {
        if !suites.is_acceptable() {
            return Err(E2eeError::Internal);
        }
        self.sender.set_suites(suites);
        Ok(())
    }

    /// Changes the grace window (default [`DEFAULT_GRACE_MS`]).
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

    /// The epoch frames and chat are sent under.
    pub fn sender_epoch(&self) -> u64 {
        self.sender.current_epoch()
    }

    /// The epoch of the key being delivered and not yet committed, if any.
    pub fn pending_epoch(&self) -> Option<u64> {
        self.sender.pending_epoch()
    }

    /// Is sending blocked because the last rotation did not complete?
    pub fn is_sending_blocked(&self) -> bool {
        self.sender.is_blocked()
    }

    /// The current roster (other peers), sorted by peer id.
    pub fn roster(&self) -> Vec<(String, IdentityPublicKey)> {
        self.peers
            .iter()
            .map(|(p, k)| (p.clone(), k.identity.clone()))
            .collect()
    }

    /// Replaces the roster (other peers only) and starts a rotation.
    ///
    /// Entries are checked one by one; bad ones are dropped and reported in
    /// [`RosterOutcome::rejected`]. Peers no longer present (or whose identity changed) lose their
    /// receive state; if anyone went, every key still held expires `grace` from `now_ms` and only
    /// keys made after the leave are accepted from then on. A new sender key (next epoch) is
    /// sealed to every valid peer and becomes pending (replacing any pending one); with no peer it
    /// is committed at once.
    ///
    /// On error (my own peer id invalid, the epoch counter exhausted, sealing failed) the roster
    /// change still applies, and sending is blocked ([`E2eeError::RotationIncomplete`]) until a
    /// later rotation is committed.
    pub fn set_roster(
        &mut self,
        rng: &mut impl rand_core::CryptoRng,
        entries: &[RosterEntry],
        now_ms: u64,
    ) -> Result<RosterOutcome, E2eeError> {
        let sanitized = roster::sanitize(&self.my_peer_id, entries);
        self.rotate(rng, sanitized, now_ms)
    }

    /// [`GroupKeys::set_roster`] for protocol v2: each entry carries the sealed identity its
    /// peer announced. An identity that does not open with this room's roster key for its peer
    /// id (made without the room secret, moved from another peer id or room, altered,
    /// malformed) is dropped as [`RosterRejection::ForgedParticipant`](crate::RosterRejection):
    /// no key is sealed to it, no envelope is sealed to or accepted from it.
    pub fn set_sealed_roster(
        &mut self,
        rng: &mut impl rand_core::CryptoRng,
        entries: &[SealedRosterEntry],
        now_ms: u64,
    ) -> Result<RosterOutcome, E2eeError> {
        let sanitized = roster::sanitize_sealed(&self.room, &self.my_peer_id, entries);
        self.rotate(rng, sanitized, now_ms)
    }

    /// My identity sealed for the `identity` field of `join` (a fresh nonce each call).
    pub fn my_sealed_identity(
        &self,
        rng: &mut impl rand_core::CryptoRng,
    ) -> Result<String, E2eeError> {
        crate::sealed_identity::seal_identity(
            rng,
            &self.room,
            &self.my_peer_id,
            &self.identity.public_key(),
        )
    }

    fn rotate(
        &mut self,
        rng: &mut impl rand_core::CryptoRng,
        (valid, rejected): roster::Sanitized,
        now_ms: u64,
    ) -> Result<RosterOutcome, E2eeError> {
        if let Err(e) = check_peer_id(&self.my_peer_id) {
            self.sender.fail();
            return Err(e);
        }
        self.apply_roster(&valid, now_ms);
        let key = self.sender.begin(rng)?;
        let messages = match self.seal_to_all(rng, &key, &valid) {
            Ok(messages) => messages,
            Err(e) => {
                self.sender.fail();
                return Err(e);
            }
        };
        let epoch = key.epoch;
        let sealed_to: VecSet<String> = valid.into_iter().map(|(p, _)| p).collect();
        let committed = self.sender.finish(key, sealed_to);
        Ok(RosterOutcome {
            epoch,
            committed,
            messages,
            rejected,
        })
    }

    fn apply_roster(&mut self, valid: &[(String, IdentityPublicKey)], now_ms: u64) {
        let mut old = core::mem::take(&mut self.peers);
        let mut someone_left = false;
        for (peer, pk) in valid {
            let state = match old.remove(peer) {
                Some(state) if state.identity == *pk => state,
                Some(_) => {
                    someone_left = true;
                    PeerKeys::new(pk.clone())
                }
                None => PeerKeys::new(pk.clone()),
            };
            self.peers.insert(peer.clone(), state);
        }
        someone_left |= !old.is_empty();
        drop(old); // their receive keys are zeroized here
        if someone_left {
            let deadline = now_ms.saturating_add(self.grace_ms);
            for peer in self.peers.values_mut() {
                peer.taint(deadline);
            }
            for floor in self.floors.values_mut() {
                floor.taint();
            }
        }
        self.stats.track(self.peers.keys().map(String::as_str));
    }

    fn seal_to_all(
        &mut self,
        rng: &mut impl rand_core::CryptoRng,
        key: &MySenderKey,
        peers: &[(String, IdentityPublicKey)],
    ) -> Result<Vec<OutgoingKeyMessage>, E2eeError> {
        #[cfg(feature = "testing")]
        if core::mem::take(&mut self.fail_next_rotation) {
            return Err(E2eeError::Internal);
        }
        peers
            .iter()
            .map(|(peer, pk)| {
                Ok(OutgoingKeyMessage {
                    to: peer.clone(),
                    bytes: self.seal(rng, key, peer, pk)?,
                })
            })
            .collect()
    }

    fn seal(
        &self,
        rng: &mut impl rand_core::CryptoRng,
        key: &MySenderKey,
        peer: &str,
        pk: &IdentityPublicKey,
    ) -> Result<Vec<u8>, E2eeError> {
        seal_sender_key(
            rng,
            &self.room,
            &self.identity,
            &self.my_peer_id,
            peer,
            pk,
            key.epoch,
            &key.base,
        )
    }

    /// Records `peer`'s acknowledgement (`key-ack`) of my pending key `epoch`; returns
    /// [`GroupKeys::pending_complete`]. Acks for other epochs or from peers the key was not
    /// sealed to are ignored.
    pub fn acknowledge(&mut self, peer: &str, epoch: u64) -> bool {
        self.sender.acknowledge(peer, epoch)
    }

    /// Has every peer the pending key was sealed to acknowledged it? (false if none is pending)
    pub fn pending_complete(&self) -> bool {
        self.sender.pending_complete()
    }

    /// Starts sending under the pending key (no-op if none); returns the sending epoch. This is
    /// also what lifts a block left by a failed rotation.
    pub fn commit_sender_key(&mut self) -> u64 {
        self.sender.commit()
    }

    /// My newest sender key (pending if any, else current) sealed afresh to roster peer `peer`,
    /// for a re-send or a `key-request`. Refused while sending is blocked.
    pub fn reseal_for(
        &self,
        rng: &mut impl rand_core::CryptoRng,
        peer: &str,
    ) -> Result<Resealed, E2eeError> {
        let key = self.sender.newest()?;
        let state = self.peers.get(peer).ok_or(E2eeError::UnknownPeer)?;
        let bytes = self.seal(rng, key, peer, &state.identity)?;
        Ok(Resealed {
            message: OutgoingKeyMessage {
                to: peer.to_owned(),
                bytes,
            },
            epoch: key.epoch,
        })
    }

    /// Opens a key message from roster peer `from` and installs the key in its ring.
    ///
    /// Refused as [`E2eeError::StaleEpoch`] if its epoch is below the floor of `from`'s identity
    /// (older than one accepted, or made before a leave), or is the epoch accepted last with a
    /// different key. The same key for the same epoch again is a duplicate (nothing changes), or
    /// installed again if this receiver no longer holds it.
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
        let floor = self
            .floors
            .get_or_insert(peer.identity.clone(), EpochFloor::default());
        peer.expire(now_ms);
        let duplicate = match (floor.admit(epoch)?, peer.holds(epoch, &base)) {
            (Admission::Same, Some(true)) => true,
            // the same sender sealed another key under an epoch it already used
            (Admission::Same, Some(false)) => return Err(E2eeError::StaleEpoch),
            // new, or the newest again after this receiver lost it
            (Admission::New | Admission::Same, None | Some(_)) => {
                peer.install(ReceiveKey::new(epoch, base)?, now_ms, self.grace_ms);
                floor.accept(epoch);
                false
            }
        };
        Ok(KeyUpdate {
            peer: from.to_owned(),
            epoch,
            duplicate,
        })
    }

    /// Does roster peer `peer` have a key in hand (not expired at `now_ms`, if given)?
    pub fn has_key_from(&self, peer: &str, now_ms: Option<u64>) -> bool {
        self.peers.get(peer).is_some_and(|p| p.has_usable(now_ms))
    }

    /// The v1 safety code over this room, my identity key and the roster's (grindable: see
    /// [`crate::verification`] for the code of protocol v2).
    pub fn safety_code(&self) -> SafetyCode {
        let mut keys: Vec<IdentityPublicKey> =
            self.peers.values().map(|p| p.identity.clone()).collect();
        keys.push(self.identity.public_key());
        SafetyCode::compute(self.room.room_id(), &keys)
    }

    /// Encrypts one encoded frame with my current sender key; refused with
    /// [`E2eeError::RotationIncomplete`] while sending is blocked.
    pub fn encrypt_frame(&mut self, codec: Codec, frame: &[u8]) -> Result<Vec<u8>, E2eeError> {
        let mut out = Vec::new();
        self.encrypt_frame_into(codec, frame, &mut out)?;
        Ok(out)
    }

    /// [`GroupKeys::encrypt_frame`] into `out` (reused: no allocation per frame for the
    /// clear-prefix codecs once it has room).
    pub fn encrypt_frame_into(
        &mut self,
        codec: Codec,
        frame: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), E2eeError> {
        let sender = match self.sender.sending() {
            Ok(sender) => sender,
            Err(e) => {
                self.stats.blocked += 1;
                return Err(e);
            }
        };
        sender.frames.encrypt_into(codec, frame, out)?;
        self.stats.encrypted += 1;
        Ok(())
    }

    /// Starts encrypting a frame of `len` bytes on the platform's AES-GCM (see
    /// [`crate::frame::FrameSender::begin_seal`]): `None` if the frame is not for the platform
    /// (encrypt it with [`GroupKeys::encrypt_frame_into`]). Counted as encrypted.
    pub fn begin_seal(
        &mut self,
        codec: Codec,
        head: &[u8],
        len: usize,
    ) -> Result<Option<SealJob>, E2eeError> {
        let sender = match self.sender.sending() {
            Ok(sender) => sender,
            Err(e) => {
                self.stats.blocked += 1;
                return Err(e);
            }
        };
        let job = sender.frames.begin_seal(codec, head, len)?;
        if job.is_some() {
            self.stats.encrypted += 1;
        }
        Ok(job)
    }

    /// Decrypts one frame from `from`. Every failure is counted in [`GroupKeys::stats`].
    pub fn decrypt_frame(
        &mut self,
        from: &str,
        codec: Codec,
        frame: &[u8],
        now_ms: u64,
    ) -> Result<Vec<u8>, E2eeError> {
        let mut out = Vec::new();
        self.decrypt_frame_into(from, codec, frame, now_ms, &mut out)?;
        Ok(out)
    }

    /// [`GroupKeys::decrypt_frame`] into `out` (reused).
    pub fn decrypt_frame_into(
        &mut self,
        from: &str,
        codec: Codec,
        frame: &[u8],
        now_ms: u64,
        out: &mut Vec<u8>,
    ) -> Result<(), E2eeError> {
        let result = match self.peers.get_mut(from) {
            None => Err(E2eeError::UnknownKey),
            Some(peer) => {
                peer.expire(now_ms);
                frames::decrypt_into(codec, frame, out, peer)
            }
        };
        self.stats.count_decrypt(from, &result);
        result
    }

    /// Starts decrypting a frame of `len` bytes from `from` on the platform's AES-GCM (see
    /// [`crate::frame::FrameReceiver::begin_open`]); `None`: decrypt it with
    /// [`GroupKeys::decrypt_frame_into`]. A refusal here is counted; an accepted job is counted
    /// when [`GroupKeys::end_open`] settles it.
    pub fn begin_open(
        &mut self,
        from: &str,
        codec: Codec,
        head: &[u8],
        len: usize,
        now_ms: u64,
    ) -> Result<Option<OpenJob>, E2eeError> {
        let result = match self.peers.get_mut(from) {
            None => Err(E2eeError::UnknownKey),
            Some(peer) => {
                peer.expire(now_ms);
                frames::begin_open(codec, head, len, peer)
            }
        };
        if result.is_err() {
            self.stats.count_decrypt(from, &result);
        }
        result
    }

    /// Settles a frame [`GroupKeys::begin_open`] started (its [`OpenJob::handle`] and
    /// [`OpenJob::ctr`]): `authentic` is the platform's verdict on its tag. Counted.
    pub fn end_open(
        &mut self,
        from: &str,
        handle: u32,
        ctr: u64,
        authentic: bool,
    ) -> Result<(), E2eeError> {
        let result = match self.peers.get_mut(from) {
            None => Err(E2eeError::UnknownKey),
            Some(peer) => frames::end_open(handle, ctr, authentic, peer),
        };
        self.stats.count_decrypt(from, &result);
        result
    }

    fn frame_keys(&mut self) -> impl Iterator<Item = &mut FrameKey> {
        self.sender
            .keys_mut()
            .into_iter()
            .chain(self.peers.values_mut().flat_map(PeerKeys::frame_keys))
    }

    /// The AES-GCM key of frame key `handle`, for the platform provider to import as a
    /// non-extractable key: handed out at most once per key (see
    /// [`crate::frame::FrameKey::take_platform_key`]).
    pub fn take_platform_key(
        &mut self,
        handle: u32,
    ) -> Option<zeroize::Zeroizing<[u8; crate::sframe::AES_KEY_LEN]>> {
        self.frame_keys()
            .find(|k| k.handle() == handle)
            .and_then(FrameKey::take_platform_key)
    }

    /// The handles of every frame key still held whose suite the platform runs (AES-GCM): the
    /// platform provider drops the keys it imported for any other handle.
    pub fn platform_key_handles(&mut self) -> Vec<u32> {
        self.frame_keys()
            .filter(|k| k.suite().is_gcm())
            .map(|k| k.handle())
            .collect()
    }

    /// Seals a chat message with my current chat key; refused with
    /// [`E2eeError::RotationIncomplete`] while sending is blocked.
    pub fn seal_chat(&mut self, plaintext: &[u8]) -> Result<Vec<u8>, E2eeError> {
        let seq = self.chat_seq;
        let next = seq.checked_add(1).ok_or(E2eeError::CounterExhausted)?;
        let sender = self.sender.sending()?;
        let header = ChatHeader {
            epoch: sender.epoch,
            seq,
        };
        let out = chat::seal_chat(
            &sender.chat,
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
    /// number is above the last accepted for that key. A message under an epoch newer than any
    /// key held from `from` (and still acceptable) is [`E2eeError::ChatKeyPending`]: its key
    /// has not arrived yet.
    pub fn open_chat(
        &mut self,
        from: &str,
        bytes: &[u8],
        now_ms: u64,
    ) -> Result<Vec<u8>, E2eeError> {
        let result = self.open_chat_inner(from, bytes, now_ms);
        match result {
            Ok(_) => self.stats.chat_opened += 1,
            Err(E2eeError::ChatKeyPending) => self.stats.chat_pending += 1,
            Err(_) => self.stats.chat_dropped += 1,
        }
        result
    }

    fn open_chat_inner(
        &mut self,
        from: &str,
        bytes: &[u8],
        now_ms: u64,
    ) -> Result<Vec<u8>, E2eeError> {
        let (header, ct) = chat::parse_chat(bytes)?;
        let peer = self.peers.get_mut(from).ok_or(E2eeError::UnknownKey)?;
        peer.expire(now_ms);
        let Some(key) = peer.by_epoch(header.epoch) else {
            let floor = self.floors.get(&peer.identity).copied().unwrap_or_default();
            return Err(if floor.may_arrive(header.epoch) {
                E2eeError::ChatKeyPending
            } else {
                E2eeError::UnknownKey
            });
        };
        if key.last_chat_seq.is_some_and(|last| header.seq <= last) {
            return Err(E2eeError::ReplayedFrame);
        }
        let plain = chat::open_chat(&key.chat, self.room.room_id(), from, header, ct)?;
        key.last_chat_seq = Some(header.seq);
        Ok(plain)
    }

    /// Erases receive keys whose time is up.
    pub fn expire(&mut self, now_ms: u64) {
        for peer in self.peers.values_mut() {
            peer.expire(now_ms);
        }
    }

    /// Frame and chat counters, overall and per peer.
    pub fn stats(&self) -> FrameStats {
        self.stats.clone()
    }

    /// Epochs of the receive keys held for `peer` (newest first), for diagnostics and tests.
    pub fn receive_epochs(&self, peer: &str) -> Vec<u64> {
        self.peers
            .get(peer)
            .map(PeerKeys::epochs)
            .unwrap_or_default()
    }
}

impl core::fmt::Debug for GroupKeys {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("GroupKeys")
            .field("room_id", &self.room.room_id().as_str())
            .field("my_peer_id", &self.my_peer_id)
            .field("sender_epoch", &self.sender.current_epoch())
            .field("pending_epoch", &self.sender.pending_epoch())
            .field("blocked", &self.sender.is_blocked())
            .field("peers", &self.peers.keys().collect::<Vec<_>>())
            .field("keys", &"<redacted>")
            .finish()
    }
}

/// Key material exported for tests (feature `testing` only).
#[cfg(feature = "testing")]
pub struct TestingKeys {
    /// My current sender key and its epoch.
    pub sender: zeroize::Zeroizing<Vec<u8>>,
    /// The epoch of `sender`.
    pub sender_epoch: u64,
    /// My pending sender key, if any.
    pub pending: Option<zeroize::Zeroizing<Vec<u8>>>,
    /// Every receive key held (all peers, every key of their rings).
    pub receive: Vec<zeroize::Zeroizing<Vec<u8>>>,
    /// The same keys with their sender and epoch: `(peer, epoch, key)`.
    pub receive_keys: Vec<(String, u64, zeroize::Zeroizing<Vec<u8>>)>,
}

#[cfg(feature = "testing")]
impl GroupKeys {
    /// TEST ONLY: my sender keys and every receive key held.
    pub fn export_keys_for_testing(&self) -> TestingKeys {
        let bytes = |k: &crate::SenderKey| zeroize::Zeroizing::new(k.as_bytes().to_vec());
        let mut receive = Vec::new();
        let mut receive_keys = Vec::new();
        for (peer, p) in self.peers.iter() {
            for k in p.keys() {
                receive.push(bytes(&k.base));
                receive_keys.push((peer.clone(), k.epoch, bytes(&k.base)));
            }
        }
        TestingKeys {
            sender: self
                .sender
                .current()
                .map(|c| bytes(&c.base))
                .unwrap_or_default(),
            sender_epoch: self.sender.current_epoch(),
            pending: self.sender.pending_key().map(|p| bytes(&p.base)),
            receive,
            receive_keys,
        }
    }

    /// TEST ONLY: installs `key` as `peer`'s newest receive key for `epoch`, bypassing the key
    /// exchange and the epoch floor. `peer` must be in the roster.
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
            ReceiveKey::new(epoch, crate::SenderKey::from_bytes(key))?,
            now_ms,
            grace,
        );
        Ok(())
    }

    /// TEST ONLY: from now on, send frames and chat under `key` at `epoch` (drops any pending
    /// key, lifts a block). Lets a test play a former participant that kept someone's key.
    pub fn install_sender_key_for_testing(
        &mut self,
        key: [u8; crate::sender_key::SENDER_KEY_LEN],
        epoch: u64,
    ) -> Result<(), E2eeError> {
        let key = MySenderKey::from_key(crate::SenderKey::from_bytes(key), epoch)?;
        self.sender.force_current(key);
        Ok(())
    }

    /// TEST ONLY: the next [`GroupKeys::set_roster`] fails while sealing, as if HPKE failed.
    pub fn fail_next_rotation_for_testing(&mut self) {
        self.fail_next_rotation = true;
    }

    /// TEST ONLY: jumps my frame counter forward (to measure header growth).
    pub fn skip_frame_counter_for_testing(&mut self, counter: u64) {
        if let Ok(s) = self.sender.sending() {
            s.frames.skip_to_counter(counter);
        }
    }
}
