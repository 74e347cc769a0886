//! The signaling socket: open, join, keepalive, and reopen with back-off and jitter.
//!
//! ```text
//!  open ──opened──> join sent ──welcome──> joined ──(ping every keepalive_ms)
//!   ^                  │ no welcome in         │ closed (or resync: closed on purpose)
//!   │                  │ JOIN_TIMEOUT_MS       │
//!   └──── after equal-jitter back-off ─────────┘   (no welcome ever: the join failed)
//! ```
use crate::action::Action;
use crate::backoff::Jitter;
use crate::{Config, SocketId};

/// A socket that opened but got no welcome this long is given up.
pub const JOIN_TIMEOUT_MS: u64 = 10_000;
/// Before the first welcome, this many sockets may time out before the join fails.
pub const JOIN_ATTEMPTS: u32 = 3;

/// What the socket needs now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignalingDue {
    Reconnect,
    Keepalive,
    /// The server opened the socket but never welcomed us.
    JoinTimeout,
}

#[derive(Debug, Clone)]
pub struct Signaling {
    path: String,
    socket: Option<SocketId>,
    open: bool,
    next_socket: u64,
    attempt: u32,
    reconnect_at: Option<u64>,
    keepalive_at: Option<u64>,
    welcome_by: Option<u64>,
    welcomed: bool,
    /// The current socket was welcomed (a second welcome on it is a replay).
    welcomed_here: bool,
    join_timeouts: u32,
}

impl Signaling {
    /// For the room socket at `path` (`/ws/room/<room id>`).
    pub fn new(path: String) -> Self {
        Self {
            path,
            socket: None,
            open: false,
            next_socket: 1,
            attempt: 0,
            reconnect_at: None,
            keepalive_at: None,
            welcome_by: None,
            welcomed: false,
            welcomed_here: false,
            join_timeouts: 0,
        }
    }

    /// A new socket (the previous one, if any, is forgotten).
    pub fn open_socket(&mut self) -> Action {
        let socket = SocketId(self.next_socket);
        self.next_socket += 1;
        self.socket = Some(socket);
        self.open = false;
        self.reconnect_at = None;
        self.keepalive_at = None;
        self.welcome_by = None;
        self.welcomed_here = false;
        Action::OpenSocket {
            socket,
            path: self.path.clone(),
        }
    }

    pub fn is_current(&self, socket: SocketId) -> bool {
        self.socket == Some(socket)
    }

    pub fn is_open(&self) -> bool {
        self.open
    }

    /// The current socket opened: start the keepalive.
    pub fn on_opened(&mut self, now_ms: u64, config: &Config) {
        self.open = true;
        self.keepalive_at = Some(now_ms.saturating_add(config.keepalive_ms));
        self.welcome_by = Some(now_ms.saturating_add(JOIN_TIMEOUT_MS));
    }

    /// A welcome arrived on the current socket (it may be handled later).
    pub fn welcome_arrived(&mut self) {
        self.welcome_by = None;
    }

    /// Sends `text` on the current socket, if it is open.
    pub fn send(&self, text: String) -> Option<Action> {
        match (self.socket, self.open) {
            (Some(socket), true) => Some(Action::SendServer { socket, text }),
            _ => None,
        }
    }

    /// Forgets the current socket (closed by the server, or by us); returns it.
    pub fn forget(&mut self) -> Option<SocketId> {
        self.open = false;
        self.keepalive_at = None;
        self.welcome_by = None;
        self.socket.take()
    }

    /// A welcome arrived: the back-off starts over. True the first time ever.
    pub fn on_welcome(&mut self) -> bool {
        self.attempt = 0;
        self.welcomed_here = true;
        !std::mem::replace(&mut self.welcomed, true)
    }

    /// The current socket has had its welcome: another one is a replay.
    pub fn welcomed_here(&self) -> bool {
        self.welcomed_here
    }

    pub fn ever_welcomed(&self) -> bool {
        self.welcomed
    }

    /// A join timed out; true if another socket may be tried before the first welcome.
    pub fn join_timed_out(&mut self) -> bool {
        self.join_timeouts = self.join_timeouts.saturating_add(1);
        self.join_timeouts < JOIN_ATTEMPTS
    }

    /// Schedules the next socket after the back-off (equal jitter).
    pub fn schedule_reconnect(&mut self, now_ms: u64, jitter: &mut Jitter, config: &Config) {
        let delay = jitter.equal_jitter(
            config.reconnect.base_ms,
            config.reconnect.max_ms,
            self.attempt,
        );
        self.attempt = self.attempt.saturating_add(1);
        self.reconnect_at = Some(now_ms.saturating_add(delay));
    }

    pub fn next_deadline(&self) -> Option<u64> {
        [self.reconnect_at, self.keepalive_at, self.welcome_by]
            .into_iter()
            .flatten()
            .min()
    }

    /// What is due at `now_ms`; a keepalive found due is rescheduled.
    pub fn due(&mut self, now_ms: u64, config: &Config) -> Option<SignalingDue> {
        if self.reconnect_at.is_some_and(|t| t <= now_ms) {
            self.reconnect_at = None;
            return Some(SignalingDue::Reconnect);
        }
        if self.welcome_by.is_some_and(|t| t <= now_ms) {
            self.welcome_by = None;
            return Some(SignalingDue::JoinTimeout);
        }
        if self.keepalive_at.is_some_and(|t| t <= now_ms) {
            self.keepalive_at = Some(now_ms.saturating_add(config.keepalive_ms));
            return Some(SignalingDue::Keepalive);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reconnects_back_off_and_start_over_after_a_welcome() {
        let config = Config::default();
        let mut s = Signaling::new("/ws/room/r".into());
        let mut jitter = Jitter::new(1);
        assert!(matches!(
            s.open_socket(),
            Action::OpenSocket {
                socket: SocketId(1),
                ..
            }
        ));
        assert!(s.send("x".into()).is_none(), "not open yet");
        s.on_opened(0, &config);
        assert!(s.send("x".into()).is_some());
        assert_eq!(s.next_deadline(), Some(JOIN_TIMEOUT_MS));
        s.welcome_arrived();
        assert_eq!(s.next_deadline(), Some(15_000));
        let mut delays = Vec::new();
        for _ in 0..6 {
            s.forget();
            s.schedule_reconnect(0, &mut jitter, &config);
            delays.push(s.next_deadline().unwrap_or(0));
        }
        for (n, d) in delays.iter().enumerate() {
            let ceiling = (250u64 << n).min(4_000);
            assert!((ceiling / 2..=ceiling).contains(d), "{n}: {d}");
        }
        assert!(s.on_welcome());
        assert!(!s.on_welcome());
        s.schedule_reconnect(0, &mut jitter, &config);
        assert!(s.next_deadline().is_some_and(|d| d <= 250));
        assert_eq!(s.due(300, &config), Some(SignalingDue::Reconnect));
        assert_eq!(s.due(300, &config), None);
    }
}
