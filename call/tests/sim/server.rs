//! The server side: the real room machine's actions delivered with latency and faults,
//! tampering and injection, outages, restarts; and what happens to participants (frozen
//! tabs, leaving, commands).
use sotto_call::{Input, SocketId};
use sotto_protocol::peer::PeerPayload;
use sotto_protocol::room::{PeerInfo, ServerMessage};
use sotto_signaling::{Action as ServerAction, ConnId as ServerConn, Limits, RoomRoster};

use super::{Event, Sim, Tamper};

impl Sim {
    pub(super) fn server_actions(
        &mut self,
        actions: Vec<ServerAction<ServerMessage, sotto_signaling::RoomRecord>>,
    ) {
        for action in actions {
            let action = match action {
                // a relayed signal, already serialized: the same path as any other message
                ServerAction::Relay { to, text } => match ServerMessage::parse(&text) {
                    Ok(msg) => ServerAction::Send { to: vec![to], msg },
                    Err(e) => panic!("the server relayed something unreadable: {e:?}"),
                },
                other => other,
            };
            match action {
                ServerAction::Relay { .. } => {}
                ServerAction::Send { to, msg } => {
                    for conn in to {
                        let Some((client, _)) = self.server_conns.get(&conn).copied() else {
                            continue;
                        };
                        let inside = match &msg {
                            ServerMessage::Signal { payload, .. } => self
                                .plaintexts
                                .get(payload.as_str())
                                .and_then(|p| PeerPayload::parse(p).ok()),
                            _ => None,
                        };
                        let verdict = self
                            .tamper
                            .as_mut()
                            .map(|t| t(client, &msg, inside.as_ref()));
                        let msg = match verdict {
                            None | Some(Tamper::Keep) => msg.clone(),
                            Some(Tamper::Drop) => continue,
                            Some(Tamper::Replace(m)) => m,
                        };
                        let is_signal = matches!(msg, ServerMessage::Signal { .. });
                        self.deliver_from_server(conn, msg.to_json().unwrap(), is_signal);
                    }
                }
                ServerAction::Close { conn, code } => {
                    if let Some((client, socket)) = self.server_conns.remove(&conn) {
                        self.clients[client].sockets.remove(&socket);
                        let delay = self.latency();
                        self.later(
                            client,
                            delay,
                            Input::SocketClosed {
                                socket,
                                code: code.code(),
                            },
                        );
                    }
                }
                ServerAction::Persist { .. } => {}
            }
        }
    }

    /// The server sends `text` to `conn`'s client, through the fault model.
    pub(super) fn deliver_from_server(&mut self, conn: ServerConn, text: String, is_signal: bool) {
        let Some((client, socket)) = self.server_conns.get(&conn).copied() else {
            return;
        };
        self.recorded.push((client, text.clone()));
        let faulty = self.now < self.faults.until && (is_signal || !self.faults.only_signals);
        let mut at = self.now + self.latency();
        if faulty {
            if self.rng.chance(self.faults.drop) {
                return;
            }
            if self.faults.reorder_ms > 0 {
                at += self.rng.range(0, self.faults.reorder_ms);
            }
            if self.rng.chance(self.faults.duplicate) {
                let again = at + self.rng.range(0, 200);
                self.schedule(
                    again,
                    Event::Input {
                        client,
                        input: Input::SocketMessage {
                            socket,
                            text: text.clone(),
                        },
                    },
                );
            }
            if self.rng.chance(self.faults.replay) && !self.recorded.is_empty() {
                let i = self.rng.range(0, self.recorded.len() as u64 - 1) as usize;
                let (old_client, old) = self.recorded[i].clone();
                if old_client == client {
                    self.schedule(
                        at + 1,
                        Event::Input {
                            client,
                            input: Input::SocketMessage { socket, text: old },
                        },
                    );
                }
            }
        } else {
            at = at.max(self.clients[client].last_down);
        }
        self.clients[client].last_down = self.clients[client].last_down.max(at);
        self.schedule(
            at,
            Event::Input {
                client,
                input: Input::SocketMessage { socket, text },
            },
        );
    }

    /// The server sends a forged message of its own to `client`.
    pub fn inject(&mut self, client: usize, msg: &ServerMessage) {
        let text = msg.to_json().unwrap();
        if let Some((&socket, _)) = self.clients[client].sockets.iter().next_back() {
            let delay = self.latency();
            self.later(client, delay, Input::SocketMessage { socket, text });
        }
    }

    /// The server sends raw text to `client`.
    pub fn inject_text(&mut self, client: usize, text: &str) {
        if let Some((&socket, _)) = self.clients[client].sockets.iter().next_back() {
            let delay = self.latency();
            self.later(
                client,
                delay,
                Input::SocketMessage {
                    socket,
                    text: text.into(),
                },
            );
        }
    }

    pub fn info(&self, client: usize) -> PeerInfo {
        PeerInfo {
            peer: self.clients[client].peer.clone(),
            identity: self.clients[client].crypto.identity(),
        }
    }

    /// Cuts `client`'s signaling (its socket drops; new ones fail) until `restore_signaling`.
    pub fn cut_signaling(&mut self, client: usize) {
        self.signaling_down.insert(client);
        let sockets: Vec<(SocketId, ServerConn)> =
            std::mem::take(&mut self.clients[client].sockets)
                .into_iter()
                .collect();
        for (socket, conn) in sockets {
            if self.server_conns.remove(&conn).is_some() {
                let actions = self.room.closed(conn);
                self.server_actions(actions);
                self.later(client, 10, Input::SocketClosed { socket, code: 1006 });
            }
        }
    }

    pub fn restore_signaling(&mut self, client: usize) {
        self.signaling_down.remove(&client);
    }

    /// The server restarts: every socket drops and the room starts empty.
    pub fn restart_server(&mut self) {
        let conns: Vec<(ServerConn, (usize, SocketId))> =
            std::mem::take(&mut self.server_conns).into_iter().collect();
        let last = conns.last().map_or(0, |(c, _)| c.0);
        for (_, (client, socket)) in conns {
            self.later(client, 5, Input::SocketClosed { socket, code: 1006 });
        }
        for c in &mut self.clients {
            c.sockets.clear();
        }
        self.room = RoomRoster::new(Limits::default());
        // connection ids stay unique across the restart
        while self.room.allocate_conn().0 < last.max(self.max_conn) {}
    }

    pub fn freeze(&mut self, client: usize) {
        self.clients[client].frozen = true;
    }

    pub fn thaw(&mut self, client: usize) {
        self.clients[client].frozen = false;
        let inbox = std::mem::take(&mut self.clients[client].inbox);
        for input in inbox {
            self.deliver(client, input);
        }
        let now = self.now;
        self.clients[client].core.handle_timeout(now);
        self.run_actions(client);
    }

    /// The participant leaves (`call.close()`).
    pub fn leave(&mut self, client: usize) {
        self.deliver(client, Input::Close);
    }

    /// A participant's command, now.
    pub fn command(&mut self, client: usize, input: Input) {
        self.deliver(client, input);
    }
}
