//! Small socket helpers: clock, tags, sending, closing, attachments, refusals.
use serde::Serialize;
use sotto_protocol::room::ServerMessage;
use sotto_protocol::ProtocolError;
use sotto_signaling::{CloseCode, ConnId};
use worker::{Response, Result, State, WebSocket, WebSocketPair};

/// Milliseconds since the epoch: one call into JavaScript (`Date.now()`), no Date object.
pub fn now_ms() -> u64 {
    // A time since 1970 in ms: positive, whole and far below 2^64.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let ms = js_sys::Date::now() as u64;
    ms
}

pub fn tag(conn: ConnId) -> String {
    format!("c{}", conn.0)
}

/// The connection id from a socket's tag.
pub fn tagged_conn(state: &State, ws: &WebSocket) -> Option<ConnId> {
    state
        .get_tags(ws)
        .iter()
        .find_map(|t| t.strip_prefix('c').and_then(|n| n.parse().ok()))
        .map(ConnId)
}

pub fn send_text(ws: &WebSocket, text: &str) {
    // A failed send means the socket is already going away; its close event cleans up.
    let _ = ws.send_with_str(text);
}

pub fn close(ws: &WebSocket, code: CloseCode) {
    let _ = ws.close(Some(code.code()), Some(code.reason()));
}

/// Stores (or, with `None`, clears) a socket's record.
pub fn persist<R: Serialize>(ws: &WebSocket, record: Option<&R>) {
    let _ = ws.serialize_attachment(record);
}

/// Accepts a WebSocket only to explain, with an `error` and a close code, why it is refused
/// (browsers cannot read an HTTP status on a failed upgrade).
pub fn refuse(e: ProtocolError, code: CloseCode) -> Result<Response> {
    let pair = WebSocketPair::new()?;
    pair.server.accept()?;
    if let Ok(text) = ServerMessage::error(e).to_json() {
        send_text(&pair.server, &text);
    }
    close(&pair.server, code);
    Response::from_websocket(pair.client)
}
