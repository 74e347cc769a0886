//! A deterministic simulated network for `CallCore`s: N participants, each a core with the
//! real crypto (`GroupKeys`) behind it and a fake WebRTC; the real room state machine
//! (`sotto_signaling::RoomRoster`) as the server, with latency, and with faults on demand:
//! a server that drops, duplicates, reorders, replays or injects messages, signaling
//! outages, links that are down or fail instantly, frozen participants.
//!
//! Everything runs on simulated time, event by event; nothing sleeps, so a minute of calls
//! takes milliseconds (plus the crypto).
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)]

pub mod crypto;
pub mod rng;
pub mod webrtc;

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};

use sotto_call::input::{PeerOp, SdpKind};
use sotto_call::{Action, AppEvent, CallCore, Config, ConnId, Input, MediaKind, PcState, SocketId};
use sotto_e2ee::{RoomKeys, RoomSecret};
use sotto_protocol::room::{PeerInfo, ServerMessage};
use sotto_protocol::{PeerId, RoomId};
use sotto_signaling::{Action as ServerAction, ConnId as ServerConn, Frame, Limits, RoomRoster};

use self::crypto::CryptoService;
use self::rng::SimRng;
use self::webrtc::{kind_index, FakePc};

/// Faults of the server's deliveries to clients, while `until` has not passed.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    pub drop: f64,
    pub duplicate: f64,
    /// Extra random delay up to this, breaking the socket's order.
    pub reorder_ms: u64,
    /// Send an old message again, at random.
    pub replay: f64,
    /// Only `signal` messages are touched (welcomes and joins arrive).
    pub only_signals: bool,
    pub until: u64,
}

/// What a tampering server does with one message to one client.
pub enum Tamper {
    Keep,
    Drop,
    Replace(ServerMessage),
}

/// A hook on every server-to-client message: `(client, message) -> Tamper`.
pub type TamperFn = Box<dyn FnMut(usize, &ServerMessage) -> Tamper>;

#[derive(Debug)]
enum Event {
    /// An input for a client's core.
    Input { client: usize, input: Input },
    /// The server accepts a socket.
    ServerOpen {
        client: usize,
        socket: SocketId,
        conn: ServerConn,
    },
    /// A frame from a client reaches the server.
    ToServer { conn: ServerConn, text: String },
    /// A client closed its socket.
    ServerClosed { conn: ServerConn },
}

pub struct Client {
    pub idx: usize,
    pub peer: PeerId,
    pub core: CallCore,
    pub crypto: CryptoService,
    pub events: Vec<(u64, AppEvent)>,
    /// Core socket -> server connection.
    pub sockets: BTreeMap<SocketId, ServerConn>,
    pub frozen: bool,
    inbox: Vec<Input>,
    /// The last time a frame on this client's socket was scheduled to arrive (FIFO).
    last_down: u64,
    last_up: u64,
    /// A browser that skips sender transforms on its new connections.
    pub skips_transform: bool,
    pub chats: Vec<(PeerId, String)>,
    pub honest: bool,
}

/// Frames one participant sent another, and how they fared.
#[derive(Debug, Clone, Copy, Default)]
pub struct FrameCount {
    pub sent: u64,
    pub ok: u64,
    pub failed: u64,
}

pub struct Sim {
    pub now: u64,
    pub clients: Vec<Client>,
    pub room: RoomRoster,
    pub room_keys: RoomKeys,
    pub room_id: RoomId,
    server_conns: BTreeMap<ServerConn, (usize, SocketId)>,
    queue: BinaryHeap<Reverse<(u64, u64)>>,
    events: BTreeMap<u64, Event>,
    seq: u64,
    pub pcs: BTreeMap<(usize, ConnId), FakePc>,
    next_uid: u64,
    pub rng: SimRng,
    pub faults: Faults,
    /// Pairs of clients whose media path is down.
    pub links_down: BTreeSet<(usize, usize)>,
    /// Pairs whose ICE fails at once (`failed` 5 ms after checking starts).
    pub instant_fail: BTreeSet<(usize, usize)>,
    /// Clients whose signaling cannot reach the server.
    pub signaling_down: BTreeSet<usize>,
    /// Every server-to-client text, for replays.
    pub recorded: Vec<(usize, String)>,
    pub frames: BTreeMap<(usize, usize), FrameCount>,
    /// Frames that failed to decrypt, with the time.
    pub frame_failures: Vec<(u64, usize, usize)>,
    media_at: u64,
    pub media_interval_ms: u64,
    pub config: Config,
    pub trace: bool,
    pub tamper: Option<TamperFn>,
    max_conn: u64,
}

fn pair(a: usize, b: usize) -> (usize, usize) {
    (a.min(b), a.max(b))
}

impl Sim {
    pub fn new(seed: u64, config: Config) -> Self {
        let mut rng = SimRng::new(seed);
        let room_keys = RoomSecret::generate(&mut rng).derive();
        let room_id = RoomId::parse(room_keys.room_id().as_str()).unwrap();
        Self {
            now: 0,
            clients: Vec::new(),
            room: RoomRoster::new(Limits::default()),
            room_keys,
            room_id,
            server_conns: BTreeMap::new(),
            queue: BinaryHeap::new(),
            events: BTreeMap::new(),
            seq: 0,
            pcs: BTreeMap::new(),
            next_uid: 1,
            rng,
            faults: Faults::default(),
            links_down: BTreeSet::new(),
            instant_fail: BTreeSet::new(),
            signaling_down: BTreeSet::new(),
            recorded: Vec::new(),
            frames: BTreeMap::new(),
            frame_failures: Vec::new(),
            media_at: 0,
            media_interval_ms: 200,
            config,
            trace: std::env::var_os("SIM_TRACE").is_some(),
            tamper: None,
            max_conn: 0,
        }
    }

    /// A participant joins now (its local media is ready at once).
    pub fn join(&mut self) -> usize {
        let idx = self.clients.len();
        let peer = PeerId::parse(&format!("p{idx:02}")).unwrap();
        let crypto = CryptoService::new(self.room_keys.clone(), &peer, 1000 + idx as u64);
        let core = CallCore::new(
            self.config.clone(),
            peer.clone(),
            crypto.identity(),
            &self.room_id,
            idx as u64,
            self.now,
        );
        self.clients.push(Client {
            idx,
            peer,
            core,
            crypto,
            events: Vec::new(),
            sockets: BTreeMap::new(),
            frozen: false,
            inbox: Vec::new(),
            last_down: 0,
            last_up: 0,
            skips_transform: false,
            chats: Vec::new(),
            honest: true,
        });
        self.deliver(idx, Input::LocalMediaReady);
        idx
    }

    fn schedule(&mut self, at: u64, event: Event) {
        self.seq += 1;
        self.events.insert(self.seq, event);
        self.queue.push(Reverse((at.max(self.now), self.seq)));
    }

    fn later(&mut self, client: usize, delay: u64, input: Input) {
        let at = self.now + delay;
        self.schedule(at, Event::Input { client, input });
    }

    fn latency(&mut self) -> u64 {
        self.rng.range(5, 25)
    }

    /// Hands an input to a client's core now (or to its inbox while it is frozen).
    pub fn deliver(&mut self, client: usize, input: Input) {
        let c = &mut self.clients[client];
        if c.core.is_closed() {
            return;
        }
        if c.frozen {
            c.inbox.push(input);
            return;
        }
        if self.trace {
            eprintln!("{:>7} p{client:02} <- {input:?}", self.now);
        }
        c.core.handle(input, self.now);
        self.run_actions(client);
    }

    fn run_actions(&mut self, client: usize) {
        while let Some(action) = self.clients[client].core.poll_action() {
            if self.trace {
                eprintln!("{:>7} p{client:02} -> {action:?}", self.now);
            }
            self.act(client, action);
        }
    }

    fn pc(&mut self, client: usize, conn: ConnId) -> Option<&mut FakePc> {
        self.pcs.get_mut(&(client, conn)).filter(|p| !p.closed)
    }

    fn op_result(&mut self, client: usize, conn: ConnId, op: PeerOp, r: Result<(), &'static str>) {
        let input = match r {
            Ok(()) => Input::PeerOpDone { conn, op },
            Err(e) => Input::PeerOpFailed {
                conn,
                op,
                message: e.into(),
            },
        };
        self.later(client, 1, input);
    }

    fn act(&mut self, client: usize, action: Action) {
        match action {
            Action::OpenSocket { socket, path } => {
                assert_eq!(path, format!("/ws/room/{}", self.room_id.as_str()));
                let delay = self.latency();
                if self.signaling_down.contains(&client) {
                    self.later(client, delay, Input::SocketClosed { socket, code: 1006 });
                } else {
                    let conn = self.room.allocate_conn();
                    self.max_conn = self.max_conn.max(conn.0);
                    self.clients[client].sockets.insert(socket, conn);
                    self.server_conns.insert(conn, (client, socket));
                    let at = self.now + delay;
                    self.schedule(
                        at,
                        Event::ServerOpen {
                            client,
                            socket,
                            conn,
                        },
                    );
                }
            }
            Action::SendServer { socket, text } => {
                let Some(conn) = self.clients[client].sockets.get(&socket).copied() else {
                    return;
                };
                if !self.server_conns.contains_key(&conn) {
                    return;
                }
                let at = (self.now + self.latency()).max(self.clients[client].last_up);
                self.clients[client].last_up = at;
                self.schedule(at, Event::ToServer { conn, text });
            }
            Action::CloseSocket { socket, .. } => {
                if let Some(conn) = self.clients[client].sockets.remove(&socket) {
                    let at = self.now + self.latency();
                    self.schedule(at, Event::ServerClosed { conn });
                }
            }
            Action::Crypto { request, op } => {
                let now = self.now;
                let result = self.clients[client].crypto.run(op, now);
                self.later(client, 1, Input::Crypto { request, result });
            }
            Action::CreatePeer { peer, conn } => {
                let uid = self.next_uid;
                self.next_uid += 1;
                let mut pc = FakePc::new(uid, client, conn, peer);
                pc.skips_transform = self.clients[client].skips_transform;
                self.pcs.insert((client, conn), pc);
            }
            Action::AttachLocalMediaAndTransforms { conn, .. } => {
                let r = self
                    .pc(client, conn)
                    .map(|pc| pc.attached = true)
                    .ok_or("closed");
                self.op_result(client, conn, PeerOp::Attach, r);
            }
            Action::ProtectNewTransceivers { conn } => {
                let r = self.pc(client, conn).map(|_| ()).ok_or("closed");
                self.op_result(client, conn, PeerOp::Protect, r);
            }
            Action::CreateOffer { conn, ice_restart } => {
                let r = self
                    .pc(client, conn)
                    .ok_or("closed")
                    .and_then(|pc| pc.create(SdpKind::Offer, ice_restart));
                self.created(client, conn, SdpKind::Offer, r);
            }
            Action::CreateAnswer { conn } => {
                let r = self
                    .pc(client, conn)
                    .ok_or("closed")
                    .and_then(|pc| pc.create(SdpKind::Answer, false));
                self.created(client, conn, SdpKind::Answer, r);
            }
            Action::SetLocalDescription { conn, kind, sdp } => {
                let r = self
                    .pc(client, conn)
                    .ok_or("closed")
                    .and_then(|pc| pc.set_local(kind, &sdp));
                let candidates = self
                    .pc(client, conn)
                    .map(|pc| pc.candidates())
                    .unwrap_or_default();
                let ok = r.is_ok();
                self.op_result(client, conn, PeerOp::SetLocalDescription, r);
                if ok {
                    for (i, candidate) in candidates.into_iter().enumerate() {
                        self.later(
                            client,
                            5 + i as u64 * 5,
                            Input::IceCandidate { conn, candidate },
                        );
                    }
                }
            }
            Action::SetRemoteDescription { conn, kind, sdp } => {
                let r = self
                    .pc(client, conn)
                    .ok_or("closed")
                    .and_then(|pc| pc.set_remote(kind, &sdp));
                self.op_result(client, conn, PeerOp::SetRemoteDescription, r);
            }
            Action::Rollback { conn } => {
                let r = self
                    .pc(client, conn)
                    .ok_or("closed")
                    .and_then(FakePc::rollback);
                self.op_result(client, conn, PeerOp::Rollback, r);
            }
            Action::AddIceCandidate { conn, candidate } => {
                let r = self
                    .pc(client, conn)
                    .ok_or("closed")
                    .and_then(|pc| pc.add_candidate(&candidate));
                self.op_result(client, conn, PeerOp::AddIceCandidate, r);
            }
            Action::ClosePeer { conn } => {
                if let Some(pc) = self.pcs.get_mut(&(client, conn)) {
                    pc.closed = true;
                    pc.dc_open = false;
                }
            }
            Action::BlockSender { conn, kind, .. } => {
                if let Some(pc) = self.pcs.get_mut(&(client, conn)) {
                    pc.blocked.insert(kind);
                }
            }
            Action::SetSenderTrack { conn, kind } => {
                if let Some(pc) = self.pcs.get(&(client, conn)) {
                    assert!(
                        !pc.blocked.contains(&kind),
                        "a blocked sender got a track again"
                    );
                }
            }
            Action::SampleSenders { conns } => {
                let mut samples = Vec::new();
                for conn in conns {
                    if let Some(pc) = self.pcs.get(&(client, conn)).filter(|p| !p.closed) {
                        for kind in [MediaKind::Audio, MediaKind::Video] {
                            if pc.blocked.contains(&kind) {
                                continue;
                            }
                            let i = kind_index(kind);
                            samples.push(sotto_call::SenderSample {
                                conn,
                                kind,
                                sent: pc.sent[i],
                                seen: pc.seen[i],
                            });
                        }
                    }
                }
                self.later(client, 2, Input::SenderSamples { samples });
            }
            Action::SendChatFrame { conn, data } => {
                if let Some((to, to_conn)) = self.partner(client, conn) {
                    if self.pcs[&(to, to_conn)].dc_open {
                        let input = Input::ChatFrame {
                            conn: to_conn,
                            data: Some(data),
                        };
                        self.later(to, 5, input);
                    }
                }
            }
            Action::Emit { event } => {
                if matches!(event, AppEvent::JoinFailed { .. }) {
                    // joinCall rejected: this participant is not in the call
                    self.clients[client].honest = false;
                }
                if let AppEvent::Chat { from, text } = &event {
                    self.clients[client]
                        .chats
                        .push((from.clone(), text.clone()));
                }
                self.clients[client].events.push((self.now, event));
            }
        }
    }

    fn created(
        &mut self,
        client: usize,
        conn: ConnId,
        kind: SdpKind,
        r: Result<String, &'static str>,
    ) {
        let input = match r {
            Ok(sdp) => Input::DescriptionCreated { conn, kind, sdp },
            Err(e) => Input::PeerOpFailed {
                conn,
                op: match kind {
                    SdpKind::Offer => PeerOp::CreateOffer,
                    SdpKind::Answer => PeerOp::CreateAnswer,
                },
                message: e.into(),
            },
        };
        self.later(client, 1, input);
    }

    /// The peer connection at the other end of `client`'s `conn`, if the two hold each
    /// other's current (last stable) descriptions and candidates: ICE and DTLS run on the
    /// stable pair while a renegotiation is under way.
    fn partner(&self, client: usize, conn: ConnId) -> Option<(usize, ConnId)> {
        let x = self.pcs.get(&(client, conn)).filter(|p| !p.closed)?;
        let (xl, xr) = (x.stable_local.as_ref()?, x.stable_remote.as_ref()?);
        let y = self
            .pcs
            .values()
            .find(|y| y.uid == xr.origin && !y.closed)?;
        let (yl, yr) = (y.stable_local.as_ref()?, y.stable_remote.as_ref()?);
        let fits = yr.origin == x.uid
            && yl.ufrag == xr.ufrag
            && xl.ufrag == yr.ufrag
            && x.remote_candidates.contains(&yl.ufrag)
            && y.remote_candidates.contains(&xl.ufrag);
        fits.then_some((y.client, y.conn))
    }

    fn path_up(&self, a: usize, b: usize) -> bool {
        !self.links_down.contains(&pair(a, b)) && !self.clients[a].frozen && !self.clients[b].frozen
    }

    fn set_state(&mut self, key: (usize, ConnId), state: PcState) {
        let (client, conn) = key;
        let pc = self.pcs.get_mut(&key).unwrap();
        pc.state = state;
        let open = state == PcState::Connected && !pc.dc_open;
        let shut = matches!(state, PcState::Failed | PcState::Closed) && pc.dc_open;
        if open {
            pc.dc_open = true;
            pc.ever_connected = true;
        }
        if shut {
            pc.dc_open = false;
        }
        self.later(client, 0, Input::PeerConnectionState { conn, state });
        if open || shut {
            self.later(client, 1, Input::DataChannelState { conn, open });
        }
    }

    /// Moves every fake peer connection's ICE/DTLS state on: checks start once both
    /// descriptions are in (again after every ICE restart), succeed 30 ms later when the
    /// partner holds the matching descriptions and candidates and the path is up, and fail
    /// after 10 s otherwise (5 ms on an instantly failing path); a connected path that goes
    /// down is `disconnected`, then `failed` 5 s later.
    fn step_pcs(&mut self) {
        let now = self.now;
        let keys: Vec<(usize, ConnId)> = self
            .pcs
            .iter()
            .filter(|(_, p)| !p.closed && !self.clients[p.client].frozen)
            .map(|(k, _)| *k)
            .collect();
        for key in keys {
            let partner = self.partner(key.0, key.1);
            let remote = self
                .clients
                .iter()
                .position(|c| c.peer == self.pcs[&key].remote_peer);
            let instant = remote.is_some_and(|b| self.instant_fail.contains(&pair(key.0, b)));
            let up = !instant && partner.is_some_and(|(b, _)| self.path_up(key.0, b));
            let pc = &self.pcs[&key];
            let creds = match (&pc.stable_local, &pc.stable_remote) {
                (Some(l), Some(r)) => Some((l.ufrag.clone(), r.ufrag.clone())),
                _ => None,
            };
            let fresh_checks = creds.is_some() && creds != pc.checked;
            let due = pc.timer.is_some_and(|t| t <= now);
            let fail_wait = if instant { 5 } else { 10_000 };
            let (state, to_connect) = (pc.state, pc.timer_to_connect);
            let mut next: Option<(PcState, Option<u64>, bool)> = None;
            if up {
                match state {
                    PcState::Connected => {}
                    PcState::Connecting if to_connect && due => {
                        next = Some((PcState::Connected, None, false))
                    }
                    PcState::Connecting if to_connect => {}
                    _ => next = Some((PcState::Connecting, Some(now + 30), true)),
                }
            } else {
                match state {
                    PcState::Connected => {
                        next = Some((PcState::Disconnected, Some(now + 5_000), false))
                    }
                    PcState::Disconnected | PcState::Failed | PcState::New if fresh_checks => {
                        next = Some((PcState::Connecting, Some(now + fail_wait), false))
                    }
                    PcState::Connecting if to_connect || fresh_checks => {
                        next = Some((PcState::Connecting, Some(now + fail_wait), false))
                    }
                    PcState::Disconnected | PcState::Connecting if due => {
                        next = Some((PcState::Failed, None, false))
                    }
                    _ => {}
                }
            }
            let Some((state, timer, to_connect)) = next else {
                continue;
            };
            let pc = self.pcs.get_mut(&key).unwrap();
            pc.timer = timer;
            pc.timer_to_connect = to_connect;
            if creds.is_some() {
                pc.checked = creds;
            }
            if pc.state != state {
                self.set_state(key, state);
            }
        }
    }

    /// Every connected pair exchanges a video frame each way, through the real crypto.
    fn media(&mut self) {
        let now = self.now;
        let keys: Vec<(usize, ConnId)> = self
            .pcs
            .iter()
            .filter(|(_, p)| !p.closed && p.state == PcState::Connected)
            .map(|(k, _)| *k)
            .collect();
        for key in keys {
            let Some((to, _)) = self.partner(key.0, key.1) else {
                continue;
            };
            if !self.path_up(key.0, to) {
                continue;
            }
            let pc = self.pcs.get_mut(&key).unwrap();
            for kind in [MediaKind::Audio, MediaKind::Video] {
                if !pc.blocked.contains(&kind) {
                    let i = kind_index(kind);
                    pc.sent[i] += 1;
                    // Chromium skips a sender transform attached after a description was
                    // applied (the fail-open of issue 11); a bad browser skips it always
                    if !pc.skips_transform && pc.order_violations == 0 {
                        pc.seen[i] += 1;
                    }
                }
            }
            if pc.blocked.contains(&MediaKind::Video) {
                continue;
            }
            let from = self.clients[key.0].peer.clone();
            let frame: Vec<u8> = (0..64u8).map(|i| i.wrapping_mul(7) | 1).collect();
            let count = self.frames.entry((key.0, to)).or_default();
            count.sent += 1;
            let Ok(sealed) = self.clients[key.0].crypto.encrypt(&frame) else {
                // sending blocked (a rotation did not complete): nothing leaves
                continue;
            };
            match self.clients[to].crypto.decrypt(&from, &sealed, now) {
                Ok(plain) if plain == frame => self.frames.get_mut(&(key.0, to)).unwrap().ok += 1,
                _ => {
                    self.frames.get_mut(&(key.0, to)).unwrap().failed += 1;
                    self.frame_failures.push((now, key.0, to));
                }
            }
        }
    }

    // ---- the server ----

    fn server_actions(
        &mut self,
        actions: Vec<ServerAction<ServerMessage, sotto_signaling::RoomRecord>>,
    ) {
        for action in actions {
            match action {
                ServerAction::Send { to, msg } => {
                    for conn in to {
                        let Some((client, _)) = self.server_conns.get(&conn).copied() else {
                            continue;
                        };
                        let msg = match self.tamper.as_mut().map(|t| t(client, &msg)) {
                            None | Some(Tamper::Keep) => msg.clone(),
                            Some(Tamper::Drop) => continue,
                            Some(Tamper::Replace(m)) => m,
                        };
                        let is_signal = matches!(msg, ServerMessage::Signal { .. });
                        self.deliver_from_server(conn, msg.to_json().unwrap(), is_signal);
                    }
                }
                ServerAction::Close { conn, code } => {
                    if let Some((client, socket)) = self.server_conns.remove(&conn) {
                        self.clients[client].sockets.remove(&socket);
                        let delay = self.latency();
                        self.later(
                            client,
                            delay,
                            Input::SocketClosed {
                                socket,
                                code: code.code(),
                            },
                        );
                    }
                }
                ServerAction::Persist { .. } => {}
            }
        }
    }

    /// The server sends `text` to `conn`'s client, through the fault model.
    fn deliver_from_server(&mut self, conn: ServerConn, text: String, is_signal: bool) {
        let Some((client, socket)) = self.server_conns.get(&conn).copied() else {
            return;
        };
        self.recorded.push((client, text.clone()));
        let faulty = self.now < self.faults.until && (is_signal || !self.faults.only_signals);
        let mut at = self.now + self.latency();
        if faulty {
            if self.rng.chance(self.faults.drop) {
                return;
            }
            if self.faults.reorder_ms > 0 {
                at += self.rng.range(0, self.faults.reorder_ms);
            }
            if self.rng.chance(self.faults.duplicate) {
                let again = at + self.rng.range(0, 200);
                self.schedule(
                    again,
                    Event::Input {
                        client,
                        input: Input::SocketMessage {
                            socket,
                            text: text.clone(),
                        },
                    },
                );
            }
            if self.rng.chance(self.faults.replay) && !self.recorded.is_empty() {
                let i = self.rng.range(0, self.recorded.len() as u64 - 1) as usize;
                let (old_client, old) = self.recorded[i].clone();
                if old_client == client {
                    self.schedule(
                        at + 1,
                        Event::Input {
                            client,
                            input: Input::SocketMessage { socket, text: old },
                        },
                    );
                }
            }
        } else {
            at = at.max(self.clients[client].last_down);
        }
        self.clients[client].last_down = self.clients[client].last_down.max(at);
        self.schedule(
            at,
            Event::Input {
                client,
                input: Input::SocketMessage { socket, text },
            },
        );
    }

    /// The server sends a forged message of its own to `client`.
    pub fn inject(&mut self, client: usize, msg: &ServerMessage) {
        let text = msg.to_json().unwrap();
        if let Some((&socket, _)) = self.clients[client].sockets.iter().next_back() {
            let delay = self.latency();
            self.later(client, delay, Input::SocketMessage { socket, text });
        }
    }

    /// The server sends raw text to `client`.
    pub fn inject_text(&mut self, client: usize, text: &str) {
        if let Some((&socket, _)) = self.clients[client].sockets.iter().next_back() {
            let delay = self.latency();
            self.later(
                client,
                delay,
                Input::SocketMessage {
                    socket,
                    text: text.into(),
                },
            );
        }
    }

    pub fn info(&self, client: usize) -> PeerInfo {
        PeerInfo {
            peer: self.clients[client].peer.clone(),
            identity: self.clients[client].crypto.identity(),
        }
    }

    /// Cuts `client`'s signaling (its socket drops; new ones fail) until `restore_signaling`.
    pub fn cut_signaling(&mut self, client: usize) {
        self.signaling_down.insert(client);
        let sockets: Vec<(SocketId, ServerConn)> =
            std::mem::take(&mut self.clients[client].sockets)
                .into_iter()
                .collect();
        for (socket, conn) in sockets {
            if self.server_conns.remove(&conn).is_some() {
                let actions = self.room.closed(conn);
                self.server_actions(actions);
                self.later(client, 10, Input::SocketClosed { socket, code: 1006 });
            }
        }
    }

    pub fn restore_signaling(&mut self, client: usize) {
        self.signaling_down.remove(&client);
    }

    /// The server restarts: every socket drops and the room starts empty.
    pub fn restart_server(&mut self) {
        let conns: Vec<(ServerConn, (usize, SocketId))> =
            std::mem::take(&mut self.server_conns).into_iter().collect();
        let last = conns.last().map_or(0, |(c, _)| c.0);
        for (_, (client, socket)) in conns {
            self.later(client, 5, Input::SocketClosed { socket, code: 1006 });
        }
        for c in &mut self.clients {
            c.sockets.clear();
        }
        self.room = RoomRoster::new(Limits::default());
        // connection ids stay unique across the restart
        while self.room.allocate_conn().0 < last.max(self.max_conn) {}
    }

    pub fn freeze(&mut self, client: usize) {
        self.clients[client].frozen = true;
    }

    pub fn thaw(&mut self, client: usize) {
        self.clients[client].frozen = false;
        let inbox = std::mem::take(&mut self.clients[client].inbox);
        for input in inbox {
            self.deliver(client, input);
        }
        let now = self.now;
        self.clients[client].core.handle_timeout(now);
        self.run_actions(client);
    }

    /// The participant leaves (`call.close()`).
    pub fn leave(&mut self, client: usize) {
        self.deliver(client, Input::Close);
    }

    /// A participant's command, now.
    pub fn command(&mut self, client: usize, input: Input) {
        self.deliver(client, input);
    }

    // ---- the clock ----

    fn next_time(&self) -> Option<u64> {
        let queue = self.queue.peek().map(|Reverse((t, _))| *t);
        let cores = self
            .clients
            .iter()
            .filter(|c| !c.frozen)
            .filter_map(|c| c.core.poll_timeout());
        // timers of connections the step leaves alone (frozen) wait
        let pcs = self
            .pcs
            .values()
            .filter(|p| !p.closed && !self.clients[p.client].frozen)
            .filter_map(|p| p.timer);
        let server = self.room.next_deadline();
        [queue, server, Some(self.media_at)]
            .into_iter()
            .flatten()
            .chain(cores)
            .chain(pcs)
            .min()
    }

    /// Runs the world until `until` (ms).
    pub fn run_until(&mut self, until: u64) {
        let mut spins = 0u32;
        loop {
            let Some(next) = self.next_time() else {
                self.now = until;
                return;
            };
            if next > until {
                self.now = until;
                return;
            }
            if next <= self.now {
                spins += 1;
                assert!(
                    spins < 100_000,
                    "the simulation is stuck at {} ms",
                    self.now
                );
            } else {
                spins = 0;
            }
            self.now = self.now.max(next);
            let now = self.now;
            while let Some(Reverse((t, seq))) = self.queue.peek().copied() {
                if t > now {
                    break;
                }
                self.queue.pop();
                let event = self.events.remove(&seq).unwrap();
                self.handle_event(event);
            }
            if self.room.next_deadline().is_some_and(|t| t <= now) {
                let actions = self.room.tick(now);
                self.server_actions(actions);
            }
            for i in 0..self.clients.len() {
                let c = &mut self.clients[i];
                if !c.frozen && c.core.poll_timeout().is_some_and(|t| t <= now) {
                    c.core.handle_timeout(now);
                    self.run_actions(i);
                }
            }
            self.step_pcs();
            if self.media_at <= now {
                self.media_at = now + self.media_interval_ms;
                self.media();
            }
        }
    }

    pub fn run_for(&mut self, ms: u64) {
        let until = self.now + ms;
        self.run_until(until);
    }

    fn handle_event(&mut self, event: Event) {
        match event {
            Event::Input { client, input } => self.deliver(client, input),
            Event::ServerOpen {
                client,
                socket,
                conn,
            } => {
                if !self.server_conns.contains_key(&conn) {
                    return;
                }
                let actions = self.room.open(conn, self.now);
                let refused = actions
                    .iter()
                    .any(|a| matches!(a, ServerAction::Close { .. }));
                if !refused {
                    self.deliver(client, Input::SocketOpened { socket });
                }
                self.server_actions(actions);
            }
            Event::ToServer { conn, text } => {
                if self.server_conns.contains_key(&conn) {
                    let actions = self.room.message(conn, Frame::Text(&text), self.now);
                    self.server_actions(actions);
                }
            }
            Event::ServerClosed { conn } => {
                if self.server_conns.remove(&conn).is_some() {
                    let actions = self.room.closed(conn);
                    self.server_actions(actions);
                }
            }
        }
    }

    // ---- what the tests look at ----

    pub fn honest(&self) -> Vec<usize> {
        self.clients
            .iter()
            .filter(|c| c.honest)
            .map(|c| c.idx)
            .collect()
    }

    /// Describes, for a failing assertion, what each honest participant believes.
    pub fn describe(&self) -> String {
        let mut out = String::new();
        for i in self.honest() {
            let c = &self.clients[i];
            out += &format!(
                "p{i:02} epoch {:?} keys {:?}:",
                c.core.epoch(),
                c.crypto.keys.pending_epoch()
            );
            for p in c.core.participants() {
                out += &format!(
                    " [{} {:?} e{:?} {:?}]",
                    p.peer.as_str(),
                    p.connection_state,
                    p.epoch,
                    p.key_state
                );
            }
            out += "\n";
        }
        out
    }

    /// Every honest participant has every other as a connected participant, holds the other's
    /// current sender epoch, and sends under a committed key.
    pub fn converged(&self) -> Result<(), String> {
        let honest = self.honest();
        for &i in &honest {
            let c = &self.clients[i];
            if c.core.is_closed() {
                return Err(format!("p{i:02} is closed"));
            }
            let epoch = c
                .core
                .epoch()
                .ok_or_else(|| format!("p{i:02} has no epoch"))?;
            if c.crypto.keys.sender_epoch() != epoch || c.crypto.keys.pending_epoch().is_some() {
                return Err(format!(
                    "p{i:02}: core epoch {epoch} vs crypto {} pending {:?}",
                    c.crypto.keys.sender_epoch(),
                    c.crypto.keys.pending_epoch()
                ));
            }
            let participants = c.core.participants();
            let ids: BTreeSet<&PeerId> = participants.iter().map(|p| &p.peer).collect();
            let want: BTreeSet<&PeerId> = honest
                .iter()
                .filter(|&&j| j != i)
                .map(|&j| &self.clients[j].peer)
                .collect();
            if ids != want {
                return Err(format!("p{i:02} roster {ids:?}, want {want:?}"));
            }
            for p in &participants {
                let j = honest
                    .iter()
                    .copied()
                    .find(|&j| self.clients[j].peer == p.peer)
                    .unwrap();
                if p.connection_state != PcState::Connected {
                    return Err(format!("p{i:02} -> p{j:02} {:?}", p.connection_state));
                }
                if p.epoch != self.clients[j].core.epoch() {
                    return Err(format!(
                        "p{i:02} holds epoch {:?} of p{j:02}, which sends under {:?}",
                        p.epoch,
                        self.clients[j].core.epoch()
                    ));
                }
                if p.key_state != sotto_call::KeyState::Ready {
                    return Err(format!("p{i:02} -> p{j:02} key state {:?}", p.key_state));
                }
            }
        }
        Ok(())
    }

    /// Runs until converged (checked every 500 ms), at most `limit` ms; returns when.
    pub fn settle(&mut self, limit: u64) -> u64 {
        let start = self.now;
        loop {
            if self.converged().is_ok() {
                // and frames flow both ways between everyone
                let before = self.frames.clone();
                self.run_for(1_000);
                if self.frames_flow_since(&before) {
                    return self.now - start;
                }
            }
            if self.now - start > limit {
                panic!(
                    "not converged after {limit} ms: {:?}\n{}",
                    self.converged().err(),
                    self.describe()
                );
            }
            self.run_for(500);
        }
    }

    /// Every honest pair decrypted frames since `before`, and none failed.
    pub fn frames_flow_since(&self, before: &BTreeMap<(usize, usize), FrameCount>) -> bool {
        let honest = self.honest();
        honest.iter().all(|&a| {
            honest.iter().filter(|&&b| b != a).all(|&b| {
                let now = self.frames.get(&(a, b)).copied().unwrap_or_default();
                let then = before.get(&(a, b)).copied().unwrap_or_default();
                now.ok > then.ok && now.failed == then.failed
            })
        })
    }

    pub fn events(&self, client: usize) -> impl Iterator<Item = &AppEvent> {
        self.clients[client].events.iter().map(|(_, e)| e)
    }

    pub fn count_events(&self, client: usize, f: impl Fn(&AppEvent) -> bool) -> usize {
        self.events(client).filter(|e| f(e)).count()
    }

    /// Every peer connection of every client had its media and transforms attached before
    /// any description was applied, and every applied description was tuned.
    pub fn check_transform_order(&self) -> Result<(), String> {
        for pc in self.pcs.values() {
            if pc.order_violations > 0 {
                return Err(format!(
                    "p{:02} conn {:?}: description applied before attach",
                    pc.client, pc.conn
                ));
            }
            if pc.untuned > 0 {
                return Err(format!(
                    "p{:02} conn {:?}: untuned description applied",
                    pc.client, pc.conn
                ));
            }
        }
        Ok(())
    }

    pub fn ice_restarts(&self, client: usize) -> usize {
        self.count_events(client, |e| matches!(e, AppEvent::IceRestart { .. }))
    }
}
