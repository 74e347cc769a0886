//! Sotto's signaling worker: routes requests, and adapts Durable Object socket events to the
//! pure state machines in `sotto-signaling`. All logic lives there; this crate only converts.
//!
//! ```text
//! GET  /ws/room/<room-id>     -> Room DO (id_from_name(room id)), hibernating WebSockets
//! GET  /ws/presence           -> Presence DO (one object, named "global")
//! POST /api/turn-credentials  -> short-lived coturn REST credentials (HMAC via WebCrypto);
//!                                CORS for the origins ALLOWED_ORIGINS lets in
//! POST /api/mailbox/<id>      -> Mailbox DO (id_from_name(mailbox id)): store a sealed message
//! POST /api/mailbox/<id>/take -> the same object: hand out and delete every message
//! anything else               -> 404 (or, deployed with `--assets`, a static file first)
//! ```
//! Nothing here logs payloads, addresses, room ids or channel ids.

mod adapter;
mod http;
mod mailbox_do;
mod origin;
mod presence_do;
mod room_do;
mod sockets;
mod turn;

use sotto_protocol::{ProtocolError, RoomId};
use worker::{event, Context, Env, Method, Request, Response, Result};

pub use mailbox_do::Mailbox;
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
    if let Some(rest) = path.strip_prefix("/api/mailbox/") {
        return mailbox(req, &env, rest).await;
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

/// Longest request body the mailbox routes accept (a sealed message, base64url, checked again
/// by the state machine).
const MAX_MAILBOX_BODY: usize = 16 * 1024;

/// `POST /api/mailbox/<id>` (store) and `POST /api/mailbox/<id>/take`.
async fn mailbox(req: Request, env: &Env, rest: &str) -> Result<Response> {
    use sotto_signaling::mailbox::{check_mailbox_id, MailboxError};
    if req.method() == Method::Options {
        if !origin::allowed(&req, env) {
            return http::error(403, ProtocolError::OriginNotAllowed);
        }
        return http::preflight(&req);
    }
    if req.method() != Method::Post {
        return http::error(405, ProtocolError::MethodNotAllowed);
    }
    if !origin::allowed(&req, env) {
        return http::error(403, ProtocolError::OriginNotAllowed);
    }
    let id = rest.strip_suffix("/take").unwrap_or(rest);
    if let Err(e) = check_mailbox_id(id) {
        return mailbox_do::error(e);
    }
    let declared = req
        .headers()
        .get("content-length")?
        .and_then(|n| n.parse::<usize>().ok());
    if declared.is_some_and(|n| n > MAX_MAILBOX_BODY) {
        return mailbox_do::error(MailboxError::MessageTooLarge);
    }
    let stub = env
        .durable_object("MAILBOX")?
        .id_from_name(id)?
        .get_stub()?;
    let mut answer = stub.fetch_with_request(req.clone()?).await?;
    // The object's response has immutable headers: answer with a copy that carries CORS.
    let mut response = mailbox_do::json(answer.status_code(), &answer.text().await?)?;
    http::allow_origin(&req, &mut response)?;
    Ok(response)
}
