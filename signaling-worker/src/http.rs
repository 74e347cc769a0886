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

/// CORS for an allowed caller (checked before): its own Origin back, never `*`, and `Vary`
/// so that no cache hands one origin's answer to another. No credentials (cookies) are used.
pub fn allow_origin(req: &Request, response: &mut Response) -> Result<()> {
    let headers = response.headers_mut();
    headers.append("vary", "Origin")?;
    if let Some(origin) = req.headers().get("origin")? {
        headers.set("access-control-allow-origin", &origin)?;
    }
    Ok(())
}

/// The answer to a CORS preflight (`OPTIONS`) from an allowed origin.
pub fn preflight(req: &Request) -> Result<Response> {
    let mut response = Response::empty()?.with_status(204);
    allow_origin(req, &mut response)?;
    let headers = response.headers_mut();
    headers.set("access-control-allow-methods", "POST")?;
    headers.set("access-control-allow-headers", "content-type")?;
    headers.set("access-control-max-age", "600")?;
    headers.set("cache-control", "no-store")?;
    Ok(response)
}

pub fn is_websocket_upgrade(req: &Request) -> bool {
    req.headers()
        .get("upgrade")
        .ok()
        .flatten()
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}
