/// Every limit the worker enforces, in one place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest frame accepted, in bytes (larger: close 4413).
    pub max_message_bytes: usize,
    /// Joined peers per room (more: `room-full`, close 4503).
    pub max_peers: usize,
    /// Sockets per room including those not yet joined (more: close 4503).
    pub max_room_connections: usize,
    /// Sustained messages per second per connection.
    pub rate_per_sec: u32,
    /// Burst size of the per-connection token bucket (empty bucket: close 4429).
    pub rate_burst: u32,
    /// Time from connect to `join` (or first announce/subscribe), ms (close 4408).
    pub join_timeout_ms: u64,
    /// Time without any message (ping included), ms (close 4408).
    pub idle_timeout_ms: u64,
    /// Invalid messages tolerated per connection before close 4400.
    pub max_invalid_messages: u32,
    /// How stale the `last_seen` in a persisted record may get, ms.
    pub persist_interval_ms: u64,
    /// Sockets per presence object (more: close 4503).
    pub max_presence_connections: usize,
    /// Distinct channels (announced or subscribed) per presence object.
    pub max_presence_channels: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_message_bytes: sotto_protocol::MAX_MESSAGE_BYTES,
            max_peers: 8,
            max_room_connections: 16,
            rate_per_sec: 50,
            rate_burst: 100,
            join_timeout_ms: 10_000,
            idle_timeout_ms: 60_000,
            max_invalid_messages: 32,
            persist_interval_ms: 10_000,
            max_presence_connections: 10_000,
            max_presence_channels: 100_000,
        }
    }
}

impl Limits {
    /// Defaults with a different peer cap (clamped to 2..=64; room sockets scale with it).
    pub fn with_max_peers(max_peers: usize) -> Self {
        let max_peers = max_peers.clamp(2, 64);
        Self {
            max_peers,
            max_room_connections: max_peers * 2,
            ..Self::default()
        }
    }
}
