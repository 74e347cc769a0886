//! The generic Durable Object adapter: one state machine, its sockets, its alarm.
//!
//! In-memory state is a cache. When the object wakes from hibernation the cache is empty and
//! is rebuilt from the sockets' attachments (`RoomRecord` / `PresenceRecord`) before the
//! event is handled. Attachments are the only thing written, plus one alarm timestamp.
//!
//! Per WebSocket message the path is short, because every crossing between JavaScript and
//! wasm costs: the event handler is synchronous (no future, no promise), the socket's
//! connection id is read from a property the adapter set on the socket object (the tags are
//! read only when the object was just rebuilt), the clock is read once, and a relayed signal
//! arrives as finished text (`Action::Relay`). The alarm is set only when an open, a tick or a
//! rebuild can have brought the next deadline forward: a message or a close never does (the
//! state machines' tests hold them to that).
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use serde::de::DeserializeOwned;
use serde::Serialize;
use sotto_protocol::ProtocolError;
use sotto_signaling::{Action, CloseCode, ConnId, Frame};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use worker::{wasm_bindgen_futures, web_sys, Response, Result, State, WebSocket, WebSocketPair};

use crate::sockets::{close, now_ms, persist, send_text, tag, tagged_conn};

/// What a state machine must offer the adapter.
pub trait Machine: Sized {
    type Msg;
    type Record: Serialize + DeserializeOwned;
    /// Rebuild; returns connections to close (with this code) because they conflict.
    fn rebuild(env: &worker::Env, records: Vec<Self::Record>, now: u64) -> (Self, Vec<ConnId>);
    fn conn_of_record(record: &Self::Record) -> ConnId;
    fn allocate_conn(&mut self) -> ConnId;
    fn open(&mut self, conn: ConnId, now: u64) -> Vec<Action<Self::Msg, Self::Record>>;
    /// Must never bring [`Machine::next_deadline`] forward.
    fn message(
        &mut self,
        conn: ConnId,
        frame: Frame<'_>,
        now: u64,
    ) -> Vec<Action<Self::Msg, Self::Record>>;
    /// Must never bring [`Machine::next_deadline`] forward.
    fn closed(&mut self, conn: ConnId) -> Vec<Action<Self::Msg, Self::Record>>;
    fn tick(&mut self, now: u64) -> Vec<Action<Self::Msg, Self::Record>>;
    fn next_deadline(&self) -> Option<u64>;
    fn to_json(msg: &Self::Msg) -> std::result::Result<String, ProtocolError>;
}

#[wasm_bindgen]
extern "C" {
    /// A socket as the adapter marks it: `sottoConn` is its connection id, a property on the
    /// socket object that lives as long as the object is in memory (after hibernation the
    /// runtime hands out fresh objects, and the tags say it again).
    type MarkedSocket;
    #[wasm_bindgen(method, getter, js_name = sottoConn)]
    fn sotto_conn(this: &MarkedSocket) -> Option<f64>;
    #[wasm_bindgen(method, setter, js_name = sottoConn)]
    fn set_sotto_conn(this: &MarkedSocket, conn: f64);
}

/// The largest integer an f64 holds exactly.
const MAX_EXACT: f64 = 9_007_199_254_740_992.0;

fn mark(ws: &web_sys::WebSocket, conn: ConnId) {
    // Connection ids count sockets of one object: far below 2^53, so the f64 is exact.
    #[allow(clippy::cast_precision_loss)]
    let id = conn.0 as f64;
    if id < MAX_EXACT {
        ws.unchecked_ref::<MarkedSocket>().set_sotto_conn(id);
    }
}

fn marked(ws: &web_sys::WebSocket) -> Option<ConnId> {
    let id = ws.unchecked_ref::<MarkedSocket>().sotto_conn()?;
    // Only ever set by `mark`: a whole number in range; anything else is not ours.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let conn = (id.fract() == 0.0 && (1.0..MAX_EXACT).contains(&id)).then_some(ConnId(id as u64));
    conn
}

pub struct Adapter<M: Machine> {
    state: State,
    env: worker::Env,
    machine: RefCell<Option<M>>,
    sockets: RefCell<HashMap<ConnId, WebSocket>>,
    /// The alarm as last set (shared with a pending `set_alarm`).
    alarm_at: Rc<Cell<Option<u64>>>,
}

impl<M: Machine> Adapter<M> {
    pub fn new(state: State, env: worker::Env) -> Self {
        Self {
            state,
            env,
            machine: RefCell::new(None),
            sockets: RefCell::new(HashMap::new()),
            alarm_at: Rc::new(Cell::new(None)),
        }
    }

    /// Rebuilds the machine from attachments if this object was just (re)constructed; true if
    /// it did (then the alarm must be checked).
    fn load(&self, now: u64) -> bool {
        if self.machine.borrow().is_some() {
            return false;
        }
        let mut records = Vec::new();
        let mut sockets = HashMap::new();
        for ws in self.state.get_websockets() {
            if let Ok(Some(Some(record))) = ws.deserialize_attachment::<Option<M::Record>>() {
                let conn = M::conn_of_record(&record);
                mark(ws.as_ref(), conn);
                sockets.insert(conn, ws);
                records.push(record);
            }
        }
        let (machine, rejected) = M::rebuild(&self.env, records, now);
        for conn in rejected {
            if let Some(ws) = sockets.remove(&conn) {
                persist::<M::Record>(&ws, None);
                close(&ws, CloseCode::DuplicatePeer);
            }
        }
        *self.sockets.borrow_mut() = sockets;
        *self.machine.borrow_mut() = Some(machine);
        true
    }

    fn with<T>(&self, now: u64, f: impl FnOnce(&mut M) -> T) -> Option<T> {
        self.load(now);
        self.machine.borrow_mut().as_mut().map(f)
    }

    fn run(&self, actions: Vec<Action<M::Msg, M::Record>>) {
        for action in actions {
            match action {
                Action::Relay { to, text } => {
                    if let Some(ws) = self.sockets.borrow().get(&to) {
                        send_text(ws, &text);
                    }
                }
                Action::Send { to, msg } => {
                    let Ok(text) = M::to_json(&msg) else { continue };
                    let sockets = self.sockets.borrow();
                    for conn in to {
                        if let Some(ws) = sockets.get(&conn) {
                            send_text(ws, &text);
                        }
                    }
                }
                Action::Close { conn, code } => {
                    if let Some(ws) = self.sockets.borrow_mut().remove(&conn) {
                        persist::<M::Record>(&ws, None);
                        close(&ws, code);
                    }
                }
                Action::Persist { conn, record } => {
                    if let Some(ws) = self.sockets.borrow().get(&conn) {
                        persist(ws, Some(&record));
                    }
                }
            }
        }
    }

    /// The alarm offset (ms from now) if the next deadline is earlier than the alarm set.
    fn alarm_needed(&self, now: u64) -> Option<(u64, i64)> {
        let deadline = self.machine.borrow().as_ref().and_then(M::next_deadline)?;
        if self.alarm_at.get().is_some_and(|at| at <= deadline) {
            return None;
        }
        // set_alarm takes an offset from now, in ms.
        let offset = i64::try_from(deadline.saturating_sub(now)).unwrap_or(i64::MAX);
        Some((deadline, offset))
    }

    async fn schedule(&self, now: u64) {
        let Some((deadline, offset)) = self.alarm_needed(now) else {
            return;
        };
        if self.state.storage().set_alarm(offset).await.is_ok() {
            self.alarm_at.set(Some(deadline));
        }
    }

    /// For the synchronous handlers: `undefined`, or (after a rebuild that needs it) a promise
    /// that sets the alarm, which the runtime waits for.
    fn schedule_later(&self, now: u64) -> JsValue {
        let Some((deadline, offset)) = self.alarm_needed(now) else {
            return JsValue::UNDEFINED;
        };
        let storage = self.state.storage();
        let alarm_at = Rc::clone(&self.alarm_at);
        wasm_bindgen_futures::future_to_promise(async move {
            if storage.set_alarm(offset).await.is_ok() {
                alarm_at.set(Some(deadline));
            }
            Ok(JsValue::UNDEFINED)
        })
        .into()
    }

    pub async fn accept(&self) -> Result<Response> {
        let pair = WebSocketPair::new()?;
        let now = now_ms();
        let Some(conn) = self.with(now, M::allocate_conn) else {
            return Err(worker::Error::RustError("state".into()));
        };
        self.state
            .accept_websocket_with_tags(&pair.server, &[tag(conn).as_str()]);
        mark(pair.server.as_ref(), conn);
        self.sockets.borrow_mut().insert(conn, pair.server.clone());
        if let Some(actions) = self.with(now, |m| m.open(conn, now)) {
            self.run(actions);
        }
        self.schedule(now).await;
        Response::from_websocket(pair.client)
    }

    /// The socket's connection: its mark, else its tag (or record), which then marks it.
    fn identify(&self, ws: &web_sys::WebSocket) -> Option<ConnId> {
        if let Some(conn) = marked(ws) {
            return Some(conn);
        }
        let ws = WebSocket::from(ws.clone());
        let conn = tagged_conn(&self.state, &ws).or_else(|| {
            ws.deserialize_attachment::<Option<M::Record>>()
                .ok()
                .flatten()
                .flatten()
                .map(|r| M::conn_of_record(&r))
        })?;
        mark(ws.as_ref(), conn);
        Some(conn)
    }

    /// A message arrived (synchronous: returns `undefined`, or a promise when the alarm must
    /// be set after a rebuild).
    pub fn message(&self, ws: web_sys::WebSocket, message: JsValue) -> JsValue {
        let now = now_ms();
        let rebuilt = self.load(now);
        let Some(conn) = self.identify(&ws) else {
            close(&WebSocket::from(ws), CloseCode::Internal);
            return JsValue::UNDEFINED;
        };
        if !self.sockets.borrow().contains_key(&conn) {
            // Already closed by us; late frames are ignored.
            return JsValue::UNDEFINED;
        }
        let actions = {
            let mut machine = self.machine.borrow_mut();
            let Some(m) = machine.as_mut() else {
                return JsValue::UNDEFINED;
            };
            match message.as_string() {
                Some(text) => m.message(conn, Frame::Text(&text), now),
                None => {
                    let bytes = js_sys::Uint8Array::new(&message).to_vec();
                    m.message(conn, Frame::Binary(&bytes), now)
                }
            }
        };
        self.run(actions);
        if rebuilt {
            self.schedule_later(now)
        } else {
            JsValue::UNDEFINED
        }
    }

    /// The socket closed or failed (synchronous, like `message`).
    pub fn closed(&self, ws: web_sys::WebSocket) -> JsValue {
        let now = now_ms();
        let rebuilt = self.load(now);
        if let Some(conn) = self.identify(&ws) {
            self.sockets.borrow_mut().remove(&conn);
            let actions = self.machine.borrow_mut().as_mut().map(|m| m.closed(conn));
            if let Some(actions) = actions {
                self.run(actions);
            }
        }
        // Complete a closing handshake the client started; fails harmlessly otherwise.
        let _ = WebSocket::from(ws).close(Some(1000), Some("closed"));
        if rebuilt {
            self.schedule_later(now)
        } else {
            JsValue::UNDEFINED
        }
    }

    pub async fn alarm(&self) -> Result<Response> {
        self.alarm_at.set(None);
        let now = now_ms();
        if let Some(actions) = self.with(now, |m| m.tick(now)) {
            self.run(actions);
        }
        self.schedule(now).await;
        Response::ok("")
    }
}

/// Reads a numeric var, if set and valid.
pub fn var_u64(env: &worker::Env, name: &str) -> Option<u64> {
    env.var(name)
        .ok()
        .and_then(|v| v.to_string().trim().parse().ok())
}

/// Declares a Durable Object `$name` that hands every event to an [`Adapter`] over the
/// state machine `$machine`: the Room and Presence objects differ only in their machine.
/// `fetch` and `alarm` go through workers-rs; the three WebSocket events are exported
/// directly as synchronous methods.
macro_rules! durable_object_over {
    ($(#[$doc:meta])* $name:ident, $machine:ty) => {
        $(#[$doc])*
        #[worker::durable_object(alarm)]
        pub struct $name {
            inner: $crate::adapter::Adapter<$machine>,
        }

        impl worker::DurableObject for $name {
            fn new(state: worker::State, env: worker::Env) -> Self {
                Self {
                    inner: $crate::adapter::Adapter::new(state, env),
                }
            }

            async fn fetch(&self, _req: worker::Request) -> worker::Result<worker::Response> {
                self.inner.accept().await
            }

            async fn alarm(&self) -> worker::Result<worker::Response> {
                self.inner.alarm().await
            }
        }

        #[::wasm_bindgen::prelude::wasm_bindgen]
        impl $name {
            #[wasm_bindgen(js_name = webSocketMessage)]
            pub fn websocket_message(
                &self,
                ws: worker::web_sys::WebSocket,
                message: ::wasm_bindgen::JsValue,
            ) -> ::wasm_bindgen::JsValue {
                self.inner.message(ws, message)
            }

            #[wasm_bindgen(js_name = webSocketClose)]
            pub fn websocket_close(
                &self,
                ws: worker::web_sys::WebSocket,
                _code: ::wasm_bindgen::JsValue,
                _reason: ::wasm_bindgen::JsValue,
                _was_clean: ::wasm_bindgen::JsValue,
            ) -> ::wasm_bindgen::JsValue {
                self.inner.closed(ws)
            }

            #[wasm_bindgen(js_name = webSocketError)]
            pub fn websocket_error(
                &self,
                ws: worker::web_sys::WebSocket,
                _error: ::wasm_bindgen::JsValue,
            ) -> ::wasm_bindgen::JsValue {
                self.inner.closed(ws)
            }
        }
    };
}
pub(crate) use durable_object_over;
