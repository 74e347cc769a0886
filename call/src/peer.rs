//! What the core knows about one remote participant.
use sotto_protocol::peer::B64UrlBytes;
use sotto_protocol::Identity;

use crate::connection::Connection;
use crate::event::KeyState;
use crate::input::IceCandidate;

/// At most this many candidates wait for a remote description (per peer).
pub const MAX_PENDING_CANDIDATES: usize = 64;
/// At most this many key messages wait for the peer to enter the crypto roster.
pub const MAX_HELD_KEYS: usize = 4;
/// At most this many envelopes (either way) wait for the peer to enter the crypto roster.
pub const MAX_HELD_ENVELOPES: usize = 64;

/// Re-sends of this participant's key to a peer that has not acknowledged it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resend {
    pub epoch: u64,
    pub attempt: u32,
    pub at: u64,
}

#[derive(Debug, Clone)]
pub struct Peer {
    /// The sealed identity the server relayed (compared as is: a participant announces the
    /// same one for the whole call).
    pub identity: Identity,
    /// The crypto Worker opened the sealed identity: the peer is real (holds the room secret).
    /// Until then it is not shown, offered to, or given a connection.
    pub admitted: bool,
    /// Its identity key (base64url), once admitted.
    pub key: Option<String>,
    /// The display name it sent (sealed).
    pub name: Option<String>,
    /// Peer payloads (JSON) to seal once the peer is in the crypto roster.
    pub outbox: Vec<String>,
    /// Envelopes from the peer to open once it is in the crypto roster.
    pub inbox: Vec<String>,
    /// Times it was brought back from dormant without its connection coming up since.
    pub revivals: u32,
    pub conn: Option<Connection>,
    /// Candidates from the peer that wait for a remote description.
    pub pending_candidates: Vec<IceCandidate>,
    /// Known from a welcome that did not list it: it has `rejoin_grace_ms` to come back.
    pub unconfirmed_until: Option<u64>,
    /// No connection yet, learned from `peer-joined`: when to say `hello` again.
    pub hello_at: Option<u64>,
    pub hellos: u32,
    /// A connection of ours that a failed WebRTC operation closed: when to offer again (under
    /// the ICE back-off, so that an operation that always fails is not retried in a loop).
    pub offer_retry_at: Option<u64>,
    /// Such failures since the last connection that came up.
    pub offer_failures: u32,
    // ---- the peer's keys, as this participant receives them ----
    /// The newest epoch accepted from the peer.
    pub epoch: Option<u64>,
    pub key_state: KeyState,
    pub missing_since: Option<u64>,
    pub connected_at: Option<u64>,
    pub last_key_request_at: Option<u64>,
    /// The crypto Worker's count of frames from the peer dropped for want of a key.
    pub unknown_key_drops: Option<u64>,
    /// The peer is in the roster the crypto Worker was last given.
    pub in_crypto_roster: bool,
    /// Key messages that came before that.
    pub held_keys: Vec<B64UrlBytes>,
    // ---- this participant's key, as the peer receives it ----
    pub acked_epoch: Option<u64>,
    /// The key the peer last asked for (`key-request`), and how many times in a row.
    pub requested: Option<(u64, u32)>,
    pub last_key_answer_at: Option<u64>,
    pub resend: Option<Resend>,
    /// Where the peer stands in the re-send back-off (kept across rotations; back to 0 when
    /// it acknowledges the newest key).
    pub resend_attempt: u32,
}

impl Peer {
    pub fn new(identity: Identity) -> Self {
        Self {
            identity,
            admitted: false,
            key: None,
            name: None,
            outbox: Vec::new(),
            inbox: Vec::new(),
            revivals: 0,
            conn: None,
            pending_candidates: Vec::new(),
            unconfirmed_until: None,
            hello_at: None,
            hellos: 0,
            offer_retry_at: None,
            offer_failures: 0,
            epoch: None,
            key_state: KeyState::New,
            missing_since: None,
            connected_at: None,
            last_key_request_at: None,
            unknown_key_drops: None,
            in_crypto_roster: false,
            held_keys: Vec::new(),
            acked_epoch: None,
            requested: None,
            last_key_answer_at: None,
            resend: None,
            resend_attempt: 0,
        }
    }

    /// Keeps a candidate for later (the oldest goes when too many wait).
    pub fn hold_candidate(&mut self, candidate: IceCandidate) {
        if self.pending_candidates.len() == MAX_PENDING_CANDIDATES {
            self.pending_candidates.remove(0);
        }
        self.pending_candidates.push(candidate);
    }

    /// Keeps a key message until the peer is in the crypto roster (the oldest goes).
    pub fn hold_key(&mut self, key: B64UrlBytes) {
        if self.held_keys.len() == MAX_HELD_KEYS {
            self.held_keys.remove(0);
        }
        self.held_keys.push(key);
    }

    /// Keeps an envelope (either way) until the peer is in the crypto roster; false when it
    /// had to be dropped (too many waiting).
    pub fn hold_envelope(queue: &mut Vec<String>, item: String) -> bool {
        if queue.len() >= MAX_HELD_ENVELOPES {
            return false;
        }
        queue.push(item);
        true
    }

    pub fn is_connected(&self) -> bool {
        self.conn
            .as_ref()
            .is_some_and(|c| c.state == crate::input::PcState::Connected)
    }
}
