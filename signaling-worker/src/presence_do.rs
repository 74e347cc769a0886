//! The Presence Durable Object. One object ("global") holds every presence socket: a socket
//! can only live in one object, and it must see every channel its client cares about.
use sotto_protocol::presence::PresenceServerMessage;
use sotto_protocol::ProtocolError;
use sotto_signaling::{Action, ConnId, Frame, PresenceHub, PresenceRecord};
use worker::Env;

use crate::adapter::{durable_object_over, Machine};

impl Machine for PresenceHub {
    type Msg = PresenceServerMessage;
    type Record = PresenceRecord;
    fn rebuild(env: &Env, records: Vec<PresenceRecord>, now: u64) -> (Self, Vec<ConnId>) {
        (
            PresenceHub::from_records(crate::room_do::limits(env), records, now),
            Vec::new(),
        )
    }
    fn conn_of_record(record: &PresenceRecord) -> ConnId {
        record.conn
    }
    fn allocate_conn(&mut self) -> ConnId {
        PresenceHub::allocate_conn(self)
    }
    fn open(
        &mut self,
        conn: ConnId,
        now: u64,
    ) -> Vec<Action<PresenceServerMessage, PresenceRecord>> {
        PresenceHub::open(self, conn, now)
    }
    fn message(
        &mut self,
        conn: ConnId,
        frame: Frame<'_>,
        now: u64,
    ) -> Vec<Action<PresenceServerMessage, PresenceRecord>> {
        PresenceHub::message(self, conn, frame, now)
    }
    fn closed(&mut self, conn: ConnId) -> Vec<Action<PresenceServerMessage, PresenceRecord>> {
        PresenceHub::closed(self, conn)
    }
    fn tick(&mut self, now: u64) -> Vec<Action<PresenceServerMessage, PresenceRecord>> {
        PresenceHub::tick(self, now)
    }
    fn next_deadline(&self) -> Option<u64> {
        PresenceHub::next_deadline(self)
    }
    fn to_json(msg: &PresenceServerMessage) -> std::result::Result<String, ProtocolError> {
        msg.to_json()
    }
}

durable_object_over!(
    /// Every presence socket and channel subscription.
    Presence,
    PresenceHub
);
