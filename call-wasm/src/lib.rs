//! Sotto's main-thread module: the call core ([`sotto_call::CallCore`]) for the page.
//!
//! ```text
//!   sotto.js ──socketMessage(socket, text, now), ...──> CallCore ──pollAction()──> JSON
//!            ──handleTimeout(now)──────────────────────>    │
//!            <──pollTimeout() (absolute ms)──────────────────┘
//! ```
//! One method per `sotto_call::Input` (plain numbers, strings and bytes: see [`json`] for
//! why not JSON); crypto results come as the JSON the crypto Worker's Rust writes; actions
//! go out as JSON in the shapes `sotto_call` documents (read and written by
//! `sotto_protocol::json` and the wire codec: no serde_json in this module, for its size).
//! The module holds no key and links no crypto crate
//! (`scripts/check-no-crypto.sh` checks that): sealed keys pass through it as opaque text on
//! their way between the server and the crypto Worker.
//!
//! Times are `performance.now()` milliseconds; ids (sockets, connections, requests) are the
//! numbers the actions gave.

pub mod json;

use js_sys::{Error, Reflect};
use sotto_call::input::IceCandidate;
use sotto_call::{Bytes, ConnId, Input, SocketId};
use wasm_bindgen::prelude::*;

use json::word;
pub use json::{BridgeError, Core};

/// The call core of one participant (see the crate docs).
#[wasm_bindgen(js_name = CallCore)]
pub struct CallCoreJs {
    core: Core,
}

#[wasm_bindgen(js_class = CallCore)]
impl CallCoreJs {
    /// A core for participant `peerId` (sealed identity `identity`, from the crypto Worker:
    /// announced in every `join` of the call) in room `roomId`, at `nowMs`. `config` is the JSON of the `joinCall` timing
    /// options (unknown fields ignored); `seed` jitters the reconnect delays. The first
    /// action opens the signaling socket.
    #[wasm_bindgen(constructor)]
    pub fn new(
        config: &str,
        peer_id: &str,
        identity: &str,
        room_id: &str,
        seed: f64,
        now_ms: f64,
    ) -> Result<CallCoreJs, JsValue> {
        let core =
            Core::new(config, peer_id, identity, room_id, ms(seed), ms(now_ms)).map_err(to_js)?;
        Ok(Self { core })
    }

    fn input(&mut self, input: Input, now_ms: f64) {
        self.core.handle(input, ms(now_ms));
    }

    /// The local stream is settled (a track or not): peers may be negotiated.
    #[wasm_bindgen(js_name = localMediaReady)]
    pub fn local_media_ready(&mut self, now_ms: f64) {
        self.input(Input::LocalMediaReady, now_ms);
    }

    #[wasm_bindgen(js_name = socketOpened)]
    pub fn socket_opened(&mut self, socket: f64, now_ms: f64) {
        let socket = SocketId(ms(socket));
        self.input(Input::SocketOpened { socket }, now_ms);
    }

    /// A text frame, as is.
    #[wasm_bindgen(js_name = socketMessage)]
    pub fn socket_message(&mut self, socket: f64, text: String, now_ms: f64) {
        let socket = SocketId(ms(socket));
        self.input(Input::SocketMessage { socket, text }, now_ms);
    }

    #[wasm_bindgen(js_name = socketClosed)]
    pub fn socket_closed(&mut self, socket: f64, code: u16, now_ms: f64) {
        let socket = SocketId(ms(socket));
        self.input(Input::SocketClosed { socket, code }, now_ms);
    }

    /// `connectionstatechange`: `state` is `RTCPeerConnection.connectionState`.
    #[wasm_bindgen(js_name = peerConnectionState)]
    pub fn peer_connection_state(
        &mut self,
        conn: f64,
        state: &str,
        now_ms: f64,
    ) -> Result<(), JsValue> {
        let state = word("state", state).map_err(to_js)?;
        self.input(
            Input::PeerConnectionState {
                conn: ConnId(ms(conn)),
                state,
            },
            now_ms,
        );
        Ok(())
    }

    /// The chat data channel opened (`true`) or closed.
    #[wasm_bindgen(js_name = dataChannelState)]
    pub fn data_channel_state(&mut self, conn: f64, open: bool, now_ms: f64) {
        self.input(
            Input::DataChannelState {
                conn: ConnId(ms(conn)),
                open,
            },
            now_ms,
        );
    }

    /// A local candidate (`icecandidate` with a candidate).
    #[wasm_bindgen(js_name = iceCandidate)]
    pub fn ice_candidate(
        &mut self,
        conn: f64,
        candidate: String,
        sdp_mid: Option<String>,
        sdp_m_line_index: Option<u16>,
        now_ms: f64,
    ) {
        let candidate = IceCandidate {
            candidate,
            sdp_mid,
            sdp_m_line_index,
        };
        self.input(
            Input::IceCandidate {
                conn: ConnId(ms(conn)),
                candidate,
            },
            now_ms,
        );
    }

    /// `createOffer` / `createAnswer` resolved (`kind`: `offer` or `answer`).
    #[wasm_bindgen(js_name = descriptionCreated)]
    pub fn description_created(
        &mut self,
        conn: f64,
        kind: &str,
        sdp: String,
        now_ms: f64,
    ) -> Result<(), JsValue> {
        let kind = word("kind", kind).map_err(to_js)?;
        self.input(
            Input::DescriptionCreated {
                conn: ConnId(ms(conn)),
                kind,
                sdp,
            },
            now_ms,
        );
        Ok(())
    }

    /// A WebRTC operation the core asked for resolved (`op` as in the action's `type`:
    /// `attach`, `protect`, `set-local-description`, ...).
    #[wasm_bindgen(js_name = peerOpDone)]
    pub fn peer_op_done(&mut self, conn: f64, op: &str, now_ms: f64) -> Result<(), JsValue> {
        let op = word("op", op).map_err(to_js)?;
        self.input(
            Input::PeerOpDone {
                conn: ConnId(ms(conn)),
                op,
            },
            now_ms,
        );
        Ok(())
    }

    /// A WebRTC operation the core asked for rejected or threw.
    #[wasm_bindgen(js_name = peerOpFailed)]
    pub fn peer_op_failed(
        &mut self,
        conn: f64,
        op: &str,
        message: String,
        now_ms: f64,
    ) -> Result<(), JsValue> {
        let op = word("op", op).map_err(to_js)?;
        let conn = ConnId(ms(conn));
        self.input(Input::PeerOpFailed { conn, op, message }, now_ms);
        Ok(())
    }

    /// A message on the chat channel: its bytes, or `undefined` when it was not binary.
    #[wasm_bindgen(js_name = chatFrame)]
    pub fn chat_frame(&mut self, conn: f64, data: Option<Vec<u8>>, now_ms: f64) {
        let data = data.map(Bytes);
        self.input(
            Input::ChatFrame {
                conn: ConnId(ms(conn)),
                data,
            },
            now_ms,
        );
    }

    /// The crypto Worker's answer (the JSON `CallCrypto.run` returned) to `request`.
    pub fn crypto(&mut self, request: f64, result: &str, now_ms: f64) -> Result<(), JsValue> {
        self.core
            .crypto(ms(request), result, ms(now_ms))
            .map_err(to_js)
    }

    /// The answer to `sample-senders`: four numbers per sender (connection, kind 0 audio /
    /// 1 video, sent, seen).
    #[wasm_bindgen(js_name = senderSamples)]
    pub fn sender_samples(&mut self, packed: &[f64], now_ms: f64) -> Result<(), JsValue> {
        let samples = json::samples(packed).map_err(to_js)?;
        self.input(Input::SenderSamples { samples }, now_ms);
        Ok(())
    }

    /// `call.sendChat(text)`, settled by the `chat-sent` / `chat-failed` event of `request`.
    #[wasm_bindgen(js_name = sendChat)]
    pub fn send_chat(&mut self, request: f64, text: String, now_ms: f64) {
        self.input(
            Input::SendChat {
                request: ms(request),
                text,
            },
            now_ms,
        );
    }

    /// The application replaced the local track of `kind` (`audio` or `video`).
    #[wasm_bindgen(js_name = replaceTrack)]
    pub fn replace_track(&mut self, kind: &str, now_ms: f64) -> Result<(), JsValue> {
        let kind = word("kind", kind).map_err(to_js)?;
        self.input(Input::ReplaceTrack { kind }, now_ms);
        Ok(())
    }

    /// `call.setVerified(peer, verified)`: the people compared the safety code with `peer`
    /// (or take it back). Refused with `bad-argument` for a malformed peer id.
    #[wasm_bindgen(js_name = setVerified)]
    pub fn set_verified(&mut self, peer: &str, verified: bool, now_ms: f64) -> Result<(), JsValue> {
        let peer = sotto_protocol::PeerId::parse(peer)
            .map_err(|e| to_js(BridgeError::BadArgument("peer", e.to_string())))?;
        self.input(Input::SetVerified { peer, verified }, now_ms);
        Ok(())
    }

    /// `call.close()`.
    pub fn close(&mut self, now_ms: f64) {
        self.input(Input::Close, now_ms);
    }

    /// Time passed: everything due at `nowMs` happens.
    #[wasm_bindgen(js_name = handleTimeout)]
    pub fn handle_timeout(&mut self, now_ms: f64) {
        self.core.handle_timeout(ms(now_ms));
    }

    /// The next action (JSON of `sotto_call::Action`), or `undefined` when there is none.
    #[wasm_bindgen(js_name = pollAction)]
    pub fn poll_action(&mut self) -> Option<String> {
        self.core.poll_action()
    }

    /// When `handleTimeout` is due next (absolute ms), or `undefined`.
    #[wasm_bindgen(js_name = pollTimeout)]
    pub fn poll_timeout(&self) -> Option<f64> {
        self.core.poll_timeout().map(to_f64)
    }

    /// `[{peer, identity, name, verified, connection_state, epoch, key_state}]` as JSON.
    pub fn participants(&self) -> String {
        self.core.participants()
    }

    /// The call-flow counters (`sotto_call::CoreStats`) as JSON.
    pub fn stats(&self) -> String {
        self.core.stats()
    }

    /// The epoch this participant sends under, once its first key is committed.
    #[wasm_bindgen(getter)]
    pub fn epoch(&self) -> Option<f64> {
        self.core.epoch().map(to_f64)
    }

    /// Whether the call is over (closed, or the join failed).
    #[wasm_bindgen(getter, js_name = isClosed)]
    pub fn is_closed(&self) -> bool {
        self.core.is_closed()
    }
}

/// A JavaScript `Error` with a stable `code`.
fn to_js(error: BridgeError) -> JsValue {
    let js = Error::new(&error.to_string());
    // Setting a property on a fresh Error object cannot fail.
    let _ = Reflect::set(
        &js,
        &JsValue::from_str("code"),
        &JsValue::from_str(error.code()),
    );
    js.into()
}

/// Milliseconds (or a seed) from JavaScript, as a whole number: negative, NaN and infinite
/// values read as 0, anything beyond u64 saturates.
fn ms(value: f64) -> u64 {
    if value.is_finite() && value > 0.0 {
        // Saturating float-to-int conversion is what we want for a clock.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let whole = value as u64;
        whole
    } else {
        0
    }
}

#[allow(clippy::cast_precision_loss)]
fn to_f64(value: u64) -> f64 {
    value as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_values_from_javascript_clamp() {
        assert_eq!(ms(-5.0), 0);
        assert_eq!(ms(f64::NAN), 0);
        assert_eq!(ms(f64::INFINITY), 0);
        assert_eq!(ms(1234.9), 1234);
        assert_eq!(ms(1e30), u64::MAX);
    }
}
