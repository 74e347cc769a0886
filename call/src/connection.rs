//! One `RTCPeerConnection` as the core drives it: its role, where its negotiation stands,
//! the one WebRTC operation it waits for, and its recovery clocks.
//!
//! ```text
//!  offerer:  attach ─> create-offer ─> set-local(offer) ─> [have-local-offer] ── answer ─>
//!            set-remote(answer) ─> [stable]        (an ICE restart: rollback?, create-offer ...)
//!  answerer: attach ─> set-remote(offer) ─> protect ─> create-answer ─> set-local(answer) ─>
//!            [stable]                              (a renegotiation starts at set-remote)
//! ```
//! `attach` (local media and every transform) is always the first operation and nothing is
//! applied before it is done: the invariant the property tests check.
use std::collections::VecDeque;

use crate::action::Role;
use crate::input::{PcState, PeerOp};
use crate::recovery::Recovery;
use crate::{Config, ConnId};

/// JSEP signaling state, as far as the core moved it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Negotiation {
    Stable,
    HaveLocalOffer,
    HaveRemoteOffer,
}

/// How many remote descriptions a connection remembers, to drop replays.
const SEEN_SDPS: usize = 16;

#[derive(Debug, Clone)]
pub struct Connection {
    pub id: ConnId,
    pub role: Role,
    /// The signaling session (welcome count) it was made in.
    pub session: u64,
    pub state: PcState,
    pub negotiation: Negotiation,
    /// The operation the core waits for (at most one at a time).
    pub busy: Option<PeerOp>,
    /// Local media and transforms are attached.
    pub attached: bool,
    /// A remote description has been applied (candidates may be added).
    pub has_remote: bool,
    /// The offer being made is an ICE restart.
    pub restarting: bool,
    /// A remote offer that came while the connection was busy (the latest one).
    pub queued_offer: Option<String>,
    /// The offer being applied as a renegotiation, kept to start over on a fresh
    /// connection if the browser refuses it.
    pub renegotiating: Option<String>,
    /// The tuned local description being applied (sent once it is).
    pub local_sdp: Option<String>,
    pub chat_open: bool,
    pub recovery: Recovery,
    seen_remote: VecDeque<u64>,
}

impl Connection {
    pub fn new(id: ConnId, role: Role, session: u64, now_ms: u64, config: &Config) -> Self {
        Self {
            id,
            role,
            session,
            state: PcState::New,
            negotiation: Negotiation::Stable,
            busy: Some(PeerOp::Attach),
            attached: false,
            has_remote: false,
            restarting: false,
            queued_offer: None,
            renegotiating: None,
            local_sdp: None,
            chat_open: false,
            recovery: Recovery::new(role == Role::Offerer, now_ms, config),
            seen_remote: VecDeque::new(),
        }
    }

    /// Remembers a remote description; false if the same text was seen on this connection
    /// already (a replay or a duplicate).
    pub fn first_sight(&mut self, sdp: &str) -> bool {
        let h = fnv1a(sdp);
        if self.seen_remote.contains(&h) {
            return false;
        }
        if self.seen_remote.len() == SEEN_SDPS {
            self.seen_remote.pop_front();
        }
        self.seen_remote.push_back(h);
        true
    }

    /// Idle: attached, nothing in flight.
    pub fn idle(&self) -> bool {
        self.attached && self.busy.is_none()
    }

    /// Making an offer of its own (from create-offer until the answer is applied).
    pub fn offering(&self) -> bool {
        self.negotiation == Negotiation::HaveLocalOffer
            || matches!(self.busy, Some(PeerOp::CreateOffer | PeerOp::Rollback))
            || (self.busy == Some(PeerOp::SetLocalDescription)
                && self.negotiation == Negotiation::Stable
                && self.role == Role::Offerer)
    }
}

/// FNV-1a, 64 bits: a fingerprint to recognise a description seen before.
fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replays_are_recognised_within_the_window() {
        let mut c = Connection::new(ConnId(1), Role::Answerer, 1, 0, &Config::default());
        assert!(c.first_sight("offer 1"));
        assert!(!c.first_sight("offer 1"));
        for i in 2..=SEEN_SDPS + 1 {
            assert!(c.first_sight(&format!("offer {i}")));
        }
        assert!(c.first_sight("offer 1"), "forgotten after the window");
        assert!(!c.idle(), "attach comes first");
    }
}
