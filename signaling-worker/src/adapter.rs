//! The generic Durable Object adapter: one state machine, its sockets, its alarm.
//!
//! In-memory state is a cache. When the object wakes from hibernation the cache is empty and
//! is rebuilt from the sockets' attachments (`RoomRecord` / `PresenceRecord`) before the
//! event is handled. Attachments are the only thing written, plus one alarm timestamp.
use std::cell::{Cell, RefCell};
use std::collections::HashMap;

use serde::de::DeserializeOwned;
use serde::Serialize;
use sotto_protocol::ProtocolError;
use sotto_signaling::{Action, CloseCode, ConnId, Frame};
use worker::{Response, Result, State, WebSocket, WebSocketIncomingMessage, WebSocketPair};

use crate::sockets::{close, conn_of, now_ms, persist, send_text, tag};

/// What a state machine must offer the adapter.
pub trait Machine: Sized {
    type Msg;
    type Record: Serialize + DeserializeOwned;
    /// Rebuild; returns connections to close (with this code) because they conflict.
    fn rebuild(env: &worker::Env, records: Vec<Self::Record>, now: u64) -> (Self, Vec<ConnId>);
    fn conn_of_record(record: &Self::Record) -> ConnId;
    fn allocate_conn(&mut self) -> ConnId;
    fn open(&mut self, conn: ConnId, now: u64) -> Vec<Action<Self::Msg, Self::Record>>;
    fn message(
        &mut self,
        conn: ConnId,
        frame: Frame<'_>,
        now: u64,
    ) -> Vec<Action<Self::Msg, Self::Record>>;
    fn closed(&mut self, conn: ConnId) -> Vec<Action<Self::Msg, Self::Record>>;
    fn tick(&mut self, now: u64) -> Vec<Action<Self::Msg, Self::Record>>;
    fn next_deadline(&self) -> Option<u64>;
    fn to_json(msg: &Self::Msg) -> std::result::Result<String, ProtocolError>;
}

pub struct Adapter<M: Machine> {
    state: State,
    env: worker::Env,
    machine: RefCell<Option<M>>,
    sockets: RefCell<HashMap<ConnId, WebSocket>>,
    alarm_at: Cell<Option<u64>>,
}

impl<M: Machine> Adapter<M> {
    pub fn new(state: State, env: worker::Env) -> Self {
        Self {
            state,
            env,
            machine: RefCell::new(None),
            sockets: RefCell::new(HashMap::new()),
            alarm_at: Cell::new(None),
        }
    }

    /// Rebuilds the machine from attachments if this object was just (re)constructed.
    fn load(&self) {
        if self.machine.borrow().is_some() {
            return;
        }
        let mut records = Vec::new();
        let mut sockets = HashMap::new();
        for ws in self.state.get_websockets() {
            if let Ok(Some(Some(record))) = ws.deserialize_attachment::<Option<M::Record>>() {
                let conn = M::conn_of_record(&record);
                sockets.insert(conn, ws);
                records.push(record);
            }
        }
        let (machine, rejected) = M::rebuild(&self.env, records, now_ms());
        for conn in rejected {
            if let Some(ws) = sockets.remove(&conn) {
                persist::<M::Record>(&ws, None);
                close(&ws, CloseCode::DuplicatePeer);
            }
        }
        *self.sockets.borrow_mut() = sockets;
        *self.machine.borrow_mut() = Some(machine);
    }

    fn with<T>(&self, f: impl FnOnce(&mut M) -> T) -> Option<T> {
        self.load();
        self.machine.borrow_mut().as_mut().map(f)
    }

    fn run(&self, actions: Vec<Action<M::Msg, M::Record>>) {
        for action in actions {
            match action {
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

    async fn schedule(&self) {
        let deadline = self.machine.borrow().as_ref().and_then(M::next_deadline);
        let Some(deadline) = deadline else { return };
        if self.alarm_at.get().is_some_and(|at| at <= deadline) {
            return;
        }
        // set_alarm takes an offset from now, in ms.
        let offset = i64::try_from(deadline.saturating_sub(now_ms())).unwrap_or(i64::MAX);
        if self.state.storage().set_alarm(offset).await.is_ok() {
            self.alarm_at.set(Some(deadline));
        }
    }

    pub async fn accept(&self) -> Result<Response> {
        let pair = WebSocketPair::new()?;
        let Some(conn) = self.with(M::allocate_conn) else {
            return Err(worker::Error::RustError("state".into()));
        };
        self.state
            .accept_websocket_with_tags(&pair.server, &[tag(conn).as_str()]);
        self.sockets.borrow_mut().insert(conn, pair.server.clone());
        let now = now_ms();
        if let Some(actions) = self.with(|m| m.open(conn, now)) {
            self.run(actions);
        }
        self.schedule().await;
        Response::from_websocket(pair.client)
    }

    fn identify(&self, ws: &WebSocket) -> Option<ConnId> {
        conn_of(&self.state, ws).or_else(|| {
            ws.deserialize_attachment::<Option<M::Record>>()
                .ok()
                .flatten()
                .flatten()
                .map(|r| M::conn_of_record(&r))
        })
    }

    pub async fn message(&self, ws: WebSocket, message: WebSocketIncomingMessage) -> Result<()> {
        self.load();
        let Some(conn) = self.identify(&ws) else {
            close(&ws, CloseCode::Internal);
            return Ok(());
        };
        if !self.sockets.borrow().contains_key(&conn) {
            // Already closed by us; late frames are ignored.
            return Ok(());
        }
        let now = now_ms();
        let actions = self.with(|m| match &message {
            WebSocketIncomingMessage::String(s) => m.message(conn, Frame::Text(s), now),
            WebSocketIncomingMessage::Binary(b) => m.message(conn, Frame::Binary(b), now),
        });
        if let Some(actions) = actions {
            self.run(actions);
        }
        self.schedule().await;
        Ok(())
    }

    pub async fn closed(&self, ws: WebSocket) -> Result<()> {
        self.load();
        if let Some(conn) = self.identify(&ws) {
            self.sockets.borrow_mut().remove(&conn);
            if let Some(actions) = self.with(|m| m.closed(conn)) {
                self.run(actions);
            }
        }
        // Complete a closing handshake the client started; fails harmlessly otherwise.
        let _ = ws.close(Some(1000), Some("closed"));
        Ok(())
    }

    pub async fn alarm(&self) -> Result<Response> {
        self.alarm_at.set(None);
        let now = now_ms();
        if let Some(actions) = self.with(|m| m.tick(now)) {
            self.run(actions);
        }
        self.schedule().await;
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
macro_rules! durable_object_over {
    ($(#[$doc:meta])* $name:ident, $machine:ty) => {
        $(#[$doc])*
        #[worker::durable_object]
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

            async fn websocket_message(
                &self,
                ws: worker::WebSocket,
                message: worker::WebSocketIncomingMessage,
            ) -> worker::Result<()> {
                self.inner.message(ws, message).await
            }

            async fn websocket_close(
                &self,
                ws: worker::WebSocket,
                _code: usize,
                _reason: String,
                _was_clean: bool,
            ) -> worker::Result<()> {
                self.inner.closed(ws).await
            }

            async fn websocket_error(
                &self,
                ws: worker::WebSocket,
                _error: worker::Error,
            ) -> worker::Result<()> {
                self.inner.closed(ws).await
            }

            async fn alarm(&self) -> worker::Result<worker::Response> {
                self.inner.alarm().await
            }
        }
    };
}
pub(crate) use durable_object_over;
