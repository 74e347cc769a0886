//! Counters over the life of a [`super::GroupKeys`], overall and per peer.

use sotto_vecmap::{VecMap, VecSet};

use serde::Serialize;

use crate::E2eeError;

/// Most peers with their own counters; past it, departed peers' counters are dropped.
pub(super) const MAX_PEER_STATS: usize = 256;

/// Per-peer frame counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PeerStats {
    /// Frames from this peer decrypted.
    pub decrypted: u64,
    /// Frames from this peer dropped for lack of a key.
    pub dropped_unknown_key: u64,
    /// Frames from this peer whose tag did not verify.
    pub dropped_auth: u64,
    /// Frames from this peer dropped as replayed (a copy of an older frame) or too old.
    pub dropped_replay: u64,
    /// Authentic copies of a frame from this peer accepted moments ago (duplicate deliveries,
    /// not attacks; see [`crate::frame::DUPLICATE_SPAN`]), dropped.
    pub dropped_duplicate: u64,
}

/// Counters over the life of a [`super::GroupKeys`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FrameStats {
    /// Frames encrypted.
    pub encrypted: u64,
    /// Frames decrypted.
    pub decrypted: u64,
    /// Frames dropped as replayed (a copy of an older frame) or older than the replay window.
    pub dropped_replay: u64,
    /// Authentic copies of a frame accepted moments ago: duplicate deliveries by the network or
    /// the sending browser, not attacks (see [`crate::frame::DUPLICATE_SPAN`]); dropped.
    pub dropped_duplicate: u64,
    /// Frames dropped for lack of a key (unknown sender, KID, or erased key).
    pub dropped_unknown_key: u64,
    /// Frames dropped because the tag did not verify.
    pub dropped_auth: u64,
    /// Frames dropped as malformed or too large.
    pub dropped_malformed: u64,
    /// Frames refused because the last rotation did not complete (nothing was sent).
    pub blocked: u64,
    /// Chat messages sealed.
    pub chat_sealed: u64,
    /// Chat messages opened.
    pub chat_opened: u64,
    /// Chat messages refused.
    pub chat_dropped: u64,
    /// Chat messages whose key had not arrived yet (`chat-key-pending`; not counted as dropped).
    pub chat_pending: u64,
    /// Per roster peer (and recently departed ones): frame counters.
    pub peers: VecMap<String, PeerStats>,
}

impl FrameStats {
    /// Counts the outcome of one frame decryption from `from`.
    pub(super) fn count_decrypt<T>(&mut self, from: &str, result: &Result<T, E2eeError>) {
        let peer = self.peers.get_mut(from);
        let mut dummy = PeerStats::default();
        let p = peer.unwrap_or(&mut dummy);
        match result {
            Ok(_) => {
                self.decrypted += 1;
                p.decrypted += 1;
            }
            Err(E2eeError::ReplayedFrame) => {
                self.dropped_replay += 1;
                p.dropped_replay += 1;
            }
            Err(E2eeError::DuplicateFrame) => {
                self.dropped_duplicate += 1;
                p.dropped_duplicate += 1;
            }
            Err(E2eeError::UnknownKey) => {
                self.dropped_unknown_key += 1;
                p.dropped_unknown_key += 1;
            }
            Err(E2eeError::AuthenticationFailed) => {
                self.dropped_auth += 1;
                p.dropped_auth += 1;
            }
            Err(_) => self.dropped_malformed += 1,
        }
    }

    /// Makes sure every peer in `roster` has counters, keeping the map bounded.
    pub(super) fn track<'a>(&mut self, roster: impl Iterator<Item = &'a str> + Clone) {
        let present: VecSet<&str> = roster.clone().collect();
        if self.peers.len() + present.len() > MAX_PEER_STATS {
            self.peers.retain(|p, _| present.contains(p.as_str()));
        }
        for p in roster {
            if !self.peers.contains_key(p) {
                self.peers.insert(p.to_owned(), PeerStats::default());
            }
        }
    }
}
