use serde::{Deserialize, Serialize};

use crate::CloseCode;

/// One WebSocket connection, numbered by the adapter (`allocate_conn`), unique in its object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ConnId(pub u64);

/// A frame as it came off the socket.
#[derive(Debug, Clone, Copy)]
pub enum Frame<'a> {
    Text(&'a str),
    Binary(&'a [u8]),
}

/// What the adapter must do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action<M, R> {
    /// Send `msg` to every connection in `to` (serialize once).
    Send { to: Vec<ConnId>, msg: M },
    /// Send this text, already serialized (a relayed `signal`), to one connection.
    Relay { to: ConnId, text: String },
    /// Close the connection with an application close code. The state machine has already
    /// forgotten it; a later `Closed` event for it is ignored.
    Close { conn: ConnId, code: CloseCode },
    /// Store this record as the connection's WebSocket attachment (survives hibernation).
    Persist { conn: ConnId, record: R },
}
