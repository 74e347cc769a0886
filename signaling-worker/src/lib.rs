//! Sotto's signaling worker: routes requests, and adapts Durable Object socket events to the
//! pure state machines in `sotto-signaling`. All logic lives there; this crate only converts.
//!
//! ```text
//! GET  /ws/room/<room-id>     -> Room DO (id_from_name(room id)), hibernating WebSockets
//! GET  /ws/presence           -> Presence DO (one object, named "global")
//! POST /api/turn-credentials  -> short-lived coturn REST credentials (HMAC via WebCrypto);
//!                                CORS for the origins ALLOWED_ORIGINS lets in
//! anything else               -> 404 (or, deployed with `--assets`, a static file first)
//! ```
//! Nothing here logs payloads, addresses, room ids or channel ids.

mod adapter;
mod http;
mod origin;
mod presence_do;
mod room_do;
mod sockets;
mod turn;

use sotto_protocol::{ProtocolError, RoomId};
use worker::{event, Context, Env, Method, Request, Response, Result};

pub use presence_do::Presence;
pub use room_do::Room;

/// The one presence object; see README for why a single object and how to shard later.
const PRESENCE_OBJECT: &str = "global";

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
    let url = req.url()?;
    let path = url.path().to_owned();
    if path == "/api/turn-credentials" {
        // A page served from another origin (the page on a static host, this worker for the
        // API only) reads the answer through CORS: allowed origins get their own origin back.
        if req.method() == Method::Options {
            if !origin::allowed(&req, &env) {
                return http::error(403, ProtocolError::OriginNotAllowed);
            }
            return http::preflight(&req);
        }
        if req.method() != Method::Post {
            return http::error(405, ProtocolError::MethodNotAllowed);
        }
        if !origin::allowed(&req, &env) {
            return http::error(403, ProtocolError::OriginNotAllowed);
        }
        let mut response = turn::credentials(&env).await?;
        http::allow_origin(&req, &mut response)?;
        return Ok(response);
    }
    let room = path.strip_prefix("/ws/room/");
    if room.is_none() && path != "/ws/presence" {
        return http::error(404, ProtocolError::NotFound);
    }
    if req.method() != Method::Get {
        return http::error(405, ProtocolError::MethodNotAllowed);
    }
    if !http::is_websocket_upgrade(&req) {
        return http::error(426, ProtocolError::UpgradeRequired);
    }
    if !origin::allowed(&req, &env) {
        return sockets::refuse(
            ProtocolError::OriginNotAllowed,
            sotto_signaling::CloseCode::OriginNotAllowed,
        );
    }
    match room {
        Some(raw) => match RoomId::parse(raw) {
            Ok(id) => {
                let stub = env
                    .durable_object("ROOM")?
                    .id_from_name(id.as_str())?
                    .get_stub()?;
                stub.fetch_with_request(req).await
            }
            Err(e) => sockets::refuse(e, sotto_signaling::CloseCode::BadRequest),
        },
        None => {
            let stub = env
                .durable_object("PRESENCE")?
                .id_from_name(PRESENCE_OBJECT)?
                .get_stub()?;
            stub.fetch_with_request(req).await
        }
    }
}
