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

mod bridge;
mod checks;
pub mod crypto;
mod network;
pub mod rng;
mod server;
pub mod webrtc;

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};

use sotto_call::{AppEvent, CallCore, Config, ConnId, Input, SocketId};
use sotto_e2ee::{RoomKeys, RoomSecret};
use sotto_protocol::peer::PeerPayload;
use sotto_protocol::room::ServerMessage;
use sotto_protocol::{PeerId, RoomId};
use sotto_signaling::{Action as ServerAction, ConnId as ServerConn, Frame, Limits, RoomRoster};

use self::crypto::CryptoService;
use self::rng::SimRng;
use self::webrtc::FakePc;

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

/// A hook on every server-to-client message: `(client, message, inside) -> Tamper`. `inside`
/// is what a sealed signal holds: an omniscient model of a lossy path that loses messages of
/// one kind (a real server cannot tell what an envelope holds: they are all opaque to it).
pub type TamperFn = Box<dyn FnMut(usize, &ServerMessage, Option<&PeerPayload>) -> Tamper>;

#[derive(Debug)]
pub(crate) enum Event {
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
    /// Its browser gathers relayed candidates only (`iceTransportPolicy: 'relay'`).
    pub relay: bool,
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
    /// What each sealed envelope holds (envelope text -> payload JSON), for tests only.
    pub plaintexts: BTreeMap<String, String>,
    /// Every payload a client's crypto Worker sealed: (client, recipient).
    pub sealed_to: Vec<(usize, PeerId)>,
    /// A slow machine or server: every socket message (both ways, still in order) takes up to
    /// this much longer, and each crypto Worker answers up to `slow_crypto_ms` later (its
    /// answers still in order).
    pub slow_network_ms: u64,
    pub slow_crypto_ms: u64,
    /// When each client's crypto Worker is free again (its answers come in request order).
    crypto_free_at: BTreeMap<usize, u64>,
}

pub(crate) fn pair(a: usize, b: usize) -> (usize, usize) {
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
            plaintexts: BTreeMap::new(),
            sealed_to: Vec::new(),
            slow_network_ms: 0,
            slow_crypto_ms: 0,
            crypto_free_at: BTreeMap::new(),
        }
    }

    /// A participant joins now (its local media is ready at once).
    pub fn join(&mut self) -> usize {
        self.join_with(self.config.clone())
    }

    /// A participant with its own options joins now.
    pub fn join_with(&mut self, config: Config) -> usize {
        let idx = self.clients.len();
        let peer = PeerId::parse(&format!("p{idx:02}")).unwrap();
        let crypto = CryptoService::new(self.room_keys.clone(), &peer, 1000 + idx as u64);
        let core = CallCore::new(
            config.clone(),
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
            relay: config.privacy == sotto_call::Privacy::Relay,
        });
        self.deliver(idx, Input::LocalMediaReady);
        idx
    }

    pub(super) fn schedule(&mut self, at: u64, event: Event) {
        self.seq += 1;
        self.events.insert(self.seq, event);
        self.queue.push(Reverse((at.max(self.now), self.seq)));
    }

    pub(super) fn later(&mut self, client: usize, delay: u64, input: Input) {
        let at = self.now + delay;
        self.schedule(at, Event::Input { client, input });
    }

    pub(super) fn latency(&mut self) -> u64 {
        let slow = match self.slow_network_ms {
            0 => 0,
            ms => self.rng.range(0, ms),
        };
        self.rng.range(5, 25) + slow
    }

    /// When a crypto Worker's answer to a request made now arrives: 1 ms, or on a slow
    /// machine (a busy page or Worker thread, postMessage queues) up to `slow_crypto_ms`
    /// later, never before its answer to an earlier request.
    pub(super) fn crypto_answer_at(&mut self, client: usize) -> u64 {
        let work = match self.slow_crypto_ms {
            0 => return self.now + 1,
            ms => self.rng.range(1, ms),
        };
        let free = self.crypto_free_at.get(&client).copied().unwrap_or(0);
        let at = (self.now + work).max(free);
        self.crypto_free_at.insert(client, at);
        at
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

    pub(super) fn run_actions(&mut self, client: usize) {
        while let Some(action) = self.clients[client].core.poll_action() {
            if self.trace {
                eprintln!("{:>7} p{client:02} -> {action:?}", self.now);
            }
            same_json(&action);
            self.act(client, action);
        }
        let core = &self.clients[client].core;
        same_json(&core.participants());
        same_json(&core.stats());
    }

    // ---- the clock ----

    pub(super) fn next_time(&self) -> Option<u64> {
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

    pub(super) fn handle_event(&mut self, event: Event) {
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
}

/// The page's module writes actions, participants and stats with `sotto_protocol::json`
/// (no serde_json there): every one the simulation sees must be the bytes serde_json writes.
fn same_json<T: serde::Serialize + std::fmt::Debug>(value: &T) {
    let ours = sotto_protocol::json::to_string(value).ok();
    let serde = serde_json::to_string(value).ok();
    assert!(
        ours.is_some() && ours == serde,
        "{value:?}: {ours:?} vs {serde:?}"
    );
}
