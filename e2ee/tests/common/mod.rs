//! Shared test helpers: a deterministic CSPRNG-shaped generator and group setup.
#![allow(dead_code, clippy::unwrap_used, clippy::cast_possible_truncation)]

use std::convert::Infallible;

use rand_core::{TryCryptoRng, TryRng};
use sha2::{Digest, Sha256};
use sotto_e2ee::{
    GroupKeys, IdentityKeyPair, IdentityPublicKey, OutgoingKeyMessage, RoomKeys, RoomSecret,
    RosterEntry,
};

/// SHA-256 in counter mode over a seed. Deterministic, for tests only.
pub struct TestRng {
    seed: [u8; 32],
    counter: u64,
}

impl TestRng {
    pub fn new(seed: u64) -> Self {
        Self {
            seed: Sha256::digest(seed.to_be_bytes()).into(),
            counter: 0,
        }
    }
}

impl TryRng for TestRng {
    type Error = Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        let mut b = [0u8; 4];
        self.try_fill_bytes(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        let mut b = [0u8; 8];
        self.try_fill_bytes(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        for chunk in dst.chunks_mut(32) {
            let mut h = Sha256::new();
            h.update(self.seed);
            h.update(self.counter.to_be_bytes());
            self.counter += 1;
            let block = h.finalize();
            chunk.copy_from_slice(&block[..chunk.len()]);
        }
        Ok(())
    }
}

impl TryCryptoRng for TestRng {}

pub fn room(rng: &mut TestRng) -> RoomKeys {
    RoomSecret::generate(rng).derive()
}

pub fn member(rng: &mut TestRng, room: &RoomKeys, id: &str) -> GroupKeys {
    let identity = IdentityKeyPair::generate(rng);
    GroupKeys::new(rng, room.clone(), identity, id.to_owned())
}

/// Roster entries for `(peer, identity)` pairs.
pub fn entries(peers: &[(&str, &IdentityPublicKey)]) -> Vec<RosterEntry> {
    peers.iter().map(|(p, k)| RosterEntry::new(*p, k)).collect()
}

/// Sets `m`'s roster to `others` (their peer ids and identities) and returns the key messages.
pub fn roster(
    rng: &mut TestRng,
    m: &mut GroupKeys,
    others: &[&GroupKeys],
    now_ms: u64,
) -> Vec<OutgoingKeyMessage> {
    let list: Vec<RosterEntry> = others
        .iter()
        .map(|o| RosterEntry::new(o.my_peer_id(), &o.my_identity()))
        .collect();
    let out = m.set_roster(rng, &list, now_ms).unwrap();
    assert!(out.rejected.is_empty(), "{:?}", out.rejected);
    out.messages
}

/// Gives every member the roster of all others and delivers every key message, without
/// acknowledging or committing: returns `(from, to, epoch)` of every key delivered.
pub fn sync_pending(
    rng: &mut TestRng,
    members: &mut [&mut GroupKeys],
    now_ms: u64,
) -> Vec<(String, String, u64)> {
    let ids: Vec<RosterEntry> = members
        .iter()
        .map(|m| RosterEntry::new(m.my_peer_id(), &m.my_identity()))
        .collect();
    let mut outbox = Vec::new();
    for m in members.iter_mut() {
        let others: Vec<_> = ids
            .iter()
            .filter(|e| e.peer != m.my_peer_id())
            .cloned()
            .collect();
        let out = m.set_roster(rng, &others, now_ms).unwrap();
        assert!(out.rejected.is_empty());
        outbox.push((m.my_peer_id().to_owned(), out.messages));
    }
    let mut delivered = Vec::new();
    for (from, msgs) in outbox {
        for msg in msgs {
            let to = members
                .iter_mut()
                .find(|m| m.my_peer_id() == msg.to)
                .unwrap();
            let update = to.receive_key_message(&from, &msg.bytes, now_ms).unwrap();
            delivered.push((from.clone(), msg.to.clone(), update.epoch));
        }
    }
    delivered
}

/// [`sync_pending`], then every receiver acknowledges and every sender commits (the whole
/// two-phase rotation).
pub fn sync(rng: &mut TestRng, members: &mut [&mut GroupKeys], now_ms: u64) {
    let delivered = sync_pending(rng, members, now_ms);
    for (from, to, epoch) in delivered {
        let sender = members.iter_mut().find(|m| m.my_peer_id() == from).unwrap();
        sender.acknowledge(&to, epoch);
    }
    for m in members.iter_mut() {
        if m.pending_epoch().is_some() {
            assert!(m.pending_complete());
        }
        let pending = m.pending_epoch();
        let epoch = m.commit_sender_key();
        if let Some(p) = pending {
            assert_eq!(epoch, p);
        }
        assert!(m.pending_epoch().is_none());
    }
}

pub fn vp8_key_frame(len: usize) -> Vec<u8> {
    let mut f: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
    if let Some(b) = f.first_mut() {
        *b &= 0xfe;
    }
    f
}

pub fn vp8_delta_frame(len: usize) -> Vec<u8> {
    let mut f: Vec<u8> = (0..len).map(|i| (i * 13 + 1) as u8).collect();
    if let Some(b) = f.first_mut() {
        *b |= 1;
    }
    f
}

/// What `frame` decrypts to under `codec`: itself, except AV1 frames that take the OBU-aware
/// layout, which come back in their canonical form (as a depacketizer delivers them).
#[allow(dead_code)]
pub fn decrypted_form(codec: sotto_e2ee::Codec, frame: &[u8]) -> Vec<u8> {
    match codec {
        sotto_e2ee::Codec::Av1 => {
            sotto_e2ee::av1::canonical_form(frame).unwrap_or_else(|| frame.to_vec())
        }
        _ => frame.to_vec(),
    }
}
