//! The Room Durable Object: one per room id, hibernating WebSockets, alarm for timeouts.
use sotto_protocol::room::ServerMessage;
use sotto_protocol::ProtocolError;
use sotto_signaling::{Action, ConnId, Frame, Limits, RoomRecord, RoomRoster};
use worker::Env;

use crate::adapter::{durable_object_over, var_u64, Machine};

/// Limits from vars (MAX_PEERS, RATE_PER_SEC, RATE_BURST, JOIN_TIMEOUT_MS, IDLE_TIMEOUT_MS),
/// defaults otherwise.
pub fn limits(env: &Env) -> Limits {
    let mut limits = match var_u64(env, "MAX_PEERS").and_then(|n| usize::try_from(n).ok()) {
        Some(n) => Limits::with_max_peers(n),
        None => Limits::default(),
    };
    if let Some(n) = var_u64(env, "RATE_PER_SEC").and_then(|n| u32::try_from(n).ok()) {
        limits.rate_per_sec = n;
    }
    if let Some(n) = var_u64(env, "RATE_BURST").and_then(|n| u32::try_from(n).ok()) {
        limits.rate_burst = n;
    }
    if let Some(n) = var_u64(env, "JOIN_TIMEOUT_MS") {
        limits.join_timeout_ms = n;
    }
    if let Some(n) = var_u64(env, "IDLE_TIMEOUT_MS") {
        limits.idle_timeout_ms = n;
    }
    limits
}

impl Machine for RoomRoster {
    type Msg = ServerMessage;
    type Record = RoomRecord;
    fn rebuild(env: &Env, records: Vec<RoomRecord>, now: u64) -> (Self, Vec<ConnId>) {
        RoomRoster::from_records(limits(env), records, now)
    }
    fn conn_of_record(record: &RoomRecord) -> ConnId {
        record.conn
    }
    fn allocate_conn(&mut self) -> ConnId {
        RoomRoster::allocate_conn(self)
    }
    fn open(&mut self, conn: ConnId, now: u64) -> Vec<Action<ServerMessage, RoomRecord>> {
        RoomRoster::open(self, conn, now)
    }
    fn message(
        &mut self,
        conn: ConnId,
        frame: Frame<'_>,
        now: u64,
    ) -> Vec<Action<ServerMessage, RoomRecord>> {
        RoomRoster::message(self, conn, frame, now)
    }
    fn closed(&mut self, conn: ConnId) -> Vec<Action<ServerMessage, RoomRecord>> {
        RoomRoster::closed(self, conn)
    }
    fn tick(&mut self, now: u64) -> Vec<Action<ServerMessage, RoomRecord>> {
        RoomRoster::tick(self, now)
    }
    fn next_deadline(&self) -> Option<u64> {
        RoomRoster::next_deadline(self)
    }
    fn to_json(msg: &ServerMessage) -> std::result::Result<String, ProtocolError> {
        msg.to_json()
    }
}

durable_object_over!(
    /// One room: its roster and the relay between its peers.
    Room,
    RoomRoster
);
