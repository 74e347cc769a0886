//! [`CallCore`]: the whole call as one state machine.
//!
//! ```text
//!  bridge ──handle(Input, now)──────> CallCore ──poll_action()──> Action (socket, crypto,
//!         ──handle_timeout(now)────>    │                            WebRTC, Emit(AppEvent))
//!         <──poll_timeout()─────────────┘
//! ```
//! Split by concern: `server` (room messages, roster, hello), `negotiate` (offers, answers,
//! candidates, recovery), `keys` (rotation, acks, re-sends, key requests, key checks),
//! `media` (chat, the sender invariant, local tracks), `sealed` (protocol v2: envelopes,
//! admission of sealed identities, the safety code rounds, display names, verification).
mod keys;
mod media;
mod negotiate;
mod receive;
mod sealed;
mod server;
mod socket;

use std::collections::VecDeque;

use serde::Serialize;
use sotto_protocol::peer::PeerPayload;
use sotto_protocol::room::{ClientMessage, ServerMessage};
use sotto_protocol::{Identity, PeerId, RoomId};

use crate::action::Action;
use crate::backoff::Jitter;
use crate::chat::{ChatLines, ChatStats};
use crate::crypto::{CryptoRequest, SafetyState};
use crate::error::{CallError, ErrorCode};
use crate::event::{AppEvent, KeyState, LeaveReason};
use crate::input::{Input, PcState};
use crate::invariant::{Invariant, InvariantReport};
use crate::peer::Peer;
use crate::rotation::Rotation;
use crate::signaling::{Signaling, SignalingDue};
use crate::vecmap::VecMap;
use crate::{Config, ConnId, RequestId};

/// Server messages kept while the local media is not ready yet (the oldest go first).
const MAX_HELD_MESSAGES: usize = 256;
/// Peers dropped as vanished that are still asked to reconnect now and then.
const MAX_DORMANT: usize = 64;
/// The periodic tick (sender invariant, key checks).
const TICK_MS: u64 = 1_000;
/// A sample or key check not answered within this is given up.
const STALE_QUERY_MS: u64 = 5_000;
/// A peer this participant does not know that keeps asking to connect (its `peer-joined`
/// was lost): after this, rejoin signaling to get the roster again...
const STRANGER_GRACE_MS: u64 = 2_000;
/// ...but rejoin on purpose at most this often.
const RESYNC_INTERVAL_MS: u64 = 30_000;
/// At most this many strangers are remembered.
const MAX_STRANGERS: usize = 64;

/// A participant as `call.participants` shows it (only participants whose sealed identity
/// opened).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ParticipantInfo {
    pub peer: PeerId,
    /// Its identity public key (base64url), opened from its sealed identity.
    pub identity: String,
    /// The display name it sent, if any.
    pub name: Option<String>,
    /// The application marked its identity key verified (`setVerified`).
    pub verified: bool,
    pub connection_state: PcState,
    /// The newest key epoch accepted from them.
    pub epoch: Option<u64>,
    pub key_state: KeyState,
}

/// Counters for `cryptoStats()` and diagnostics.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CoreStats {
    pub invariant: InvariantReport,
    pub chat: ChatStats,
    pub chat_waiting: u64,
    pub roster_rejections: u64,
    /// Server messages that did not parse, or were out of place (a signal for someone else).
    pub bad_server_messages: u64,
    /// Peer payloads that did not parse, or came from nobody known, or out of place.
    pub dropped_peer_messages: u64,
    /// Messages that could not be sent because the socket was down.
    pub unsent_messages: u64,
    /// Crypto results nobody waited for, or of the wrong shape.
    pub unexpected_crypto_results: u64,
    pub ice_restarts: u64,
    /// Roster entries whose sealed identity did not open (`forged-participant`).
    pub forged_participants: u64,
    /// Envelopes that did not open (`envelope-rejected`).
    pub envelopes_rejected: u64,
    /// Authentic envelopes that came again (`envelope-replayed`).
    pub envelopes_replayed: u64,
    /// ICE candidates by type, as sent and as received (after opening), and those dropped
    /// by relay-only mode (either way).
    pub candidates: CandidateStats,
}

/// ICE candidates by type (`relay` or any other).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CandidateStats {
    pub sent_relay: u64,
    pub sent_other: u64,
    pub received_relay: u64,
    pub received_other: u64,
    pub dropped: u64,
}

/// What a crypto request was for.
#[derive(Debug, Clone)]
enum Pending {
    /// With the entries sent: a result only concerns peers still holding the same identity.
    SetRoster {
        sent: Vec<(PeerId, Identity)>,
    },
    Seal {
        to: PeerId,
    },
    Open {
        from: PeerId,
    },
    Safety,
    Acknowledge,
    Commit,
    Reseal {
        peer: PeerId,
    },
    ReceiveKey {
        from: PeerId,
    },
    KeysFrom {
        asked: Vec<PeerId>,
    },
    SealChat {
        request: u64,
    },
    OpenChat {
        seq: u64,
        from: PeerId,
    },
}

/// A peer dropped as vanished while the server may still list it.
#[derive(Debug, Clone)]
struct Dormant {
    identity: Identity,
    hello_at: u64,
    hellos: u32,
}

/// The call core. See the crate docs.
pub struct CallCore {
    config: Config,
    me: PeerId,
    identity: Identity,
    now: u64,
    out: VecDeque<Action>,
    closed: bool,
    media_ready: bool,
    held: VecDeque<String>,
    signaling: Signaling,
    /// Welcomes handled (a connection made in an older session predates the last rejoin).
    session: u64,
    peers: VecMap<PeerId, Peer>,
    dormant: VecMap<PeerId, Dormant>,
    /// Unknown peers that said hello or offered, and when first.
    strangers: VecMap<PeerId, u64>,
    last_resync: Option<u64>,
    conn_owner: VecMap<ConnId, PeerId>,
    /// Fresh connections waiting for the rotation under way.
    deferred: Vec<negotiate::Deferred>,
    next_conn: u64,
    next_request: u64,
    requests: VecMap<RequestId, Pending>,
    rotation: Rotation,
    keys_query_since: Option<u64>,
    chat: ChatLines,
    invariant: Invariant,
    sampling_since: Option<u64>,
    tick_at: Option<u64>,
    first_checks: Vec<u64>,
    jitter: Jitter,
    stats: CoreStats,
    // ---- protocol v2 (see `sealed`) ----
    /// Peer ids whose sealed identity did not open: their signals are dropped quietly.
    forged: VecMap<PeerId, ()>,
    /// Identity keys the application verified.
    verified: VecMap<String, ()>,
    /// The key each peer id had when it was verified (a change is warned about).
    verified_peers: VecMap<PeerId, String>,
    /// The last safety code event: its state and hex.
    safety_shown: Option<(SafetyState, String)>,
    /// A superseded round restarts then, unless the roster changes first.
    safety_restart_at: Option<u64>,
    /// A round starts then (shortly after the last roster change).
    safety_start_at: Option<u64>,
    /// The round under way is given up then if it has not completed.
    safety_stall_at: Option<u64>,
    /// Stalled rounds started afresh since the last roster change.
    safety_stall_restarts: u32,
    /// Last `envelope-*` error event per code (at most one a second each).
    envelope_error_at: [Option<u64>; 2],
}

impl CallCore {
    /// A call for participant `me` (sealed identity `identity`, as the crypto Worker's `init`
    /// gave it: announced unchanged in every `join` of the call) in room `room`, starting now: the first action opens the signaling
    /// socket. `seed` seeds the reconnect jitter (any value; a random one in the browser).
    pub fn new(
        config: Config,
        me: PeerId,
        identity: Identity,
        room: &RoomId,
        seed: u64,
        now_ms: u64,
    ) -> Self {
        let mut signaling = Signaling::new(format!("/ws/room/{}", room.as_str()));
        let open = signaling.open_socket();
        let config = config.sanitized();
        Self {
            config: config.clone(),
            me,
            identity,
            now: now_ms,
            out: VecDeque::from([open]),
            closed: false,
            media_ready: false,
            held: VecDeque::new(),
            signaling,
            session: 0,
            peers: VecMap::new(),
            dormant: VecMap::new(),
            strangers: VecMap::new(),
            last_resync: None,
            conn_owner: VecMap::new(),
            deferred: Vec::new(),
            next_conn: 1,
            next_request: 1,
            requests: VecMap::new(),
            rotation: Rotation::default(),
            keys_query_since: None,
            chat: ChatLines::default(),
            invariant: Invariant::default(),
            sampling_since: None,
            tick_at: None,
            first_checks: Vec::new(),
            jitter: Jitter::new(seed),
            stats: CoreStats::default(),
            forged: VecMap::new(),
            verified: VecMap::new(),
            verified_peers: VecMap::new(),
            safety_shown: None,
            safety_restart_at: None,
            safety_start_at: None,
            safety_stall_at: None,
            safety_stall_restarts: 0,
            envelope_error_at: [None; 2],
        }
        .with_verified(config.verified_identities)
    }

    fn with_verified(mut self, keys: Vec<String>) -> Self {
        for key in keys
            .into_iter()
            .take(crate::config::MAX_VERIFIED_IDENTITIES)
        {
            self.verified.insert(key, ());
        }
        self
    }

    // ---- the public surface ----

    /// This participant's peer id.
    pub fn peer_id(&self) -> &PeerId {
        &self.me
    }

    /// The epoch this participant sends under (after its first commit).
    pub fn epoch(&self) -> Option<u64> {
        self.rotation.current
    }

    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// The participants, sorted by peer id: those whose sealed identity opened.
    pub fn participants(&self) -> Vec<ParticipantInfo> {
        self.peers
            .iter()
            .filter(|(_, p)| p.admitted)
            .map(|(id, p)| ParticipantInfo {
                peer: id.clone(),
                identity: p.key.clone().unwrap_or_default(),
                name: p.name.clone(),
                verified: self.is_verified(p),
                connection_state: p.conn.as_ref().map_or(PcState::New, |c| c.state),
                epoch: p.epoch,
                key_state: p.key_state,
            })
            .collect()
    }

    pub fn stats(&self) -> CoreStats {
        CoreStats {
            invariant: self.invariant.report().clone(),
            chat: self.chat.stats(),
            chat_waiting: self.chat.waiting() as u64,
            ..self.stats.clone()
        }
    }

    /// The next action for the bridge, in order.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.out.pop_front()
    }

    /// When [`CallCore::handle_timeout`] must be called next.
    pub fn poll_timeout(&self) -> Option<u64> {
        if self.closed {
            return None;
        }
        let peers = self.peers.values().flat_map(|p| {
            [
                p.unconfirmed_until,
                p.hello_at,
                p.offer_retry_at,
                p.resend.map(|r| r.at),
                p.conn
                    .as_ref()
                    .and_then(|c| c.recovery.next_deadline(&self.config)),
            ]
        });
        let dormant = self.dormant.values().map(|d| Some(d.hello_at));
        let strangers = self.strangers_deadline();
        [
            strangers,
            self.signaling.next_deadline(),
            self.rotation.next_deadline(),
            self.tick_at,
            self.first_checks.iter().min().copied(),
            self.chat.next_deadline(),
            self.safety_restart_at,
            self.safety_start_at,
            self.safety_stall_at,
        ]
        .into_iter()
        .chain(peers)
        .chain(dormant)
        .flatten()
        .min()
    }

    /// One event, at `now_ms`.
    pub fn handle(&mut self, input: Input, now_ms: u64) {
        self.now = self.now.max(now_ms);
        if self.closed {
            return;
        }
        match input {
            Input::LocalMediaReady => {
                self.media_ready = true;
                while let Some(text) = self.held.pop_front() {
                    self.on_server_text(&text);
                }
            }
            Input::SocketOpened { socket } if self.signaling.is_current(socket) => {
                self.signaling.on_opened(self.now, &self.config);
                let join = ClientMessage::join(self.me.clone(), self.identity.clone());
                self.send_server(&join);
            }
            Input::SocketMessage { socket, text } if self.signaling.is_current(socket) => {
                if text.contains("\"welcome\"")
                    && matches!(
                        ServerMessage::parse(&text),
                        Ok(ServerMessage::Welcome { .. })
                    )
                {
                    self.signaling.welcome_arrived();
                }
                if self.media_ready {
                    self.on_server_text(&text);
                } else {
                    if self.held.len() == MAX_HELD_MESSAGES {
                        self.held.pop_front();
                        self.stats.bad_server_messages += 1;
                    }
                    self.held.push_back(text);
                }
            }
            Input::SocketClosed { socket, code } if self.signaling.is_current(socket) => {
                self.on_socket_closed(code);
            }
            Input::SocketOpened { .. }
            | Input::SocketMessage { .. }
            | Input::SocketClosed { .. } => {}
            Input::PeerConnectionState { conn, state } => self.on_pc_state(conn, state),
            Input::DataChannelState { conn, open } => {
                if let Some(c) = self.conn_mut(conn) {
                    c.chat_open = open;
                }
            }
            Input::IceCandidate { conn, candidate } => self.on_local_candidate(conn, candidate),
            Input::DescriptionCreated { conn, kind, sdp } => {
                self.on_description_created(conn, kind, &sdp)
            }
            Input::PeerOpDone { conn, op } => self.on_peer_op_done(conn, op),
            Input::PeerOpFailed { conn, op, .. } => self.on_peer_op_failed(conn, op),
            Input::ChatFrame { conn, data } => self.on_chat_frame(conn, data),
            Input::Crypto { request, result } => self.on_crypto(request, result),
            Input::SenderSamples { samples } => self.on_sender_samples(&samples),
            Input::SendChat { request, text } => self.send_chat(request, text),
            Input::ReplaceTrack { kind } => self.replace_track(kind),
            Input::SetVerified { peer, verified } => self.set_verified(&peer, verified),
            Input::Close => self.close(),
        }
    }

    /// Time passed: everything due at `now_ms` happens.
    pub fn handle_timeout(&mut self, now_ms: u64) {
        self.now = self.now.max(now_ms);
        // every step below moves its own deadline on; the bound only guards against a bug
        for _ in 0..256 {
            if self.closed || self.poll_timeout().is_none_or(|t| t > self.now) {
                return;
            }
            self.fire_due();
        }
    }

    fn fire_due(&mut self) {
        let now = self.now;
        match self.signaling.due(now, &self.config) {
            Some(SignalingDue::Reconnect) => {
                let open = self.signaling.open_socket();
                self.out.push_back(open);
            }
            Some(SignalingDue::Keepalive) => self.send_server(&ClientMessage::ping()),
            Some(SignalingDue::JoinTimeout) => self.join_timeout(),
            None => {}
        }
        self.rotation_due();
        if self.tick_at.is_some_and(|t| t <= now) {
            self.tick();
        }
        if self.first_checks.iter().any(|t| *t <= now) {
            self.first_checks.retain(|t| *t > now);
            self.sample_senders();
        }
        for from in self.chat.expire(now) {
            self.error(
                CallError::new(
                    ErrorCode::ChatRejected,
                    "a chat message was dropped: its key did not arrive within 5 s",
                )
                .about(&from),
            );
        }
        if self.safety_start_at.is_some_and(|t| t <= now) {
            self.start_safety_round();
        }
        if self.safety_restart_at.is_some_and(|t| t <= now) {
            self.restart_safety_round();
        }
        if self.safety_stall_at.is_some_and(|t| t <= now) {
            self.safety_stalled();
        }
        self.peers_due();
        self.dormant_due();
        if self.strangers_deadline().is_some_and(|t| t <= now) {
            self.strangers.clear();
            self.resync();
        }
    }

    // ---- helpers shared by the parts ----

    fn emit(&mut self, event: AppEvent) {
        self.out.push_back(Action::Emit { event });
    }

    fn error(&mut self, error: CallError) {
        self.emit(AppEvent::Error(error));
    }

    fn send_server(&mut self, msg: &ClientMessage) {
        let Ok(text) = msg.to_json() else {
            self.error(CallError::new(
                ErrorCode::Internal,
                "a message could not be built",
            ));
            return;
        };
        match self.signaling.send(text) {
            Some(action) => self.out.push_back(action),
            None => self.stats.unsent_messages += 1,
        }
    }

    /// Sends `payload` to `to`, sealed: through the crypto Worker (`Seal`), which the peer is
    /// in once a roster listing it was sent there (until then the payload waits); the
    /// envelope goes out when the Worker answers (in the order sealed). Nothing can be sealed
    /// to someone who is not a participant.
    fn send_peer(&mut self, to: &PeerId, payload: &PeerPayload) {
        let Ok(text) = payload.to_json() else {
            self.error(CallError::new(
                ErrorCode::Internal,
                "a message to a peer could not be built",
            ));
            return;
        };
        match self.peers.get_mut(to) {
            Some(p) if p.in_crypto_roster => self.crypto(
                CryptoRequest::Seal {
                    to: to.clone(),
                    payload: text,
                },
                Pending::Seal { to: to.clone() },
            ),
            Some(p) => {
                if !Peer::hold_envelope(&mut p.outbox, text) {
                    self.stats.unsent_messages += 1;
                }
            }
            None => self.stats.unsent_messages += 1,
        }
    }

    fn crypto(&mut self, op: CryptoRequest, pending: Pending) {
        let request = RequestId(self.next_request);
        self.next_request += 1;
        self.requests.insert(request, pending);
        self.out.push_back(Action::Crypto { request, op });
    }

    fn conn_mut(&mut self, conn: ConnId) -> Option<&mut crate::connection::Connection> {
        let peer = self.conn_owner.get(&conn)?;
        self.peers
            .get_mut(peer)?
            .conn
            .as_mut()
            .filter(|c| c.id == conn)
    }

    fn set_key_state(&mut self, peer: &PeerId, state: KeyState) {
        let Some(p) = self.peers.get_mut(peer) else {
            return;
        };
        if p.key_state != state {
            p.key_state = state;
            if !p.admitted {
                return;
            }
            self.emit(AppEvent::ParticipantState {
                peer: peer.clone(),
                state,
            });
        }
    }

    /// Keeps the periodic tick running while any connection exists.
    fn ensure_tick(&mut self) {
        if self.tick_at.is_none() {
            self.tick_at = Some(self.now.saturating_add(TICK_MS));
        }
    }

    fn tick(&mut self) {
        self.tick_at = None;
        if self.conn_owner.is_empty() {
            return;
        }
        self.sample_senders();
        self.check_keys();
        self.ensure_tick();
    }

    /// Drops a peer (closing its connection) and tells the application; no rotation here.
    /// With `dormant`, the peer may still be in the room (it vanished, a welcome did not list
    /// it, a leave that may have been replayed): it is asked a few times to reconnect
    /// (`hello`), and comes back if it answers.
    fn drop_peer(&mut self, peer: &PeerId, reason: LeaveReason, dormant: bool) {
        let Some(p) = self.peers.remove(peer) else {
            return;
        };
        if let Some(c) = p.conn {
            self.close_conn(c.id);
        }
        self.chat.remove_peer(peer);
        // only someone who was a participant (its identity opened) may come back by itself
        if dormant && p.admitted && self.dormant.len() < MAX_DORMANT {
            let hellos = if p.connected_at.is_some() {
                0
            } else {
                p.revivals
            };
            let hello_at = self.now.saturating_add(dormant_hello_delay(hellos));
            self.dormant.insert(
                peer.clone(),
                Dormant {
                    identity: p.identity,
                    hello_at,
                    hellos,
                },
            );
        }
        if p.admitted {
            self.emit(AppEvent::ParticipantLeft {
                peer: peer.clone(),
                reason,
            });
        }
    }

    fn close_conn(&mut self, conn: ConnId) {
        self.conn_owner.remove(&conn);
        self.invariant.forget(conn);
        self.out.push_back(Action::ClosePeer { conn });
    }
}

/// Hellos to a dormant peer: this many, then it is forgotten.
const DORMANT_HELLOS: u32 = 4;

/// Hellos to a dormant peer: after 30 s, then doubling to 2 min.
fn dormant_hello_delay(hellos: u32) -> u64 {
    crate::backoff::exponential(30_000, 120_000, hellos.saturating_add(1))
}
