//! Plain HTTP answers: JSON errors in the same shape as WebSocket `error` messages.
use sotto_protocol::room::ServerMessage;
use sotto_protocol::ProtocolError;
use worker::{Request, Response, Result};

pub fn error(status: u16, e: ProtocolError) -> Result<Response> {
    let body = ServerMessage::error(e)
        .to_json()
        .map_err(|_| worker::Error::RustError("serialize".into()))?;
    let mut response = Response::ok(body)?.with_status(status);
    let headers = response.headers_mut();
    headers.set("content-type", "application/json")?;
    headers.set("cache-control", "no-store")?;
    if status == 426 {
        headers.set("upgrade", "websocket")?;
    }
    Ok(response)
}

pub fn is_websocket_upgrade(req: &Request) -> bool {
    req.headers()
        .get("upgrade")
        .ok()
        .flatten()
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}
